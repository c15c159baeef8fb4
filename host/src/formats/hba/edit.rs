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
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::wit;
use columns::{Change, Line, column, fill};

/// How the records of a document are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// A pg_hba.conf file: one record per line (or continued with `\`).
    File,
    /// A Patroni YAML document: each record is an item of a `pg_hba` block list.
    PatroniYaml,
}

const TYPES: &[&str] = &[
    "local",
    "host",
    "hostssl",
    "hostnossl",
    "hostgssenc",
    "hostnogssenc",
];

/// One line of the text, without its line ending.
fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
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
    if !first.is_some_and(|f| TYPES.contains(&f.as_str())) {
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
    rules: Option<&[&wit::HbaRule]>,
) -> Result<Record<'a>, String> {
    let rec = record(all, line, style)?;
    if let Some(rules) = rules {
        let rule = rules
            .iter()
            .find(|r| r.location.line == line)
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

/// Splits a block-sequence item, `  - host all all 10.0.0.0/8 md5  # x` (or with the
/// record in quotes), into what comes before the record, the record, what follows it,
/// and its quote. None for any other shape (`-x`, a flow list, a block scalar, an anchor
/// or tag, an escape inside a quoted record).
fn yaml_item(line: &str) -> Option<(&str, &str, &str, Option<char>)> {
    let dash = line.len() - line.trim_start().len();
    let rest = line[dash..].strip_prefix('-')?;
    let start = dash + 1 + (rest.len() - rest.trim_start().len());
    if start == dash + 1 {
        return None; // `-x` is not a sequence item
    }
    let body = &line[start..];
    match body.chars().next()? {
        q @ ('"' | '\'') => {
            let end = body[1..].find(q)? + 1;
            let record = &body[1..end];
            let escaped = record.contains('\\') || body[end + 1..].starts_with(q);
            (!escaped).then_some((&line[..start + 1], record, &line[start + end..], Some(q)))
        }
        '[' | '{' | '|' | '>' | '&' | '*' | '!' => None,
        _ => {
            // A plain scalar ends at ` #` (a comment) or at the end of the line.
            let end = body.find(" #").unwrap_or(body.len());
            let record = body[..end].trim_end();
            Some((&line[..start], record, &line[start + record.len()..], None))
        }
    }
}

/// Whether a token must be quoted for PostgreSQL to read it as one token.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.bytes()
            .any(|b| columns::blank(b) || matches!(b, b',' | b'#' | b'"' | b'\n'))
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A database or user column: the names, comma-separated, quoted where needed.
fn names(list: &[wit::HbaName]) -> Result<String, String> {
    if list.is_empty() {
        return Err("a database or user column needs at least one name".into());
    }
    if list.iter().any(|n| n.text.contains('\n')) {
        return Err("a name holds a line break".into());
    }
    Ok(list
        .iter()
        .map(|n| {
            if n.quoted || needs_quotes(&n.text) {
                quoted(&n.text)
            } else {
                n.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(","))
}

/// A keyword-like field (connection type, method, address): one plain token.
fn word<'a>(what: &str, s: &'a str) -> Result<&'a str, String> {
    if needs_quotes(s) {
        return Err(format!("the {what} `{s}` is not one plain word"));
    }
    Ok(s)
}

fn option(name: &str, value: &str) -> Result<String, String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("`{name}` is not an option name"));
    }
    if value.contains('\n') {
        return Err(format!("the value of option `{name}` holds a line break"));
    }
    Ok(if needs_quotes(value) {
        format!("{name}={}", quoted(value))
    } else {
        format!("{name}={value}")
    })
}

/// `text` (one record) with `change` applied; `keep_comment` false drops a trailing
/// comment (for a copy).
fn change_record(text: &str, c: &wit::HbaChange, keep_comment: bool) -> Result<String, String> {
    let line = Line::parse(text);
    let ty = line.field(0).unwrap_or_default();
    let local = ty == "local";
    let mut changes = Vec::new();
    if let Some(t) = &c.connection_type {
        let t = word("connection type", t)?;
        if !TYPES.contains(&t) {
            return Err(format!("`{t}` is not a pg_hba connection type"));
        }
        if (t == "local") != local {
            return Err(format!(
                "changing `{ty}` to `{t}` would add or remove the address column; delete the record and insert a new one"
            ));
        }
        changes.push(Change::Replace(0, t.to_string()));
    }
    let method_at = method_column(&line);
    let mask = method_at == 5;
    if line.fields.len() <= method_at {
        return Err("the record has no method field".into());
    }
    if let Some(d) = &c.databases {
        changes.push(Change::Replace(1, names(d)?));
    }
    if let Some(u) = &c.users {
        changes.push(Change::Replace(2, names(u)?));
    }
    if let Some(a) = &c.address {
        if local {
            return Err("a `local` record has no address".into());
        }
        changes.push(Change::Replace(3, word("address", a)?.to_string()));
        if mask {
            changes.push(Change::Delete(4));
        }
    }
    if let Some(m) = &c.method {
        changes.push(Change::Replace(method_at, word("method", m)?.to_string()));
    }
    let option_name = |k: usize| {
        line.field(k)
            .map(|o| o.split('=').next().unwrap_or(o).to_string())
    };
    for k in method_at + 1..line.fields.len() {
        if option_name(k).is_some_and(|n| c.remove_options.contains(&n)) {
            changes.push(Change::Delete(k));
        }
    }
    let mut append = Vec::new();
    for (name, value) in &c.set_options {
        let rendered = option(name, value)?;
        match (method_at + 1..line.fields.len()).find(|k| option_name(*k).as_ref() == Some(name)) {
            Some(k) => changes.push(Change::Replace(k, rendered)),
            None => append.push(rendered),
        }
    }
    let mut out = columns::render(&line, &changes, &append);
    if !keep_comment && let Some(cut) = comment_start(&out) {
        out.truncate(cut);
        out.truncate(out.trim_end().len());
    }
    Ok(out)
}

