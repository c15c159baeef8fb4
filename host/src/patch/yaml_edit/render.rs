//! JSON values written as YAML text that PyYAML reads back to the same value.
//!
//! Strings are left plain only when PyYAML would read them back as that very string (not
//! `on`, `123`, `~`, `2001-12-14`, nothing with `: ` or ` #`…); otherwise single-quoted,
//! or double-quoted with escapes when they hold control or line-break characters. Floats
//! get the `.` and signed exponent YAML 1.1 needs (`1.0e+20`). Objects and arrays are
//! block style at the indentation the document already uses, `{}`/`[]` when empty, and
//! flow style inside flow collections. A document that is itself a flow collection (a
//! JSON file) gets JSON.

use std::fmt::Write as _;

use serde_json::Value;

use super::lines::column;
use crate::formats::yaml::scalar::{self, Scalar};
use crate::formats::yaml::tree::{self, Style, Tree};

/// How the document being edited is laid out.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    /// Indentation of a nested block mapping relative to its key.
    pub step: usize,
    /// Indentation of a block sequence's `-` relative to its key (0: `key:\n- item`).
    pub seq_indent: usize,
    /// The line break the document uses.
    pub nl: &'static str,
    /// The document is JSON (its root is a flow collection): write JSON.
    pub json: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            step: 2,
            seq_indent: 2,
            nl: "\n",
            json: false,
        }
    }
}

impl Layout {
    /// A value that fits after `key: ` in block context: a scalar or an empty collection.
    pub(super) fn inline(&self, value: &Value) -> Option<String> {
        match value {
            Value::Object(map) if !map.is_empty() => None,
            Value::Array(items) if !items.is_empty() => None,
            Value::Object(_) => Some("{}".into()),
            Value::Array(_) => Some("[]".into()),
            _ if self.json => Some(self.flow(value)),
            scalar => Some(plain_scalar(scalar)),
        }
    }

    /// A value in flow context (`{a: 1, b: [x, y]}`), on one line.
    pub(super) fn flow(&self, value: &Value) -> String {
        if self.json {
            let mut out = String::new();
            write_json(&mut out, value, None, 0);
            return out;
        }
        match value {
            Value::Object(map) => {
                let pairs: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("{}: {}", self.key(k, true), self.flow(v)))
                    .collect();
                format!("{{{}}}", pairs.join(", "))
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(|v| self.flow(v)).collect();
                format!("[{}]", items.join(", "))
            }
            Value::String(s) => string(s, true),
            scalar => plain_scalar(scalar),
        }
    }

    /// A value in flow context that may take several lines (JSON documents are written
    /// pretty, continuation lines indented by `indent`).
    pub(super) fn flow_at(&self, value: &Value, indent: &str) -> String {
        if !self.json {
            return self.flow(value);
        }
        let mut out = String::new();
        write_json(&mut out, value, Some(&format!("{}{indent}", self.nl)), 0);
        out
    }

    /// A mapping key.
    pub(super) fn key(&self, key: &str, flow: bool) -> String {
        if self.json {
            return double_quoted(key);
        }
        string(key, flow)
    }

    /// The lines of `key: value` at `indent` spaces.
    pub(super) fn entry_lines(&self, key: &str, value: &Value, indent: usize) -> Vec<String> {
        let pad = " ".repeat(indent);
        let key = self.key(key, false);
        match self.inline(value) {
            Some(text) => vec![format!("{pad}{key}: {text}")],
            None => {
                let child = indent
                    + if value.is_array() {
                        self.seq_indent
                    } else {
                        self.step
                    };
                let mut lines = vec![format!("{pad}{key}:")];
                lines.extend(self.block_lines(value, child));
                lines
            }
        }
    }

    /// The lines of `- value` with the dash at `indent` spaces.
    pub(super) fn item_lines(&self, value: &Value, indent: usize) -> Vec<String> {
        let pad = " ".repeat(indent);
        match self.inline(value) {
            Some(text) => vec![format!("{pad}- {text}")],
            None => {
                let mut lines = self.block_lines(value, indent + 2);
                if let Some(first) = lines.first_mut() {
                    *first = format!("{pad}- {}", first.trim_start());
                }
                lines
            }
        }
    }

    /// The lines of a non-empty object or array in block style at `indent` spaces.
    pub(super) fn block_lines(&self, value: &Value, indent: usize) -> Vec<String> {
        match value {
            Value::Object(map) => map
                .iter()
                .flat_map(|(k, v)| self.entry_lines(k, v, indent))
                .collect(),
            Value::Array(items) => items
                .iter()
                .flat_map(|v| self.item_lines(v, indent))
                .collect(),
            scalar => vec![format!("{}{}", " ".repeat(indent), self.flow(scalar))],
        }
    }
}

