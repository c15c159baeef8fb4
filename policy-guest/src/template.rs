//! Placeholders of template files: a config kept in a repository as a template
//! (PostgreSQL's own `pg_hba.conf.sample` with `@authmethodhost@`, an Ansible/Jinja
//! `{{ var }}`, an ERB `<%= x %>`, a shell `${VAR}`) is filled in by a tool before the
//! server reads it. A line with a placeholder is not a broken line of a live file: the
//! policies say "template" at info and leave the line alone instead of calling the file
//! refused.

/// The first placeholder in `line`, as written (`@authmethodhost@`, `{{ port }}`,
/// `${PGPORT}`, `<%= x %>`), or None.
pub fn placeholder(line: &str) -> Option<&str> {
    let candidates = [
        at_word(line),
        between(line, "{{", "}}"),
        between(line, "{%", "%}"),
        between(line, "<%", "%>"),
        between(line, "${", "}"),
    ];
    candidates
        .into_iter()
        .flatten()
        .min_by_key(|(start, _)| *start)
        .map(|(start, end)| &line[start..end])
}

/// `@name@` as initdb writes its placeholders: letters, digits, `-` and `_` between two
/// `@`, with at least one letter (so `@@` and `a@b@c` in an e-mail address do not count
/// unless the part between is a word).
fn at_word(line: &str) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@' {
            let rest = &line[i + 1..];
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
                .count();
            if len > 0
                && rest.as_bytes().get(len) == Some(&b'@')
                && rest[..len].bytes().any(|b| b.is_ascii_alphabetic())
            {
                return Some((i, i + len + 2));
            }
        }
        i += 1;
    }
    None
}

fn between(line: &str, open: &str, close: &str) -> Option<(usize, usize)> {
    let start = line.find(open)?;
    let end = line[start + open.len()..].find(close)? + start + open.len() + close.len();
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::placeholder;

    #[test]
    fn finds_placeholders() {
        for (line, want) in [
            (
                "host all all 127.0.0.1/32 @authmethodhost@",
                Some("@authmethodhost@"),
            ),
            (
                "@remove-line-for-nolocal@local all all @authmethodlocal@",
                Some("@remove-line-for-nolocal@"),
            ),
            ("host all all {{ cidr }} scram-sha-256", Some("{{ cidr }}")),
            ("{% for h in hosts %}", Some("{% for h in hosts %}")),
            ("port = ${PGPORT}", Some("${PGPORT}")),
            ("host all <%= user %> 10.0.0.0/8 md5", Some("<%= user %>")),
            ("host all all 10.0.0.0/8 md5", None),
            ("host all @users.txt 10.0.0.0/8 md5", None),
            ("mail admin@example.org", None),
            ("a @@ b", None),
        ] {
            assert_eq!(placeholder(line), want, "{line}");
        }
    }
}
