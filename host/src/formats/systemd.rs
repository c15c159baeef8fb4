//! systemd unit files (`patroni.service`, `etcd.service`, drop-ins), read as
//! `systemd.syntax(7)` describes them.
//!
//! Lines starting with `#` or `;` are comments; `[Section]` opens a section; `Key=Value`
//! is a setting, white space around the `=` ignored. A line ending in a backslash goes on
//! on the next line (the backslash becomes a space; comment lines inside a continued line
//! are skipped, as systemd does). Each setting is a [`wit::Setting`] with `section` the
//! section name (`Service`), `name` the key (`ExecReload`), `value` the joined value,
//! `args` its words split with systemd's quoting (`"…"` and `'…'` with C escapes, as for
//! `ExecStart=` and `Environment=`), and a location from the first to the last physical
//! line. Anything else is an `invalid-line` diagnostic.

use super::{Parsed, diagnostic};
use crate::wit;

/// Parses a unit file (`src`, shown to users as `file`).
pub fn parse(src: &str, file: &str) -> Parsed<Vec<wit::Setting>> {
    let mut parsed = Parsed::new(Vec::new());
    let mut section: Option<String> = None;
    let lines: Vec<&str> = src
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut i = 0;
    while i < lines.len() {
        let first = i;
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            match rest.strip_suffix(']') {
                Some(name) => section = Some(name.to_string()),
                None => parsed.diagnostics.push(diagnostic(
                    "invalid-line",
                    file,
                    number(first),
                    format!("section header `{line}` does not end with `]`"),
                )),
            }
            continue;
        }
        // Join continuation lines.
        let mut joined = String::from(line);
        while joined.ends_with('\\') && i < lines.len() {
            joined.pop();
            joined.push(' ');
            let next = lines[i].trim();
            i += 1;
            if next.starts_with(['#', ';']) {
                joined.pop();
                joined.push('\\');
                continue;
            }
            joined.push_str(next);
        }
        let last = i - 1;
        let Some((key, value)) = joined.split_once('=') else {
            parsed.diagnostics.push(diagnostic(
                "invalid-line",
                file,
                number(first),
                format!("missing `=` in `{}`: a line must be a `[Section]`, a `Key=Value` setting or a comment", line),
            ));
            continue;
        };
        let name = key.trim().to_string();
        let value = value.trim().to_string();
        let pointer = Some(match &section {
            Some(s) => format!("{s}/{name}"),
            None => name.clone(),
        });
        parsed.value.push(wit::Setting {
            section: section.clone(),
            args: split_words(&value),
            name,
            value,
            location: wit::Location {
                file: file.to_string(),
                line: number(first),
                end_line: (last > first).then(|| number(last)),
                pointer,
            },
        });
    }
    parsed
}

fn number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// Splits a value into words as systemd's `extract_first_word` does with
/// `EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE`: white space separates, `"…"` and `'…'` quote,
/// a backslash escapes (C escapes `\n`, `\t`…). An unmatched quote runs to the end.
pub fn split_words(value: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (_, '\\') => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    Some('r') => word.push('\r'),
                    Some(other) => word.push(other),
                    None => {}
                },
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.push(c),
                (None, '"' | '\'') => quote = Some(c),
                (None, c) if c.is_whitespace() => break,
                (None, c) => word.push(c),
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_units_with_continuations() {
        let src = "[Unit]\nDescription=Patroni\n\n[Service]\nType=simple\nExecStart=/usr/bin/patroni \\\n  # a comment inside\n  /etc/patroni/patroni.yml\nExecReload=/bin/kill -s HUP $MAINPID\nEnvironment=\"ETCD_NAME=etcd 1\" ETCD_X=y\n";
        let parsed = parse(src, "patroni.service");
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let exec = parsed
            .value
            .iter()
            .find(|s| s.name == "ExecStart")
            .expect("ExecStart");
        assert_eq!(exec.section.as_deref(), Some("Service"));
        assert_eq!(
            exec.args,
            vec!["/usr/bin/patroni", "/etc/patroni/patroni.yml"]
        );
        assert_eq!((exec.location.line, exec.location.end_line), (6, Some(8)));
        let reload = parsed
            .value
            .iter()
            .find(|s| s.name == "ExecReload")
            .expect("ExecReload");
        assert_eq!(reload.args, vec!["/bin/kill", "-s", "HUP", "$MAINPID"]);
        let env = parsed
            .value
            .iter()
            .find(|s| s.name == "Environment")
            .expect("Environment");
        assert_eq!(env.args, vec!["ETCD_NAME=etcd 1", "ETCD_X=y"]);
    }

    #[test]
    fn reports_invalid_lines() {
        let parsed = parse("[Service\nnot a setting\n[Service]\nA=b\\", "x.service");
        let lines: Vec<u32> = parsed.diagnostics.iter().map(|d| d.location.line).collect();
        assert_eq!(lines, vec![1, 2]);
        assert_eq!(parsed.value.len(), 1);
    }
}
