//! The port matrix of a deployment: which ports each host must accept, from which other
//! hosts, derived from a small topology file and the deployment's own configs.
//!
//! This module is the one source of truth for the matrix. `patrol ports` prints it (a
//! table, nftables or firewalld rules, JSON: [`render`]); `patrol check` hands it to the
//! `topology` policy as a derived document of kind `port-matrix`, a typed WIT record
//! ([`derived_documents`]),
//! and the policy simulates connections through each host's nftables ruleset against it
//! (a port open to hosts that do not need it, or closed to ones that do). Policies have
//! no filesystem, so the rulesets a topology names are read here too
//! ([`firewall_files`]) and reach the policy as `nftables` documents.
//!
//! topology.yaml:
//! ```yaml
//! clients: [10.0.3.0/24]          # where applications connect from (optional)
//! admin_networks: [10.0.9.0/24]   # where operators run patronictl (optional)
//! outside: [203.0.113.10]         # addresses that must reach nothing (default shown)
//! ports: {patroni: 8009}          # overrides, by service name (optional)
//! flows:                          # extra flows (optional)
//!   - {from: monitoring, to: postgresql, port: 9187, why: postgres_exporter}
//! hosts:
//!   - name: pg-node1
//!     address: 10.0.1.11
//!     roles: [patroni, postgresql, pgbouncer, consul-agent]
//!     firewall: firewall/pg-node1.nft   # relative to topology.yaml
//! ```
//! Roles: `patroni`, `postgresql`, `etcd`, `haproxy`, `pgbouncer`, `consul-server`,
//! `consul-agent`, `pgbackrest-repository`, `monitoring`. [`SERVICES`] says which ports
//! each role listens on and which roles connect to them; the ports come from the configs
//! that set them (patroni.yml `restapi.listen` and `postgresql.listen`, postgresql.conf
//! `port`, pgbouncer.ini `listen_port`, haproxy.cfg `bind`, etcd's listen URLs, Consul's
//! `ports`, pgbackrest.conf `tls-server-port`, gitlab.rb's `['port']` keys), else the
//! defaults; HAProxy's `server` lines, when a haproxy.cfg is given, say which backend
//! ports it reaches on which host. The configs are not tied to hosts: a port a config
//! sets applies to every host of that role (the example configs describe one node each).

mod document;
pub mod render;
mod sources;
#[cfg(test)]
mod tests;

use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

pub use document::derived_documents;

use crate::discover::InputFile;
use crate::formats::{self, Kind};
use crate::wit;

/// One service a role listens on.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDef {
    pub name: &'static str,
    /// Hosts with one of these roles listen.
    pub roles: &'static [&'static str],
    pub port: u16,
    pub protos: &'static [&'static str],
    /// Roles whose hosts connect to it.
    pub from: &'static [&'static str],
    /// Whether the `clients` networks connect to it.
    pub clients: bool,
    pub why: &'static str,
}

