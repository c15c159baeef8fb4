//! pg_hba records that are items of a Patroni YAML `pg_hba` list, one item per line:
//! splitting the item around its record, and checking that a new record fits its quoting.

use super::columns::{column, fill};

/// Splits a block-sequence item, `  - host all all 10.0.0.0/8 md5  # x` (or with the
/// record in quotes), into what comes before the record, the record, what follows it,
/// and its quote. None for any other shape (`-x`, a flow list, a block scalar, an anchor
/// or tag, an escape inside a quoted record).
pub(super) fn yaml_item(line: &str) -> Option<(&str, &str, &str, Option<char>)> {
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

/// `record` written as the scalar of a YAML item quoted with `quote` (none: plain), or
/// why it cannot be.
pub(super) fn yaml_scalar(record: &str, quote: Option<char>) -> Result<(), String> {
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
/// room.
pub(super) fn with_suffix(prefix: &str, new: &str, suffix: &str, old: &str) -> String {
    let close = suffix.len() - suffix.trim_start_matches(['\'', '"']).len();
    let (close, rest) = suffix.split_at(close.min(1));
    let gap = &rest[..rest.len() - rest.trim_start_matches([' ', '\t']).len()];
    let comment = &rest[gap.len()..];
    let mut out = format!("{prefix}{new}{close}");
    if comment.starts_with('#') {
        // Back at its column when the new record leaves room; else after the same blanks
        // as before.
        let target = column(old, old.len() - comment.len());
        let now = column(&out, out.len());
        if now < target {
            out.push_str(&fill(gap, now, target));
        } else {
            out.push_str(gap);
        }
        out.push_str(comment);
    } else {
        out.push_str(rest);
    }
    out
}
