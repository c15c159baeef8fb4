//! Checks HAProxy's health checks of the Patroni REST API (`haproxy` documents) against
//! the Patroni configs of the same input (`patroni` documents).
//!
//! HAProxy routes writes to the primary by asking each node's REST API (`option httpchk
//! OPTIONS /primary`, `check port 8008`). Those checks must match the API: TLS when the
//! API has a `certfile`, a client certificate when `verify_client: required`, a verified
//! server certificate (`verify required` + `ca-file`) so that nobody can fake a primary.
//! [`model`] reads the effective check of every server; each check is then put to the
//! Patroni config it targets (matched by address, or by the address of another server of
//! the same backend; never a Patroni of another cluster) through `policy_guest::patroni`, the same access algorithm
//! `patrol simulate` uses. Fixes rewrite the `server` line in place: a server's own
//! options override `default-server` and `ssl-server-verify`, so one line carries the
//! whole fix.

pub mod exposure;
pub mod keywords;
pub mod model;

use policy_guest::DocumentKind;
use policy_guest::doc::{Structured, documents};
use policy_guest::patroni::{Cause, CertMode, Facts, RestApi, member_host};
use policy_guest::report::{at, replace_lines};
use policy_guest::{
    CertPresence, Code, HttpRequest, Input, Policy, Report, RequestAuth, Severity, Withheld,
};
use serde::Deserialize;

use model::{Config, HealthCheck, Proxy, Server, split_addr};

