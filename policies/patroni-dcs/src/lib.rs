//! Checks the two ways around Patroni's REST API: the DCS, and the dynamic configuration
//! it stores.
//!
//! - [`dcs`]: the `etcd`/`etcd3`/`consul`/`zookeeper`/`kubernetes`/`raft` sections of a
//!   Patroni YAML — TLS, client certificates, credentials, `verify: false`. Write access to
//!   the DCS is write access to the dynamic configuration (`patronictl edit-config` writes
//!   it directly, bypassing the REST API).
//! - [`rce`]: the dynamic-configuration guard (Patroni issue #1734, "Authenticated RCE via
//!   Patroni HTTP REST API"): every setting that makes Patroni or PostgreSQL run a command
//!   or load a library must be pinned in the local YAML, where `PATCH /config` and the DCS
//!   cannot change it — with the exceptions Patroni's config merge makes
//!   (`_build_effective_configuration`): command-line GUCs ignore local values,
//!   `standby_cluster.*` can only come from the DCS, and from 4.2.0 `parameters_<role>`
//!   override local `parameters`.

pub mod dcs;
pub mod rce;

use policy_guest::DocumentKind;
use policy_guest::doc::{Structured, documents};
use policy_guest::patroni::Version;
use policy_guest::{Code, Input, Policy, Report, Severity};
use serde::Deserialize;

pub struct PatroniDcs;

/// What the organisation asks of Patroni's DCS connections and local pins.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// DCS connections must present a client certificate.
    pub require_client_certificates: bool,
    /// Report DCS passwords and tokens written in the YAML (rather than in
    /// `PATRONI_*` environment variables).
    pub report_secrets_in_file: bool,
    /// Report a DCS section without TLS even when every endpoint is on loopback.
    pub tls_on_loopback: bool,
    /// More PostgreSQL parameters to treat as command-running (e.g. an extension's
    /// `*.command` GUC).
    pub extra_command_parameters: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            require_client_certificates: true,
            report_secrets_in_file: true,
            tls_on_loopback: false,
            extra_command_parameters: Vec::new(),
        }
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "dcs-no-tls",
        Severity::High,
        "Patroni talks to its DCS in plain text",
        "Use TLS: `protocol: https` (etcd/etcd3, or an `https://` url), `scheme: https` (consul), `use_ssl: true` (zookeeper), `raft.password`. Whoever can read or write the DCS traffic can change the dynamic configuration, and with it run commands as postgres.",
    ),
    Code::new(
        "dcs-no-client-cert",
        Severity::Medium,
        "Patroni does not present a client certificate to its DCS",
        "Set `cert` and `key` (and let the DCS demand client certificates): a certificate ties DCS write access to the cluster's nodes.",
    ),
    Code::new(
        "dcs-no-authentication",
        Severity::High,
        "Patroni's DCS access carries no credential at all",
        "Enable authentication on the DCS and give Patroni a client certificate, or `username`/`password` (etcd), `token` (consul), `auth_data` (zookeeper). Anyone who reaches the DCS can otherwise rewrite the cluster's configuration.",
    ),
    Code::new(
        "dcs-credentials-in-clear",
        Severity::High,
        "DCS credentials travel over plain HTTP",
        "Switch the connection to TLS before sending a password or token over it.",
    ),
    Code::new(
        "dcs-secret-in-file",
        Severity::Low,
        "a DCS password or token is written in the YAML",
        "Pass it through the environment (`PATRONI_ETCD3_PASSWORD`, `PATRONI_CONSUL_TOKEN`, …) or keep the file readable by the postgres user only; a URL with `user:password@` is also a secret in the file.",
    ),
    Code::new(
        "dcs-tls-verify-disabled",
        Severity::High,
        "Patroni does not verify the DCS's TLS certificate",
        "Remove `verify: false` and set `cacert` to the DCS's CA: without verification anyone in the path can impersonate the DCS.",
    ),
    Code::new(
        "command-not-pinned",
        Severity::High,
        "a command-running setting comes only from the dynamic configuration",
        "Define the same key in the local YAML (`postgresql.parameters.<name>` for a GUC, `postgresql.<key>` otherwise): local values win over the DCS, so `PATCH /config`, `patronictl edit-config` or a DCS writer can no longer change what runs. The patch copies the bootstrap value.",
    ),
    Code::new(
        "recovery-command-overridable",
        Severity::High,
        "a recovery command pinned in `recovery_conf` is still overridable",
        "Patroni replaces `recovery_conf` with the recovery GUCs of the merged `parameters`, so a DCS `parameters.restore_command` beats a local `recovery_conf.restore_command`. Pin the recovery settings in local `postgresql.parameters`; the patch copies them there.",
    ),
    Code::new(
        "standby-cluster-command",
        Severity::High,
        "`standby_cluster` runs a command that cannot be pinned locally",
        "`standby_cluster.restore_command` and `archive_cleanup_command` come only from the DCS (a local `standby_cluster` is ignored): protect the DCS and the REST API (authentication, TLS, allowlist), and review the value after every change.",
    ),
    Code::new(
        "local-standby-cluster-ignored",
        Severity::Medium,
        "a local `standby_cluster` section is ignored",
        "Patroni reads `standby_cluster` only from the dynamic configuration: move it under `bootstrap.dcs` (new clusters) or set it with `patronictl edit-config`.",
    ),
    Code::new(
        "local-cmdline-parameter-ignored",
        Severity::Low,
        "a local PostgreSQL parameter Patroni ignores",
        "Patroni passes `max_connections`, `wal_level`, `max_wal_senders` and the other command-line GUCs from the dynamic configuration only and drops their local values: set them under `bootstrap.dcs.postgresql.parameters` or with `patronictl edit-config`.",
    ),
    Code::new(
        "role-parameters-unpinned",
        Severity::High,
        "`parameters_<role>` from the DCS can override locally pinned commands",
        "From Patroni 4.2.0 `parameters_primary`, `parameters_replica` and `parameters_standby_leader` are merged over `parameters`; a local key of that name replaces the DCS one. Define all three locally (the patch copies the bootstrap value, or an empty mapping).",
    ),
];

impl Policy for PatroniDcs {
    type Settings = Settings;
    const NAME: &'static str = "patroni-dcs";
    const DESCRIPTION: &'static str = "Patroni's DCS connections (TLS, certificates, credentials) and the dynamic-configuration command guard";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["patroni"];

    fn validate(settings: &Settings) -> Vec<String> {
        settings
            .extra_command_parameters
            .iter()
            .filter(|p| p.trim().is_empty() || p.contains(char::is_whitespace))
            .map(|p| format!("`extra_command_parameters` entry `{p}` is not a parameter name"))
            .collect()
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let version = match &input.context.patroni_version {
            Some(v) => Some(Version::parse(v).ok_or_else(|| {
                format!("context `patroni_version` `{v}` is not a Patroni version")
            })?),
            None => None,
        };
        for doc in documents(input, DocumentKind::Patroni) {
            let Some(y) = Structured::new(doc) else {
                continue;
            };
            dcs::check(&y, settings, report);
            rce::check(&y, settings, version, report);
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(PatroniDcs);

#[cfg(test)]
mod tests;
