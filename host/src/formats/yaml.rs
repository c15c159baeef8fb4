//! YAML and JSON documents (Patroni, etcd, topology files) as JSON text plus a
//! pointer→line map.
//!
//! The syntax is read by `saphyr-parser` (events with positions, see [`tree`]); the
//! values are what Patroni sees, since it loads its configuration with PyYAML's
//! `safe_load`: YAML 1.1 scalars ([`scalar`]: `on`/`yes` are booleans, `017` is octal,
//! `1e3` a string), aliases copied, merge keys flattened, the last of duplicate keys kept.
//! The JSON is then what `json.dumps` would write of that value, with three choices where
//! it cannot: non-string keys become their JSON text (`1`, `true`, `null`; `on:` reads as
//! the key `true`, which is also the key Patroni looks up in vain), timestamps stay the
//! string they were written as, and `.inf`/`-.inf`/`.nan` become those strings.
//!
//! Each value gets a [`wit::Span`]: the line of the key or `-` that introduces it and the
//! last line of its text; a value copied by an alias or a merge key gets the line of the
//! alias. A file that does not parse gives `null`, no spans and one `invalid-yaml`
//! diagnostic with the parser's message and line. `crate::patch::yaml_edit` edits these
//! documents through the same tree.

mod keys;
pub(crate) mod scalar;
mod source;
#[cfg(test)]
mod tests;
pub(crate) mod tree;

use std::fmt::Write as _;

use super::{Parsed, diagnostic};
use crate::wit;
use scalar::Scalar;
use tree::{Node, Value};

/// Parses a YAML (or JSON) document.
pub fn parse(src: &str, file: &str) -> Parsed<wit::Structured> {
    let tree = match tree::load(src) {
        Ok(tree) => tree,
        Err(e) => {
            let mut message = format!(
                "cannot parse YAML: {} (line {}, column {})",
                e.message, e.line, e.column
            );
            let line = match simple_key_line(src, &e) {
                Some(key) => {
                    message.push_str(&format!(
                        "; line {key} is neither `key: value` nor a list item"
                    ));
                    key
                }
                None => e.line,
            };
            return Parsed {
                value: wit::Structured {
                    json: "null".into(),
                    spans: Vec::new(),
                },
                diagnostics: vec![diagnostic("invalid-yaml", file, line, message)],
            };
        }
    };
    let mut out = Emitter {
        json: String::with_capacity(src.len() + 16),
        spans: Vec::new(),
        pointer: String::new(),
    };
    match &tree.root {
        Some(root) => out.node(root, root.line, root.end_line),
        None => out.json.push_str("null"),
    }
    let diagnostics = tree
        .issues
        .iter()
        .map(|i| diagnostic(i.code, file, i.line, i.message.clone()))
        .collect();
    Parsed {
        value: wit::Structured {
            json: out.json,
            spans: out.spans,
        },
        diagnostics,
    }
}

/// The line of a mapping entry that has no `:` (a stray `...` or a bare word in a block
/// mapping). saphyr reports it where the next token starts, often the next valid key;
/// PyYAML also names the entry's own line ("while scanning a simple key"), which is the
/// last line with content before that token.
fn simple_key_line(src: &str, e: &tree::LoadError) -> Option<u32> {
    // At the end of the text saphyr already names the entry's line.
    let at_end = src.get(e.at..).is_none_or(|rest| rest.trim().is_empty());
    if e.message != "simple key expect ':'" || e.line < 2 || at_end {
        return None;
    }
    let lines: Vec<&str> = src.lines().collect();
    let at = lines.get(e.line as usize - 1).copied().unwrap_or("");
    let indent = at.len() - at.trim_start().len();
    if e.column as usize > indent + 1 {
        return None;
    }
    (1..e.line).rev().find(|n| {
        let text = lines.get(*n as usize - 1).map_or("", |l| l.trim());
        !text.is_empty() && !text.starts_with('#')
    })
}

/// The JSON text of a loaded value (what `parse` puts in `json`).
pub(crate) fn to_json(node: &Node) -> String {
    let mut out = Emitter {
        json: String::new(),
        spans: Vec::new(),
        pointer: String::new(),
    };
    out.node(node, node.line, node.end_line);
    out.json
}

struct Emitter {
    json: String,
    spans: Vec<wit::Span>,
    pointer: String,
}

impl Emitter {
    fn node(&mut self, node: &Node, line: u32, end_line: u32) {
        self.spans.push(wit::Span {
            pointer: self.pointer.clone(),
            line,
            end_line: end_line.max(line),
        });
        match &node.value {
            Value::Scalar(s) => write_scalar(&mut self.json, s),
            Value::Seq(items) => {
                self.json.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.json.push(',');
                    }
                    let len = self.pointer.len();
                    let _ = write!(self.pointer, "/{i}");
                    self.node(&item.node, item.line, item.node.end_line);
                    self.pointer.truncate(len);
                }
                self.json.push(']');
            }
            Value::Map(map) => {
                self.json.push('{');
                for (n, &i) in map.order.iter().enumerate() {
                    let entry = &map.entries[i];
                    if n > 0 {
                        self.json.push(',');
                    }
                    write_string(&mut self.json, &entry.key);
                    self.json.push(':');
                    let len = self.pointer.len();
                    self.pointer.push('/');
                    escape_segment(&mut self.pointer, &entry.key);
                    self.node(&entry.node, entry.line, entry.node.end_line.max(entry.line));
                    self.pointer.truncate(len);
                }
                self.json.push('}');
            }
        }
    }
}

fn write_scalar(out: &mut String, value: &Scalar) {
    match value {
        Scalar::Null => out.push_str("null"),
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Scalar::Int(digits) => out.push_str(digits),
        // Debug always writes a `.` or an exponent, so the reader keeps it a float.
        Scalar::Float(f) if f.is_finite() => {
            let _ = write!(out, "{f:?}");
        }
        Scalar::Float(f) if f.is_nan() => out.push_str("\".nan\""),
        Scalar::Float(f) => out.push_str(if *f > 0.0 { "\".inf\"" } else { "\"-.inf\"" }),
        Scalar::Str(s) => write_string(out, s),
    }
}

/// A JSON string literal.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One RFC 6901 pointer segment: `~` is `~0`, `/` is `~1`.
fn escape_segment(out: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}
