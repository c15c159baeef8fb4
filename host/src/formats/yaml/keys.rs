//! Mapping keys with PyYAML's dict semantics: which keys are the same key, which one
//! counts, and what merge keys (`<<`) bring in.

use std::collections::HashMap;

use super::scalar::{self, Scalar};
use super::tree::{Entry, Issue, Map, Node, Value};

/// A mapping key as a Python dict compares it: `True == 1 == 1.0`, `"1" != 1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum KeyId {
    Str(String),
    Int(String),
    Float(u64),
    Null,
}

/// PyYAML's dict semantics: a key seen again keeps its first position and takes the
/// last value; Python keys `1`, `1.0` and `True` are one key (the first one's text
/// stays). `json.dumps` may then still write two keys with the same text (`1` and
/// `"1"`), of which a JSON reader keeps the last.
pub(super) fn dedup(merges: Vec<Entry>, own: Vec<Entry>, issues: &mut Vec<Issue>) -> Map {
    let merged = merges.len();
    let mut entries: Vec<Entry> = merges.into_iter().chain(own).collect();
    let mut by_id: HashMap<KeyId, usize> = HashMap::new();
    let mut order: Vec<usize> = Vec::new();
    for i in 0..entries.len() {
        let Some(&slot) = by_id.get(&entries[i].id) else {
            by_id.insert(entries[i].id.clone(), order.len());
            order.push(i);
            continue;
        };
        let first = order[slot];
        if i >= merged && first >= merged {
            let message = format!(
                "duplicate key `{}` (first at line {}); the last one counts",
                entries[i].key, entries[first].line
            );
            issues.push(Issue {
                code: "duplicate-key",
                line: entries[i].line,
                message,
            });
        }
        entries[i].key = entries[first].key.clone();
        order[slot] = i;
    }
    let mut by_text: HashMap<&str, usize> = HashMap::new();
    let mut dropped = vec![false; order.len()];
    let mut clashes = Vec::new();
    for (slot, &i) in order.iter().enumerate() {
        if let Some(prev) = by_text.insert(entries[i].key.as_str(), slot) {
            dropped[prev] = true;
            clashes.push(i);
        }
    }
    for i in clashes {
        let message = format!(
            "keys of different types both read as `{}` in JSON; the last one counts",
            entries[i].key
        );
        issues.push(Issue {
            code: "duplicate-key",
            line: entries[i].line,
            message,
        });
    }
    let order = order
        .into_iter()
        .zip(dropped)
        .filter(|(_, d)| !d)
        .map(|(i, _)| i)
        .collect();
    Map { entries, order }
}

/// The pairs a merge key (`<<: *base` or `<<: [*a, *b]`) on `line` brings in. They come
/// before the mapping's own pairs; with a list, earlier mappings win (PyYAML reverses it).
pub(super) fn merged_pairs(line: u32, value: Node, issues: &mut Vec<Issue>) -> Vec<Entry> {
    let mut pairs = Vec::new();
    let mut refuse = |line, message: &str| {
        issues.push(Issue {
            code: "unsupported-value",
            line,
            message: message.into(),
        });
    };
    match value.value {
        Value::Map(map) => pairs.extend(effective(map)),
        Value::Seq(items) => {
            for item in items.into_iter().rev() {
                match item.node.value {
                    Value::Map(map) => pairs.extend(effective(map)),
                    _ => refuse(
                        item.line,
                        "a merge key (`<<`) lists something that is not a mapping; PyYAML refuses it",
                    ),
                }
            }
        }
        Value::Scalar(_) => refuse(
            line,
            "a merge key (`<<`) needs a mapping or a list of mappings; PyYAML refuses this one",
        ),
    }
    for pair in &mut pairs {
        pair.merged = true;
        pair.line = line;
    }
    pairs
}

/// The key's JSON text (as `json.dumps` writes a non-string key) and its Python identity.
pub(super) fn key_of(value: &Scalar) -> (String, KeyId) {
    match value {
        Scalar::Str(s) => (s.clone(), KeyId::Str(s.clone())),
        Scalar::Null => ("null".into(), KeyId::Null),
        Scalar::Bool(b) => (b.to_string(), KeyId::Int(if *b { "1" } else { "0" }.into())),
        Scalar::Int(d) => (d.clone(), KeyId::Int(d.clone())),
        Scalar::Float(f) => {
            let id = if f.is_finite() && f.fract() == 0.0 {
                let digits = format!("{f:.0}");
                KeyId::Int(if digits == "-0" { "0".into() } else { digits })
            } else {
                KeyId::Float(f.to_bits())
            };
            (scalar::python_float_repr(*f), id)
        }
    }
}

/// The pairs of a mapping that count, in order.
fn effective(map: Map) -> Vec<Entry> {
    let mut slots: Vec<Option<Entry>> = map.entries.into_iter().map(Some).collect();
    map.order
        .iter()
        .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
        .collect()
}
