//! The live endpoints `patrol verify` probes, each with the file and line that names it:
//! the Patroni REST API (`restapi.connect_address`, else `restapi.listen`), PostgreSQL
//! (`postgresql.connect_address`, else `postgresql.listen`, of the Patroni YAML; or
//! `listen_addresses` + `port` of a postgresql.conf), PgBouncer (`listen_addr` +
//! `listen_port`), etcd (`advertise-client-urls`, else `listen-client-urls`) and HAProxy
//! (`bind` of a `frontend`/`listen` section), or the addresses of `--target`.
//!
//! A wildcard (`*`, `0.0.0.0`, `::`, an empty host) names no address to probe: it is
//! reported as skipped with the reason, never replaced by a guess.

use serde_json::Value;

use crate::formats::Kind;
use crate::wit;

/// What listens at an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Patroni,
    Postgresql,
    Pgbouncer,
    Etcd,
    Haproxy,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Patroni,
        Service::Postgresql,
        Service::Pgbouncer,
        Service::Etcd,
        Service::Haproxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Patroni => "patroni",
            Service::Postgresql => "postgresql",
            Service::Pgbouncer => "pgbouncer",
            Service::Etcd => "etcd",
            Service::Haproxy => "haproxy",
        }
    }

    fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A live address to probe.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Endpoint {
    pub service: Service,
    pub host: String,
    pub port: u16,
    /// The Patroni REST API speaks TLS (`restapi.certfile`); etcd `https://` URLs.
    pub tls: bool,
    /// Where the address is named: `file` and `line`, or `--target` (line 0).
    pub file: String,
    pub line: u32,
    /// The config key (`restapi.connect_address`) or `--target NAME`.
    pub key: String,
    /// The config file whose settings the simulation of this endpoint uses (the Patroni
    /// YAML for the REST API and its PostgreSQL; the PgBouncer ini); none: every file.
    pub config: Option<String>,
}

impl Endpoint {
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn origin(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}", self.file, self.line)
        }
    }
}

/// An address a config names that cannot be probed, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub service: Service,
    pub file: String,
    pub line: u32,
    pub reason: String,
}

/// `--target NAME=HOST:PORT`: NAME is a service (`patroni`, `postgresql`, `pgbouncer`,
/// `etcd`, `haproxy`); its targets replace the endpoints the configs give that service.
#[derive(Debug, Clone)]
pub struct Target {
    pub service: Service,
    pub host: String,
    pub port: u16,
    pub spec: String,
}

impl Target {
    pub fn parse(spec: &str) -> Result<Target, String> {
        let (name, addr) = spec.split_once('=').ok_or_else(|| {
            format!("`--target {spec}`: expected NAME=HOST:PORT (NAME: patroni, postgresql, pgbouncer, etcd, haproxy)")
        })?;
        let service = Service::parse(name).ok_or_else(|| {
            format!("`--target {spec}`: unknown NAME `{name}` (one of: patroni, postgresql, pgbouncer, etcd, haproxy)")
        })?;
        let (host, port) = split_host_port(addr)
            .ok_or_else(|| format!("`--target {spec}`: `{addr}` is not HOST:PORT"))?;
        if is_wildcard(&host) {
            return Err(format!(
                "`--target {spec}`: `{host}` is a wildcard, not an address to probe"
            ));
        }
        Ok(Target {
            service,
            host,
            port,
            spec: spec.to_string(),
        })
    }
}

/// Splits `host:port`, `[v6]:port`; none when there is no port.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h, p)
    } else {
        s.rsplit_once(':')?
    };
    Some((host.to_string(), port.parse().ok()?))
}

fn is_wildcard(host: &str) -> bool {
    matches!(host, "" | "*" | "0.0.0.0" | "::" | "[::]")
}