/// The index of the method field: after the address, and after a mask when the address
/// is a bare IP address (`10.0.0.0 255.0.0.0`).
fn method_column(line: &Line<'_>) -> usize {
    let ty = line.field(0).unwrap_or_default();
    if ty == "local" {
        return 3;
    }
    let mask = line
        .field(3)
        .is_some_and(|a| !a.contains('/') && a.parse::<std::net::IpAddr>().is_ok())
        && line.fields.len() > 5;
    if mask { 5 } else { 4 }
}

/// Where an unquoted `#` starts a comment in a record's text.
fn comment_start(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// A new record from its fields, each at the column of the same field of `template`
/// (a neighbouring record) when there is room, in its blanks' style.
fn new_record(r: &wit::HbaRecord, template: Option<&str>) -> Result<String, String> {
    let t = word("connection type", &r.connection_type)?;
    if !TYPES.contains(&t) {
        return Err(format!("`{t}` is not a pg_hba connection type"));
    }
    let mut fields = vec![t.to_string(), names(&r.databases)?, names(&r.users)?];
    match (&r.address, t == "local") {
        (Some(a), false) => fields.push(word("address", a)?.to_string()),
        (None, true) => {}
        (Some(_), true) => return Err("a `local` record has no address".into()),
        (None, false) => return Err(format!("a `{t}` record needs an address")),
    }
    fields.push(word("method", &r.method)?.to_string());
    for (name, value) in &r.options {
        fields.push(option(name, value)?);
    }
    let template = template.map(Line::parse);
    let mut out = String::new();
    for (k, f) in fields.iter().enumerate() {
        if k > 0 {
            let from = column(&out, out.len());
            match template
                .as_ref()
                .and_then(|l| l.fields.get(k).map(|g| (l, g)))
            {
                Some((l, g)) => {
                    let before = &l.fields[k - 1];
                    let gap = &l.text[before.end..g.start];
                    out.push_str(&fill(gap, from, column(l.text, g.start)));
                }
                None => out.push(' '),
            }
        }
        out.push_str(f);
    }
    Ok(out)
}

/// `record` written as the scalar of a YAML item quoted with `quote` (none: plain), or
/// why it cannot be.
fn yaml_scalar(record: &str, quote: Option<char>) -> Result<(), String> {
    let bad = match quote {
        Some('\'') => record.contains('\''),
        Some(_) => record.contains('"') || record.contains('\\'),
        None => {
            record.contains(" #")
                || record.contains(": ")
                || record.ends_with(':')
                || record.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c))
        }
    };
    match bad {
        true => Err(format!(
            "`{record}` cannot be written in this YAML item's quoting"
        )),
        false => Ok(()),
    }
}

/// `prefix`, the new record and the `suffix` of a YAML item (its closing quote, blanks
/// and comment), the comment back at its column of `old` (the item's line) when there is
/// room, as in a file.
fn with_suffix(prefix: &str, new: &str, suffix: &str, old: &str) -> String {
    let close = suffix.len() - suffix.trim_start_matches(['\'', '"']).len();
    let (close, rest) = suffix.split_at(close.min(1));
    let gap = &rest[..rest.len() - rest.trim_start_matches([' ', '\t']).len()];
    let comment = &rest[gap.len()..];
    let mut out = format!("{prefix}{new}{close}");
    if comment.starts_with('#') {
        let target = column(old, old.len() - comment.len());
        out.push_str(&fill(gap, column(&out, out.len()), target));
        out.push_str(comment);
    } else {
        out.push_str(rest);
    }
    out
}

/// What happens around one record line.
#[derive(Default)]
struct Slot {
    before: Vec<String>,
    /// The record's new text (`Some("")`... never: a deleted record is `deleted`).
    replaced: Option<String>,
    deleted: bool,
    after: Vec<String>,
}

/// Turns the hba edits of one patch into line edits of `text`, one per record touched
/// (several edits of one record are merged, in order). Errors name the line.
pub(crate) fn lower<'t>(
    edits: &[&wit::HbaEdit],
    text: &'t str,
    style: Style,
    rules: Option<&[&wit::HbaRule]>,
) -> Result<Vec<wit::LineEdit>, String> {
    let all = lines(text);
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
                let rec = record(&all, c.line, style)?;
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
                let rec = record(&all, *line, style)?;
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
                    Some(l) => Some(record(&all, l, style)?),
                    None if style == Style::PatroniYaml => {
                        return Err("a record added to a Patroni `pg_hba` list needs a neighbouring record to go before or after".into());
                    }
                    None => last_record(&all),
                };
                let new = match &ins.new {
                    wit::HbaNew::Fields(r) => new_record(r, rec.as_ref().map(|r| r.text))?,
                    wit::HbaNew::Copy(c) => {
                        let from = record(&all, c.line, style)?;
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
