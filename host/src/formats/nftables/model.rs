//! The tables, sets and chains read from a ruleset, and their JSON with spans.

use serde_json::{Value, json};

use crate::wit;

#[derive(Debug, Clone, Default)]
pub(super) struct Table {
    pub(super) family: String,
    pub(super) name: String,
    pub(super) line: u32,
    pub(super) end: u32,
    pub(super) sets: Vec<Set>,
    pub(super) chains: Vec<Chain>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Set {
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) flags: Vec<String>,
    pub(super) elements: Vec<String>,
    pub(super) line: u32,
    pub(super) end: u32,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Chain {
    pub(super) name: String,
    pub(super) kind: Option<String>,
    pub(super) hook: Option<String>,
    pub(super) priority: Option<String>,
    pub(super) policy: Option<String>,
    pub(super) line: u32,
    pub(super) end: u32,
    pub(super) rules: Vec<(u32, Value)>,
}

impl Table {
    pub(super) fn emit(&self, pointer: &str, spans: &mut Vec<wit::Span>) -> Value {
        spans.push(wit::Span {
            pointer: pointer.to_string(),
            line: self.line,
            end_line: self.end.max(self.line),
        });
        let sets: Vec<Value> = self
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                spans.push(wit::Span {
                    pointer: format!("{pointer}/sets/{i}"),
                    line: s.line,
                    end_line: s.end.max(s.line),
                });
                json!({ "name": s.name, "type": s.kind, "flags": s.flags, "elements": s.elements })
            })
            .collect();
        let chains: Vec<Value> = self
            .chains
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let cp = format!("{pointer}/chains/{i}");
                spans.push(wit::Span { pointer: cp.clone(), line: c.line, end_line: c.end.max(c.line) });
                let rules: Vec<Value> = c
                    .rules
                    .iter()
                    .enumerate()
                    .map(|(r, (line, v))| {
                        spans.push(wit::Span { pointer: format!("{cp}/rules/{r}"), line: *line, end_line: *line });
                        v.clone()
                    })
                    .collect();
                json!({ "name": c.name, "type": c.kind, "hook": c.hook, "priority": c.priority, "policy": c.policy, "rules": rules })
            })
            .collect();
        json!({ "family": self.family, "name": self.name, "sets": sets, "chains": chains })
    }
}

pub(super) fn chain_index(table: &mut Table, name: &str, line: u32) -> usize {
    if let Some(i) = table.chains.iter().position(|c| c.name == name) {
        return i;
    }
    table.chains.push(Chain {
        name: name.to_string(),
        line,
        end: line,
        ..Chain::default()
    });
    table.chains.len() - 1
}

pub(super) fn set_index(table: &mut Table, name: &str, line: u32) -> usize {
    if let Some(i) = table.sets.iter().position(|s| s.name == name) {
        return i;
    }
    table.sets.push(Set {
        name: name.to_string(),
        line,
        end: line,
        ..Set::default()
    });
    table.sets.len() - 1
}
