//! Links: a component that names another by address, matched to the other end's
//! configuration by host:port within one cluster. A link whose other end is not among
//! the inputs keeps `to: none` (an unknown end), with the address it names.

use crate::formats::Kind;
use crate::wit;

use super::cluster::Group;
use super::patroni::Node;
use super::{Tree, endpoint, roles::conninfo};

/// An HAProxy `server` line.
#[derive(Debug, Clone)]
pub struct HaproxyServer {
    pub name: String,
    pub section: String,
    /// The traffic address.
    pub address: wit::Endpoint,
    /// The health-check address (`check` with `port N`, else the traffic address).
    pub check: Option<wit::Endpoint>,
    /// `check-ssl` (or `ssl` without `no-check-ssl`).
    pub check_ssl: bool,
    /// `crt` given: the check presents a client certificate.
    pub check_cert: bool,
    /// `httpchk` method and path of the section (`GET /primary`), when set.
    pub httpchk: Option<(String, String)>,
}

/// The `server` lines of an HAProxy document, with what `default-server` of their
/// section adds.
pub fn haproxy_servers(doc: &wit::Document, context: &wit::Context) -> Vec<HaproxyServer> {
    let wit::Body::Settings(settings) = &doc.body else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in settings
        .iter()
        .filter(|s| s.name == "server" && s.args.len() >= 2)
    {
        let section = s.section.clone().unwrap_or_default();
        let defaults: Vec<&str> = settings
            .iter()
            .filter(|d| d.name == "default-server" && d.section == s.section)
            .flat_map(|d| d.args.iter().map(String::as_str))
            .collect();
        let words: Vec<&str> = defaults
            .iter()
            .copied()
            .chain(s.args[2..].iter().map(String::as_str))
            .collect();
        let has = |w: &str| words.contains(&w);
        let after = |w: &str| {
            words
                .iter()
                .rposition(|x| *x == w)
                .and_then(|i| words.get(i + 1))
                .map(|v| v.to_string())
        };
        let address = endpoint::parse(&s.args[1], s.location.clone(), context);
        let check_ssl = has("check-ssl") || (has("ssl") && !has("no-check-ssl"));
        let check = has("check").then(|| {
            let mut e = address.clone();
            e.scheme = Some(if check_ssl { "https" } else { "http" }.to_string());
            if let Some(p) = after("port").and_then(|p| p.parse().ok()) {
                e.port = Some(p);
            }
            e
        });
        let httpchk = settings
            .iter()
            .filter(|o| {
                o.section == s.section
                    && o.name == "option"
                    && o.args.first().map(String::as_str) == Some("httpchk")
            })
            .map(|o| {
                (
                    o.args.get(1).cloned().unwrap_or_else(|| "OPTIONS".into()),
                    o.args.get(2).cloned().unwrap_or_else(|| "/".into()),
                )
            })
            .next_back();
        out.push(HaproxyServer {
            name: s.args[0].clone(),
            section,
            address,
            check,
            check_ssl,
            check_cert: has("crt"),
            httpchk,
        });
    }
    out
}

