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

/// The secret values found in the inputs, to scrub from the free text of the output
/// (messages, remediations, reasons, source lines, diff lines) where they stand: as a
/// whole word, never inside an identifier, a path, a code, a policy name or a URI.
///
/// A value that also stands in the inputs as an ordinary word (a role named like its
/// password, `patroni`/`patroni`) is public already: scrubbing it everywhere would take
/// the role's name out of every finding, so it is scrubbed only where it stands as the
/// secret (after its key, see [`line`]).
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    /// Secret values no input shows elsewhere, longest first.
    values: Vec<String>,
}

impl Secrets {
    /// Collects the values of every secret line of `texts`, and of every key in a
    /// `tokens` block.
    pub fn collect<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values = Vec::new();
        // The inputs as the output may show them: secret values redacted in place.
        let mut public = String::new();
        for text in texts {
            let mut in_tokens = false;
            for l in text.lines() {
                let trimmed = l.trim();
                if trimmed.starts_with('#') || trimmed.starts_with("//") {
                    public.push_str(l);
                    public.push('\n');
                    continue;
                }
                if in_tokens {
                    in_tokens = !trimmed.starts_with('}');
                    if let Some((key, v)) = trimmed.split_once(['=', ':']) {
                        values.extend(candidates(v));
                        public.push_str(key);
                        public.push('\n');
                    }
                    continue;
                }
                if tokens_block().is_match(trimmed) {
                    in_tokens = !trimmed.contains('}');
                    public.push_str(l);
                    public.push('\n');
                    continue;
                }
                public.push_str(&line(l));
                public.push('\n');
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
        values.retain(|v| find_word(&public, v, 0).is_none());
        Secrets { values }
    }

    /// Whether [`Secrets::scrub`] would change `text`: it holds a secret value as a word,
    /// or a line assigning a secret.
    pub fn found_in(&self, text: &str) -> bool {
        self.values.iter().any(|v| find_word(text, v, 0).is_some())
            || text.lines().any(is_secret_line)
    }

    /// `text` with every secret redacted where it stands: a line assigning a secret keeps
    /// its key only ([`line`]), and a secret value elsewhere becomes `<redacted>` where it
    /// is a whole word.
    pub fn scrub(&self, text: &str) -> String {
        if !self.found_in(text) {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        for piece in text.split_inclusive('\n') {
            let body = piece.trim_end_matches(['\n', '\r']);
            let mut scrubbed = if is_secret_line(body) {
                line(body)
            } else {
                body.to_string()
            };
            for v in &self.values {
                scrubbed = replace_words(&scrubbed, v);
            }
            out.push_str(&scrubbed);
            out.push_str(&piece[body.len()..]);
        }
        out
    }

    /// Scrubs prose the policies wrote (a message, a remediation, a reason, a patch's
    /// description): a config line it quotes between backticks that assigns a secret
    /// keeps its key only, and a secret value is replaced where it stands as a word. The
    /// prose itself is never read as an assignment: "a known default or weak password:
    /// it is the user name" keeps its reason.
    pub fn scrub_prose(&self, text: &str) -> String {
        if !self.found_in(text) {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        for (i, segment) in text.split('`').enumerate() {
            if i > 0 {
                out.push('`');
            }
            // Odd segments are the quoted ones.
            if i % 2 == 1 && is_secret_line(segment) {
                out.push_str(&line(segment));
            } else {
                out.push_str(segment);
            }
        }
        for v in &self.values {
            out = replace_words(&out, v);
        }
        out
    }

    /// Whether any text the policies put in `outcome` holds a secret (then it must be
    /// scrubbed with [`Secrets::scrub_outcome`] before rendering).
    pub fn found_in_outcome(&self, outcome: &crate::run::Outcome) -> bool {
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
            || {
                // 100,000 decisions share a few reasons: each distinct one is looked at once.
                let mut seen = std::collections::HashSet::new();
                outcome
                    .decisions
                    .iter()
                    .any(|d| seen.insert(d.reason.as_str()) && self.found_in(&d.reason))
            }
            || outcome.patches.iter().any(|p| {
                self.found_in(&p.description)
                    || p.edits
                        .iter()
                        .any(|e| edit_words(e).into_iter().any(|w| self.found_in(w)))
            })
            || outcome.errors.iter().any(|e| self.found_in(&e.message))
    }

    /// Scrubs the free text an outcome carries (messages, remediations, reasons,
    /// descriptions, the new text of edits), before a format escapes it (a value with a quote is `\"` in JSON, `&quot;`
    /// in XML: no longer found in the rendered output). Paths, codes, policy names and
    /// locations are identifiers and stay as they are.
    pub fn scrub_outcome(&self, outcome: &mut crate::run::Outcome) {
        // Prose (messages, reasons, descriptions) and the new text of edits, which is
        // file content: a line of it that assigns a secret keeps its key only.
        let prose = |s: &mut String| {
            if self.found_in(s) {
                *s = self.scrub_prose(s);
            }
        };
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
            prose(&mut f.message);
            prose(&mut f.remediation);
        }
        for w in &mut outcome.waived {
            prose(&mut w.exception.reason);
        }
        crate::run::decision::edit_details(&mut outcome.decisions, |d| prose(&mut d.reason));
        for p in &mut outcome.patches {
            prose(&mut p.description);
            for e in &mut p.edits {
                match e {
                    crate::wit::Edit::Lines(l) => scrub(&mut l.text),
                    crate::wit::Edit::Set(pv) => scrub(&mut pv.value),
                    crate::wit::Edit::Hba(h) => scrub_hba(h, &scrub),
                    crate::wit::Edit::SetSetting(sv) => scrub(&mut sv.value),
                    crate::wit::Edit::Remove(_) | crate::wit::Edit::RemoveSetting(_) => {}
                }
            }
        }
        for e in &mut outcome.errors {
            prose(&mut e.message);
        }
    }
}

/// The new text an edit writes (every word of a pg_hba edit).
fn edit_words(e: &crate::wit::Edit) -> Vec<&str> {
    use crate::wit::{Edit, HbaChange, HbaEdit, HbaNew};
    fn change(c: &HbaChange) -> Vec<&str> {
        let mut out: Vec<&str> = [&c.connection_type, &c.address, &c.method]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        out.extend(
            c.databases
                .iter()
                .chain(c.users.iter())
                .flatten()
                .map(|n| n.text.as_str()),
        );
        out.extend(c.set_options.iter().map(|(_, v)| v.as_str()));
        out
    }
    match e {
        Edit::Lines(l) => vec![&l.text],
        Edit::Set(pv) => vec![&pv.value],
        Edit::SetSetting(sv) => vec![&sv.value],
        Edit::Remove(_) | Edit::RemoveSetting(_) => Vec::new(),
        Edit::Hba(HbaEdit::Delete(_)) => Vec::new(),
        Edit::Hba(HbaEdit::Set(c)) => change(c),
        Edit::Hba(HbaEdit::Insert(i)) => match &i.new {
            HbaNew::Copy(c) => change(c),
            HbaNew::Fields(r) => {
                let mut out = vec![r.connection_type.as_str(), r.method.as_str()];
                out.extend(r.address.as_deref());
                out.extend(r.databases.iter().chain(&r.users).map(|n| n.text.as_str()));
                out.extend(r.options.iter().map(|(_, v)| v.as_str()));
                out
            }
        },
    }
}

/// Scrubs every word a pg_hba edit would write.
fn scrub_hba(h: &mut crate::wit::HbaEdit, scrub: &dyn Fn(&mut String)) {
    use crate::wit::{HbaChange, HbaEdit, HbaNew};
    let change = |c: &mut HbaChange| {
        for s in [&mut c.connection_type, &mut c.address, &mut c.method]
            .into_iter()
            .flatten()
        {
            scrub(s);
        }
        for n in c.databases.iter_mut().chain(c.users.iter_mut()).flatten() {
            scrub(&mut n.text);
        }
        for (_, v) in &mut c.set_options {
            scrub(v);
        }
    };
    match h {
        HbaEdit::Delete(_) => {}
        HbaEdit::Set(c) => change(c),
        HbaEdit::Insert(i) => match &mut i.new {
            HbaNew::Copy(c) => change(c),
            HbaNew::Fields(r) => {
                scrub(&mut r.connection_type);
                scrub(&mut r.method);
                if let Some(a) = &mut r.address {
                    scrub(a);
                }
                for n in r.databases.iter_mut().chain(r.users.iter_mut()) {
                    scrub(&mut n.text);
                }
                for (_, v) in &mut r.options {
                    scrub(v);
                }
            }
        },
    }
}

/// Characters that continue an identifier, a path or a URI: a value next to one of them is
/// part of a longer name (`patroni` in `patroni-restapi/no-tls`, `/etc/patroni/x.yml`), not
/// the value itself.
fn continues_name(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '.')
}

/// Where `word` stands as a whole word in `text`, at or after byte `from`. A `.` after the
/// word ends it when a sentence ends there (`… is hunter22.`), not in `hunter22.yml`.
fn find_word(text: &str, word: &str, from: usize) -> Option<usize> {
    if word.is_empty() {
        return None;
    }
    let mut at = from;
    while let Some(i) = text.get(at..).and_then(|t| t.find(word)).map(|i| i + at) {
        let end = i + word.len();
        let before = text[..i].chars().next_back();
        let mut after = text[end..].chars();
        let next = after.next();
        let bounded_before =
            !before.is_some_and(continues_name) || !word.starts_with(continues_name);
        let bounded_after = match next {
            None => true,
            Some('.') => !after.next().is_some_and(char::is_alphanumeric),
            Some(c) => !continues_name(c) || !word.ends_with(continues_name),
        };
        if bounded_before && bounded_after {
            return Some(i);
        }
        at = i + text[i..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// `text` with every whole-word `word` replaced by `<redacted>`.
fn replace_words(text: &str, word: &str) -> String {
    let mut out = String::new();
    let mut last = 0;
    while let Some(i) = find_word(text, word, last) {
        out.push_str(&text[last..i]);
        out.push_str("<redacted>");
        last = i + word.len();
    }
    if last == 0 {
        return text.to_string();
    }
    out.push_str(&text[last..]);
    out
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
        assert_eq!(
            secrets.scrub("a rest pw: Rest Pw 1."),
            "a rest pw: <redacted>."
        );
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

#[cfg(test)]
mod where_it_stands_tests {
    use super::*;

    #[test]
    fn a_value_is_scrubbed_as_a_word_never_out_of_names() {
        let secrets = Secrets::collect([
            "postgresql:\n  authentication:\n    superuser:\n      username: postgres\n      password: patroni\n",
        ]);
        for name in [
            "patroni-restapi/no-tls",
            "zalando-patroni/postgres0.yml",
            "/etc/patroni/patroni.yml",
            "file:///srv/patroni/x",
            "--- a/patroni/pg_hba.conf",
            "`patroni_version`",
            "patroni.yml",
        ] {
            assert_eq!(secrets.scrub(name), name, "a name was scrubbed");
        }
        assert_eq!(
            secrets.scrub("the password is patroni."),
            "the password is <redacted>."
        );
        assert_eq!(secrets.scrub("`patroni` is weak"), "`<redacted>` is weak");
        assert_eq!(
            secrets.scrub("line 5 reads `password: patroni`"),
            "line 5 reads `password: <redacted>"
        );
        assert!(secrets.found_in("it is patroni") && !secrets.found_in("patroni-restapi/no-tls"));
    }

    #[test]
    fn prose_is_never_read_as_an_assignment() {
        let secrets = Secrets::collect([
            "restapi:\n  authentication:\n    username: admin\n    password: Rest-Pw-1\n",
        ]);
        let reason = "`restapi.authentication.password` is a known default or weak password: it is the user name";
        assert_eq!(secrets.scrub_prose(reason), reason);
        assert_eq!(
            secrets.scrub_prose("line 5 reads `password: Rest-Pw-1`, see the docs"),
            "line 5 reads `password: <redacted>`, see the docs"
        );
        assert_eq!(
            secrets.scrub_prose("the password: Rest-Pw-1 is weak"),
            "the password: <redacted> is weak"
        );
        // File content keeps the line rule.
        assert_eq!(
            secrets.scrub("    password: hunter"),
            "    password: <redacted>"
        );
    }

    #[test]
    fn a_role_named_like_its_password_keeps_its_name() {
        let patroni = "postgresql:\n  authentication:\n    replication:\n      username: replicator\n      password: replicator\n";
        let hba = "host replication replicator 10.0.0.0/8 scram-sha-256\n";
        let secrets = Secrets::collect([patroni, hba]);
        let message = "role `replicator` may replicate from 10.0.0.0/8";
        assert_eq!(secrets.scrub(message), message);
        // Where it stands as the password, it is still scrubbed.
        assert_eq!(
            secrets.scrub("      password: replicator"),
            "      password: <redacted>"
        );
        assert_eq!(
            secrets.scrub("+      password: replicator"),
            "+      password: <redacted>"
        );
    }
}
