//! The checks between files: a key and its certificate, a certificate and the CA the
//! other side verifies it with, a server certificate and the host names clients use.
//!
//! Who verifies what (reference §2, §6; HAProxy, etcd and pgBackRest documentation):
//! - Patroni's REST API certificate (`restapi.certfile`) is verified by patronictl and
//!   the other members with `ctl.cacert`, else `restapi.cafile`, host name included
//!   (`restapi.connect_address`) unless `ctl.insecure`; by HAProxy with the `ca-file` of
//!   the servers that check it (HAProxy checks no host name without `verifyhost`).
//! - Client certificates (`ctl.certfile`, HAProxy's `crt`) are verified with
//!   `restapi.cafile` when `verify_client` is `optional` or `required`.
//! - etcd's client certificate is verified by Patroni with `etcd3.cacert`, for the hosts
//!   in `advertise-client-urls` (Go: subject alternative names only); Patroni's
//!   `etcd3.cert` by etcd with `trusted-ca-file` when `client-cert-auth`; peer
//!   certificates by the other members with `peer-transport-security.trusted-ca-file`.
//! - PostgreSQL's `ssl_cert_file` names the addresses it listens on (`listen_addresses`,
//!   or Patroni's `postgresql.connect_address`) for `sslmode=verify-full` clients.
//! - pgBackRest's `tls-server-cert-file` names `tls-server-address` when it is a host.
//!
//! Each finding sits at the client side's reference (the key that names the CA or the
//! certificate that fails), so that it points into the config that breaks.

use policy_guest::DocumentKind;
use std::collections::BTreeSet;

use policy_guest::doc::{Structured, documents};
use policy_guest::{Body, Input, Report, Severity};

use crate::facts::{Cert, Facts, Ref, covers};

/// The first certificate of a found file.
fn cert<'a>(f: &'a Facts, path: &str) -> Option<&'a Cert> {
    f.file(path)
        .filter(|x| x.found)
        .and_then(|x| x.certificates.first())
}

/// The chain result of `cert_path` against `ca_path` (`None` when either is missing).
fn chain<'a>(f: &'a Facts, cert_path: &str, ca_path: &str) -> Option<&'a str> {
    cert(f, ca_path)?;
    f.file(cert_path)
        .filter(|x| x.found && !x.certificates.is_empty())?
        .chains
        .get(ca_path)
        .map(String::as_str)
}

fn host_of(addr: &str) -> String {
    let addr = addr.trim();
    let addr = addr.split_once("://").map_or(addr, |(_, r)| r);
    let addr = addr.split('/').next().unwrap_or(addr);
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h.to_string(),
        _ => addr.to_string(),
    }
}

fn specific(host: &str) -> bool {
    !matches!(host, "" | "*" | "0.0.0.0" | "::" | "localhost")
        && !host.starts_with("127.")
        && host != "::1"
}

struct Checker<'a> {
    f: &'a Facts,
    report: &'a mut Report,
    seen: BTreeSet<(String, String, u32)>,
}

