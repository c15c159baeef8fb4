//! The pg_hba edits policies ask for (`wit::HbaEdit`), rendered in the file's own text.
//!
//! A policy names a record by the line it starts on and says which fields change, which
//! record to add where, or which to delete; this module turns that into whole-line edits
//! of the original text, which [`crate::patch`] then applies like any other line edit
//! (bottom-up, line endings kept, overlaps refused). Rendering keeps the file's style:
//! fields that do not change keep their text byte for byte, the others go back to the
//! column their field started at ([`columns`]), a trailing comment stays where it was, a
//! new record takes the columns of its neighbour, and a name or option value that
//! PostgreSQL would split (blanks, commas, `#`, quotes) is written in double quotes.
//!
//! The records of a `patroni` document are the items of its `pg_hba` lists, one record
//! per item line (`  - host all all 10.0.0.0/8 md5`, plain or quoted): the record is
//! edited inside the item's scalar and the item keeps its indentation, quotes and
//! comment. What cannot be rewritten safely is an error naming the line, never a guess:
//! a line that does not start a record, a record continued with a backslash, a flow list
//! or block scalar item, a new value that the item's quoting cannot hold, a change
//! between `local` and a host type (the address column would come or go).

mod columns;
mod fields;
#[cfg(test)]
mod tests;
mod yaml_item;

use std::collections::BTreeMap;

use crate::wit;
use columns::Line;
use fields::{change_record, method_column, new_record};
use yaml_item::{with_suffix, yaml_item, yaml_scalar};

/// How the records of a document are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// A pg_hba.conf file: one record per line (or continued with `\`).
    File,
    /// A Patroni YAML document: each record is an item of a `pg_hba` block list.
    PatroniYaml,
}

/// Whether `word` is a connection type (the parser's list: one place to add one).
fn is_type(word: &str) -> bool {
    super::line::ConnType::from_word(word).is_some()
}

/// One line of the text, without its line ending.
pub(crate) fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// The records the host parsed in a document, by the line each starts on (the first
/// when two share one), for [`lower`]: a lookup per edit, not a scan.
pub(crate) type RulesByLine<'a> = std::collections::HashMap<u32, &'a wit::HbaRule>;

/// [`RulesByLine`] of `rules`.
pub(crate) fn rules_by_line<'a>(
    rules: impl IntoIterator<Item = &'a wit::HbaRule>,
) -> RulesByLine<'a> {
    let mut by_line = RulesByLine::new();
    for r in rules {
        by_line.entry(r.location.line).or_insert(r);
    }
    by_line
}

/// A record's text on its line: the whole line in a file, the item's scalar in YAML,
/// with what comes before and after it on that line.
struct Record<'a> {
    prefix: &'a str,
    text: &'a str,
    suffix: &'a str,
    /// The item's quote (YAML), `None` for a plain scalar or a file line.
    quote: Option<char>,
    /// Last physical line of the record (a file record continued with `\`).
    end: u32,
}

/// The record that starts at `line` (1-based), or why there is none.
fn record<'a>(all: &[&'a str], line: u32, style: Style) -> Result<Record<'a>, String> {
    let at = line as usize;
    let text = *all
        .get(at.wrapping_sub(1))
        .filter(|_| at > 0)
        .ok_or_else(|| format!("line {line} is outside the file ({} lines)", all.len()))?;
    let not_record = || format!("line {line} does not start a pg_hba record");
    let rec = match style {
        Style::File => {
            if at > 1 && all[at - 2].trim_end().ends_with('\\') {
                return Err(format!(
                    "line {line} continues the record of the line before it"
                ));
            }
            let mut end = at;
            while all[end - 1].trim_end().ends_with('\\') && end < all.len() {
                end += 1;
            }
            Record {
                prefix: "",
                text,
                suffix: "",
                quote: None,
                end: end as u32,
            }
        }
        Style::PatroniYaml => {
            let (prefix, body, suffix, quote) = yaml_item(text).ok_or_else(|| {
                format!(
                    "line {line} is not a one-line item of a YAML list (`- host …`); patrol does not rewrite other forms"
                )
            })?;
            Record {
                prefix,
                text: body,
                suffix,
                quote,
                end: line,
            }
        }
    };
    let first = Line::parse(rec.text).field(0).map(str::to_string);
    if !first.is_some_and(|f| is_type(&f)) {
        return Err(not_record());
    }
    Ok(rec)
}

/// [`record`], and with the parsed records at hand, a line must start a valid one whose
/// method stands where the text shows it (an empty `@file` removes a field).
fn checked<'a>(
    all: &[&'a str],
    line: u32,
    style: Style,
    rules: Option<&RulesByLine<'_>>,
) -> Result<Record<'a>, String> {
    let rec = record(all, line, style)?;
    if let Some(rules) = rules {
        let rule = rules
            .get(&line)
            .ok_or_else(|| format!("line {line} holds no valid pg_hba record"))?;
        let fields = Line::parse(rec.text);
        let written = fields.field(method_column(&fields)).unwrap_or_default();
        let alias = rule.method == "peer" && written == "ident";
        if written != rule.method && !alias {
            return Err(format!(
                "the fields of the record at line {line} do not stand where they are written (an `@file` that adds or removes some); patrol does not rewrite it"
            ));
        }
    }
    Ok(rec)
}

