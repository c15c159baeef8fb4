//! The ports the deployment's configs set, and the backends HAProxy reaches.

use crate::formats::Kind;
use std::collections::HashMap;

use serde_json::Value;

use crate::wit;

/// Service name → (ports, where they are set).
#[derive(Debug, Default)]
pub struct Ports {
    map: HashMap<String, (Vec<u16>, Option<String>)>,
}

impl Ports {
    /// The ports of `service`: what a config or the topology sets, else `default`.
    pub fn get(&self, service: &str, default: u16) -> (Vec<u16>, Option<String>) {
        self.map
            .get(service)
            .cloned()
            .unwrap_or((vec![default], None))
    }

    /// Records the first config that sets a service's ports (the topology's `ports`
    /// override everything and are recorded with `force`).
    fn set(&mut self, service: &str, ports: Vec<u16>, from: String, force: bool) {
        if force || !self.map.contains_key(service) {
            self.map.insert(service.to_string(), (ports, Some(from)));
        }
    }
}

/// The port at the end of `host:port`, `:port`, `[::1]:port` or a URL.
fn port_of(text: &str) -> Option<u16> {
    let t = text.trim().trim_end_matches('/');
    let t = t.split_once("://").map_or(t, |(_, r)| r);
    let t = t.split('/').next().unwrap_or(t);
    t.rsplit_once(':')?.1.parse().ok()
}

fn structured(doc: &wit::Document) -> Option<(Value, &[wit::Span])> {
    let wit::Body::Structured(s) = &doc.body else {
        return None;
    };
    Some((serde_json::from_str(&s.json).ok()?, &s.spans))
}

fn at(doc: &wit::Document, spans: &[wit::Span], pointer: &str) -> String {
    let line = spans
        .iter()
        .find(|s| s.pointer == pointer)
        .map_or(0, |s| s.line);
    format!("{}:{line}", doc.path)
}

fn settings(doc: &wit::Document) -> &[wit::Setting] {
    match &doc.body {
        wit::Body::Settings(s) => s,
        _ => &[],
    }
}

/// The last setting called `name` (in `section`, when given).
fn last<'a>(doc: &'a wit::Document, section: Option<&str>, name: &str) -> Option<&'a wit::Setting> {
    settings(doc).iter().rfind(|s| {
        s.name.eq_ignore_ascii_case(name)
            && section.is_none_or(|sec| {
                s.section
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(sec))
            })
    })
}

fn here(s: &wit::Setting) -> String {
    format!("{}:{}", s.location.file, s.location.line)
}

