//! haproxy.cfg, read line by line as HAProxy's `readcfgfile` and `parse_line`
//! (`src/cfgparse.c`, `src/tools.c`) read it.
//!
//! # How a line becomes a [`wit::Setting`]
//!
//! A line is split into words at unquoted, unescaped spaces and tabs. Inside single
//! quotes nothing is interpreted; inside double quotes and outside quotes a backslash
//! escapes the next character (`\ `, `\\`, `\#`, `\'`, `\"`, `\$`, `\{`, `\}` give the
//! character itself; `\r`, `\n`, `\t` and `\xNN` give that byte; any other pair is kept
//! as written, backslash included, as HAProxy does). Adjacent quoted and unquoted parts
//! join into one word (`"a b"c` is `a bc`). An unquoted `#` starts a comment, also in the
//! middle of a line. HAProxy has no line continuation. Environment variables (`"$VAR"`)
//! are not expanded: the word keeps the text as written.
//!
//! A line whose first word is a section keyword (`global`, `defaults`, `frontend`,
//! `backend`, `listen`, `peers`, `resolvers`, `userlist`, `mailers`, `program`,
//! `http-errors`, `ring`, `log-forward`, `cache`, `fcgi-app`, `crt-store`, `traces`,
//! `acme`) opens a section. Every other line is a directive of the open section.
//!
//! For each directive line, and for each section header, one setting:
//! - `section`: the header's keyword and name as the words read (`listen primary`,
//!   `defaults`, `defaults tcp`, `global`). For a header, its own section.
//! - `name`: the first word, as written (`server`, `option`, `no`, `default-server`,
//!   `.if`). Prefixes stay words: `no option httpchk` has name `no` and args
//!   `[option, httpchk]`. A header's name is its keyword (`listen`).
//! - `args`: the words after the first, unquoted and unescaped
//!   (`server pg1 10.0.0.1:5432 check port 8008` → `[pg1, 10.0.0.1:5432, check, port,
//!   8008]`).
//! - `value`: the rest of the line after the first word as written (quotes and escapes
//!   kept), without the comment, trimmed: what a patch rewriting the line starts from.
//! - `location`: the line, and `pointer` `<section>/<name>` (`listen primary/server`).
//!
//! Diagnostics (`invalid-line`, each at its line; parsing goes on with the next line): a
//! directive before any section (HAProxy: "unknown keyword out of section"), a section
//! keyword missing its required name, an unmatched quote, an invalid `\x` sequence.
//! Unknown directives inside a section are not reported: `haproxy -c` knows its own
//! keywords, and they differ between versions. Lines inside `.if` blocks are all read,
//! whatever the condition.

use super::{Parsed, diagnostic};
use crate::wit;

/// Section keywords, and whether the header must name the section.
const SECTIONS: &[(&str, Name)] = &[
    ("global", Name::None),
    ("defaults", Name::Optional),
    ("frontend", Name::Required),
    ("backend", Name::Required),
    ("listen", Name::Required),
    ("peers", Name::Required),
    ("resolvers", Name::Required),
    ("userlist", Name::Required),
    ("mailers", Name::Required),
    ("program", Name::Required),
    ("http-errors", Name::Required),
    ("ring", Name::Required),
    ("log-forward", Name::Required),
    ("cache", Name::Required),
    ("fcgi-app", Name::Required),
    ("crt-store", Name::Optional),
    ("traces", Name::None),
    ("acme", Name::Required),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    None,
    Optional,
    Required,
}

/// Whether `word` opens a section.
pub fn is_section_keyword(word: &str) -> bool {
    SECTIONS.iter().any(|(k, _)| *k == word)
}

