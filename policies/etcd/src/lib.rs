//! Checks etcd (`etcd` documents: the YAML config file, or `ETCD_*` variables and
//! `--flags` the host reads into the same shape) and the `etcd`/`etcd3` section of the
//! Patroni configs that use it (`patroni` documents).
//!
//! etcd holds Patroni's leader key and dynamic configuration: whoever can write it runs
//! the cluster (and, through the dynamic configuration, commands on its nodes). So client
//! and peer traffic must be TLS with certificates from a CA of one's own, and etcd must
//! demand client certificates (seed 003). Patroni's side must then match: `protocol:
//! https`, a `cacert`, and a client `cert`/`key` — a mismatch is an outage (Patroni loses
//! the DCS and demotes the primary).
//!
//! All etcd-side fixes of one file form one patch, and all Patroni-side fixes of one
//! file another: the fixes of one run fit together (TLS on etcd comes with TLS, the CA
//! and a client certificate on Patroni), so that a second check after `--fix` is clean.

pub mod edits;
pub mod patroni;
pub mod urls;

use policy_guest::doc::{Structured, documents};
use policy_guest::{Code, Input, Policy, Report, Severity};
use serde::Deserialize;
use serde_json::Value;

use edits::Changes;
use urls::Url;

pub struct Etcd;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Report listeners on etcd's default ports 2379/2380 (`default-port`).
    pub forbid_default_ports: bool,
    /// Files the fixes name on the etcd side.
    pub cert_file: String,
    pub key_file: String,
    pub trusted_ca_file: String,
    pub peer_cert_file: String,
    pub peer_key_file: String,
    pub peer_trusted_ca_file: String,
    /// Files the fixes name on the Patroni side (`etcd3.cacert`, `cert`, `key`).
    pub patroni_cacert: String,
    pub patroni_cert: String,
    pub patroni_key: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            forbid_default_ports: false,
            cert_file: "/etc/etcd/ssl/server.crt".into(),
            key_file: "/etc/etcd/ssl/server.key".into(),
            trusted_ca_file: "/etc/etcd/ssl/ca.crt".into(),
            peer_cert_file: "/etc/etcd/ssl/peer.crt".into(),
            peer_key_file: "/etc/etcd/ssl/peer.key".into(),
            peer_trusted_ca_file: "/etc/etcd/ssl/ca.crt".into(),
            patroni_cacert: "/etc/patroni/ssl/etcd-ca.crt".into(),
            patroni_cert: "/etc/patroni/ssl/etcd-client.crt".into(),
            patroni_key: "/etc/patroni/ssl/etcd-client.key".into(),
        }
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "client-plain-http",
        Severity::High,
        "etcd serves clients over plain HTTP",
        "A non-loopback `listen-client-urls`/`advertise-client-urls` entry is `http://`: Patroni's leader key, the dynamic configuration and etcd passwords cross the network in clear. Use `https://` with `client-transport-security.cert-file`/`key-file`; the patch does both.",
    ),
    Code::new(
        "peer-plain-http",
        Severity::High,
        "etcd members talk to each other over plain HTTP",
        "A non-loopback `listen-peer-urls`/`initial-advertise-peer-urls`/`initial-cluster` entry is `http://`: the Raft log (every key) crosses the network in clear. Use `https://` with `peer-transport-security.cert-file`/`key-file` on every member; the patch does it for this one (update the others and the member list together).",
    ),
    Code::new(
        "tls-without-certificate",
        Severity::Critical,
        "an https:// listener without a certificate",
        "etcd refuses to start with an `https://` client or peer URL and neither `cert-file`/`key-file` nor `auto-tls`. Set the certificate and key; the patch does.",
    ),
    Code::new(
        "client-cert-auth-disabled",
        Severity::High,
        "etcd does not demand client certificates",
        "Without `client-transport-security.client-cert-auth: true` anyone who reaches the client port can read and write the DCS (etcd's own RBAC, if enabled, is a password over the same channel). Demand certificates from `trusted-ca-file`'s CA; the patch sets both, and the Patroni side gets `cert`/`key` in the same run.",
    ),
    Code::new(
        "peer-client-cert-auth-disabled",
        Severity::High,
        "etcd does not demand certificates from its peers",
        "Without `peer-transport-security.client-cert-auth: true` any host that reaches the peer port can talk Raft to the member. Demand peer certificates from `trusted-ca-file`'s CA; the patch sets both.",
    ),
    Code::new(
        "cert-auth-without-ca",
        Severity::High,
        "client certificates demanded without a trusted CA",
        "`client-cert-auth: true` without `trusted-ca-file` makes etcd (Go's TLS) verify client certificates against the system CA store: any certificate a public CA issued gets in. Name your own CA in `trusted-ca-file`; the patch does.",
    ),
    Code::new(
        "auto-tls",
        Severity::High,
        "etcd uses self-signed auto-TLS certificates",
        "`auto-tls`/`peer-auto-tls` make etcd generate self-signed certificates that nobody verifies: encryption without authentication, open to a man in the middle. Use certificates from your CA (`cert-file`, `key-file`, `trusted-ca-file`); the patch sets them and turns auto-TLS off.",
    ),
    Code::new(
        "default-port",
        Severity::Low,
        "etcd listens on a default port the organisation forbids",
        "With the setting `forbid_default_ports`, client port 2379 and peer port 2380 are reported (seed 003: use non-default ports). Move the ports in etcd and in Patroni's `etcd3.hosts` together; no patch.",
    ),
    Code::new(
        "patroni-plain-http",
        Severity::High,
        "Patroni talks to etcd over plain HTTP",
        "Patroni's `etcd`/`etcd3` section uses `protocol: http` (the default) or an `http://` URL: the DCS traffic and `etcd3.password` cross the network in clear. The patch sets `protocol: https`, `cacert` and (when etcd is in the input) `cert`/`key`; etcd must serve https too (see `client-plain-http`).",
    ),
    Code::new(
        "patroni-protocol-mismatch",
        Severity::Critical,
        "Patroni and etcd speak different protocols",
        "etcd serves clients only over https while Patroni uses http, or the reverse: Patroni cannot reach the DCS, and a cluster without its DCS demotes its primary. Make both https; the patch fixes the Patroni side when etcd is already https.",
    ),
    Code::new(
        "patroni-no-cacert",
        Severity::High,
        "Patroni verifies etcd's certificate against the system CA store",
        "Without `cacert`, urllib3 2.x verifies etcd's certificate against the system store, where a private CA is missing: every DCS call fails. Set `cacert` to the CA that signed etcd's certificate; the patch does.",
    ),
    Code::new(
        "patroni-no-client-cert",
        Severity::Critical,
        "Patroni has no client certificate for etcd",
        "etcd demands client certificates (`client-cert-auth`), and Patroni's `etcd`/`etcd3` section has no `cert`/`key`: the TLS handshake fails and Patroni loses the DCS. High (not critical) when etcd does not demand them yet but is about to (`client-cert-auth-disabled`). The patch sets `cert` and `key`.",
    ),
];