pub struct Haproxy;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Ports of the Patroni REST API, besides those the Patroni configs give.
    pub patroni_ports: Vec<u16>,
    /// CA file HAProxy verifies Patroni's certificate with, used by fixes when neither
    /// the config nor the Patroni side (`ctl.cacert`, `restapi.cafile`) names one. None:
    /// no path is invented, and such a fix is withheld.
    pub ca_file: Option<String>,
    /// Client certificate (certificate and key in one PEM) HAProxy presents, used by
    /// fixes when the config names none. None: no path is invented.
    pub client_cert: Option<String>,
    /// HAProxy's own addresses (the source of its checks), when neither a `source`
    /// directive nor a single `bind` address says.
    pub source_addresses: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            patroni_ports: vec![8008],
            ca_file: None,
            client_cert: None,
            source_addresses: Vec::new(),
        }
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "check-plain-http",
        Severity::High,
        "a health check of the Patroni REST API in plain HTTP",
        "High when the API uses TLS (`restapi.certfile`): the check fails the TLS handshake, every server is marked down and no primary is routed. Add `check-ssl verify required ca-file <CA>` (and `crt` when Patroni demands client certificates) to the `server` line; the patch does. Medium when no Patroni config is in the input; low when the API itself is plain HTTP (enable TLS on Patroni first, then on the checks).",
    ),
    Code::new(
        "check-tls-to-plain-api",
        Severity::High,
        "a TLS health check of a plain-HTTP Patroni REST API",
        "The API has no `certfile`, so the TLS handshake fails and every server is marked down. Enable TLS on Patroni (`restapi.certfile`/`keyfile`), or drop `check-ssl`; no patch (patrol does not downgrade TLS).",
    ),
    Code::new(
        "check-verify-none",
        Severity::High,
        "a TLS health check that does not verify Patroni's certificate",
        "`verify none` (on the server, a `default-server` or `ssl-server-verify none`) lets anyone on the path answer the check and fake a primary. Use `verify required` with the `ca-file` of the CA that signed Patroni's certificate; the patch sets both on the `server` line.",
    ),
    Code::new(
        "check-no-ca-file",
        Severity::High,
        "a verifying TLS health check without a `ca-file`",
        "With `verify required` (the default) and no `ca-file`, HAProxy refuses the configuration (\"verify is enabled by default but no CA file specified\"). Add `ca-file` with the CA of Patroni's certificate; the patch does.",
    ),
    Code::new(
        "check-without-client-cert",
        Severity::High,
        "a health check without a client certificate while Patroni requires one",
        "With `restapi.verify_client: required` Patroni refuses any TLS handshake without a client certificate, so every check fails, every server is marked down and no primary is routed. Add `crt <PEM with certificate and key>` signed by the CA in `restapi.cafile`; the patch does.",
    ),
    Code::new(
        "check-source-outside-allowlist",
        Severity::High,
        "HAProxy's checks come from an address outside Patroni's allowlist",
        "High when the check reaches an endpoint `check_access` protects: Patroni answers 403 and every server is marked down. Info for the usual GET/OPTIONS checks, which the allowlist does not cover (they pass), noted because a firewall built from the allowlist would drop them. Add HAProxy's address to `restapi.allowlist`.",
    ),
    Code::new(
        "stats-admin-unauthenticated",
        Severity::High,
        "the statistics page has admin actions (`stats admin`) and no `stats auth`",
        "Whoever reaches the page can set servers to drain or maintenance, the primary included: writes stop. Add `stats auth <user>:<password>` (or `stats http-request auth`), bind the page to loopback or a management address, and limit `stats admin if` to an ACL of operators' addresses. High on every interface, medium on one network address, low on loopback.",
    ),
    Code::new(
        "stats-unauthenticated",
        Severity::Medium,
        "the statistics page has no `stats auth`",
        "It shows every backend and server address, which node is the primary and HAProxy's version to whoever reaches it. Add `stats auth` and bind the page to a management address. Medium on every interface, low on one network address, info on loopback.",
    ),
    Code::new(
        "restapi-republished",
        Severity::High,
        "a `frontend`/`listen` forwards clients to the Patroni REST API",
        "Through HAProxy the API's unsafe endpoints (restart, failover, `PATCH /config`) are reachable by whoever reaches the bind, and Patroni sees HAProxy's address, so `restapi.allowlist` can no longer tell clients apart. Health checks need no such proxy (they go to the nodes directly with `check port 8008`); remove it, or bind it to loopback with authentication. High on every interface, medium on one network address, low on loopback.",
    ),
    Code::new(
        "unknown-keyword",
        Severity::High,
        "a directive HAProxy does not know: it refuses the whole file",
        "`haproxy -c` fails with \"unknown keyword\": HAProxy does not start, and a reload keeps the old configuration. Fix the spelling or remove the line (the list is HAProxy 2.6's and every later version's keywords).",
    ),
];

impl Policy for Haproxy {
    type Settings = Settings;
    const NAME: &'static str = "haproxy";
    const DESCRIPTION: &'static str = "HAProxy health checks of the Patroni REST API: TLS, server verification, client certificates, allowlist";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["haproxy", "patroni"];

    fn validate(settings: &Settings) -> Vec<String> {
        let mut problems = Vec::new();
        if settings
            .ca_file
            .as_ref()
            .is_some_and(|v| v.trim().is_empty())
        {
            problems.push("`ca_file` is empty".to_string());
        }
        if settings
            .client_cert
            .as_ref()
            .is_some_and(|v| v.trim().is_empty())
        {
            problems.push("`client_cert` is empty".to_string());
        }
        for a in &settings.source_addresses {
            if a.parse::<std::net::IpAddr>().is_err() {
                problems.push(format!(
                    "`source_addresses` entry `{a}` is not an IP address"
                ));
            }
        }
        problems
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let facts = Facts::from_context(&input.context)?;
        let patronis: Vec<Patroni> = documents(input, DocumentKind::Patroni)
            .filter_map(Structured::new)
            .map(|y| Patroni::read(&y, &facts))
            .collect();
        let mut ports: Vec<u16> = settings.patroni_ports.clone();
        ports.extend(patronis.iter().flat_map(|p| p.ports.iter().copied()));
        for doc in documents(input, DocumentKind::Haproxy) {
            exposure::check(doc, &ports, report);
            let Some(cfg) = Config::read(doc) else {
                continue;
            };
            for proxy in &cfg.proxies {
                for server in &proxy.servers {
                    let Some(hc) = proxy.health_check(server) else {
                        continue;
                    };
                    if !hc.port.is_some_and(|p| ports.contains(&p)) {
                        continue;
                    }
                    let target = pick(&patronis, &hc.host, proxy);
                    check_server(
                        Ctx {
                            doc_text: &doc.text,
                            cfg: &cfg,
                            proxy,
                            server,
                            settings,
                        },
                        &hc,
                        target,
                        report,
                    );
                }
            }
        }
        Ok(())
    }
}

