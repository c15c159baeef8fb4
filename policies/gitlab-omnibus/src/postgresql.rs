//! The pg_hba.conf Omnibus renders from gitlab.rb. omnibus-gitlab's
//! `postgresql/templates/default/pg_hba.conf.erb` writes, for each entry of
//! `postgresql['trust_auth_cidr_addresses']`, `host all all <cidr> trust` (and a
//! `replication` line for the replication user): whoever reaches PostgreSQL from that
//! network logs in as any role, superusers included, with no password. GitLab's own
//! HA examples put the nodes' subnet there, so real gitlab.rb files carry it.
//!
//! PostgreSQL runs on a node with `postgresql['enable'] = true`, a database role
//! (`postgres_role`, `patroni_role`, the Geo database roles), or no role at all (the
//! all-in-one install). The severity is the `pg-hba` policy's `trust-over-tcp` for the
//! rendered lines (docs/severity.md, by the widest entry): critical when a public
//! network or `/0` is trusted, high for private ranges, medium for loopback only (every
//! local user connects as any role).

use policy_guest::net::{Reach, by_reach, parse_net, reach};
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
    let mut widest = Reach::Host;
    for entry in entries.iter().filter_map(Value::as_str) {
        // An entry that is not an address (a host name) may admit anyone.
        widest = widest.max(parse_net(entry).map_or(Reach::Anyone, |n| reach(&n)));
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
    report.severity(i, by_reach(widest, Severity::Critical));
}
