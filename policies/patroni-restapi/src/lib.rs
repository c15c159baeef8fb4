//! Checks how a Patroni YAML exposes the REST API, and answers REST API request samples.
//!
//! For each `patroni` document the `restapi` section is compiled once into
//! [`policy_guest::patroni::RestApi`] (Patroni's own normalization: allowlist parsed with
//! dropped entries recorded, `verify_client` lowercased, the auth string, the listener's
//! family). Then
//! - [`exposure`] reports what leaves the API open (no authentication, no TLS, no or too
//!   broad or silently broken allowlists, `verify_client` values without effect,
//!   `ctl.insecure`, the listener, `POST /mpp`) with patches where a safe one exists;
//! - [`lockout`] simulates the calls the deployment itself makes (HAProxy health checks
//!   read from haproxy.cfg by [`haproxy`], patronictl, member-to-member calls) and reports
//!   the ones the config would refuse: locking the API down must not break failover;
//! - every request sample gets a decision from the first `patroni` document.

pub mod credentials;
pub mod exposure;
pub mod haproxy;
pub mod lockout;

use policy_guest::DocumentKind;
use policy_guest::doc::{Structured, documents};
use policy_guest::patroni::{Facts, Net, RestApi};
use policy_guest::{Code, Input, Policy, Report, Severity};
use serde::Deserialize;

pub struct PatroniRestapi;

/// What the organisation asks of its Patroni REST APIs.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The networks allowed to call unsafe endpoints (CIDR, as Patroni's allowlist takes
    /// them). When set, allowlist entries outside them are flagged, and a missing or broken
    /// allowlist is fixed to these.
    pub allowed_cidrs: Vec<String>,
    /// Without `allowed_cidrs`: the shortest IPv4 prefix an allowlist entry may have.
    pub min_prefix_v4: u8,
    /// Without `allowed_cidrs`: the shortest IPv6 prefix an allowlist entry may have.
    pub min_prefix_v6: u8,
    /// The REST API must speak TLS (`restapi.certfile`).
    pub require_tls: bool,
    /// Every endpoint, safe ones included, must demand a client certificate
    /// (`verify_client: required`).
    pub require_client_certificates: bool,
    /// `restapi.listen` must name an address, not every interface.
    pub forbid_wildcard_listen: bool,
    /// `restapi.listen` must not use the default port 8008.
    pub forbid_default_port: bool,
    /// Simulate HAProxy health checks, patronictl and member calls, and report the ones
    /// the config refuses.
    pub check_lockout: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_cidrs: Vec::new(),
            min_prefix_v4: 8,
            min_prefix_v6: 32,
            require_tls: true,
            require_client_certificates: false,
            forbid_wildcard_listen: false,
            forbid_default_port: false,
            check_lockout: true,
        }
    }
}

