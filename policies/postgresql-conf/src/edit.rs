//! Line edits of postgresql.conf: change the value of an assignment in place (keeping
//! the name, the `=` and its spacing, and a trailing comment), or add an assignment at
//! the end of the file.

use policy_guest::pgconf::Effective;
use policy_guest::report::replace_lines;
use policy_guest::{Patch, Setting};

/// How a new value is written: booleans and plain words bare, anything else quoted.
pub fn quote(value: &str) -> String {
    let bare = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && (value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            || value.chars().all(|c| c.is_ascii_digit()));
    if bare {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// The byte range of the value in an assignment line `name [=] value [# comment]`.
fn value_span(line: &str) -> Option<(usize, usize)> {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    let name_start = i;
    while i < b.len()
        && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.' || b[i] >= 0x80)
    {
        i += 1;
    }
    if i == name_start {
        return None;
    }
    while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
        i += 1;
    }
    if i < b.len() && b[i] == b'=' {
        i += 1;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
    }
    let start = i;
    if i < b.len() && b[i] == b'\'' {
        i += 1;
        while i < b.len() {
            match b[i] {
                b'\\' => i += 2,
                b'\'' if i + 1 < b.len() && b[i + 1] == b'\'' => i += 2,
                b'\'' => {
                    i += 1;
                    break;
                }
                _ => i += 1,
            }
        }
        return Some((start, i.min(b.len())));
    }
    while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'#' | b'\r') {
        i += 1;
    }
    (i > start).then_some((start, i))
}

/// A patch that gives `name` the value `value`: in place on the deciding assignment when
/// there is one, else a new line at the end of the main postgresql.conf.
pub fn set(conf: &Effective<'_>, texts: &[(&str, &str)], name: &str, value: &str) -> Patch {
    let written = quote(value);
    match conf.get(name) {
        Some(s) => replace(s, texts, name, &written),
        None => append(conf, name, &written),
    }
}

fn replace(s: &Setting, texts: &[(&str, &str)], name: &str, written: &str) -> Patch {
    let file = &s.location.file;
    let line_no = s.location.line;
    let text = texts.iter().find(|(path, _)| path == file).map(|(_, t)| *t);
    let old = text.and_then(|t| t.lines().nth(line_no.saturating_sub(1) as usize));
    let new = match old.and_then(|l| value_span(l).map(|(a, b)| (l, a, b))) {
        Some((l, a, b)) => format!("{}{}{}", &l[..a], written, &l[b..]),
        None => format!("{name} = {written}"),
    };
    replace_lines(
        file,
        format!("set `{name} = {written}`"),
        line_no,
        line_no,
        new,
    )
}

fn append(conf: &Effective<'_>, name: &str, written: &str) -> Patch {
    let text = conf.main_text;
    let n = text.lines().count() as u32;
    let line = format!("{name} = {written}");
    match text.lines().last() {
        // Without a final newline, an insertion would glue onto the last line.
        Some(last) if !text.ends_with('\n') => replace_lines(
            conf.main_path,
            format!("add `{line}`"),
            n,
            n,
            format!("{last}\n{line}"),
        ),
        _ => replace_lines(conf.main_path, format!("add `{line}`"), n + 1, n, line),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        let l = "ssl = off    # was on";
        assert_eq!(value_span(l), Some((6, 9)));
        let l = "password_encryption='md5'#x";
        assert_eq!(
            &l[value_span(l).unwrap().0..value_span(l).unwrap().1],
            "'md5'"
        );
        let l = "  listen_addresses '*' ";
        assert_eq!(
            &l[value_span(l).unwrap().0..value_span(l).unwrap().1],
            "'*'"
        );
        let l = "x = 'it''s' # c";
        assert_eq!(
            &l[value_span(l).unwrap().0..value_span(l).unwrap().1],
            "'it''s'"
        );
        assert_eq!(quote("on"), "on");
        assert_eq!(quote("scram-sha-256"), "scram-sha-256");
        assert_eq!(quote("TLSv1.2"), "TLSv1.2");
        assert_eq!(
            quote("pg_stat_statements,pgaudit"),
            "'pg_stat_statements,pgaudit'"
        );
        assert_eq!(quote("5433"), "5433");
    }
}