/// A Patroni config as the checks see it.
struct Patroni {
    file: String,
    api: RestApi,
    hosts: Vec<String>,
    ports: Vec<u16>,
    /// The CA of the REST API's certificate as the Patroni side names it (`ctl.cacert`,
    /// else `restapi.cafile`), with where: a path the fix may use.
    ca: Option<(String, String)>,
}

impl Patroni {
    fn read(y: &Structured, facts: &Facts) -> Patroni {
        let api = RestApi::compile(y, facts);
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for p in [
            "/restapi/connect_address",
            "/restapi/listen",
            "/postgresql/connect_address",
            "/postgresql/listen",
        ] {
            for item in y.str(p).unwrap_or("").split(',') {
                let (host, port) = split_addr(item.trim());
                if !host.is_empty() {
                    hosts.push(member_host(&host).to_string());
                }
                if p.starts_with("/restapi") {
                    ports.extend(port);
                }
            }
        }
        let ca = ["/ctl/cacert", "/restapi/cafile"].iter().find_map(|p| {
            y.str(p)
                .map(str::trim)
                .filter(|v| v.starts_with('/'))
                .map(|v| {
                    let l = y.loc(p);
                    (
                        v.to_string(),
                        format!("`{}` ({}:{})", &p[1..].replace('/', "."), l.file, l.line),
                    )
                })
        });
        Patroni {
            file: y.doc.path.clone(),
            api,
            hosts,
            ports,
            ca,
        }
    }
}

/// The Patroni config a check targets: the one at its address, else the one at the
/// address of another server of the same proxy (a backend balances over one cluster's
/// members, so one node's file stands for its peers). A proxy none of whose servers is a
/// Patroni of the input belongs to a cluster that is not among the inputs: no target —
/// never "any Patroni of the run", which may be another deployment's.
fn pick<'a>(patronis: &'a [Patroni], host: &str, proxy: &Proxy) -> Option<&'a Patroni> {
    let at = |host: &str| patronis.iter().find(|p| p.hosts.iter().any(|h| h == host));
    at(host).or_else(|| {
        proxy
            .servers
            .iter()
            .find_map(|s| proxy.health_check(s).and_then(|hc| at(&hc.host)))
    })
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    doc_text: &'a str,
    cfg: &'a Config,
    proxy: &'a Proxy,
    server: &'a Server,
    settings: &'a Settings,
}

/// What the fix of one server line adds or changes.
#[derive(Debug, Default)]
struct Fix {
    check_ssl: bool,
    verify_required: bool,
    ca_file: Option<String>,
    crt: Option<String>,
}

