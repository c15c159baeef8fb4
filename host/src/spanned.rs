//! patrol's own YAML files (the `patrol.yaml` bundle, `patrol test` case files) as a JSON
//! value with the line of every value, and a walker that checks their shape reporting
//! every problem with its line, not only the first (serde stops at the first).
//!
//! The YAML is read by [`crate::formats::yaml`], the parser the config files go through,
//! so dates and `on`/`off` read the same everywhere.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::formats::yaml;

/// One problem in a file: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Every problem found in a file, in file order.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn at(&mut self, node: &Node<'_>, message: impl Into<String>) {
        self.0.push(Problem {
            file: node.doc.file.clone(),
            line: node.line(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All problems as one error, one per line, sorted by line.
    pub fn into_result(mut self) -> Result<(), Vec<Problem>> {
        if self.0.is_empty() {
            return Ok(());
        }
        self.0.sort_by_key(|p| p.line);
        self.0.dedup();
        Err(self.0)
    }
}

/// A parsed file.
#[derive(Debug)]
pub struct SpannedDoc {
    pub file: String,
    pub value: Value,
    lines: HashMap<String, u32>,
}

impl SpannedDoc {
    /// Parses YAML or JSON; a syntax error is one problem at its line.
    pub fn parse(text: &str, file: &str) -> Result<SpannedDoc, Problem> {
        let parsed = yaml::parse(text, file);
        if let Some(d) = parsed.diagnostics.iter().find(|d| d.code == "invalid-yaml") {
            return Err(Problem {
                file: file.to_string(),
                line: d.location.line,
                message: d.message.clone(),
            });
        }
        let value = serde_json::from_str(&parsed.value.json).map_err(|e| Problem {
            file: file.to_string(),
            line: 1,
            message: format!("cannot read the document: {e}"),
        })?;
        let lines = parsed
            .value
            .spans
            .into_iter()
            .map(|s| (s.pointer, s.line))
            .collect();
        Ok(SpannedDoc {
            file: file.to_string(),
            value,
            lines,
        })
    }

    pub fn root(&self) -> Node<'_> {
        Node {
            doc: self,
            pointer: String::new(),
            path: String::new(),
            value: &self.value,
        }
    }

    /// The line of the value at `pointer`, or of its nearest ancestor that has one.
    pub fn line(&self, pointer: &str) -> u32 {
        let mut p = pointer;
        loop {
            if let Some(line) = self.lines.get(p) {
                return (*line).max(1);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return 1,
            }
        }
    }
}

/// A value in a [`SpannedDoc`], with its pointer and a readable path for messages
/// (`cases[2].expect.findings[0]`).
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub doc: &'a SpannedDoc,
    pub pointer: String,
    path: String,
    pub value: &'a Value,
}

impl<'a> Node<'a> {
    pub fn line(&self) -> u32 {
        self.doc.line(&self.pointer)
    }

    /// Where the value is, for messages: `cases[2].expect`, or `the file` at the top.
    pub fn path(&self) -> &str {
        if self.path.is_empty() {
            "the file"
        } else {
            &self.path
        }
    }