/// Parses a haproxy.cfg (`src`, shown to users as `file`).
pub fn parse(src: &str, file: &str) -> Parsed<Vec<wit::Setting>> {
    let mut parsed = Parsed::new(Vec::new());
    let mut section: Option<String> = None;
    for (index, raw) in src.split('\n').enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let text = raw.strip_suffix('\r').unwrap_or(raw);
        let text = if index == 0 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let line = match split_line(text) {
            Ok(line) => line,
            Err(message) => {
                parsed
                    .diagnostics
                    .push(diagnostic("invalid-line", file, number, message));
                continue;
            }
        };
        let Some(first) = line.words.first() else {
            continue;
        };
        let name = first.text.clone();
        let args: Vec<String> = line.words[1..].iter().map(|w| w.text.clone()).collect();
        let value = text[first.end..line.end].trim().to_string();

        if let Some((_, naming)) = SECTIONS.iter().find(|(k, _)| *k == name) {
            if *naming == Name::Required && args.is_empty() {
                parsed.diagnostics.push(diagnostic(
                    "invalid-line",
                    file,
                    number,
                    format!("`{name}` expects a name as an argument"),
                ));
                section = None;
                continue;
            }
            let header = match (naming, args.first()) {
                (Name::None, _) | (_, None) => name.clone(),
                (_, Some(n)) => format!("{name} {n}"),
            };
            section = Some(header);
        } else if section.is_none() {
            parsed.diagnostics.push(diagnostic(
                "invalid-line",
                file,
                number,
                format!("unknown keyword `{name}` out of section; a directive must follow a section header such as `global` or `backend NAME`"),
            ));
            continue;
        }
        let pointer = section.as_ref().map(|s| format!("{s}/{name}"));
        parsed.value.push(wit::Setting {
            section: section.clone(),
            name,
            value,
            args,
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

/// One word of a line: its unquoted text and the byte offset just past it in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    end: usize,
}

/// A line's words and where its meaningful text ends (before a comment).
#[derive(Debug)]
struct Line {
    words: Vec<Word>,
    end: usize,
}

/// Splits a line into words with HAProxy's quoting and escaping rules.
fn split_line(text: &str) -> Result<Line, String> {
    let bytes = text.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'#' {
            let end = i.min(bytes.len());
            return Ok(Line { words, end });
        }
        let mut word: Vec<u8> = Vec::new();
        let mut quote: Option<u8> = None;
        let start = i;
        while i < bytes.len() {
            let c = bytes[i];
            match quote {
                Some(b'\'') => {
                    if c == b'\'' {
                        quote = None;
                    } else {
                        word.push(c);
                    }
                    i += 1;
                }
                Some(_) | None if c == b'\\' => {
                    i += escape(bytes, i, &mut word)?;
                }
                Some(_) => {
                    if c == b'"' {
                        quote = None;
                    } else {
                        word.push(c);
                    }
                    i += 1;
                }
                None => {
                    if c == b' ' || c == b'\t' || c == b'#' {
                        break;
                    }
                    if c == b'\'' || c == b'"' {
                        quote = Some(c);
                    } else {
                        word.push(c);
                    }
                    i += 1;
                }
            }
        }
        if let Some(q) = quote {
            let kind = if q == b'\'' { "single" } else { "double" };
            return Err(format!(
                "unmatched {kind} quote in `{}`",
                text[start..].trim_end()
            ));
        }
        words.push(Word {
            text: String::from_utf8_lossy(&word).into_owned(),
            end: i,
        });
    }
}

/// Reads the escape at `bytes[i]` (a backslash) into `word`; returns how many bytes it
/// took.
fn escape(bytes: &[u8], i: usize, word: &mut Vec<u8>) -> Result<usize, String> {
    let Some(&next) = bytes.get(i + 1) else {
        // A trailing backslash stays a backslash (there is no line continuation).
        word.push(b'\\');
        return Ok(1);
    };
    match next {
        b' ' | b'\\' | b'#' | b'\'' | b'"' | b'$' | b'{' | b'}' => {
            word.push(next);
            Ok(2)
        }
        b'r' => {
            word.push(b'\r');
            Ok(2)
        }
        b'n' => {
            word.push(b'\n');
            Ok(2)
        }
        b't' => {
            word.push(b'\t');
            Ok(2)
        }
        b'x' => {
            let hex = bytes
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => {
                    word.push(b);
                    Ok(4)
                }
                _ => Err("truncated or invalid hexadecimal sequence after `\\x`".to_string()),
            }
        }
        _ => {
            word.push(b'\\');
            Ok(1)
        }
    }
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

    fn words(text: &str) -> Vec<String> {
        split_line(text)
            .expect("valid line")
            .words
            .into_iter()
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn splits_with_quotes_and_escapes() {
        let cases: &[(&str, &[&str])] = &[
            (
                "    server pg1 10.0.1.11:5432 check port 8008",
                &["server", "pg1", "10.0.1.11:5432", "check", "port", "8008"],
            ),
            (
                "\toption httpchk OPTIONS /primary  # comment",
                &["option", "httpchk", "OPTIONS", "/primary"],
            ),
            (
                "http-check send hdr Host 'a b' meth GET",
                &["http-check", "send", "hdr", "Host", "a b", "meth", "GET"],
            ),
            (
                r#"errorfile 503 "/etc/x y.http""#,
                &["errorfile", "503", "/etc/x y.http"],
            ),
            (
                r"acl a path_reg ^/a\ b\#c",
                &["acl", "a", "path_reg", "^/a b#c"],
            ),
            (r#"x "a"b'c d'e"#, &["x", "abc de"]),
            (r"x \x41\1", &["x", "A\\1"]),
            (r#"x 'no \escape here'"#, &["x", "no \\escape here"]),
            (r#"x "" y"#, &["x", "", "y"]),
            ("x a#comment", &["x", "a"]),
            ("# only a comment", &[]),
            ("   ", &[]),
            (r#"x "$HOME/y""#, &["x", "$HOME/y"]),
        ];
        for (line, want) in cases {
            assert_eq!(words(line), *want, "{line}");
        }
    }

    #[test]
    fn maps_directives_to_settings() {
        let src = "# lb\nglobal\n    maxconn 1000\n\ndefaults\n    mode tcp\n\nlisten primary\n    bind *:5000\n    server pg1 10.0.1.11:5432 check port 8008 # node 1\n    no option tcplog\nbackend  be  \n  server-template s 3 x:1\n";
        let parsed = parse(src, "haproxy.cfg");
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        type Row<'a> = (Option<&'a str>, &'a str, Vec<&'a str>, &'a str, u32);
        let got: Vec<Row> = parsed
            .value
            .iter()
            .map(|s| {
                (
                    s.section.as_deref(),
                    s.name.as_str(),
                    s.args.iter().map(String::as_str).collect(),
                    s.value.as_str(),
                    s.location.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("global"), "global", vec![], "", 2),
                (Some("global"), "maxconn", vec!["1000"], "1000", 3),
                (Some("defaults"), "defaults", vec![], "", 5),
                (Some("defaults"), "mode", vec!["tcp"], "tcp", 6),
                (
                    Some("listen primary"),
                    "listen",
                    vec!["primary"],
                    "primary",
                    8
                ),
                (Some("listen primary"), "bind", vec!["*:5000"], "*:5000", 9),
                (
                    Some("listen primary"),
                    "server",
                    vec!["pg1", "10.0.1.11:5432", "check", "port", "8008"],
                    "pg1 10.0.1.11:5432 check port 8008",
                    10
                ),
                (
                    Some("listen primary"),
                    "no",
                    vec!["option", "tcplog"],
                    "option tcplog",
                    11
                ),
                (Some("backend be"), "backend", vec!["be"], "be", 12),
                (
                    Some("backend be"),
                    "server-template",
                    vec!["s", "3", "x:1"],
                    "s 3 x:1",
                    13
                ),
            ]
        );
        assert_eq!(
            parsed.value[6].location.pointer.as_deref(),
            Some("listen primary/server")
        );
    }

    #[test]
    fn reports_bad_lines_and_goes_on() {
        let src = "maxconn 10\nglobal\n  log \"unterminated\nbackend\n  server a 'x\n  x \\xZZ\nfrontend fe\n  bind :80\r\n";
        let parsed = parse(src, "f.cfg");
        let lines: Vec<u32> = parsed.diagnostics.iter().map(|d| d.location.line).collect();
        assert_eq!(lines, vec![1, 3, 4, 5, 6], "{:?}", parsed.diagnostics);
        assert!(parsed.diagnostics.iter().all(|d| d.code == "invalid-line"));
        // After `backend` without a name, lines are out of section until the next header.
        let last = parsed.value.last().expect("bind");
        assert_eq!(
            (
                last.section.as_deref(),
                last.name.as_str(),
                last.value.as_str()
            ),
            (Some("frontend fe"), "bind", ":80")
        );
    }

    #[test]
    fn never_panics_on_generated_input() {
        let alphabet = [
            "global", "listen x", "\n", " ", "\t", "'", "\"", "\\", "\\x", "4", "g", "#", "server",
            "\u{e9}", "\r", "=",
        ];
        for src in generated_inputs(&alphabet) {
            let parsed = parse(&src, "f");
            assert!(parsed.value.iter().all(|s| s.location.line >= 1));
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for src in [
            "\\",
            "global\n\\x",
            "global\n\\x4",
            "global\n'",
            "global\n\"\\",
            "\u{feff}global",
            "global\n\u{1F600} \u{e9}",
        ] {
            let _ = parse(src, "f");
        }
    }
}
