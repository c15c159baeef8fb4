//! Reading the deployment model (`input.deployment`): the cluster and member a file
//! belongs to, a server's effective settings, its PostgreSQL version, the roles and
//! their password storage, and the links with their ends.
//!
//! Every question answers "unknown" (`None`, [`Known::Unknown`]) when the model does not
//! know: a policy must not treat that as safe.
//!
//! ```ignore
//! let dep = &input.deployment;
//! match policy_guest::deployment::setting(dep, "patroni.yml", "ssl") {
//!     Known::Value(s) if s.value == "on" => { /* hostssl is safe to propose */ }
//!     _ => { /* off or unknown: no hostssl fix */ }
//! }
//! ```

use crate::{Cluster, Deployment, EffectiveSetting, Link, Member, PasswordStorage, Role};

/// A fact that is known, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known<T> {
    Value(T),
    Unknown,
}

impl<T> Known<T> {
    pub fn value(self) -> Option<T> {
        match self {
            Known::Value(v) => Some(v),
            Known::Unknown => None,
        }
    }
}

/// The cluster whose files include `file`.
pub fn cluster_of<'a>(dep: &'a Deployment, file: &str) -> Option<&'a Cluster> {
    dep.clusters
        .iter()
        .find(|c| c.files.iter().any(|f| f == file))
}

/// The member configured by `file` (its patroni.yml, pg_hba.conf, postgresql.conf…).
pub fn member_of<'a>(dep: &'a Deployment, file: &str) -> Option<&'a Member> {
    dep.clusters
        .iter()
        .flat_map(|c| &c.members)
        .find(|m| m.files.iter().any(|f| f == file))
}

/// The effective value of PostgreSQL parameter `name` (lowercase) for the server `file`
/// configures: its member's, else the value every configured member of its cluster
/// agrees on. Unknown when no member sets it or members disagree.
pub fn setting<'a>(dep: &'a Deployment, file: &str, name: &str) -> Known<&'a EffectiveSetting> {
    let find = |m: &'a Member| m.settings.iter().find(|s| s.name == name);
    if let Some(m) = member_of(dep, file) {
        return find(m).map_or(Known::Unknown, Known::Value);
    }
    let Some(c) = cluster_of(dep, file) else {
        return Known::Unknown;
    };
    let configured: Vec<&Member> = c.members.iter().filter(|m| !m.files.is_empty()).collect();
    let values: Vec<Option<&EffectiveSetting>> = configured.iter().map(|m| find(m)).collect();
    match values.first() {
        Some(Some(first))
            if values
                .iter()
                .all(|v| v.is_some_and(|v| v.value == first.value)) =>
        {
            Known::Value(first)
        }
        _ => Known::Unknown,
    }
}

/// Whether a boolean parameter is on (`on`, `true`, `yes`, `1`, any prefix PostgreSQL
/// accepts is not guessed: only these words), off, or unknown.
pub fn bool_setting(dep: &Deployment, file: &str, name: &str) -> Known<bool> {
    match setting(dep, file, name) {
        Known::Value(s) => match s.value.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Known::Value(true),
            "off" | "false" | "no" | "0" => Known::Value(false),
            _ => Known::Unknown,
        },
        Known::Unknown => Known::Unknown,
    }
}

/// The PostgreSQL major version of the cluster `file` belongs to.
pub fn postgres_version(dep: &Deployment, file: &str) -> Known<u32> {
    cluster_of(dep, file)
        .and_then(|c| c.postgres_version.as_ref())
        .map_or(Known::Unknown, |v| Known::Value(v.major))
}

/// The role `name` of the cluster `file` belongs to.
pub fn role<'a>(dep: &'a Deployment, file: &str, name: &str) -> Option<&'a Role> {
    cluster_of(dep, file)?.roles.iter().find(|r| r.name == name)
}

/// How the password of role `name` is stored, as far as the model knows.
pub fn password_storage(dep: &Deployment, file: &str, name: &str) -> PasswordStorage {
    role(dep, file, name).map_or(PasswordStorage::Unknown, |r| r.password_storage)
}

/// The links written in `file` (their `from` is there).
pub fn links_from<'a>(dep: &'a Deployment, file: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
    dep.links.iter().filter(move |l| l.from.file == file)
}

/// The links whose other end is configured in `file`.
pub fn links_to<'a>(dep: &'a Deployment, file: &'a str) -> impl Iterator<Item = &'a Link> + 'a {
    dep.links
        .iter()
        .filter(move |l| l.to.as_ref().is_some_and(|t| t.file == file))
}
