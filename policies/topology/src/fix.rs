//! Fixes for a host's nftables ruleset: lines inserted right before the rule (or chain
//! policy) that decided wrongly, indented like their neighbours.
//!
//! A blocked port gets `ip saddr { needed } <proto> dport <port> accept`; a port that is
//! too open gets the same accept for the hosts that need it (if any) followed by
//! `<proto> dport <port> drop`, so the deciding rule no longer opens that port while it
//! keeps doing what else it does. All lines going to one place form one patch, shared by
//! the findings that asked for them; accepts come before drops.

use std::collections::BTreeMap;
use std::net::IpAddr;

use policy_guest::{Document, Edit, LineEdit, Location, Patch, Report};

use crate::nft::{Decider, Ruleset};
use policy_guest::PortSource;

/// Where a decision is made, as a finding location.
pub fn location(rules: &Ruleset, doc: &Document, d: Decider) -> Location {
    let line = match d {
        Decider::Rule(_, _, line) => line,
        Decider::Policy(t, c) => rules.chain(t, c).map_or(1, |c| c.line),
        Decider::NoChain => 1,
    };
    Location {
        file: doc.path.clone(),
        line,
        end_line: None,
        pointer: None,
    }
}

/// A patch that appends `text` to the ruleset.
pub fn append(doc: &Document, text: &str) -> Patch {
    let n = doc.text.lines().count() as u32;
    Patch {
        file: doc.path.clone(),
        description: "append the cluster's port rules (`patrol ports --format nftables`)".into(),
        edits: vec![Edit::Lines(LineEdit {
            start: n + 1,
            end: n,
            text: format!("\n{}", text.trim_end()),
        })],
    }
}

#[derive(Debug, Default)]
struct Point {
    indent: String,
    accepts: Vec<String>,
    /// proto → ports to drop.
    drops: BTreeMap<String, Vec<u16>>,
    findings: Vec<usize>,
}

/// The fixes of one topology, gathered by insertion point.
#[derive(Debug, Default)]
pub struct Fixes {
    points: BTreeMap<(String, u32), Point>,
}

fn indent_of(line: &str) -> String {
    line.chars().take_while(|c| c.is_whitespace()).collect()
}

/// `ip saddr { a, b } tcp dport 5432 accept` lines (one per family).
fn accepts(port: u16, proto: &str, from: &[PortSource]) -> Vec<String> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for s in from {
        match s.address.split('/').next().unwrap_or("").parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => v4.push(s.address.clone()),
            Ok(IpAddr::V6(_)) => v6.push(s.address.clone()),
            Err(_) => {}
        }
    }
    let set = |l: &Vec<String>| {
        if l.len() == 1 {
            l[0].clone()
        } else {
            format!("{{ {} }}", l.join(", "))
        }
    };
    let mut out = Vec::new();
    if !v4.is_empty() {
        out.push(format!("ip saddr {} {proto} dport {port} accept", set(&v4)));
    }
    if !v6.is_empty() {
        out.push(format!(
            "ip6 saddr {} {proto} dport {port} accept",
            set(&v6)
        ));
    }
    out
}

impl Fixes {
    /// The insertion point before the decider; `None` when no line can be written there
    /// (a chain written on one line).
    fn point(&mut self, rules: &Ruleset, doc: &Document, d: Decider) -> Option<&mut Point> {
        let lines: Vec<&str> = doc.text.lines().collect();
        let (before, indent) = match d {
            Decider::Rule(_, _, line) => {
                (line, indent_of(lines.get(line.checked_sub(1)? as usize)?))
            }
            Decider::Policy(t, c) => {
                let chain = rules.chain(t, c)?;
                if chain.end <= chain.line || lines.get(chain.end as usize - 1)?.trim() != "}" {
                    return None;
                }
                let indent = match chain.rule_lines.last() {
                    Some(l) => indent_of(lines.get(*l as usize - 1)?),
                    None => format!("{}\t", indent_of(lines.get(chain.end as usize - 1)?)),
                };
                (chain.end, indent)
            }
            Decider::NoChain => return None,
        };
        let p = self.points.entry((doc.path.clone(), before)).or_default();
        p.indent = indent;
        Some(p)
    }

    /// Accept `port` from `from` before the decider.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        &mut self,
        rules: &Ruleset,
        doc: &Document,
        d: Decider,
        port: u16,
        proto: &str,
        from: &[PortSource],
        finding: usize,
    ) {
        let Some(p) = self.point(rules, doc, d) else {
            return;
        };
        for l in accepts(port, proto, from) {
            if !p.accepts.contains(&l) {
                p.accepts.push(l);
            }
        }
        p.findings.push(finding);
    }

    /// Accept `port` only from `from`, and drop it from everyone else, before the decider.
    #[allow(clippy::too_many_arguments)]
    pub fn restrict(
        &mut self,
        rules: &Ruleset,
        doc: &Document,
        d: Decider,
        port: u16,
        proto: &str,
        from: &[PortSource],
        finding: usize,
    ) {
        let Some(p) = self.point(rules, doc, d) else {
            return;
        };
        for l in accepts(port, proto, from) {
            if !p.accepts.contains(&l) {
                p.accepts.push(l);
            }
        }
        let ports = p.drops.entry(proto.to_string()).or_default();
        if !ports.contains(&port) {
            ports.push(port);
        }
        p.findings.push(finding);
    }

    /// Adds one patch per insertion point to the findings that asked for it.
    pub fn emit(self, report: &mut Report) {
        for ((file, before), p) in self.points {
            let mut lines: Vec<String> = p
                .accepts
                .iter()
                .map(|l| format!("{}{l}", p.indent))
                .collect();
            for (proto, ports) in &p.drops {
                let set = if ports.len() == 1 {
                    ports[0].to_string()
                } else {
                    format!(
                        "{{ {} }}",
                        ports
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                lines.push(format!("{}{proto} dport {set} drop", p.indent));
            }
            if lines.is_empty() {
                continue;
            }
            let patch = Patch {
                file: file.clone(),
                description: format!("insert the cluster's port rules before line {before}"),
                edits: vec![Edit::Lines(LineEdit {
                    start: before,
                    end: before - 1,
                    text: lines.join("\n"),
                })],
            };
            for f in p.findings {
                report.fix(f, patch.clone());
            }
        }
    }
}
