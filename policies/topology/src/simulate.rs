//! The connections simulated for one host, grouped by the rule or chain policy that
//! decides them: the needed ones that are dropped, and the unneeded ones that get in.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::nft::{Decider, Packet, Ruleset};
use policy_guest::{PortHost, PortSource};

/// Who probes a host: another host of the topology, a client network, the outside.
pub struct Probe {
    pub label: String,
    pub ip: IpAddr,
    pub outside: bool,
}

/// Needed connections to one port that a rule drops.
pub struct Blocked {
    pub service: String,
    pub port: u16,
    pub proto: String,
    pub sources: Vec<PortSource>,
}

/// Unneeded connections to one port that a rule lets in.
pub struct Admitted {
    pub service: String,
    pub port: u16,
    pub proto: String,
    /// Who must reach the port (what the fix keeps).
    pub needed: Vec<PortSource>,
    pub who: Vec<String>,
}

/// The unneeded connections one rule lets in; `outside`: some come from outside.
#[derive(Default)]
pub struct Open {
    pub outside: bool,
    pub ports: Vec<Admitted>,
}

/// What the ruleset does to one host's connections.
#[derive(Default)]
pub struct Verdicts {
    pub blocked: BTreeMap<DeciderKey, Vec<Blocked>>,
    pub open: BTreeMap<DeciderKey, Open>,
    /// Lines of rules whose conditions could not be decided.
    pub uncertain: Vec<u32>,
}

/// A representative address of a source (a network's first host).
pub fn ip_of(address: &str) -> Option<IpAddr> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Some(ip);
    }
    let net: ipnet::IpNet = address.parse().ok()?;
    net.hosts().next().or(Some(net.addr()))
}

fn covered(ip: IpAddr, from: &[PortSource]) -> bool {
    from.iter()
        .any(|s| match s.address.parse::<ipnet::IpNet>() {
            Ok(n) => n.contains(&ip),
            Err(_) => s.address.parse::<IpAddr>().is_ok_and(|a| a == ip),
        })
}

/// The other hosts, every `clients` network of the topology, and the outside addresses.
pub fn probes(host: &PortHost, hosts: &[PortHost], outside: &[String]) -> Vec<Probe> {
    let mut out: Vec<Probe> = hosts
        .iter()
        .filter(|h| h.name != host.name)
        .filter_map(|h| {
            Some(Probe {
                label: format!("{} {}", h.name, h.address),
                ip: h.address.parse().ok()?,
                outside: false,
            })
        })
        .collect();
    let mut clients: Vec<&str> = hosts
        .iter()
        .flat_map(|h| h.services.iter().flat_map(|s| s.from.iter()))
        .filter(|s| s.name == "clients")
        .map(|s| s.address.as_str())
        .collect();
    clients.sort_unstable();
    clients.dedup();
    out.extend(clients.into_iter().filter_map(|c| {
        Some(Probe {
            label: format!("clients {c}"),
            ip: ip_of(c)?,
            outside: false,
        })
    }));
    out.extend(outside.iter().filter_map(|o| {
        Some(Probe {
            label: format!("{o} (outside the cluster)"),
            ip: ip_of(o)?,
            outside: true,
        })
    }));
    out
}

/// Simulates every needed connection and every probe to each port `host` serves.
pub fn run(rules: &Ruleset, host: &PortHost, dst: IpAddr, probes: &[Probe]) -> Verdicts {
    let mut v = Verdicts::default();
    let v6 = dst.is_ipv6();
    for s in &host.services {
        let proto: &'static str = if s.proto == "udp" { "udp" } else { "tcp" };
        let packet = |src: IpAddr| Packet {
            src,
            dst,
            proto,
            dport: s.port,
        };
        let mut denied: BTreeMap<DeciderKey, Vec<PortSource>> = BTreeMap::new();
        for src in &s.from {
            let Some(ip) = ip_of(&src.address).filter(|ip| ip.is_ipv6() == v6) else {
                continue;
            };
            let out = rules.evaluate(&packet(ip));
            v.uncertain.extend(out.uncertain);
            if !out.accepted {
                denied
                    .entry(DeciderKey(out.decider))
                    .or_default()
                    .push(src.clone());
            }
        }
        for (k, sources) in denied {
            v.blocked.entry(k).or_default().push(Blocked {
                service: s.service.clone(),
                port: s.port,
                proto: s.proto.clone(),
                sources,
            });
        }
        let mut admitted: BTreeMap<DeciderKey, (bool, Vec<String>)> = BTreeMap::new();
        for p in probes
            .iter()
            .filter(|p| p.ip.is_ipv6() == v6 && !covered(p.ip, &s.from))
        {
            let out = rules.evaluate(&packet(p.ip));
            v.uncertain.extend(out.uncertain);
            if out.accepted {
                let e = admitted.entry(DeciderKey(out.decider)).or_default();
                e.0 |= p.outside;
                e.1.push(p.label.clone());
            }
        }
        for (k, (outside, who)) in admitted {
            let e = v.open.entry(k).or_default();
            e.outside |= outside;
            e.ports.push(Admitted {
                service: s.service.clone(),
                port: s.port,
                proto: s.proto.clone(),
                needed: s.from.clone(),
                who,
            });
        }
    }
    v.uncertain.sort_unstable();
    v.uncertain.dedup();
    v
}

/// A decider, ordered so that findings come out by line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeciderKey(pub Decider);

impl DeciderKey {
    fn rank(&self) -> (u8, usize, usize, u32) {
        match self.0 {
            Decider::Rule(t, c, l) => (0, t, c, l),
            Decider::Policy(t, c) => (1, t, c, 0),
            Decider::NoChain => (2, 0, 0, 0),
        }
    }
}

impl Ord for DeciderKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for DeciderKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
