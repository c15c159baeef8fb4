//! Checks a GitLab Omnibus `gitlab.rb` the way `gitlab-ctl reconfigure` would turn it
//! into Patroni, PgBouncer and Consul configs, and fixes it in gitlab.rb itself: Omnibus
//! rewrites patroni.yaml, pgbouncer.ini and Consul's config.json on every reconfigure, so
//! a fix anywhere else is undone (the customer's key requirement in the seed issue).
//!
//! The host reads gitlab.rb without running Ruby (`patroni['allowlist'] = %w(…)`, nested
//! keys, `roles([…])`); [`rb`] folds those statements into one attribute tree. Then
//! - [`patroni`]: the `restapi` section Omnibus renders, compiled with
//!   `policy_guest::patroni` as the `patroni-restapi` policy does, and the same findings
//!   (`patroni-<code>`), fixed through Omnibus's keys (`patroni['username']`,
//!   `['allowlist']`, `['tls_certificate_file']`, `['tls_client_mode']`…);
//! - [`stack`]: the pgbouncer.ini and Consul config Omnibus renders, checked with
//!   `policy_guest::pgbouncer` and `policy_guest::consul` (`pgbouncer-<code>`,
//!   `consul-<code>`).
//!
//! A component is checked when gitlab.rb turns it on: `x['enable'] = true` or a role
//! (`patroni_role`; `pgbouncer_role`; Consul with `consul_role`, `patroni_role` or
//! `pgbouncer_role`). A key set to Ruby the host could not evaluate counts as set to an
//! unknown value: no finding claims it is missing.

pub mod credentials;
pub mod patroni;
pub mod postgresql;
pub mod rb;
pub mod stack;
#[cfg(test)]
mod tests;

use policy_guest::DocumentKind;
use policy_guest::doc::documents;
use policy_guest::patroni::{Facts, Net};
use policy_guest::pgbouncer::{SSLMODES, sslmode_rank};
use policy_guest::{Code, Input, Policy, Report, Severity};
use serde::Deserialize;

pub struct GitlabOmnibus;

/// What the organisation asks, per component.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub patroni: PatroniSettings,
    pub pgbouncer: PgBouncerSettings,
    pub consul: ConsulSettings,
}

/// The Patroni REST API; the same meaning as the `patroni-restapi` policy's settings.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PatroniSettings {
    /// Networks allowed to call unsafe endpoints; the allowlist fix writes them (without
    /// them it writes gitlab.rb's `postgresql['md5_auth_cidr_addresses']` and
    /// `['trust_auth_cidr_addresses']`, plus 127.0.0.1/32).
    pub allowed_cidrs: Vec<String>,
    pub min_prefix_v4: u8,
    pub min_prefix_v6: u8,
    pub require_tls: bool,
    pub require_client_certificates: bool,
    pub forbid_wildcard_listen: bool,
    /// Certificate and key the `patroni-no-tls` fix writes (no fix without both).
    pub tls_certificate_file: Option<String>,
    pub tls_key_file: Option<String>,
}

impl Default for PatroniSettings {
    fn default() -> Self {
        PatroniSettings {
            allowed_cidrs: Vec::new(),
            min_prefix_v4: 8,
            min_prefix_v6: 32,
            require_tls: true,
            require_client_certificates: false,
            forbid_wildcard_listen: false,
            tls_certificate_file: None,
            tls_key_file: None,
        }
    }
}

/// PgBouncer; the same meaning as the `pgbouncer` policy's settings.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PgBouncerSettings {
    pub allowed_auth_types: Vec<String>,
    pub min_client_tls_sslmode: String,
    pub min_server_tls_sslmode: String,
    pub listen_addr: Option<String>,
    pub allowed_admin_users: Option<Vec<String>>,
    pub allowed_stats_users: Option<Vec<String>>,
}

impl Default for PgBouncerSettings {
    fn default() -> Self {
        PgBouncerSettings {
            allowed_auth_types: vec!["scram-sha-256".into(), "cert".into(), "hba".into()],
            min_client_tls_sslmode: "require".into(),
            min_server_tls_sslmode: "require".into(),
            listen_addr: None,
            allowed_admin_users: None,
            allowed_stats_users: None,
        }
    }
}

