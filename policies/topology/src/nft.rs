//! An nftables ruleset (the host's `nftables` document, typed `nft-table` records) and
//! what it does to a new connection arriving at the host.
//!
//! The packet is the first of a new connection from another host: `ct state new`, not on
//! loopback, ephemeral source port. Base chains hooked on `prerouting` and `input` of the
//! tables of its family (`ip` or `ip6`, and `inet`) run in hook order, then by priority
//! (`raw` -300, `mangle` -150, `dstnat` -100, `filter` 0, `security` 50, `srcnat` 100,
//! with `± n`). A drop or reject in any of them is final; an accept ends that chain only,
//! the next base chain still runs; a chain that ends without a verdict applies its
//! policy. `jump` returns, `goto` does not, `return` goes back. Conditions patrol cannot
//! know (an interface other than `lo`, marks, `fib`, source ports, rate limits…) count as
//! not matching, and the rules they sit in are reported as uncertain.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use policy_guest::{NftFamily, NftHook, NftOp, NftPolicy, NftRule, NftTable, NftVerdict};

/// A connection attempt.
#[derive(Debug, Clone, Copy)]
pub struct Packet {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: &'static str,
    pub dport: u16,
}

#[derive(Debug, Clone)]
pub struct Chain {
    pub name: String,
    pub hook: Option<NftHook>,
    pub priority: i64,
    pub policy_drop: bool,
    pub line: u32,
    pub end: u32,
    rules: Vec<NftRule>,
    /// The lines of the chain's rules, for placing new ones.
    pub rule_lines: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Table {
    family: NftFamily,
    sets: HashMap<String, Vec<String>>,
    chains: Vec<Chain>,
}

/// Where a verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decider {
    /// A rule: (table, chain, its line).
    Rule(usize, usize, u32),
    /// The policy of a base chain.
    Policy(usize, usize),
    /// No base chain filters this family on input.
    NoChain,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub accepted: bool,
    pub decider: Decider,
    /// Lines of rules whose conditions could not be decided.
    pub uncertain: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct Ruleset {
    tables: Vec<Table>,
}

enum Flow {
    Accept(Decider),
    Drop(Decider),
    /// The chain ended (or returned) without a verdict.
    End,
}

/// `filter - 10` → -10; named priorities as nft knows them.
fn priority(text: &str) -> i64 {
    let words: Vec<&str> = text.split_whitespace().collect();
    let base = |w: &str| match w {
        "raw" => Some(-300),
        "mangle" => Some(-150),
        "dstnat" => Some(-100),
        "filter" => Some(0),
        "security" => Some(50),
        "srcnat" => Some(100),
        n => n.parse().ok(),
    };
    let mut value = words.first().and_then(|w| base(w)).unwrap_or(0);
    if let (Some(op), Some(n)) = (
        words.get(1),
        words.get(2).and_then(|n| n.parse::<i64>().ok()),
    ) {
        value += if *op == "-" { -n } else { n };
    }
    value
}

impl Ruleset {
    /// The ruleset of a host's `nftables` document.
    pub fn new(tables: &[NftTable]) -> Ruleset {
        let tables = tables
            .iter()
            .map(|t| Table {
                family: t.family,
                sets: t
                    .sets
                    .iter()
                    .map(|s| (s.name.clone(), s.elements.clone()))
                    .collect(),
                chains: t
                    .chains
                    .iter()
                    .map(|c| Chain {
                        name: c.name.clone(),
                        hook: c.hook.clone(),
                        priority: c.priority.as_deref().map_or(0, priority),
                        policy_drop: c.policy == Some(NftPolicy::Drop),
                        line: c.line,
                        end: c.end_line,
                        rules: c.rules.clone(),
                        rule_lines: c.rules.iter().map(|r| r.line).collect(),
                    })
                    .collect(),
            })
            .collect();
        Ruleset { tables }
    }

    pub fn chain(&self, t: usize, c: usize) -> Option<&Chain> {
        self.tables.get(t)?.chains.get(c)
    }

