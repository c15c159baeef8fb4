//! The roles a cluster uses and what for: Patroni's replication, rewind and superuser
//! users, PgBouncer's `auth_user` and the users of its `[databases]`, pg_auto_failover's
//! own roles. How each password is stored comes from the context's `password_types`;
//! a role it does not name is `unknown` (never assumed SCRAM).

use crate::formats::Kind;
use crate::wit;

use super::cluster::Group;
use super::patroni::Node;

/// pg_auto_failover's fixed role names (`pgsetup.h`): the monitor's health checks, the
/// nodes' replication, and the nodes' connection to the monitor.
pub const PGAF_MONITOR: &str = "pgautofailover_monitor";
pub const PGAF_REPLICATOR: &str = "pgautofailover_replicator";
pub const PGAF_NODE: &str = "autoctl_node";

/// The roles of a cluster.
pub fn collect(
    g: &Group,
    documents: &[wit::Document],
    nodes: &[Node],
    context: &wit::Context,
) -> Vec<wit::Role> {
    let mut roles: Vec<wit::Role> = Vec::new();
    let mut add = |name: &str, purpose: wit::RolePurpose, at: &wit::Location| {
        if name.is_empty() {
            return;
        }
        match roles.iter_mut().find(|r| r.name == name) {
            Some(r) => {
                if !r.purposes.contains(&purpose) {
                    r.purposes.push(purpose);
                }
            }
            None => roles.push(wit::Role {
                name: name.to_string(),
                purposes: vec![purpose],
                source: at.clone(),
                password_storage: storage(name, context),
            }),
        }
    };
    for &i in &g.nodes {
        let n = &nodes[i];
        for (v, purpose) in [
            (&n.replication_user, wit::RolePurpose::Replication),
            (&n.superuser, wit::RolePurpose::Superuser),
            (&n.rewind_user, wit::RolePurpose::Rewind),
        ] {
            if let Some(v) = v {
                add(&v.value, purpose, &v.at);
            }
        }
    }
    for d in documents.iter().filter(|d| g.has(&d.path)) {
        let wit::Body::Settings(settings) = &d.body else {
            continue;
        };
        match &d.kind {
            Kind::Pgbouncer => {
                for s in settings {
                    match (s.section.as_deref(), s.name.as_str()) {
                        (Some("pgbouncer"), "auth_user") => {
                            add(&s.value, wit::RolePurpose::PgbouncerAuthUser, &s.location)
                        }
                        (Some("databases"), _) => {
                            if let Some(user) = conninfo(&s.value, "user") {
                                add(&user, wit::RolePurpose::Application, &s.location);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Kind::PgAutoctl => {
                let role = settings
                    .iter()
                    .find(|s| s.section.as_deref() == Some("pg_autoctl") && s.name == "role");
                let at = role.map_or_else(|| super::loc(&d.path, 0), |s| s.location.clone());
                if role.is_some_and(|r| r.value == "monitor") {
                    add(PGAF_NODE, wit::RolePurpose::PgAutoFailover, &at);
                } else {
                    add(PGAF_MONITOR, wit::RolePurpose::PgAutoFailover, &at);
                    add(PGAF_REPLICATOR, wit::RolePurpose::Replication, &at);
                    add(PGAF_REPLICATOR, wit::RolePurpose::PgAutoFailover, &at);
                }
            }
            _ => {}
        }
    }
    roles
}

/// How `role`'s password is stored, as the context says.
pub fn storage(role: &str, context: &wit::Context) -> wit::PasswordStorage {
    match context
        .password_types
        .iter()
        .find(|(r, _)| r == role)
        .map(|(_, t)| t.as_str())
    {
        Some("scram-sha-256") => wit::PasswordStorage::Scram,
        Some("md5") => wit::PasswordStorage::Md5,
        Some("none") => wit::PasswordStorage::None,
        _ => wit::PasswordStorage::Unknown,
    }
}

/// The value of `key` in a libpq-style `key=value …` string (PgBouncer `[databases]`).
pub fn conninfo(text: &str, key: &str) -> Option<String> {
    text.split_whitespace().find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('\'').to_string())
    })
}
