//! Patroni's `etcd`/`etcd3` section against the etcd configs of the input.
//!
//! What Patroni does with it (reference §2.3, `patroni/dcs/etcd.py`): the scheme comes
//! from `url` or `proxy` when given, else from `protocol` (default `http`), and applies to
//! every `host`/`hosts` entry; `cacert` is handed to urllib3 as the CA (without it
//! urllib3 2.x verifies against the system store); `cert` and `key` form the client
//! certificate. A Patroni section is matched to the etcd configs whose client URLs
//! (`advertise-client-urls`, else `listen-client-urls`) share a host and port with its
//! endpoints; when none does (or it names none: `srv`), the etcd it talks to is not among
//! the inputs — an unknown end, never "any etcd of the run".
//!
//! A fix changes both ends of the link or neither: Patroni is switched to `https` only
//! when every etcd it reaches serves TLS once this run's fixes are in, and a `cacert`,
//! `cert` or `key` path is written only when the inputs (or the settings) name it.

use policy_guest::doc::Structured;
use policy_guest::report::set_value;
use policy_guest::{Edit, Patch, PointerValue, Report, Withheld};
use serde_json::Value;

use crate::urls::{self, Url, split_host_port};
use crate::{Settings, on, urls_of};

/// One `etcd`/`etcd3` section of a Patroni config.
pub struct Section<'a> {
    pub y: &'a Structured<'a>,
    /// `/etcd3` or `/etcd`.
    pub base: String,
    eps: Vec<Endpoint>,
    scheme: String,
    scheme_from: Option<&'static str>,
}

/// What an etcd of the input serves its clients once this run's fixes are in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Served {
    /// Every networked client URL is `https://`.
    pub tls: bool,
    /// `client-cert-auth: true`.
    pub demands_certs: bool,
}

/// The DCS sections of one Patroni config.
pub fn sections<'a>(y: &'a Structured<'a>) -> Vec<Section<'a>> {
    ["etcd3", "etcd"]
        .iter()
        .filter(|section| matches!(y.get(&format!("/{section}")), Some(Value::Object(_))))
        .map(|section| {
            let base = format!("/{section}");
            let (eps, scheme, scheme_from) = endpoints(y, &base);
            Section {
                y,
                base,
                eps,
                scheme,
                scheme_from,
            }
        })
        .collect()
}

impl Section<'_> {
    /// Whether the section's endpoints reach etcd config `e` (host and port).
    pub fn reaches(&self, e: &Structured) -> bool {
        let urls = offered(e);
        self.eps.iter().any(|(h, p)| {
            urls.iter()
                .any(|u| (u.host == *h || wildcard(&u.host)) && (p.is_none() || u.port == *p))
        })
    }

    fn has(&self, k: &str) -> bool {
        self.y
            .str(&format!("{}/{k}", self.base))
            .is_some_and(|v| !v.trim().is_empty())
    }

    /// Whether Patroni can follow etcd to TLS (and client certificates when `certs`) in
    /// the same run: the paths it needs are written already or named by the settings.
    pub fn can_follow(&self, s: &Settings, certs: bool) -> Result<(), String> {
        let section = self.base.trim_start_matches('/');
        let file = &self.y.doc.path;
        if !self.has("cacert") && s.patroni_cacert.is_none() {
            return Err(format!(
                "Patroni's `{section}` ({file}) names no `cacert` and no input names the CA file it should use"
            ));
        }
        if certs
            && !(self.has("cert") && self.has("key"))
            && (s.patroni_cert.is_none() || s.patroni_key.is_none())
        {
            return Err(format!(
                "Patroni's `{section}` ({file}) has no client `cert`/`key` and no input names the files it should use"
            ));
        }
        Ok(())
    }

    fn is_local(&self) -> bool {
        !self.eps.is_empty() && self.eps.iter().all(|(h, _)| urls::is_loopback(h))
    }

    /// Whether the section speaks plain HTTP to a networked etcd.
    pub fn plain_over_network(&self) -> bool {
        self.scheme == "http" && !self.is_local()
    }
}

/// The (host, port) endpoints a section names, and the scheme it speaks.
/// A host and an optional port.
type Endpoint = (String, Option<u16>);