    fn base_chains(&self, v6: bool) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize, u8, i64)> = Vec::new();
        for (ti, t) in self.tables.iter().enumerate() {
            let family = match t.family {
                NftFamily::Inet => true,
                NftFamily::Ip => !v6,
                NftFamily::Ip6 => v6,
                _ => false,
            };
            if !family {
                continue;
            }
            for (ci, c) in t.chains.iter().enumerate() {
                let order = match c.hook {
                    Some(NftHook::Prerouting) => 0,
                    Some(NftHook::Input) => 1,
                    _ => continue,
                };
                out.push((ti, ci, order, c.priority));
            }
        }
        out.sort_by_key(|(_, _, o, p)| (*o, *p));
        out.into_iter().map(|(t, c, _, _)| (t, c)).collect()
    }

    /// Whether any base chain filters input for this family.
    pub fn filters(&self, v6: bool) -> bool {
        self.base_chains(v6)
            .iter()
            .any(|(t, c)| is_input(&self.tables[*t].chains[*c]))
    }

    /// What the ruleset does with `p`. The decider of an accept is the last base chain's.
    pub fn evaluate(&self, p: &Packet) -> Outcome {
        let mut uncertain = Vec::new();
        let mut decider = Decider::NoChain;
        for (t, c) in self.base_chains(p.src.is_ipv6()) {
            match self.run(t, c, p, 0, &mut uncertain) {
                Flow::Drop(d) => {
                    return Outcome {
                        accepted: false,
                        decider: d,
                        uncertain,
                    };
                }
                Flow::Accept(d) => {
                    if is_input(&self.tables[t].chains[c]) || decider == Decider::NoChain {
                        decider = d;
                    }
                }
                Flow::End => {
                    let chain = &self.tables[t].chains[c];
                    if chain.policy_drop {
                        return Outcome {
                            accepted: false,
                            decider: Decider::Policy(t, c),
                            uncertain,
                        };
                    }
                    if is_input(chain) || decider == Decider::NoChain {
                        decider = Decider::Policy(t, c);
                    }
                }
            }
        }
        Outcome {
            accepted: true,
            decider,
            uncertain,
        }
    }

    fn run(&self, t: usize, c: usize, p: &Packet, depth: u32, uncertain: &mut Vec<u32>) -> Flow {
        if depth > 16 {
            return Flow::End;
        }
        let table = &self.tables[t];
        for rule in &table.chains[c].rules {
            let mut verdict = match self.rule_matches(table, rule, p) {
                Some(true) => rule.verdict.clone(),
                Some(false) => continue,
                None => {
                    uncertain.push(rule.line);
                    continue;
                }
            };
            if let Some(vmap) = &rule.vmap {
                let left = rule
                    .matches
                    .iter()
                    .find(|m| m.op == NftOp::Vmap)
                    .map(|m| m.left.clone())
                    .unwrap_or_default();
                verdict = vmap
                    .iter()
                    .find(|e| {
                        value_matches(table, &left, std::slice::from_ref(&e.value), p) == Some(true)
                    })
                    .and_then(|e| e.verdict.clone());
            }
            let Some(v) = verdict else { continue };
            let here = Decider::Rule(t, c, rule.line);
            let jump = matches!(v, NftVerdict::Jump(_));
            match v {
                NftVerdict::Accept => return Flow::Accept(here),
                NftVerdict::Drop | NftVerdict::Reject => return Flow::Drop(here),
                NftVerdict::Queue => {
                    uncertain.push(rule.line);
                    return Flow::Accept(here);
                }
                NftVerdict::Return => return Flow::End,
                NftVerdict::Jump(target) | NftVerdict::Goto(target) => {
                    let Some(ci) = table.chains.iter().position(|x| x.name == target) else {
                        continue;
                    };
                    match self.run(t, ci, p, depth + 1, uncertain) {
                        Flow::End if jump => continue,
                        Flow::End => return Flow::End,
                        other => return other,
                    }
                }
                NftVerdict::Continue => continue,
            }
        }
        Flow::End
    }

    /// `Some(true)` when every condition holds, `Some(false)` when one fails, `None` when
    /// one cannot be decided (and none fails).
    fn rule_matches(&self, table: &Table, rule: &NftRule, p: &Packet) -> Option<bool> {
        let mut certain = rule.unknown.is_empty();
        for m in &rule.matches {
            if m.op == NftOp::Vmap {
                continue;
            }
            match value_matches(table, &m.left, &m.right, p) {
                Some(hit) => {
                    let hit = if m.op == NftOp::Ne { !hit } else { hit };
                    if !hit {
                        return Some(false);
                    }
                }
                None => certain = false,
            }
        }
        certain.then_some(true)
    }
}

fn is_input(chain: &Chain) -> bool {
    matches!(chain.hook, Some(NftHook::Input))
}