impl Checker<'_> {
    fn once(&mut self, code: &str, r: &Ref) -> bool {
        self.seen.insert((code.to_string(), r.file.clone(), r.line))
    }

    /// `chain-untrusted` when `cert_ref`'s certificate does not verify against `ca_ref`.
    fn chain(&mut self, at: &Ref, cert_ref: &Ref, ca_ref: &Ref, who: &str) {
        let Some(result) = chain(self.f, &cert_ref.path, &ca_ref.path) else {
            return;
        };
        if result != "ok"
            && self
                .seen
                .insert(("chain".into(), cert_ref.path.clone(), ca_ref.line))
        {
            self.report.finding(
                "chain-untrusted",
                at.loc(),
                format!(
                    "`{}` ({}) does not verify against `{}` ({}), which {who} uses: {result}",
                    cert_ref.path,
                    cert_ref.label(),
                    ca_ref.path,
                    ca_ref.label()
                ),
            );
        }
    }

    /// `name-mismatch` when `r`'s certificate names none of `hosts`.
    fn names(
        &mut self,
        r: &Ref,
        hosts: &[String],
        cn_fallback: bool,
        who: &str,
        severity: Option<Severity>,
    ) {
        let Some(c) = cert(self.f, &r.path) else {
            return;
        };
        let missing: Vec<&String> = hosts
            .iter()
            .filter(|h| specific(h) && !covers(c, h, cn_fallback))
            .collect();
        if missing.is_empty() || !self.once("name-mismatch", r) {
            return;
        }
        let names: Vec<String> = c.dns_names.iter().chain(&c.ip_addresses).cloned().collect();
        let i = self.report.finding(
            "name-mismatch",
            r.loc(),
            format!(
                "`{}` ({}) does not name {} that {who} connect{} to (it names {})",
                r.path,
                r.label(),
                missing
                    .iter()
                    .map(|h| format!("`{h}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if who.ends_with('s') { "" } else { "s" },
                if names.is_empty() {
                    format!("only CN `{}`", c.subject_cn.join(", "))
                } else {
                    names.join(", ")
                }
            ),
        );
        if let Some(s) = severity {
            self.report.severity(i, s);
        }
    }

    /// `key-mismatch` / `no-private-key` for one group.
    fn key_pair(&mut self, cert_ref: &Ref, key_ref: Option<&Ref>, key_needed: bool) {
        let Some(cf) = self.f.file(&cert_ref.path).filter(|x| x.found) else {
            return;
        };
        let Some(c) = cf.certificates.first() else {
            return;
        };
        let key = match key_ref {
            Some(k) => match self.f.file(&k.path).filter(|x| x.found) {
                Some(kf) => kf.keys.first().map(|key| (key, k)),
                None => return,
            },
            None => cf.keys.first().map(|key| (key, cert_ref)),
        };
        match key {
            Some((key, at)) => {
                if let (Some(a), Some(b)) = (&c.key_id, &key.key_id)
                    && a != b
                    && self.once("key-mismatch", at)
                {
                    self.report.finding("key-mismatch", at.loc(), format!(
                        "the private key in `{}` does not belong to the certificate in `{}` ({})", at.path, cert_ref.path, c.subject));
                }
            }
            None if key_needed && key_ref.is_none() && self.once("no-private-key", cert_ref) => {
                self.report.finding(
                    "no-private-key",
                    cert_ref.loc(),
                    format!(
                        "`{}` ({}) holds no private key and no key file is named with it",
                        cert_ref.path,
                        cert_ref.label()
                    ),
                );
            }
            None => {}
        }
    }
}

pub fn check(input: &Input, f: &Facts, report: &mut Report) {
    let mut c = Checker {
        f,
        report,
        seen: BTreeSet::new(),
    };
    key_pairs(&mut c);
    let patronis: Vec<Structured> = documents(input, DocumentKind::Patroni)
        .filter_map(Structured::new)
        .collect();
    let etcds: Vec<Structured> = documents(input, DocumentKind::Etcd)
        .filter_map(Structured::new)
        .collect();
    for y in &patronis {
        patroni(&mut c, y, &etcds);
    }
    for doc in documents(input, DocumentKind::Haproxy) {
        haproxy(&mut c, doc, &patronis);
    }
    for e in &etcds {
        etcd(&mut c, e);
    }
    postgres(&mut c, input, &patronis);
    pgbackrest(&mut c, input);
}

fn key_pairs(c: &mut Checker) {
    let groups: BTreeSet<(String, String)> =
        c.f.references
            .iter()
            .map(|r| (r.file.clone(), r.group.clone()))
            .collect();
    for (file, group) in groups {
        let refs: Vec<Ref> = c.f.group(&file, &group).cloned().collect();
        let key = refs.iter().find(|r| r.role == "key");
        for r in refs
            .iter()
            .filter(|r| r.role == "cert" || r.role == "cert-key")
        {
            let needed =
                r.role == "cert-key" || (r.kind == DocumentKind::Patroni && group != "postgresql");
            c.key_pair(r, key, needed);
        }
    }
}

fn patroni(c: &mut Checker, y: &Structured, etcds: &[Structured]) {
    let file = y.doc.path.as_str();
    let f = c.f;
    let verify = y.str("/restapi/verify_client").map(str::to_lowercase);
    let demands = matches!(verify.as_deref(), Some("optional" | "required"));
    let server = f.role(file, "restapi", "cert").cloned();
    let restapi_ca = f.role(file, "restapi", "ca").cloned();
    let ctl_ca = f.role(file, "ctl", "ca").cloned();
    if let Some(s) = &server {
        if let Some(ca) = ctl_ca.as_ref().or(restapi_ca.as_ref()) {
            c.chain(ca, s, ca, "patronictl and the other members");
        }
        let insecure = y.get("/restapi").is_some()
            && y.get("/ctl/insecure").and_then(|v| v.as_bool()) == Some(true);
        if !insecure {
            let hosts: Vec<String> = y
                .str("/restapi/connect_address")
                .map(host_of)
                .into_iter()
                .collect();
            c.names(s, &hosts, true, "patronictl and the other members", None);
        }
    }
    if let (Some(client), Some(ca), true) =
        (f.role(file, "ctl", "cert").cloned(), &restapi_ca, demands)
    {
        c.chain(&client, &client, ca, "the REST API (`verify_client`)");
    }
    for section in ["etcd", "etcd3"] {
        let ca = f.role(file, section, "ca").cloned();
        let client = f.role(file, section, "cert").cloned();
        let hosts: Vec<String> = etcd_hosts(y, section);
        for e in paired(etcds, &hosts) {
            let epath = e.doc.path.as_str();
            if let (Some(ca), Some(server)) = (
                &ca,
                f.role(epath, "client-transport-security", "cert").cloned(),
            ) {
                c.chain(ca, &server, ca, &format!("Patroni's `{section}`"));
            }
            let auth = e
                .get("/client-transport-security/client-cert-auth")
                .and_then(|v| v.as_bool())
                == Some(true);
            if let (Some(client), Some(eca), true) = (
                &client,
                f.role(epath, "client-transport-security", "ca").cloned(),
                auth,
            ) {
                c.chain(client, client, &eca, "etcd (`client-cert-auth`)");
            }
        }
    }
}

fn etcd_hosts(y: &Structured, section: &str) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["host", "url", "proxy"] {
        if let Some(v) = y.str(&format!("/{section}/{k}")) {
            out.push(host_of(v));
        }
    }
    match y.get(&format!("/{section}/hosts")) {
        Some(serde_json::Value::String(s)) => out.extend(s.split(',').map(host_of)),
        Some(serde_json::Value::Array(a)) => {
            out.extend(a.iter().filter_map(|v| v.as_str()).map(host_of))
        }
        _ => {}
    }
    out
}

