//! Keeps secrets out of every output: a line that assigns a password, token, key
//! passphrase, cipher pass or gossip key is never shown, in any format or diff.

use std::sync::OnceLock;

use regex::Regex;

fn secret_key() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // A key (YAML `key:`, INI/conf `key =`, Ruby `['key'] =`) whose name says secret.
        Regex::new(
            r#"(?i)(pass(word|wd|phrase)?|secret|token|cipher[-_]pass|encrypt|private[-_]key|\bauth\b|api[-_]?key)[a-z0-9_\-'"\]]*\s*(:|=)"#,
        )
        .unwrap_or_else(|_| unreachable!("the secret pattern is a valid regex"))
    })
}

/// Whether a line of a config file carries a secret value.
pub fn is_secret_line(line: &str) -> bool {
    let l = line.trim_start_matches([' ', '+', '-', '\t']);
    if l.starts_with('#') {
        return false;
    }
    secret_key().is_match(l) && has_value(l)
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
        ] {
            assert!(is_secret_line(l), "{l}");
            assert!(!line(l).contains('x') || line(l).ends_with("<redacted>"), "{l}");
        }
        for l in ["  authentication:", "# password: x", "  username: admin", "host all all 0/0 password"] {
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
    /// Collects the values of every secret line of `texts`.
    pub fn collect<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values = Vec::new();
        for text in texts {
            for l in text.lines() {
                if !is_secret_line(l) {
                    continue;
                }
                if let Some(m) = secret_key().find(l) {
                    let v = l[m.end()..].trim();
                    let v = v.split(" #").next().unwrap_or(v).trim();
                    let v = v.trim_matches(['"', '\'', ',', ';']).trim();
                    // Short values ("", "no", "on") would scrub ordinary words.
                    if v.chars().count() >= 4 {
                        values.push(v.to_string());
                    }
                }
            }
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    /// Replaces every secret value in `output` with `<redacted>`.
    pub fn scrub(&self, output: &str) -> String {
        let mut out = output.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), "<redacted>");
            }
        }
        out
    }
}
