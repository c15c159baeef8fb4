//! Unrendered templates: a config kept in a repository as a template (PostgreSQL's own
//! `pg_hba.conf.sample` with `@authmethodhost@`, an Ansible/Jinja `{{ var }}`, an ERB
//! `<%= x %>`) is filled in by a tool before the server reads it. Its placeholder lines
//! are not broken lines of a live file: [`collapse`] turns their `invalid-line`
//! diagnostics into one `template-placeholders` note (info) for the file. (The same
//! recognition as `policy_guest::template`, which policies use on values.)

use super::diagnostic;
use super::kind::Kind;
use crate::wit;

/// For a whole file of `kind`: the first line (1-based) holding a Jinja or ERB
/// placeholder (`{{ var }}`, `{% if %}`, `<%= x %>`) outside a comment, with the
/// placeholder. Such a file is a template a tool renders before the program reads it:
/// its values are unknown, so it is not checked as a live file. Only for kinds where
/// those brackets are not the program's own syntax: Consul evaluates `{{ GetPrivateIP }}`
/// itself, Compose and env files interpolate `${VAR}`, and pg_hba.conf templates keep
/// their other lines checked ([`collapse`]).
pub fn in_file<'a>(kind: &Kind, text: &'a str) -> Option<(u32, &'a str)> {
    let comment: &[char] = match kind {
        Kind::Patroni
        | Kind::Etcd
        | Kind::PostgresqlConf
        | Kind::PgIdent
        | Kind::Haproxy
        | Kind::GitlabRb
        | Kind::Systemd
        | Kind::PatroniEnv => &['#'],
        Kind::Pgbouncer | Kind::Pgbackrest | Kind::PgAutoctl => &['#', ';'],
        _ => return None,
    };
    text.lines().enumerate().find_map(|(i, line)| {
        if line.trim_start().starts_with(comment) {
            return None;
        }
        [
            between(line, "{{", "}}"),
            between(line, "{%", "%}"),
            between(line, "<%", "%>"),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(start, _)| *start)
        .map(|(start, end)| (i as u32 + 1, &line[start..end]))
    })
}

/// Why a walk skips a template found by [`in_file`].
pub fn skip_reason(line: u32, placeholder: &str) -> String {
    format!(
        "a template (`{placeholder}` at line {line}, filled in by a tool before the program reads the file): check the rendered file"
    )
}

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

    #[test]
    fn jinja_and_erb_placeholders_make_a_file_a_template() {
        let yaml = "scope: demo\n# name: {{ not_this }}\nname: {{ inventory_hostname }}\n";
        assert_eq!(
            in_file(&Kind::Patroni, yaml),
            Some((3, "{{ inventory_hostname }}"))
        );
        let conf = "ssl = on\nlisten_addresses = '<%= @listen %>'\n";
        assert_eq!(
            in_file(&Kind::PostgresqlConf, conf),
            Some((2, "<%= @listen %>"))
        );
        let ini = "; {{ commented }}\n[pgbouncer]\n{% if tls %}\n";
        assert_eq!(in_file(&Kind::Pgbouncer, ini), Some((3, "{% if tls %}")));
    }

    #[test]
    fn live_syntax_and_plain_files_are_not_templates() {
        // Consul renders go-sockaddr templates itself.
        let hcl = "bind_addr = \"{{ GetPrivateIP }}\"\n";
        assert_eq!(in_file(&Kind::Consul, hcl), None);
        // Compose interpolates `${VAR}`; a lone brace is no placeholder.
        let compose = "services:\n  db:\n    image: ${IMAGE}\n";
        assert_eq!(in_file(&Kind::DockerCompose, compose), None);
        let conf = "log_line_prefix = '%m [%p] {'\nssl = on\n";
        assert_eq!(in_file(&Kind::PostgresqlConf, conf), None);
        // pg_hba.conf templates are handled line by line.
        assert_eq!(in_file(&Kind::PgHba, "host all all {{ net }} md5\n"), None);
    }
}
