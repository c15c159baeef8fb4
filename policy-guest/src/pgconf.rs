//! The effective values of postgresql.conf, as the server reads them.
//!
//! Within a file the last assignment of a name wins; `postgresql.auto.conf` (what ALTER
//! SYSTEM writes) is read after postgresql.conf and overrides it. Names are
//! case-insensitive. Booleans accept what PostgreSQL's `parse_bool` accepts (`on`, `off`,
//! `true`, `yes`, `1`, and unambiguous prefixes).

use std::collections::HashMap;

use crate::{Body, DocumentKind, Input, Setting};

/// The last assignment of every setting across the postgresql.conf documents.
#[derive(Debug, Clone)]
pub struct Effective<'a> {
    values: HashMap<String, &'a Setting>,
    /// Path of the main postgresql.conf (not the auto file), where new lines go.
    pub main_path: &'a str,
    /// Its text, for line edits.
    pub main_text: &'a str,
    /// Whether a main config (`postgresql.conf`, `postgresql.base.conf`, or their
    /// `.sample`) is among the documents. When only fragments are (a `conf.d/*.conf`,
    /// an auto file), a setting none of them sets is unknown: the main file may set it.
    pub complete: bool,
}

/// Whether a document path names a main config rather than a fragment.
pub fn is_main(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let name = name.strip_suffix(".sample").unwrap_or(name);
    matches!(name, "postgresql.conf" | "postgresql.base.conf")
}

/// Whether a document path is a postgresql.auto.conf.
pub fn is_auto(path: &str) -> bool {
    path.ends_with("postgresql.auto.conf")
}

impl<'a> Effective<'a> {
    /// None when the input holds no postgresql.conf.
    pub fn from_input(input: &'a Input) -> Option<Self> {
        let docs: Vec<_> = input
            .documents
            .iter()
            .filter(|d| d.kind == DocumentKind::PostgresqlConf)
            .collect();
        if docs.is_empty() {
            return None;
        }
        let main = docs.iter().find(|d| !is_auto(&d.path)).unwrap_or(&docs[0]);
        let mut values = HashMap::new();
        let ordered = docs
            .iter()
            .filter(|d| !is_auto(&d.path))
            .chain(docs.iter().filter(|d| is_auto(&d.path)));
        for doc in ordered {
            if let Body::Settings(settings) = &doc.body {
                for s in settings {
                    values.insert(s.name.to_ascii_lowercase(), s);
                }
            }
        }
        Some(Effective {
            values,
            main_path: &main.path,
            main_text: &main.text,
            complete: docs.iter().any(|d| is_main(&d.path)),
        })
    }

    /// Whether `name` is known to be at the server's default: no document sets it and a
    /// main config is among them.
    pub fn at_default(&self, name: &str) -> bool {
        self.complete && self.get(name).is_none()
    }

    /// Whether the value of `name` is known: set in a document, or at its default.
    pub fn known(&self, name: &str) -> bool {
        self.complete || self.get(name).is_some()
    }

    /// The deciding assignment of `name`.
    pub fn get(&self, name: &str) -> Option<&'a Setting> {
        self.values.get(&name.to_ascii_lowercase()).copied()
    }

    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).map(|s| s.value.as_str())
    }

    /// A boolean setting; None when absent or not a boolean.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.value(name).and_then(parse_bool)
    }
}

/// PostgreSQL's `parse_bool`: case-insensitive, unambiguous prefixes allowed.
pub fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() {
        return None;
    }
    let prefix_of = |word: &str, min: usize| v.len() >= min && word.starts_with(v.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || v == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || v == "0" {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for (v, want) in [
            ("on", Some(true)),
            ("OFF", Some(false)),
            ("t", Some(true)),
            ("o", None),
            ("of", Some(false)),
            ("ye", Some(true)),
            ("0", Some(false)),
            ("maybe", None),
        ] {
            assert_eq!(parse_bool(v), want, "{v}");
        }
    }
}
