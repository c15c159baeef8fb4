//! Would locking the REST API down break the deployment? The calls the deployment makes
//! itself are simulated against the config, and every refused one is reported.
//!
//! The callers (reference §6):
//! - HAProxy health checks, from haproxy.cfg (servers whose check port is the REST API's,
//!   in a backend that balances over this node: [`checks_of_cluster`]);
//! - patronictl: `GET /patroni`, `POST /restart|/reload|/reinitialize|/switchover|
//!   /failover`, `DELETE /restart|/switchover`, `PATCH /config`, from the members' hosts;
//! - the members themselves: `GET /patroni` in the leader race, `POST /failsafe` with
//!   `failsafe_mode`, `POST /citus` with a `citus` section.
//!
//! patronictl and the daemon send `ctl.authentication`, else `restapi.authentication`; a
//! client certificate only from `ctl.certfile`; the daemon never verifies the server
//! without `ctl.certfile`, patronictl does unless `ctl.insecure` (which `ctl.certfile`
//! overrides), with `ctl.cacert` else `restapi.cafile`. Their source is each member
//! (the context's `members`, else this node's `connect_address`).

use policy_guest::DocumentKind;
use policy_guest::doc::Structured;
use policy_guest::patroni::{Facts, Ip, RestApi, member_host, python_str, truthy};
use policy_guest::report::at;
use policy_guest::{
    CertPresence, Decision, HttpRequest, Input, Location, Report, RequestAuth, Severity, Verdict,
};
use serde_json::Value;

use crate::haproxy::{self, HealthCheck};

/// The HTTP health checks of every haproxy document.
pub fn haproxy_checks(input: &Input) -> Vec<HealthCheck> {
    policy_guest::doc::documents(input, DocumentKind::Haproxy)
        .flat_map(haproxy::checks)
        .collect()
}

const PATRONICTL: &[(&str, &str, &str)] = &[
    ("GET", "/patroni", "patronictl version / reinit"),
    ("POST", "/restart", "patronictl restart"),
    ("POST", "/reload", "patronictl reload"),
    ("POST", "/reinitialize", "patronictl reinit"),
    ("POST", "/switchover", "patronictl switchover"),
    ("POST", "/failover", "patronictl failover"),
    ("DELETE", "/restart", "patronictl flush restart"),
    ("DELETE", "/switchover", "patronictl flush switchover"),
    ("PATCH", "/config", "patronictl pause / resume"),
];

/// The client side of patronictl and the daemon, from `ctl` and `restapi`.
struct Client {
    auth: RequestAuth,
    cert: CertPresence,
    scheme: &'static str,
}

fn client(y: &Structured, api: &RestApi) -> Client {
    let ctl_auth = match y.get("/ctl/authentication") {
        Some(Value::Object(a)) => match (a.get("username"), a.get("password")) {
            (Some(u), Some(p)) => Some(format!("{}:{}", python_str(u), python_str(p))),
            _ => None,
        },
        _ => None,
    };
    let sent = ctl_auth.or_else(|| api.auth.as_ref().map(|s| s.expose().to_string()));
    let auth = match (&api.auth, sent) {
        (None, _) | (_, None) => RequestAuth::None,
        (Some(server), Some(sent)) if server.expose() == sent => RequestAuth::Valid,
        _ => RequestAuth::Invalid,
    };
    let cert = if y.get("/ctl/certfile").is_some_and(truthy) {
        CertPresence::Trusted
    } else {
        CertPresence::None
    };
    Client {
        auth,
        cert,
        scheme: if api.https { "https" } else { "http" },
    }
}

/// The members' addresses as callers: the context's, else this node's `connect_address`
/// (or `listen`) host; else an address the allowlist admits, so that only TLS,
/// certificates and credentials are simulated.
fn sources(y: &Structured, api: &RestApi, facts: &Facts) -> (Vec<Ip>, bool) {
    let mut out = Vec::new();
    if let Some(members) = facts.members {
        for m in members {
            out.extend(facts.resolve_host(member_host(m)).unwrap_or_default());
        }
    } else {
        for ptr in ["/restapi/connect_address", "/restapi/listen"] {
            if let Some(text) = y.str(ptr) {
                let host = text
                    .rsplit_once(':')
                    .map_or(text, |(h, _)| h)
                    .trim_matches(['[', ']']);
                let wildcard = api
                    .listen
                    .as_ref()
                    .is_some_and(|l| l.wildcard && ptr == "/restapi/listen");
                if let Some(ips) = facts
                    .resolve_host(host)
                    .filter(|i| !i.is_empty() && !wildcard)
                {
                    out.extend(ips);
                    break;
                }
            }
        }
    }
    out.dedup();
    if out.is_empty() {
        let first = api.allowlist.nets.first().map(|(_, n)| n.addr());
        out.push(first.unwrap_or(Ip::v4(std::net::Ipv4Addr::LOCALHOST)));
        return (out, false);
    }
    (out, true)
}

