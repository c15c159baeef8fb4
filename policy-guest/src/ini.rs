//! INI-like documents (pgbouncer.ini, pg_autoctl.cfg, pgbackrest.conf) as the host hands
//! them over: settings with their section and line. [`Ini`] answers "the last value of
//! `section.key`, and where", and writes fixes as line edits that keep the rest of the
//! file byte for byte: a value replaced in place (the key, spacing and `=` as written), or
//! a `key = value` line inserted right after the section's header (the section is added
//! at the end of the file when it is missing).

use crate::{Body, Document, Edit, LineEdit, Location, Patch, Setting};

/// An INI document with lookups.
#[derive(Debug, Clone, Copy)]
pub struct Ini<'a> {
    pub doc: &'a Document,
    settings: &'a [Setting],
}

impl<'a> Ini<'a> {
    /// `None` unless the document's body is a settings list.
    pub fn new(doc: &'a Document) -> Option<Ini<'a>> {
        match &doc.body {
            Body::Settings(settings) => Some(Ini { doc, settings }),
            _ => None,
        }
    }

    /// Every setting of `section` (compared without case), in file order.
    pub fn section(&self, section: &str) -> impl Iterator<Item = &'a Setting> + 'a {
        let section = section.to_ascii_lowercase();
        self.settings.iter().filter(move |s| {
            s.section
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(&section))
        })
    }

    /// The last `key` of `section` (names compared without case).
    pub fn get(&self, section: &str, key: &str) -> Option<&'a Setting> {
        self.section(section)
            .filter(|s| s.name.eq_ignore_ascii_case(key))
            .last()
    }

    /// The value of `section.key`, trimmed.
    pub fn value(&self, section: &str, key: &str) -> Option<&'a str> {
        self.get(section, key).map(|s| s.value.trim())
    }

    /// The line of the `[section]` header (the first, if repeated).
    pub fn header_line(&self, section: &str) -> Option<u32> {
        self.doc
            .text
            .lines()
            .position(|l| {
                let t = l.trim();
                t.strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(section))
            })
            .map(|i| i as u32 + 1)
    }

    /// A location at the section header, or line 1.
    pub fn section_location(&self, section: &str) -> Location {
        Location {
            file: self.doc.path.clone(),
            line: self.header_line(section).unwrap_or(1),
            end_line: None,
            pointer: Some(section.to_string()),
        }
    }

    /// The text of line `n` (1-based).
    pub fn line_text(&self, n: u32) -> &'a str {
        self.doc
            .text
            .lines()
            .nth(n.saturating_sub(1) as usize)
            .unwrap_or("")
    }

    /// The edit that makes `section.key` equal `value`: in place when written, else a
    /// new line after the header.
    pub fn set(&self, section: &str, key: &str, value: &str) -> Edit {
        if let Some(s) = self.get(section, key) {
            let line = s.location.line;
            return Edit::Lines(LineEdit {
                start: line,
                end: line,
                text: replace_value(self.line_text(line), value),
            });
        }
        match self.header_line(section) {
            Some(h) => Edit::Lines(LineEdit {
                start: h + 1,
                end: h,
                text: format!("{key} = {value}"),
            }),
            None => {
                let n = self.doc.text.lines().count() as u32;
                Edit::Lines(LineEdit {
                    start: n + 1,
                    end: n,
                    text: format!("\n[{section}]\n{key} = {value}"),
                })
            }
        }
    }

    /// A patch of one [`Ini::set`].
    pub fn set_patch(&self, section: &str, key: &str, value: &str) -> Patch {
        Patch {
            file: self.doc.path.clone(),
            description: format!("set `{key} = {value}` in [{section}]"),
            edits: vec![self.set(section, key, value)],
        }
    }
}

/// `line` with the text after `=` replaced by `value` (spacing after `=` kept).
pub fn replace_value(line: &str, value: &str) -> String {
    match line.split_once('=') {
        Some((key, rest)) => {
            let spaces = &rest[..rest.len() - rest.trim_start().len()];
            format!(
                "{key}={}{value}",
                if spaces.is_empty() { " " } else { spaces }
            )
        }
        None => format!("{line} = {value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str, settings: Vec<(&str, &str, &str, u32)>) -> Document {
        Document {
            kind: "pgbouncer".into(),
            path: "pgbouncer.ini".into(),
            text: text.into(),
            body: Body::Settings(
                settings
                    .into_iter()
                    .map(|(sec, k, v, line)| Setting {
                        section: Some(sec.into()),
                        name: k.into(),
                        value: v.into(),
                        args: Vec::new(),
                        location: Location {
                            file: "pgbouncer.ini".into(),
                            line,
                            end_line: None,
                            pointer: None,
                        },
                    })
                    .collect(),
            ),
            diagnostics: Vec::new(),
        }
    }

    #[test]
    fn set_in_place_or_after_header() {
        let d = doc(
            "[pgbouncer]\nauth_type=md5\n",
            vec![("pgbouncer", "auth_type", "md5", 2)],
        );
        let ini = Ini::new(&d).expect("settings");
        assert_eq!(
            ini.set("PgBouncer", "AUTH_TYPE", "scram-sha-256"),
            Edit::Lines(LineEdit {
                start: 2,
                end: 2,
                text: "auth_type= scram-sha-256".into()
            })
        );
        assert_eq!(
            ini.set("pgbouncer", "listen_addr", "10.0.0.1"),
            Edit::Lines(LineEdit {
                start: 2,
                end: 1,
                text: "listen_addr = 10.0.0.1".into()
            })
        );
        assert_eq!(
            ini.set("ssl", "sslmode", "verify-full"),
            Edit::Lines(LineEdit {
                start: 3,
                end: 2,
                text: "\n[ssl]\nsslmode = verify-full".into()
            })
        );
        assert_eq!(replace_value("  key  =   old # x", "new"), "  key  =   new");
    }
}
