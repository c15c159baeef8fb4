//! The required flows: the connections and calls the deployment itself needs, each
//! with the configuration line that makes it needed.
//!
//! Patroni: replication from every member address as the replication user (Patroni
//! writes the same pg_hba on every member, so each member's own address counts; also
//! over the Unix socket with `use_unix_socket_repl`), pg_rewind from the other members,
//! Patroni's own superuser connection (the socket with `use_unix_socket`, else its
//! first listen address), member-to-member REST calls, patronictl, and the DCS.
//! HAProxy health checks to each Patroni REST API; PgBouncer's `auth_user` lookup;
//! pg_auto_failover's monitor ↔ node connections and replication. A flow whose source or
//! serving end is not among the inputs is listed all the same, with an empty source or
//! no target: it is decided as unknown.

use crate::formats::Kind;
use std::net::IpAddr;

use crate::wit;

use super::cluster::Group;
use super::patroni::Node;
use super::{endpoint, links::haproxy_servers, loc, roles, settings};

/// Builds the required flows of every cluster.
pub fn required(
    dep: &wit::Deployment,
    groups: &[Group],
    documents: &[wit::Document],
    nodes: &[Node],
    context: &wit::Context,
) -> Vec<wit::RequiredFlow> {
    let mut flows = Vec::new();
    for (g, c) in groups.iter().zip(&dep.clusters) {
        let mut b = Builder {
            cluster: &c.name,
            flows: &mut flows,
        };
        // Every address a member of the cluster connects from.
        let mut sources: Vec<(IpAddr, String)> = Vec::new();
        for m in &c.members {
            for e in [&m.postgres, &m.restapi].into_iter().flatten() {
                if let Some(a) = &e.address
                    && !endpoint::is_wildcard(&e.host)
                {
                    let ip = endpoint::ip(a);
                    if !sources.iter().any(|(s, _)| *s == ip) {
                        sources.push((ip, m.name.clone()));
                    }
                }
            }
        }
        if !g.nodes.is_empty()
            && let Some(members) = &context.members
        {
            for h in members {
                let host = endpoint::split_host_port(h.split("://").last().unwrap_or(h)).0;
                if let Some(ip) = endpoint::resolve(host, context)
                    && !sources.iter().any(|(s, _)| *s == ip)
                {
                    sources.push((ip, h.clone()));
                }
            }
        }
        for &i in &g.nodes {
            let n = &nodes[i];
            let Some(m) = c.members.iter().find(|m| m.files.contains(&n.file)) else {
                continue;
            };
            patroni_flows(&mut b, n, m, &sources, documents);
        }
        // HAProxy checks, to the member whose REST API they name.
        for d in documents
            .iter()
            .filter(|d| d.kind == Kind::Haproxy && g.has(&d.path))
        {
            for s in haproxy_servers(d, context) {
                let Some(check) = &s.check else { continue };
                let target = c.members.iter().find(|m| {
                    !m.files.is_empty()
                        && m.restapi.as_ref().is_some_and(|r| endpoint::same(check, r))
                });
                let (method, path) = s
                    .httpchk
                    .clone()
                    .unwrap_or_else(|| ("OPTIONS".into(), "/".into()));
                b.push(
                    wit::FlowKind::HaproxyCheck,
                    format!(
                        "HAProxy check {method} {path} of `{}` to {}",
                        s.name,
                        endpoint::show(check)
                    ),
                    check.source.clone(),
                    target.map(|m| m.name.clone()),
                    None,
                    wit::FlowCall::Request(wit::FlowRequest {
                        // HAProxy's own address is not in its configuration.
                        source: None,
                        method,
                        path,
                        scheme: if s.check_ssl { 2 } else { 1 },
                        auth: 0,
                        client_cert: u8::from(s.check_cert),
                    }),
                );
            }
        }
        for (i, l) in dep
            .links
            .iter()
            .enumerate()
            .filter(|(_, l)| l.cluster == c.name && l.kind == wit::LinkKind::PatroniDcs)
        {
            b.push(
                wit::FlowKind::PatroniDcs,
                format!("Patroni to its DCS at {}", show_url(&l.target)),
                l.from.clone(),
                l.to.as_ref().map(|t| t.file.clone()),
                None,
                wit::FlowCall::Link(i as u32),
            );
        }
        pgbouncer_flows(&mut b, g, c, dep, documents);
        pgaf_flows(&mut b, c, dep);
    }
    flows
}

