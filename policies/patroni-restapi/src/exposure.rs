//! What leaves a Patroni REST API open, read from the compiled `restapi` view, with
//! patches in the YAML's own keys where a fix needs no secret and cannot lock anyone out
//! by itself.
//!
//! The allowlist findings share one patch: the list as it should be (dropped entries
//! removed, too broad ones replaced by the organisation's networks, the IPv4-mapped form
//! of each IPv4 entry added on a dual-stack listener), so that `--fix` applies one edit to
//! `restapi.allowlist` and a second check finds none of them.

use policy_guest::doc::Structured;
use policy_guest::patroni::{CertMode, DropReason, Net, RestApi, VerifyValue, python_str, truthy};
use policy_guest::report::{remove_value, set_value};
use policy_guest::{Report, Severity};
use serde_json::{Value, json};

use crate::Settings;

/// Runs every exposure check on one document.
pub fn check(y: &Structured, api: &RestApi, settings: &Settings, report: &mut Report) {
    if let Some((why, key)) = &api.fatal {
        report.finding("config-prevents-start", key.location.clone(), why.clone());
        if y.get("/restapi").is_none() {
            return;
        }
    }
    authentication(y, api, report);
    if settings.require_tls && !api.https {
        let mut msg = String::from("`restapi` has no `certfile`: the REST API speaks plain HTTP");
        if api.auth.is_some() {
            msg.push_str(", so the basic-auth password travels in clear text");
        }
        report.finding("no-tls", y.loc("/restapi/certfile"), msg);
    }
    allowlist(y, api, settings, report);
    verify_client(y, api, settings, report);
    ctl_insecure(y, api, report);
    listen(y, api, settings, report);
    mpp(y, api, report);
    ignored_keys(y, api, report);
}

/// Keys people write that Patroni never reads (reference §2.1, §2.2, §5.2).
fn ignored_keys(y: &Structured, api: &RestApi, report: &mut Report) {
    if y.get("/restapi/crlfile").is_some() {
        report.finding(
            "ignored-key",
            y.loc("/restapi/crlfile"),
            "`restapi.crlfile` is not a Patroni key: the REST API checks no certificate revocation list",
        );
    }
    if y.get("/ctl/cafile").is_some() {
        let fallback = if y.get("/ctl/cacert").is_some_and(truthy) {
            "patronictl verifies with `ctl.cacert`"
        } else if api.cafile.is_some() {
            "patronictl falls back to `restapi.cafile`"
        } else {
            "patronictl verifies the REST API against the system CA store"
        };
        let i = report.finding(
            "ignored-key",
            y.loc("/ctl/cafile"),
            format!("`ctl.cafile` is not a Patroni key (GitLab writes it): {fallback}"),
        );
        if y.get("/ctl/cacert").is_some_and(truthy) || api.cafile.is_some() {
            report.severity(i, Severity::Low);
        }
    }
    if y.get("/bootstrap/dcs/restapi").is_some() {
        report.finding(
            "ignored-key",
            y.loc("/bootstrap/dcs/restapi"),
            "`bootstrap.dcs.restapi` is ignored: Patroni reads the REST API settings from the local file only",
        );
    }
}

fn authentication(y: &Structured, api: &RestApi, report: &mut Report) {
    let certs = api.https && api.demands_cert && api.cafile.is_some();
    if api.auth.is_none() && !certs {
        let admits_all = api.allowlist.admits_all(api.dual_stack);
        let restricted = (api.allowlist.restricts() || api.include_members) && !admits_all;
        let mut msg = String::from(
            "`restapi` has neither `authentication` nor a client-certificate demand: unsafe endpoints (restart, failover, reinitialize, PATCH /config) answer",
        );
        msg.push_str(if restricted {
            " every host the allowlist admits"
        } else if admits_all {
            " anyone who reaches the port (the allowlist has an entry for every address)"
        } else {
            " anyone who reaches the port"
        });
        // Who reaches it (docs/severity.md, superuser-level gain): a loopback listener
        // only the host's users and processes (medium), an allowlist the networks it
        // admits (high), else anyone (critical).
        let loopback = api
            .listen
            .as_ref()
            .is_some_and(|l| !l.wildcard && policy_guest::net::is_loopback_host(&l.host));
        if loopback {
            msg.push_str(" (the listener is loopback only: every user and process of the host)");
        }
        let i = report.finding(
            "unsafe-endpoints-unauthenticated",
            y.loc("/restapi/authentication"),
            msg,
        );
        if loopback {
            report.severity(i, Severity::Medium);
        } else if restricted {
            report.severity(i, Severity::High);
        }
    }
    if let Some(Value::Object(a)) = y.get("/restapi/authentication") {
        let empty = match a.get("password") {
            Some(Value::Null) => Some("null (Patroni uses the literal string `None`)"),
            Some(Value::String(s)) if s.is_empty() => Some("empty"),
            _ => None,
        };
        if let Some(what) = empty {
            report.finding(
                "authentication-password-empty",
                y.loc("/restapi/authentication/password"),
                format!("`restapi.authentication.password` is {what}"),
            );
        }
    }
}

