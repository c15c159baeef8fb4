//! gitlab.rb as the settings the host read from it, folded into one attribute tree the
//! way Ruby runs the file: statements in order, a later assignment replacing the value
//! (a nested `consul['configuration']['x'] = …` writes into the hash that is there, or
//! into a new one: gitlab.rb is evaluated with auto-vivifying hashes). Each key keeps
//! the statement that set it, for locations; fixes are `set-setting` edits of a key's
//! JSON pointer that the host's gitlab.rb module writes as Ruby.

use policy_guest::{Body, Document, Edit, Location, Patch, Setting, SettingValue};
use serde_json::{Map, Value};

/// One assignment: its key path (`["patroni", "allowlist"]`), lines, and whether its
/// value is Ruby the host did not evaluate.
#[derive(Debug, Clone)]
pub struct Stmt {
    pub path: Vec<String>,
    pub line: u32,
    pub end: u32,
    pub unknown: bool,
}

/// The folded gitlab.rb.
#[derive(Debug)]
pub struct Rb<'a> {
    pub doc: &'a Document,
    pub tree: Value,
    stmts: Vec<Stmt>,
    /// Paths whose value is unknown (set by Ruby the host did not evaluate).
    unknown: Vec<Vec<String>>,
    pub roles: Vec<String>,
    pub roles_line: Option<u32>,
}

impl<'a> Rb<'a> {
    pub fn new(doc: &'a Document) -> Option<Rb<'a>> {
        let Body::Settings(settings) = &doc.body else {
            return None;
        };
        let mut rb = Rb {
            doc,
            tree: Value::Object(Map::new()),
            stmts: Vec::new(),
            unknown: Vec::new(),
            roles: Vec::new(),
            roles_line: None,
        };
        for s in settings {
            rb.add(s);
        }
        Some(rb)
    }

    fn add(&mut self, s: &Setting) {
        let line = s.location.line;
        let end = s.location.end_line.unwrap_or(line);
        let unknown = s.args.iter().any(|a| a == "unevaluated");
        if s.section.is_none() {
            if s.name == "roles" {
                self.roles = match serde_json::from_str::<Value>(&s.value) {
                    Ok(Value::Array(a)) => a.into_iter().flat_map(flatten).collect(),
                    Ok(Value::String(r)) => vec![r],
                    _ => Vec::new(),
                };
                self.roles_line = Some(line);
            }
            return;
        }
        let Some(path) = key_path(&s.name) else {
            return;
        };
        let value = if unknown {
            Value::Null
        } else {
            serde_json::from_str(&s.value).unwrap_or(Value::Null)
        };
        set_path(&mut self.tree, &path, value);
        self.unknown.retain(|u| !u.starts_with(&path));
        if unknown {
            self.unknown.push(path.clone());
        }
        self.stmts.push(Stmt {
            path,
            line,
            end,
            unknown,
        });
    }

    /// The value at `path` (`["patroni", "allowlist"]`); `None` when unset or unknown.
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        if self.is_unknown(path) {
            return None;
        }
        let mut v = &self.tree;
        for p in path {
            v = v.get(*p)?;
        }
        Some(v)
    }

    /// Whether `path` is set to Ruby the host did not evaluate (or lies inside such a value).
    pub fn is_unknown(&self, path: &[&str]) -> bool {
        self.unknown
            .iter()
            .any(|u| path.len() >= u.len() && u.iter().zip(path).all(|(a, b)| a == b))
    }

    /// Whether `path` is set at all (to a known or unknown value).
    pub fn is_set(&self, path: &[&str]) -> bool {
        self.is_unknown(path) || self.get(path).is_some_and(|v| !v.is_null())
    }