fn check_server(ctx: Ctx, hc: &HealthCheck, target: Option<&Patroni>, report: &mut Report) {
    let Ctx {
        cfg,
        proxy,
        server,
        settings,
        ..
    } = ctx;
    let what = format!(
        "the health check of server `{}` in `{}` (`{} {}` to port {})",
        server.name,
        proxy.section,
        hc.method,
        hc.uri,
        hc.port.unwrap_or(0)
    );
    let loc = at(&cfg.file, server.line);
    let mut fix = Fix::default();
    let mut findings = Vec::new();
    let mut withheld: Option<Withheld> = None;

    let api = target.map(|p| &p.api);
    let api_tls = api.map(|a| a.https);
    let requires_cert = api.is_some_and(|a| a.https && a.cert_mode == CertMode::Required);
    // The state after the fix: TLS whenever the API speaks it.
    let tls_after = hc.tls || api_tls == Some(true);

    if !hc.tls {
        let i = report.finding("check-plain-http", loc.clone(), match (target, api_tls) {
            (Some(p), Some(true)) => format!("{what} is plain HTTP, but the REST API of `{}` uses TLS: the handshake fails, every server is marked down and no primary is routed", p.file),
            (Some(p), _) => format!("{what} is plain HTTP, as is the REST API of `{}` itself: enable TLS on Patroni, then `check-ssl` here", p.file),
            (None, _) => format!("{what} is plain HTTP (no Patroni config in the input says whether the API uses TLS; if it does, every check fails)"),
        });
        match api_tls {
            Some(true) => {
                fix.check_ssl = true;
                findings.push(i);
            }
            Some(false) => report.severity(i, Severity::Low),
            None => report.severity(i, Severity::Medium),
        }
    } else if api_tls == Some(false) {
        let p = target.map_or("", |p| p.file.as_str());
        report.finding("check-tls-to-plain-api", loc.clone(), format!("{what} uses TLS, but the REST API of `{p}` is plain HTTP (no `restapi.certfile`): the handshake fails and every server is marked down"));
    }

    if tls_after {
        let (verifies, origin) = cfg.verify_of(&server.opts);
        if !verifies {
            if hc.tls {
                let from = origin.map_or(String::new(), |o| format!(" (line {})", o.line));
                findings.push(report.finding("check-verify-none", loc.clone(), format!("{what} does not verify Patroni's certificate: `verify none`{from}; anyone on the path can answer as the primary")));
            }
            fix.verify_required = true;
        }
        if (verifies || fix.verify_required) && server.opts.ca_file.is_none() {
            // A CA path only from the inputs: HAProxy's own, the settings' (a path on the
            // HAProxy host), or the Patroni side's. An invented one makes `haproxy -c`
            // refuse the file.
            let ca = existing_ca(cfg)
                .or_else(|| settings.ca_file.clone())
                .or_else(|| {
                    target
                        .and_then(|p| p.ca.as_ref())
                        .map(|(path, _)| path.clone())
                });
            if hc.tls && verifies {
                findings.push(report.finding("check-no-ca-file", loc.clone(), format!("{what} verifies Patroni's certificate but names no `ca-file`: HAProxy refuses this configuration")));
            }
            match ca {
                Some(ca) => fix.ca_file = Some(ca),
                None => {
                    withheld = Some(Withheld::new(
                        "no input names the CA file that signed Patroni's certificate (no `ca-file` in the HAProxy config, no `ctl.cacert`/`restapi.cafile` in the Patroni config it checks), and `verify required` without one makes HAProxy refuse the file",
                        &[
                            "copy the CA that signed the REST API's certificate to the HAProxy host",
                            "add `check-ssl verify required ca-file <that file>` to the `server` line (or name it in the haproxy policy's setting `ca_file` and run `patrol check --fix` again)",
                            "check the file with `haproxy -c -f <file>`, then reload HAProxy",
                        ],
                    ))
                }
            }
        }
        if requires_cert && server.opts.crt.is_none() {
            let p = target.map_or("", |p| p.file.as_str());
            findings.push(report.finding("check-without-client-cert", loc.clone(), format!("{what} presents no client certificate (`crt`), but `{p}` has `verify_client: required`: every check fails the handshake, every server is marked down and no primary is routed")));
            match existing_crt(cfg).or_else(|| settings.client_cert.clone()) {
                Some(crt) => fix.crt = Some(crt),
                None => withheld = withheld.or(Some(Withheld::new(
                    "no input names a client certificate for HAProxy (no `crt` in the config, no setting `client_cert`), and a path that exists nowhere makes HAProxy refuse the file",
                    &[
                        "issue a client certificate from the CA in Patroni's `restapi.cafile` and put it with its key in one PEM on the HAProxy host",
                        "add `crt <that file>` to the `server` line (or name it in the haproxy policy's setting `client_cert` and run `patrol check --fix` again)",
                        "check the file with `haproxy -c -f <file>`, then reload HAProxy",
                    ],
                ))),
            }
        }
    }

    if let Some(p) = target {
        let sent = Sent {
            what: &what,
            loc: &loc,
            hc,
            tls: tls_after,
            client_cert: requires_cert,
        };
        allowlist(ctx, &sent, p, report);
    }

    // One line carries the whole fix: without every part of it, none is offered (TLS
    // with `verify required` and no CA is a file HAProxy refuses).
    if let Some(w) = withheld {
        for i in findings {
            w.attach(report, i);
        }
    } else if let Some(patch) = rewrite(ctx.doc_text, &cfg.file, server, &fix) {
        for i in findings {
            report.fix(i, patch.clone());
        }
    }
}

