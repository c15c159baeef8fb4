//! Checks the PEM files the configs name (the host's `certificates` document) and
//! whether Patroni can pick up a renewed certificate without a restart (`systemd` units).
//!
//! The host finds each file the configs name (`restapi.certfile`, `etcd3.cacert`,
//! HAProxy's `crt`, `tls-server-cert-file`…) under `--root` or by name in the checked
//! tree, and reads it; this policy judges: a file that is not there is only noted (info:
//! the repository may not hold deployment secrets); a file that is there must be readable
//! PEM of the right kind, valid now and for `expiry_warning_days` more, with its private
//! key matching and not world-readable, chaining to the CA its peers verify it with, and
//! naming the hosts its clients connect to ([`relations`]). Seed 002: Patroni ≥ 2.1
//! reloads its certificates on SIGHUP, so its unit should have an `ExecReload` sending it
//! ([`reload`]).

pub mod facts;
pub mod relations;
pub mod reload;

use policy_guest::DocumentKind;
use std::collections::BTreeSet;

use policy_guest::doc::documents;
use policy_guest::{Code, Input, Policy, Report, Severity};
use serde::Deserialize;

use facts::{Facts, Ref};

pub struct Certificates;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Certificates expiring within this many days are reported (`expiring-soon`).
    pub expiry_warning_days: u32,
    /// Smallest acceptable RSA key, in bits.
    pub min_rsa_bits: usize,
    /// Check Patroni's systemd unit for `ExecReload` (`no-reload`).
    pub require_reload: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            expiry_warning_days: 30,
            min_rsa_bits: 2048,
            require_reload: true,
        }
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "file-not-found",
        Severity::Info,
        "a file a config names is not in the checked tree",
        "Nothing was found at the same path under `--root`, or by its name in the checked paths, so its certificate, key and chain were not checked. Point `--root` at a copy of the deployment's files to check them; a repository that keeps keys out of version control is expected to have this note.",
    ),
    Code::new(
        "unreadable",
        Severity::High,
        "a certificate or key file that cannot be used",
        "The file cannot be read, is not PEM, or lacks what its key needs (a certificate for `certfile`/`cafile`, a private key for `keyfile`): the service fails to start or to handshake.",
    ),
    Code::new(
        "expired",
        Severity::High,
        "an expired certificate",
        "Every TLS handshake that presents or trusts it fails: REST API calls, health checks, DCS access. Renew it (and reload: see `no-reload`).",
    ),
    Code::new(
        "not-yet-valid",
        Severity::High,
        "a certificate that is not valid yet",
        "Its `notBefore` is in the future: handshakes fail until then (or a clock is wrong).",
    ),
    Code::new(
        "expiring-soon",
        Severity::Medium,
        "a certificate that expires within the warning window",
        "Renew it before `notAfter` (setting `expiry_warning_days`, default 30).",
    ),
    Code::new(
        "key-mismatch",
        Severity::High,
        "a private key that does not belong to its certificate",
        "The key's public half differs from the certificate's: the service refuses to load the pair (`load_cert_chain`, etcd, HAProxy all fail). Pair the certificate with its own key.",
    ),
    Code::new(
        "no-private-key",
        Severity::High,
        "a certificate used for TLS without a private key",
        "No key file is named and the certificate file holds none (Patroni's `certfile` without `keyfile`, HAProxy's `crt` without the key appended): the service cannot use it.",
    ),
    Code::new(
        "key-world-readable",
        Severity::High,
        "a private key file anyone on the host can read",
        "Mode `o+r` lets every local user read the key and impersonate the service. `chmod 600` (PostgreSQL also accepts 640 with root as owner).",
    ),
    Code::new(
        "chain-untrusted",
        Severity::High,
        "a certificate that does not verify against the CA its peers use",
        "The CA file the other side verifies with (patronictl's `ctl.cacert`/`restapi.cafile`, HAProxy's `ca-file`, Patroni's `etcd3.cacert`, `restapi.cafile` for client certificates, etcd's `trusted-ca-file`) does not lead to this certificate: the handshake fails. Issue it from that CA, or name the right CA.",
    ),
    Code::new(
        "name-mismatch",
        Severity::High,
        "a server certificate that does not name the host clients connect to",
        "Clients that check host names (patronictl, etcd clients, `sslmode=verify-full`) refuse it. Add the host name or IP address to the subject alternative names. Medium for PostgreSQL's certificate (only `verify-full` clients check).",
    ),
    Code::new(
        "weak-key",
        Severity::Medium,
        "an RSA key shorter than the minimum",
        "RSA below `min_rsa_bits` (default 2048) can be factored with enough resources. Reissue with RSA ≥ 2048 or EC P-256.",
    ),
    Code::new(
        "weak-signature",
        Severity::Medium,
        "a certificate signed with SHA-1 or MD5",
        "Collisions make such signatures forgeable, and current TLS stacks reject them. Reissue with SHA-256 or better.",
    ),
    Code::new(
        "no-reload",
        Severity::Low,
        "Patroni's systemd unit cannot reload",
        "Patroni 2.1+ reloads its configuration and certificates on SIGHUP; without `ExecReload=/bin/kill -s HUP $MAINPID` a renewed certificate needs a restart (a switchover on the primary). The patch adds the line after `ExecStart`.",
    ),
    Code::new(
        "reload-needs-restart",
        Severity::Low,
        "a Patroni version that cannot reload certificates",
        "Before 2.1.0 Patroni reads its TLS files only at start: every renewal is a restart. Upgrade.",
    ),
];

