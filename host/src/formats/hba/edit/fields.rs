//! The fields of a pg_hba record as text: names, words and options quoted where
//! PostgreSQL needs it, a record's fields changed in their columns, a new record in the
//! columns of a neighbour.

use super::columns::{self, Change, Line, column, fill};
use super::is_type;
use crate::wit;

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
pub(super) fn change_record(
    text: &str,
    c: &wit::HbaChange,
    keep_comment: bool,
) -> Result<String, String> {
    let line = Line::parse(text);
    let ty = line.field(0).unwrap_or_default();
    let local = ty == "local";
    let mut changes = Vec::new();
    if let Some(t) = &c.connection_type {
        let t = word("connection type", t)?;
        if !is_type(t) {
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
pub(super) fn method_column(line: &Line<'_>) -> usize {
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
pub(super) fn new_record(r: &wit::HbaRecord, template: Option<&str>) -> Result<String, String> {
    let t = word("connection type", &r.connection_type)?;
    if !is_type(t) {
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
