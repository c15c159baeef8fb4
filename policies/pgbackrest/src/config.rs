//! A pgbackrest.conf as pgBackRest reads it, for the checks.
//!
//! Sections are `[global]`, `[global:<command>]`, `[<stanza>]` and `[<stanza>:<command>]`;
//! an option in `global` applies to every stanza. Indexed options (`repo1-path`,
//! `pg2-host`) are grouped by kind and index; the unindexed legacy names (`repo-path`,
//! `repo-host`, `repo-cipher-type`, pgBackRest < 2.33) count as index 1. A boolean is `y`
//! or `n`. When an option is set more than once, the checks look at every setting: each
//! place that weakens something is reported at its line.

use policy_guest::{Body, Document, Setting};

/// One option setting.
#[derive(Debug, Clone)]
pub struct Opt<'a> {
    pub setting: &'a Setting,
    /// `repo`, `pg`, or `` for unindexed options (`tls-server-address`).
    pub kind: String,
    pub index: u32,
    /// The name without kind and index (`cipher-type`, `host-type`).
    pub key: String,
}

/// The options of a pgbackrest.conf.
#[derive(Debug)]
pub struct Config<'a> {
    pub file: String,
    pub text: &'a str,
    pub opts: Vec<Opt<'a>>,
    /// Stanzas (sections other than `global`, without `:command`).
    pub stanzas: Vec<String>,
    /// Settings before any section (pgBackRest refuses the file).
    pub outside: Vec<&'a Setting>,
}

impl<'a> Config<'a> {
    pub fn read(doc: &'a Document) -> Option<Config<'a>> {
        let Body::Settings(settings) = &doc.body else {
            return None;
        };
        let mut cfg = Config {
            file: doc.path.clone(),
            text: &doc.text,
            opts: Vec::new(),
            stanzas: Vec::new(),
            outside: Vec::new(),
        };
        for s in settings {
            let Some(section) = &s.section else {
                cfg.outside.push(s);
                continue;
            };
            let stanza = section.split(':').next().unwrap_or("");
            if stanza != "global" && !stanza.is_empty() && !cfg.stanzas.iter().any(|x| x == stanza)
            {
                cfg.stanzas.push(stanza.to_string());
            }
            let (kind, index, key) = split(&s.name);
            cfg.opts.push(Opt {
                setting: s,
                kind,
                index,
                key,
            });
        }
        Some(cfg)
    }

    /// Every setting of an unindexed option.
    pub fn plain(&self, name: &str) -> Vec<&Opt<'a>> {
        self.opts
            .iter()
            .filter(|o| o.kind.is_empty() && o.key == name)
            .collect()
    }

    /// The indexes of `kind` (`repo`) that appear, in order.
    pub fn indexes(&self, kind: &str) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .opts
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.index)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Every setting of `kind``index`-`key`.
    pub fn all(&self, kind: &str, index: u32, key: &str) -> Vec<&Opt<'a>> {
        self.opts
            .iter()
            .filter(|o| o.kind == kind && o.index == index && o.key == key)
            .collect()
    }

    /// The last setting of `kind``index`-`key` (stanza sections read after `global`).
    pub fn get(&self, kind: &str, index: u32, key: &str) -> Option<&Opt<'a>> {
        let all = self.all(kind, index, key);
        all.iter()
            .rev()
            .find(|o| {
                !o.setting
                    .section
                    .as_deref()
                    .is_some_and(|s| s.starts_with("global"))
            })
            .or(all.last())
            .copied()
    }

    pub fn value(&self, kind: &str, index: u32, key: &str) -> Option<&'a str> {
        self.get(kind, index, key).map(|o| o.setting.value.as_str())
    }

    /// A physical line of the file.
    pub fn line(&self, n: u32) -> &'a str {
        let l = self
            .text
            .split('\n')
            .nth(n.saturating_sub(1) as usize)
            .unwrap_or("");
        l.strip_suffix('\r').unwrap_or(l)
    }
}

/// `repo1-cipher-type` → (`repo`, 1, `cipher-type`); `repo-path` → (`repo`, 1, `path`);
/// `tls-server-address` → (``, 0, `tls-server-address`).
pub fn split(name: &str) -> (String, u32, String) {
    for kind in ["repo", "pg"] {
        let Some(rest) = name.strip_prefix(kind) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[digits.len()..];
        if let Some(key) = after.strip_prefix('-') {
            let index = if digits.is_empty() {
                1
            } else {
                digits.parse().unwrap_or(0)
            };
            if index > 0 && !key.is_empty() {
                return (kind.to_string(), index, key.to_string());
            }
        }
    }
    (String::new(), 0, name.to_string())
}

/// The name of `kind``index`-`key` as the file spells the index (legacy `repo-` names
/// stay legacy).
pub fn name_like(existing: &Setting, kind: &str, index: u32, key: &str) -> String {
    if existing.name.starts_with(&format!("{kind}-")) {
        format!("{kind}-{key}")
    } else {
        format!("{kind}{index}-{key}")
    }
}

/// The `--stanza` of a pgbackrest command line.
pub fn stanza_of(command: &str) -> Option<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_matches(['"', '\'']);
        if let Some(v) = w.strip_prefix("--stanza=") {
            return Some(v.trim_matches(['"', '\'']).to_string());
        }
        if w == "--stanza" {
            return words
                .get(i + 1)
                .map(|v| v.trim_matches(['"', '\'']).to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_option_names() {
        let cases = [
            ("repo1-cipher-type", ("repo", 1, "cipher-type")),
            ("repo12-host-type", ("repo", 12, "host-type")),
            ("repo-path", ("repo", 1, "path")),
            ("pg2-host", ("pg", 2, "host")),
            ("tls-server-address", ("", 0, "tls-server-address")),
            ("process-max", ("", 0, "process-max")),
            ("repository", ("", 0, "repository")),
        ];
        for (name, (k, i, key)) in cases {
            assert_eq!(split(name), (k.to_string(), i, key.to_string()), "{name}");
        }
        assert_eq!(
            stanza_of("pgbackrest --stanza=main archive-push %p").as_deref(),
            Some("main")
        );
        assert_eq!(
            stanza_of("pgbackrest --stanza main archive-get %f \"%p\"").as_deref(),
            Some("main")
        );
        assert_eq!(stanza_of("cp %p /x"), None);
    }
}
