//! The tables, sets and chains read from a ruleset, and their WIT form.

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
    pub(super) policy: Option<wit::NftPolicy>,
    pub(super) line: u32,
    pub(super) end: u32,
    pub(super) rules: Vec<wit::NftRule>,
}

impl Table {
    /// The table as the WIT hands it to policies (only families of `FAMILIES` are read).
    pub(super) fn emit(self) -> wit::NftTable {
        use wit::NftFamily as F;
        let family = match self.family.as_str() {
            "ip6" => F::Ip6,
            "inet" => F::Inet,
            "arp" => F::Arp,
            "bridge" => F::Bridge,
            "netdev" => F::Netdev,
            _ => F::Ip,
        };
        wit::NftTable {
            family,
            name: self.name,
            line: self.line,
            end_line: self.end.max(self.line),
            sets: self
                .sets
                .into_iter()
                .map(|s| wit::NftSet {
                    name: s.name,
                    key_type: s.kind,
                    flags: s.flags,
                    elements: s.elements,
                    line: s.line,
                    end_line: s.end.max(s.line),
                })
                .collect(),
            chains: self.chains.into_iter().map(Chain::emit).collect(),
        }
    }
}

impl Chain {
    fn emit(self) -> wit::NftChain {
        let chain_type = self.kind.map(|k| match k.as_str() {
            "filter" => wit::NftChainType::Filter,
            "nat" => wit::NftChainType::Nat,
            "route" => wit::NftChainType::Route,
            _ => wit::NftChainType::Other(k),
        });
        let hook = self.hook.map(|h| match h.as_str() {
            "prerouting" => wit::NftHook::Prerouting,
            "input" => wit::NftHook::Input,
            "forward" => wit::NftHook::Forward,
            "output" => wit::NftHook::Output,
            "postrouting" => wit::NftHook::Postrouting,
            "ingress" => wit::NftHook::Ingress,
            "egress" => wit::NftHook::Egress,
            _ => wit::NftHook::Other(h),
        });
        wit::NftChain {
            name: self.name,
            chain_type,
            hook,
            priority: self.priority,
            policy: self.policy,
            line: self.line,
            end_line: self.end.max(self.line),
            rules: self.rules,
        }
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