/// Every port the documents set, with the topology's `ports` over them.
pub fn ports(docs: &[wit::Document], overrides: Option<&Value>) -> Ports {
    let mut p = Ports::default();
    for doc in docs {
        match &doc.kind {
            Kind::Patroni => {
                let Some((v, spans)) = structured(doc) else {
                    continue;
                };
                for (service, pointer) in [
                    ("patroni", "/restapi/listen"),
                    ("postgresql", "/postgresql/listen"),
                ] {
                    if let Some(port) = v.pointer(pointer).and_then(Value::as_str).and_then(port_of)
                    {
                        p.set(service, vec![port], at(doc, spans, pointer), false);
                    }
                }
            }
            Kind::PostgresqlConf => {
                if let Some(s) = last(doc, None, "port")
                    && let Ok(port) = s.value.trim().trim_matches('\'').parse()
                {
                    p.set("postgresql", vec![port], here(s), false);
                }
            }
            Kind::PgAutoctl => {
                if let Some(s) = last(doc, Some("postgresql"), "port")
                    && let Ok(port) = s.value.trim().parse()
                {
                    p.set("postgresql", vec![port], here(s), false);
                }
            }
            Kind::Pgbouncer => {
                if let Some(s) = last(doc, Some("pgbouncer"), "listen_port")
                    && let Ok(port) = s.value.trim().parse()
                {
                    p.set("pgbouncer", vec![port], here(s), false);
                }
            }
            Kind::Pgbackrest => {
                if let Some(s) = last(doc, None, "tls-server-port")
                    && let Ok(port) = s.value.trim().parse::<u16>()
                {
                    p.set("pgbackrest", vec![port], here(s), false);
                    p.set("pgbackrest-repository", vec![port], here(s), false);
                }
            }
            Kind::Haproxy => {
                let mut binds: Vec<u16> = Vec::new();
                let mut first = None;
                for s in settings(doc).iter().filter(|s| s.name == "bind") {
                    let frontend = s.section.as_deref().is_some_and(|sec| {
                        sec.starts_with("frontend") || sec.starts_with("listen")
                    });
                    if !frontend {
                        continue;
                    }
                    for addr in s
                        .args
                        .first()
                        .map(|a| a.split(',').collect::<Vec<_>>())
                        .unwrap_or_default()
                    {
                        if let Some(port) = port_of(addr)
                            && !binds.contains(&port)
                        {
                            binds.push(port);
                            first.get_or_insert_with(|| here(s));
                        }
                    }
                }
                if let Some(from) = first {
                    p.set("haproxy", binds, from, false);
                }
            }
            Kind::Etcd => {
                let Some((v, spans)) = structured(doc) else {
                    continue;
                };
                for (service, key) in [
                    ("etcd-client", "listen-client-urls"),
                    ("etcd-peer", "listen-peer-urls"),
                ] {
                    let urls = v.get(key).and_then(Value::as_str).unwrap_or("");
                    let mut list: Vec<u16> = urls.split(',').filter_map(port_of).collect();
                    list.dedup();
                    if !list.is_empty() {
                        p.set(service, list, at(doc, spans, &format!("/{key}")), false);
                    }
                }
            }
            Kind::Consul => {
                let Some((v, spans)) = structured(doc) else {
                    continue;
                };
                for (service, key) in [
                    ("consul-rpc", "server"),
                    ("consul-serf-lan", "serf_lan"),
                    ("consul-serf-wan", "serf_wan"),
                    ("consul-http", "http"),
                    ("consul-dns", "dns"),
                ] {
                    let pointer = format!("/ports/{key}");
                    if let Some(port) = v.pointer(&pointer).and_then(Value::as_i64) {
                        let list = u16::try_from(port)
                            .ok()
                            .filter(|p| *p > 0)
                            .into_iter()
                            .collect();
                        p.set(service, list, at(doc, spans, &pointer), false);
                    }
                }
            }
            Kind::GitlabRb => {
                for (service, name) in [
                    ("patroni", "patroni['port']"),
                    ("postgresql", "postgresql['port']"),
                    ("pgbouncer", "pgbouncer['listen_port']"),
                    ("consul-http", "consul['http_port']"),
                ] {
                    let Some(s) = last(doc, None, name) else {
                        continue;
                    };
                    let port = match serde_json::from_str::<Value>(&s.value) {
                        Ok(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                        Ok(Value::String(t)) => t.parse().ok(),
                        _ => None,
                    };
                    if let Some(port) = port {
                        p.set(service, vec![port], here(s), false);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(Value::Object(o)) = overrides {
        for (service, v) in o {
            let list: Vec<u16> = match v {
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .into_iter()
                    .collect(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_u64().and_then(|n| u16::try_from(n).ok()))
                    .collect(),
                _ => continue,
            };
            p.set(service, list, "topology `ports`".into(), true);
        }
    }
    p
}

/// A port HAProxy connects to on a backend host.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub address: String,
    pub port: u16,
    pub why: String,
}

/// The `server` lines of every haproxy.cfg: their address and port, and the health
/// check port (`port N` on the line or on the section's `default-server`).
pub fn haproxy_backends(docs: &[wit::Document]) -> Vec<Backend> {
    let mut out: Vec<Backend> = Vec::new();
    for doc in docs.iter().filter(|d| d.kind == Kind::Haproxy) {
        let all = settings(doc);
        for s in all.iter().filter(|s| s.name == "server") {
            let section = s.section.clone().unwrap_or_default();
            let Some(addr) = s.args.get(1) else { continue };
            let Some((host, port)) = addr.rsplit_once(':') else {
                continue;
            };
            let host = host.trim_matches(['[', ']']).to_string();
            let check_port = |args: &[String]| {
                args.windows(2)
                    .find(|w| w[0] == "port")
                    .and_then(|w| w[1].parse::<u16>().ok())
            };
            let default_port = all
                .iter()
                .filter(|d| {
                    d.name == "default-server" && d.section.as_deref() == Some(section.as_str())
                })
                .find_map(|d| check_port(&d.args));
            let mut add = |port: u16, why: String| {
                if !out.iter().any(|b| b.address == host && b.port == port) {
                    out.push(Backend {
                        address: host.clone(),
                        port,
                        why,
                    });
                }
            };
            if let Ok(port) = port.parse::<u16>() {
                add(
                    port,
                    format!(
                        "HAProxy `{section}` sends connections here ({}:{})",
                        doc.path, s.location.line
                    ),
                );
            }
            if let Some(cp) = check_port(&s.args).or(default_port) {
                add(
                    cp,
                    format!(
                        "HAProxy `{section}` health checks ({}:{})",
                        doc.path, s.location.line
                    ),
                );
            }
        }
    }
    out
}