impl Policy for Etcd {
    type Settings = Settings;
    const NAME: &'static str = "etcd";
    const DESCRIPTION: &'static str = "etcd client and peer TLS, client certificates, auto-TLS, ports, and Patroni's etcd section";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["etcd", "patroni"];

    fn validate(s: &Settings) -> Vec<String> {
        let fields = [
            ("cert_file", &s.cert_file),
            ("key_file", &s.key_file),
            ("trusted_ca_file", &s.trusted_ca_file),
            ("peer_cert_file", &s.peer_cert_file),
            ("peer_key_file", &s.peer_key_file),
            ("peer_trusted_ca_file", &s.peer_trusted_ca_file),
            ("patroni_cacert", &s.patroni_cacert),
            ("patroni_cert", &s.patroni_cert),
            ("patroni_key", &s.patroni_key),
        ];
        fields
            .iter()
            .filter(|(_, v)| v.trim().is_empty())
            .map(|(k, _)| format!("`{k}` is empty"))
            .collect()
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let etcds: Vec<Structured> = documents(input, "etcd")
            .filter_map(Structured::new)
            .collect();
        for y in &etcds {
            check_etcd(y, settings, report);
        }
        for y in documents(input, "patroni").filter_map(Structured::new) {
            patroni::check(&y, &etcds, settings, report);
        }
        Ok(())
    }
}

/// The URLs of a key (etcd's defaults when absent).
pub fn urls_of(y: &Structured, key: &str) -> Vec<Url> {
    match y.str(&format!("/{key}")) {
        Some(v) => urls::list(v),
        None => match key {
            "listen-client-urls" | "advertise-client-urls" => urls::list("http://localhost:2379"),
            "listen-peer-urls" | "initial-advertise-peer-urls" => {
                urls::list("http://localhost:2380")
            }
            _ => Vec::new(),
        },
    }
}

/// Whether a boolean etcd option is on (a YAML boolean; etcd refuses other types).
pub fn on(y: &Structured, pointer: &str) -> bool {
    y.get(pointer).and_then(Value::as_bool) == Some(true)
}

fn has(y: &Structured, pointer: &str) -> bool {
    y.str(pointer).is_some_and(|s| !s.trim().is_empty())
}

/// What etcd demands of clients once this policy's fixes are in.
pub struct Side {
    pub prefix: &'static str,
    pub group: &'static str,
    pub keys: &'static [&'static str],
    pub auth_code: &'static str,
    pub plain_code: &'static str,
}

const CLIENT: Side = Side {
    prefix: "",
    group: "/client-transport-security",
    keys: &["listen-client-urls", "advertise-client-urls"],
    auth_code: "client-cert-auth-disabled",
    plain_code: "client-plain-http",
};
const PEER: Side = Side {
    prefix: "peer-",
    group: "/peer-transport-security",
    keys: &[
        "listen-peer-urls",
        "initial-advertise-peer-urls",
        "initial-cluster",
    ],
    auth_code: "peer-client-cert-auth-disabled",
    plain_code: "peer-plain-http",
};

