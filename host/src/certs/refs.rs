//! Which PEM files the input configs name, where, and as what.
//!
//! A [`Ref`] is one config key naming one file: its `role` (`cert`, `key`, `ca`, or
//! `cert-key` for a PEM holding both, as HAProxy's `crt`), its `group` (the keys that
//! belong together: Patroni's `restapi`, `ctl`, `etcd3`; etcd's
//! `client-transport-security`; a pgBackRest `repo1-host`; an HAProxy server), and the
//! config's file, line and key. The policies pair certificates with their keys and CAs
//! through the groups.
//!
//! Keys read, per document kind: `patroni` — `restapi.{certfile,keyfile,cafile}`,
//! `ctl.{certfile,keyfile,cacert}`, `etcd`/`etcd3`/`consul` `{cert,key,cacert}`,
//! `postgresql.parameters.ssl_{cert,key,ca}_file`; `postgresql-conf` —
//! `ssl_{cert,key,ca}_file`; `etcd` — `{client,peer}-transport-security.{cert-file,
//! key-file,trusted-ca-file}`; `haproxy` — `crt` and `ca-file` on `server`,
//! `default-server` and `bind` lines (relative to `crt-base`/`ca-base`); `pgbackrest` —
//! `tls-server-{cert,key,ca}-file`, `repoN-host-{cert,key,ca}-file`,
//! `pgN-host-{cert,key,ca}-file`, `repoN-storage-ca-file`; `pgbouncer` —
//! `{client,server}_tls_{cert,key,ca}_file`; `pg-autoctl` — `ssl.{cert,key,ca}_file`.

use crate::formats::Kind;
use serde::Serialize;
use serde_json::Value;

use crate::wit;

/// One config key naming a PEM file.
#[derive(Debug, Clone, Serialize)]
pub struct Ref {
    /// The path as the config writes it.
    pub path: String,
    pub role: &'static str,
    /// The kind of the document that names it.
    pub kind: crate::formats::Kind,
    /// The key as users write it (`restapi.certfile`, `repo1-host-cert-file`).
    pub key: String,
    pub group: String,
    pub file: String,
    pub line: u32,
    pub pointer: Option<String>,
}

/// Every file reference of the documents.
pub fn collect(documents: &[wit::Document]) -> Vec<Ref> {
    let mut out = Vec::new();
    for doc in documents {
        match &doc.body {
            wit::Body::Structured(s) => structured(doc, s, &mut out),
            wit::Body::Settings(settings) => flat(doc, settings, &mut out),
            _ => {}
        }
    }
    out
}

fn structured(doc: &wit::Document, s: &wit::Structured, out: &mut Vec<Ref>) {
    let Ok(json) = serde_json::from_str::<Value>(&s.json) else {
        return;
    };
    let line_of = |pointer: &str| {
        s.spans
            .iter()
            .find(|sp| sp.pointer == pointer)
            .map_or(0, |sp| sp.line)
    };
    let mut add = |pointer: &str, role: &'static str, group: &str| {
        if let Some(path) = json
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|p| !p.trim().is_empty())
        {
            out.push(Ref {
                path: path.trim().to_string(),
                role,
                kind: doc.kind.clone(),
                key: pointer.trim_start_matches('/').replace('/', "."),
                group: group.to_string(),
                file: doc.path.clone(),
                line: line_of(pointer),
                pointer: Some(pointer.to_string()),
            });
        }
    };
    match &doc.kind {
        Kind::Patroni => {
            for (key, role) in [("certfile", "cert"), ("keyfile", "key"), ("cafile", "ca")] {
                add(&format!("/restapi/{key}"), role, "restapi");
            }
            for (key, role) in [("certfile", "cert"), ("keyfile", "key"), ("cacert", "ca")] {
                add(&format!("/ctl/{key}"), role, "ctl");
            }
            for dcs in ["etcd", "etcd3", "consul"] {
                for (key, role) in [("cert", "cert"), ("key", "key"), ("cacert", "ca")] {
                    add(&format!("/{dcs}/{key}"), role, dcs);
                }
            }
            for (key, role) in [
                ("ssl_cert_file", "cert"),
                ("ssl_key_file", "key"),
                ("ssl_ca_file", "ca"),
            ] {
                add(&format!("/postgresql/parameters/{key}"), role, "postgresql");
            }
        }
        Kind::Etcd => {
            for group in ["client-transport-security", "peer-transport-security"] {
                for (key, role) in [
                    ("cert-file", "cert"),
                    ("key-file", "key"),
                    ("trusted-ca-file", "ca"),
                ] {
                    add(&format!("/{group}/{key}"), role, group);
                }
            }
        }
        _ => {}
    }
}