fn request(
    source: Ip,
    method: &str,
    path: &str,
    scheme: &str,
    auth: &RequestAuth,
    cert: CertPresence,
) -> HttpRequest {
    HttpRequest {
        name: None,
        source: source.to_string(),
        method: method.into(),
        path: path.into(),
        scheme: Some(scheme.into()),
        auth: auth.clone(),
        client_cert: cert,
    }
}

/// Refusals of one caller, grouped by the key that refuses them.
struct Refusals {
    code: &'static str,
    first: Vec<(String, Decision, Option<Location>)>,
}

impl Refusals {
    fn new(code: &'static str) -> Self {
        Refusals {
            code,
            first: Vec::new(),
        }
    }

    fn add(&mut self, what: String, d: Decision, at: Option<Location>) {
        if d.verdict == Verdict::Allow || d.depends_on.iter().any(|k| k == "members") {
            return;
        }
        self.first.push((what, d, at));
    }

    /// One finding per place: each HAProxy server line, or each (stage, status, deciding
    /// key) for patronictl and the members, naming the first refused call and counting
    /// the others.
    fn report(self, report: &mut Report) {
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, (_, d, at)) in self.first.iter().enumerate() {
            let key = match at {
                Some(l) => format!("{}:{}", l.file, l.line),
                None => format!(
                    "{}|{:?}|{:?}",
                    d.stage,
                    d.status,
                    d.location.as_ref().map(|l| l.line)
                ),
            };
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        for (_, members) in groups {
            let (what, d, at) = &self.first[members[0]];
            let mut msg = format!("{what} is refused: {}", d.reason);
            if members.len() > 1 {
                msg.push_str(&format!(
                    " ({} more calls refused the same way)",
                    members.len() - 1
                ));
            }
            let location = at
                .clone()
                .or_else(|| d.location.clone())
                .unwrap_or_else(|| at_file(d));
            report.finding(self.code, location, msg);
        }
    }
}

fn at_file(d: &Decision) -> Location {
    at(d.location.as_ref().map_or("", |l| l.file.as_str()), 0)
}

/// Simulates the deployment's own calls against `api` and reports the refused ones.
pub fn check(
    y: &Structured,
    api: &RestApi,
    facts: &Facts,
    checks: &[&HealthCheck],
    report: &mut Report,
) {
    if api.fatal.is_some() {
        return;
    }
    let (srcs, known) = sources(y, api, facts);
    // The callers are the members: where the context does not list them, the sources are.
    let member_list: Vec<String> = srcs.iter().map(Ip::to_string).collect();
    let sim = if facts.members.is_none() && api.include_members && known {
        let f = Facts {
            members: Some(&member_list),
            ..*facts
        };
        RestApi::compile(y, &f)
    } else {
        api.clone()
    };
    haproxy(api, checks, report);
    let c = client(y, api);
    let mut ctl = Refusals::new("lockout-patronictl");
    let mut members = Refusals::new("lockout-member-calls");
    for src in &srcs {
        for (method, path, what) in PATRONICTL {
            let d = sim.decide_request(0, &request(*src, method, path, c.scheme, &c.auth, c.cert));
            ctl.add(format!("`{what}` ({method} {path} from {src})"), d, None);
        }
        let mut calls = vec![("GET", "/patroni", "the leader race")];
        if y.get("/bootstrap/dcs/failsafe_mode").is_some_and(truthy) {
            calls.push(("POST", "/failsafe", "failsafe mode"));
        }
        if y.get("/citus").is_some_and(truthy) {
            calls.push(("POST", "/citus", "Citus worker events"));
        }
        for (method, path, what) in calls {
            let d = sim.decide_request(0, &request(*src, method, path, c.scheme, &c.auth, c.cert));
            members.add(
                format!("{what} ({method} {path} from member {src})"),
                d,
                None,
            );
        }
    }
    ctl.report(report);
    members.report(report);
    server_verification(y, api, report);
}

