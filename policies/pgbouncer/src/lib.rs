//! Checks pgbouncer.ini: how clients authenticate (`auth_type`), TLS towards clients and
//! towards PostgreSQL, the listen address, the console's admin and stats users, and —
//! across files — the pg_hba-style `auth_hba_file` PgBouncer applies with `auth_type =
//! hba`.
//!
//! The settings checks are `policy_guest::pgbouncer` (shared with the GitLab Omnibus
//! policy); this crate reads the ini file, runs them, writes their fixes as ini lines, and
//! adds the checks that need the auth_hba_file. That file reaches the policy as a
//! `pg-hba` document (the host parses it with PostgreSQL's grammar, which PgBouncer's
//! `hba.c` follows); it is the `pg-hba` document whose file name is the `auth_hba_file`'s,
//! preferring one in the same directory as the ini file.

mod auth_file;
mod hba;
#[cfg(test)]
mod tests;

use policy_guest::DocumentKind;
use policy_guest::doc::documents;
use policy_guest::ini::Ini;
use policy_guest::pgbouncer::{self as pgb, CODES, Config, Wants};
use policy_guest::{Code, Input, Location, Policy, Report};
use serde::Deserialize;

pub struct PgBouncer;

/// What the organisation asks of PgBouncer.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `auth_type` values that are allowed.
    pub allowed_auth_types: Vec<String>,
    /// The weakest `client_tls_sslmode` accepted.
    pub min_client_tls_sslmode: String,
    /// The weakest `server_tls_sslmode` accepted (`verify-full` is always asked when
    /// `server_tls_ca_file` is set).
    pub min_server_tls_sslmode: String,
    /// The address the `listen-all-interfaces` fix writes (no fix without it).
    pub listen_addr: Option<String>,
    /// The only users allowed in `admin_users` (not checked when absent).
    pub allowed_admin_users: Option<Vec<String>>,
    /// The only users allowed in `stats_users` (not checked when absent).
    pub allowed_stats_users: Option<Vec<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_auth_types: vec!["scram-sha-256".into(), "cert".into(), "hba".into()],
            min_client_tls_sslmode: "require".into(),
            min_server_tls_sslmode: "require".into(),
            listen_addr: None,
            allowed_admin_users: None,
            allowed_stats_users: None,
        }
    }
}

const AUTH_TYPES: &[&str] = &[
    "any",
    "trust",
    "plain",
    "password",
    "md5",
    "scram-sha-256",
    "cert",
    "hba",
    "pam",
    "ldap",
];

impl Policy for PgBouncer {
    type Settings = Settings;
    const NAME: &'static str = "pgbouncer";
    const DESCRIPTION: &'static str = "PgBouncer: auth_type, client and server TLS, listen_addr, admin/stats users, auth_hba_file";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["pgbouncer", "pg-hba", auth_file::KIND];

    fn validate(s: &Settings) -> Vec<String> {
        let mut problems = Vec::new();
        for a in &s.allowed_auth_types {
            if !AUTH_TYPES.contains(&a.to_ascii_lowercase().as_str()) {
                problems.push(format!(
                    "`allowed_auth_types`: `{a}` is not a PgBouncer auth_type ({})",
                    AUTH_TYPES.join(", ")
                ));
            }
        }
        for (name, mode) in [
            ("min_client_tls_sslmode", &s.min_client_tls_sslmode),
            ("min_server_tls_sslmode", &s.min_server_tls_sslmode),
        ] {
            if pgb::sslmode_rank(mode).is_none() {
                problems.push(format!(
                    "`{name}`: `{mode}` is not an sslmode ({})",
                    pgb::SSLMODES.join(", ")
                ));
            }
        }
        problems
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let wants = Wants {
            auth_types: &settings.allowed_auth_types,
            min_client_sslmode: &settings.min_client_tls_sslmode,
            min_server_sslmode: &settings.min_server_tls_sslmode,
            listen_addr: settings.listen_addr.as_deref(),
            admin_users: settings.allowed_admin_users.as_deref(),
            stats_users: settings.allowed_stats_users.as_deref(),
        };
        for doc in documents(input, DocumentKind::Pgbouncer) {
            let Some(ini) = Ini::new(doc) else { continue };
            let cfg = config(&ini);
            for issue in pgb::check(&cfg, &wants) {
                let i = report.finding(issue.code, issue.location.clone(), issue.message);
                if let Some(sev) = issue.severity {
                    report.severity(i, sev);
                }
                if let Some(value) = issue.fix {
                    // SCRAM only when every user's secret in the auth_file can do it.
                    let blocked = (issue.key == "auth_type" && value == "scram-sha-256")
                        .then(|| {
                            auth_file::scram_switch(
                                input,
                                ini.value("pgbouncer", "auth_file"),
                                ini.value("pgbouncer", "auth_user"),
                            )
                            .err()
                        })
                        .flatten();
                    match blocked {
                        Some(w) => w.attach(report, i),
                        None => report.fix(i, ini.set_patch("pgbouncer", issue.key, &value)),
                    }
                }
            }
            passwords(&ini, report);
            hba::check(input, &ini, &cfg, report);
        }
        auth_file::check(input, report);
        Ok(())
    }
}

/// The `[pgbouncer]` section as a [`Config`], with the `[databases]` users.
fn config(ini: &Ini) -> Config {
    let mut cfg = Config::new(ini.section_location("pgbouncer"));
    for s in ini.section("pgbouncer") {
        cfg.set(&s.name, &s.value, s.location.clone(), false);
    }
    if let Some(s) = ini.get("pgbouncer", "auth_user") {
        cfg.app_users
            .push((s.value.trim().to_string(), s.location.clone()));
    }
    let mut hosts = Vec::new();
    for s in ini.section("databases") {
        let pairs = pgb::connstr(&s.value);
        if let Some((_, user)) = pairs.iter().find(|(k, _)| k == "user") {
            cfg.app_users.push((user.clone(), s.location.clone()));
        }
        // `host=` not written: PgBouncer connects over the Unix socket.
        let host = pairs.iter().find(|(k, _)| k == "host");
        hosts.push(host.map(|(_, h)| h.clone()).unwrap_or_default());
    }
    // No `[databases]` entry in this file (an `%include` may hold them): unknown.
    cfg.backend_hosts = (!hosts.is_empty()).then_some(hosts);
    cfg
}

/// `password=` in `[databases]` connection strings: written in the file, and weak.
fn passwords(ini: &Ini, report: &mut Report) {
    for s in ini.section("databases") {
        let pairs = pgb::connstr(&s.value);
        let Some((_, password)) = pairs.iter().find(|(k, v)| k == "password" && !v.is_empty())
        else {
            continue;
        };
        let location = Location {
            pointer: Some(format!("databases/{}", s.name)),
            ..s.location.clone()
        };
        report.finding(
            "password-in-config",
            location.clone(),
            format!("`[databases]` entry `{}` holds a password", s.name),
        );
        let user = pairs
            .iter()
            .find(|(k, _)| k == "user")
            .map(|(_, u)| u.as_str());
        if let Some(why) = policy_guest::credentials::weak(user, password) {
            report.finding(
                "weak-credentials",
                location,
                format!(
                    "the password of `[databases]` entry `{}`{} is a known default or weak password: {why}",
                    s.name,
                    user.map_or(String::new(), |u| format!(" (user `{u}`)"))
                ),
            );
        }
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(PgBouncer);
