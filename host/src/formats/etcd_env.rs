//! etcd configured by environment variables or command-line flags instead of a YAML file:
//! an environment file (`/etc/default/etcd`, RHEL's `/etc/etcd/etcd.conf`, `etcd.env`:
//! `ETCD_LISTEN_CLIENT_URLS=https://…`), or a systemd unit (`etcd.service`) whose
//! `ExecStart=` runs `etcd --flag=value …` and whose `Environment=` sets `ETCD_*`.
//!
//! Both become the same structured document as etcd's YAML config file, so a policy reads
//! `/listen-client-urls` or `/client-transport-security/cert-file` whatever the form:
//! the flag name (or the variable name without `ETCD_`, lowercased, `_` → `-`) is the
//! YAML key, except the TLS flags, which etcd's YAML nests (`--cert-file` →
//! `/client-transport-security/cert-file`, `--peer-key-file` →
//! `/peer-transport-security/key-file`, `--client-crl-file` → `…/crl-file`). Values are
//! strings as written, except etcd's boolean flags, which become JSON booleans when they
//! parse as Go's `strconv.ParseBool` does. A flag overrides the variable of the same name
//! (etcd gives flags precedence). Each value's span is the physical line that sets it.
//!
//! In an environment file, `DAEMON_ARGS` and `ETCD_OPTS` (Debian's and others' ways to
//! pass extra flags) are read as flags too; other variables are ignored. Lines that are
//! neither comments nor `NAME=value` are `invalid-line` diagnostics.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Parsed, diagnostic, systemd};
use crate::wit;

/// etcd's boolean flags (those that take no separate value word).
const BOOL_FLAGS: &[&str] = &[
    "client-cert-auth",
    "peer-client-cert-auth",
    "auto-tls",
    "peer-auto-tls",
    "enable-v2",
    "enable-pprof",
    "enable-grpc-gateway",
    "strict-reconfig-check",
    "force-new-cluster",
    "debug",
    "pre-vote",
    "experimental-initial-corrupt-check",
    "experimental-peer-skip-client-san-verification",
    "peer-skip-client-san-verification",
    "client-cert-allowed-hostname-verify",
    "version",
    "help",
];

/// Whether a file's text configures etcd through `ETCD_*` variables or `etcd --flags`.
pub fn looks_like(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
        let l = l
            .strip_prefix("Environment=")
            .map(|r| r.trim_start_matches(['"', '\'']))
            .unwrap_or(l);
        (l.starts_with("ETCD_") && l.contains('='))
            || (l.starts_with("ExecStart=")
                && systemd::split_words(&l["ExecStart=".len()..])
                    .iter()
                    .any(|w| is_etcd_binary(w)))
    })
}

/// Where a flag's value sits in etcd's YAML: a section (`client-transport-security`,
/// `peer-transport-security`) or the top level, and the key.
fn key_for_flag(flag: &str) -> (Option<&'static str>, &str) {
    const CLIENT: Option<&str> = Some("client-transport-security");
    const PEER: Option<&str> = Some("peer-transport-security");
    match flag {
        "cert-file" | "key-file" | "client-cert-auth" | "trusted-ca-file" | "auto-tls" => {
            (CLIENT, flag)
        }
        "client-crl-file" => (CLIENT, "crl-file"),
        "client-cert-allowed-hostname" => (CLIENT, "allowed-hostname"),
        "peer-cert-file"
        | "peer-key-file"
        | "peer-client-cert-auth"
        | "peer-trusted-ca-file"
        | "peer-auto-tls"
        | "peer-crl-file" => (PEER, &flag["peer-".len()..]),
        "peer-cert-allowed-cn" => (PEER, "allowed-cn"),
        "peer-cert-allowed-hostname" => (PEER, "allowed-hostname"),
        _ => (None, flag),
    }
}

/// The sections of etcd's YAML that flags are nested into.
const SECTIONS: &[&str] = &["client-transport-security", "peer-transport-security"];

/// A JSON pointer token (RFC 6901: `~` and `/` escaped, whatever the name holds).
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The YAML pointer for a flag name.
pub fn pointer_for_flag(flag: &str) -> String {
    match key_for_flag(flag) {
        (Some(section), key) => format!("/{}/{}", token(section), token(key)),
        (None, key) => format!("/{}", token(key)),
    }
}