/// The allowlist as it should be, as strings, or `None` when no safe list exists.
fn fixed_allowlist(
    api: &RestApi,
    settings: &Settings,
    broad: &[usize],
    y: &Structured,
) -> Option<Vec<String>> {
    let entries: Vec<(usize, String)> = match y.get("/restapi/allowlist") {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_str().map(|s| (i, s.to_string())))
            .collect(),
        Some(Value::String(s)) => vec![(0, s.clone())],
        _ => Vec::new(),
    };
    let dropped: Vec<usize> = api.allowlist.dropped.iter().map(|d| d.index).collect();
    let string_form = !matches!(y.get("/restapi/allowlist"), Some(Value::Array(_)));
    let mut out: Vec<String> = entries
        .into_iter()
        .filter(|(i, text)| {
            if string_form {
                // `allowlist: '10.0.0.1'`: keep the string when it would be a valid entry.
                return Net::parse_python(text).is_some()
                    || policy_guest::patroni::addr::getaddrinfo_numeric(text).is_some();
            }
            !dropped.contains(i) && !broad.contains(i)
        })
        .map(|(_, t)| t)
        .collect();
    if out.is_empty() || !broad.is_empty() {
        for c in &settings.allowed_cidrs {
            if !out.iter().any(|o| o.trim() == c.trim()) {
                out.push(c.trim().to_string());
            }
        }
    }
    if out.is_empty() {
        return None;
    }
    if api.dual_stack {
        let mut mapped = Vec::new();
        for text in &out {
            if let Some(net) = entry_net(text).filter(|n| !n.v6) {
                let m = mapped_text(text, &net);
                if !out.contains(&m) && !mapped.contains(&m) {
                    mapped.push(m);
                }
            }
        }
        out.extend(mapped);
    }
    Some(out)
}

/// The network an allowlist string stands for when it is an address or a CIDR.
fn entry_net(text: &str) -> Option<Net> {
    if text.contains('/') {
        Net::parse_python(text)
    } else {
        policy_guest::patroni::addr::getaddrinfo_numeric(text).map(|ip| ip.host_net())
    }
}

/// `::ffff:10.0.0.0/104` for `10.0.0.0/8`, `::ffff:10.0.0.5` for `10.0.0.5`.
fn mapped_text(text: &str, net: &Net) -> String {
    if text.contains('/') {
        format!("::ffff:{}/{}", net.addr(), net.prefix as u32 + 96)
    } else {
        format!("::ffff:{}", net.addr())
    }
}