struct Builder<'a> {
    cluster: &'a str,
    flows: &'a mut Vec<wit::RequiredFlow>,
}

impl Builder<'_> {
    fn push(
        &mut self,
        kind: wit::FlowKind,
        description: String,
        source: wit::Location,
        target: Option<String>,
        os_user: Option<String>,
        call: wit::FlowCall,
    ) {
        self.flows.push(wit::RequiredFlow {
            kind,
            cluster: self.cluster.to_string(),
            description,
            source,
            target,
            os_user,
            call,
        });
    }
}

/// A PostgreSQL connection sample.
fn connection(
    source: String,
    ssl: bool,
    user: &str,
    database: &str,
    replication: wit::ReplicationMode,
) -> wit::Connection {
    wit::Connection {
        name: None,
        source,
        ssl,
        client_cert: None,
        user: user.to_string(),
        database: database.to_string(),
        replication,
    }
}

/// Whether a client using libpq's default `sslmode=prefer` gets TLS: only when the
/// server's effective `ssl` is on. Off or unknown: decided without TLS, since a `hostssl`
/// line admits nothing on a server whose TLS is not known to be on.
fn server_ssl(m: &wit::Member) -> bool {
    settings::get(&m.settings, "ssl").is_some_and(|s| {
        matches!(
            s.value.to_ascii_lowercase().as_str(),
            "on" | "true" | "yes" | "1"
        )
    })
}

/// The OS user a service runs as: `User=` of a systemd unit next to `file` whose
/// `ExecStart=` runs `program`.
fn os_user(documents: &[wit::Document], file: &str, program: &str) -> Option<String> {
    let dir = super::dir_of(file);
    documents
        .iter()
        .filter(|d| d.kind == Kind::Systemd && super::dir_of(&d.path) == dir)
        .find_map(|d| {
            let wit::Body::Settings(s) = &d.body else {
                return None;
            };
            s.iter()
                .any(|x| x.name == "ExecStart" && x.value.contains(program))
                .then_some(())?;
            s.iter()
                .rev()
                .find(|x| x.name == "User")
                .map(|x| x.value.clone())
        })
}

fn patroni_flows(
    b: &mut Builder<'_>,
    n: &Node,
    m: &wit::Member,
    sources: &[(IpAddr, String)],
    documents: &[wit::Document],
) {
    let ssl = server_ssl(m);
    let target = Some(m.name.clone());
    let os = os_user(documents, &n.file, "patroni");
    let own: Option<IpAddr> = m
        .postgres
        .as_ref()
        .and_then(|p| p.address.as_ref())
        .map(endpoint::ip);
    if let Some(user) = &n.replication_user {
        for (ip, from) in sources {
            b.push(
                wit::FlowKind::Replication,
                format!("replication from {ip} ({from}) as `{}`", user.value),
                user.at.clone(),
                target.clone(),
                None,
                wit::FlowCall::Connection(connection(
                    ip.to_string(),
                    ssl,
                    &user.value,
                    "replication",
                    wit::ReplicationMode::Physical,
                )),
            );
        }
        if n.use_unix_socket_repl {
            b.push(
                wit::FlowKind::Replication,
                format!(
                    "replication over the Unix socket as `{}` (use_unix_socket_repl)",
                    user.value
                ),
                user.at.clone(),
                target.clone(),
                os.clone(),
                wit::FlowCall::Connection(connection(
                    "local".into(),
                    false,
                    &user.value,
                    "replication",
                    wit::ReplicationMode::Physical,
                )),
            );
        }
    }
    if n.use_pg_rewind
        && let Some(user) = n.rewind_user.as_ref().or(n.superuser.as_ref())
    {
        for (ip, from) in sources.iter().filter(|(ip, _)| Some(*ip) != own) {
            b.push(
                wit::FlowKind::Rewind,
                format!("pg_rewind from {ip} ({from}) as `{}`", user.value),
                user.at.clone(),
                target.clone(),
                None,
                wit::FlowCall::Connection(connection(
                    ip.to_string(),
                    ssl,
                    &user.value,
                    "postgres",
                    wit::ReplicationMode::None,
                )),
            );
        }
    }
    if let Some(user) = &n.superuser {
        let (source, how, os_user) = if n.use_unix_socket {
            (
                "local".to_string(),
                "over the Unix socket (use_unix_socket)".to_string(),
                os.clone(),
            )
        } else {
            match local_address(n) {
                Some(ip) => (ip.to_string(), format!("from {ip}"), None),
                None => (String::new(), "from an unknown address".to_string(), None),
            }
        };
        b.push(
            wit::FlowKind::Superuser,
            format!("Patroni's own connection as `{}` {how}", user.value),
            user.at.clone(),
            target.clone(),
            os_user,
            wit::FlowCall::Connection(connection(
                source.clone(),
                ssl && source != "local",
                &user.value,
                "postgres",
                wit::ReplicationMode::None,
            )),
        );
    }
    let scheme = if n.restapi_tls { 2 } else { 1 };
    let at = n
        .restapi_connect
        .as_ref()
        .or(n.restapi_listen.as_ref())
        .map_or_else(|| loc(&n.file, 0), |v| v.at.clone());
    for (ip, from) in sources.iter().filter(|(ip, _)| Some(*ip) != own) {
        b.push(
            wit::FlowKind::MemberRestapi,
            format!("GET /patroni from member {ip} ({from})"),
            at.clone(),
            target.clone(),
            None,
            wit::FlowCall::Request(wit::FlowRequest {
                source: Some(crate::samples::ip_address(*ip)),
                method: "GET".into(),
                path: "/patroni".into(),
                scheme,
                auth: 0,
                client_cert: u8::from(n.ctl_cert),
            }),
        );
    }
    if let Some(ip) = own {
        b.push(
            wit::FlowKind::Patronictl,
            format!("patronictl on {} (POST /restart from {ip})", m.name),
            at,
            target,
            None,
            wit::FlowCall::Request(wit::FlowRequest {
                source: Some(crate::samples::ip_address(ip)),
                method: "POST".into(),
                path: "/restart".into(),
                scheme,
                auth: u32::from(n.restapi_auth),
                client_cert: u8::from(n.ctl_cert),
            }),
        );
    }
}