impl Policy for Certificates {
    type Settings = Settings;
    const NAME: &'static str = "certificates";
    const DESCRIPTION: &'static str = "the PEM files the configs name: found, valid, key match, chains, host names, key permissions, Patroni reload";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &[
        "certificates",
        "patroni",
        "etcd",
        "haproxy",
        "pgbackrest",
        "postgresql-conf",
        "pgbouncer",
        "pg-autoctl",
        "systemd",
    ];

    fn validate(s: &Settings) -> Vec<String> {
        let mut v = Vec::new();
        if s.min_rsa_bits > 16384 {
            v.push(format!(
                "`min_rsa_bits` {} is larger than any RSA key in use",
                s.min_rsa_bits
            ));
        }
        v
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let facts = match documents(input, DocumentKind::Certificates).next() {
            Some(doc) => Some(Facts::read(doc)?),
            None => None,
        };
        if let Some(f) = &facts {
            files(f, settings, report);
            relations::check(input, f, report);
        }
        if settings.require_reload {
            reload::check(input, facts.as_ref(), report);
        }
        Ok(())
    }
}

/// Per-file checks, each reported once at the file's first reference.
fn files(f: &Facts, s: &Settings, report: &mut Report) {
    let mut seen = BTreeSet::new();
    for r in &f.references {
        if !seen.insert(r.path.as_str()) {
            continue;
        }
        let Some(file) = f.file(&r.path) else {
            continue;
        };
        let others = f.references.iter().filter(|o| o.path == r.path).count() - 1;
        let also = if others > 0 {
            format!(
                " (named {} more time{})",
                others,
                if others > 1 { "s" } else { "" }
            )
        } else {
            String::new()
        };
        if !file.found {
            let i = report.finding(
                "file-not-found",
                r.loc(),
                format!(
                    "`{}` ({}) was not checked: {}{also}",
                    r.path,
                    r.key,
                    file.reason.as_deref().unwrap_or("not found")
                ),
            );
            if !file.candidates.is_empty() {
                report.remediation(
                    i,
                    format!(
                        "Candidates: {}. Use `--root` to say where the deployment's files are.",
                        file.candidates.join(", ")
                    ),
                );
            }
            continue;
        }
        let at = file.location.as_deref().unwrap_or(&r.path);
        for e in &file.errors {
            report.finding(
                "unreadable",
                r.loc(),
                format!("`{}` (found at `{at}`): {e}", r.path),
            );
        }
        let roles: BTreeSet<&str> = f
            .references
            .iter()
            .filter(|o| o.path == r.path)
            .map(|o| o.role.as_str())
            .collect();
        if roles
            .iter()
            .any(|x| matches!(*x, "cert" | "ca" | "cert-key"))
            && file.certificates.is_empty()
            && file.errors.is_empty()
        {
            report.finding(
                "unreadable",
                r.loc(),
                format!("`{}` (found at `{at}`) holds no certificate", r.path),
            );
        }
        // (A `cert-key` PEM without its key is `no-private-key`.)
        if roles.contains("key") && file.keys.is_empty() && file.errors.is_empty() {
            report.finding(
                "unreadable",
                r.loc(),
                format!("`{}` (found at `{at}`) holds no private key", r.path),
            );
        }
        if !file.keys.is_empty() && file.world_readable {
            report.finding("key-world-readable", r.loc(), format!(
                "`{}` (found at `{at}`, mode {:04o}) holds a private key every local user can read", r.path, file.mode.unwrap_or(0)));
        }
        for (n, c) in file.certificates.iter().enumerate() {
            certificate(r, at, n, c, f.now, s, report);
        }
    }
}

fn certificate(
    r: &Ref,
    at: &str,
    n: usize,
    c: &facts::Cert,
    now: i64,
    s: &Settings,
    report: &mut Report,
) {
    let which = if n == 0 {
        format!("`{}`", r.path)
    } else {
        format!("certificate {} of `{}`", n + 1, r.path)
    };
    let name = format!("{which} ({}, found at `{at}`)", c.subject);
    let window = i64::from(s.expiry_warning_days) * 86_400;
    if c.not_after < now {
        report.finding(
            "expired",
            r.loc(),
            format!("{name} expired on {}", c.not_after_text),
        );
    } else if c.not_before > now {
        report.finding(
            "not-yet-valid",
            r.loc(),
            format!("{name} is not valid before {}", c.not_before_text),
        );
    } else if c.not_after - now < window {
        let days = (c.not_after - now) / 86_400;
        report.finding(
            "expiring-soon",
            r.loc(),
            format!(
                "{name} expires on {} (in {days} day{})",
                c.not_after_text,
                if days == 1 { "" } else { "s" }
            ),
        );
    }
    if c.key_type == "rsa" && c.key_bits > 0 && c.key_bits < s.min_rsa_bits {
        report.finding(
            "weak-key",
            r.loc(),
            format!("{name} has a {}-bit RSA key", c.key_bits),
        );
    }
    let weak = [
        "sha1WithRSAEncryption",
        "md5WithRSAEncryption",
        "ecdsa-with-SHA1",
    ];
    if !c.self_signed && weak.contains(&c.signature_algorithm.as_str()) {
        report.finding(
            "weak-signature",
            r.loc(),
            format!("{name} is signed with {}", c.signature_algorithm),
        );
    }
}

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(Certificates);