impl Settings {
    /// `allowed_cidrs` as networks (validated by [`Policy::validate`]).
    pub fn allowed(&self) -> Vec<Net> {
        self.allowed_cidrs
            .iter()
            .filter_map(|c| Net::parse_python(c.trim()))
            .collect()
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "config-prevents-start",
        Severity::High,
        "Patroni does not start with this `restapi` section",
        "Fix the key the message names: Patroni exits at start (and keeps its previous REST API settings on a reload), so nothing answers on the REST API.",
    ),
    Code::new(
        "unsafe-endpoints-unauthenticated",
        Severity::Critical,
        "unsafe REST API endpoints need no credential",
        "Set `restapi.authentication.username` and `password` (the same on every node, and in `ctl.authentication` if that is set), or demand client certificates: `certfile`, `cafile` and `verify_client: optional` or `required`. Anyone who reaches the port can otherwise restart, fail over, reinitialize or reconfigure the cluster, and `PATCH /config` runs commands as postgres (Patroni issue #1734).",
    ),
    Code::new(
        "no-tls",
        Severity::High,
        "the REST API speaks plain HTTP",
        "Set `restapi.certfile` and `restapi.keyfile` (and `ctl.cacert` for patronictl): without TLS the basic-auth password and the cluster's state travel in clear text, and client certificates cannot be checked.",
    ),
    Code::new(
        "no-allowlist",
        Severity::Medium,
        "no IP allowlist for unsafe endpoints",
        "Set `restapi.allowlist` to the networks that must call unsafe endpoints (patronictl hosts, the members), and/or `allowlist_include_members: true`. The allowlist does not cover GET endpoints.",
    ),
    Code::new(
        "allowlist-too-broad",
        Severity::High,
        "an allowlist entry admits far more than the organisation's networks",
        "Narrow the entry to the hosts that call unsafe endpoints (settings `allowed_cidrs`).",
    ),
    Code::new(
        "allowlist-entry-dropped",
        Severity::High,
        "Patroni silently drops an allowlist entry",
        "Write each entry as an address, a CIDR (`10.0.0.0/24`) or a resolvable host name. Patroni logs and skips an invalid CIDR or an unresolvable name; when nothing valid remains there is no IP restriction at all (fail open).",
    ),
    Code::new(
        "allowlist-not-a-list",
        Severity::High,
        "`restapi.allowlist` is not a list, so Patroni ignores it",
        "Write the allowlist as a YAML list (`allowlist: ['10.0.0.0/24']`); any other value is ignored without a word and leaves the API open.",
    ),
    Code::new(
        "allowlist-ipv4-on-dual-stack",
        Severity::High,
        "IPv4 allowlist entries on a dual-stack listener never match",
        "On a dual-stack listener (`listen: ':8008'`, `'*:8008'`, `'[::]:8008'`) IPv4 clients arrive as `::ffff:a.b.c.d` and never match IPv4 entries or IPv4 member addresses: every unsafe call from IPv4 peers gets 403. Add the IPv4-mapped form of each entry (`::ffff:10.0.0.0/104` for `10.0.0.0/8`) or listen on an IPv4 address.",
    ),
    Code::new(
        "verify-client-ineffective",
        Severity::High,
        "`restapi.verify_client` has no effect",
        "Use one of the strings `none`, `optional`, `required`, together with `certfile` and `cafile`. Any other string (logged as a bad value), a YAML boolean such as `yes`/`true` (ignored without a word), or any value without `certfile`, leaves client certificates unchecked.",
    ),
    Code::new(
        "verify-client-without-cafile",
        Severity::High,
        "`verify_client` demands certificates but no `cafile` says which CA to trust",
        "Set `restapi.cafile` to the CA that signs the clients' certificates. Without it no client certificate verifies: with `required` every request fails at the TLS handshake, with `optional` every unsafe call is refused.",
    ),
    Code::new(
        "safe-endpoints-unauthenticated",
        Severity::Medium,
        "GET endpoints answer anyone",
        "Set `verify_client: required` with `certfile` and `cafile`: only TLS client certificates protect the safe endpoints (`/config`, `/patroni`, `/cluster` disclose the topology and the dynamic config). HAProxy checks and patronictl then need certificates too.",
    ),
    Code::new(
        "ctl-insecure",
        Severity::Medium,
        "patronictl does not verify the REST API's certificate",
        "Remove `ctl.insecure` and set `ctl.cacert` (or `restapi.cafile`) to the CA of the REST API certificates.",
    ),
    Code::new(
        "listen-all-interfaces",
        Severity::Low,
        "the REST API listens on every interface",
        "Set `restapi.listen` to the node's own address (the host of `connect_address`).",
    ),
    Code::new(
        "listen-default-port",
        Severity::Low,
        "the REST API listens on the default port 8008",
        "Move the REST API to the port your organisation assigns, and update HAProxy's `check port` and the firewall with it.",
    ),
    Code::new(
        "mpp-unprotected",
        Severity::High,
        "`POST /mpp` runs without any access check in this Patroni version",
        "Patroni 3.3.0 to 4.1.5 forgot `@check_access` on `POST /mpp` (the twin of `/citus`, fixed by PR #3722): on a Citus coordinator anyone who reaches the port can send worker events. Restrict port 8008 at the network level, or upgrade to a release with the fix.",
    ),
    Code::new(
        "authentication-password-empty",
        Severity::High,
        "the REST API password is empty or null",
        "Set a real `restapi.authentication.password` (a null password is the literal string `None`).",
    ),
    Code::new(
        "ignored-key",
        Severity::Medium,
        "a key Patroni does not read",
        "Remove the key, or use the one Patroni reads: `restapi.crlfile` does not exist (the REST API checks no CRL), `ctl.cafile` is not read (patronictl uses `ctl.cacert`, else `restapi.cafile`), a `restapi` section under `bootstrap.dcs` is ignored (the REST API is configured locally only).",
    ),
    Code::new(
        "lockout-haproxy-check",
        Severity::High,
        "an HAProxy health check the config refuses",
        "HAProxy marks every server down when its health check fails, and the cluster goes dark. Make the check match the API: `check-ssl` (and `crt` with a client certificate from `restapi.cafile`'s CA when `verify_client: required`) for a TLS API, plain checks for plain HTTP.",
    ),
    Code::new(
        "lockout-patronictl",
        Severity::High,
        "a patronictl call the config refuses",
        "patronictl sends `ctl.authentication` (else `restapi.authentication`), its client certificate only from `ctl.certfile`, and verifies the server with `ctl.cacert` (else `restapi.cafile`). Align them with the `restapi` section, and allow the hosts it runs on.",
    ),
    Code::new(
        "lockout-member-calls",
        Severity::High,
        "a call between members the config refuses",
        "The members call each other (`GET /patroni` in the leader race, `POST /failsafe`, `POST /citus`) with `ctl.authentication` (else `restapi.authentication`) and `ctl.certfile`: give every node the same credentials and a client certificate when `verify_client: required`, and allow the members' addresses (mapped ones on a dual-stack listener).",
    ),
    Code::new(
        "weak-credentials",
        Severity::High,
        "a known default or weak password (Spilo's and Patroni's examples, `admin`, the user's own name)",
        "Passwords of the REST API, patronictl, the PostgreSQL roles Patroni uses, `bootstrap.users` and the DCS login that are published defaults (`zalando`, `patroni`, `rep-pass`, `standby`…) or equal to the user name are guessed first. Set long random passwords (from a secret store, or `PATRONI_*` environment variables); the message names the key, never the value.",
    ),
];

