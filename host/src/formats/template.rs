//! Unrendered templates: a config kept in a repository as a template (PostgreSQL's own
//! `pg_hba.conf.sample` with `@authmethodhost@`, an Ansible/Jinja `{{ var }}`, an ERB
//! `<%= x %>`) is filled in by a tool before the server reads it. Its placeholder lines
//! are not broken lines of a live file: [`collapse`] turns their `invalid-line`
//! diagnostics into one `template-placeholders` note (info) for the file. (The same
//! recognition as `policy_guest::template`, which policies use on values.)

use super::diagnostic;
use crate::wit;

/// The first placeholder in `line`, as written (`@authmethodhost@`, `{{ port }}`,
/// `<%= x %>`), or None.
pub fn placeholder(line: &str) -> Option<&str> {
    [
        at_word(line),
        between(line, "{{", "}}"),
        between(line, "{%", "%}"),
        between(line, "<%", "%>"),
        between(line, "${", "}"),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(start, _)| *start)
    .map(|(start, end)| &line[start..end])
}

/// `@name@` as initdb writes its placeholders: letters, digits, `-` and `_` between two
/// `@`, with at least one letter (`@@` and an e-mail address do not count).
fn at_word(line: &str) -> Option<(usize, usize)> {
    line.match_indices('@').find_map(|(i, _)| {
        let rest = &line[i + 1..];
        let len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .count();
        (len > 0
            && rest.as_bytes().get(len) == Some(&b'@')
            && rest[..len].bytes().any(|b| b.is_ascii_alphabetic()))
        .then_some((i, i + len + 2))
    })
}

fn between(line: &str, open: &str, close: &str) -> Option<(usize, usize)> {
    let start = line.find(open)?;
    let end = line[start + open.len()..].find(close)? + start + open.len() + close.len();
    Some((start, end))
}

/// Replaces the `invalid-line` diagnostics of `file`'s own lines that hold a
/// placeholder with one `template-placeholders` diagnostic at the first of them.
pub fn collapse(src: &str, file: &str, diagnostics: &mut Vec<wit::Diagnostic>) {
    let lines: Vec<&str> = src.lines().collect();
    let mut first: Option<(u32, String)> = None;
    let mut count = 0;
    diagnostics.retain(|d| {
        let text = (d.code == "invalid-line" && d.location.file == file && d.location.line > 0)
            .then(|| lines.get(d.location.line as usize - 1))
            .flatten();
        match text.and_then(|l| placeholder(l)) {
            Some(p) => {
                first.get_or_insert((d.location.line, p.to_string()));
                count += 1;
                false
            }
            None => true,
        }
    });
    if let Some((line, p)) = first {
        diagnostics.push(diagnostic(
            "template-placeholders",
            file,
            line,
            format!(
                "`{file}` is a template: {count} line(s) hold placeholders such as `{p}` that a tool (initdb, Ansible, …) fills in before the server reads the file; those lines are not checked — check the rendered file"
            ),
        ));
        diagnostics.sort_by_key(|d| d.location.line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_lines_become_one_note() {
        let src = "local all all @authmethodlocal@\nhots all all 10.0.0.0/8 md5\nhost all all ::1/128 {{ m }}\n";
        let bad = |line| diagnostic("invalid-line", "pg_hba.conf", line, "bad");
        let mut d = vec![bad(1), bad(2), bad(3)];
        collapse(src, "pg_hba.conf", &mut d);
        let got: Vec<(&str, u32)> = d
            .iter()
            .map(|d| (d.code.as_str(), d.location.line))
            .collect();
        assert_eq!(got, [("template-placeholders", 1), ("invalid-line", 2)]);
        assert!(d[0].message.contains("2 line(s)"), "{}", d[0].message);
        assert!(
            d[0].message.contains("`@authmethodlocal@`"),
            "{}",
            d[0].message
        );
        for (line, p) in [
            ("a@b.c", None),
            ("@@", None),
            ("x @auth-method_1@ y", Some("@auth-method_1@")),
            ("<%= pw %> and {{ x }}", Some("<%= pw %>")),
        ] {
            assert_eq!(placeholder(line), p, "{line}");
        }
    }
}