/// A `ca-file` some server of the file already uses for its checks (the same CA signs
/// every node's certificate in a cluster).
fn existing_ca(cfg: &Config) -> Option<String> {
    cfg.proxies
        .iter()
        .flat_map(|p| &p.servers)
        .find_map(|s| s.opts.ca_file.as_ref().map(|a| a.value.clone()))
}

fn existing_crt(cfg: &Config) -> Option<String> {
    cfg.proxies
        .iter()
        .flat_map(|p| &p.servers)
        .find_map(|s| s.opts.crt.as_ref().map(|a| a.value.clone()))
}

/// HAProxy's source address for checks: `source` on the server or proxy, the settings,
/// else the one address HAProxy binds to (a wildcard says nothing).
fn source_address(
    proxy: &Proxy,
    server: &Server,
    cfg: &Config,
    settings: &Settings,
) -> Option<(String, String)> {
    let from = |v: &str| {
        let (host, _) = split_addr(v);
        host.parse::<std::net::IpAddr>()
            .ok()
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| ip.to_string())
    };
    if let Some(s) = server.opts.source.as_ref().or(proxy.source.as_ref()) {
        return from(&s.value).map(|ip| (ip, format!("`source` on line {}", s.line)));
    }
    if let Some(a) = settings.source_addresses.first() {
        return Some((a.clone(), "setting `source_addresses`".to_string()));
    }
    let mut binds: Vec<String> = proxy.binds.iter().filter_map(|b| from(b)).collect();
    if binds.is_empty() {
        binds = cfg
            .proxies
            .iter()
            .flat_map(|p| &p.binds)
            .filter_map(|b| from(b))
            .collect();
    }
    binds.sort();
    binds.dedup();
    match binds.as_slice() {
        [one] => Some((one.clone(), format!("HAProxy's `bind` address {one}"))),
        _ => None,
    }
}

/// A health check as Patroni receives it once the fix is in.
struct Sent<'a> {
    what: &'a str,
    loc: &'a policy_guest::Location,
    hc: &'a HealthCheck,
    tls: bool,
    client_cert: bool,
}