fn allowlist(y: &Structured, api: &RestApi, settings: &Settings, report: &mut Report) {
    if !api.version.has_allowlist() {
        return;
    }
    let list = &api.allowlist;
    let allowed = settings.allowed();
    // Entries wider than the organisation allows.
    let mut broad: Vec<(usize, Net)> = Vec::new();
    for (i, net) in &list.nets {
        let v4 = unmapped(net);
        let too_broad = if allowed.is_empty() {
            let min = if net.v6 && v4.v6 {
                settings.min_prefix_v6
            } else {
                settings.min_prefix_v4
            };
            v4.prefix < min
        } else {
            !allowed.iter().any(|a| a.covers(net) || a.covers(&v4))
        };
        if too_broad && !broad.iter().any(|(j, _)| j == i) {
            broad.push((*i, *net));
        }
    }
    let broad_idx: Vec<usize> = broad.iter().map(|(i, _)| *i).collect();
    let fixed = fixed_allowlist(api, settings, &broad_idx, y);
    let patch = fixed.as_ref().map(|list| {
        set_value(
            &api.file,
            "set `restapi.allowlist` to the networks that must call unsafe endpoints",
            "/restapi/allowlist",
            json!(list),
        )
    });
    let attach = |report: &mut Report, i: usize| {
        if let Some(p) = &patch {
            report.fix(i, p.clone());
        }
    };
    if !list.present && !api.include_members {
        let i = report.finding(
            "no-allowlist",
            y.loc("/restapi/allowlist"),
            "`restapi` has no `allowlist` (nor `allowlist_include_members`): unsafe endpoints accept calls from any address",
        );
        if !settings.allowed_cidrs.is_empty() {
            attach(report, i);
        }
    }
    if list.present && !list.is_list {
        let value = y
            .get("/restapi/allowlist")
            .map(python_str)
            .unwrap_or_default();
        let i = report.finding(
            "allowlist-not-a-list",
            y.loc("/restapi/allowlist"),
            format!("`restapi.allowlist` is `{value}`, not a list: Patroni ignores it and applies no IP restriction"),
        );
        attach(report, i);
    }
    for d in &list.dropped {
        let why = match d.why {
            DropReason::InvalidNetwork => "is not a valid network for Python's `ip_network`",
            DropReason::Unresolvable => "does not resolve",
            DropReason::NotAString => "is not a string",
        };
        let open = !list.restricts() && !api.include_members;
        let tail = if open {
            "; nothing valid remains, so the allowlist restricts nothing (fail open)"
        } else {
            ""
        };
        let pointer = format!("/restapi/allowlist/{}", d.index);
        let i = report.finding(
            "allowlist-entry-dropped",
            y.loc(&pointer),
            format!(
                "allowlist entry `{}` {why}: Patroni logs an error and skips it{tail}",
                d.text
            ),
        );
        if !open {
            report.severity(i, Severity::Low);
        }
        attach(report, i);
    }
    for (i, net) in &broad {
        let pointer = format!("/restapi/allowlist/{i}");
        let msg = if allowed.is_empty() {
            format!(
                "allowlist entry {net} is wider than /{} (IPv4) or /{} (IPv6)",
                settings.min_prefix_v4, settings.min_prefix_v6
            )
        } else {
            format!(
                "allowlist entry {net} is not within the organisation's networks ({})",
                settings.allowed_cidrs.join(", ")
            )
        };
        let f = report.finding("allowlist-too-broad", y.loc(&pointer), msg);
        if net.prefix == 0 || net.v6 && unmapped(net).prefix == 0 {
            report.severity(f, Severity::Critical);
        }
        if !allowed.is_empty() {
            attach(report, f);
        }
    }
    if api.dual_stack && (list.restricts() || api.include_members) {
        let v4: Vec<&Net> = list.nets.iter().map(|(_, n)| n).filter(|n| !n.v6).collect();
        let missing: Vec<String> = v4
            .iter()
            .filter(|n| !list.nets.iter().any(|(_, m)| m.covers(&n.mapped())))
            .map(|n| n.to_string())
            .collect();
        let members_v4 = api.include_members
            && api
                .members
                .ips
                .as_ref()
                .is_some_and(|ips| ips.iter().any(|ip| !ip.v6));
        if !missing.is_empty() || members_v4 {
            let listen = api
                .listen
                .as_ref()
                .map_or(String::new(), |l| format!("`{}:{}`", l.host, l.port));
            let mut msg = format!(
                "the listener {listen} is dual-stack, so IPv4 clients arrive as `::ffff:a.b.c.d`"
            );
            if !missing.is_empty() {
                msg.push_str(&format!(
                    " and never match the IPv4 entries {}",
                    missing.join(", ")
                ));
            }
            if members_v4 {
                msg.push_str(" (nor the members' IPv4 addresses)");
            }
            msg.push_str(": unsafe calls from IPv4 peers get 403");
            let i = report.finding(
                "allowlist-ipv4-on-dual-stack",
                y.loc("/restapi/allowlist"),
                msg,
            );
            if !missing.is_empty() {
                attach(report, i);
            }
        }
    }
}

/// An IPv4-mapped IPv6 network as the IPv4 network it maps (others unchanged).
fn unmapped(net: &Net) -> Net {
    let mapped_prefix = 0xffff_u128 << 32;
    if net.v6 && net.prefix >= 96 && net.bits >> 32 == mapped_prefix >> 32 {
        let ip = policy_guest::patroni::Ip {
            v6: false,
            bits: net.bits & 0xffff_ffff,
        };
        Net::new(ip, net.prefix - 96)
    } else {
        *net
    }
}