/// JSON text that YAML 1.1 reads back the same: floats as `1.0e+20` (PyYAML reads `1e20`
/// as a string), and NEL, LS, PS escaped (PyYAML takes them for line breaks). `nl` is the
/// line break plus base indentation when pretty-printing.
fn write_json(out: &mut String, value: &Value, nl: Option<&str>, depth: usize) {
    let (open, close, len) = match value {
        Value::Object(map) => ('{', '}', map.len()),
        Value::Array(items) => ('[', ']', items.len()),
        Value::String(s) => return out.push_str(&double_quoted(s)),
        scalar => return out.push_str(&plain_scalar(scalar)),
    };
    out.push(open);
    let members: Box<dyn Iterator<Item = (Option<&String>, &Value)>> = match value {
        Value::Object(map) => Box::new(map.iter().map(|(k, v)| (Some(k), v))),
        Value::Array(items) => Box::new(items.iter().map(|v| (None, v))),
        _ => Box::new(std::iter::empty()),
    };
    for (i, (key, member)) in members.enumerate() {
        if i > 0 {
            out.push(',');
            if nl.is_none() {
                out.push(' ');
            }
        }
        if let Some(nl) = nl {
            out.push_str(nl);
            out.push_str(&"  ".repeat(depth + 1));
        }
        if let Some(key) = key {
            out.push_str(&double_quoted(key));
            out.push_str(": ");
        }
        write_json(out, member, nl, depth + 1);
    }
    if let (Some(nl), true) = (nl, len > 0) {
        out.push_str(nl);
        out.push_str(&"  ".repeat(depth));
    }
    out.push(close);
}

fn plain_scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => float(f),
            _ => n.to_string(),
        },
        Value::String(s) => string(s, false),
        other => other.to_string(),
    }
}

/// A float in YAML 1.1 syntax: PyYAML needs a `.` and a signed exponent.
fn float(f: f64) -> String {
    let text = format!("{f:?}");
    let Some((mantissa, exp)) = text.split_once('e') else {
        return text;
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    let exp = if exp.starts_with('-') {
        exp.to_string()
    } else {
        format!("+{exp}")
    };
    format!("{mantissa}e{exp}")
}

/// A string scalar, plain when that reads back as the same string, else quoted.
pub(super) fn string(s: &str, flow: bool) -> String {
    if plain_ok(s, flow) {
        s.to_string()
    } else if s.chars().all(|c| printable(c) && c != '\t') {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        double_quoted(s)
    }
}

/// Whether `s` can be written plain and still be read (by PyYAML and by saphyr) as the
/// string `s`.
fn plain_ok(s: &str, flow: bool) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let second = s.chars().nth(1);
    if s.trim() != s || !s.chars().all(|c| printable(c) && c != '\t') {
        return false;
    }
    // Indicators that cannot start a plain scalar; `-` may when a non-space follows.
    if "?:,[]{}#&*!|>'\"%@`".contains(first) || first == '-' && second.is_none_or(|c| c == ' ') {
        return false;
    }
    if s.starts_with("---")
        || s.starts_with("...")
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
    {
        return false;
    }
    if flow && s.contains([',', '[', ']', '{', '}', ':', '#']) {
        return false;
    }
    if matches!(s, "=" | "<<") || scalar::is_timestamp(s) {
        return false;
    }
    scalar::resolve_plain(s) == Scalar::Str(s.to_string())
}

/// Characters a YAML reader takes as they are (not control or line-break characters).
fn printable(c: char) -> bool {
    match c {
        '\t' => true,
        '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => false,
        c => !c.is_control(),
    }
}

/// A double-quoted scalar; its escapes are all valid JSON too.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if !printable(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The indentation the document already uses, from its first nested block mapping and
/// its first block sequence under a key.
pub(super) fn layout(src: &str, tree: &Tree) -> Layout {
    let mut layout = Layout {
        nl: if tree.crlf { "\r\n" } else { "\n" },
        ..Layout::default()
    };
    let Some(root) = &tree.root else {
        return layout;
    };
    layout.json = root.style.is_flow_collection();
    let (mut step, mut seq) = (None, None);
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if step.is_some() && seq.is_some() {
            break;
        }
        match &node.value {
            tree::Value::Map(map) if node.style == Style::BlockMap => {
                for entry in map.entries.iter().filter(|e| !e.merged) {
                    let col = column(src, entry.key_start);
                    match &entry.node.value {
                        tree::Value::Map(child)
                            if step.is_none() && entry.node.style == Style::BlockMap =>
                        {
                            step = child
                                .entries
                                .iter()
                                .find(|e| !e.merged)
                                .map(|e| column(src, e.key_start).saturating_sub(col))
                                .filter(|&s| s > 0);
                        }
                        tree::Value::Seq(items)
                            if seq.is_none() && entry.node.style == Style::BlockSeq =>
                        {
                            seq = items
                                .first()
                                .and_then(|i| i.dash)
                                .map(|d| column(src, d).saturating_sub(col));
                        }
                        _ => {}
                    }
                    stack.push(&entry.node);
                }
            }
            tree::Value::Seq(items) => stack.extend(items.iter().rev().map(|i| &i.node)),
            _ => {}
        }
    }
    layout.step = step.unwrap_or(2);
    layout.seq_indent = seq.unwrap_or(layout.step);
    layout
}
