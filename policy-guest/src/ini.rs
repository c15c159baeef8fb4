//! INI-like documents (pgbouncer.ini, pg_autoctl.cfg, pgbackrest.conf) as the host hands
//! them over: settings with their section and line. [`Ini`] answers "the last value of
//! `section.key`, and where", and builds the `set-setting` patches that fix one (the
//! host's INI module writes them in the file's own style).

use crate::{Body, Document, Location, Patch, Setting};

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

    /// A patch that makes `section.key` equal `value`, written by the host in the
    /// file's own style (in place when the key is written, else a new line at the end of
    /// the section, the section added when missing).
    pub fn set_patch(&self, section: &str, key: &str, value: &str) -> Patch {
        crate::report::set_setting(
            &self.doc.path,
            format!("set `{key} = {value}` in [{section}]"),
            Some(section),
            key,
            value,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str, settings: Vec<(&str, &str, &str, u32)>) -> Document {
        Document {
            kind: crate::DocumentKind::Pgbouncer,
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
    fn set_builds_a_settings_edit() {
        let d = doc(
            "[pgbouncer]\nauth_type=md5\n",
            vec![("pgbouncer", "auth_type", "md5", 2)],
        );
        let ini = Ini::new(&d).expect("settings");
        assert_eq!(ini.value("PgBouncer", "AUTH_TYPE"), Some("md5"));
        let p = ini.set_patch("pgbouncer", "auth_type", "scram-sha-256");
        assert_eq!(p.file, "pgbouncer.ini");
        assert_eq!(
            p.edits,
            vec![crate::Edit::SetSetting(crate::SettingValue {
                section: Some("pgbouncer".into()),
                key: "auth_type".into(),
                value: "scram-sha-256".into(),
            })]
        );
    }
}
