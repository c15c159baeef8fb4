//! The port matrix as a table, as nftables rules, as firewalld commands, or as JSON.
//!
//! The nftables and firewalld forms filter only the cluster's ports: the nftables table
//! `patrol_cluster` keeps `policy accept` and accepts each port from the hosts that need
//! it, then drops that port from everyone else, so loading it on a host cannot cut off
//! SSH or anything else the matrix does not speak about (a drop in any base chain is
//! final, an accept is not, so it composes with the host's own ruleset). The firewalld
//! form is rich rules for the default zone, which already rejects what no rule allows.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::{Host, Matrix, Service};

/// The sources of a service split by family: (IPv4 addresses/networks, IPv6).
fn families(s: &Service) -> (Vec<String>, Vec<String>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for f in &s.from {
        let addr = f.address.split('/').next().unwrap_or("");
        match addr.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => v6.push(f.address.clone()),
            Ok(IpAddr::V4(_)) => v4.push(f.address.clone()),
            Err(_) => {}
        }
    }
    (v4, v6)
}

fn set(items: &[String]) -> String {
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

/// The nftables ruleset for one host (see the module header).
pub fn nftables_host(h: &Host, topology: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {} ({}): {}", h.name, h.address, h.roles.join(", "));
    let _ = writeln!(
        out,
        "# Cluster ports derived by `patrol ports` from {topology}; other traffic is left to your rules."
    );
    out.push_str("table inet patrol_cluster {\n");
    out.push_str("\tchain input {\n");
    out.push_str("\t\ttype filter hook input priority filter - 10; policy accept;\n");
    out.push_str("\t\tiif \"lo\" accept\n");
    out.push_str("\t\tct state established,related accept\n");
    let mut closed: Vec<(String, u16)> = Vec::new();
    for s in &h.services {
        let _ = writeln!(out, "\t\t# {}/{} {}: {}", s.port, s.proto, s.service, s.why);
        let (v4, v6) = families(s);
        if !v4.is_empty() {
            let _ = writeln!(
                out,
                "\t\tip saddr {} {} dport {} accept",
                set(&v4),
                s.proto,
                s.port
            );
        }
        if !v6.is_empty() {
            let _ = writeln!(
                out,
                "\t\tip6 saddr {} {} dport {} accept",
                set(&v6),
                s.proto,
                s.port
            );
        }
        if !closed.contains(&(s.proto.clone(), s.port)) {
            closed.push((s.proto.clone(), s.port));
        }
    }
    for proto in ["tcp", "udp"] {
        let ports: Vec<String> = closed
            .iter()
            .filter(|(p, _)| p == proto)
            .map(|(_, n)| n.to_string())
            .collect();
        if !ports.is_empty() {
            let _ = writeln!(out, "\t\t{proto} dport {} drop", set(&ports));
        }
    }
    out.push_str("\t}\n}\n");
    out
}

/// Every host's nftables rules; one host's with `only`.
pub fn nftables(m: &Matrix, only: Option<&str>) -> String {
    let mut out = String::from("#!/usr/sbin/nft -f\n");
    for h in m.hosts.iter().filter(|h| only.is_none_or(|o| o == h.name)) {
        out.push('\n');
        out.push_str(&h.nftables);
    }
    out
}

/// `firewall-cmd` rich rules for the default zone.
pub fn firewalld(m: &Matrix, only: Option<&str>) -> String {
    let mut out = String::new();
    for h in m.hosts.iter().filter(|h| only.is_none_or(|o| o == h.name)) {
        let _ = writeln!(out, "# {} ({}): {}", h.name, h.address, h.roles.join(", "));
        for s in &h.services {
            let _ = writeln!(out, "# {}/{} {}: {}", s.port, s.proto, s.service, s.why);
            if s.from.is_empty() {
                let _ = writeln!(out, "#   no other host needs it: add no rule");
            }
            for f in &s.from {
                let family = if f.address.contains(':') {
                    "ipv6"
                } else {
                    "ipv4"
                };
                let _ = writeln!(
                    out,
                    "firewall-cmd --permanent --add-rich-rule='rule family=\"{family}\" source address=\"{}\" port port=\"{}\" protocol=\"{}\" accept'",
                    f.address, s.port, s.proto
                );
            }
        }
        out.push_str("firewall-cmd --reload\n\n");
    }
    out
}

/// The matrix as a table per host.
pub fn text(m: &Matrix, only: Option<&str>) -> String {
    let mut out = format!("Port matrix of {}\n", m.topology);
    for h in m.hosts.iter().filter(|h| only.is_none_or(|o| o == h.name)) {
        let _ = writeln!(
            out,
            "\n{} {} [{}]{}",
            h.name,
            h.address,
            h.roles.join(", "),
            h.firewall
                .as_ref()
                .map_or(String::new(), |f| format!(" firewall {f}"))
        );
        let rows: Vec<[String; 5]> = h
            .services
            .iter()
            .map(|s| {
                let from = if s.from.is_empty() {
                    "(this host only)".to_string()
                } else {
                    s.from
                        .iter()
                        .map(|f| {
                            if f.name == f.address {
                                f.address.clone()
                            } else {
                                format!("{} {}", f.name, f.address)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let port = match &s.port_from {
                    Some(src) => format!("{} ({src})", s.port),
                    None => s.port.to_string(),
                };
                [
                    port,
                    s.proto.clone(),
                    s.service.clone(),
                    from,
                    s.why.clone(),
                ]
            })
            .collect();
        let header = [
            "PORT".to_string(),
            "PROTO".into(),
            "SERVICE".into(),
            "FROM".into(),
            "WHY".into(),
        ];
        let mut widths = [0usize; 4];
        for r in rows.iter().chain(std::iter::once(&header)) {
            for (i, w) in widths.iter_mut().enumerate() {
                *w = (*w).max(r[i].chars().count());
            }
        }
        for r in std::iter::once(&header).chain(rows.iter()) {
            let _ = writeln!(
                out,
                "  {:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
        }
    }
    out
}
