//! Patroni's REST API as Omnibus configures it from `patroni['…']`.
//!
//! `patroni.yaml.erb` writes `restapi.listen: "#{listen_address}:#{port}"` (a nil
//! address gives `":8008"`: every interface, dual-stack), `authentication` only when
//! `username` is set (a nil `password` renders as YAML null, which Patroni reads as the
//! string `None`), `allowlist` only when non-empty, `allowlist_include_members` always,
//! and the TLS keys (`certfile`, `keyfile`, `cafile`, `verify_client` from
//! `tls_client_mode`…) only when both `tls_certificate_file` and `tls_key_file` are set.
//! This module renders that `restapi` section as a Patroni document whose lines are the
//! gitlab.rb lines of the keys, compiles it with `policy_guest::patroni` (the same
//! reading of Patroni the `patroni-restapi` policy uses), and reports the same findings
//! as that policy, prefixed `patroni-`, with fixes as gitlab.rb assignments.

use policy_guest::doc::Structured;
use policy_guest::patroni::{DropReason, Facts, Ip, Net, RestApi};
use policy_guest::{Body, Document, Location, Report, Severity, Span, Structured as Body_};
use serde_json::{Map, Value, json};

use crate::PatroniSettings;
use crate::rb::Rb;

const ROLES: &[&str] = &["patroni_role"];

/// A gitlab.rb key of the `patroni` section.
fn key(k: &str) -> [&str; 2] {
    ["patroni", k]
}

