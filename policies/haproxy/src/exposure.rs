//! What an haproxy.cfg exposes besides the database: the statistics page (read-only, or
//! with the admin actions that drain or disable servers), the Patroni REST API forwarded
//! through a `frontend`/`listen`, and directives HAProxy does not know (it refuses the
//! whole file then).
//!
//! Reachability comes from the `bind` lines: every interface (`:8404`, `*`, `0.0.0.0`,
//! `::`), a network address, loopback, or a Unix socket. What a proxy inherits: its
//! `stats` settings add to those of the last `defaults` section before it (HAProxy copies
//! the defaults' `uri_auth` and then applies the proxy's own). A `backend` is reached
//! through the `frontend`/`listen` sections that name it (`default_backend`,
//! `use_backend`).

use policy_guest::report::at;
use policy_guest::{Body, Document, Report, Setting, Severity};

use crate::keywords;
use crate::model::split_addr;

/// How far a `bind` reaches, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// A Unix socket (`/run/haproxy.sock`, `unix@`, `abns@`, `fd@`, `sockpair@`).
    Socket,
    Loopback,
    /// A specific non-loopback address (or a name, or an environment variable).
    Network,
    /// Every interface.
    Any,
}

impl Reach {
    fn text(self) -> &'static str {
        match self {
            Reach::Socket => "a Unix socket only",
            Reach::Loopback => "loopback only",
            Reach::Network => "a network address",
            Reach::Any => "every interface",
        }
    }
}

/// How far one `bind` address reaches.
pub fn bind_reach(addr: &str) -> Reach {
    let a = addr.trim_matches('"');
    for p in [
        "unix@",
        "abns@",
        "abnsz@",
        "fd@",
        "sockpair@",
        "uxst@",
        "uxdg@",
    ] {
        if a.starts_with(p) {
            return Reach::Socket;
        }
    }
    if a.starts_with('/') {
        return Reach::Socket;
    }
    let a = match a.split_once('@') {
        Some((_, rest)) => rest,
        None => a,
    };
    // `:::8404` and `[::]:8404` are IPv6 wildcards; `:8404` and `*:8404` IPv4 ones.
    let host = match a.rsplit_once(':') {
        Some((h, _)) => h,
        None => a,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host {
        "" | "*" | "0.0.0.0" | "::" => Reach::Any,
        "localhost" => Reach::Loopback,
        h => match h.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_loopback() => Reach::Loopback,
            Ok(ip) if ip.is_unspecified() => Reach::Any,
            _ => Reach::Network,
        },
    }
}

/// One section of the file with its directives (header excluded).
struct Section<'a> {
    keyword: String,
    name: String,
    header_line: u32,
    lines: Vec<&'a Setting>,
}

fn sections(settings: &[Setting]) -> Vec<Section<'_>> {
    let mut out: Vec<Section> = Vec::new();
    for s in settings {
        let header = s.section.as_deref().unwrap_or("");
        let keyword = header.split_whitespace().next().unwrap_or("");
        let is_header = keyword == s.name && keywords::is_section(&s.name);
        if is_header {
            out.push(Section {
                keyword: keyword.to_string(),
                name: header.split_whitespace().nth(1).unwrap_or("").to_string(),
                header_line: s.location.line,
                lines: Vec::new(),
            });
        } else if let Some(cur) = out.last_mut() {
            cur.lines.push(s);
        }
    }
    out
}