    pub fn str(&self, path: &[&str]) -> Option<&str> {
        self.get(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The last statement that decides `path` (the path itself, or a hash around it).
    fn stmt(&self, path: &[&str]) -> Option<&Stmt> {
        self.stmts
            .iter()
            .rev()
            .find(|s| path.len() >= s.path.len() && s.path.iter().zip(path).all(|(a, b)| a == b))
    }

    /// Where `path` is written: its statement (inside a multi-line hash, the line naming
    /// the key), or `fallback`.
    pub fn loc(&self, path: &[&str], fallback: &Location) -> Location {
        let Some(s) = self.stmt(path) else {
            return fallback.clone();
        };
        let mut line = s.line;
        if path.len() > s.path.len() && s.end > s.line {
            let key = path[path.len() - 1];
            let forms = [
                format!("'{key}'"),
                format!("\"{key}\""),
                format!("{key}:"),
                format!(":{key}"),
            ];
            for (i, text) in self
                .doc
                .text
                .lines()
                .enumerate()
                .skip(s.line as usize - 1)
                .take((s.end - s.line + 1) as usize)
            {
                if forms.iter().any(|f| text.contains(f.as_str())) {
                    line = i as u32 + 1;
                }
            }
        }
        Location {
            file: self.doc.path.clone(),
            line,
            end_line: (s.end > line).then_some(s.end),
            pointer: Some(pointer(path)),
        }
    }

    /// The line where a component is switched on (`roles([...])` or `x['enable']`), for
    /// findings about keys that are not written.
    pub fn anchor(&self, section: &str, role: &[&str]) -> Location {
        let line = if self.roles.iter().any(|r| role.contains(&r.as_str())) {
            self.roles_line
        } else {
            None
        }
        .or_else(|| self.stmt(&[section, "enable"]).map(|s| s.line))
        .or_else(|| {
            self.stmts
                .iter()
                .find(|s| s.path[0] == section)
                .map(|s| s.line)
        })
        .unwrap_or(1);
        Location {
            file: self.doc.path.clone(),
            line,
            end_line: None,
            pointer: Some(format!("/{section}")),
        }
    }

    /// Whether a component is on: `x['enable'] = true`, or one of its roles.
    pub fn enabled(&self, section: &str, role: &[&str]) -> bool {
        match self.get(&[section, "enable"]) {
            Some(Value::Bool(b)) => *b,
            _ => self.roles.iter().any(|r| role.contains(&r.as_str())),
        }
    }

    /// The edit that makes `path` hold `value`; the host's gitlab.rb module writes it
    /// (the last statement that sets exactly this path rewritten, else a new line after
    /// the section's last statement, or after `roles`, or at the end).
    pub fn set(&self, path: &[&str], value: &Value) -> Edit {
        Edit::SetSetting(SettingValue {
            section: None,
            key: pointer(path),
            value: value.to_string(),
        })
    }

    /// Edits that set several keys, in order.
    pub fn set_many(&self, pairs: &[(&[&str], Value)]) -> Vec<Edit> {
        pairs
            .iter()
            .map(|(path, value)| self.set(path, value))
            .collect()
    }

    pub fn patch(&self, path: &[&str], value: &Value, why: &str) -> Patch {
        Patch {
            file: self.doc.path.clone(),
            description: format!("{why}: `{}` set to `{value}` in gitlab.rb", ruby_key(path)),
            edits: vec![self.set(path, value)],
        }
    }
}

fn flatten(v: Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s],
        Value::Array(a) => a.into_iter().flat_map(flatten).collect(),
        _ => Vec::new(),
    }
}

/// `patroni['postgresql']['x']` → `["patroni", "postgresql", "x"]` (the host writes
/// every key with single quotes, `\'` and `\\` escaped).
pub fn key_path(name: &str) -> Option<Vec<String>> {
    let (head, mut rest) = name.split_once('[').map(|(h, r)| (h, format!("[{r}")))?;
    let mut out = vec![head.to_string()];
    while let Some(r) = rest.strip_prefix("['") {
        let mut key = String::new();
        let mut chars = r.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        key.push(n);
                    }
                }
                '\'' => {
                    end = Some(i);
                    break;
                }
                _ => key.push(c),
            }
        }
        let end = end?;
        out.push(key);
        rest = r[end + 1..].strip_prefix(']')?.to_string();
    }
    rest.is_empty().then_some(out)
}

fn set_path(tree: &mut Value, path: &[String], value: Value) {
    let mut cur = tree;
    for key in &path[..path.len() - 1] {
        if !cur.get(key).is_some_and(Value::is_object)
            && let Value::Object(m) = cur
        {
            m.insert(key.clone(), Value::Object(Map::new()));
        }
        let Some(next) = cur.get_mut(key) else { return };
        cur = next;
    }
    if let (Value::Object(m), Some(last)) = (cur, path.last()) {
        m.insert(last.clone(), value);
    }
}

fn pointer(path: &[&str]) -> String {
    path.iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// `patroni['allowlist']`.
pub fn ruby_key(path: &[&str]) -> String {
    let mut out = path[0].to_string();
    for k in &path[1..] {
        out.push_str(&format!(
            "['{}']",
            k.replace('\\', "\\\\").replace('\'', "\\'")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_literals() {
        assert_eq!(
            key_path("patroni['postgresql']['max_connections']"),
            Some(vec![
                "patroni".into(),
                "postgresql".into(),
                "max_connections".into()
            ])
        );
        assert_eq!(
            key_path("x['it\\'s']"),
            Some(vec!["x".into(), "it's".into()])
        );
        assert_eq!(key_path("roles"), None);
        assert_eq!(
            ruby_key(&["consul", "configuration", "client_addr"]),
            "consul['configuration']['client_addr']"
        );
    }
}