fn verify_client(y: &Structured, api: &RestApi, settings: &Settings, report: &mut Report) {
    let at = || y.loc("/restapi/verify_client");
    match &api.verify {
        VerifyValue::Absent => {}
        VerifyValue::NotString(v) => {
            report.finding(
                "verify-client-ineffective",
                at(),
                format!("`restapi.verify_client: {v}` is not a string (YAML reads `yes`/`true`/`on` as booleans): Patroni ignores it and checks no client certificate"),
            );
        }
        VerifyValue::Str(s) if !matches!(s.as_str(), "none" | "optional" | "required") => {
            let shown = y.str("/restapi/verify_client").unwrap_or(s);
            report.finding(
                "verify-client-ineffective",
                at(),
                format!("`restapi.verify_client: '{shown}'` is not `none`, `optional` or `required`: Patroni logs a bad value and checks no client certificate"),
            );
        }
        VerifyValue::Str(s) if s != "none" && !api.https => {
            report.finding(
                "verify-client-ineffective",
                at(),
                format!("`restapi.verify_client: {s}` without `restapi.certfile`: the API speaks plain HTTP and checks no client certificate"),
            );
        }
        VerifyValue::Str(s) if s != "none" && api.cafile.is_none() => {
            let effect = if s == "required" {
                "every request, GET included, fails at the TLS handshake"
            } else {
                "every unsafe call is refused (403) and any presented certificate fails the handshake"
            };
            report.finding(
                "verify-client-without-cafile",
                y.loc("/restapi/cafile"),
                format!("`restapi.verify_client: {s}` without `restapi.cafile`: no CA is loaded, so no client certificate verifies and {effect}"),
            );
        }
        VerifyValue::Str(_) => {}
    }
    if settings.require_client_certificates
        && !(api.https && api.cert_mode == CertMode::Required && api.cafile.is_some())
    {
        report.finding(
            "safe-endpoints-unauthenticated",
            y.loc("/restapi/verify_client"),
            "GET endpoints (`/config`, `/patroni`, `/cluster`, health checks) answer without a client certificate: only `verify_client: required` with `certfile` and `cafile` protects them",
        );
    }
}

fn ctl_insecure(y: &Structured, api: &RestApi, report: &mut Report) {
    let Some(v) = y.get("/ctl/insecure") else {
        return;
    };
    if !truthy(v) {
        return;
    }
    let client_cert = y.get("/ctl/certfile").is_some_and(truthy);
    let msg = if client_cert {
        "`ctl.insecure` with `ctl.certfile` only skips the host-name check (the chain is still verified)"
    } else {
        "`ctl.insecure` makes patronictl accept any REST API certificate: a man in the middle sees its credentials"
    };
    let i = report.finding("ctl-insecure", y.loc("/ctl/insecure"), msg);
    if client_cert || !api.https {
        report.severity(i, Severity::Low);
    }
    let ca = y.get("/ctl/cacert").is_some_and(truthy) || api.cafile.is_some();
    if ca {
        report.fix(
            i,
            remove_value(
                &api.file,
                "remove `ctl.insecure` (patronictl verifies with the configured CA)",
                "/ctl/insecure",
            ),
        );
    }
}

fn listen(y: &Structured, api: &RestApi, settings: &Settings, report: &mut Report) {
    let Some(l) = &api.listen else { return };
    let raw = y.str("/restapi/listen").unwrap_or_default();
    if settings.forbid_wildcard_listen && l.wildcard {
        let i = report.finding(
            "listen-all-interfaces",
            y.loc("/restapi/listen"),
            format!("`restapi.listen: '{raw}'` accepts connections on every interface"),
        );
        let connect = y
            .str("/restapi/connect_address")
            .map(policy_guest::patroni::member_host);
        if let Some(host) = connect.filter(|h| policy_guest::patroni::Ip::parse(h).is_some()) {
            let value = if host.contains(':') {
                format!("[{host}]:{}", l.port)
            } else {
                format!("{host}:{}", l.port)
            };
            report.fix(
                i,
                set_value(
                    &api.file,
                    "listen on the address the node publishes",
                    "/restapi/listen",
                    json!(value),
                ),
            );
        }
    }
    if settings.forbid_default_port && l.port == 8008 {
        report.finding(
            "listen-default-port",
            y.loc("/restapi/listen"),
            format!("`restapi.listen: '{raw}'` uses the default port 8008"),
        );
    }
}

fn mpp(y: &Structured, api: &RestApi, report: &mut Report) {
    if !api.version.mpp_unprotected() || api.fatal.is_some() {
        return;
    }
    // Without a `citus` section the handler does nothing: the open endpoint has no
    // effect, and a note on nearly every Patroni config would be noise.
    if !y.get("/citus").is_some_and(truthy) {
        return;
    }
    let which = if api.version_given {
        format!("Patroni {}", api.version)
    } else {
        format!(
            "Patroni 3.3.0 to 4.1.5 (no `patroni_version` given; {} assumed)",
            api.version
        )
    };
    report.finding(
        "mpp-unprotected",
        y.loc("/restapi"),
        format!("{which} runs `POST /mpp` without `check_access`: the allowlist, certificates and authentication do not apply; this node runs Citus, so anyone who reaches the port can send worker events to the coordinator"),
    );
}
