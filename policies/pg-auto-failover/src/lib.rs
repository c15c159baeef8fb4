//! Checks a pg_auto_failover deployment as its security guide describes it: the
//! `pg_autoctl` configuration of each node (`[ssl]` and the `sslmode` of the connection
//! strings `pg_autoctl` builds, the monitor URI, self-signed certificates, the
//! authentication method), and — across files — the pg_hba rules of its own users
//! (`autoctl_node` on the monitor, `pgautofailover_replicator` and
//! `pgautofailover_monitor` on the nodes) and the pg_ident maps those rules name.
//!
//! `[ssl] sslmode` is what `pg_autoctl` writes into every connection string it builds
//! (to the monitor, to the primary for replication); `ca_file`/`crl_file` become
//! `sslrootcert`/`sslcrl`. `pg_autoctl enable ssl` rewrites the monitor URI but not the
//! HBA rules: `host` stays `host`, which also matches connections without TLS.

mod conf;
mod hba;
#[cfg(test)]
mod tests;

use policy_guest::{Code, Input, Policy, Report, Severity};
use serde::Deserialize;

pub struct PgAutoFailover;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The CN of the client certificate `pg_autoctl` presents, written as the system
    /// user when a fix adds a `pgautofailover` ident map entry (`postgres` in the
    /// pg_auto_failover guide).
    pub client_certificate_cn: String,
    /// The ident map name the fixes use with `cert`.
    pub ident_map: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            client_certificate_cn: "postgres".into(),
            ident_map: "pgautofailover".into(),
        }
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "ssl-disabled",
        Severity::High,
        "the node runs without SSL (`--no-ssl`)",
        "Run `pg_autoctl enable ssl --ssl-ca-file … --server-cert … --server-key … --ssl-mode verify-full` on the monitor and every node.",
    ),
    Code::new(
        "self-signed-certificate",
        Severity::Medium,
        "self-signed certificates: encrypted, but no protection against a man in the middle",
        "Self-signed certificates (`--ssl-self-signed`) protect against eavesdropping only; this setup does NOT protect against man-in-the-middle or impersonation attacks. Use certificates from your CA (`--ssl-ca-file`, `--server-cert`, `--server-key`) with `--ssl-mode verify-full`.",
    ),
    Code::new(
        "sslmode-plaintext",
        Severity::High,
        "`sslmode` lets pg_autoctl's connections fall back to plain text",
        "Set `[ssl] sslmode = require` at least (`verify-full` with a CA): `disable`, `allow` and `prefer` connect without TLS when the server does not insist.",
    ),
    Code::new(
        "sslmode-unverified",
        Severity::High,
        "a CA is given but `sslmode` does not verify the server",
        "Set `[ssl] sslmode = verify-full`: with `require` or `verify-ca` a man in the middle (or another node's certificate) is accepted.",
    ),
    Code::new(
        "monitor-uri-no-ssl",
        Severity::High,
        "the monitor URI connects without SSL",
        "Add `sslmode=verify-full&sslrootcert=CA` to `[pg_autoctl] monitor` (`pg_autoctl enable ssl` does it), or `sslmode=require` at least.",
    ),
    Code::new(
        "monitor-uri-unverified",
        Severity::High,
        "the monitor URI does not verify the monitor's certificate",
        "Use `sslmode=verify-full` with `sslrootcert` in `[pg_autoctl] monitor`.",
    ),
    Code::new(
        "monitor-uri-password",
        Severity::Low,
        "the monitor URI holds the autoctl_node password",
        "Remove the password from the URI and put it in the pg_autoctl user's `~/.pgpass` (the password file), or use `cert` authentication.",
    ),
    Code::new(
        "replication-password-in-config",
        Severity::Low,
        "the replication password is written in pg_autoctl's configuration",
        "Keep it in the password file (`~/.pgpass` of the pg_autoctl user) instead of `[replication] password`, or use `cert` authentication.",
    ),
    Code::new(
        "auth-trust",
        Severity::Critical,
        "pg_autoctl adds `trust` HBA rules (`--auth trust`)",
        "Use `--auth scram-sha-256` (set passwords with `ALTER USER autoctl_node PASSWORD …` and `pg_autoctl config set replication.password …`) or `cert`.",
    ),
    Code::new(
        "auth-weak",
        Severity::Medium,
        "pg_autoctl adds rules with a weak password method",
        "Use `scram-sha-256` (or `cert`) instead of `md5`/`password`.",
    ),
    Code::new(
        "hba-not-hostssl",
        Severity::High,
        "a pg_auto_failover HBA rule also matches connections without TLS",
        "Change the rule from `host` to `hostssl` (pg_auto_failover does not do it when SSL is enabled later).",
    ),
    Code::new(
        "hba-trust",
        Severity::Critical,
        "a pg_auto_failover HBA rule lets its user in with no password",
        "Use `scram-sha-256`, or `cert map=pgautofailover` with client certificates.",
    ),
    Code::new(
        "hba-cert-without-map",
        Severity::Medium,
        "`cert` for a pg_auto_failover user without a `map=`",
        "pg_autoctl's client certificate does not carry the database user's name: add `map=pgautofailover` and the matching pg_ident.conf line.",
    ),
    Code::new(
        "ident-map-missing",
        Severity::High,
        "an HBA rule names an ident map that pg_ident.conf does not define",
        "Add the map's entry to pg_ident.conf (`pgautofailover <certificate CN> <database user>`); until then the connection is refused.",
    ),
    Code::new(
        "ident-map-too-broad",
        Severity::High,
        "the ident map lets any certificate name log in as a pg_auto_failover user",
        "Replace the regular expression with the exact certificate CN pg_autoctl uses.",
    ),
];

impl Policy for PgAutoFailover {
    type Settings = Settings;
    const NAME: &'static str = "pg-auto-failover";
    const DESCRIPTION: &'static str = "pg_auto_failover: SSL modes, monitor URI, self-signed certificates, HBA rules and ident maps of its users";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["pg-autoctl", "pg-hba", "pg-ident"];

    fn validate(s: &Settings) -> Vec<String> {
        let mut problems = Vec::new();
        if s.client_certificate_cn.trim().is_empty()
            || s.client_certificate_cn.contains(char::is_whitespace)
        {
            problems.push(format!(
                "`client_certificate_cn` `{}` must be one word",
                s.client_certificate_cn
            ));
        }
        if s.ident_map.trim().is_empty() || s.ident_map.contains(char::is_whitespace) {
            problems.push(format!("`ident_map` `{}` must be one word", s.ident_map));
        }
        problems
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let nodes = conf::check(input, report);
        hba::check(input, settings, &nodes, report);
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(PgAutoFailover);