fn endpoints(y: &Structured, base: &str) -> (Vec<Endpoint>, String, Option<&'static str>) {
    let mut out = Vec::new();
    let mut scheme = None;
    let mut from = None;
    for key in ["url", "proxy"] {
        if let Some(u) = y.str(&format!("{base}/{key}")).and_then(Url::parse) {
            if scheme.is_none() {
                scheme = Some(u.scheme.clone());
                from = Some(if key == "url" { "url" } else { "proxy" });
            }
            out.push((u.host, u.port));
        }
    }
    let mut add_host = |text: &str| {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        match Url::parse(text) {
            Some(u) => out.push((u.host, u.port)),
            None => out.push(split_host_port(text)),
        }
    };
    if let Some(h) = y.str(&format!("{base}/host")) {
        add_host(h);
    }
    match y.get(&format!("{base}/hosts")) {
        Some(Value::String(list)) => list.split(',').for_each(&mut add_host),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .for_each(&mut add_host),
        _ => {}
    }
    let scheme = scheme.unwrap_or_else(|| {
        y.str(&format!("{base}/protocol"))
            .unwrap_or("http")
            .to_ascii_lowercase()
    });
    (out, scheme, from)
}

/// The client URLs an etcd config offers to the network.
fn offered(e: &Structured) -> Vec<Url> {
    let advertised: Vec<Url> = urls_of(e, "advertise-client-urls")
        .into_iter()
        .filter(|u| !u.is_local())
        .collect();
    if e.get("/advertise-client-urls").is_some() && !advertised.is_empty() {
        return advertised;
    }
    urls_of(e, "listen-client-urls")
        .into_iter()
        .filter(|u| !u.is_local())
        .collect()
}

fn wildcard(host: &str) -> bool {
    matches!(host, "" | "0.0.0.0" | "::" | "[::]" | "*")
}

/// The manual steps when Patroni's side cannot be fixed automatically.
const PATRONI_STEPS: &[&str] = &[
    "make etcd serve its clients over https with a certificate from your CA (`client-transport-security.cert-file`/`key-file`) and have that config among the inputs",
    "install the CA file (and a client certificate and key, if etcd demands them) on every Patroni host",
    "set `protocol: https`, `cacert` (and `cert`/`key`) in Patroni's section to those paths — or name them in the etcd policy's settings (`patroni_cacert`, `patroni_cert`, `patroni_key`) and run `patrol check --fix` again",
    "reload Patroni on every node together with the etcd change",
];