/// The address Patroni connects to its own PostgreSQL on without the socket: the first
/// listen address, a wildcard meaning the loopback (Patroni's `local_address`).
fn local_address(n: &Node) -> Option<IpAddr> {
    let listen = n.pg_listen.as_ref()?;
    let (hosts, _) = endpoint::split_host_port(listen.value.trim());
    let first = hosts.split(',').next()?.trim();
    match first {
        "*" | "0.0.0.0" | "" => Some(IpAddr::from([127, 0, 0, 1])),
        "::" => Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
        "localhost" => Some(IpAddr::from([127, 0, 0, 1])),
        other => other.parse().ok(),
    }
}

fn pgbouncer_flows(
    b: &mut Builder<'_>,
    g: &Group,
    c: &wit::Cluster,
    dep: &wit::Deployment,
    documents: &[wit::Document],
) {
    for d in documents
        .iter()
        .filter(|d| d.kind == Kind::Pgbouncer && g.has(&d.path))
    {
        let wit::Body::Settings(settings) = &d.body else {
            continue;
        };
        let get = |name: &str| {
            settings
                .iter()
                .rev()
                .find(|s| s.section.as_deref() == Some("pgbouncer") && s.name == name)
        };
        let Some(auth_user) = get("auth_user") else {
            continue;
        };
        let os = os_user(documents, &d.path, "pgbouncer");
        for l in dep.links.iter().filter(|l| {
            l.cluster == c.name
                && l.kind == wit::LinkKind::PgbouncerPostgresql
                && l.from.file == d.path
        }) {
            let member = l.to.as_ref().and_then(|to| {
                c.members.iter().find(|m| {
                    endpoint::same_location(&m.source, to)
                        || m.postgres
                            .as_ref()
                            .is_some_and(|p| endpoint::same_location(&p.source, to))
                })
            });
            let socket = l.target.host.is_empty() || l.target.host.starts_with('/');
            // Over TCP, from PgBouncer's host: known only when it runs on the server it
            // names (its file next to the server's).
            let same_host = member.is_some_and(|m| {
                m.files
                    .iter()
                    .any(|f| super::dir_of(f) == super::dir_of(&d.path))
            });
            let source = if socket {
                "local".to_string()
            } else if same_host {
                l.target
                    .address
                    .as_ref()
                    .map_or(String::new(), |a| endpoint::ip(a).to_string())
            } else {
                String::new()
            };
            let db = get("auth_dbname").map(|s| s.value.clone()).or_else(|| {
                let line = settings
                    .iter()
                    .find(|s| endpoint::same_location(&s.location, &l.from))?;
                roles::conninfo(&line.value, "dbname").or_else(|| Some(line.name.clone()))
            });
            let ssl = member.is_some_and(server_ssl) && source != "local";
            let via = if socket {
                "over the Unix socket".to_string()
            } else {
                format!("to {}", endpoint::show(&l.target))
            };
            b.push(
                wit::FlowKind::PgbouncerAuthUser,
                format!("PgBouncer auth_user `{}` lookup {via}", auth_user.value),
                auth_user.location.clone(),
                member.map(|m| m.name.clone()),
                if socket { os.clone() } else { None },
                wit::FlowCall::Connection(connection(
                    source,
                    ssl,
                    &auth_user.value,
                    &db.unwrap_or_default(),
                    wit::ReplicationMode::None,
                )),
            );
        }
    }
}