    pub fn get(&self, key: &str) -> Option<Node<'a>> {
        let value = self.value.as_object()?.get(key)?;
        Some(self.child(key, value, false))
    }

    fn child(&self, key: &str, value: &'a Value, index: bool) -> Node<'a> {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        let path = if index {
            format!("{}[{key}]", self.path)
        } else if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        };
        Node {
            doc: self.doc,
            pointer: format!("{}/{escaped}", self.pointer),
            path,
            value,
        }
    }

    /// The items of a sequence; reports anything else.
    pub fn items(&self, problems: &mut Problems) -> Vec<Node<'a>> {
        match self.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.child(&i.to_string(), v, true))
                .collect(),
            _ => {
                problems.at(self, format!("`{}` must be a list", self.path()));
                Vec::new()
            }
        }
    }

    /// The entries of a mapping in file order; reports anything else.
    pub fn entries(&self, problems: &mut Problems) -> Vec<(String, Node<'a>)> {
        match self.value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Node<'a>)> = map
                    .iter()
                    .map(|(k, v)| (k.clone(), self.child(k, v, false)))
                    .collect();
                entries.sort_by_key(|(_, n)| n.line());
                entries
            }
            _ => {
                problems.at(self, format!("`{}` must be a mapping", self.path()));
                Vec::new()
            }
        }
    }

    /// Checks that this is a mapping whose keys are all in `allowed`; reports each unknown
    /// key at its own line. False when it is not a mapping at all.
    pub fn mapping(&self, allowed: &[&str], problems: &mut Problems) -> bool {
        let Value::Object(map) = self.value else {
            problems.at(self, format!("`{}` must be a mapping", self.path()));
            return false;
        };
        for (key, value) in map {
            if !allowed.contains(&key.as_str()) {
                let node = self.child(key, value, false);
                let within = if self.path.is_empty() {
                    String::new()
                } else {
                    format!(" in `{}`", self.path)
                };
                problems.at(
                    &node,
                    format!(
                        "unknown key `{key}`{within}; expected one of: {}",
                        allowed.join(", ")
                    ),
                );
            }
        }
        true
    }

    /// A required key; reports its absence at the mapping's line.
    pub fn require(&self, key: &str, problems: &mut Problems) -> Option<Node<'a>> {
        let node = self.get(key);
        if node.is_none() && self.value.is_object() {
            let within = if self.path.is_empty() {
                String::new()
            } else {
                format!(" in `{}`", self.path)
            };
            problems.at(self, format!("missing key `{key}`{within}"));
        }
        node
    }

    /// The string at optional key `key` (none when absent; a problem when not a string).
    pub fn string(&self, key: &str, problems: &mut Problems) -> Option<String> {
        self.get(key)
            .and_then(|n| n.str(problems))
            .map(str::to_string)
    }

    pub fn str(&self, problems: &mut Problems) -> Option<&'a str> {
        match self.value {
            Value::String(s) => Some(s),
            other => {
                problems.at(
                    self,
                    format!("`{}` must be a string, not `{other}`", self.path()),
                );
                None
            }
        }
    }

    /// A string, or a number or boolean written without quotes, as text.
    pub fn text(&self, problems: &mut Problems) -> Option<String> {
        match self.value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            other => {
                problems.at(
                    self,
                    format!("`{}` must be a string, not `{other}`", self.path()),
                );
                None
            }
        }
    }

    pub fn u32(&self, problems: &mut Problems) -> Option<u32> {
        match self.value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                problems.at(
                    self,
                    format!(
                        "`{}` must be a whole number, not `{}`",
                        self.path(),
                        self.value
                    ),
                );
                None
            }
        }
    }

    pub fn bool(&self, problems: &mut Problems) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(*b),
            other => {
                problems.at(
                    self,
                    format!("`{}` must be true or false, not `{other}`", self.path()),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unknown_key_is_reported_at_its_line() {
        let doc = SpannedDoc::parse("a: 1\nb:\n  c: x\n  d: y\nzz: 2\n", "f.yaml").unwrap();
        let mut p = Problems::default();
        let root = doc.root();
        root.mapping(&["a", "b"], &mut p);
        root.get("b").unwrap().mapping(&["c"], &mut p);
        let lines: Vec<String> = p.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "f.yaml:5: unknown key `zz`; expected one of: a, b".to_string(),
                "f.yaml:4: unknown key `d` in `b`; expected one of: c".to_string(),
            ]
        );
    }

    #[test]
    fn type_errors_name_the_path_and_line() {
        let doc = SpannedDoc::parse("list:\n  - x: 1\n  - x: nope\n", "f.yaml").unwrap();
        let mut p = Problems::default();
        for item in doc.root().get("list").unwrap().items(&mut p) {
            item.get("x").unwrap().u32(&mut p);
        }
        assert_eq!(p.0.len(), 1);
        assert_eq!(
            p.0[0].to_string(),
            "f.yaml:3: `list[1].x` must be a whole number, not `\"nope\"`"
        );
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let err = SpannedDoc::parse("a: [1, 2\nb: 3\n", "f.yaml").unwrap_err();
        assert!(err.line >= 1);
        assert_eq!(err.file, "f.yaml");
    }
}
