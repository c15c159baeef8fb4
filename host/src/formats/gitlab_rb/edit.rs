//! Settings edits of gitlab.rb (`set-setting`, `remove-setting`), read with
//! [`super::parse`] so that what is edited is the statement Ruby runs last.
//!
//! A key is named by its JSON pointer in the attribute tree, as the settings' locations
//! give it (`/patroni/allowlist`, `/patroni/postgresql/max_connections`), with no
//! section; a value is JSON, written as a Ruby literal (`'…'` strings, `%w()` for lists
//! of plain words, `{ 'k' => v }` hashes with sorted keys, `nil`). `set` replaces the
//! last statement that assigns exactly that key (all its lines, its indentation kept);
//! otherwise `section['key'] = value` goes after the last statement of the same
//! attribute hash, else after `roles(...)`, else at the end of the file. A statement
//! sharing a line with another is not rewritten (the other would go with it).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::formats::lines::Lines;
use crate::wit;

/// The key path of a JSON pointer (`/a/b~1c` → `a`, `b/c`).
fn path(pointer: &str) -> Result<Vec<String>, String> {
    let bad = || {
        format!("`{pointer}` is not a gitlab.rb key: give its JSON pointer, `/patroni/allowlist`")
    };
    let rest = pointer.strip_prefix('/').ok_or_else(bad)?;
    let path: Vec<String> = rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let head_ok = path[0]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && path[0]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if path.len() < 2 || !head_ok {
        return Err(bad());
    }
    Ok(path)
}

/// `patroni['allowlist']`.
pub fn ruby_key(path: &[String]) -> String {
    let mut out = path[0].clone();
    for k in &path[1..] {
        out.push_str(&format!("['{}']", quote(k)));
    }
    out
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// A JSON value as a Ruby literal.
pub fn ruby(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::String(s) => format!("'{}'", quote(s)),
        Value::Array(a)
            if !a.is_empty()
                && a.iter().all(|x| {
                    x.as_str().is_some_and(|s| {
                        !s.is_empty()
                            && !s.contains(|c: char| c.is_whitespace() || "()\\".contains(c))
                    })
                }) =>
        {
            let words: Vec<&str> = a.iter().filter_map(Value::as_str).collect();
            format!("%w({})", words.join(" "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(ruby).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            let pairs: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("'{}' => {}", quote(k), ruby(v)))
                .collect();
            format!("{{ {} }}", pairs.join(", "))
        }
        other => other.to_string(),
    }
}

/// A statement's lines, 0-based and inclusive.
fn span(s: &wit::Setting) -> (usize, usize) {
    let line = s.location.line.saturating_sub(1) as usize;
    let end = s
        .location
        .end_line
        .map_or(line, |e| e.saturating_sub(1) as usize);
    (line, end.max(line))
}

/// The assignments of exactly `pointer`, in file order, refusing one that shares a line
/// with another statement.
fn assignments<'a>(
    settings: &'a [wit::Setting],
    pointer: &str,
) -> Result<Vec<&'a wit::Setting>, String> {
    let mine: Vec<&wit::Setting> = settings
        .iter()
        .filter(|s| s.section.is_some() && s.location.pointer.as_deref() == Some(pointer))
        .collect();
    for s in &mine {
        let (a, b) = span(s);
        let shared = settings.iter().any(|o| {
            let (c, d) = span(o);
            !std::ptr::eq(*s, o) && c <= b && a <= d
        });
        if shared {
            return Err(format!(
                "`{}` shares line {} with another statement: patrol does not rewrite it",
                s.name, s.location.line
            ));
        }
    }
    Ok(mine)
}

/// `text` with the key at `pointer` set to the JSON `value`.
pub fn set(text: &str, pointer: &str, value: &str) -> Result<String, String> {
    let path = path(pointer)?;
    let value: Value = serde_json::from_str(value)
        .map_err(|e| format!("the value for `{pointer}` is not JSON: {e}"))?;
    let settings = super::parse(text, "").value;
    let new = format!("{} = {}", ruby_key(&path), ruby(&value));
    let mut lines = Lines::new(text);
    if let Some(s) = assignments(&settings, pointer)?.last() {
        let (first, last) = span(s);
        let indent: String = lines
            .get(first)
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        for i in (first + 1..=last).rev() {
            lines.remove(i);
        }
        lines.replace(first, &format!("{indent}{new}"));
        return Ok(lines.text());
    }
    let after = settings
        .iter()
        .filter(|s| s.section.as_deref() == Some(path[0].as_str()))
        .map(|s| span(s).1)
        .max()
        .or_else(|| {
            settings
                .iter()
                .filter(|s| s.section.is_none() && s.name == "roles")
                .map(|s| span(s).1)
                .next_back()
        })
        .or_else(|| lines.len().checked_sub(1));
    lines.insert_after(after, &new);
    Ok(lines.text())
}