/// The flag name of an `ETCD_*` variable (`ETCD_LISTEN_CLIENT_URLS` → `listen-client-urls`).
pub fn flag_for_env(name: &str) -> Option<String> {
    let rest = name.strip_prefix("ETCD_")?;
    (!rest.is_empty()).then(|| rest.to_ascii_lowercase().replace('_', "-"))
}

/// Parses an etcd environment file or unit file (`src`, shown to users as `file`).
pub fn parse(src: &str, file: &str) -> Parsed<wit::Structured> {
    let mut values = Values::default();
    let mut diagnostics = Vec::new();
    let unit = src.lines().any(|l| l.trim_start().starts_with('['))
        || file.ends_with(".service")
        || file.contains(".service.d/");
    if unit {
        let parsed = systemd::parse(src, file);
        diagnostics = parsed.diagnostics;
        let mut flags = Vec::new();
        for s in parsed
            .value
            .iter()
            .filter(|s| s.section.as_deref() == Some("Service"))
        {
            match s.name.as_str() {
                "Environment" => {
                    for word in &s.args {
                        if let Some((name, value)) = word.split_once('=')
                            && let Some(flag) = flag_for_env(name)
                        {
                            values.set(&flag, value, s.location.line);
                        }
                    }
                }
                "ExecStart" => {
                    let Some(pos) = s.args.iter().position(|w| is_etcd_binary(w)) else {
                        continue;
                    };
                    // Flags on continued lines: find each flag's own physical line.
                    let first = s.location.line;
                    let last = s.location.end_line.unwrap_or(first);
                    let lines: Vec<&str> = src.split('\n').collect();
                    for (flag, value) in read_flags(&s.args[pos + 1..]) {
                        let line = (first..=last)
                            .find(|l| {
                                lines
                                    .get(*l as usize - 1)
                                    .is_some_and(|t| line_has_flag(t, &flag))
                            })
                            .unwrap_or(first);
                        flags.push((flag, value, line));
                    }
                }
                _ => {}
            }
        }
        for (flag, value, line) in flags {
            values.set(&flag, &value, line);
        }
    } else {
        let mut flags = Vec::new();
        for (index, raw) in src.split('\n').enumerate() {
            let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let text = text
                .strip_prefix("export ")
                .map(str::trim_start)
                .unwrap_or(text);
            let Some((name, value)) = text.split_once('=') else {
                diagnostics.push(diagnostic(
                    "invalid-line",
                    file,
                    line,
                    format!("`{text}` is not a `NAME=value` assignment"),
                ));
                continue;
            };
            let name = name.trim();
            let value = systemd::split_words(value).join(" ");
            if matches!(name, "DAEMON_ARGS" | "ETCD_OPTS" | "ETCD_ARGS") {
                let words = systemd::split_words(&value);
                flags.extend(read_flags(&words).into_iter().map(|(f, v)| (f, v, line)));
            } else if let Some(flag) = flag_for_env(name) {
                values.set(&flag, &value, line);
            }
        }
        for (flag, value, line) in flags {
            values.set(&flag, &value, line);
        }
    }
    let end = u32::try_from(src.lines().count())
        .unwrap_or(u32::MAX)
        .max(1);
    let mut parsed = values.into_structured(end, file);
    diagnostics.append(&mut parsed.diagnostics);
    Parsed {
        value: parsed.value,
        diagnostics,
    }
}

