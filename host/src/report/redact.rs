//! Keeps secrets out of every output: a line that assigns a password, token, key
//! passphrase, cipher pass or gossip key is never shown, in any format or diff.

use std::sync::OnceLock;

use regex::Regex;

fn secret_key() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // A key (YAML `key:`, INI/conf `key =`, Ruby `['key'] =`) whose name says secret.
        Regex::new(
            r#"(?i)(pass(word|wd|phrase)?|secret|token|cipher[-_]pass|encrypt|private[-_]key|api[-_]?key|(^|[^a-z0-9_-])auth)['"\]]*\s*(:|=)"#,
        )
        .unwrap_or_else(|_| unreachable!("the secret pattern is a valid regex"))
    })
}

/// HAProxy's credential directives, which have no `key =`: `stats auth USER:PASS`,
/// `user NAME password HASH`, `user NAME insecure-password PASS` (a diff's `+`/`-` allowed
/// in front).
fn haproxy_credentials() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)^[\s+-]*(stats\s+auth|user\s+\S+\s+(?:insecure-)?password)\s+(\S+)")
            .unwrap_or_else(|_| unreachable!("the haproxy pattern is a valid regex"))
    })
}

/// The password of a URI's user information: `postgres://user:PASS@host/…`.
fn uri_password() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@'"]*:([^\s@/'"]+)@"#)
            .unwrap_or_else(|_| unreachable!("the uri pattern is a valid regex"))
    })
}

/// A block whose every value is a secret: Consul's `acl { tokens { agent = "…" } }` (HCL)
/// or `"tokens": {` (JSON).
fn tokens_block() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?i)(^|[\s{,"])tokens"?\s*[:=]?\s*\{"#)
            .unwrap_or_else(|_| unreachable!("the tokens pattern is a valid regex"))
    })
}

/// Whether a line of a config file carries a secret value.
pub fn is_secret_line(line: &str) -> bool {
    let l = line.trim_start_matches([' ', '+', '-', '\t']);
    if l.starts_with('#') {
        return false;
    }
    haproxy_credentials().is_match(l)
        || uri_password().is_match(l)
        || (secret_key().is_match(l) && has_value(l))
}

/// `key:` with nothing after it opens a block; only a line with a value is secret.
fn has_value(line: &str) -> bool {
    secret_key()
        .find(line)
        .map(|m| {
            let rest = line[m.end()..].trim();
            !rest.is_empty() && !rest.starts_with('#')
        })
        .unwrap_or(false)
}

/// The line with its value replaced by `<redacted>` when it carries a secret.
pub fn line(line: &str) -> String {
    if !is_secret_line(line) {
        return line.to_string();
    }
    let l = line.trim_start_matches([' ', '+', '-', '\t']);
    if uri_password().is_match(l)
        && !haproxy_credentials().is_match(l)
        && !(secret_key().is_match(l) && has_value(l))
    {
        // Only the URI's password: the rest of the line (host, sslmode) stays readable.
        return uri_password()
            .replace_all(line, |c: &regex::Captures<'_>| {
                let all = c.get(0).map_or("", |m| m.as_str());
                let pass = c.get(1).map_or("", |m| m.as_str());
                all.replacen(&format!(":{pass}@"), ":<redacted>@", 1)
            })
            .into_owned();
    }
    if let Some(directive) = haproxy_credentials().captures(line).and_then(|c| c.get(1)) {
        return format!("{} <redacted>", &line[..directive.end()]);
    }
    match secret_key().find(line) {
        Some(m) => format!("{} <redacted>", &line[..m.end()]),
        None => "<redacted>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets() {
        for l in [
            "    password: s3cret",
            "  keyfile_password: 'x'",
            "patroni['password'] = 'x'",
            "repo1-cipher-pass=abc",
            "  encrypt = \"abc==\"",
            "  auth: 'user:pass'",
            "PGPASSWORD=x",
            "monitor = postgres://autoctl_node:xyzw@monitor:5432/pg_auto_failover",
        ] {
            assert!(is_secret_line(l), "{l}");
            assert!(
                !line(l).contains('x') || line(l).ends_with("<redacted>"),
                "{l}"
            );
        }
        assert_eq!(
            line(
                "monitor = postgres://autoctl_node:xyzw@monitor:5432/pg_auto_failover?sslmode=require"
            ),
            "monitor = postgres://autoctl_node:<redacted>@monitor:5432/pg_auto_failover?sslmode=require"
        );
        let secrets = Secrets::collect(["monitor = 'postgresql://u:h4ckm3@m/db'"]);
        assert_eq!(
            secrets.scrub("set monitor = postgresql://u:h4ckm3@m/db"),
            "set monitor = postgresql://u:<redacted>@m/db"
        );
        for l in [
            "  authentication:",
            "# password: x",
            "  username: admin",
            "host all all 0/0 password",
            "password_encryption = md5",
            "auth_type = scram-sha-256",
            "ssl_passphrase_command = ''",
            "tls-server-auth=pgbackrest-client=main",
            "monitor = postgres://autoctl_node@monitor:5432/pg_auto_failover",
        ] {
            assert!(!is_secret_line(l), "{l}");
        }
    }
}

