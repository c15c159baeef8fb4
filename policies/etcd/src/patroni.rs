//! Patroni's `etcd`/`etcd3` section against the etcd configs of the input.
//!
//! What Patroni does with it (reference §2.3, `patroni/dcs/etcd.py`): the scheme comes
//! from `url` or `proxy` when given, else from `protocol` (default `http`), and applies to
//! every `host`/`hosts` entry; `cacert` is handed to urllib3 as the CA (without it
//! urllib3 2.x verifies against the system store); `cert` and `key` form the client
//! certificate. A Patroni section is matched to the etcd configs whose client URLs
//! (`advertise-client-urls`, else `listen-client-urls`) share a host and port with its
//! endpoints — or to all of them when it names none (`srv`), or when nothing matches.

use policy_guest::doc::Structured;
use policy_guest::report::set_value;
use policy_guest::{Edit, Patch, PointerValue, Report};
use serde_json::Value;

use crate::urls::{self, Url, split_host_port};
use crate::{Settings, on, urls_of};

/// Checks the DCS sections of one Patroni config.
pub fn check(y: &Structured, etcds: &[Structured], s: &Settings, report: &mut Report) {
    for section in ["etcd3", "etcd"] {
        let base = format!("/{section}");
        if !matches!(y.get(&base), Some(Value::Object(_))) {
            continue;
        }
        check_section(y, &base, etcds, s, report);
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

fn check_section(
    y: &Structured,
    base: &str,
    etcds: &[Structured],
    s: &Settings,
    report: &mut Report,
) {
    let (eps, scheme, scheme_from) = endpoints(y, base);
    let matches = |e: &Structured| {
        let urls = offered(e);
        eps.iter().any(|(h, p)| {
            urls.iter()
                .any(|u| (u.host == *h || wildcard(&u.host)) && (p.is_none() || u.port == *p))
        })
    };
    let mut paired: Vec<&Structured> = etcds.iter().filter(|e| matches(e)).collect();
    if paired.is_empty() {
        paired = etcds.iter().collect();
    }
    // The schemes of the URLs Patroni's endpoints reach (loopback ones included), else of
    // everything the matched etcd configs offer.
    let hit = |u: &Url| {
        eps.iter()
            .any(|(h, p)| (u.host == *h || wildcard(&u.host)) && (p.is_none() || u.port == *p))
    };
    let reached: Vec<String> = paired
        .iter()
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
            .flat_map(|e| offered(e))
            .map(|u| u.scheme)
            .collect()
    } else {
        reached
    };
    let https_only = !schemes.is_empty() && schemes.iter().all(|s| s == "https");
    let http_only = !schemes.is_empty() && schemes.iter().all(|s| s == "http");
    let demands_now = paired
        .iter()
        .any(|e| on(e, "/client-transport-security/client-cert-auth"));
    let will_demand = !paired.is_empty();
    let section = base.trim_start_matches('/');
    let has = |k: &str| {
        y.str(&format!("{base}/{k}"))
            .is_some_and(|v| !v.trim().is_empty())
    };

    let mut set: Vec<(String, Value)> = Vec::new();
    let mut fixed = Vec::new();
    let scheme_ptr = match scheme_from {
        Some(k) => format!("{base}/{k}"),
        None => format!("{base}/protocol"),
    };
    let local = !eps.is_empty() && eps.iter().all(|(h, _)| urls::is_loopback(h));
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
            set.push((
                format!("{base}/cacert"),
                Value::String(s.patroni_cacert.clone()),
            ));
        }
        if will_demand && !(has("cert") && has("key")) {
            set.push((
                format!("{base}/cert"),
                Value::String(s.patroni_cert.clone()),
            ));
            set.push((format!("{base}/key"), Value::String(s.patroni_key.clone())));
        }
    } else {
        if http_only {
            report.finding("patroni-protocol-mismatch", y.loc(&scheme_ptr), format!(
                "Patroni's `{section}` speaks https, but etcd serves clients only over plain HTTP: Patroni cannot reach the DCS (enable TLS on etcd)"));
        }
        if !has("cacert") {
            fixed.push(report.finding("patroni-no-cacert", y.loc(&format!("{base}/cacert")), format!(
                "Patroni's `{section}` has no `cacert`: etcd's certificate is checked against the system CA store, which lacks a private CA")));
            set.push((
                format!("{base}/cacert"),
                Value::String(s.patroni_cacert.clone()),
            ));
        }
        if will_demand && !(has("cert") && has("key")) {
            let i = report.finding("patroni-no-client-cert", y.loc(&format!("{base}/cert")), if demands_now {
                format!("Patroni's `{section}` has no `cert`/`key`, but etcd demands client certificates: the handshake fails and Patroni loses the DCS")
            } else {
                format!("Patroni's `{section}` has no `cert`/`key`; etcd must demand client certificates (`client-cert-auth-disabled`), and then Patroni needs them")
            });
            if !demands_now {
                report.severity(i, policy_guest::Severity::High);
            }
            fixed.push(i);
            if !has("cert") {
                set.push((
                    format!("{base}/cert"),
                    Value::String(s.patroni_cert.clone()),
                ));
            }
            if !has("key") {
                set.push((format!("{base}/key"), Value::String(s.patroni_key.clone())));
            }
        }
    }
    if set.is_empty() {
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