/// The endpoints of the documents, then `--target`s in place of a service's own.
pub fn derive(docs: &[wit::Document], targets: &[Target]) -> (Vec<Endpoint>, Vec<Skipped>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for doc in docs {
        match (&doc.kind, &doc.body) {
            (Kind::Patroni, wit::Body::Structured(s)) => patroni(doc, s, &mut out, &mut skipped),
            (Kind::Etcd, wit::Body::Structured(s)) => etcd(doc, s, &mut out, &mut skipped),
            (Kind::Pgbouncer, wit::Body::Settings(list)) => {
                pgbouncer(doc, list, &mut out, &mut skipped)
            }
            (Kind::PostgresqlConf, wit::Body::Settings(list)) => {
                postgresql_conf(doc, list, &mut out, &mut skipped)
            }
            (Kind::Haproxy, wit::Body::Settings(list)) => {
                haproxy(doc, list, &mut out, &mut skipped)
            }
            _ => {}
        }
    }
    for service in Service::ALL {
        let given: Vec<&Target> = targets.iter().filter(|t| t.service == service).collect();
        if given.is_empty() {
            continue;
        }
        // The configs of that service still drive the simulation; only the address changes.
        let config = out
            .iter()
            .find(|e| e.service == service)
            .and_then(|e| e.config.clone());
        let tls = out.iter().any(|e| e.service == service && e.tls);
        out.retain(|e| e.service != service);
        skipped.retain(|s| s.service != service);
        for t in given {
            out.push(Endpoint {
                service,
                host: t.host.clone(),
                port: t.port,
                tls,
                file: "--target".into(),
                line: 0,
                key: format!("--target {}", t.spec),
                config: config.clone(),
            });
        }
    }
    // The same address named twice (connect_address and postgresql.conf) is probed once.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|e| seen.insert((e.service, e.host.clone(), e.port)));
    (out, skipped)
}

fn line_of(s: &wit::Structured, pointer: &str) -> u32 {
    s.spans
        .iter()
        .find(|sp| sp.pointer == pointer)
        .map_or(0, |sp| sp.line)
}

fn patroni(
    doc: &wit::Document,
    s: &wit::Structured,
    out: &mut Vec<Endpoint>,
    skipped: &mut Vec<Skipped>,
) {
    let Ok(json) = serde_json::from_str::<Value>(&s.json) else {
        return;
    };
    let tls = json
        .pointer("/restapi/certfile")
        .and_then(Value::as_str)
        .is_some_and(|c| !c.is_empty());
    for (section, service) in [
        ("restapi", Service::Patroni),
        ("postgresql", Service::Postgresql),
    ] {
        let Some(sec) = json.get(section) else {
            continue;
        };
        let pick = ["connect_address", "listen"]
            .into_iter()
            .find_map(|k| sec.get(k).and_then(Value::as_str).map(|v| (k, v)));
        let Some((key, value)) = pick else { continue };
        let pointer = format!("/{section}/{key}");
        let line = line_of(s, &pointer);
        // `postgresql.listen` may list several hosts: `127.0.0.1,10.0.0.5:5432`.
        let Some((hosts, port)) = split_host_port(value) else {
            skipped.push(Skipped {
                service,
                file: doc.path.clone(),
                line,
                reason: format!("`{section}.{key}: {value}` has no port"),
            });
            continue;
        };
        for host in hosts.split(',').map(str::trim) {
            if is_wildcard(host) {
                skipped.push(Skipped {
                    service,
                    file: doc.path.clone(),
                    line,
                    reason: format!(
                        "`{section}.{key}` host `{host}` is a wildcard: give the address with `--target {}=HOST:PORT`",
                        service.name()
                    ),
                });
                continue;
            }
            out.push(Endpoint {
                service,
                host: host.trim_matches(['[', ']']).to_string(),
                port,
                tls: service == Service::Patroni && tls,
                file: doc.path.clone(),
                line,
                key: format!("{section}.{key}"),
                config: Some(doc.path.clone()),
            });
        }
    }
}

fn etcd(doc: &wit::Document, s: &wit::Structured, out: &mut Vec<Endpoint>, sk: &mut Vec<Skipped>) {
    let Ok(json) = serde_json::from_str::<Value>(&s.json) else {
        return;
    };
    let pick = ["advertise-client-urls", "listen-client-urls"]
        .into_iter()
        .find_map(|k| json.get(k).and_then(Value::as_str).map(|v| (k, v)));
    let Some((key, urls)) = pick else { return };
    let line = line_of(s, &format!("/{key}"));
    for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            (false, url)
        };
        match split_host_port(rest.trim_end_matches('/')) {
            Some((host, port)) if !is_wildcard(&host) => out.push(Endpoint {
                service: Service::Etcd,
                host: host.trim_matches(['[', ']']).to_string(),
                port,
                tls,
                file: doc.path.clone(),
                line,
                key: key.to_string(),
                config: Some(doc.path.clone()),
            }),
            _ => sk.push(Skipped {
                service: Service::Etcd,
                file: doc.path.clone(),
                line,
                reason: format!("`{key}` URL `{url}` names no address to probe"),
            }),
        }
    }
}

fn setting<'a>(
    list: &'a [wit::Setting],
    section: Option<&str>,
    name: &str,
) -> Option<&'a wit::Setting> {
    list.iter()
        .rev()
        .find(|s| s.name == name && (section.is_none() || s.section.as_deref() == section))
}

