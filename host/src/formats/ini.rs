//! INI-like files: pgbackrest.conf, pgbouncer.ini, pg_autoctl.cfg.
//!
//! One generic reader, following the strictest of the three where they differ
//! (pgBackRest's `iniParse` in `src/common/ini.c`, libusual's `parse_ini_file` behind
//! pgbouncer):
//! - each line is trimmed; an empty line, or one starting with `#` or `;`, is a comment
//!   (comments are whole lines only: `key = a # b` has the value `a # b`, as in all three);
//! - `[name]` opens a section (the name between the brackets, trimmed);
//! - `key = value` is a setting: the key before the first `=`, the value after it, both
//!   trimmed and kept as written (none of the three removes quotes from values; a key in
//!   double quotes, as pgbouncer allows in `[databases]`, loses its quotes);
//! - pgbouncer's `%include FILE` is a setting named `%include` whose value is the file
//!   (not followed: a parser here reads one file);
//! - anything else is an `invalid-line` diagnostic, and so is a `[` line that does not
//!   end with `]` or a key that is empty.
//!
//! Repeated keys are all kept, in file order (pgBackRest reads a repeated key as a list:
//! `db-include`, `recovery-option`); a key before any section has no section (pgBackRest
//! refuses such a file, the policy that owns the format says so). Each setting has `args`
//! empty and `pointer` `section/key` (or `key`).

pub mod edit;

use super::{Parsed, diagnostic};
use crate::wit;

/// Parses an INI-like file (`src`, shown to users as `file`).
pub fn parse(src: &str, file: &str) -> Parsed<Vec<wit::Setting>> {
    let mut parsed = Parsed::new(Vec::new());
    let mut section: Option<String> = None;
    for (index, raw) in src.split('\n').enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let raw = if index == 0 {
            raw.strip_prefix('\u{feff}').unwrap_or(raw)
        } else {
            raw
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut bad = |message: String| {
            parsed
                .diagnostics
                .push(diagnostic("invalid-line", file, number, message))
        };
        if let Some(rest) = line.strip_prefix('[') {
            match rest.strip_suffix(']') {
                Some(name) => section = Some(name.trim().to_string()),
                None => bad(format!("section header `{line}` does not end with `]`")),
            }
            continue;
        }
        let (name, value) = if let Some(rest) = line.strip_prefix("%include") {
            if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
                bad(format!(
                    "`{line}` is neither a section, a `key = value` setting nor a comment"
                ));
                continue;
            }
            ("%include".to_string(), rest.trim().to_string())
        } else {
            let Some((key, value)) = line.split_once('=') else {
                bad(format!(
                    "missing `=` in `{line}`: a line must be a `[section]`, a `key = value` setting or a comment"
                ));
                continue;
            };
            let key = key.trim();
            let key = key
                .strip_prefix('"')
                .and_then(|k| k.strip_suffix('"'))
                .unwrap_or(key);
            if key.is_empty() {
                bad(format!("empty key in `{line}`"));
                continue;
            }
            (key.to_string(), value.trim().to_string())
        };
        let pointer = Some(match &section {
            Some(s) => format!("{s}/{name}"),
            None => name.clone(),
        });
        parsed.value.push(wit::Setting {
            section: section.clone(),
            name,
            value,
            args: Vec::new(),
            location: wit::Location {
                file: file.to_string(),
                line: number,
                end_line: None,
                pointer,
            },
        });
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random lines from an alphabet full of the format's specials.
    pub(crate) fn generated_inputs(alphabet: &[&str]) -> Vec<String> {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        (0..2000)
            .map(|_| {
                let len = (next() % 40) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    fn settings(src: &str) -> Vec<(Option<String>, String, String, u32)> {
        parse(src, "f.conf")
            .value
            .into_iter()
            .map(|s| (s.section, s.name, s.value, s.location.line))
            .collect()
    }

    #[test]
    fn reads_sections_keys_and_comments() {
        let src = "# pgBackRest\n[global]\nrepo1-path=/var/lib/pgbackrest\n  repo1-cipher-type = aes-256-cbc  \n; old\n\n[main]\npg1-path=/d\ndb-include=a\ndb-include=b\nk = a # not a comment\n";
        let s = |sec: &str, k: &str, v: &str, l: u32| {
            (Some(sec.to_string()), k.to_string(), v.to_string(), l)
        };
        assert_eq!(
            settings(src),
            vec![
                s("global", "repo1-path", "/var/lib/pgbackrest", 3),
                s("global", "repo1-cipher-type", "aes-256-cbc", 4),
                s("main", "pg1-path", "/d", 8),
                s("main", "db-include", "a", 9),
                s("main", "db-include", "b", 10),
                s("main", "k", "a # not a comment", 11),
            ]
        );
        let parsed = parse(src, "f.conf");
        assert_eq!(
            parsed.value[0].location.pointer.as_deref(),
            Some("global/repo1-path")
        );
    }

    #[test]
    fn pgbouncer_forms() {
        let src = "[databases]\n\"my db\" = host=10.0.0.1 dbname=x\n* = host=h\n[pgbouncer]\n%include /etc/pgbouncer/extra.ini\nauth_type = scram-sha-256\r\n";
        let got = settings(src);
        assert_eq!(got[0].1, "my db");
        assert_eq!(got[0].2, "host=10.0.0.1 dbname=x");
        assert_eq!(got[1].1, "*");
        assert_eq!(
            (got[2].1.as_str(), got[2].2.as_str()),
            ("%include", "/etc/pgbouncer/extra.ini")
        );
        assert_eq!(got[3].2, "scram-sha-256");
    }

    #[test]
    fn reports_invalid_lines_and_goes_on() {
        let src = "key-before=section\n[global\nno equals here\n = value\n[ok]\n%includex\na=b\n";
        let parsed = parse(src, "f.conf");
        let lines: Vec<u32> = parsed.diagnostics.iter().map(|d| d.location.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 6], "{:?}", parsed.diagnostics);
        assert!(parsed.diagnostics.iter().all(|d| d.code == "invalid-line"));
        let got = settings(src);
        assert_eq!(
            got[0],
            (None, "key-before".to_string(), "section".to_string(), 1)
        );
        assert_eq!(
            got[1],
            (Some("ok".to_string()), "a".to_string(), "b".to_string(), 7)
        );
    }

    #[test]
    fn never_panics_on_generated_input() {
        let alphabet = [
            "[", "]", "=", "\n", " ", ";", "#", "\"", "%include", "a", "\u{e9}", "\r",
        ];
        for src in generated_inputs(&alphabet) {
            let _ = parse(&src, "f");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for src in [
            "[",
            "]",
            "=",
            "\"\"=x",
            "\"=x",
            "%include",
            "\u{feff}[a]\nb=c",
            "[\u{e9}]\n\u{1F600}=\u{1F600}",
        ] {
            let _ = parse(src, "f");
        }
    }
}
