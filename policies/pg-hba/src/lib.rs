//! Checks pg_hba.conf and pg_ident.conf, and answers PostgreSQL connection samples.
//!
//! The host hands over the valid records of each pg_hba.conf (and an `invalid-line`
//! diagnostic per invalid one), the pg_ident.conf lines, the postgresql.conf settings
//! and the connection samples. This policy
//! - turns invalid lines into findings (the server refuses a file with any),
//! - checks every record for weak or risky authentication and proposes a fix in the
//!   line's own text ([`checks`], [`fixes`]),
//! - finds the records no connection can reach and the redundant ones — computed on the
//!   file as it will be after the other fixes, so that a second check after `--fix` is
//!   clean,
//! - decides each connection sample with [`policy_guest::hba::Matcher`] ([`decide`]).

pub mod checks;
pub mod decide;
pub mod facts;
pub mod fixes;
pub mod load;

use policy_guest::DocumentKind;
use policy_guest::hba::NEWEST_VERSION;
use policy_guest::pgconf::Effective;
use policy_guest::{Body, Code, IdentRule, Input, Policy, Report, Severity};
use serde::Deserialize;

pub struct PgHba;

/// What the organisation asks of its pg_hba.conf.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The networks clients may come from (CIDR). Records whose address is wider are
    /// flagged, and `all` / `0.0.0.0/0` / `::/0` are narrowed to these by the fix.
    pub org_cidrs: Vec<String>,
    /// TCP connections must use TLS: `host`/`hostnossl` records that accept clients
    /// beyond the machine itself are flagged and turned into `hostssl`.
    pub require_tls: bool,
    /// TLS records must check the client certificate's name (`cert`, or
    /// `clientcert=verify-full`).
    pub require_clientcert_verify_full: bool,
    /// Passwords must be SCRAM: `md5` records are high-severity findings.
    pub require_scram: bool,
    /// Superuser role names; a record naming one for remote clients is flagged.
    pub superusers: Vec<String>,
    /// Report records that no connection can reach, and redundant ones.
    pub report_unreachable: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            org_cidrs: Vec::new(),
            require_tls: true,
            require_clientcert_verify_full: false,
            require_scram: false,
            superusers: vec!["postgres".to_string()],
            report_unreachable: true,
        }
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "invalid-line",
        Severity::High,
        "a pg_hba.conf line PostgreSQL cannot parse",
        "Fix the line as the message says; until then the server refuses the whole file (it keeps its old rules on reload and does not start).",
    ),
    Code::new(
        "file-refused",
        Severity::High,
        "PostgreSQL refuses this pg_hba.conf as a whole",
        "A pg_hba.conf with any invalid line (or no line at all) is not loaded: a reload keeps the previous rules and a start fails. Fix every `invalid-line` finding.",
    ),
    Code::new(
        "ident-invalid-line",
        Severity::High,
        "a pg_ident.conf line PostgreSQL cannot parse",
        "Fix the line; until then the server refuses the whole pg_ident.conf and keeps its previous maps.",
    ),
    Code::new(
        "ident-file-refused",
        Severity::High,
        "PostgreSQL refuses this pg_ident.conf as a whole",
        "Fix every `ident-invalid-line` finding.",
    ),
    Code::new(
        "trust-over-tcp",
        Severity::Critical,
        "`trust` lets TCP clients in without any credential",
        "Use `scram-sha-256` (or `cert`) instead of `trust` on `host*` lines.",
    ),
    Code::new(
        "trust-local",
        Severity::Medium,
        "`trust` on the Unix socket lets every OS user in as any role",
        "Use `peer` (the OS user must be the role, or map to it with `map=`) or `scram-sha-256` on `local` lines.",
    ),
    Code::new(
        "password-cleartext",
        Severity::High,
        "`password` sends the password in clear text",
        "Use `scram-sha-256`; the client then proves it knows the password without sending it.",
    ),
    Code::new(
        "md5-auth",
        Severity::Low,
        "`md5` where SCRAM is possible",
        "Use `scram-sha-256` once every role of the line has a SCRAM secret: set `password_encryption = scram-sha-256`, reload, set the passwords again, then switch the line. The patch is offered only when the context's `password_types` says SCRAM for every role the line admits and `password_encryption` is known to be SCRAM.",
    ),
    Code::new(
        "scram-required-weak-method",
        Severity::High,
        "postgresql.conf stores SCRAM passwords but a line allows `md5`",
        "With `password_encryption = scram-sha-256`, use `scram-sha-256` on every password line.",
    ),
    Code::new(
        "plain-tcp-allowed",
        Severity::High,
        "a line accepts TCP connections without TLS",
        "Use `hostssl` instead of `host` / `hostnossl` / `hostnogssenc` so that only TLS connections match.",
    ),
    Code::new(
        "broad-address",
        Severity::High,
        "a line accepts clients from anywhere, or from beyond the organisation's networks",
        "Narrow the address to the networks the clients really come from (settings `org_cidrs`).",
    ),
    Code::new(
        "zero-mask-address",
        Severity::High,
        "an address with host bits under a zero-length mask (`192.0.2.11/0`): the line accepts every client",
        "PostgreSQL masks the address with the mask, so `/0` (or the mask `0.0.0.0`) keeps nothing of it and the line matches clients from anywhere. Write the host as `/32` (IPv4) or `/128` (IPv6), or the network it belongs to.",
    ),
    Code::new(
        "template-placeholders",
        Severity::Info,
        "a template: lines with placeholders (`@authmethodhost@`, `{{ var }}`) a tool fills in",
        "The file is rendered (by initdb, Ansible, …) before PostgreSQL reads it; its placeholder lines are not checked. Check the rendered pg_hba.conf.",
    ),
    Code::new(
        "superuser-remote",
        Severity::Medium,
        "a superuser can log in from remote hosts",
        "Let superusers connect only over the Unix socket or loopback; add `reject` lines for them before the remote lines, or drop them from remote lines.",
    ),
    Code::new(
        "replication-remote",
        Severity::High,
        "replication connections are accepted from broad networks",
        "Allow `replication` only from the standby servers' addresses (/32 or /128), for the replication role only.",
    ),
    Code::new(
        "clientcert-not-verify-full",
        Severity::Medium,
        "a TLS line does not check the client certificate's name",
        "Add `clientcert=verify-full` (or use the `cert` method) so that the certificate's CN must match the user (or a pg_ident map).",
    ),
    Code::new(
        "ident-over-tcp",
        Severity::High,
        "`ident` over TCP trusts the client host's ident server",
        "The client machine answers ident queries itself; use `scram-sha-256` or `cert` for TCP.",
    ),
    Code::new(
        "ident-map-missing",
        Severity::High,
        "a line names a pg_ident map that pg_ident.conf does not have",
        "Add the map's lines to pg_ident.conf or fix the `map=` name; with no such map every login on the line fails.",
    ),
    Code::new(
        "hostssl-without-ssl",
        Severity::High,
        "`hostssl` lines can never match: the server runs with `ssl = off`",
        "Turn `ssl = on` (with `ssl_cert_file` and `ssl_key_file`) or those clients cannot connect.",
    ),
    Code::new(
        "shadowed-line",
        Severity::Medium,
        "a line no connection can reach: earlier lines take all its connections",
        "Delete the line, or move it above the lines that shadow it if it was meant to take effect (a shadowed `reject` protects nothing).",
    ),
    Code::new(
        "redundant-line",
        Severity::Info,
        "a line whose connections get the same answer from a later line",
        "Delete the line; the later line answers its connections the same way.",
    ),
];