pub const ROLES: &[&str] = &[
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

/// The services of a PostgreSQL HA stack (ports from Patroni's, etcd's, Consul's,
/// PgBouncer's and pgBackRest's documentation, and GitLab's port list).
pub const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        name: "patroni",
        roles: &["patroni"],
        port: 8008,
        protos: &["tcp"],
        from: &["patroni", "haproxy", "monitoring"],
        clients: false,
        why: "Patroni REST API: leader race and failsafe calls between members, HAProxy health checks, metrics",
    },
    ServiceDef {
        name: "postgresql",
        roles: &["postgresql"],
        port: 5432,
        protos: &["tcp"],
        from: &["postgresql", "patroni", "pgbouncer", "haproxy"],
        clients: false,
        why: "PostgreSQL: replication and pg_rewind between members, PgBouncer and HAProxy backends",
    },
    ServiceDef {
        name: "pgbouncer",
        roles: &["pgbouncer"],
        port: 6432,
        protos: &["tcp"],
        from: &[],
        clients: true,
        why: "PgBouncer: application connections",
    },
    ServiceDef {
        name: "haproxy",
        roles: &["haproxy"],
        port: 5000,
        protos: &["tcp"],
        from: &[],
        clients: true,
        why: "HAProxy frontends: application connections routed to the primary or replicas",
    },
    ServiceDef {
        name: "etcd-client",
        roles: &["etcd"],
        port: 2379,
        protos: &["tcp"],
        from: &["patroni", "monitoring"],
        clients: false,
        why: "etcd client API: Patroni's DCS",
    },
    ServiceDef {
        name: "etcd-peer",
        roles: &["etcd"],
        port: 2380,
        protos: &["tcp"],
        from: &["etcd"],
        clients: false,
        why: "etcd peer traffic (Raft) between members",
    },
    ServiceDef {
        name: "consul-rpc",
        roles: &["consul-server"],
        port: 8300,
        protos: &["tcp"],
        from: &["consul-server", "consul-agent"],
        clients: false,
        why: "Consul server RPC from agents and other servers",
    },
    ServiceDef {
        name: "consul-serf-lan",
        roles: &["consul-server", "consul-agent"],
        port: 8301,
        protos: &["tcp", "udp"],
        from: &["consul-server", "consul-agent"],
        clients: false,
        why: "Consul LAN gossip between all agents",
    },
    ServiceDef {
        name: "consul-serf-wan",
        roles: &["consul-server"],
        port: 8302,
        protos: &["tcp", "udp"],
        from: &["consul-server"],
        clients: false,
        why: "Consul WAN gossip between servers",
    },
    ServiceDef {
        name: "consul-http",
        roles: &["consul-server", "consul-agent"],
        port: 8500,
        protos: &["tcp"],
        from: &[],
        clients: false,
        why: "Consul HTTP API: local clients only (Patroni, the PgBouncer watcher)",
    },
    ServiceDef {
        name: "consul-dns",
        roles: &["consul-server", "consul-agent"],
        port: 8600,
        protos: &["tcp", "udp"],
        from: &[],
        clients: false,
        why: "Consul DNS: local resolver only",
    },
    ServiceDef {
        name: "pgbackrest",
        roles: &["postgresql"],
        port: 8432,
        protos: &["tcp"],
        from: &["pgbackrest-repository"],
        clients: false,
        why: "pgBackRest TLS server: backups and restores driven from the repository host",
    },
    ServiceDef {
        name: "pgbackrest-repository",
        roles: &["pgbackrest-repository"],
        port: 8432,
        protos: &["tcp"],
        from: &["postgresql"],
        clients: false,
        why: "pgBackRest TLS server on the repository: WAL archiving and backups from the database hosts",
    },
];

/// Where a connection comes from: a host of the topology, or a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    pub name: String,
    pub address: String,
}

/// One port a host must serve.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub service: String,
    pub port: u16,
    pub proto: String,
    /// Who must reach it; empty: nobody from outside the host.
    pub from: Vec<Source>,
    pub why: String,
    /// The config line that sets the port (`patroni.yml:9`), when one does.
    pub port_from: Option<String>,
}

/// One host of the topology with what it must accept.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub name: String,
    pub address: String,
    pub roles: Vec<String>,
    /// The nftables ruleset, as a path patrol reads (relative to where it runs).
    pub firewall: Option<String>,
    /// The topology line of the host's entry.
    pub line: u32,
    /// The index of the host's entry in the topology's `hosts`.
    #[serde(skip)]
    pub entry: usize,
    pub services: Vec<Service>,
    pub admin_networks: Vec<String>,
    /// The nftables rules `patrol ports` prints for this host.
    pub nftables: String,
}

/// The matrix of one topology file.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub topology: String,
    pub hosts: Vec<Host>,
    /// Addresses that must reach no cluster port.
    pub outside: Vec<String>,
}

/// The default probe for "anyone": an address of TEST-NET-3 (RFC 5737).
const OUTSIDE: &str = "203.0.113.10";

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `base`'s directory joined with `rel`, normalized without touching the filesystem, in
/// the `/`-separated form patrol shows paths in.
pub fn resolve(base: &str, rel: &str) -> String {
    let joined: PathBuf = if Path::new(rel).is_absolute() {
        PathBuf::from(rel)
    } else {
        Path::new(base).parent().unwrap_or(Path::new("")).join(rel)
    };
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for c in joined.components() {
        match c {
            Component::RootDir => absolute = true,
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.last().is_some_and(|p| p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..".into());
                }
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::Prefix(p) => parts.push(p.as_os_str().to_string_lossy().into_owned()),
        }
    }
    let s = parts.join("/");
    if absolute { format!("/{s}") } else { s }
}