/// The secret values found in the inputs, for scrubbing rendered output as a last line of
/// defence (a policy might quote a value in a message).
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Collects the values of every secret line of `texts`, and of every key in a
    /// `tokens` block.
    pub fn collect<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values = Vec::new();
        for text in texts {
            let mut in_tokens = false;
            for l in text.lines() {
                let trimmed = l.trim();
                if trimmed.starts_with('#') || trimmed.starts_with("//") {
                    continue;
                }
                if in_tokens {
                    in_tokens = !trimmed.starts_with('}');
                    if let Some((_, v)) = trimmed.split_once(['=', ':']) {
                        values.extend(candidates(v));
                    }
                    continue;
                }
                if tokens_block().is_match(trimmed) {
                    in_tokens = !trimmed.contains('}');
                    continue;
                }
                if let Some(c) = haproxy_credentials().captures(l) {
                    let v = c.get(2).map_or("", |m| m.as_str());
                    values.extend(candidates(v));
                    // `USER:PASS`: the password alone too.
                    values.extend(
                        v.split_once(':')
                            .map(|(_, p)| candidates(p))
                            .unwrap_or_default(),
                    );
                    continue;
                }
                for c in uri_password().captures_iter(l) {
                    values.extend(
                        c.get(1)
                            .map(|p| p.as_str())
                            .filter(|p| is_value_worth_scrubbing(p))
                            .map(str::to_string),
                    );
                }
                if is_secret_line(l) {
                    for m in secret_key().find_iter(l) {
                        values.extend(candidates(&l[m.end()..]));
                    }
                }
            }
        }
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Secrets { values }
    }

    /// Whether `text` holds one of the secret values.
    pub fn found_in(&self, text: &str) -> bool {
        self.values.iter().any(|v| text.contains(v.as_str()))
    }

    /// Replaces every secret value in `output` with `<redacted>`.
    pub fn scrub(&self, output: &str) -> String {
        self.scrub_with(output, "<redacted>")
    }

    /// Replaces every secret value in `output` with `marker` (escaped for the format the
    /// output is in).
    pub fn scrub_with(&self, output: &str, marker: &str) -> String {
        self.scrub_owned(output.to_string(), marker)
    }

    /// [`Secrets::scrub_with`] on an owned text: no copy when no secret is in it (a
    /// 100,000-decision simulation prints tens of megabytes).
    pub fn scrub_owned(&self, output: String, marker: &str) -> String {
        let mut out = output;
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), marker);
            }
        }
        out
    }

    /// Whether any text the policies put in `outcome` holds a secret (then it must be
    /// scrubbed with [`Secrets::scrub_outcome`] before rendering).
    pub fn found_in_outcome(&self, outcome: &crate::run::Outcome) -> bool {
        if self.values.is_empty() {
            return false;
        }
        let findings = outcome
            .findings
            .iter()
            .chain(outcome.waived.iter().map(|w| &w.finding));
        findings
            .flat_map(|f| [&f.message, &f.remediation])
            .any(|s| self.found_in(s))
            || outcome
                .waived
                .iter()
                .any(|w| self.found_in(&w.exception.reason))
            || outcome.decisions.iter().any(|d| self.found_in(&d.reason))
            || outcome
                .patches
                .iter()
                .any(|p| self.found_in(&p.description))
            || outcome.errors.iter().any(|e| self.found_in(&e.message))
    }

    /// Scrubs the text an outcome carries from the policies (messages, remediations,
    /// reasons, descriptions), before a format escapes it (a value with a quote is
    /// `\"` in JSON, `&quot;` in XML: no longer found in the rendered output).
    pub fn scrub_outcome(&self, outcome: &mut crate::run::Outcome) {
        if self.values.is_empty() {
            return;
        }
        let scrub = |s: &mut String| {
            if self.found_in(s) {
                *s = self.scrub(s);
            }
        };
        for f in outcome
            .findings
            .iter_mut()
            .chain(outcome.waived.iter_mut().map(|w| &mut w.finding))
        {
            scrub(&mut f.message);
            scrub(&mut f.remediation);
        }
        for w in &mut outcome.waived {
            scrub(&mut w.exception.reason);
        }
        for d in &mut outcome.decisions {
            scrub(&mut d.reason);
        }
        for p in &mut outcome.patches {
            scrub(&mut p.description);
        }
        for e in &mut outcome.errors {
            scrub(&mut e.message);
        }
    }
}

