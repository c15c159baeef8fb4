//! Files grouped into clusters, and each cluster's members.
//!
//! A Patroni YAML belongs to the cluster of its `scope`; a pg_autoctl.cfg to the
//! pg_auto_failover formation of its parent directory. Every other file joins the
//! cluster anchored in its own directory, else in its nearest ancestor directory, else
//! the one cluster anchored below it; a file that could belong to two clusters, or to
//! none, makes a cluster of its directory. Two clusters are never linked to each other.

use crate::formats::Kind;
use std::collections::BTreeMap;

use crate::wit;

use super::patroni::Node;
use super::{dir_of, endpoint, loc, settings};

/// Kinds the host derives from other documents: they follow their source file.
fn derived(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Certificates | Kind::PortMatrix | Kind::PatroniPgHba
    )
}

/// A cluster being formed.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub grouping: &'static str,
    pub files: Vec<String>,
    /// Indexes of its Patroni nodes.
    pub nodes: Vec<usize>,
    /// Directories of the files that anchor it (Patroni YAMLs, pg_autoctl.cfg).
    pub anchors: Vec<String>,
}

impl Group {
    pub fn has(&self, file: &str) -> bool {
        self.files.iter().any(|f| f == file)
    }
}

/// Groups the documents into clusters.
pub fn group(documents: &[wit::Document], nodes: &[Node]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let add = |name: String,
               grouping: &'static str,
               file: &str,
               node: Option<usize>,
               groups: &mut Vec<Group>| {
        let g = match groups
            .iter()
            .position(|g| g.name == name && g.grouping == grouping)
        {
            Some(i) => &mut groups[i],
            None => {
                groups.push(Group {
                    name,
                    grouping,
                    files: Vec::new(),
                    nodes: Vec::new(),
                    anchors: Vec::new(),
                });
                groups.last_mut().expect("just pushed")
            }
        };
        if !g.has(file) {
            g.files.push(file.to_string());
        }
        g.nodes.extend(node);
        let dir = dir_of(file).to_string();
        if !g.anchors.contains(&dir) {
            g.anchors.push(dir);
        }
    };
    for (i, n) in nodes.iter().enumerate() {
        // Patroni refuses to start without a scope; such a file is a cluster of its own.
        let name = n
            .scope
            .as_ref()
            .map_or_else(|| format!("{} (no scope)", n.file), |s| s.value.clone());
        add(name, "patroni-scope", &n.file, Some(i), &mut groups);
    }
    for d in documents.iter().filter(|d| d.kind == Kind::PgAutoctl) {
        let formation = dir_of(dir_of(&d.path));
        let name = if formation.is_empty() {
            "pg_auto_failover".to_string()
        } else {
            formation.to_string()
        };
        add(name, "pg-auto-failover", &d.path, None, &mut groups);
    }
    let anchored: Vec<String> = groups.iter().flat_map(|g| g.files.clone()).collect();
    for d in documents {
        if derived(&d.kind) || anchored.contains(&d.path) {
            continue;
        }
        let dir = dir_of(&d.path);
        match owner(&groups, dir) {
            Some(i) => {
                if !groups[i].has(&d.path) {
                    groups[i].files.push(d.path.clone());
                }
            }
            None => {
                let name = if dir.is_empty() {
                    ".".to_string()
                } else {
                    dir.to_string()
                };
                match groups
                    .iter_mut()
                    .find(|g| g.grouping == "directory" && g.name == name)
                {
                    Some(g) => g.files.push(d.path.clone()),
                    None => groups.push(Group {
                        name,
                        grouping: "directory",
                        files: vec![d.path.clone()],
                        nodes: Vec::new(),
                        anchors: vec![dir.to_string()],
                    }),
                }
            }
        }
    }
    groups
}

/// The one anchored cluster a file in `dir` belongs to.
fn owner(groups: &[Group], dir: &str) -> Option<usize> {
    let anchored_in = |d: &str| -> Vec<usize> {
        groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.grouping != "directory" && g.anchors.iter().any(|a| a == d))
            .map(|(i, _)| i)
            .collect()
    };
    // The directory itself, then each ancestor: the first that anchors anything decides.
    let mut d = dir.to_string();
    loop {
        let here = anchored_in(&d);
        match here.len() {
            1 => return Some(here[0]),
            0 => {}
            _ => return None,
        }
        if d.is_empty() {
            break;
        }
        d = dir_of(&d).to_string();
    }
    // A file above the clusters (haproxy.cfg next to node1/ node2/): the one cluster below.
    let below: Vec<usize> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| g.grouping != "directory" && g.anchors.iter().any(|a| is_under(a, dir)))
        .map(|(i, _)| i)
        .collect();
    let mut distinct = below.clone();
    distinct.dedup();
    if distinct.len() == 1 {
        Some(distinct[0])
    } else {
        None
    }
}

fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
}

