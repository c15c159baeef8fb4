//! Checks postgresql.conf (and postgresql.auto.conf, which overrides it) for TLS,
//! password encryption, exposure, connection logging and auditing.
//!
//! Values are the effective ones ([`policy_guest::pgconf::Effective`]: the last
//! assignment wins, postgresql.auto.conf after postgresql.conf), with PostgreSQL's
//! defaults when a setting is absent. A fix changes the deciding assignment in place —
//! in whichever file holds it — or adds the setting at the end of postgresql.conf.
//!
//! The same checks apply to the settings Patroni gives the server (its local
//! `postgresql.parameters`, `bootstrap.dcs.postgresql.parameters`, `PATRONI_*`
//! variables), read from the host's deployment model where a member's effective setting
//! comes from Patroni: an `ssl: 'off'` there is the same finding, at its own line, as in
//! postgresql.conf. Only values Patroni sets are judged: an absent one is not assumed.

mod patroni;

use policy_guest::hba::NEWEST_VERSION;
use policy_guest::pgconf::{Effective, parse_bool};
use policy_guest::report::at;
use policy_guest::{Code, Input, Location, Patch, Policy, Report, Severity};
use serde::Deserialize;

pub struct PostgresqlConf;

/// What the organisation asks of postgresql.conf.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `ssl` must be on.
    pub require_ssl: bool,
    /// `listen_addresses` must not be `*` (or `0.0.0.0`, `::`).
    pub forbid_listen_all: bool,
    /// What the fix sets `listen_addresses` to (no fix without it).
    pub listen_addresses: Option<String>,
    /// `port` must not be the default 5432.
    pub forbid_default_port: bool,
    /// What the fix sets `port` to (no fix without it).
    pub port: Option<u16>,
    /// `shared_preload_libraries` must load `pgaudit`.
    pub require_pgaudit: bool,
    /// `log_connections` must be on.
    pub require_log_connections: bool,
    /// `log_disconnections` must be on.
    pub require_log_disconnections: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            require_ssl: true,
            forbid_listen_all: false,
            listen_addresses: None,
            forbid_default_port: false,
            port: None,
            require_pgaudit: false,
            require_log_connections: true,
            require_log_disconnections: true,
        }
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "ssl-off",
        Severity::High,
        "the server does not accept TLS connections",
        "Set `ssl = on` with `ssl_cert_file` and `ssl_key_file` (and `ssl_ca_file` to check client certificates).",
    ),
    Code::new(
        "ssl-min-protocol-below-tls12",
        Severity::Medium,
        "`ssl_min_protocol_version` allows TLS 1.0 or 1.1",
        "Set `ssl_min_protocol_version = 'TLSv1.2'` (or TLSv1.3).",
    ),
    Code::new(
        "password-encryption-not-scram",
        Severity::High,
        "new passwords are stored as MD5 hashes",
        "Set `password_encryption = 'scram-sha-256'`, then have every role set its password again.",
    ),
    Code::new(
        "listen-all",
        Severity::Low,
        "the server listens on every interface",
        "Set `listen_addresses` to the addresses clients use (settings `listen_addresses` gives the fix its value).",
    ),
    Code::new(
        "default-port",
        Severity::Low,
        "the server uses the default port 5432",
        "Set `port` to the organisation's port (settings `port` gives the fix its value).",
    ),
    Code::new(
        "log-connections-off",
        Severity::Low,
        "connection attempts are not logged",
        "Set `log_connections = on`.",
    ),
    Code::new(
        "log-disconnections-off",
        Severity::Low,
        "session ends are not logged",
        "Set `log_disconnections = on`.",
    ),
    Code::new(
        "pgaudit-not-loaded",
        Severity::Low,
        "the pgaudit extension is not loaded",
        "Add `pgaudit` to `shared_preload_libraries` (a restart is needed), then `CREATE EXTENSION pgaudit` and set `pgaudit.log`.",
    ),
];

