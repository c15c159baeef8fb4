//! The effective PostgreSQL settings of a server, as it will run with them.
//!
//! Patroni writes its parameters into the postgresql.conf of the data directory (the
//! original becomes postgresql.base.conf, included first) and passes a few on the command
//! line (`CMDLINE_OPTIONS` in Patroni's `postgresql/config.py`). So, strongest first:
//! 1. command-line parameters: `listen_addresses`/`port` from `postgresql.listen` (or
//!    `PATRONI_POSTGRESQL_LISTEN`), the others from the local or bootstrap DCS
//!    parameters;
//! 2. `postgresql.auto.conf` (`ALTER SYSTEM`, read after postgresql.conf);
//! 3. Patroni's local `postgresql.parameters`;
//! 4. `bootstrap.dcs.postgresql.parameters`;
//! 5. `postgresql.conf` and its includes (the last assignment wins).
//!
//! A parameter none of these sets is absent: unknown, never a default.

use crate::formats::Kind;
use std::collections::BTreeMap;

use crate::wit;

use super::Tree;
use super::patroni::Node;

/// Parameters Patroni passes on the command line.
const CMDLINE: &[&str] = &[
    "listen_addresses",
    "port",
    "cluster_name",
    "wal_level",
    "hot_standby",
    "max_connections",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
    "track_commit_timestamp",
    "max_replication_slots",
    "max_worker_processes",
    "wal_log_hints",
];

/// The effective settings of the server that `docs` (a member's files) configure.
pub fn effective(node: Option<&Node>, docs: &[&wit::Document]) -> Vec<wit::EffectiveSetting> {
    let mut out: BTreeMap<String, wit::EffectiveSetting> = BTreeMap::new();
    // Weakest first; each layer overwrites.
    let mut put = |name: &str, value: String, source: wit::Location, origin: wit::SettingOrigin| {
        let name = name.to_ascii_lowercase();
        out.insert(
            name.clone(),
            wit::EffectiveSetting {
                name,
                value,
                source,
                origin,
            },
        );
    };
    let is_auto = |d: &wit::Document| d.path.ends_with("postgresql.auto.conf");
    for d in docs
        .iter()
        .filter(|d| d.kind == Kind::PostgresqlConf && !is_auto(d))
    {
        for s in settings_of(d) {
            put(
                &s.name,
                s.value.clone(),
                s.location.clone(),
                wit::SettingOrigin::PostgresqlConf,
            );
        }
    }
    let tree = docs
        .iter()
        .find(|d| d.kind == Kind::Patroni)
        .and_then(|d| Tree::of(d));
    let layer = |pointer: &str| -> Vec<(String, String, wit::Location)> {
        let Some(t) = &tree else { return Vec::new() };
        let Some(map) = t.root.pointer(pointer).and_then(|v| v.as_object()) else {
            return Vec::new();
        };
        map.iter()
            .filter_map(|(k, v)| {
                let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                Some((k.clone(), super::scalar_text(v)?, t.at(&p)))
            })
            .collect()
    };
    let dcs = layer("/bootstrap/dcs/postgresql/parameters");
    let local = layer("/postgresql/parameters");
    for (k, v, at) in &dcs {
        put(
            k,
            v.clone(),
            at.clone(),
            wit::SettingOrigin::PatroniDcsBootstrap,
        );
    }
    for (k, v, at) in &local {
        put(k, v.clone(), at.clone(), wit::SettingOrigin::PatroniLocal);
    }
    for d in docs
        .iter()
        .filter(|d| d.kind == Kind::PostgresqlConf && is_auto(d))
    {
        for s in settings_of(d) {
            put(
                &s.name,
                s.value.clone(),
                s.location.clone(),
                wit::SettingOrigin::AutoConf,
            );
        }
    }
    // The command line wins over every file.
    let cmdline = |k: &String| CMDLINE.contains(&k.to_ascii_lowercase().as_str());
    for (k, v, at) in dcs.iter().filter(|(k, ..)| cmdline(k)) {
        put(
            k,
            v.clone(),
            at.clone(),
            wit::SettingOrigin::PatroniDcsBootstrap,
        );
    }
    for (k, v, at) in local.iter().filter(|(k, ..)| cmdline(k)) {
        put(k, v.clone(), at.clone(), wit::SettingOrigin::PatroniLocal);
    }
    if let Some(listen) = node.and_then(|n| n.pg_listen.as_ref()) {
        let origin = if listen.from_env {
            wit::SettingOrigin::Environment
        } else {
            wit::SettingOrigin::PatroniLocal
        };
        let (hosts, port) = super::endpoint::split_host_port(listen.value.trim());
        put(
            "listen_addresses",
            hosts.to_string(),
            listen.at.clone(),
            origin,
        );
        if let Some(p) = port {
            put("port", p.to_string(), listen.at.clone(), origin);
        }
    }
    out.into_values().collect()
}

fn settings_of(d: &wit::Document) -> &[wit::Setting] {
    match &d.body {
        wit::Body::Settings(s) => s,
        _ => &[],
    }
}

/// The effective value of `name` in a member's settings.
pub fn get<'a>(
    settings: &'a [wit::EffectiveSetting],
    name: &str,
) -> Option<&'a wit::EffectiveSetting> {
    settings.iter().find(|s| s.name == name)
}
