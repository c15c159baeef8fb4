//! Settings edits of INI-like files (`set-setting`, `remove-setting` on pgbouncer.ini,
//! pgbackrest.conf, pg_autoctl.cfg), read with [`super::parse`] so that what is edited
//! is what the readers see.
//!
//! A key written more than once in a section: the last one is the one read (pgBackRest
//! reads some as lists; a policy that sets one of those means the value it reads), so
//! `set` replaces the value of the last one in place, keeping the key as written and the
//! spacing around `=`. A key the section lacks gets `key = value` after the section's
//! last setting (right after its header when it has none); a missing section is added at
//! the end of the file. Sections and keys compare without case, as the readers do.

use crate::formats::lines::Lines;
use crate::wit;

/// The settings of `text` in `section`, named `key`.
fn matching(settings: &[wit::Setting], section: &str, key: &str) -> Vec<usize> {
    settings
        .iter()
        .filter(|s| {
            s.section
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(section))
                && s.name.eq_ignore_ascii_case(key)
        })
        .map(|s| s.location.line.saturating_sub(1) as usize)
        .collect()
}

fn check(section: &str, key: &str, value: &str) -> Result<(), String> {
    let bad = |s: &str| s.is_empty() || s.contains(['\n', '\r']) || s.trim() != s;
    if bad(section) || section.contains([']', '[']) {
        return Err(format!("`[{section}]` is not an INI section name"));
    }
    if bad(key) || key.contains('=') || key.starts_with(['#', ';', '[', '%']) {
        return Err(format!("`{key}` is not an INI key"));
    }
    if value.contains(['\n', '\r']) {
        return Err(format!(
            "the value of `{key}` holds a line break, which an INI line cannot hold"
        ));
    }
    Ok(())
}

/// `line` with the text after its first `=` replaced by `value`, the spacing after `=`
/// kept (one space when there was none).
fn replace_value(line: &str, value: &str) -> String {
    match line.split_once('=') {
        Some((key, rest)) => {
            let spaces = &rest[..rest.len() - rest.trim_start().len()];
            let spaces = if spaces.is_empty() { " " } else { spaces };
            format!("{key}={spaces}{value}")
        }
        None => format!("{line} = {value}"),
    }
}

/// `text` with `key = value` in `[section]`.
pub fn set(text: &str, section: &str, key: &str, value: &str) -> Result<String, String> {
    check(section, key, value)?;
    let settings = super::parse(text, "").value;
    let mut lines = Lines::new(text);
    if let Some(&at) = matching(&settings, section, key).last() {
        let new = replace_value(lines.get(at), value);
        lines.replace(at, &new);
        return Ok(lines.text());
    }
    let new = format!("{key} = {value}");
    let last_setting = settings
        .iter()
        .filter(|s| {
            s.section
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(section))
        })
        .map(|s| s.location.line.saturating_sub(1) as usize)
        .max();
    let header = (0..lines.len()).find(|&i| {
        let t = lines.get(i).trim();
        t.strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(section))
    });
    match last_setting.or(header) {
        Some(at) => lines.insert_after(Some(at), &new),
        None => {
            // A blank line before the new section, unless the file is empty.
            let last = lines.len().checked_sub(1);
            let block = match last {
                Some(_) => format!("\n[{section}]\n{new}"),
                None => format!("[{section}]\n{new}"),
            };
            lines.insert_after(last, &block);
        }
    }
    Ok(lines.text())
}

/// `text` without any `key` of `[section]`.
pub fn remove(text: &str, section: &str, key: &str) -> Result<String, String> {
    check(section, key, "")?;
    let settings = super::parse(text, "").value;
    let mut lines = Lines::new(text);
    for at in matching(&settings, section, key).into_iter().rev() {
        lines.remove(at);
    }
    Ok(lines.text())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn in_place_keeps_key_and_spacing() {
        let src = "[pgbouncer]\nAuth_Type=md5\n  listen_addr   =   *\n";
        assert_eq!(
            set(src, "PgBouncer", "auth_type", "scram-sha-256").unwrap(),
            "[pgbouncer]\nAuth_Type= scram-sha-256\n  listen_addr   =   *\n"
        );
        assert_eq!(
            set(src, "pgbouncer", "listen_addr", "10.0.0.1").unwrap(),
            "[pgbouncer]\nAuth_Type=md5\n  listen_addr   =   10.0.0.1\n"
        );
        // The last of a repeated key is the one edited.
        assert_eq!(
            set("[s]\nk = 1\nk = 2\n", "s", "k", "3").unwrap(),
            "[s]\nk = 1\nk = 3\n"
        );
    }

    #[test]
    fn a_new_key_goes_after_the_sections_last_setting() {
        let src = "[a]\nx = 1\n\n# about b\n[b]\ny = 2\n# tail\n";
        assert_eq!(
            set(src, "a", "z", "3").unwrap(),
            "[a]\nx = 1\nz = 3\n\n# about b\n[b]\ny = 2\n# tail\n"
        );
        assert_eq!(
            set(src, "b", "z", "3").unwrap(),
            "[a]\nx = 1\n\n# about b\n[b]\ny = 2\nz = 3\n# tail\n"
        );
        // An empty section: right after its header.
        assert_eq!(
            set("[a]\n[b]\n", "a", "k", "v").unwrap(),
            "[a]\nk = v\n[b]\n"
        );
        // The same key in another section is another key.
        assert_eq!(
            set("[a]\nk = 1\n[b]\n", "b", "k", "2").unwrap(),
            "[a]\nk = 1\n[b]\nk = 2\n"
        );
    }

    #[test]
    fn a_missing_section_is_added_at_the_end() {
        assert_eq!(
            set("[a]\nx = 1\n", "ssl", "sslmode", "verify-full").unwrap(),
            "[a]\nx = 1\n\n[ssl]\nsslmode = verify-full\n"
        );
        assert_eq!(
            set("[a]\r\nx = 1", "ssl", "sslmode", "require").unwrap(),
            "[a]\r\nx = 1\r\n\r\n[ssl]\r\nsslmode = require"
        );
        assert_eq!(set("", "s", "k", "v").unwrap(), "[s]\nk = v\n");
    }

    #[test]
    fn remove_takes_every_assignment_of_the_section() {
        let src = "[a]\nk = 1\n[b]\nk = 2\nK=3\n";
        assert_eq!(remove(src, "B", "k").unwrap(), "[a]\nk = 1\n[b]\n");
        assert_eq!(remove(src, "c", "k").unwrap(), src);
    }

    #[test]
    fn bad_sections_keys_and_values_are_refused() {
        assert!(set("", "a]", "k", "v").is_err());
        assert!(set("", "", "k", "v").is_err());
        assert!(set("", "a", "k=x", "v").is_err());
        assert!(set("", "a", "# k", "v").is_err());
        assert!(set("", "a", "k", "v\n[b]").is_err());
    }
}