/// The secret values the text after a key can hold: a quoted value up to its closing
/// quote; else the rest of the line before a comment, and its first word (a connection
/// string's `password=x host=y`). Ruby's `=>` is skipped.
fn candidates(rest: &str) -> Vec<String> {
    let rest = rest.trim_start().trim_start_matches('>').trim_start();
    let mut out: Vec<&str> = Vec::new();
    match rest.chars().next() {
        Some(q @ ('"' | '\'')) => out.push(rest[1..].split(q).next().unwrap_or("")),
        _ => {
            let v = rest
                .split(" #")
                .next()
                .unwrap_or(rest)
                .trim()
                .trim_end_matches([',', ';', '}', ')', '"', '\''])
                .trim();
            out.push(v);
            out.extend(
                v.split_whitespace()
                    .next()
                    .map(|w| w.trim_matches(['"', '\'', ',', ';'])),
            );
        }
    }
    out.into_iter()
        .filter(|v| is_value_worth_scrubbing(v))
        .map(str::to_string)
        .collect()
}

/// Short values and the words a secret key's value is when it is not a secret (`on`,
/// `true`, a method name) would scrub ordinary text.
fn is_value_worth_scrubbing(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "true",
        "false",
        "none",
        "null",
        "required",
        "optional",
        "enabled",
        "disabled",
        "scram-sha-256",
        "password",
        "<redacted>",
    ];
    v.chars().count() >= 4 && !WORDS.iter().any(|w| w.eq_ignore_ascii_case(v))
}

#[cfg(test)]
mod secrets_tests {
    use super::*;

    #[test]
    fn collects_every_form_of_secret_value() {
        let text = r#"
restapi:
  password: "Rest Pw 1"
  keyfile_password: Keyfile-Pw-2 # comment
repo1-cipher-pass=Cipher-Pw-3
primary_conninfo = 'host=10.0.0.1 user=rep password=Conninfo-Pw-4 sslmode=require'
consul['configuration'] = { 'encrypt' => 'Gossip-Key-5', 'server' => true }
encrypt = "Gossip-Key-6"
acl {
  tokens {
    agent = "Agent-Token-7"
    initial_management = "Mgmt-Token-8"
  }
}
{"acl": {"tokens": {
  "default": "Default-Token-9"
}}}
listen stats
    stats auth admin:Stats-Pw-10
userlist admins
    user alice insecure-password Alice-Pw-11
password_encryption = scram-sha-256
ssl: true
"#;
        let secrets = Secrets::collect([text]);
        for v in [
            "Rest Pw 1",
            "Keyfile-Pw-2",
            "Cipher-Pw-3",
            "Conninfo-Pw-4",
            "Gossip-Key-5",
            "Gossip-Key-6",
            "Agent-Token-7",
            "Mgmt-Token-8",
            "Default-Token-9",
            "Stats-Pw-10",
            "Alice-Pw-11",
        ] {
            assert_eq!(
                secrets.scrub(&format!("x {v} y")),
                "x <redacted> y",
                "{v} not collected: {secrets:?}"
            );
        }
        let ordinary = "use scram-sha-256; ssl is true; admin logs in";
        assert_eq!(secrets.scrub(ordinary), ordinary);
        assert_eq!(
            line("    stats auth admin:Stats-Pw-10"),
            "    stats auth <redacted>"
        );
        assert_eq!(
            line("+   user alice insecure-password x"),
            "+   user alice insecure-password <redacted>"
        );
    }
}