impl Policy for PgHba {
    type Settings = Settings;
    const NAME: &'static str = "pg-hba";
    const DESCRIPTION: &'static str = "pg_hba.conf / pg_ident.conf: authentication methods, TLS, exposure, unreachable lines, connection simulation";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &[
        "pg-hba",
        PATRONI_HBA,
        "patroni",
        "pgbouncer",
        "pg-ident",
        "postgresql-conf",
        "connections",
    ];

    fn validate(settings: &Settings) -> Vec<String> {
        settings
            .org_cidrs
            .iter()
            .filter(|c| policy_guest::net::parse_net(c).is_none())
            .map(|c| format!("`org_cidrs` entry `{c}` is not an IP network"))
            .collect()
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let version = input.context.postgres_version.unwrap_or(NEWEST_VERSION);
        // Load-time checks that need postgresql.conf (the parser sees pg_hba.conf alone):
        // the server refuses such lines as it refuses any invalid one.
        let extra = load::oauth_without_validator(input, version);
        if !extra.is_empty() {
            let mut owned = input.clone();
            for (i, d) in extra {
                owned.documents[i].diagnostics.push(d);
            }
            return evaluate_loaded(&owned, settings, version, report);
        }
        evaluate_loaded(input, settings, version, report)
    }
}

fn evaluate_loaded(
    input: &Input,
    settings: &Settings,
    version: u32,
    report: &mut Report,
) -> Result<(), String> {
    {
        let conf = Effective::from_input(input);
        let mut facts = facts::Facts::from_inputs(conf.as_ref(), &input.context);
        facts.socket_logins = facts::pgbouncer_logins(input);
        let server = facts.server();
        let ident_doc = input
            .documents
            .iter()
            .find(|d| d.kind == DocumentKind::PgIdent);
        let ident: &[IdentRule] = match ident_doc.map(|d| &d.body) {
            Some(Body::Ident(rules)) => rules,
            _ => &[],
        };
        if let Some(doc) = ident_doc {
            checks::ident_diagnostics(doc, report);
        }
        // A refused pg_ident.conf leaves the server with the maps it had (none at start).
        let ident_refused =
            ident_doc.is_some_and(|d| d.diagnostics.iter().any(|g| g.location.line > 0));
        for doc in input
            .documents
            .iter()
            .filter(|d| d.kind == DocumentKind::PgHba || d.kind == DocumentKind::PatroniPgHba)
        {
            let refused = checks::hba_diagnostics(doc, version, report);
            let Body::Hba(rules) = &doc.body else {
                continue;
            };
            let superuser_lines: Vec<policy_guest::hba::rule::Rule> = rules
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.users
                        .iter()
                        .any(|u| settings.superusers.contains(&u.text))
                })
                .map(|(i, r)| policy_guest::hba::rule::Rule::compile(i, r, version))
                .collect();
            // The pg_hba list of a Patroni config runs with that config's parameters.
            let patroni = (doc.kind == DocumentKind::PatroniPgHba)
                .then(|| {
                    input
                        .documents
                        .iter()
                        .find(|d| d.kind == DocumentKind::Patroni && d.path == doc.path)
                        .and_then(policy_guest::doc::Structured::new)
                })
                .flatten();
            let facts = match &patroni {
                Some(y) => facts.clone().with_patroni(y),
                None => facts.clone(),
            }
            .with_model(&input.deployment, &doc.path);
            let server = facts.server();
            let env = checks::Env {
                doc,
                rules,
                settings,
                ctx: &input.context,
                conf: conf.as_ref(),
                server: &server,
                ident,
                ident_given: ident_doc.is_some(),
                version,
                refused,
                facts: &facts,
                superuser_lines: &superuser_lines,
            };
            fixes::check_file(&env, report);
        }
        decide::decide_all(input, &server, ident, ident_refused, report);
        Ok(())
    }
}

/// The pg_hba.conf Patroni writes from a `pg_hba` list of patroni.yml: records carry the
/// lines of their list items, and the document's text is the YAML's.
pub const PATRONI_HBA: &str = "patroni-pg-hba";

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(PgHba);

#[cfg(test)]
mod tests;

#[cfg(test)]
mod facts_tests;