fn pgbouncer(
    doc: &wit::Document,
    list: &[wit::Setting],
    out: &mut Vec<Endpoint>,
    sk: &mut Vec<Skipped>,
) {
    let Some(addr) = setting(list, Some("pgbouncer"), "listen_addr") else {
        return;
    };
    let port = setting(list, Some("pgbouncer"), "listen_port")
        .map_or(Some(6432), |p| p.value.trim().parse().ok());
    let line = addr.location.line;
    let Some(port) = port else {
        sk.push(Skipped {
            service: Service::Pgbouncer,
            file: doc.path.clone(),
            line,
            reason: "`listen_port` is not a port number".into(),
        });
        return;
    };
    for host in addr.value.split(',').map(str::trim) {
        if is_wildcard(host) {
            sk.push(Skipped {
                service: Service::Pgbouncer,
                file: doc.path.clone(),
                line,
                reason: format!("`listen_addr` `{host}` is a wildcard: give the address with `--target pgbouncer=HOST:PORT`"),
            });
            continue;
        }
        out.push(Endpoint {
            service: Service::Pgbouncer,
            host: host.to_string(),
            port,
            tls: false,
            file: doc.path.clone(),
            line,
            key: "listen_addr".into(),
            config: Some(doc.path.clone()),
        });
    }
}

fn postgresql_conf(
    doc: &wit::Document,
    list: &[wit::Setting],
    out: &mut Vec<Endpoint>,
    sk: &mut Vec<Skipped>,
) {
    let Some(addr) = setting(list, None, "listen_addresses") else {
        return;
    };
    let port = setting(list, None, "port").map_or(Some(5432), |p| p.value.trim().parse().ok());
    let line = addr.location.line;
    let Some(port) = port else { return };
    for host in addr
        .value
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        if is_wildcard(host) {
            sk.push(Skipped {
                service: Service::Postgresql,
                file: doc.path.clone(),
                line,
                reason: format!("`listen_addresses` `{host}` is a wildcard: give the address with `--target postgresql=HOST:PORT`"),
            });
            continue;
        }
        out.push(Endpoint {
            service: Service::Postgresql,
            host: host.to_string(),
            port,
            tls: false,
            file: doc.path.clone(),
            line,
            key: "listen_addresses".into(),
            config: None,
        });
    }
}

fn haproxy(
    doc: &wit::Document,
    list: &[wit::Setting],
    out: &mut Vec<Endpoint>,
    sk: &mut Vec<Skipped>,
) {
    for s in list.iter().filter(|s| s.name == "bind") {
        let in_frontend = s
            .section
            .as_deref()
            .is_some_and(|sec| sec.starts_with("frontend") || sec.starts_with("listen"));
        if !in_frontend {
            continue;
        }
        let Some(addr) = s.args.first() else { continue };
        match split_host_port(addr) {
            Some((host, port)) if !is_wildcard(&host) => out.push(Endpoint {
                service: Service::Haproxy,
                host: host.trim_matches(['[', ']']).to_string(),
                port,
                tls: s.args.iter().any(|a| a == "ssl"),
                file: doc.path.clone(),
                line: s.location.line,
                key: format!("{} bind", s.section.as_deref().unwrap_or("")),
                config: Some(doc.path.clone()),
            }),
            _ => sk.push(Skipped {
                service: Service::Haproxy,
                file: doc.path.clone(),
                line: s.location.line,
                reason: format!("`bind {addr}` names no address to probe: give it with `--target haproxy=HOST:PORT`"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("10.0.0.1:8008"),
            Some(("10.0.0.1".into(), 8008))
        );
        assert_eq!(split_host_port("[::1]:5432"), Some(("::1".into(), 5432)));
        assert_eq!(split_host_port(":8008"), Some(("".into(), 8008)));
        assert_eq!(split_host_port("10.0.0.1"), None);
        assert_eq!(split_host_port("a:b"), None);
    }

    #[test]
    fn targets_are_checked() {
        assert!(Target::parse("patroni=127.0.0.1:8008").is_ok());
        assert!(
            Target::parse("nope=127.0.0.1:8008")
                .unwrap_err()
                .contains("unknown NAME")
        );
        assert!(
            Target::parse("patroni=127.0.0.1")
                .unwrap_err()
                .contains("HOST:PORT")
        );
        assert!(
            Target::parse("patroni=0.0.0.0:1")
                .unwrap_err()
                .contains("wildcard")
        );
    }
}