/// What happens around one record line.
#[derive(Default)]
struct Slot {
    before: Vec<String>,
    /// The record's new line (a deleted record is `deleted` instead).
    replaced: Option<String>,
    deleted: bool,
    after: Vec<String>,
}

/// Turns the hba edits of one patch into line edits of the text whose [`lines`] are
/// `all`, one per record touched (several edits of one record are merged, in order).
/// Errors name the line. The lines and records are split once per document by the
/// caller, not once per patch (thousands of patches of one file were quadratic).
pub(crate) fn lower<'t>(
    edits: &[&wit::HbaEdit],
    all: &[&'t str],
    style: Style,
    rules: Option<&RulesByLine<'_>>,
) -> Result<Vec<wit::LineEdit>, String> {
    let record = |all: &[&'t str], line: u32, style: Style| checked(all, line, style, rules);
    let mut slots: BTreeMap<u32, Slot> = BTreeMap::new();
    let mut at_end: Vec<String> = Vec::new();
    // A new record inside a YAML item keeps the anchor item's indentation and quotes.
    let wrap = |rec: &Record<'_>, new: String| -> Result<String, String> {
        match style {
            Style::File => Ok(new),
            Style::PatroniYaml => {
                yaml_scalar(&new, rec.quote)?;
                let close = rec.quote.map(String::from).unwrap_or_default();
                Ok(format!("{}{new}{close}", rec.prefix))
            }
        }
    };
    for edit in edits {
        match edit {
            wit::HbaEdit::Set(c) => {
                let rec = record(all, c.line, style)?;
                if rec.end != c.line {
                    return Err(format!(
                        "the record at line {} continues on the next line; patrol does not rewrite a continued record",
                        c.line
                    ));
                }
                let new = change_record(rec.text, c, true)?;
                if style == Style::PatroniYaml {
                    yaml_scalar(&new, rec.quote)?;
                }
                let slot = slots.entry(c.line).or_default();
                if slot.replaced.is_some() || slot.deleted {
                    return Err(format!("two edits change the record at line {}", c.line));
                }
                slot.replaced = Some(with_suffix(
                    rec.prefix,
                    &new,
                    rec.suffix,
                    all[c.line as usize - 1],
                ));
            }
            wit::HbaEdit::Delete(line) => {
                let rec = record(all, *line, style)?;
                if rec.end != *line {
                    return Err(format!(
                        "the record at line {line} continues on the next line; patrol does not rewrite a continued record"
                    ));
                }
                let slot = slots.entry(*line).or_default();
                if slot.replaced.is_some() || slot.deleted {
                    return Err(format!("two edits change the record at line {line}"));
                }
                slot.deleted = true;
            }
            wit::HbaEdit::Insert(ins) => {
                let anchor = match ins.place {
                    wit::HbaPlace::Before(l) | wit::HbaPlace::After(l) => Some(l),
                    wit::HbaPlace::End => None,
                };
                let rec = match anchor {
                    Some(l) => Some(record(all, l, style)?),
                    None if style == Style::PatroniYaml => {
                        return Err("a record added to a Patroni `pg_hba` list needs a neighbouring record to go before or after".into());
                    }
                    None => last_record(all),
                };
                let new = match &ins.new {
                    wit::HbaNew::Fields(r) => new_record(r, rec.as_ref().map(|r| r.text))?,
                    wit::HbaNew::Copy(c) => {
                        let from = record(all, c.line, style)?;
                        if from.end != c.line {
                            return Err(format!(
                                "the record at line {} continues on the next line; patrol does not copy a continued record",
                                c.line
                            ));
                        }
                        change_record(from.text, c, false)?
                    }
                };
                let new = match &rec {
                    Some(r) => wrap(r, new)?,
                    None => new,
                };
                match (ins.place, &rec) {
                    (wit::HbaPlace::Before(l), _) => slots.entry(l).or_default().before.push(new),
                    (wit::HbaPlace::After(l), Some(r)) if r.end != l => {
                        return Err(format!(
                            "the record at line {l} continues on the next line; add the new record before the next one instead"
                        ));
                    }
                    (wit::HbaPlace::After(l), _) => slots.entry(l).or_default().after.push(new),
                    (wit::HbaPlace::End, _) => at_end.push(new),
                }
            }
        }
    }
    let mut out = Vec::new();
    for (line, slot) in slots {
        let idx = line as usize - 1;
        let mut new: Vec<String> = slot.before;
        if !slot.deleted {
            new.push(slot.replaced.unwrap_or_else(|| all[idx].to_string()));
        }
        new.extend(slot.after);
        out.push(wit::LineEdit {
            start: line,
            end: line,
            text: new.join("\n"),
        });
    }
    if !at_end.is_empty() {
        let n = all.len() as u32;
        out.push(wit::LineEdit {
            start: n + 1,
            end: n,
            text: at_end.join("\n"),
        });
    }
    Ok(out)
}

/// The last line of a file that starts a record, as the template of a record added at
/// the end.
fn last_record<'a>(all: &[&'a str]) -> Option<Record<'a>> {
    (1..=all.len() as u32)
        .rev()
        .find_map(|l| record(all, l, Style::File).ok())
}