/// The hosts a Patroni config is reached at: its REST API's and PostgreSQL's
/// `connect_address`/`listen` (wildcards say nothing), and the context's members.
pub fn node_hosts(y: &Structured, facts: &Facts) -> Vec<String> {
    let mut out: Vec<String> = facts
        .members
        .map(|m| m.iter().map(|h| member_host(h).to_string()).collect())
        .unwrap_or_default();
    for p in [
        "/restapi/connect_address",
        "/restapi/listen",
        "/postgresql/connect_address",
        "/postgresql/listen",
    ] {
        for item in y.str(p).unwrap_or("").split(',') {
            let item = item.trim();
            let host = item
                .rsplit_once(':')
                .map_or(item, |(h, _)| h)
                .trim_matches(['[', ']']);
            if !matches!(host, "" | "0.0.0.0" | "::" | "*") {
                out.push(host.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The checks of the backends that balance over this node: a backend with a server at
/// one of `ours` is this cluster's (its other servers are this node's peers), except
/// servers that are another Patroni config's of the input (judged by that one). A
/// backend with none is another deployment's, or one whose Patroni is not among the
/// inputs: never judged against this node.
pub fn checks_of_cluster<'a>(
    checks: &'a [HealthCheck],
    ours: &[String],
    others: &[String],
) -> Vec<&'a HealthCheck> {
    let ours_at = |hc: &HealthCheck| ours.contains(&hc.host);
    checks
        .iter()
        .filter(|hc| {
            ours_at(hc)
                || (!others.contains(&hc.host)
                    && checks
                        .iter()
                        .any(|o| o.file == hc.file && o.section == hc.section && ours_at(o)))
        })
        .collect()
}

/// HAProxy checks aimed at this REST API's port.
fn haproxy(api: &RestApi, checks: &[&HealthCheck], report: &mut Report) {
    let port = api.listen.as_ref().map(|l| l.port);
    let mut refusals = Refusals::new("lockout-haproxy-check");
    for hc in checks {
        if hc.port.is_some() && port.is_some() && hc.port != port {
            continue;
        }
        let cert = if hc.tls && hc.client_cert {
            CertPresence::Trusted
        } else {
            CertPresence::None
        };
        let scheme = if hc.tls { "https" } else { "http" };
        // The checks come from the HAProxy host, whose address the files do not give; GET,
        // HEAD and OPTIONS are never IP-checked.
        let source = api
            .allowlist
            .nets
            .first()
            .map_or(Ip::v4(std::net::Ipv4Addr::LOCALHOST), |(_, n)| n.addr());
        let d = api.decide_request(
            0,
            &request(
                source,
                &hc.method,
                &hc.uri,
                scheme,
                &RequestAuth::None,
                cert,
            ),
        );
        let what = format!(
            "HAProxy's health check `{} {}` of server `{}` in `{}`",
            hc.method, hc.uri, hc.server, hc.section
        );
        refusals.add(what, d, Some(at(&hc.file, hc.line)));
    }
    refusals.report(report);
}

/// The TLS client side: patronictl and the daemon must be able to verify the server.
fn server_verification(y: &Structured, api: &RestApi, report: &mut Report) {
    if !api.https {
        return;
    }
    let ca = y.get("/ctl/cacert").is_some_and(truthy) || api.cafile.is_some();
    if ca {
        return;
    }
    let ctl_cert = y.get("/ctl/certfile").is_some_and(truthy);
    let insecure = y.get("/ctl/insecure").is_some_and(truthy);
    if !insecure || ctl_cert {
        let i = report.finding(
            "lockout-patronictl",
            y.loc("/ctl"),
            "patronictl verifies the REST API certificate, but neither `ctl.cacert` nor `restapi.cafile` names its CA: it trusts only the system CA store, so with a private CA every patronictl call fails at the TLS handshake",
        );
        report.severity(i, Severity::Medium);
    }
    if ctl_cert {
        report.finding(
            "lockout-member-calls",
            y.loc("/ctl/certfile"),
            "with `ctl.certfile` the members verify each other's certificate chain, but neither `ctl.cacert` nor `restapi.cafile` names the CA: with a private CA the leader race (`GET /patroni`) fails at the TLS handshake",
        );
    }
}