/// The members of a cluster.
pub fn members(
    g: &Group,
    documents: &[wit::Document],
    nodes: &[Node],
    context: &wit::Context,
) -> Vec<wit::Member> {
    let in_group = |d: &&wit::Document| g.has(&d.path);
    let mut members = Vec::new();
    // Each Patroni node, with the server files of its directory (when it is the only
    // node there).
    for &i in &g.nodes {
        let n = &nodes[i];
        let dir = dir_of(&n.file);
        let alone = g
            .nodes
            .iter()
            .filter(|&&j| dir_of(&nodes[j].file) == dir)
            .count()
            == 1;
        let mut files = vec![n.file.clone()];
        if alone {
            files.extend(
                documents
                    .iter()
                    .filter(in_group)
                    .filter(|d| dir_of(&d.path) == dir && server_kind(&d.kind))
                    .map(|d| d.path.clone()),
            );
        }
        let pick = |a: &Option<super::patroni::Valued>, b: &Option<super::patroni::Valued>| {
            a.as_ref()
                .or(b.as_ref())
                .map(|v| listen_endpoint(&v.value, v.at.clone(), context))
        };
        let name = n
            .name
            .as_ref()
            .map_or_else(|| n.file.clone(), |v| v.value.clone());
        let source = n
            .name
            .as_ref()
            .map_or_else(|| loc(&n.file, 0), |v| v.at.clone());
        let docs: Vec<&wit::Document> = documents
            .iter()
            .filter(|d| files.contains(&d.path))
            .collect();
        // The REST API speaks https exactly when it has a certificate.
        let restapi = pick(&n.restapi_connect, &n.restapi_listen).map(|mut e| {
            e.scheme = Some(if n.restapi_tls { "https" } else { "http" }.to_string());
            e
        });
        members.push(wit::Member {
            name,
            restapi,
            postgres: pick(&n.pg_connect, &n.pg_listen),
            source,
            settings: settings::effective(Some(n), &docs),
            files,
        });
    }
    // pg_auto_failover nodes and plain servers: one per directory holding server files.
    if g.nodes.is_empty() {
        let mut dirs: BTreeMap<&str, Vec<&wit::Document>> = BTreeMap::new();
        for d in documents
            .iter()
            .filter(in_group)
            .filter(|d| server_kind(&d.kind) || d.kind == Kind::PgAutoctl)
        {
            dirs.entry(dir_of(&d.path)).or_default().push(d);
        }
        for (dir, docs) in dirs {
            let autoctl = docs.iter().find(|d| d.kind == Kind::PgAutoctl);
            let setting = |section: &str, name: &str| {
                autoctl.and_then(|d| match &d.body {
                    wit::Body::Settings(s) => s
                        .iter()
                        .rev()
                        .find(|s| s.section.as_deref() == Some(section) && s.name == name)
                        .cloned(),
                    _ => None,
                })
            };
            // Other nodes reach it at `hostname` (`host` is often the socket directory).
            let postgres = setting("pg_autoctl", "hostname")
                .or_else(|| setting("postgresql", "host"))
                .map(|h| {
                    let port = setting("postgresql", "port").and_then(|p| p.value.parse().ok());
                    endpoint::endpoint(&h.value, port, None, h.location.clone(), context)
                });
            let name = setting("pg_autoctl", "name").map_or_else(
                || {
                    if dir.is_empty() {
                        ".".into()
                    } else {
                        dir.to_string()
                    }
                },
                |s| s.value,
            );
            let source = autoctl.map_or_else(|| loc(&docs[0].path, 0), |d| loc(&d.path, 0));
            members.push(wit::Member {
                name,
                restapi: None,
                postgres,
                source,
                files: docs.iter().map(|d| d.path.clone()).collect(),
                settings: settings::effective(None, &docs),
            });
        }
    }
    members.extend(named_members(g, documents, &members, context));
    members
}

/// Servers other files of a Patroni cluster name: HAProxy `server` lines checked on a
/// member's REST API port. Patroni writes the same pg_hba on every member, so each of
/// these addresses is a member its rules must admit.
fn named_members(
    g: &Group,
    documents: &[wit::Document],
    known: &[wit::Member],
    context: &wit::Context,
) -> Vec<wit::Member> {
    let ports: Vec<u16> = known
        .iter()
        .filter_map(|m| m.restapi.as_ref()?.port)
        .collect();
    if ports.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<wit::Member> = Vec::new();
    for d in documents
        .iter()
        .filter(|d| d.kind == Kind::Haproxy && g.has(&d.path))
    {
        for server in super::links::haproxy_servers(d, context) {
            let Some(check) = &server.check else { continue };
            if !ports.contains(&check.port.unwrap_or(0)) {
                continue;
            }
            let seen =
                |m: &wit::Member| m.restapi.as_ref().is_some_and(|r| endpoint::same(check, r));
            if known.iter().any(seen) || out.iter().any(seen) {
                continue;
            }
            out.push(wit::Member {
                name: server.name.clone(),
                // Its own scheme is not known: HAProxy's is only what HAProxy speaks.
                restapi: Some(wit::Endpoint {
                    scheme: None,
                    ..check.clone()
                }),
                postgres: Some(server.address.clone()),
                source: server.address.source.clone(),
                files: Vec::new(),
                settings: Vec::new(),
            });
        }
    }
    out
}

/// Files that configure a PostgreSQL server itself.
fn server_kind(kind: &Kind) -> bool {
    matches!(kind, Kind::PgHba | Kind::PgIdent | Kind::PostgresqlConf)
}

/// An endpoint from a Patroni `listen`/`connect_address` (`0.0.0.0:8008`,
/// `10.0.0.1,127.0.0.1:5432`: the first host).
pub fn listen_endpoint(text: &str, at: wit::Location, context: &wit::Context) -> wit::Endpoint {
    let (hosts, port) = endpoint::split_host_port(text.trim());
    let host = hosts.split(',').next().unwrap_or("").trim();
    endpoint::endpoint(host, port, None, at, context)
}