/// `text` without any statement assigning exactly `pointer`.
pub fn remove(text: &str, pointer: &str) -> Result<String, String> {
    path(pointer)?;
    let settings = super::parse(text, "").value;
    let mut lines = Lines::new(text);
    for s in assignments(&settings, pointer)?.iter().rev() {
        let (first, last) = span(s);
        for i in (first..=last).rev() {
            lines.remove(i);
        }
    }
    Ok(lines.text())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals() {
        assert_eq!(
            ruby(&json!(["10.0.0.0/8", "127.0.0.1/32"])),
            "%w(10.0.0.0/8 127.0.0.1/32)"
        );
        assert_eq!(ruby(&json!(["a b", "c"])), "['a b', 'c']");
        assert_eq!(
            ruby(&json!({"b": true, "a": "x'y"})),
            "{ 'a' => 'x\\'y', 'b' => true }"
        );
        assert_eq!(ruby(&json!(null)), "nil");
        assert_eq!(ruby(&json!(5432)), "5432");
        assert_eq!(ruby(&json!("C:\\x")), "'C:\\\\x'");
    }

    #[test]
    fn in_place_replaces_the_last_statement_with_its_indentation() {
        let src = "roles(['patroni_role'])\npatroni['use_tls'] = false\n  patroni['use_tls'] = nil # again\npatroni['x'] = 1\n";
        assert_eq!(
            set(src, "/patroni/use_tls", "true").unwrap(),
            "roles(['patroni_role'])\npatroni['use_tls'] = false\n  patroni['use_tls'] = true\npatroni['x'] = 1\n"
        );
        // A statement over several lines is replaced whole.
        let src = "patroni['allowlist'] = [\n  '0.0.0.0/0',\n]\npatroni['x'] = 1\n";
        assert_eq!(
            set(
                src,
                "/patroni/allowlist",
                r#"["10.0.0.0/8","127.0.0.1/32"]"#
            )
            .unwrap(),
            "patroni['allowlist'] = %w(10.0.0.0/8 127.0.0.1/32)\npatroni['x'] = 1\n"
        );
    }

    #[test]
    fn a_new_key_goes_after_its_hash_or_roles_or_at_the_end() {
        let src = "roles(['patroni_role'])\n\npatroni['a'] = 1\npostgresql['b'] = 2\n# end\n";
        assert_eq!(
            set(src, "/patroni/postgresql/ssl", "\"on\"").unwrap(),
            "roles(['patroni_role'])\n\npatroni['a'] = 1\npatroni['postgresql']['ssl'] = 'on'\npostgresql['b'] = 2\n# end\n"
        );
        assert_eq!(
            set(src, "/consul/use_tls", "true").unwrap(),
            "roles(['patroni_role'])\nconsul['use_tls'] = true\n\npatroni['a'] = 1\npostgresql['b'] = 2\n# end\n"
        );
        assert_eq!(
            set("# nothing\n", "/consul/use_tls", "true").unwrap(),
            "# nothing\nconsul['use_tls'] = true\n"
        );
        // Two keys set one after the other come out in that order.
        let once = set("x['a'] = 1", "/consul/use_tls", "true").unwrap();
        let twice = set(&once, "/consul/tls_verify_client", "true").unwrap();
        assert_eq!(
            twice,
            "x['a'] = 1\nconsul['use_tls'] = true\nconsul['tls_verify_client'] = true"
        );
    }

    #[test]
    fn remove_and_refusals() {
        let src = "a['x'] = 1\nb['y'] = 2\na['x'] = 3\n";
        assert_eq!(remove(src, "/a/x").unwrap(), "b['y'] = 2\n");
        assert!(set("a['x'] = 1; b['y'] = 2\n", "/a/x", "5").is_err());
        assert!(set("", "a/x", "5").is_err());
        assert!(set("", "/a", "5").is_err());
        assert!(set("", "/a/x", "not json").is_err());
        assert!(set("", "/A-b/x", "5").is_err());
    }
}
