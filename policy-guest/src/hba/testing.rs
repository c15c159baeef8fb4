//! Building pg_hba records, contexts and connections by hand, for tests and benchmarks.
//!
//! [`rules`] is a deliberately small reader (fields split on blanks, comma lists, `"x"`
//! for a quoted name, no continuation, `@file` or error reporting): the real parser is
//! the host's. It lets policy tests write a pg_hba.conf as text.

// Malformed test input is a bug in the test: panicking says so.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use super::rule;
use crate::{
    ClientCertificate, Connection, Context, HbaAddress, HbaName, HbaNetwork, HbaRule, Location,
    ReplicationMode,
};

/// A test-only reading of one pg_hba line (no continuation, no `@file`), enough to build
/// the records the host parser would hand over.
pub fn rule(line: u32, text: &str) -> HbaRule {
    let fields: Vec<&str> = text
        .split('#')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let names = |f: &str| -> Vec<HbaName> {
        f.split(',')
            .map(
                |t| match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                    Some(q) => HbaName {
                        text: q.to_string(),
                        quoted: true,
                    },
                    None => HbaName {
                        text: t.to_string(),
                        quoted: false,
                    },
                },
            )
            .collect()
    };
    let local = fields[0] == "local";
    let mut rest = if local { 3 } else { 4 };
    let address = (!local).then(|| match fields[3] {
        "all" => HbaAddress::Any,
        "samehost" => HbaAddress::Samehost,
        "samenet" => HbaAddress::Samenet,
        a if a.contains('/') => {
            let (ip, p) = a.split_once('/').unwrap();
            let ip: IpAddr = ip.parse().unwrap();
            let mask = rule::prefix_mask(ip, p.parse().unwrap());
            HbaAddress::Network(HbaNetwork {
                address: ip.to_string(),
                mask: mask.to_string(),
                prefix: Some(p.parse().unwrap()),
            })
        }
        a if a.parse::<IpAddr>().is_ok() => {
            rest = 5;
            HbaAddress::Network(HbaNetwork {
                address: a.to_string(),
                mask: fields[4].to_string(),
                prefix: None,
            })
        }
        h => HbaAddress::Hostname(h.to_string()),
    });
    let options = fields[rest + 1..]
        .iter()
        .map(|o| {
            let (k, v) = o.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    HbaRule {
        location: Location {
            file: "pg_hba.conf".into(),
            line,
            end_line: None,
            pointer: None,
        },
        connection_type: fields[0].to_string(),
        databases: names(fields[1]),
        users: names(fields[2]),
        address,
        method: fields[rest].to_string(),
        options,
        raw: text.to_string(),
    }
}

/// Records from a file's text: one per non-blank, non-comment line, numbered by line.
pub fn rules(text: &str) -> Vec<HbaRule> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| rule(i as u32 + 1, l))
        .collect()
}

/// A context for PostgreSQL `version` on a server whose addresses are loopback.
pub fn context(version: u32) -> Context {
    Context {
        postgres_version: Some(version),
        server_addresses: vec!["127.0.0.1/8".into(), "::1/128".into()],
        ..crate::testing::context()
    }
}

/// `source user@db [ssl] [cert=CN|cert=!CN] [physical|logical]`.
pub fn conn(spec: &str) -> Connection {
    let mut parts = spec.split_whitespace();
    let source = parts.next().unwrap().to_string();
    let (user, database) = parts.next().unwrap().split_once('@').unwrap();
    let mut c = Connection {
        name: None,
        source,
        ssl: false,
        client_cert: None,
        user: user.into(),
        database: database.into(),
        replication: ReplicationMode::None,
    };
    for p in parts {
        match p {
            "ssl" => c.ssl = true,
            "physical" => c.replication = ReplicationMode::Physical,
            "logical" => c.replication = ReplicationMode::Logical,
            p if p.starts_with("cert=!") => {
                c.client_cert = Some(ClientCertificate {
                    cn: p[6..].into(),
                    trusted: false,
                })
            }
            p if p.starts_with("cert=") => {
                c.client_cert = Some(ClientCertificate {
                    cn: p[5..].into(),
                    trusted: true,
                })
            }
            other => panic!("bad connection spec `{other}`"),
        }
    }
    c
}
