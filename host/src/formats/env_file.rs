//! Environment files (`KEY=VALUE` lines): Patroni's env files (`patroni.env`, Docker
//! `--env-file`s, systemd `EnvironmentFile=`s) that set `PATRONI_*` variables, which
//! Patroni applies over its YAML (`PATRONI_RESTAPI_PASSWORD`, `PATRONI_SUPERUSER_USERNAME`,
//! `PATRONI_<user>_PASSWORD` …).
//!
//! Read as Docker's and systemd's env files are: blank lines and lines starting with `#`
//! are comments; `export NAME=value` is `NAME=value`; a value in `"…"` or `'…'` has its
//! quotes removed (inside double quotes `\"` and `\\` are escapes); white space around the
//! name and an unquoted value is trimmed. Each variable is one [`wit::Setting`] with no
//! section, `name` the variable, `value` the unquoted value and a location with the line
//! and the variable as pointer; a variable set twice appears twice (the last one wins, as
//! in the shell). Any other line is an `invalid-line` diagnostic; parsing goes on.

use super::{Parsed, diagnostic};
use crate::wit;

/// Parses an env file (`src`, shown to users as `file`).
pub fn parse(src: &str, file: &str) -> Parsed<Vec<wit::Setting>> {
    let mut parsed = Parsed::new(Vec::new());
    for (index, raw) in src.split('\n').enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let line = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            parsed.diagnostics.push(diagnostic(
                "invalid-line",
                file,
                number,
                format!("`{line}` is not a `NAME=value` line"),
            ));
            continue;
        };
        let name = name.trim();
        if !is_name(name) {
            parsed.diagnostics.push(diagnostic(
                "invalid-line",
                file,
                number,
                format!("`{name}` is not a variable name (letters, digits and `_`, not starting with a digit)"),
            ));
            continue;
        }
        let value = match unquote(value.trim()) {
            Ok(v) => v,
            Err(quote) => {
                parsed.diagnostics.push(diagnostic(
                    "invalid-line",
                    file,
                    number,
                    format!("the value of `{name}` opens a `{quote}` quote that does not close on its line"),
                ));
                continue;
            }
        };
        parsed.value.push(wit::Setting {
            section: None,
            name: name.to_string(),
            args: Vec::new(),
            value,
            location: wit::Location {
                file: file.to_string(),
                line: number,
                end_line: None,
                pointer: Some(name.to_string()),
            },
        });
    }
    parsed
}

/// Whether `text` looks like an env file that configures Patroni: at least one
/// `PATRONI_*=` line, and every line that is not a comment a `NAME=value` line.
pub fn looks_like_patroni(text: &str) -> bool {
    let mut patroni = false;
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let l = l.strip_prefix("export ").map(str::trim_start).unwrap_or(l);
        let Some((name, _)) = l.split_once('=') else {
            return false;
        };
        if !is_name(name.trim()) {
            return false;
        }
        patroni |= name.trim().starts_with("PATRONI_");
    }
    patroni
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value without its quotes; `Err(quote)` when a quote does not close.
fn unquote(value: &str) -> Result<String, char> {
    let Some(quote @ ('"' | '\'')) = value.chars().next() else {
        // An unquoted value ends at a ` #` comment, as in Docker's env files.
        return Ok(value
            .split(" #")
            .next()
            .unwrap_or(value)
            .trim_end()
            .to_string());
    };
    let mut out = String::new();
    let mut chars = value[1..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote == '"' => match chars.next() {
                Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err(quote),
            },
            c if c == quote => return Ok(out),
            c => out.push(c),
        }
    }
    Err(quote)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_variables_with_lines_and_quotes() {
        let src = "# Patroni\nPATRONI_NAME=pg1\nexport PATRONI_RESTAPI_PASSWORD=\"a \\\"b\\\"\"\n\nPATRONI_SCOPE='demo' \nPATRONI_admin_OPTIONS=createdb,createrole # note\n";
        let parsed = parse(src, "patroni.env");
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let got: Vec<(&str, &str, u32)> = parsed
            .value
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str(), s.location.line))
            .collect();
        assert_eq!(
            got,
            [
                ("PATRONI_NAME", "pg1", 2),
                ("PATRONI_RESTAPI_PASSWORD", "a \"b\"", 3),
                ("PATRONI_SCOPE", "demo", 5),
                ("PATRONI_admin_OPTIONS", "createdb,createrole", 6)
            ]
        );
        assert_eq!(
            parsed.value[0].location.pointer.as_deref(),
            Some("PATRONI_NAME")
        );
    }

    #[test]
    fn bad_lines_are_diagnosed_and_parsing_goes_on() {
        let parsed = parse(
            "PATRONI_NAME=a\nnot a line\n1X=2\nPATRONI_SCOPE=\"open\nPATRONI_X=y\n",
            "e.env",
        );
        let lines: Vec<u32> = parsed.diagnostics.iter().map(|d| d.location.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert!(parsed.diagnostics.iter().all(|d| d.code == "invalid-line"));
        assert_eq!(parsed.value.len(), 2);
    }

    #[test]
    fn recognises_patroni_env_files() {
        assert!(looks_like_patroni(
            "PATRONI_RESTAPI_USERNAME=admin\nPATRONI_RESTAPI_PASSWORD=admin\n"
        ));
        assert!(looks_like_patroni("# c\nexport PATRONI_NAME=x\nOTHER=1\n"));
        assert!(!looks_like_patroni("ETCD_NAME=a\n"));
        assert!(!looks_like_patroni("PATRONI_NAME=a\n[section]\n"));
        assert!(!looks_like_patroni("scope: x\nPATRONI_NAME=a\n"));
    }
}
