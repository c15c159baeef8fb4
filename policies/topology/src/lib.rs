//! Checks each host's firewall against the port matrix of the topology.
//!
//! The host derives the matrix (`patrol ports` prints the same one) and hands it over as
//! a `port-matrix` document (the typed `port-matrix` record): per host, its address, its
//! nftables ruleset's path, and each port it serves with the hosts and networks that must
//! reach it. The host also reads the rulesets (`nftables` documents, typed `nft-table`
//! records). This policy simulates, through each ruleset
//! ([`nft`]), a new connection to every served port from every host that needs it (it
//! must get through: else `port-blocked`), and from every other host of the topology,
//! the `clients` networks that do not need it and the `outside` addresses (they must
//! not: else `port-too-open`). Findings point at the rule (or chain policy) that decides,
//! and the fixes are nftables lines inserted right before it ([`fix`]).

mod fix;
pub mod nft;
mod simulate;
#[cfg(test)]
mod tests;

use policy_guest::DocumentKind;
use std::net::IpAddr;

use policy_guest::doc::{Structured, documents, nftables, port_matrix};
use policy_guest::{Code, Input, Location, Policy, PortHost, PortMatrix, Report, Severity};
use serde::Deserialize;
use serde_json::Value;

use fix::Fixes;
use nft::Ruleset;

pub struct Topology;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Do not report hosts without a `firewall`.
    pub allow_hosts_without_firewall: bool,
}

pub const CODES: &[Code] = &[
    Code::new(
        "port-blocked",
        Severity::High,
        "the firewall drops a connection the cluster needs",
        "Accept the port from the hosts the matrix names (`patrol ports` prints it); the fix inserts `ip saddr { … } tcp dport N accept` before the rule that drops.",
    ),
    Code::new(
        "port-too-open",
        Severity::High,
        "the firewall accepts a cluster port from hosts that do not need it",
        "Accept the port only from the hosts the matrix names and drop it from the rest; the fix inserts those rules before the rule that accepts (medium when only other cluster hosts get through, high when an outside address does).",
    ),
    Code::new(
        "no-input-filter",
        Severity::High,
        "the ruleset does not filter incoming connections at all",
        "Add a base chain on the input hook; the fix appends the `patrol_cluster` table `patrol ports --format nftables` prints for this host.",
    ),
    Code::new(
        "no-firewall",
        Severity::Medium,
        "a host of the topology names no firewall ruleset",
        "Give the host a `firewall:` (the path of the nftables ruleset it loads) so that patrol can check it, or generate one with `patrol ports --format nftables --host NAME`.",
    ),
    Code::new(
        "firewall-missing",
        Severity::High,
        "the firewall ruleset the topology names was not read",
        "Check the `firewall:` path (relative to topology.yaml).",
    ),
    Code::new(
        "firewall-uncertain",
        Severity::Info,
        "rules with conditions patrol does not simulate",
        "patrol assumed these rules do not match a new connection from another host (interface names other than `lo`, marks, `fib`, source ports, limits); check them by hand.",
    ),
    Code::new(
        "unknown-role",
        Severity::Low,
        "the topology names a role patrol does not know",
        "Use `patroni`, `postgresql`, `etcd`, `haproxy`, `pgbouncer`, `consul-server`, `consul-agent`, `pgbackrest-repository` or `monitoring`; add other ports with `flows:`.",
    ),
    Code::new(
        "topology-invalid",
        Severity::Medium,
        "a host entry patrol cannot use",
        "Give each host a unique `name` and an IP `address`.",
    ),
];

const ROLES: &[&str] = &[
    "patroni",
    "postgresql",
    "etcd",
    "haproxy",
    "pgbouncer",
    "consul-server",
    "consul-agent",
    "pgbackrest-repository",
    "monitoring",
];

impl Policy for Topology {
    type Settings = Settings;
    const NAME: &'static str = "topology";
    const DESCRIPTION: &'static str = "Host firewalls (nftables) against the topology's port matrix: too open, or blocking what the cluster needs";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["topology", "port-matrix", "nftables"];

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        for doc in documents(input, DocumentKind::Topology) {
            if let Some(y) = Structured::new(doc) {
                validate(&y, report);
            }
        }
        for doc in documents(input, DocumentKind::PortMatrix) {
            let Some(m) = port_matrix(doc) else {
                continue;
            };
            check_matrix(input, m, settings, report);
        }
        Ok(())
    }
}