fn etcd_client_hosts(e: &Structured) -> Vec<String> {
    ["/advertise-client-urls", "/listen-client-urls"]
        .iter()
        .filter_map(|p| e.str(p))
        .flat_map(|v| v.split(',').map(host_of).collect::<Vec<_>>())
        .collect()
}

/// The etcd configs Patroni's hosts point at (all when none matches).
fn paired<'a>(etcds: &'a [Structured<'a>], hosts: &[String]) -> Vec<&'a Structured<'a>> {
    let hit: Vec<&Structured> = etcds
        .iter()
        .filter(|e| etcd_client_hosts(e).iter().any(|h| hosts.contains(h)))
        .collect();
    if hit.is_empty() {
        etcds.iter().collect()
    } else {
        hit
    }
}

fn patroni_hosts(y: &Structured) -> Vec<String> {
    [
        "/restapi/connect_address",
        "/restapi/listen",
        "/postgresql/connect_address",
        "/postgresql/listen",
    ]
    .iter()
    .filter_map(|p| y.str(p))
    .flat_map(|v| v.split(',').map(host_of).collect::<Vec<_>>())
    .collect()
}

fn haproxy(c: &mut Checker, doc: &policy_guest::Document, patronis: &[Structured]) {
    let Body::Settings(settings) = &doc.body else {
        return;
    };
    let f = c.f;
    for s in settings.iter().filter(|s| s.name == "server") {
        let (Some(name), Some(addr)) = (s.args.first(), s.args.get(1)) else {
            continue;
        };
        let section = s.section.as_deref().unwrap_or("");
        let own = format!("{section} server {name}");
        let defaults = format!("{section} default-server");
        let find = |role: &str| {
            f.role(&doc.path, &own, role)
                .or_else(|| f.role(&doc.path, &defaults, role))
                .cloned()
        };
        let (ca, crt) = (find("ca"), find("cert-key"));
        if ca.is_none() && crt.is_none() {
            continue;
        }
        let host = host_of(addr);
        let mut targets: Vec<&Structured> = patronis
            .iter()
            .filter(|y| patroni_hosts(y).contains(&host))
            .collect();
        if targets.is_empty() {
            targets = patronis.iter().collect();
        }
        for y in targets {
            let pfile = y.doc.path.as_str();
            if let (Some(ca), Some(server)) = (&ca, f.role(pfile, "restapi", "cert").cloned()) {
                c.chain(
                    ca,
                    &server,
                    ca,
                    &format!("HAProxy's check of server `{name}`"),
                );
            }
            let demands = matches!(
                y.str("/restapi/verify_client")
                    .map(str::to_lowercase)
                    .as_deref(),
                Some("optional" | "required")
            );
            if let (Some(crt), Some(pca), true) =
                (&crt, f.role(pfile, "restapi", "ca").cloned(), demands)
            {
                c.chain(crt, crt, &pca, "Patroni's REST API (`verify_client`)");
            }
        }
    }
}