/// Runs the exposure checks of one haproxy document. `api_ports` are the Patroni REST
/// API ports (settings and Patroni configs).
pub fn check(doc: &Document, api_ports: &[u16], report: &mut Report) {
    let Body::Settings(settings) = &doc.body else {
        return;
    };
    let secs = sections(settings);
    unknown_keywords(doc, &secs, report);

    // Reach of every frontend/listen, and of the backends they name.
    let mut reach_of_backend: Vec<(String, Reach, u32)> = Vec::new();
    let mut reach_of: Vec<Option<(Reach, u32)>> = vec![None; secs.len()];
    for (i, s) in secs.iter().enumerate() {
        if !matches!(s.keyword.as_str(), "frontend" | "listen") {
            continue;
        }
        let reach = s
            .lines
            .iter()
            .filter(|d| d.name == "bind")
            .flat_map(|d| {
                d.args
                    .first()
                    .into_iter()
                    .flat_map(|a| a.split(','))
                    .map(move |a| (bind_reach(a), d.location.line))
            })
            .max();
        reach_of[i] = reach;
        if let Some(r) = reach {
            for d in &s.lines {
                let target = match d.name.as_str() {
                    "default_backend" => d.args.first(),
                    "use_backend" => d.args.first(),
                    _ => None,
                };
                if let Some(t) = target {
                    reach_of_backend.push((t.clone(), r.0, r.1));
                }
            }
        }
    }
    for (i, s) in secs.iter().enumerate() {
        if s.keyword == "backend" {
            reach_of[i] = reach_of_backend
                .iter()
                .filter(|(name, _, _)| *name == s.name)
                .map(|(_, r, l)| (*r, *l))
                .max();
        }
    }

    let mut defaults: Vec<&Setting> = Vec::new();
    // Stats findings by (code, line): a `defaults` page shared by several proxies is
    // one finding, at the widest reach.
    let mut pages: Vec<Page> = Vec::new();
    for (i, s) in secs.iter().enumerate() {
        if s.keyword == "defaults" {
            defaults = s.lines.clone();
            continue;
        }
        let Some((reach, bind_line)) = reach_of[i] else {
            continue;
        };
        if !matches!(s.keyword.as_str(), "frontend" | "listen" | "backend") {
            continue;
        }
        if let Some(p) = stats(s, &defaults, reach, bind_line) {
            match pages
                .iter_mut()
                .find(|q| q.code == p.code && q.line == p.line)
            {
                Some(q) if q.severity < p.severity => *q = p,
                Some(_) => {}
                None => pages.push(p),
            }
        }
        republished_api(doc, s, reach, bind_line, api_ports, report);
    }
    for p in pages {
        let i = report.finding(p.code, at(&doc.path, p.line), p.message);
        report.severity(i, p.severity);
    }
}

/// A statistics-page finding before it is reported.
struct Page {
    code: &'static str,
    line: u32,
    severity: Severity,
    message: String,
}

/// `stats` pages without authentication, and their admin actions.
fn stats(s: &Section, defaults: &[&Setting], reach: Reach, bind_line: u32) -> Option<Page> {
    let all: Vec<&Setting> = defaults
        .iter()
        .chain(s.lines.iter())
        .copied()
        .filter(|d| d.name == "stats")
        .collect();
    if all.is_empty() || !mode_http(s, defaults) {
        return None;
    }
    fn sub(d: &Setting) -> &str {
        d.args.first().map(String::as_str).unwrap_or("")
    }
    let authenticated = all.iter().any(|d| {
        sub(d) == "auth" || (sub(d) == "http-request" && d.args.get(1).is_some_and(|a| a == "auth"))
    }) || s
        .lines
        .iter()
        .any(|d| d.name == "http-request" && d.args.first().is_some_and(|a| a == "auth"));
    if authenticated {
        return None;
    }
    let where_ = format!(
        "`{} {}` (bind line {bind_line}: {})",
        s.keyword,
        s.name,
        reach.text()
    );
    let first = all.first().map_or(s.header_line, |d| d.location.line);
    if let Some(admin) = all.iter().find(|d| sub(d) == "admin") {
        let cond: Vec<&str> = admin.args[1..].iter().map(String::as_str).collect();
        // `stats admin if LOCALHOST` admits loopback clients only.
        let admin_reach = if cond == ["if", "LOCALHOST"] {
            reach.min(Reach::Loopback)
        } else {
            reach
        };
        return Some(Page {
            code: "stats-admin-unauthenticated",
            line: admin.location.line,
            severity: severity(admin_reach, Severity::High),
            message: format!(
                "the statistics page of {where_} has admin actions (`stats admin {}`) and no `stats auth`: whoever reaches it can drain, disable or re-enable servers, the primary included",
                cond.join(" ")
            ),
        });
    }
    Some(Page {
        code: "stats-unauthenticated",
        line: first,
        severity: severity(reach, Severity::Medium),
        message: format!(
            "the statistics page of {where_} has no `stats auth`: whoever reaches it reads every backend, server address and state (which node is the primary) and HAProxy's version"
        ),
    })
}