/// Consul; the same meaning as the `consul` policy's settings.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ConsulSettings {
    pub client_addr: String,
}

impl Default for ConsulSettings {
    fn default() -> Self {
        ConsulSettings {
            client_addr: "127.0.0.1".into(),
        }
    }
}

use Severity::{Critical, High, Low, Medium};

pub const CODES: &[Code] = &[
    // Patroni REST API (as the `patroni-restapi` policy, through Omnibus's keys).
    Code::new(
        "patroni-unsafe-endpoints-unauthenticated",
        Critical,
        "unsafe REST API endpoints need no credential",
        "Set `patroni['username']` and `patroni['password']` (the same on every node), and/or TLS with `patroni['tls_client_mode'] = 'optional'` and client certificates.",
    ),
    Code::new(
        "patroni-authentication-password-empty",
        High,
        "`patroni['username']` is set but the password is empty or nil",
        "Set `patroni['password']`: a nil password renders as YAML null, which Patroni reads as the literal string `None`.",
    ),
    Code::new(
        "patroni-no-tls",
        High,
        "the REST API speaks plain HTTP",
        "Set both `patroni['tls_certificate_file']` and `patroni['tls_key_file']` (Omnibus writes TLS settings only when both are set).",
    ),
    Code::new(
        "patroni-no-allowlist",
        Medium,
        "no IP allowlist for unsafe endpoints",
        "Set `patroni['allowlist'] = %w(<the nodes' network> 127.0.0.1/32)` (and `patroni['allowlist_include_members'] = true`).",
    ),
    Code::new(
        "patroni-allowlist-too-broad",
        High,
        "an allowlist entry admits far more than the organisation's networks",
        "Narrow `patroni['allowlist']` to the networks of the nodes, gitlab-ctl (127.0.0.1) and the load balancers.",
    ),
    Code::new(
        "patroni-allowlist-entry-dropped",
        High,
        "Patroni silently drops an allowlist entry",
        "Fix or remove the entry: Patroni logs an error and skips it, and when nothing valid remains the allowlist restricts nothing.",
    ),
    Code::new(
        "patroni-allowlist-ipv4-on-dual-stack",
        High,
        "IPv4 allowlist entries on a dual-stack listener never match",
        "With `patroni['listen_address']` unset Patroni listens on `:8008` (dual-stack) and IPv4 peers arrive as `::ffff:a.b.c.d`: add the IPv4-mapped form of each entry, or set `patroni['listen_address']` to the node's IPv4 address.",
    ),
    Code::new(
        "patroni-verify-client-ineffective",
        High,
        "`patroni['tls_client_mode']` has no effect",
        "Use `none`, `optional` or `required`, and set both TLS files: Omnibus writes `verify_client` only with TLS.",
    ),
    Code::new(
        "patroni-verify-client-without-cafile",
        High,
        "client certificates are demanded but no CA is given",
        "Set `patroni['tls_ca_file']`: without it no client certificate verifies.",
    ),
    Code::new(
        "patroni-safe-endpoints-unauthenticated",
        Medium,
        "GET endpoints answer anyone",
        "Set `patroni['tls_client_mode'] = 'required'` with TLS and `patroni['tls_ca_file']`.",
    ),
    Code::new(
        "patroni-ctl-insecure",
        Medium,
        "gitlab-ctl does not verify the REST API's certificate",
        "Remove `patroni['tls_verify'] = false` (and set `patroni['tls_ca_file']`).",
    ),
    Code::new(
        "patroni-listen-all-interfaces",
        Low,
        "the REST API listens on every interface",
        "Set `patroni['listen_address']` to the node's address.",
    ),
    // PgBouncer (as the `pgbouncer` policy, through `pgbouncer['…']`).
    Code::new(
        "pgbouncer-auth-type-weak",
        High,
        "PgBouncer authenticates clients with a method the organisation does not allow",
        "Set `pgbouncer['auth_type'] = 'scram-sha-256'` (Omnibus's default is `md5`).",
    ),
    Code::new(
        "pgbouncer-auth-hba-file-missing",
        High,
        "`pgbouncer['auth_type'] = 'hba'` without `pgbouncer['auth_hba_file']`",
        "Set `pgbouncer['auth_hba_file']`.",
    ),
    Code::new(
        "pgbouncer-client-tls-weak",
        Critical,
        "clients may talk to PgBouncer without TLS",
        "Set `pgbouncer['client_tls_sslmode'] = 'require'` with `pgbouncer['client_tls_key_file']` and `['client_tls_cert_file']` (Omnibus's default is `disable`). Critical with `pgbouncer['listen_addr']` on every interface (Omnibus's default `0.0.0.0`), high on a network address, medium on loopback (the same rule as the `pgbouncer` policy).",
    ),
    Code::new(
        "pgbouncer-server-tls-weak",
        High,
        "PgBouncer may talk to PostgreSQL without TLS",
        "Set `pgbouncer['server_tls_sslmode'] = 'verify-full'` with `pgbouncer['server_tls_ca_file']` (Omnibus's default is `disable`).",
    ),
    Code::new(
        "pgbouncer-server-tls-unverified",
        Medium,
        "PgBouncer does not verify PostgreSQL's certificate though it has a CA",
        "Set `pgbouncer['server_tls_sslmode'] = 'verify-full'`.",
    ),
    Code::new(
        "pgbouncer-tls-protocols-legacy",
        Medium,
        "PgBouncer allows TLS 1.0 and 1.1",
        "Set `pgbouncer['client_tls_protocols'] = 'secure'` and `pgbouncer['server_tls_protocols'] = 'secure'` (Omnibus's default is `all`).",
    ),
    Code::new(
        "pgbouncer-listen-all-interfaces",
        Low,
        "PgBouncer listens on every interface",
        "Set `pgbouncer['listen_addr']` to the node's address (Omnibus's default is `0.0.0.0`), and firewall port 6432.",
    ),
    Code::new(
        "pgbouncer-admin-user-not-allowed",
        Medium,
        "a PgBouncer `admin_users` entry is not on the organisation's list",
        "Keep `pgbouncer['admin_users']` to the accounts that operate PgBouncer (Omnibus's default adds `postgres` and `gitlab-psql`).",
    ),
    Code::new(
        "pgbouncer-stats-user-not-allowed",
        Low,
        "a PgBouncer `stats_users` entry is not on the organisation's list",
        "Keep `pgbouncer['stats_users']` to the monitoring accounts.",
    ),
    // PostgreSQL's pg_hba.conf as Omnibus renders it.
    Code::new(
        "postgresql-trust-auth-network",
        Critical,
        "gitlab.rb lets a network log in to PostgreSQL without a password",
        "Move the networks from `postgresql['trust_auth_cidr_addresses']` to `postgresql['md5_auth_cidr_addresses']` once `postgresql['sql_user_password']` (and `['sql_replication_password']`) are set. Rated as the `pg-hba` policy rates the rendered `host all all <cidr> trust` lines: critical for `/0` or a public network, high for private ranges only, medium for loopback only (every local user and process connects as any role).",
    ),
    Code::new(
        "weak-credentials",
        High,
        "a known default or weak password in gitlab.rb (`patroni['password']`, `gitlab_rails['db_password']`)",
        "Published defaults (`admin`, `postgres`, `gitlab`, Spilo's and Patroni's examples) and passwords equal to the user name are guessed first. Set long random passwords (from a secret store); the message names the key, never the value.",
    ),
    // Consul (as the `consul` policy, through `consul['…']`).
    Code::new(
        "consul-gossip-unencrypted",
        High,
        "Consul gossip is not encrypted",
        "Set `consul['encryption_key']` to a key from `consul keygen` on every node.",
    ),
    Code::new(
        "consul-gossip-verify-disabled",
        Medium,
        "Consul still accepts or sends unencrypted gossip",
        "Remove `consul['encryption_verify_incoming'] = false` / `['encryption_verify_outgoing'] = false` once every agent has the key.",
    ),
    Code::new(
        "consul-tls-verify-incoming-off",
        High,
        "Consul accepts RPC without a client certificate",
        "Set `consul['use_tls'] = true` with `consul['tls_ca_file']`, `['tls_certificate_file']`, `['tls_key_file']`, and `consul['tls_verify_client'] = true`.",
    ),
    Code::new(
        "consul-tls-verify-outgoing-off",
        High,
        "Consul's RPC is not TLS-verified",
        "Set `consul['use_tls'] = true` with the `tls_*` files.",
    ),
    Code::new(
        "consul-tls-verify-server-hostname-off",
        High,
        "Consul agents do not check that they talk to a server",
        "Set `consul['configuration']['tls']['internal_rpc']['verify_server_hostname'] = true` (Omnibus does not set it with `use_tls`).",
    ),
    Code::new(
        "consul-acl-disabled",
        High,
        "Consul ACLs are off",
        "Bootstrap ACLs and set `consul['configuration']['acl'] = { 'enabled' => true, 'default_policy' => 'deny', 'tokens' => … }`.",
    ),
    Code::new(
        "consul-acl-default-allow",
        High,
        "Consul ACLs allow what no token denies",
        "Set `consul['configuration']['acl']['default_policy'] = 'deny'`.",
    ),
    Code::new(
        "consul-http-api-exposed",
        Critical,
        "Consul's HTTP API listens beyond loopback without TLS",
        "Remove `client_addr`/`addresses.http` from `consul['configuration']` (or set them to 127.0.0.1), or use HTTPS only.",
    ),
    Code::new(
        "consul-script-checks-enabled",
        Critical,
        "Consul script checks can be registered over the API",
        "Set `consul['configuration']['enable_script_checks'] = false` (Omnibus's default).",
    ),
];