/// Whether the packet's field named `left` is one of `values` (`None`: unknowable).
fn value_matches(table: &Table, left: &str, values: &[String], p: &Packet) -> Option<bool> {
    let expanded: Vec<String> = values
        .iter()
        .flat_map(|v| match v.strip_prefix('@') {
            Some(set) => table.sets.get(set).cloned().unwrap_or_default(),
            None => vec![v.clone()],
        })
        .collect();
    let v6 = p.src.is_ipv6();
    let any = |f: &dyn Fn(&str) -> Option<bool>| -> Option<bool> {
        let mut unknown = false;
        for v in &expanded {
            match f(v) {
                Some(true) => return Some(true),
                Some(false) => {}
                None => unknown = true,
            }
        }
        if unknown { None } else { Some(false) }
    };
    match left {
        "ip saddr" | "ip daddr" | "ip6 saddr" | "ip6 daddr" => {
            if left.starts_with("ip6") != v6 {
                return Some(false);
            }
            let addr = if left.ends_with("saddr") {
                p.src
            } else {
                p.dst
            };
            any(&|v| addr_in(addr, v))
        }
        "tcp dport" | "udp dport" | "sctp dport" | "dccp dport" | "udplite dport" => {
            if left.split(' ').next() != Some(p.proto) {
                return Some(false);
            }
            any(&|v| port_in(p.dport, v))
        }
        "th dport" => any(&|v| port_in(p.dport, v)),
        "l4proto" | "ip protocol" | "ip6 nexthdr" => {
            if (left == "ip protocol" && v6) || (left == "ip6 nexthdr" && !v6) {
                return Some(false);
            }
            any(&|v| Some(proto_is(p.proto, v)))
        }
        "nfproto" => any(&|v| Some(v == if v6 { "ipv6" } else { "ipv4" })),
        "ip version" => any(&|v| Some(v == if v6 { "6" } else { "4" })),
        "ct state" => any(&|v| Some(v == "new")),
        "ct status" => Some(false),
        "iifname" | "iif" => any(&|v| {
            if v == "lo" || v == "1" {
                Some(false)
            } else {
                None
            }
        }),
        "pkttype" => any(&|v| Some(v == "host")),
        _ => None,
    }
}

fn proto_is(proto: &str, v: &str) -> bool {
    v == proto || (proto == "tcp" && v == "6") || (proto == "udp" && v == "17")
}

/// `10.0.0.1`, `10.0.0.0/8`, `10.0.0.1-10.0.0.9`.
fn addr_in(addr: IpAddr, v: &str) -> Option<bool> {
    if let Some((a, b)) = v.split_once('-') {
        let (a, b) = (
            a.trim().parse::<IpAddr>().ok()?,
            b.trim().parse::<IpAddr>().ok()?,
        );
        return Some(a.is_ipv4() == addr.is_ipv4() && a <= addr && addr <= b);
    }
    if let Ok(net) = v.parse::<IpNet>() {
        return Some(net.contains(&addr));
    }
    v.parse::<IpAddr>().ok().map(|a| a == addr)
}

/// Service names nft resolves through /etc/services (Debian's netbase), for the ports a
/// PostgreSQL HA stack and a host's usual services use.
const SERVICES: &[(&str, u16)] = &[
    ("ssh", 22),
    ("domain", 53),
    ("http", 80),
    ("https", 443),
    ("ntp", 123),
    ("snmp", 161),
    ("ldap", 389),
    ("ldaps", 636),
    ("postgresql", 5432),
    ("etcd-client", 2379),
    ("etcd-server", 2380),
    ("http-alt", 8080),
    ("webcache", 8080),
    ("zabbix-agent", 10050),
    ("zabbix-trapper", 10051),
];

fn port_value(v: &str) -> Option<u16> {
    v.parse()
        .ok()
        .or_else(|| SERVICES.iter().find(|(n, _)| *n == v).map(|(_, p)| *p))
}

fn port_in(port: u16, v: &str) -> Option<bool> {
    if let Some((a, b)) = v.split_once('-') {
        return Some(port_value(a.trim())? <= port && port <= port_value(b.trim())?);
    }
    port_value(v).map(|p| p == port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(priority("filter - 10"), -10);
        assert_eq!(priority("raw"), -300);
        assert_eq!(priority("-5"), -5);
        let a: IpAddr = "10.0.1.12".parse().expect("ip");
        assert_eq!(addr_in(a, "10.0.1.0/24"), Some(true));
        assert_eq!(addr_in(a, "10.0.1.10-10.0.1.20"), Some(true));
        assert_eq!(addr_in(a, "10.0.2.12"), Some(false));
        assert_eq!(port_in(8301, "8300-8302"), Some(true));
        assert_eq!(port_in(5432, "postgresql"), Some(true));
        assert_eq!(port_in(5432, "nonsense"), None);
    }
}