fn etcd(c: &mut Checker, e: &Structured) {
    let file = e.doc.path.as_str();
    let f = c.f;
    if let Some(server) = f.role(file, "client-transport-security", "cert").cloned() {
        let hosts: Vec<String> = e
            .str("/advertise-client-urls")
            .map(|v| v.split(',').map(host_of).collect())
            .unwrap_or_default();
        c.names(
            &server,
            &hosts,
            false,
            "etcd clients (Patroni, etcdctl)",
            None,
        );
    }
    if let Some(peer) = f.role(file, "peer-transport-security", "cert").cloned() {
        let hosts: Vec<String> = e
            .str("/initial-advertise-peer-urls")
            .map(|v| v.split(',').map(host_of).collect())
            .unwrap_or_default();
        c.names(&peer, &hosts, false, "the other etcd members", None);
        if let Some(ca) = f.role(file, "peer-transport-security", "ca").cloned() {
            c.chain(&ca, &peer, &ca, "the other etcd members");
        }
    }
}

fn postgres(c: &mut Checker, input: &Input, patronis: &[Structured]) {
    let f = c.f;
    for doc in documents(input, DocumentKind::PostgresqlConf) {
        let Body::Settings(settings) = &doc.body else {
            continue;
        };
        let Some(r) = f.role(&doc.path, "postgresql", "cert").cloned() else {
            continue;
        };
        let hosts: Vec<String> = settings
            .iter()
            .rfind(|s| s.name == "listen_addresses")
            .map(|s| s.value.split(',').map(|h| h.trim().to_string()).collect())
            .unwrap_or_default();
        c.names(
            &r,
            &hosts,
            true,
            "`verify-full` clients",
            Some(Severity::Medium),
        );
    }
    for y in patronis {
        let Some(r) = f.role(&y.doc.path, "postgresql", "cert").cloned() else {
            continue;
        };
        let hosts: Vec<String> = y
            .str("/postgresql/connect_address")
            .map(host_of)
            .into_iter()
            .collect();
        c.names(
            &r,
            &hosts,
            true,
            "`verify-full` clients",
            Some(Severity::Medium),
        );
    }
}

fn pgbackrest(c: &mut Checker, input: &Input) {
    let f = c.f;
    for doc in documents(input, DocumentKind::Pgbackrest) {
        let Body::Settings(settings) = &doc.body else {
            continue;
        };
        let Some(address) = settings.iter().rfind(|s| s.name == "tls-server-address") else {
            continue;
        };
        let Some(r) = f
            .references
            .iter()
            .find(|r| r.file == doc.path && r.key == "tls-server-cert-file")
            .cloned()
        else {
            continue;
        };
        c.names(
            &r,
            &[address.value.trim().to_string()],
            true,
            "pgBackRest clients",
            None,
        );
    }
}
