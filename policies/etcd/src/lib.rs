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

use policy_guest::DocumentKind;
use policy_guest::doc::{Structured, documents};
use policy_guest::{Code, Input, Policy, Report, Severity, Withheld};
use serde::Deserialize;
use serde_json::Value;

use edits::Changes;
use urls::Url;

pub struct Etcd;

/// The certificate files the fixes may name. None (the default): only a path the inputs
/// already name is used, and a fix that needs another is withheld — a path that exists in
/// no input would keep etcd from starting or Patroni from reaching it.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Report listeners on etcd's default ports 2379/2380 (`default-port`).
    pub forbid_default_ports: bool,
    /// Files the fixes name on the etcd side.
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub trusted_ca_file: Option<String>,
    pub peer_cert_file: Option<String>,
    pub peer_key_file: Option<String>,
    pub peer_trusted_ca_file: Option<String>,
    /// Files the fixes name on the Patroni side (`etcd3.cacert`, `cert`, `key`).
    pub patroni_cacert: Option<String>,
    pub patroni_cert: Option<String>,
    pub patroni_key: Option<String>,
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
        Severity::High,
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
        Severity::High,
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
        Severity::High,
        "Patroni has no client certificate for etcd",
        "etcd demands client certificates (`client-cert-auth`), and Patroni's `etcd`/`etcd3` section has no `cert`/`key`: the TLS handshake fails and Patroni loses the DCS (high: a cluster that breaks, docs/severity.md). Also high when etcd does not demand them yet but is about to (`client-cert-auth-disabled`). The patch sets `cert` and `key`.",
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
            .filter(|(_, v)| v.as_ref().is_some_and(|v| v.trim().is_empty()))
            .map(|(k, _)| format!("`{k}` is empty"))
            .collect()
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let etcds: Vec<Structured> = documents(input, DocumentKind::Etcd)
            .filter_map(Structured::new)
            .collect();
        let patronis: Vec<Structured> = documents(input, DocumentKind::Patroni)
            .filter_map(Structured::new)
            .collect();
        let sections: Vec<patroni::Section> = patronis.iter().flat_map(patroni::sections).collect();
        // etcd first: what each serves after this run decides whether Patroni may follow.
        let served: Vec<patroni::Served> = etcds
            .iter()
            .map(|y| {
                let clients: Vec<&patroni::Section> =
                    sections.iter().filter(|c| c.reaches(y)).collect();
                check_etcd(y, &etcds, &clients, settings, report)
            })
            .collect();
        for sec in &sections {
            patroni::check_section(sec, &etcds, &served, settings, report);
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

/// The manual steps when an etcd side cannot be fixed automatically.
const ETCD_STEPS: &[&str] = &[
    "issue a certificate and key for this etcd member from your CA and install them (with the CA file) on its host",
    "set `cert-file`, `key-file` and `trusted-ca-file` of its `client-transport-security`/`peer-transport-security` to them — or name them in the etcd policy's settings and run `patrol check --fix` again",
    "give every client (Patroni's `etcd3` section: `protocol: https`, `cacert`, `cert`/`key`) and every other member the same change, with all their configs among the inputs",
    "restart the etcd members and reload Patroni together",
];

/// Checks one etcd config; returns what it serves its clients after this run's fixes.
/// `clients`: the Patroni sections that reach it.
fn check_etcd(
    y: &Structured,
    etcds: &[Structured],
    clients: &[&patroni::Section],
    s: &Settings,
    report: &mut Report,
) -> patroni::Served {
    let mut file_changes = Changes::new(y);
    let mut file_fixed = Vec::new();
    let mut served = patroni::Served::default();
    for side in [&CLIENT, &PEER] {
        // Each side is fixed or withheld on its own; the fixed ones form one patch.
        let mut side_changes = Changes::new(y);
        let mut side_fixed = Vec::new();
        let (cert, key, ca) = if side.prefix.is_empty() {
            (&s.cert_file, &s.key_file, &s.trusted_ca_file)
        } else {
            (&s.peer_cert_file, &s.peer_key_file, &s.peer_trusted_ca_file)
        };
        let changes = &mut side_changes;
        let fixed = &mut side_fixed;
        let mut unnamed: Vec<String> = Vec::new();
        let ptr = |k: &str| format!("{}/{k}", side.group);
        // A file the fix needs: the one written, else the settings' one, else none.
        let mut need = |changes: &mut Changes, k: &str, value: &Option<String>| {
            let p = ptr(k);
            if has(y, &p) || changes.sets(&p) {
                return;
            }
            match value {
                Some(v) => changes.set_missing(&p, v),
                None => unnamed.push(format!("{}.{k}", side.group.trim_start_matches('/'))),
            }
        };
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
        let mut plain_fixed = false;
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
                plain_fixed = true;
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
            need(changes, "cert-file", cert);
            need(changes, "key-file", key);
        }
        let demanded = on(y, &ptr("client-cert-auth"));
        if networked {
            if !demanded {
                fixed.push(report.finding(side.auth_code, at("client-cert-auth"), format!(
                    "etcd does not demand certificates from its {who} (`{}client-cert-auth` is not true)", side.prefix)));
                changes.set(&ptr("client-cert-auth"), Value::Bool(true));
                need(changes, "trusted-ca-file", ca);
                changes.describe(&format!("certificates demanded from {who}"));
            } else if !has(y, &ptr("trusted-ca-file")) {
                fixed.push(report.finding("cert-auth-without-ca", y.loc(&ptr("client-cert-auth")), format!(
                    "`{}client-cert-auth` without `{}trusted-ca-file`: {who} certificates from any public CA are accepted", side.prefix, side.prefix)));
                need(changes, "trusted-ca-file", ca);
                changes.describe(&format!("a trusted CA for {who}"));
            }
        }
        let demands_after = changes.sets(&ptr("client-cert-auth"));
        let blocked = if !unnamed.is_empty() {
            Some(format!(
                "no input names the file(s) for `{}`, and a path that exists nowhere keeps etcd from starting",
                unnamed.join("`, `")
            ))
        } else if !changes_link(changes, side) {
            // Only files added to what this side already does: nobody else is affected.
            None
        } else if side.prefix.is_empty() {
            clients_blocked(clients, s, demands_after || demanded)
        } else {
            peers_blocked(y, etcds)
        };
        let fixes = blocked.is_none();
        if side.prefix.is_empty() {
            // Plain URLs stay plain when the fix is withheld.
            served.tls = https && (fixes || !plain_fixed);
            served.demands_certs = demanded || (fixes && demands_after);
        }
        match blocked {
            Some(reason) => {
                let w = Withheld::new(reason, ETCD_STEPS);
                for i in side_fixed {
                    w.attach(report, i);
                }
            }
            None => {
                file_changes.merge(side_changes);
                file_fixed.extend(side_fixed);
            }
        }
    }
    if let Some(patch) = file_changes.patch() {
        for i in file_fixed {
            report.fix(i, patch.clone());
        }
    }
    served
}