/// Derives the matrix of `topology` with the ports the other documents set.
pub fn derive(topology: &wit::Document, docs: &[wit::Document]) -> Option<Matrix> {
    let wit::Body::Structured(s) = &topology.body else {
        return None;
    };
    let root: Value = serde_json::from_str(&s.json).ok()?;
    let line_of = |pointer: &str| {
        s.spans
            .iter()
            .find(|sp| sp.pointer == pointer)
            .map_or(0, |sp| sp.line)
    };
    let ports = sources::ports(docs, root.get("ports"));
    let clients = strings(root.get("clients"));
    let admin = strings(root.get("admin_networks"));
    let mut outside = strings(root.get("outside"));
    if outside.is_empty() {
        outside.push(OUTSIDE.to_string());
    }
    struct Entry {
        name: String,
        address: String,
        roles: Vec<String>,
        firewall: Option<String>,
        line: u32,
        index: usize,
    }
    let entries: Vec<Entry> = match root.get("hosts") {
        Some(Value::Array(hosts)) => hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let name = h.get("name")?.as_str()?.to_string();
                let address = h
                    .get("address")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let firewall = h
                    .get("firewall")
                    .and_then(Value::as_str)
                    .map(|f| resolve(&topology.path, f));
                Some(Entry {
                    name,
                    address,
                    roles: strings(h.get("roles")),
                    firewall,
                    line: line_of(&format!("/hosts/{i}")),
                    index: i,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let with_role = |role: &str| -> Vec<Source> {
        entries
            .iter()
            .filter(|e| e.roles.iter().any(|r| r == role) && !e.address.is_empty())
            .map(|e| Source {
                name: e.name.clone(),
                address: e.address.clone(),
            })
            .collect()
    };
    let backends = sources::haproxy_backends(docs);
    let proxied = !with_role("haproxy").is_empty() || !with_role("pgbouncer").is_empty();
    let mut hosts = Vec::new();
    for e in &entries {
        let mut services: Vec<Service> = Vec::new();
        let add = |services: &mut Vec<Service>,
                   name: &str,
                   port: u16,
                   proto: &str,
                   from: Vec<Source>,
                   why: &str,
                   port_from: Option<String>| {
            if let Some(s) = services
                .iter_mut()
                .find(|s| s.port == port && s.proto == proto)
            {
                for f in from {
                    if !s.from.contains(&f) {
                        s.from.push(f);
                    }
                }
                if !s.service.split(", ").any(|n| n == name) {
                    s.service = format!("{}, {name}", s.service);
                }
                return;
            }
            services.push(Service {
                service: name.into(),
                port,
                proto: proto.into(),
                from,
                why: why.into(),
                port_from,
            });
        };
        let repository = !with_role("pgbackrest-repository").is_empty();
        for def in SERVICES {
            if !def.roles.iter().any(|r| e.roles.iter().any(|x| x == r)) {
                continue;
            }
            // The database hosts run pgBackRest's TLS server only for a repository host.
            if def.name == "pgbackrest" && !repository {
                continue;
            }
            let mut from: Vec<Source> = Vec::new();
            for role in def.from {
                // With haproxy.cfg given, its `server` lines say what HAProxy reaches.
                if *role == "haproxy" && !backends.is_empty() {
                    continue;
                }
                for s in with_role(role) {
                    if s.name != e.name && !from.contains(&s) {
                        from.push(s);
                    }
                }
            }
            if def.name == "patroni" {
                // Operators run patronictl from the admin networks.
                from.extend(admin.iter().map(|a| Source {
                    name: "admin".into(),
                    address: a.clone(),
                }));
            }
            if def.clients || (def.name == "postgresql" && !proxied) {
                from.extend(clients.iter().map(|c| Source {
                    name: "clients".into(),
                    address: c.clone(),
                }));
            }
            let (port_list, port_from) = ports.get(def.name, def.port);
            for port in port_list {
                for proto in def.protos {
                    add(
                        &mut services,
                        def.name,
                        port,
                        proto,
                        from.clone(),
                        def.why,
                        port_from.clone(),
                    );
                }
            }
        }
        // HAProxy's backends on this host.
        for (port, why) in backends
            .iter()
            .filter(|b| b.address == e.address)
            .map(|b| (b.port, b.why.clone()))
        {
            let from: Vec<Source> = with_role("haproxy")
                .into_iter()
                .filter(|s| s.name != e.name)
                .collect();
            let name = services
                .iter()
                .find(|s| s.port == port)
                .map_or("haproxy-backend".to_string(), |s| s.service.clone());
            add(&mut services, &name, port, "tcp", from, &why, None);
        }
        // Extra flows from the topology.
        if let Some(Value::Array(flows)) = root.get("flows") {
            for f in flows {
                let to = f.get("to").and_then(Value::as_str).unwrap_or("");
                if to != e.name && !e.roles.iter().any(|r| r == to) {
                    continue;
                }
                let Some(port) = f
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok())
                else {
                    continue;
                };
                let proto = f.get("proto").and_then(Value::as_str).unwrap_or("tcp");
                let from_spec = f.get("from").and_then(Value::as_str).unwrap_or("");
                let mut from: Vec<Source> = with_role(from_spec);
                from.extend(
                    entries
                        .iter()
                        .filter(|x| x.name == from_spec)
                        .map(|x| Source {
                            name: x.name.clone(),
                            address: x.address.clone(),
                        }),
                );
                if from.is_empty()
                    && (from_spec.parse::<ipnet::IpNet>().is_ok()
                        || from_spec.parse::<std::net::IpAddr>().is_ok())
                {
                    from.push(Source {
                        name: from_spec.to_string(),
                        address: from_spec.to_string(),
                    });
                }
                from.retain(|s| s.name != e.name);
                let why = f
                    .get("why")
                    .and_then(Value::as_str)
                    .unwrap_or("a flow the topology names");
                add(&mut services, "flow", port, proto, from, why, None);
            }
        }
        services.sort_by(|a, b| (a.port, &a.proto).cmp(&(b.port, &b.proto)));
        let mut host = Host {
            name: e.name.clone(),
            address: e.address.clone(),
            roles: e.roles.clone(),
            firewall: e.firewall.clone(),
            line: e.line,
            entry: e.index,
            services,
            admin_networks: admin.clone(),
            nftables: String::new(),
        };
        host.nftables = render::nftables_host(&host, &topology.path);
        hosts.push(host);
    }
    Some(Matrix {
        topology: topology.path.clone(),
        hosts,
        outside,
    })
}

/// Adds the nftables rulesets the topology files among `files` name and that are not
/// there yet (a file that cannot be read is left out: the `topology` policy reports it).
/// Only regular files inside `tree` are read; one outside it is left out and said so.
pub fn firewall_files(files: &mut Vec<InputFile>, tree: &crate::confine::Tree) {
    let mut extra = Vec::new();
    for f in files.iter().filter(|f| f.kind == Kind::Topology) {
        let parsed = formats::yaml::parse(&f.text, &f.display);
        let Ok(root) = serde_json::from_str::<Value>(&parsed.value.json) else {
            continue;
        };
        let Some(Value::Array(hosts)) = root.get("hosts") else {
            continue;
        };
        for h in hosts {
            let Some(rel) = h.get("firewall").and_then(Value::as_str) else {
                continue;
            };
            let display = resolve(&f.display, rel);
            let path = if Path::new(rel).is_absolute() {
                PathBuf::from(rel)
            } else {
                f.path.parent().unwrap_or(Path::new("")).join(rel)
            };
            let known = files
                .iter()
                .chain(&extra)
                .any(|x: &InputFile| x.display == display || x.path == path);
            if known {
                continue;
            }
            let read = tree
                .resolve(&path)
                .and_then(|p| crate::confine::read_regular(&p));
            if let Err(crate::confine::ReadError::Refused(why)) = &read {
                crate::say!(
                    "patrol: skipped `{display}` (a firewall of `{}`): {why}",
                    f.display
                );
            }
            if let Some(text) = read.ok().and_then(|b| String::from_utf8(b).ok()) {
                extra.push(InputFile {
                    kind: Kind::Nftables,
                    path,
                    display,
                    text,
                });
            }
        }
    }
    files.extend(extra);
}