/// Whether a physical line of a unit holds the flag `flag` (`--flag`, `-flag=…`).
fn line_has_flag(line: &str, flag: &str) -> bool {
    systemd::split_words(line).iter().any(|w| {
        let body = w.strip_prefix("--").or_else(|| w.strip_prefix('-'));
        body.is_some_and(|b| b == flag || b.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
    })
}

fn is_etcd_binary(word: &str) -> bool {
    let word = word.trim_start_matches(['-', '@', '+', '!', ':']);
    word.rsplit('/').next() == Some("etcd")
}

/// Reads Go-style flags (`--name=value`, `-name=value`, `--name value`, `--bool`).
fn read_flags(words: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        let Some(body) = word.strip_prefix("--").or_else(|| word.strip_prefix('-')) else {
            continue;
        };
        if body.is_empty() {
            break; // `--` ends the flags
        }
        match body.split_once('=') {
            Some((name, value)) => out.push((name.to_string(), value.to_string())),
            None if BOOL_FLAGS.contains(&body) => out.push((body.to_string(), "true".to_string())),
            None => {
                let value = words.get(i).cloned().unwrap_or_default();
                i += 1;
                out.push((body.to_string(), value));
            }
        }
    }
    out
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Values by where they sit in etcd's YAML (section, key), with their lines; later
/// settings replace earlier ones. The JSON and the spans' pointers are both made from
/// these keys, so every pointer names a value of the JSON.
#[derive(Default)]
struct Values {
    by_key: BTreeMap<(Option<&'static str>, String), (Value, u32)>,
}

impl Values {
    fn set(&mut self, flag: &str, value: &str, line: u32) {
        let json = match BOOL_FLAGS
            .contains(&flag)
            .then(|| parse_bool(value))
            .flatten()
        {
            Some(b) => Value::Bool(b),
            None => Value::String(value.to_string()),
        };
        let (section, key) = key_for_flag(flag);
        self.by_key.insert((section, key.to_string()), (json, line));
    }

    /// The document; a top-level value named like a section (`--client-transport-security`,
    /// which is no etcd flag) gives way to the section, with a diagnostic.
    fn into_structured(self, end: u32, file: &str) -> Parsed<wit::Structured> {
        let mut root = Map::new();
        let mut spans = vec![wit::Span {
            pointer: String::new(),
            line: 1,
            end_line: end,
        }];
        let mut diagnostics = Vec::new();
        let mut sections: BTreeMap<&str, (Map<String, Value>, u32, u32)> = BTreeMap::new();
        for ((section, key), (value, line)) in self.by_key {
            match section {
                Some(section) => {
                    spans.push(wit::Span {
                        pointer: format!("/{}/{}", token(section), token(&key)),
                        line,
                        end_line: line,
                    });
                    let entry = sections.entry(section).or_insert((Map::new(), line, line));
                    entry.0.insert(key, value);
                    entry.1 = entry.1.min(line);
                    entry.2 = entry.2.max(line);
                }
                None if SECTIONS.contains(&key.as_str()) => diagnostics.push(diagnostic(
                    "invalid-line",
                    file,
                    line,
                    format!(
                        "`{key}` is a section of etcd's configuration, not a flag; etcd ignores such a variable and refuses such a flag"
                    ),
                )),
                None => {
                    spans.push(wit::Span {
                        pointer: format!("/{}", token(&key)),
                        line,
                        end_line: line,
                    });
                    root.insert(key, value);
                }
            }
        }
        for (section, (map, line, end_line)) in sections {
            spans.push(wit::Span {
                pointer: format!("/{}", token(section)),
                line,
                end_line,
            });
            root.insert(section.to_string(), Value::Object(map));
        }
        Parsed {
            value: wit::Structured {
                json: Value::Object(root).to_string(),
                spans,
            },
            diagnostics,
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

    fn json(parsed: &Parsed<wit::Structured>) -> Value {
        serde_json::from_str(&parsed.value.json).expect("json")
    }

    fn line(parsed: &Parsed<wit::Structured>, pointer: &str) -> u32 {
        parsed
            .value
            .spans
            .iter()
            .find(|s| s.pointer == pointer)
            .map_or(0, |s| s.line)
    }

    #[test]
    fn reads_environment_files() {
        let src = "# /etc/default/etcd\nETCD_NAME=\"etcd1\"\nETCD_LISTEN_CLIENT_URLS=https://10.0.1.21:2379\nexport ETCD_CERT_FILE=/etc/etcd/ssl/server.crt\nETCD_CLIENT_CERT_AUTH=true\nETCD_PEER_AUTO_TLS=1\nDAEMON_ARGS=\"--peer-key-file=/k --enable-v2\"\nOTHER=x\n";
        let parsed = parse(src, "etcd");
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let v = json(&parsed);
        assert_eq!(v["name"], "etcd1");
        assert_eq!(v["listen-client-urls"], "https://10.0.1.21:2379");
        assert_eq!(
            v["client-transport-security"]["cert-file"],
            "/etc/etcd/ssl/server.crt"
        );
        assert_eq!(v["client-transport-security"]["client-cert-auth"], true);
        assert_eq!(v["peer-transport-security"]["auto-tls"], true);
        assert_eq!(v["peer-transport-security"]["key-file"], "/k");
        assert_eq!(v["enable-v2"], true);
        assert_eq!(line(&parsed, "/listen-client-urls"), 3);
        assert_eq!(line(&parsed, "/client-transport-security/cert-file"), 4);
        assert_eq!(line(&parsed, "/client-transport-security"), 4);
        assert!(looks_like(src));
    }

    #[test]
    fn reads_unit_files() {
        let src = "[Unit]\nDescription=etcd\n[Service]\nEnvironment=ETCD_NAME=etcd1 \"ETCD_DATA_DIR=/var/lib/etcd\"\nExecStart=/usr/bin/etcd \\\n  --listen-client-urls http://0.0.0.0:2379 \\\n  --client-cert-auth \\\n  --trusted-ca-file=/ca.crt\n";
        let parsed = parse(src, "etcd.service");
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let v = json(&parsed);
        assert_eq!(v["name"], "etcd1");
        assert_eq!(v["data-dir"], "/var/lib/etcd");
        assert_eq!(v["listen-client-urls"], "http://0.0.0.0:2379");
        assert_eq!(v["client-transport-security"]["client-cert-auth"], true);
        assert_eq!(line(&parsed, "/listen-client-urls"), 6);
        assert_eq!(
            line(&parsed, "/client-transport-security/trusted-ca-file"),
            8
        );
        assert!(looks_like(src));
        assert!(!looks_like(
            "[Service]\nExecStart=/usr/bin/patroni /etc/patroni.yml\n"
        ));
    }

    #[test]
    fn never_panics_on_generated_input() {
        let alphabet = [
            "ETCD_A",
            "=",
            "\n",
            " ",
            "--",
            "-",
            "\\",
            "\"",
            "'",
            "[Service]",
            "ExecStart=",
            "etcd",
            "Environment=",
            "DAEMON_ARGS",
            "x",
            "\u{e9}",
        ];
        for src in generated_inputs(&alphabet) {
            let parsed = parse(&src, "etcd.service");
            assert!(serde_json::from_str::<Value>(&parsed.value.json).is_ok());
            let _ = parse(&src, "etcd");
            let _ = looks_like(&src);
        }
    }

    /// Every span's pointer names a value of the JSON: names with `/` and `~` are escaped
    /// in the pointer only (fuzz seed `etcd-env-span-pointer-not-in-json`), and a value
    /// named like a section does not hide the section's values.
    #[test]
    fn every_pointer_is_in_the_json() {
        let src = "ETCD_A/B~C=1\nDAEMON_ARGS=\"--x//y=2 --client-transport-security=3 --cert-file=/c\"\nETCD_PEER_TRANSPORT_SECURITY=4\n";
        let parsed = parse(src, "etcd");
        let v = json(&parsed);
        assert_eq!(v["a/b~c"], "1");
        assert_eq!(v["x//y"], "2");
        assert_eq!(v["client-transport-security"]["cert-file"], "/c");
        assert!(v.get("peer-transport-security").is_none(), "{v}");
        for span in &parsed.value.spans {
            assert!(v.pointer(&span.pointer).is_some(), "{span:?} not in {v}");
        }
        assert_eq!(line(&parsed, "/a~1b~0c"), 1);
        assert_eq!(line(&parsed, "/x~1~1y"), 2);
        let lines: Vec<u32> = parsed.diagnostics.iter().map(|d| d.location.line).collect();
        assert_eq!(lines, [2, 3], "{:?}", parsed.diagnostics);
    }

    #[test]
    fn reports_bad_lines() {
        let parsed = parse("ETCD_NAME=a\nnot an assignment\n", "etcd.env");
        assert_eq!(parsed.diagnostics.len(), 1);
        assert_eq!(parsed.diagnostics[0].location.line, 2);
        for src in [
            "",
            "=",
            "ETCD_=x",
            "DAEMON_ARGS=--",
            "DAEMON_ARGS=--x",
            "[Service]\nExecStart=etcd --a",
        ] {
            let _ = parse(src, "etcd");
        }
    }
}