impl Policy for PatroniRestapi {
    type Settings = Settings;
    const NAME: &'static str = "patroni-restapi";
    const DESCRIPTION: &'static str = "Patroni REST API: authentication, TLS, allowlists, client certificates, lockouts, request simulation";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["patroni", "haproxy", "requests"];

    fn validate(settings: &Settings) -> Vec<String> {
        let mut problems = Vec::new();
        for c in &settings.allowed_cidrs {
            if Net::parse_python(c.trim()).is_none() {
                problems.push(format!(
                    "`allowed_cidrs` entry `{c}` is not an address or a CIDR"
                ));
            }
        }
        if settings.min_prefix_v4 > 32 {
            problems.push(format!(
                "`min_prefix_v4` `{}` is over 32",
                settings.min_prefix_v4
            ));
        }
        if settings.min_prefix_v6 > 128 {
            problems.push(format!(
                "`min_prefix_v6` `{}` is over 128",
                settings.min_prefix_v6
            ));
        }
        problems
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let facts = Facts::from_context(&input.context)?;
        let checks = lockout::haproxy_checks(input);
        let configs: Vec<Structured> = documents(input, DocumentKind::Patroni)
            .filter_map(Structured::new)
            .collect();
        let hosts: Vec<Vec<String>> = configs
            .iter()
            .map(|y| lockout::node_hosts(y, &facts))
            .collect();
        // Requests are decided by the first node config (one with a `restapi` section, else
        // the first document at all).
        let mut first: Option<(bool, RestApi)> = None;
        for (k, y) in configs.iter().enumerate() {
            let api = RestApi::compile(y, &facts);
            let node = y.get("/restapi").is_some();
            // A patronictl-only file (`ctl` and the DCS, no `restapi`, no `postgresql`) runs
            // no REST API.
            if node || y.get("/postgresql").is_some() {
                exposure::check(y, &api, settings, report);
                credentials::check(y, report);
                if settings.check_lockout {
                    let others: Vec<String> = hosts
                        .iter()
                        .enumerate()
                        .filter(|(o, _)| *o != k)
                        .flat_map(|(_, h)| h.iter().filter(|h| !hosts[k].contains(h)).cloned())
                        .collect();
                    let mine = lockout::checks_of_cluster(&checks, &hosts[k], &others);
                    lockout::check(y, &api, &facts, &mine, report);
                }
            }
            if first.as_ref().is_none_or(|(has, _)| !has && node) {
                first = Some((node, api));
            }
        }
        let first = first.map(|(_, api)| api);
        if let Some(api) = first {
            api.decide_samples(input, report);
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(PatroniRestapi);

#[cfg(test)]
mod tests;