/// The Patroni document Omnibus would render, with gitlab.rb lines as spans.
fn render(rb: &Rb) -> Document {
    let anchor = rb.anchor("patroni", ROLES);
    let mut spans = vec![Span {
        pointer: String::new(),
        line: anchor.line,
        end_line: anchor.line,
    }];
    let mut span = |pointer: &str, keys: &[&str]| {
        let line = keys
            .iter()
            .find(|k| rb.is_set(&key(k)))
            .map_or(anchor.line, |k| rb.loc(&key(k), &anchor).line);
        spans.push(Span {
            pointer: pointer.to_string(),
            line,
            end_line: line,
        });
    };
    let s = |k: &str| {
        rb.get(&key(k)).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let known_or = |k: &str, placeholder: &str| {
        if rb.is_unknown(&key(k)) {
            Some(placeholder.to_string())
        } else {
            s(k)
        }
    };
    let port = s("port").unwrap_or_else(|| "8008".into());
    let mut restapi = Map::new();
    restapi.insert(
        "listen".into(),
        json!(format!(
            "{}:{port}",
            known_or("listen_address", "192.0.2.1").unwrap_or_default()
        )),
    );
    span("/restapi", &[]);
    span("/restapi/listen", &["listen_address", "port"]);
    if let Some(user) = known_or("username", "(set in Ruby)") {
        let password = if rb.is_unknown(&key("password")) {
            json!("(set in Ruby)")
        } else {
            rb.get(&key("password")).cloned().unwrap_or(Value::Null)
        };
        restapi.insert(
            "authentication".into(),
            json!({ "username": user, "password": password }),
        );
        span("/restapi/authentication", &["username"]);
        span(
            "/restapi/authentication/password",
            &["password", "username"],
        );
    } else {
        span("/restapi/authentication", &[]);
    }
    if let Some(Value::Array(list)) = rb.get(&key("allowlist")) {
        if !list.is_empty() {
            restapi.insert("allowlist".into(), Value::Array(list.clone()));
            span("/restapi/allowlist", &["allowlist"]);
            for i in 0..list.len() {
                span(&format!("/restapi/allowlist/{i}"), &["allowlist"]);
            }
        }
    } else {
        span("/restapi/allowlist", &[]);
    }
    let members = rb
        .get(&key("allowlist_include_members"))
        .cloned()
        .unwrap_or(Value::Bool(false));
    restapi.insert("allowlist_include_members".into(), members);
    span(
        "/restapi/allowlist_include_members",
        &["allowlist_include_members"],
    );
    if use_tls(rb) {
        for (yaml, gitlab) in [
            ("certfile", "tls_certificate_file"),
            ("keyfile", "tls_key_file"),
            ("keyfile_password", "tls_key_password"),
            ("cafile", "tls_ca_file"),
            ("ciphers", "tls_ciphers"),
            ("verify_client", "tls_client_mode"),
        ] {
            if let Some(v) = known_or(gitlab, "(set in Ruby)") {
                restapi.insert(yaml.into(), json!(v));
            }
            span(&format!("/restapi/{yaml}"), &[gitlab]);
        }
    } else {
        span(
            "/restapi/certfile",
            &["tls_certificate_file", "tls_key_file"],
        );
    }
    let body = Body::Structured(Body_ {
        json: json!({ "restapi": restapi }).to_string(),
        spans,
    });
    Document {
        kind: policy_guest::DocumentKind::Patroni,
        path: rb.doc.path.clone(),
        text: rb.doc.text.clone(),
        body,
        diagnostics: Vec::new(),
    }
}

fn use_tls(rb: &Rb) -> bool {
    rb.is_set(&key("tls_certificate_file")) && rb.is_set(&key("tls_key_file"))
}

pub fn check(rb: &Rb, facts: &Facts, settings: &PatroniSettings, report: &mut Report) {
    if !rb.enabled("patroni", ROLES) {
        return;
    }
    let doc = render(rb);
    let Some(y) = Structured::new(&doc) else {
        return;
    };
    let api = RestApi::compile(&y, facts);
    let anchor = rb.anchor("patroni", ROLES);
    let at = |k: &str| rb.loc(&key(k), &anchor);

    // Authentication.
    let mode = rb.str(&key("tls_client_mode")).map(str::to_ascii_lowercase);
    let certs = api.https && api.demands_cert && api.cafile.is_some();
    if api.auth.is_none() && !certs {
        // An allowlist entry for every address (`0.0.0.0/0`) restricts no one.
        let restricted = (api.allowlist.restricts() || api.include_members)
            && !api.allowlist.admits_all(api.dual_stack);
        let i = report.finding(
            "patroni-unsafe-endpoints-unauthenticated",
            anchor.clone(),
            format!(
                "`patroni['username']` is not set (so Omnibus writes no `restapi.authentication`) and no client certificate is demanded: restart, failover, reinitialize and PATCH /config answer {}",
                if restricted { "every host the allowlist admits" } else { "anyone who reaches port 8008" }
            ),
        );
        // As the patroni-restapi policy: loopback medium, allowlist high, else critical.
        if api
            .listen
            .as_ref()
            .is_some_and(|l| !l.wildcard && policy_guest::net::is_loopback_host(&l.host))
        {
            report.severity(i, Severity::Medium);
        } else if restricted {
            report.severity(i, Severity::High);
        }
    }
    if rb.is_set(&key("username")) && !rb.is_unknown(&key("password")) {
        let empty = match rb.get(&key("password")) {
            None | Some(Value::Null) => Some(
                "not set: Omnibus renders `password:` empty, which Patroni reads as the string `None`",
            ),
            Some(Value::String(s)) if s.is_empty() => Some("empty"),
            _ => None,
        };
        if let Some(what) = empty {
            let loc = if rb.is_set(&key("password")) {
                at("password")
            } else {
                at("username")
            };
            report.finding(
                "patroni-authentication-password-empty",
                loc,
                format!("`patroni['password']` is {what}"),
            );
        }
    }
    // TLS.
    if settings.require_tls && !api.https {
        let partial = rb.is_set(&key("tls_certificate_file")) != rb.is_set(&key("tls_key_file"));
        let msg = if partial {
            "only one of `patroni['tls_certificate_file']` and `patroni['tls_key_file']` is set: Omnibus writes TLS settings only when both are, so the REST API speaks plain HTTP".to_string()
        } else {
            format!(
                "`patroni['tls_certificate_file']` and `patroni['tls_key_file']` are not set: the REST API speaks plain HTTP{}",
                if api.auth.is_some() {
                    ", so the basic-auth password travels in clear text"
                } else {
                    ""
                }
            )
        };
        let loc = if rb.is_set(&key("tls_certificate_file")) {
            at("tls_certificate_file")
        } else if rb.is_set(&key("tls_key_file")) {
            at("tls_key_file")
        } else {
            anchor.clone()
        };
        let i = report.finding("patroni-no-tls", loc, msg);
        if let (Some(cert), Some(k)) = (&settings.tls_certificate_file, &settings.tls_key_file) {
            let p = policy_guest::Patch {
                file: rb.doc.path.clone(),
                description: "serve the REST API over TLS: `patroni['tls_certificate_file']` and `patroni['tls_key_file']` in gitlab.rb".into(),
                edits: rb.set_many(&[(&key("tls_certificate_file"), json!(cert)), (&key("tls_key_file"), json!(k))]),
            };
            report.fix(i, p);
        }
    }
    allowlist(rb, &api, settings, &anchor, report);
    // Client certificates.
    if let Some(m) = &mode {
        let loc = at("tls_client_mode");
        if !matches!(m.as_str(), "none" | "optional" | "required") {
            report.finding("patroni-verify-client-ineffective", loc, format!("`patroni['tls_client_mode'] = '{m}'` is not `none`, `optional` or `required`: Patroni logs a bad value and checks no client certificate"));
        } else if m != "none" && !api.https {
            report.finding("patroni-verify-client-ineffective", loc, format!("`patroni['tls_client_mode'] = '{m}'` without TLS (`tls_certificate_file` and `tls_key_file`): Omnibus does not write `verify_client`, and the API checks no client certificate"));
        } else if m != "none" && api.cafile.is_none() {
            report.finding("patroni-verify-client-without-cafile", loc, format!("`patroni['tls_client_mode'] = '{m}'` without `patroni['tls_ca_file']`: no CA is loaded, so no client certificate verifies and every {} is refused", if m == "required" { "request" } else { "unsafe call" }));
        }
    }
    if settings.require_client_certificates && !certs_required(&api) {
        report.finding("patroni-safe-endpoints-unauthenticated", if mode.is_some() { at("tls_client_mode") } else { anchor.clone() }, "GET endpoints (`/config`, `/patroni`, `/cluster`) answer without a client certificate: only `patroni['tls_client_mode'] = 'required'` with TLS and `tls_ca_file` protects them".to_string());
    }
    // gitlab-ctl's own client.
    if rb.get(&key("tls_verify")) == Some(&Value::Bool(false)) {
        let client_mode = mode.as_deref().is_some_and(|m| m != "none");
        let i = report.finding(
            "patroni-ctl-insecure",
            at("tls_verify"),
            if client_mode {
                "`patroni['tls_verify'] = false` has no effect while `tls_client_mode` is on (gitlab-ctl then verifies anyway)".to_string()
            } else {
                "`patroni['tls_verify'] = false`: `gitlab-ctl patroni` accepts any REST API certificate, so a man in the middle sees its requests".to_string()
            },
        );
        if client_mode || !api.https {
            report.severity(i, Severity::Low);
        }
        if rb.is_set(&key("tls_ca_file")) || !api.https {
            report.fix(
                i,
                rb.patch(
                    &key("tls_verify"),
                    &Value::Bool(true),
                    "verify the REST API certificate",
                ),
            );
        }
    }
    if settings.forbid_wildcard_listen && api.listen.as_ref().is_some_and(|l| l.wildcard) {
        let i = report.finding(
            "patroni-listen-all-interfaces",
            if rb.is_set(&key("listen_address")) { at("listen_address") } else { anchor.clone() },
            "the REST API listens on every interface (`patroni['listen_address']` is not an address)".to_string(),
        );
        if let Some(addr) = connect_ip(rb) {
            report.fix(
                i,
                rb.patch(
                    &key("listen_address"),
                    &json!(addr),
                    "listen on the node's own address",
                ),
            );
        }
    }
}

fn certs_required(api: &RestApi) -> bool {
    api.https && api.cert_mode == policy_guest::patroni::CertMode::Required && api.cafile.is_some()
}

/// `patroni['connect_address']` when it is an IP address.
fn connect_ip(rb: &Rb) -> Option<String> {
    rb.str(&key("connect_address"))
        .filter(|a| Ip::parse(a).is_some())
        .map(str::to_string)
}

/// The allowlist findings, sharing one fix: the list as it should be.
fn allowlist(
    rb: &Rb,
    api: &RestApi,
    settings: &PatroniSettings,
    anchor: &Location,
    report: &mut Report,
) {
    if rb.is_unknown(&key("allowlist")) || !api.version.has_allowlist() {
        return;
    }
    let list = &api.allowlist;
    let entries: Vec<String> = match rb.get(&key("allowlist")) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let allowed: Vec<Net> = settings
        .allowed_cidrs
        .iter()
        .filter_map(|c| Net::parse_python(c.trim()))
        .collect();
    let mut broad: Vec<(usize, Net)> = Vec::new();
    for (i, net) in &list.nets {
        let too_broad = if allowed.is_empty() {
            net.prefix
                < if net.v6 {
                    settings.min_prefix_v6
                } else {
                    settings.min_prefix_v4
                }
        } else {
            !allowed.iter().any(|a| a.covers(net))
        };
        if too_broad && !broad.iter().any(|(j, _)| j == i) {
            broad.push((*i, *net));
        }
    }
    let dropped: Vec<usize> = list.dropped.iter().map(|d| d.index).collect();
    // The fixed list: what is kept, the organisation's networks (or the networks gitlab.rb
    // already trusts for PostgreSQL, and loopback for gitlab-ctl), and the IPv4-mapped
    // form of every IPv4 entry on a dual-stack listener.
    let mut fixed: Vec<String> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i) && !broad.iter().any(|(j, _)| j == i))
        .map(|(_, e)| e.clone())
        .collect();
    if fixed.is_empty() || !broad.is_empty() {
        let extra: Vec<String> = if settings.allowed_cidrs.is_empty() {
            trusted_networks(rb, settings)
        } else {
            settings.allowed_cidrs.clone()
        };
        for c in extra {
            if !fixed.contains(&c) {
                fixed.push(c);
            }
        }
    }
    // gitlab-ctl calls the API from loopback: narrowing an entry that admitted it must not
    // lock it out (its `patroni` commands would get 403).
    if let Some(lo) = Net::parse_python("127.0.0.1/32")
        && broad.iter().any(|(_, n)| n.covers(&lo))
        && !fixed
            .iter()
            .filter_map(|t| Net::parse_python(t))
            .any(|n| n.covers(&lo))
    {
        fixed.push("127.0.0.1/32".into());
    }
    if api.dual_stack {
        let mapped: Vec<String> = fixed
            .iter()
            .filter_map(|t| Net::parse_python(t).or_else(|| Ip::parse(t).map(|ip| ip.host_net())))
            .filter(|n| !n.v6)
            .map(|n| n.mapped().to_string())
            .filter(|m| !fixed.contains(m))
            .collect();
        fixed.extend(mapped);
    }
    let patch = (!fixed.is_empty()).then(|| {
        rb.patch(
            &key("allowlist"),
            &json!(fixed),
            "allow only the networks that must call unsafe endpoints",
        )
    });
    let attach = |report: &mut Report, i: usize| {
        if let Some(p) = &patch {
            report.fix(i, p.clone());
        }
    };
    let at = rb.loc(&key("allowlist"), anchor);
    if !list.present && !api.include_members {
        let i = report.finding("patroni-no-allowlist", anchor.clone(), "`patroni['allowlist']` is empty and `allowlist_include_members` is off: unsafe endpoints accept calls from any address".to_string());
        attach(report, i);
    }
    for d in &list.dropped {
        let why = match d.why {
            DropReason::InvalidNetwork => "is not a valid network for Python's `ip_network`",
            DropReason::Unresolvable => "does not resolve",
            DropReason::NotAString => "is not a string",
        };
        let open = !list.restricts() && !api.include_members;
        let i = report.finding(
            "patroni-allowlist-entry-dropped",
            at.clone(),
            format!(
                "allowlist entry `{}` {why}: Patroni logs an error and skips it{}",
                d.text,
                if open {
                    "; nothing valid remains, so the allowlist restricts nothing"
                } else {
                    ""
                }
            ),
        );
        if !open {
            report.severity(i, Severity::Low);
        }
        attach(report, i);
    }
    for (_, net) in &broad {
        let i = report.finding(
            "patroni-allowlist-too-broad",
            at.clone(),
            format!("allowlist entry {net} is wider than the organisation allows"),
        );
        if net.prefix == 0 {
            report.severity(i, Severity::Critical);
        }
        attach(report, i);
    }
    if api.dual_stack && (list.restricts() || api.include_members) {
        let missing: Vec<String> = list
            .nets
            .iter()
            .map(|(_, n)| n)
            .filter(|n| !n.v6 && !list.nets.iter().any(|(_, m)| m.covers(&n.mapped())))
            .map(|n| n.to_string())
            .collect();
        if !missing.is_empty() {
            let i = report.finding(
                "patroni-allowlist-ipv4-on-dual-stack",
                at.clone(),
                format!("`patroni['listen_address']` is not set, so Patroni listens on `:8008`, dual-stack: IPv4 clients arrive as `::ffff:a.b.c.d` and never match {}; unsafe calls from IPv4 peers (gitlab-ctl, the other nodes) get 403", missing.join(", ")),
            );
            attach(report, i);
        }
    }
}

/// The networks gitlab.rb already lets reach PostgreSQL (`md5_auth_cidr_addresses`,
/// `trust_auth_cidr_addresses`) within the prefix limits, plus loopback.
fn trusted_networks(rb: &Rb, settings: &PatroniSettings) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["md5_auth_cidr_addresses", "trust_auth_cidr_addresses"] {
        if let Some(Value::Array(a)) = rb.get(&["postgresql", k]) {
            for c in a.iter().filter_map(Value::as_str) {
                let ok = Net::parse_python(c).is_some_and(|n| {
                    n.prefix
                        >= if n.v6 {
                            settings.min_prefix_v6
                        } else {
                            settings.min_prefix_v4
                        }
                });
                if ok && !out.iter().any(|o: &String| o == c) {
                    out.push(c.to_string());
                }
            }
        }
    }
    if !out.is_empty() && !out.iter().any(|o| o == "127.0.0.1/32") {
        out.push("127.0.0.1/32".into());
    }
    out
}