fn check_etcd(y: &Structured, s: &Settings, report: &mut Report) {
    let mut changes = Changes::new(y);
    let mut fixed = Vec::new();
    for side in [&CLIENT, &PEER] {
        let (cert, key, ca) = if side.prefix.is_empty() {
            (&s.cert_file, &s.key_file, &s.trusted_ca_file)
        } else {
            (&s.peer_cert_file, &s.peer_key_file, &s.peer_trusted_ca_file)
        };
        let ptr = |k: &str| format!("{}/{k}", side.group);
        let who = if side.prefix.is_empty() {
            "clients"
        } else {
            "peers"
        };
        // A missing key is reported at its section, or at the listener when the section is
        // missing too.
        let at = |k: &str| {
            if y.get(side.group).is_some() || y.get(&format!("/{}", side.keys[0])).is_none() {
                y.loc(&ptr(k))
            } else {
                y.loc(&format!("/{}", side.keys[0]))
            }
        };
        let mut networked = false;
        let mut https = false;
        for key in side.keys {
            let list = urls_of(y, key);
            networked |= list.iter().any(|u| !u.is_local());
            https |= key.starts_with("listen") && list.iter().any(|u| u.scheme == "https");
            let plain: Vec<&Url> = list
                .iter()
                .filter(|u| u.scheme == "http" && !u.is_local())
                .collect();
            if let (Some(first), Some(value)) = (plain.first(), y.str(&format!("/{key}"))) {
                fixed.push(report.finding(
                    side.plain_code,
                    y.loc(&format!("/{key}")),
                    format!(
                        "`{key}` serves {who} over plain HTTP (`http://{}`)",
                        host_port(first)
                    ),
                ));
                changes.set(&format!("/{key}"), Value::String(urls::to_https(value)));
                changes.describe(&format!("https for {who}"));
                https = true;
            }
            if s.forbid_default_ports && !key.starts_with("initial-cluster") {
                let default = if side.prefix.is_empty() { 2379 } else { 2380 };
                if list
                    .iter()
                    .any(|u| u.port == Some(default) && !u.is_local())
                    && y.get(&format!("/{key}")).is_some()
                {
                    report.finding(
                        "default-port",
                        y.loc(&format!("/{key}")),
                        format!("`{key}` uses etcd's default port {default}"),
                    );
                }
            }
        }
        let auto = on(y, &ptr("auto-tls"));
        let certs = has(y, &ptr("cert-file")) && has(y, &ptr("key-file"));
        if auto && !certs {
            fixed.push(report.finding(
                "auto-tls",
                y.loc(&ptr("auto-tls")),
                format!(
                    "`{}auto-tls` gives {who} a self-signed certificate nobody verifies",
                    side.prefix
                ),
            ));
            changes.set(&ptr("auto-tls"), Value::Bool(false));
            changes.describe(&format!(
                "certificates from your CA instead of {}auto-tls",
                side.prefix
            ));
        } else if https && !certs && !auto && changes.is_empty_for(side.keys) {
            fixed.push(report.finding("tls-without-certificate", at("cert-file"), format!(
                "etcd serves {who} over https without `{}cert-file`/`{}key-file`: it refuses to start", side.prefix, side.prefix)));
        }
        if https || auto {
            changes.set_missing(&ptr("cert-file"), cert);
            changes.set_missing(&ptr("key-file"), key);
        }
        if networked {
            let demanded = on(y, &ptr("client-cert-auth"));
            if !demanded {
                fixed.push(report.finding(side.auth_code, at("client-cert-auth"), format!(
                    "etcd does not demand certificates from its {who} (`{}client-cert-auth` is not true)", side.prefix)));
                changes.set(&ptr("client-cert-auth"), Value::Bool(true));
                changes.set_missing(&ptr("trusted-ca-file"), ca);
                changes.describe(&format!("certificates demanded from {who}"));
            } else if !has(y, &ptr("trusted-ca-file")) {
                fixed.push(report.finding("cert-auth-without-ca", y.loc(&ptr("client-cert-auth")), format!(
                    "`{}client-cert-auth` without `{}trusted-ca-file`: {who} certificates from any public CA are accepted", side.prefix, side.prefix)));
                changes.set_missing(&ptr("trusted-ca-file"), ca);
                changes.describe(&format!("a trusted CA for {who}"));
            }
        }
    }
    if let Some(patch) = changes.patch() {
        for i in fixed {
            report.fix(i, patch.clone());
        }
    }
}

fn host_port(u: &Url) -> String {
    match u.port {
        Some(p) => format!("{}:{p}", u.host),
        None => u.host.clone(),
    }
}

impl Changes<'_> {
    /// Whether no URL key of `keys` is being rewritten (an https fix adds the certificate
    /// itself, so `tls-without-certificate` would say the same twice).
    fn is_empty_for(&self, keys: &[&str]) -> bool {
        keys.iter().all(|k| !self.sets(&format!("/{k}")))
    }
}

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(Etcd);
