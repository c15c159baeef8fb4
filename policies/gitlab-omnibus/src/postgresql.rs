//! The pg_hba.conf Omnibus renders from gitlab.rb. omnibus-gitlab's
//! `postgresql/templates/default/pg_hba.conf.erb` writes, for each entry of
//! `postgresql['trust_auth_cidr_addresses']`, `host all all <cidr> trust` (and a
//! `replication` line for the replication user): whoever reaches PostgreSQL from that
//! network logs in as any role, superusers included, with no password. GitLab's own
//! HA examples put the nodes' subnet there, so real gitlab.rb files carry it.
//!
//! PostgreSQL runs on a node with `postgresql['enable'] = true`, a database role
//! (`postgres_role`, `patroni_role`, the Geo database roles), or no role at all (the
//! all-in-one install). Loopback entries are left alone: they reach no further than
//! the machine's own users, which `local … peer` already trusts.

use policy_guest::net::parse_net;
use policy_guest::{Report, Severity};
use serde_json::Value;

use crate::rb::Rb;

const ROLES: &[&str] = &[
    "postgres_role",
    "patroni_role",
    "geo_primary_role",
    "geo_secondary_role",
];

const KEY: &[&str] = &["postgresql", "trust_auth_cidr_addresses"];

/// Whether gitlab.rb runs PostgreSQL on this node.
fn enabled(rb: &Rb) -> bool {
    match rb.get(&["postgresql", "enable"]) {
        Some(Value::Bool(b)) => *b,
        _ => rb.roles.is_empty() || rb.roles.iter().any(|r| ROLES.contains(&r.as_str())),
    }
}

pub fn check(rb: &Rb, report: &mut Report) {
    if !enabled(rb) {
        return;
    }
    let Some(Value::Array(entries)) = rb.get(KEY) else {
        return;
    };
    let mut open = Vec::new();
    let mut everyone = false;
    for entry in entries.iter().filter_map(Value::as_str) {
        let net = parse_net(entry);
        if net.is_some_and(|n| n.addr().is_loopback()) {
            continue;
        }
        everyone |= net.is_some_and(|n| n.prefix_len() == 0);
        open.push(format!("`{entry}`"));
    }
    if open.is_empty() {
        return;
    }
    let anchor = rb.anchor("postgresql", ROLES);
    let i = report.finding(
        "postgresql-trust-auth-network",
        rb.loc(KEY, &anchor),
        format!(
            "`postgresql['trust_auth_cidr_addresses']` renders `host all all <network> trust` in pg_hba.conf for {}: anyone who reaches PostgreSQL from there connects as any role, superusers included, without a password",
            open.join(", ")
        ),
    );
    if everyone {
        report.severity(i, Severity::Critical);
    }
}