/// Checks one DCS section against the etcd configs of the input (`served[k]`: what
/// `etcds[k]` serves after this run's fixes).
pub fn check_section(
    sec: &Section,
    etcds: &[Structured],
    served: &[Served],
    s: &Settings,
    report: &mut Report,
) {
    let y = sec.y;
    let base = sec.base.as_str();
    let eps = &sec.eps;
    let scheme = sec.scheme.as_str();
    let scheme_from = sec.scheme_from;
    let paired: Vec<usize> = (0..etcds.len())
        .filter(|k| sec.reaches(&etcds[*k]))
        .collect();
    // The schemes of the URLs Patroni's endpoints reach (loopback ones included), else of
    // everything the matched etcd configs offer.
    let hit = |u: &Url| {
        eps.iter()
            .any(|(h, p)| (u.host == *h || wildcard(&u.host)) && (p.is_none() || u.port == *p))
    };
    let reached: Vec<String> = paired
        .iter()
        .map(|k| &etcds[*k])
        .flat_map(|e| {
            [
                urls_of(e, "listen-client-urls"),
                urls_of(e, "advertise-client-urls"),
            ]
            .concat()
        })
        .filter(|u| hit(u))
        .map(|u| u.scheme)
        .collect();
    let schemes: Vec<String> = if reached.is_empty() {
        paired
            .iter()
            .flat_map(|k| offered(&etcds[*k]))
            .map(|u| u.scheme)
            .collect()
    } else {
        reached
    };
    let https_only = !schemes.is_empty() && schemes.iter().all(|s| s == "https");
    let http_only = !schemes.is_empty() && schemes.iter().all(|s| s == "http");
    let demands_now = paired
        .iter()
        .any(|k| on(&etcds[*k], "/client-transport-security/client-cert-auth"));
    let will_demand = paired.iter().any(|k| served[*k].demands_certs);
    let section = base.trim_start_matches('/');
    let has = |k: &str| {
        y.str(&format!("{base}/{k}"))
            .is_some_and(|v| !v.trim().is_empty())
    };

    let mut set: Vec<(String, Value)> = Vec::new();
    let mut fixed = Vec::new();
    let mut blocked: Option<String> = None;
    let scheme_ptr = match scheme_from {
        Some(k) => format!("{base}/{k}"),
        None => format!("{base}/protocol"),
    };
    let local = sec.is_local();
    let _ = eps;
    if scheme == "http" && local && !https_only {
        return; // loopback traffic never crosses a network
    }
    if scheme == "http" {
        let i = if https_only {
            report.finding("patroni-protocol-mismatch", y.loc(&scheme_ptr), format!(
                "Patroni's `{section}` speaks http, but etcd serves clients only over https: Patroni cannot reach the DCS"))
        } else {
            report.finding(
                "patroni-plain-http",
                y.loc(&scheme_ptr),
                format!(
                    "Patroni's `{section}` talks to etcd over plain HTTP: {} the network in clear",
                    if has("password") {
                        "the DCS traffic and the etcd password cross"
                    } else {
                        "the DCS traffic crosses"
                    }
                ),
            )
        };
        fixed.push(i);
        match scheme_from {
            Some(k) => {
                let old = y.str(&scheme_ptr).unwrap_or_default();
                set.push((format!("{base}/{k}"), Value::String(urls::to_https(old))));
            }
            None => set.push((format!("{base}/protocol"), Value::String("https".into()))),
        }
        if !has("cacert") {
            set.push((format!("{base}/cacert"), path(&s.patroni_cacert)));
        }
        if will_demand && !(has("cert") && has("key")) {
            set.push((format!("{base}/cert"), path(&s.patroni_cert)));
            set.push((format!("{base}/key"), path(&s.patroni_key)));
        }
        // Switched only together with the etcd it reaches.
        if paired.is_empty() {
            blocked = Some(format!(
                "the etcd Patroni's `{section}` talks to is not among the inputs, so whether it serves https is unknown"
            ));
        } else if let Some(k) = paired.iter().find(|k| !served[**k].tls) {
            blocked = Some(format!(
                "etcd `{}` keeps serving its clients over plain HTTP in this run (its own fix is withheld or not needed), so Patroni would lose the DCS",
                etcds[*k].doc.path
            ));
        }
    } else {
        if http_only {
            report.finding("patroni-protocol-mismatch", y.loc(&scheme_ptr), format!(
                "Patroni's `{section}` speaks https, but etcd serves clients only over plain HTTP: Patroni cannot reach the DCS (enable TLS on etcd)"));
        }
        if !has("cacert") {
            fixed.push(report.finding("patroni-no-cacert", y.loc(&format!("{base}/cacert")), format!(
                "Patroni's `{section}` has no `cacert`: etcd's certificate is checked against the system CA store, which lacks a private CA")));
            set.push((format!("{base}/cacert"), path(&s.patroni_cacert)));
        }
        if will_demand && !(has("cert") && has("key")) {
            let i = report.finding("patroni-no-client-cert", y.loc(&format!("{base}/cert")), if demands_now {
                format!("Patroni's `{section}` has no `cert`/`key`, but etcd demands client certificates: the handshake fails and Patroni loses the DCS")
            } else {
                format!("Patroni's `{section}` has no `cert`/`key`; etcd must demand client certificates (`client-cert-auth-disabled`), and then Patroni needs them")
            });
            fixed.push(i);
            if !has("cert") {
                set.push((format!("{base}/cert"), path(&s.patroni_cert)));
            }
            if !has("key") {
                set.push((format!("{base}/key"), path(&s.patroni_key)));
            }
        }
    }
    if set.is_empty() {
        return;
    }
    // A path no input names is never written: the fix waits for one.
    if blocked.is_none()
        && let Some((p, _)) = set.iter().find(|(_, v)| v.is_null())
    {
        blocked = Some(format!(
            "no input names the file for `{}` (a path that exists nowhere would keep Patroni from reaching etcd)",
            p.trim_start_matches('/').replace('/', ".")
        ));
    }
    if let Some(reason) = blocked {
        let w = Withheld::new(reason, PATRONI_STEPS);
        for i in fixed {
            w.attach(report, i);
        }
        return;
    }
    let mut patch: Patch = set_value(
        &y.doc.path,
        format!("Patroni `{section}`: TLS to etcd with its CA and a client certificate"),
        &set[0].0,
        set[0].1.clone(),
    );
    for (p, v) in &set[1..] {
        patch.edits.push(Edit::Set(PointerValue {
            pointer: p.clone(),
            value: v.to_string(),
        }));
    }
    for i in fixed {
        report.fix(i, patch.clone());
    }
}

/// A path from the settings as a JSON value; null when none is named.
fn path(p: &Option<String>) -> Value {
    p.as_ref().map_or(Value::Null, |p| Value::String(p.clone()))
}
