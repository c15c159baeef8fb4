//! Patches for etcd configs in whichever form they come: the YAML config file (pointer
//! edits, comments and layout kept by the host), or `ETCD_*` variables / `--flags` in an
//! environment file or a systemd unit (line edits in the file's own text).
//!
//! In the line forms a value that is set already is replaced where it stands (`ETCD_X=`,
//! `Environment=… ETCD_X=…`, `--flag=value`, `--flag value`, a bare boolean `--flag`),
//! keeping the line's quoting; a value that is missing becomes a new `ETCD_X=value` line
//! after the last `ETCD_` line of an environment file, or an `Environment=ETCD_X=value`
//! line after the unit's last `Environment=`/`ExecStart=` line. All changes to one file
//! form one patch, so they never overlap.

use std::collections::BTreeMap;

use policy_guest::doc::Structured;
use policy_guest::{Edit, LineEdit, Patch, PointerValue};
use serde_json::Value;

/// How an etcd document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Yaml,
    Env,
    Unit,
}

impl Form {
    pub fn of(text: &str) -> Form {
        let lines = || text.lines().map(str::trim_start);
        if lines().any(|l| l.starts_with('[') && l.trim_end().ends_with(']'))
            && lines().any(|l| l.starts_with("ExecStart=") || l.starts_with("Environment="))
        {
            Form::Unit
        } else if lines().any(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            l.starts_with("ETCD_") && l.contains('=')
        }) {
            Form::Env
        } else {
            Form::Yaml
        }
    }
}

/// The flag name of a YAML pointer (the inverse of the host's mapping).
pub fn flag_of(pointer: &str) -> String {
    let p = pointer.trim_start_matches('/');
    match p.split_once('/') {
        Some(("client-transport-security", "crl-file")) => "client-crl-file".into(),
        Some(("client-transport-security", key)) => key.to_string(),
        Some(("peer-transport-security", key)) => format!("peer-{key}"),
        _ => p.to_string(),
    }
}

