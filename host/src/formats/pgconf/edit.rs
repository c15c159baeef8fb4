//! Settings edits of one postgresql.conf file (`set-setting`, `remove-setting`), read with
//! the same scanner as [`super::parse`] so that what is edited is what the server reads.
//!
//! A parameter set more than once in a file takes its last value, so `set` changes the
//! last assignment in place: the name, `=` (or its absence), the spacing and a trailing
//! comment stay as written, only the value is replaced. A parameter the file does not
//! set gets `name = value` at the end of the file. Includes are not followed: a policy
//! names the file that holds the deciding assignment (or the main file).

use super::{Lexer, Tok};
use crate::formats::lines::Lines;

/// An assignment on one line: its 0-based line index and the byte span of its value.
struct Assignment {
    line: usize,
    value: (usize, usize),
}

/// Every well-formed assignment of `name` (case-insensitive), in file order. Lines the
/// server would refuse are left alone.
fn assignments(lines: &Lines, name: &str) -> Vec<Assignment> {
    let mut out = Vec::new();
    for index in 0..lines.len() {
        let line = lines.get(index);
        let mut lexer = Lexer {
            s: line.as_bytes(),
            pos: 0,
            line: 1,
        };
        let (tok, text) = lexer.next();
        if !matches!(tok, Tok::Id | Tok::QualifiedId) || !text.eq_ignore_ascii_case(name) {
            continue;
        }
        let (mut tok, mut text) = lexer.next();
        if tok == Tok::Equals {
            (tok, text) = lexer.next();
        }
        if !matches!(
            tok,
            Tok::Id | Tok::Str | Tok::Integer | Tok::Real | Tok::Unquoted
        ) {
            continue;
        }
        let value = (lexer.pos - text.len(), lexer.pos);
        if matches!(lexer.next().0, Tok::Eol | Tok::Eof) {
            out.push(Assignment { line: index, value });
        }
    }
    out
}

/// `value` as postgresql.conf needs it written: bare when the scanner reads it back as
/// one identifier, number or unquoted string, else single-quoted with `'` and `\`
/// escaped.
pub fn quote(value: &str) -> String {
    let mut lexer = Lexer {
        s: value.as_bytes(),
        pos: 0,
        line: 1,
    };
    let (tok, text) = lexer.next();
    // `a.b` is a qualified name to the scanner, which the grammar refuses as a value.
    let bare = matches!(tok, Tok::Id | Tok::Unquoted | Tok::Integer | Tok::Real)
        && text.len() == value.len();
    if bare {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    }
}

/// `text` with `name` set to `value` (unquoted; quoted here as needed).
pub fn set(text: &str, name: &str, value: &str) -> Result<String, String> {
    check_name(name)?;
    if value.contains(['\n', '\r']) {
        return Err(format!(
            "the value of `{name}` holds a line break, which postgresql.conf cannot hold"
        ));
    }
    let written = quote(value);
    let mut lines = Lines::new(text);
    match assignments(&lines, name).last() {
        Some(a) => {
            let line = lines.get(a.line);
            let new = format!("{}{written}{}", &line[..a.value.0], &line[a.value.1..]);
            lines.replace(a.line, &new);
        }
        None => {
            let last = lines.len().checked_sub(1);
            lines.insert_after(last, &format!("{name} = {written}"));
        }
    }
    Ok(lines.text())
}

/// `text` without any assignment of `name`.
pub fn remove(text: &str, name: &str) -> Result<String, String> {
    check_name(name)?;
    let mut lines = Lines::new(text);
    for a in assignments(&lines, name).iter().rev() {
        lines.remove(a.line);
    }
    Ok(lines.text())
}

/// A parameter name as the scanner reads one (`name` or `ext.name`); the include
/// directives are not settings.
fn check_name(name: &str) -> Result<(), String> {
    let mut lexer = Lexer {
        s: name.as_bytes(),
        pos: 0,
        line: 1,
    };
    let (tok, text) = lexer.next();
    let lower = name.to_ascii_lowercase();
    if !matches!(tok, Tok::Id | Tok::QualifiedId)
        || text.len() != name.len()
        || matches!(
            lower.as_str(),
            "include" | "include_dir" | "include_if_exists"
        )
    {
        return Err(format!("`{name}` is not a postgresql.conf parameter name"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn in_place_keeps_name_spacing_and_comment() {
        let src = "# top\nSSL   =  off    # was on\nport = 5432\n";
        assert_eq!(
            set(src, "ssl", "on").unwrap(),
            "# top\nSSL   =  on    # was on\nport = 5432\n"
        );
        // No `=`, a quoted value and a comment glued to it.
        assert_eq!(
            set(
                "password_encryption 'md5'#x\n",
                "password_encryption",
                "scram-sha-256"
            )
            .unwrap(),
            "password_encryption scram-sha-256#x\n"
        );
    }

    #[test]
    fn the_last_assignment_is_the_one_edited() {
        let src = "ssl = on\nport = 1\nssl = off # later\n";
        assert_eq!(
            set(src, "ssl", "on").unwrap(),
            "ssl = on\nport = 1\nssl = on # later\n"
        );
        assert_eq!(remove(src, "SSL").unwrap(), "port = 1\n");
    }

    #[test]
    fn a_new_parameter_goes_at_the_end() {
        assert_eq!(
            set("port = 1\n", "ssl", "on").unwrap(),
            "port = 1\nssl = on\n"
        );
        // Without a final newline, the new line does not glue onto the last one.
        assert_eq!(set("port = 1", "ssl", "on").unwrap(), "port = 1\nssl = on");
        assert_eq!(
            set("port = 1\r\n", "listen_addresses", "10.0.0.1").unwrap(),
            "port = 1\r\nlisten_addresses = '10.0.0.1'\r\n"
        );
        // A line the server refuses is not taken for an assignment.
        assert_eq!(
            set("ssl = on off\n", "ssl", "on").unwrap(),
            "ssl = on off\nssl = on\n"
        );
    }

    #[test]
    fn values_are_quoted_as_postgresql_needs() {
        assert_eq!(quote("on"), "on");
        assert_eq!(quote("scram-sha-256"), "scram-sha-256");
        assert_eq!(quote("TLSv1.2"), "TLSv1.2");
        assert_eq!(quote("5433"), "5433");
        assert_eq!(quote("128MB"), "128MB");
        assert_eq!(quote("10.0.0.1"), "'10.0.0.1'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a,b"), "'a,b'");
        assert_eq!(quote("a.b"), "'a.b'");
        assert_eq!(quote("it's"), "'it''s'");
        assert_eq!(quote("C:\\x"), "'C:\\\\x'");
        // What is written reads back as the value.
        for v in ["it's", "C:\\x", "a b", "10.0.0.1", "on", "a.b", "-1"] {
            let text = set("", "x.y", v).unwrap();
            let parsed = crate::formats::pgconf::scan(
                &text,
                "f",
                std::path::Path::new("f"),
                &crate::formats::ParseContext::default(),
            );
            assert_eq!(parsed.value[0].value, v, "{text}");
        }
    }

    #[test]
    fn bad_names_and_values_are_refused() {
        assert!(set("", "include", "x").is_err());
        assert!(set("", "a b", "x").is_err());
        assert!(set("", "ssl", "on\nport = 1").is_err());
    }
}