impl Policy for GitlabOmnibus {
    type Settings = Settings;
    const NAME: &'static str = "gitlab-omnibus";
    const DESCRIPTION: &'static str = "GitLab Omnibus gitlab.rb: Patroni REST API, PgBouncer and Consul as Omnibus renders them, fixed in gitlab.rb";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["gitlab-rb"];

    fn validate(s: &Settings) -> Vec<String> {
        let mut problems = Vec::new();
        for c in &s.patroni.allowed_cidrs {
            if Net::parse_python(c.trim()).is_none() {
                problems.push(format!(
                    "`patroni.allowed_cidrs` entry `{c}` is not an address or a CIDR"
                ));
            }
        }
        if s.patroni.min_prefix_v4 > 32 || s.patroni.min_prefix_v6 > 128 {
            problems.push(
                "`patroni.min_prefix_v4` is at most 32 and `min_prefix_v6` at most 128".into(),
            );
        }
        for (name, mode) in [
            (
                "min_client_tls_sslmode",
                &s.pgbouncer.min_client_tls_sslmode,
            ),
            (
                "min_server_tls_sslmode",
                &s.pgbouncer.min_server_tls_sslmode,
            ),
        ] {
            if sslmode_rank(mode).is_none() {
                problems.push(format!(
                    "`pgbouncer.{name}`: `{mode}` is not an sslmode ({})",
                    SSLMODES.join(", ")
                ));
            }
        }
        problems.extend(policy_guest::consul::client_addr_problem(
            "consul.client_addr",
            &s.consul.client_addr,
        ));
        problems
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let facts = Facts::from_context(&input.context)?;
        for doc in documents(input, DocumentKind::GitlabRb) {
            let Some(rb) = rb::Rb::new(doc) else { continue };
            patroni::check(&rb, &facts, &settings.patroni, report);
            stack::pgbouncer(&rb, &settings.pgbouncer, report);
            stack::consul(&rb, &settings.consul, report);
            postgresql::check(&rb, report);
            credentials::check(&rb, report);
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(GitlabOmnibus);