/// The severity for `reach` when every interface gets `top`: one step less for a
/// network address, two for loopback, info for a socket (the severity rule, docs/severity.md).
fn severity(reach: Reach, top: Severity) -> Severity {
    let down = |s: Severity, n: u8| -> Severity {
        let ladder = [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ];
        let at = ladder.iter().position(|x| *x == s).unwrap_or(0);
        ladder[at.saturating_sub(n as usize)]
    };
    match reach {
        Reach::Any => top,
        Reach::Network => down(top, 1),
        Reach::Loopback => down(top, 2),
        Reach::Socket => Severity::Info,
    }
}

/// Whether the proxy works in `mode http` (its own `mode`, else its defaults'; HAProxy's
/// default is `tcp`, which serves no statistics page).
fn mode_http(s: &Section, defaults: &[&Setting]) -> bool {
    let last_mode = |lines: &[&Setting]| {
        lines
            .iter()
            .rev()
            .find(|d| d.name == "mode")
            .and_then(|d| d.args.first().cloned())
    };
    last_mode(&s.lines)
        .or_else(|| last_mode(defaults))
        .is_some_and(|m| m == "http")
}

/// A `listen`/`backend` whose servers are Patroni REST APIs, reached from a bind.
fn republished_api(
    doc: &Document,
    s: &Section,
    reach: Reach,
    bind_line: u32,
    api_ports: &[u16],
    report: &mut Report,
) {
    if reach == Reach::Socket {
        return;
    }
    for d in s.lines.iter().filter(|d| d.name == "server") {
        let Some(addr) = d.args.get(1) else { continue };
        let (_, port) = split_addr(addr);
        if !port.is_some_and(|p| api_ports.contains(&p)) {
            continue;
        }
        let i = report.finding(
            "restapi-republished",
            at(&doc.path, d.location.line),
            format!(
                "`{} {}` forwards clients to the Patroni REST API (`{addr}`) from bind line {bind_line} ({}): its unsafe endpoints (restart, failover, `PATCH /config`) are reachable through HAProxy, and every `restapi.allowlist` sees HAProxy's address instead of the client's",
                s.keyword,
                s.name,
                reach.text()
            ),
        );
        report.severity(i, severity(reach, Severity::High));
        return;
    }
}

/// Directives HAProxy does not know: it refuses the whole file.
fn unknown_keywords(doc: &Document, secs: &[Section], report: &mut Report) {
    for s in secs {
        let global = s.keyword == "global";
        if !global
            && !matches!(
                s.keyword.as_str(),
                "defaults" | "frontend" | "backend" | "listen"
            )
        {
            continue;
        }
        for d in &s.lines {
            // `.if`/`.else`/`.notice`…: conditional blocks and messages, not keywords.
            if d.name.starts_with('.') || d.location.file != doc.path {
                continue;
            }
            let word = match d.name.as_str() {
                "no" | "default" => d.args.first().map(String::as_str).unwrap_or(""),
                w => w,
            };
            let known = if global {
                keywords::global(word)
            } else {
                keywords::proxy(word)
            };
            if !known {
                report.finding(
                    "unknown-keyword",
                    at(&doc.path, d.location.line),
                    format!(
                        "`{word}` is not a keyword of a `{}` section (HAProxy 2.6 and later): HAProxy refuses the file (\"unknown keyword '{word}' in '{}' section\") and does not start or reload",
                        s.keyword, s.keyword
                    ),
                );
            }
        }
    }
}