fn pgaf_flows(b: &mut Builder<'_>, c: &wit::Cluster, dep: &wit::Deployment) {
    // Node → monitor, as `autoctl_node`, to the monitor's `pg_auto_failover` database.
    for l in dep
        .links
        .iter()
        .filter(|l| l.cluster == c.name && l.kind == wit::LinkKind::PgAutoFailoverMonitor)
    {
        let node = c.members.iter().find(|m| m.files.contains(&l.from.file));
        let monitor =
            l.to.as_ref()
                .and_then(|to| c.members.iter().find(|m| m.files.contains(&to.file)));
        let source = node
            .and_then(|m| m.postgres.as_ref()?.address.as_ref())
            .map_or(String::new(), |a| endpoint::ip(a).to_string());
        let ssl = monitor.is_some_and(server_ssl);
        b.push(
            wit::FlowKind::PgAutoFailover,
            format!(
                "pg_auto_failover node {} to its monitor as `{}`",
                node.map_or("?", |m| m.name.as_str()),
                roles::PGAF_NODE
            ),
            l.from.clone(),
            monitor.map(|m| m.name.clone()),
            None,
            wit::FlowCall::Connection(connection(
                source.clone(),
                ssl,
                roles::PGAF_NODE,
                "pg_auto_failover",
                wit::ReplicationMode::None,
            )),
        );
        // Monitor → node health checks, as `pgautofailover_monitor`.
        if let Some(node) = node {
            let from = monitor
                .and_then(|m| m.postgres.as_ref()?.address.as_ref())
                .map_or(String::new(), |a| endpoint::ip(a).to_string());
            b.push(
                wit::FlowKind::PgAutoFailover,
                format!(
                    "pg_auto_failover monitor health check of {} as `{}`",
                    node.name,
                    roles::PGAF_MONITOR
                ),
                l.from.clone(),
                Some(node.name.clone()),
                None,
                wit::FlowCall::Connection(connection(
                    from,
                    server_ssl(node),
                    roles::PGAF_MONITOR,
                    "postgres",
                    wit::ReplicationMode::None,
                )),
            );
        }
    }
    // Replication between the nodes, as `pgautofailover_replicator`.
    let nodes: Vec<&wit::Member> = c
        .members
        .iter()
        .filter(|m| {
            !dep.links.iter().any(|l| {
                l.to.as_ref().is_some_and(|t| m.files.contains(&t.file))
                    && l.kind == wit::LinkKind::PgAutoFailoverMonitor
            })
        })
        .filter(|m| {
            dep.links.iter().any(|l| {
                l.kind == wit::LinkKind::PgAutoFailoverMonitor && m.files.contains(&l.from.file)
            })
        })
        .collect();
    for to in &nodes {
        for from in nodes.iter().filter(|f| f.name != to.name) {
            let source = from
                .postgres
                .as_ref()
                .and_then(|p| p.address.as_ref())
                .map_or(String::new(), |a| endpoint::ip(a).to_string());
            b.push(
                wit::FlowKind::Replication,
                format!(
                    "pg_auto_failover replication from {} to {} as `{}`",
                    from.name,
                    to.name,
                    roles::PGAF_REPLICATOR
                ),
                from.source.clone(),
                Some(to.name.clone()),
                None,
                wit::FlowCall::Connection(connection(
                    source,
                    server_ssl(to),
                    roles::PGAF_REPLICATOR,
                    "replication",
                    wit::ReplicationMode::Physical,
                )),
            );
        }
    }
}

fn show_url(e: &wit::Endpoint) -> String {
    match &e.scheme {
        Some(s) => format!("{s}://{}", endpoint::show(e)),
        None => endpoint::show(e),
    }
}