/// Every link of every cluster.
pub fn collect(
    groups: &[Group],
    clusters: &[wit::Cluster],
    documents: &[wit::Document],
    nodes: &[Node],
    context: &wit::Context,
) -> Vec<wit::Link> {
    let mut links = Vec::new();
    for (g, c) in groups.iter().zip(clusters) {
        let docs: Vec<&wit::Document> = documents.iter().filter(|d| g.has(&d.path)).collect();
        let configured = |m: &&wit::Member| !m.files.is_empty();
        let mut link = |kind: wit::LinkKind,
                        from: wit::Location,
                        target: wit::Endpoint,
                        listener: Option<wit::Endpoint>| {
            let to = listener.as_ref().map(|l| l.source.clone());
            links.push(wit::Link {
                kind,
                cluster: c.name.clone(),
                from,
                target,
                to,
                listener,
            });
        };
        for d in docs.iter().filter(|d| d.kind == Kind::Haproxy) {
            for s in haproxy_servers(d, context) {
                let Some(check) = s.check else { continue };
                let to = c
                    .members
                    .iter()
                    .filter(configured)
                    .filter_map(|m| m.restapi.as_ref())
                    .find(|r| endpoint::same(&check, r))
                    .cloned();
                link(wit::LinkKind::HaproxyCheck, check.source.clone(), check, to);
            }
        }
        let dcs_listeners = dcs_listeners(&docs, context);
        for &i in &g.nodes {
            let Some(dcs) = &nodes[i].dcs else { continue };
            let scheme = nodes[i].dcs_scheme().map(|(s, _)| s);
            for h in &dcs.hosts {
                let mut target = endpoint::parse(&h.value, h.at.clone(), context);
                if target.scheme.is_none() {
                    target.scheme = scheme.clone();
                }
                let to = matching(&target, &dcs_listeners).cloned();
                link(wit::LinkKind::PatroniDcs, h.at.clone(), target, to);
            }
        }
        for d in docs.iter().filter(|d| d.kind == Kind::Pgbouncer) {
            let wit::Body::Settings(settings) = &d.body else {
                continue;
            };
            for s in settings
                .iter()
                .filter(|s| s.section.as_deref() == Some("databases"))
            {
                let host = conninfo(&s.value, "host").unwrap_or_default();
                let port = conninfo(&s.value, "port")
                    .and_then(|p| p.parse().ok())
                    .or(Some(5432));
                let target = endpoint::endpoint(&host, port, None, s.location.clone(), context);
                let to = if host.is_empty() || host.starts_with('/') {
                    // A Unix socket: the server in PgBouncer's own directory, if one.
                    let dir = super::dir_of(&d.path);
                    let here: Vec<&wit::Member> = c
                        .members
                        .iter()
                        .filter(configured)
                        .filter(|m| m.files.iter().any(|f| super::dir_of(f) == dir))
                        .collect();
                    match here.as_slice() {
                        [m] => Some(m.postgres.clone().unwrap_or_else(|| target.clone())).map(
                            |mut e| {
                                e.source = m.source.clone();
                                e
                            },
                        ),
                        _ => None,
                    }
                } else {
                    c.members
                        .iter()
                        .filter(configured)
                        .filter_map(|m| m.postgres.as_ref())
                        .find(|p| endpoint::same(&target, p))
                        .cloned()
                };
                link(
                    wit::LinkKind::PgbouncerPostgresql,
                    s.location.clone(),
                    target,
                    to,
                );
            }
        }
        let monitors: Vec<wit::Endpoint> = docs
            .iter()
            .filter(|d| d.kind == Kind::PgAutoctl)
            .filter_map(|d| {
                let wit::Body::Settings(s) = &d.body else {
                    return None;
                };
                let get = |sec: &str, name: &str| {
                    s.iter()
                        .rev()
                        .find(|x| x.section.as_deref() == Some(sec) && x.name == name)
                };
                (get("pg_autoctl", "role")?.value == "monitor").then_some(())?;
                let host = get("pg_autoctl", "hostname")?;
                let port = get("postgresql", "port")
                    .and_then(|p| p.value.parse().ok())
                    .or(Some(5432));
                Some(endpoint::endpoint(
                    &host.value,
                    port,
                    None,
                    host.location.clone(),
                    context,
                ))
            })
            .collect();
        for d in docs.iter().filter(|d| d.kind == Kind::PgAutoctl) {
            let wit::Body::Settings(s) = &d.body else {
                continue;
            };
            if let Some(m) = s
                .iter()
                .find(|x| x.section.as_deref() == Some("pg_autoctl") && x.name == "monitor")
            {
                let mut target = endpoint::parse(&m.value, m.location.clone(), context);
                target.scheme = None;
                if target.port.is_none() {
                    target.port = Some(5432);
                }
                let to = monitors
                    .iter()
                    .find(|l| endpoint::same(&target, l))
                    .cloned();
                link(
                    wit::LinkKind::PgAutoFailoverMonitor,
                    m.location.clone(),
                    target,
                    to,
                );
            }
        }
        for d in docs.iter().filter(|d| d.kind == Kind::Pgbackrest) {
            let wit::Body::Settings(s) = &d.body else {
                continue;
            };
            for x in s.iter().filter(|x| is_pg_host(&x.name)) {
                let target = endpoint::endpoint(&x.value, None, None, x.location.clone(), context);
                let to = c
                    .members
                    .iter()
                    .filter(configured)
                    .filter_map(|m| m.postgres.as_ref())
                    .find(|p| {
                        p.host.eq_ignore_ascii_case(&target.host)
                            || endpoint::same_address(&p.address, &target.address)
                    })
                    .cloned();
                link(wit::LinkKind::Pgbackrest, x.location.clone(), target, to);
            }
        }
    }
    links
}

/// `pg1-host`, `pg2-host`.
fn is_pg_host(name: &str) -> bool {
    name.strip_prefix("pg")
        .and_then(|r| r.strip_suffix("-host"))
        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty())
}

/// The client URLs of the etcd and Consul servers among `docs`.
pub fn dcs_listeners(docs: &[&wit::Document], context: &wit::Context) -> Vec<wit::Endpoint> {
    let mut out = Vec::new();
    for d in docs.iter().filter(|d| d.kind == Kind::Etcd) {
        let Some(t) = Tree::of(d) else { continue };
        for key in ["/advertise-client-urls", "/listen-client-urls"] {
            if let Some(text) = t.text(key) {
                for url in text.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                    out.push(endpoint::parse(url, t.at(key), context));
                }
            }
        }
    }
    out
}

/// The listener `target` reaches: the same host:port, else the one wildcard listener on
/// that port when no listener names its host (a server that advertises its address is
/// not reached under another one).
pub fn matching<'a>(
    target: &wit::Endpoint,
    listeners: &'a [wit::Endpoint],
) -> Option<&'a wit::Endpoint> {
    if let Some(l) = listeners.iter().find(|l| endpoint::same(target, l)) {
        return Some(l);
    }
    if listeners.iter().any(|l| !endpoint::is_wildcard(&l.host)) {
        return None;
    }
    let wild: Vec<&wit::Endpoint> = listeners
        .iter()
        .filter(|l| endpoint::is_wildcard(&l.host) && l.port.is_some() && l.port == target.port)
        .collect();
    match wild.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}