fn allowlist(ctx: Ctx, sent: &Sent, p: &Patroni, report: &mut Report) {
    let Ctx {
        proxy,
        server,
        cfg,
        settings,
        ..
    } = ctx;
    let Sent {
        what,
        loc,
        hc,
        tls,
        client_cert: requires_cert,
    } = *sent;
    if !p.api.allowlist.restricts() {
        return;
    }
    let Some((source, how)) = source_address(proxy, server, cfg, settings) else {
        return;
    };
    let cert = if requires_cert || server.opts.crt.is_some() {
        CertPresence::Trusted
    } else {
        CertPresence::None
    };
    let request = |method: &str, path: &str| HttpRequest {
        name: None,
        source: source.clone(),
        method: method.to_string(),
        path: path.to_string(),
        scheme: Some(if tls { "https" } else { "http" }.to_string()),
        auth: RequestAuth::None,
        client_cert: cert,
    };
    let check = p.api.decide(&request(&hc.method, &hc.uri));
    if matches!(check.cause, Cause::IpDenied { .. }) {
        report.finding("check-source-outside-allowlist", loc.clone(), format!(
            "{what} comes from {source} ({how}), outside `restapi.allowlist` of `{}`, and reaches an endpoint the allowlist protects: Patroni answers 403 and every server is marked down", p.file));
        return;
    }
    // The usual safe check passes; would the address pass the allowlist at all?
    let probe = p.api.decide(&HttpRequest {
        auth: RequestAuth::Valid,
        client_cert: CertPresence::Trusted,
        ..request("POST", "/reload")
    });
    if matches!(probe.cause, Cause::IpDenied { .. }) {
        let i = report.finding("check-source-outside-allowlist", loc.clone(), format!(
            "{what} comes from {source} ({how}), outside `restapi.allowlist` of `{}`; it passes only because `{}` is not an endpoint the allowlist covers (a firewall built from the allowlist would drop it)", p.file, hc.method));
        report.severity(i, Severity::Info);
    }
}

/// The server line with the fix applied, keeping its indentation, spacing and comment.
fn rewrite(text: &str, file: &str, server: &Server, fix: &Fix) -> Option<policy_guest::Patch> {
    if !fix.check_ssl && !fix.verify_required && fix.ca_file.is_none() && fix.crt.is_none() {
        return None;
    }
    let line = text.split('\n').nth(server.line as usize - 1)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let start = line.find(&server.value)?;
    let mut value = server.value.clone();
    let mut add: Vec<String> = Vec::new();
    if fix.check_ssl {
        add.push("check-ssl".into());
    }
    if fix.verify_required {
        match server.own.verify.as_ref().filter(|v| v.value == "none") {
            Some(_) => value = replace_word_pair(&value, "verify", "none", "required"),
            None => add.push("verify required".into()),
        }
    }
    if let Some(ca) = &fix.ca_file {
        add.push(format!("ca-file {}", quote(ca)));
    }
    if let Some(crt) = &fix.crt {
        add.push(format!("crt {}", quote(crt)));
    }
    for a in &add {
        value.push(' ');
        value.push_str(a);
    }
    let new = format!(
        "{}{}{}",
        &line[..start],
        value,
        &line[start + server.value.len()..]
    );
    let mut what: Vec<&str> = Vec::new();
    if fix.check_ssl {
        what.push("TLS");
    }
    if fix.verify_required || fix.ca_file.is_some() {
        what.push("server verification");
    }
    if fix.crt.is_some() {
        what.push("a client certificate");
    }
    Some(replace_lines(
        file,
        format!(
            "health check of server `{}`: {}",
            server.name,
            what.join(", ")
        ),
        server.line,
        server.line,
        new,
    ))
}

/// Replaces the word after `key` (when it is `old`) by `new`, keeping the spacing.
fn replace_word_pair(value: &str, key: &str, old: &str, new: &str) -> String {
    let words: Vec<(usize, &str)> = value
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - value.as_ptr() as usize, w))
        .collect();
    for pair in words.windows(2) {
        if pair[0].1 == key && pair[1].1 == old {
            let at = pair[1].0;
            return format!("{}{}{}", &value[..at], new, &value[at + old.len()..]);
        }
    }
    value.to_string()
}

/// A word as HAProxy reads it back: single-quoted when it holds spaces, `#` or quotes.
fn quote(word: &str) -> String {
    if word.is_empty() || word.contains([' ', '\t', '#', '"', '\'', '\\']) {
        format!("'{}'", word.replace('\'', "'\\''"))
    } else {
        word.to_string()
    }
}

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(Haproxy);