impl Policy for PostgresqlConf {
    type Settings = Settings;
    const NAME: &'static str = "postgresql-conf";
    const DESCRIPTION: &'static str = "postgresql.conf: TLS, password encryption, listen addresses, port, connection logging, pgaudit";
    const CODES: &'static [Code] = CODES;
    // `deployment`: `patroni::check` reports what Patroni sets, with or without a
    // postgresql.conf among the inputs (patrol skips a policy that reads nothing present).
    const READS: &'static [&'static str] = &["postgresql-conf", "deployment"];

    fn validate(settings: &Settings) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(l) = &settings.listen_addresses
            && is_listen_all(l)
        {
            problems.push(format!(
                "`listen_addresses` `{l}` is itself every interface"
            ));
        }
        if settings.port == Some(5432) && settings.forbid_default_port {
            problems.push(
                "`port` 5432 is the default port that `forbid_default_port` forbids".to_string(),
            );
        }
        problems
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        patroni::check(input, settings, report);
        let Some(conf) = Effective::from_input(input) else {
            return Ok(());
        };
        let version = input.context.postgres_version.unwrap_or(NEWEST_VERSION);
        let mut c = Checker {
            conf: &conf,
            report,
        };

        // A setting only fragments leave unset is unknown (the main postgresql.conf may
        // set it): no finding rests on its default then.
        if settings.require_ssl && conf.known("ssl") && !conf.bool("ssl").unwrap_or(false) {
            // Turning TLS on without a certificate stops the server from starting: the
            // fix is only offered when the certificate and key are configured.
            let has_cert = ["ssl_cert_file", "ssl_key_file"]
                .iter()
                .all(|n| conf.value(n).is_some_and(|v| !v.is_empty()));
            let patch = has_cert.then(|| set(&conf, "ssl", "on"));
            c.finding(
                "ssl-off",
                "ssl",
                "`ssl` is off: clients can only connect in clear text",
                patch,
            );
        }
        if let Some(v) = conf.value("ssl_min_protocol_version")
            && matches!(v.to_ascii_lowercase().as_str(), "tlsv1" | "tlsv1.1")
        {
            let patch = set(&conf, "ssl_min_protocol_version", "TLSv1.2");
            c.finding(
                "ssl-min-protocol-below-tls12",
                "ssl_min_protocol_version",
                &format!("`ssl_min_protocol_version = {v}` accepts deprecated TLS versions"),
                Some(patch),
            );
        }
        let md5 = match conf.value("password_encryption") {
            Some(v) => v.eq_ignore_ascii_case("md5") || parse_bool(v) == Some(true),
            None => conf.at_default("password_encryption") && version < 14,
        };
        if md5 {
            let patch = set(&conf, "password_encryption", "scram-sha-256");
            let what = conf.value("password_encryption").map_or(
                format!("absent (PostgreSQL {version} defaults to md5)"),
                |v| format!("`{v}`"),
            );
            c.finding(
                "password-encryption-not-scram",
                "password_encryption",
                &format!("`password_encryption` is {what}: new passwords are stored as MD5 hashes"),
                Some(patch),
            );
        }
        if settings.forbid_listen_all
            && let Some(v) = conf.value("listen_addresses")
            && is_listen_all(v)
        {
            let patch = settings
                .listen_addresses
                .as_ref()
                .map(|l| set(&conf, "listen_addresses", l));
            c.finding(
                "listen-all",
                "listen_addresses",
                &format!("`listen_addresses = '{v}'` listens on every interface"),
                patch,
            );
        }
        if settings.forbid_default_port && conf.known("port") {
            let port = conf.value("port").unwrap_or("5432");
            if port.trim() == "5432" {
                let patch = settings.port.map(|p| set(&conf, "port", &p.to_string()));
                c.finding(
                    "default-port",
                    "port",
                    "the server listens on the default port 5432",
                    patch,
                );
            }
        }
        for (on, name, code) in [
            (
                settings.require_log_connections,
                "log_connections",
                "log-connections-off",
            ),
            (
                settings.require_log_disconnections,
                "log_disconnections",
                "log-disconnections-off",
            ),
        ] {
            if on && conf.known(name) && !logs(conf.value(name)) {
                let patch = set(&conf, name, "on");
                c.finding(code, name, &format!("`{name}` is off"), Some(patch));
            }
        }
        if settings.require_pgaudit && conf.known("shared_preload_libraries") {
            let libs = conf.value("shared_preload_libraries").unwrap_or("");
            let list: Vec<&str> = libs
                .split(',')
                .map(|l| l.trim().trim_matches('"'))
                .filter(|l| !l.is_empty())
                .collect();
            if !list.contains(&"pgaudit") {
                let mut new = list.clone();
                new.push("pgaudit");
                let patch = set(&conf, "shared_preload_libraries", &new.join(","));
                c.finding(
                    "pgaudit-not-loaded",
                    "shared_preload_libraries",
                    "`shared_preload_libraries` does not load `pgaudit`",
                    Some(patch),
                );
            }
        }
        Ok(())
    }
}

/// `*`, `0.0.0.0` or `::` among the addresses.
pub(crate) fn is_listen_all(value: &str) -> bool {
    value
        .split(',')
        .map(str::trim)
        .any(|a| matches!(a, "*" | "0.0.0.0" | "::"))
}

/// Whether a `log_connections` value logs (a boolean; from 18 also a list of aspects).
pub(crate) fn logs(value: Option<&str>) -> bool {
    match value {
        None => false,
        Some(v) => parse_bool(v).unwrap_or_else(|| !v.trim().is_empty()),
    }
}

/// A patch that gives `name` the value `value` (unquoted: the host quotes it as
/// PostgreSQL needs): the host changes the deciding assignment in place, in whichever
/// file holds it, or adds the setting at the end of the main postgresql.conf.
fn set(conf: &Effective<'_>, name: &str, value: &str) -> Patch {
    let (file, verb) = match conf.get(name) {
        Some(s) => (s.location.file.as_str(), "set"),
        None => (conf.main_path, "add"),
    };
    policy_guest::report::set_setting(
        file,
        format!("{verb} `{name} = {value}`"),
        None,
        name,
        value,
    )
}

struct Checker<'a, 'r> {
    conf: &'a Effective<'a>,
    report: &'r mut Report,
}

impl Checker<'_, '_> {
    /// A finding at the deciding assignment of `name` (or the file, when absent).
    fn finding(&mut self, code: &str, name: &str, message: &str, patch: Option<Patch>) {
        let location: Location = match self.conf.get(name) {
            Some(s) => s.location.clone(),
            None => at(self.conf.main_path, 0),
        };
        let f = self.report.finding(code, location, message);
        if let Some(p) = patch {
            self.report.fix(f, p);
        }
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(PostgresqlConf);

#[cfg(test)]
mod tests;