/// Whether the changes of a side change what the other end of its links must do: URLs
/// to https, certificates demanded, auto-TLS certificates replaced.
fn changes_link(changes: &Changes, side: &Side) -> bool {
    side.keys.iter().any(|k| changes.sets(&format!("/{k}")))
        || changes.sets(&format!("{}/client-cert-auth", side.group))
        || changes.sets(&format!("{}/auto-tls", side.group))
}

/// Why etcd's clients cannot follow a change of its client side (TLS, demanded
/// certificates) in the same run; None when they all can.
fn clients_blocked(clients: &[&patroni::Section], s: &Settings, certs: bool) -> Option<String> {
    if clients.is_empty() {
        return Some("none of this etcd's clients (Patroni's `etcd3` sections) is among the inputs, and a client left on plain HTTP or without a certificate loses the DCS".into());
    }
    clients.iter().find_map(|c| c.can_follow(s, certs).err())
}

/// Why the other members cannot follow a change of this member's peer side; None when
/// every member `initial-cluster` names is among the inputs.
fn peers_blocked(y: &Structured, etcds: &[Structured]) -> Option<String> {
    let me = y.str("/name").unwrap_or("default");
    let known: Vec<&str> = etcds.iter().filter_map(|e| e.str("/name")).collect();
    let missing: Vec<String> = y
        .str("/initial-cluster")
        .unwrap_or("")
        .split(',')
        .filter_map(|item| item.split_once('=').map(|(n, _)| n.trim()))
        .filter(|n| !n.is_empty() && *n != me && !known.contains(n))
        .map(|n| format!("`{n}`"))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the other member(s) {} of `initial-cluster` are not among the inputs, and a member left on the old peer settings loses its peers",
            missing.join(", ")
        )
    })
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