fn flat(doc: &wit::Document, settings: &[wit::Setting], out: &mut Vec<Ref>) {
    let mut add = |s: &wit::Setting, path: &str, role: &'static str, key: String, group: String| {
        if path.trim().is_empty() {
            return;
        }
        out.push(Ref {
            path: path.trim().to_string(),
            role,
            kind: doc.kind.clone(),
            key,
            group,
            file: doc.path.clone(),
            line: s.location.line,
            pointer: s.location.pointer.clone(),
        });
    };
    match &doc.kind {
        Kind::PostgresqlConf => {
            for s in settings {
                let role = match s.name.as_str() {
                    "ssl_cert_file" => "cert",
                    "ssl_key_file" => "key",
                    "ssl_ca_file" => "ca",
                    _ => continue,
                };
                add(s, &s.value, role, s.name.clone(), "postgresql".into());
            }
        }
        Kind::Haproxy => {
            let base = |name: &str| {
                settings
                    .iter()
                    .rev()
                    .find(|s| s.name == name)
                    .and_then(|s| s.args.first().cloned())
            };
            let (ca_base, crt_base) = (base("ca-base"), base("crt-base"));
            let join = |b: &Option<String>, p: &str| match b {
                Some(b) if !p.starts_with('/') => format!("{}/{p}", b.trim_end_matches('/')),
                _ => p.to_string(),
            };
            for s in settings {
                let (group, words) = match s.name.as_str() {
                    "server" => (
                        format!(
                            "{} server {}",
                            s.section.as_deref().unwrap_or(""),
                            s.args.first().map_or("", |a| a)
                        ),
                        s.args.get(2..).unwrap_or_default(),
                    ),
                    "default-server" => (
                        format!("{} default-server", s.section.as_deref().unwrap_or("")),
                        &s.args[..],
                    ),
                    "bind" => (
                        format!(
                            "{} bind {}",
                            s.section.as_deref().unwrap_or(""),
                            s.args.first().map_or("", |a| a)
                        ),
                        s.args.get(1..).unwrap_or_default(),
                    ),
                    _ => continue,
                };
                for pair in words.windows(2) {
                    match pair[0].as_str() {
                        "crt" => add(
                            s,
                            &join(&crt_base, &pair[1]),
                            "cert-key",
                            "crt".into(),
                            group.clone(),
                        ),
                        "ca-file" => add(
                            s,
                            &join(&ca_base, &pair[1]),
                            "ca",
                            "ca-file".into(),
                            group.clone(),
                        ),
                        _ => {}
                    }
                }
            }
        }
        Kind::Pgbackrest => {
            for s in settings {
                let name = s.name.as_str();
                let role = if name.ends_with("-cert-file") {
                    "cert"
                } else if name.ends_with("-key-file") {
                    "key"
                } else if name.ends_with("-ca-file") {
                    "ca"
                } else {
                    continue;
                };
                let stem = name
                    .rsplit_once('-')
                    .and_then(|(a, _)| a.rsplit_once('-'))
                    .map_or(name, |(a, _)| a);
                let group = format!("{} {stem}", s.section.as_deref().unwrap_or(""));
                add(s, &s.value, role, s.name.clone(), group.trim().to_string());
            }
        }
        Kind::Pgbouncer | Kind::PgAutoctl => {
            for s in settings {
                let name = s.name.as_str();
                let role = match name.rsplit('_').nth(1) {
                    Some("cert") => "cert",
                    Some("key") => "key",
                    Some("ca") => "ca",
                    _ => continue,
                };
                if !name.ends_with("_file") {
                    continue;
                }
                let stem = name
                    .split('_')
                    .take_while(|w| !matches!(*w, "cert" | "key" | "ca"))
                    .collect::<Vec<_>>()
                    .join("_");
                let group = format!("{} {stem}", s.section.as_deref().unwrap_or(""))
                    .trim()
                    .to_string();
                add(s, &s.value, role, s.name.clone(), group);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{self, Kind, ParseContext};

    fn doc(kind: Kind, name: &str, text: &str) -> wit::Document {
        formats::document(
            kind,
            name,
            std::path::Path::new(name),
            text.to_string(),
            &ParseContext::default(),
        )
    }

    #[test]
    fn collects_references_from_every_format() {
        let docs = vec![
            doc(
                Kind::Patroni,
                "patroni.yml",
                "restapi:\n  listen: :8008\n  certfile: /etc/patroni/ssl/server.crt\n  cafile: /etc/patroni/ssl/ca.crt\netcd3:\n  cacert: /etc/patroni/ssl/etcd-ca.crt\npostgresql:\n  parameters:\n    ssl_cert_file: /etc/pg/server.crt\n",
            ),
            doc(
                Kind::Haproxy,
                "haproxy.cfg",
                "global\n  crt-base /etc/haproxy/ssl\nlisten p\n  server a 10.0.0.1:5432 check crt client.pem ca-file /etc/haproxy/ssl/ca.crt\n",
            ),
            doc(
                Kind::Pgbackrest,
                "pgbackrest.conf",
                "[global]\nrepo1-host-cert-file=/etc/pgbackrest/client.crt\ntls-server-ca-file=/etc/pgbackrest/ca.crt\nrepo2-storage-ca-file=/etc/ssl/s3.crt\n",
            ),
            doc(
                Kind::Etcd,
                "etcd.conf.yml",
                "name: a\nlisten-client-urls: https://x:2379\nclient-transport-security:\n  cert-file: /etc/etcd/server.crt\n",
            ),
            doc(
                Kind::PostgresqlConf,
                "postgresql.conf",
                "ssl = on\nssl_key_file = '/etc/pg/server.key'\n",
            ),
        ];
        let refs = collect(&docs);
        let got: Vec<(&str, &str, &str, &str, u32)> = refs
            .iter()
            .map(|r| {
                (
                    r.path.as_str(),
                    r.role,
                    r.key.as_str(),
                    r.group.as_str(),
                    r.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "/etc/patroni/ssl/server.crt",
                    "cert",
                    "restapi.certfile",
                    "restapi",
                    3
                ),
                (
                    "/etc/patroni/ssl/ca.crt",
                    "ca",
                    "restapi.cafile",
                    "restapi",
                    4
                ),
                (
                    "/etc/patroni/ssl/etcd-ca.crt",
                    "ca",
                    "etcd3.cacert",
                    "etcd3",
                    6
                ),
                (
                    "/etc/pg/server.crt",
                    "cert",
                    "postgresql.parameters.ssl_cert_file",
                    "postgresql",
                    9
                ),
                (
                    "/etc/haproxy/ssl/client.pem",
                    "cert-key",
                    "crt",
                    "listen p server a",
                    4
                ),
                (
                    "/etc/haproxy/ssl/ca.crt",
                    "ca",
                    "ca-file",
                    "listen p server a",
                    4
                ),
                (
                    "/etc/pgbackrest/client.crt",
                    "cert",
                    "repo1-host-cert-file",
                    "global repo1-host",
                    2
                ),
                (
                    "/etc/pgbackrest/ca.crt",
                    "ca",
                    "tls-server-ca-file",
                    "global tls-server",
                    3
                ),
                (
                    "/etc/ssl/s3.crt",
                    "ca",
                    "repo2-storage-ca-file",
                    "global repo2-storage",
                    4
                ),
                (
                    "/etc/etcd/server.crt",
                    "cert",
                    "client-transport-security.cert-file",
                    "client-transport-security",
                    4
                ),
                ("/etc/pg/server.key", "key", "ssl_key_file", "postgresql", 2),
            ]
        );
    }
}