/// Roles and host entries of a topology file.
fn validate(y: &Structured, report: &mut Report) {
    let Some(Value::Array(hosts)) = y.get("/hosts") else {
        report.finding(
            "topology-invalid",
            y.loc("/hosts"),
            "the topology has no `hosts` list".to_string(),
        );
        return;
    };
    let mut names: Vec<&str> = Vec::new();
    for (i, h) in hosts.iter().enumerate() {
        let at = y.loc(&format!("/hosts/{i}"));
        let name = h.get("name").and_then(Value::as_str).unwrap_or("");
        let address = h.get("address").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() || names.contains(&name) {
            report.finding(
                "topology-invalid",
                at.clone(),
                format!(
                    "host {} has no name, or the name `{name}` is used twice",
                    i + 1
                ),
            );
        }
        names.push(name);
        if address.parse::<IpAddr>().is_err() {
            report.finding("topology-invalid", at.clone(), format!("host `{name}` has no IP `address` (`{address}`): patrol cannot simulate connections to it"));
        }
        for (j, r) in h
            .get("roles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let role = r.as_str().unwrap_or("");
            if !ROLES.contains(&role) {
                report.finding("unknown-role", y.loc(&format!("/hosts/{i}/roles/{j}")), format!("host `{name}` has role `{role}`, which patrol does not know: it adds no ports"));
            }
        }
    }
}

fn check_matrix(input: &Input, m: &PortMatrix, settings: &Settings, report: &mut Report) {
    let hosts: &[PortHost] = &m.hosts;
    let mut fixes = Fixes::default();
    for host in hosts {
        let here = host.location.clone();
        let Ok(dst) = host.address.parse::<IpAddr>() else {
            continue;
        };
        let Some(path) = &host.firewall else {
            if !settings.allow_hosts_without_firewall {
                report.finding("no-firewall", here, format!("`{}` names no firewall: patrol cannot tell whether its {} cluster ports are open to the right hosts", host.name, host.services.len()));
            }
            continue;
        };
        let Some(doc) = documents(input, DocumentKind::Nftables)
            .find(|d| &d.path == path || d.path.ends_with(&format!("/{path}")))
        else {
            report.finding("firewall-missing", here, format!("`{}`'s firewall `{path}` was not read (missing, or not among the checked files)", host.name));
            continue;
        };
        let Some(tables) = nftables(doc) else {
            continue;
        };
        let rules = Ruleset::new(tables);
        let v6 = dst.is_ipv6();
        if !rules.filters(v6) {
            let i = report.finding(
                "no-input-filter",
                Location { file: doc.path.clone(), line: 1, end_line: None, pointer: None },
                format!("`{path}` (host `{}`) has no base chain on the input hook for {}: every port of the host is open to everyone", host.name, if v6 { "IPv6" } else { "IPv4" }),
            );
            report.fix(i, fix::append(doc, &host.nftables));
            continue;
        }
        let verdicts = simulate::run(
            &rules,
            host,
            dst,
            &simulate::probes(host, hosts, &m.outside),
        );
        for (k, items) in &verdicts.blocked {
            let list: Vec<String> = items
                .iter()
                .map(|b| {
                    let who: Vec<String> = b
                        .sources
                        .iter()
                        .map(|s| format!("{} {}", s.name, s.address))
                        .collect();
                    format!(
                        "{}/{} ({}) from {}",
                        b.proto,
                        b.port,
                        b.service,
                        names(&who)
                    )
                })
                .collect();
            let i = report.finding(
                "port-blocked",
                fix::location(&rules, doc, k.0),
                format!(
                    "`{}`'s firewall drops {}: the cluster needs these connections",
                    host.name,
                    list.join("; ")
                ),
            );
            for b in items {
                fixes.accept(&rules, doc, k.0, b.port, &b.proto, &b.sources, i);
            }
        }
        for (k, open) in &verdicts.open {
            let list: Vec<String> = open
                .ports
                .iter()
                .map(|a| {
                    format!(
                        "{}/{} ({}) from {}",
                        a.proto,
                        a.port,
                        a.service,
                        names(&a.who)
                    )
                })
                .collect();
            let i = report.finding(
                "port-too-open",
                fix::location(&rules, doc, k.0),
                format!(
                    "`{}`'s firewall accepts {}: no host there needs it",
                    host.name,
                    list.join("; ")
                ),
            );
            if !open.outside {
                report.severity(i, Severity::Medium);
            }
            for a in &open.ports {
                fixes.restrict(&rules, doc, k.0, a.port, &a.proto, &a.needed, i);
            }
        }
        if let Some(first) = verdicts.uncertain.first() {
            let lines: Vec<String> = verdicts.uncertain.iter().map(u32::to_string).collect();
            report.finding(
                "firewall-uncertain",
                Location { file: doc.path.clone(), line: *first, end_line: None, pointer: None },
                format!("`{path}`: the rules on lines {} have conditions patrol does not simulate; it assumed they do not match", lines.join(", ")),
            );
        }
    }
    fixes.emit(report);
}

/// Up to five names, then how many more.
fn names(list: &[String]) -> String {
    if list.len() <= 5 {
        list.join(", ")
    } else {
        format!("{} and {} more", list[..5].join(", "), list.len() - 5)
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(Topology);