fn env_of(flag: &str) -> String {
    format!("ETCD_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Changes to one etcd document, turned into one patch.
pub struct Changes<'a> {
    y: &'a Structured<'a>,
    form: Form,
    set: BTreeMap<String, Value>,
    what: Vec<String>,
}

impl<'a> Changes<'a> {
    pub fn new(y: &'a Structured<'a>) -> Self {
        Changes {
            y,
            form: Form::of(&y.doc.text),
            set: BTreeMap::new(),
            what: Vec::new(),
        }
    }

    pub fn form(&self) -> Form {
        self.form
    }

    /// Sets `pointer` to `value` (a later call for the same pointer wins).
    pub fn set(&mut self, pointer: &str, value: Value) {
        self.set.insert(pointer.to_string(), value);
    }

    /// Sets `pointer` only when the document has no value there.
    pub fn set_missing(&mut self, pointer: &str, value: &str) {
        let missing = self.y.str(pointer).is_none_or(|s| s.trim().is_empty());
        if missing && !self.set.contains_key(pointer) {
            self.set(pointer, Value::String(value.to_string()));
        }
    }

    /// Takes over every change of `other` (of the same document).
    pub fn merge(&mut self, other: Changes<'_>) {
        self.set.extend(other.set);
        for w in other.what {
            self.describe(&w);
        }
    }

    pub fn describe(&mut self, what: &str) {
        if !self.what.iter().any(|w| w == what) {
            self.what.push(what.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether `pointer` is being set.
    pub fn sets(&self, pointer: &str) -> bool {
        self.set.contains_key(pointer)
    }

    /// The patch, `None` when nothing changes.
    pub fn patch(&self) -> Option<Patch> {
        if self.set.is_empty() {
            return None;
        }
        let file = self.y.doc.path.clone();
        let description = format!("etcd: {}", self.what.join("; "));
        let edits = match self.form {
            Form::Yaml => self
                .set
                .iter()
                .map(|(p, v)| {
                    Edit::Set(PointerValue {
                        pointer: p.clone(),
                        value: v.to_string(),
                    })
                })
                .collect(),
            Form::Env | Form::Unit => self.line_edits(),
        };
        (!edits.is_empty()).then_some(Patch {
            file,
            description,
            edits,
        })
    }

    fn line_edits(&self) -> Vec<Edit> {
        let text = &self.y.doc.text;
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let mut changed: BTreeMap<u32, String> = BTreeMap::new();
        let mut inserts: Vec<String> = Vec::new();
        for (pointer, value) in &self.set {
            let flag = flag_of(pointer);
            let env = env_of(&flag);
            let value = text_of(value);
            let line = self
                .y
                .get(pointer)
                .map(|_| self.y.line(pointer))
                .filter(|l| *l > 0);
            match line {
                Some(n) => {
                    let current = changed
                        .get(&n)
                        .cloned()
                        .unwrap_or_else(|| lines.get(n as usize - 1).unwrap_or(&"").to_string());
                    if let Some(new) = edit_line(&current, &flag, &env, &value) {
                        changed.insert(n, new);
                    }
                }
                None => inserts.push(match self.form {
                    Form::Unit => format!("Environment={env}={value}"),
                    _ => format!("{env}={value}"),
                }),
            }
        }
        let mut edits: Vec<Edit> = changed
            .into_iter()
            .map(|(n, text)| {
                Edit::Lines(LineEdit {
                    start: n,
                    end: n,
                    text,
                })
            })
            .collect();
        if !inserts.is_empty() {
            let after = self.insert_after(&lines);
            edits.push(Edit::Lines(LineEdit {
                start: after + 1,
                end: after,
                text: inserts.join("\n"),
            }));
        }
        edits
    }

    /// The line after which new settings go (0: at the top).
    fn insert_after(&self, lines: &[&str]) -> u32 {
        let mut last = 0usize;
        let mut in_service = false;
        let mut i = 0;
        while i < lines.len() {
            let l = lines[i].trim();
            let mut end = i;
            // A continued line ends where the backslashes stop.
            while lines.get(end).is_some_and(|x| x.trim_end().ends_with('\\'))
                && end + 1 < lines.len()
            {
                end += 1;
            }
            match self.form {
                Form::Unit => {
                    if l.starts_with('[') {
                        in_service = l == "[Service]";
                    } else if in_service
                        && (l.starts_with("ExecStart=") || l.starts_with("Environment="))
                    {
                        last = end + 1;
                    }
                }
                _ => {
                    let l = l.strip_prefix("export ").unwrap_or(l);
                    if l.starts_with("ETCD_") && l.contains('=') {
                        last = i + 1;
                    }
                }
            }
            i = end + 1;
        }
        if last == 0 && self.form != Form::Unit {
            // No ETCD_ line: at the end (the text's last line when it ends without one).
            last = lines.len() - usize::from(lines.last().is_some_and(|l| l.is_empty()));
        }
        u32::try_from(last).unwrap_or(0)
    }
}

/// Replaces the value of `env` or `--flag` in one line; `None` when the line holds neither.
pub fn edit_line(line: &str, flag: &str, env: &str, value: &str) -> Option<String> {
    let stop = |c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\';
    // `ETCD_X=value`, `ETCD_X="value"`, `Environment="ETCD_X=value"`.
    if let Some(at) = find_word(line, &format!("{env}=")) {
        let start = at + env.len() + 1;
        let rest = &line[start..];
        if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let end = rest[1..].find(q).map_or(rest.len(), |e| e + 1);
            return Some(format!("{}{q}{value}{}", &line[..start], &rest[end..]));
        }
        let end = rest.find(stop).unwrap_or(rest.len());
        return Some(format!("{}{value}{}", &line[..start], &rest[end..]));
    }
    for dashes in ["--", "-"] {
        let token = format!("{dashes}{flag}");
        let Some(at) = find_word(line, &token) else {
            continue;
        };
        let after = at + token.len();
        let rest = &line[after..];
        if let Some(v) = rest.strip_prefix('=') {
            let end = v.find(stop).unwrap_or(v.len());
            return Some(format!("{}={value}{}", &line[..after], &v[end..]));
        }
        if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
            continue; // a longer flag that starts the same
        }
        if value == "true" || value == "false" {
            return Some(format!("{}={value}{rest}", &line[..after]));
        }
        let ws = rest.len() - rest.trim_start().len();
        let word = &rest[ws..];
        let end = word.find(stop).unwrap_or(word.len());
        return Some(format!(
            "{}{}{value}{}",
            &line[..after],
            &rest[..ws],
            &word[end..]
        ));
    }
    None
}

/// The byte offset of `needle` where it starts a word (after white space, a quote, `=`,
/// or at the start).
fn find_word(line: &str, needle: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find(needle) {
        let at = from + i;
        let before = line[..at].chars().next_back();
        if before.is_none_or(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '=') {
            let after = line[at + needle.len()..].chars().next();
            // `--cert-file` must not match `--cert-file-x`.
            if needle.ends_with('=')
                || after.is_none_or(|c| {
                    c == '=' || c.is_whitespace() || c == '"' || c == '\'' || c == '\\'
                })
            {
                return Some(at);
            }
        }
        from = at + needle.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_lines_in_place() {
        let cases: &[(&str, &str, &str, &str, &str)] = &[
            (
                "ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379",
                "listen-client-urls",
                "ETCD_LISTEN_CLIENT_URLS",
                "https://0.0.0.0:2379",
                "ETCD_LISTEN_CLIENT_URLS=https://0.0.0.0:2379",
            ),
            (
                "export ETCD_NAME=\"a b\" # c",
                "name",
                "ETCD_NAME",
                "x",
                "export ETCD_NAME=\"x\" # c",
            ),
            (
                "Environment=\"ETCD_CLIENT_CERT_AUTH=false\" ETCD_X=1",
                "client-cert-auth",
                "ETCD_CLIENT_CERT_AUTH",
                "true",
                "Environment=\"ETCD_CLIENT_CERT_AUTH=true\" ETCD_X=1",
            ),
            (
                "  --listen-client-urls http://0.0.0.0:2379 \\",
                "listen-client-urls",
                "ETCD_LISTEN_CLIENT_URLS",
                "https://0.0.0.0:2379",
                "  --listen-client-urls https://0.0.0.0:2379 \\",
            ),
            (
                "  --cert-file=/a --peer-cert-file=/b \\",
                "peer-cert-file",
                "ETCD_PEER_CERT_FILE",
                "/c",
                "  --cert-file=/a --peer-cert-file=/c \\",
            ),
            (
                "  --cert-file=/a --peer-cert-file=/b \\",
                "cert-file",
                "ETCD_CERT_FILE",
                "/c",
                "  --cert-file=/c --peer-cert-file=/b \\",
            ),
            (
                "ExecStart=/usr/bin/etcd --auto-tls --name a",
                "auto-tls",
                "ETCD_AUTO_TLS",
                "false",
                "ExecStart=/usr/bin/etcd --auto-tls=false --name a",
            ),
        ];
        for (line, flag, env, value, want) in cases {
            assert_eq!(
                edit_line(line, flag, env, value).as_deref(),
                Some(*want),
                "{line}"
            );
        }
        assert_eq!(
            edit_line("ETCD_NAME=a", "data-dir", "ETCD_DATA_DIR", "x"),
            None
        );
        assert_eq!(
            flag_of("/peer-transport-security/trusted-ca-file"),
            "peer-trusted-ca-file"
        );
        assert_eq!(flag_of("/client-transport-security/cert-file"), "cert-file");
        assert_eq!(
            env_of("peer-client-cert-auth"),
            "ETCD_PEER_CLIENT_CERT_AUTH"
        );
    }

    #[test]
    fn recognises_forms() {
        assert_eq!(Form::of("name: a\n"), Form::Yaml);
        assert_eq!(Form::of("# x\nETCD_NAME=a\n"), Form::Env);
        assert_eq!(Form::of("[Service]\nExecStart=/usr/bin/etcd\n"), Form::Unit);
    }
}
