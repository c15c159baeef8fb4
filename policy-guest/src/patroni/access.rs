//! The access decision for one request (reference §4), over a compiled [`RestApi`].
//!
//! The order is Patroni's: the TLS handshake (scheme, `verify_client`, the client
//! certificate against `cafile`), then routing (`501` for no handler, no check for GET,
//! HEAD, OPTIONS and the undecorated `POST /mpp`), then `check_access`: the IP allowlist
//! and the members (403 `Access is denied`), the client certificate (403 `client
//! certificate required`), basic auth (401). The first failure wins.
//!
//! [`RestApi::decide`] returns a plain-data [`Outcome`] and allocates nothing;
//! [`RestApi::decision`] renders it with its reason (the one allocation that matters) and
//! the location of the key that decided. [`RestApi::decide_samples`] answers a batch of
//! samples and renders each distinct outcome once: the reason depends only on the
//! outcome, the source's family and (for 400/501) the request line.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::addr::Ip;
use super::config::{CertMode, Key, RestApi};
use super::route::{Guard, Handler, Route, route};
use crate::report::{DetailId, Fx};
use crate::sample::{cert, scheme};
use crate::{
    CertPresence, Decision, DecisionDetail, HttpRequest, Input, Location, Report, RequestAuth,
    RequestSample, SampleKind, Scheme, Verdict,
};

/// A request as the decision reads it, borrowed from an [`HttpRequest`] or a
/// [`RequestSample`] and its input.
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    /// The address, or the text that is not one.
    source: Result<Ip, &'a str>,
    /// The source was written as IPv4 (a dual-stack listener sees it mapped).
    source_v4: bool,
    method: &'a str,
    path: &'a str,
    /// None: the listener's; `Ok(true)`: https; `Err`: neither http nor https.
    scheme: Option<Result<bool, &'a str>>,
    auth: &'a RequestAuth,
    client_cert: CertPresence,
    /// The route of `method` and `path`, when already known.
    route: Option<Route>,
}

impl<'a> View<'a> {
    fn of_request(req: &'a HttpRequest) -> View<'a> {
        View {
            source: parse_source(&req.source).ok_or(req.source.as_str()),
            source_v4: !req.source.contains(':'),
            method: &req.method,
            path: &req.path,
            scheme: req.scheme.as_deref().map(|s| {
                if s.eq_ignore_ascii_case("https") {
                    Ok(true)
                } else if s.eq_ignore_ascii_case("http") {
                    Ok(false)
                } else {
                    Err(s)
                }
            }),
            auth: &req.auth,
            client_cert: req.client_cert,
            route: None,
        }
    }

    fn of_sample(s: &RequestSample<'a>, auth: &'a RequestAuth) -> View<'a> {
        let source = Ip::from(s.source());
        View {
            source: Ok(source),
            source_v4: !source.v6,
            method: s.method(),
            path: s.path(),
            scheme: s.scheme().map(|s| Ok(s == Scheme::Https)),
            auth,
            client_cert: s.client_cert(),
            route: None,
        }
    }
}

/// Where the request stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Tls,
    Access,
    Passed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Tls => "tls",
            Stage::Access => "access",
            Stage::Passed => "passed",
        }
    }
}

/// Why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// Patroni does not start with this config.
    Fatal,
    /// The source is not an IP address.
    BadSource,
    /// The scheme is neither `http` nor `https`.
    BadScheme,
    /// Plain HTTP to a TLS listener.
    PlainToTls,
    /// TLS to a plain-HTTP listener.
    TlsToPlain,
    /// `CERT_REQUIRED` and no client certificate.
    NoClientCert,
    /// The client certificate does not verify (optional or required mode).
    UntrustedCert(CertMode),
    /// A certificate the sample calls trusted, but no `cafile`: nothing verifies.
    NoCaFile(CertMode),
    BadRequest,
    NotImplemented,
    /// A handler without any check.
    Safe(Handler),
    /// `POST /mpp`: state-changing and unchecked in this version.
    Unchecked(Handler),
    /// 403 `Access is denied`.
    IpDenied {
        handler: Handler,
        members: bool,
    },
    /// 403 `client certificate required`.
    CertRequired(Handler),
    /// 401 `no auth header received`.
    NoAuthHeader(Handler),
    /// 401 `not authenticated`.
    NotAuthenticated(Handler),
    /// `check_access` passed; what it checked.
    Passed {
        handler: Handler,
        ip: bool,
        cert: bool,
        auth: bool,
        cert_replaced_auth: bool,
    },
}

/// Facts the outcome hinges on that the context did not give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Depends {
    pub members: bool,
    pub resolve: bool,
    pub version: bool,
    pub dual_stack: bool,
}

/// The decision as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Outcome {
    pub allow: bool,
    pub status: Option<u16>,
    pub stage: Stage,
    pub cause: Cause,
    /// The peer address as `check_access` sees it (mapped on a dual-stack listener).
    pub peer: Option<Ip>,
    pub depends: Depends,
}

impl Outcome {
    fn new(allow: bool, status: Option<u16>, stage: Stage, cause: Cause) -> Outcome {
        Outcome {
            allow,
            status,
            stage,
            cause,
            peer: None,
            depends: Depends::default(),
        }
    }
    fn tls(cause: Cause) -> Outcome {
        Outcome::new(false, None, Stage::Tls, cause)
    }
}

impl RestApi {
    /// Decides `req` without allocating.
    pub fn decide(&self, req: &HttpRequest) -> Outcome {
        self.decide_view(&View::of_request(req))
    }

    /// Decides a request sample.
    pub fn decide_sample(&self, sample: &RequestSample) -> Outcome {
        let auth = sample.auth();
        self.decide_view(&View::of_sample(sample, &auth))
    }

    /// Answers every request sample of `input` in `report`. It reads the batch's columns
    /// directly and renders each distinct reason once.
    pub fn decide_samples(&self, input: &Input, report: &mut Report) {
        const NONE: RequestAuth = RequestAuth::None;
        const VALID: RequestAuth = RequestAuth::Valid;
        const INVALID: RequestAuth = RequestAuth::Invalid;
        let batch = &input.requests;
        // Each table entry converted once.
        let ips: Vec<Ip> = batch
            .addresses
            .iter()
            .map(|a| Ip::from(std::net::IpAddr::from(*a)))
            .collect();
        let basic: Vec<RequestAuth> = batch
            .credentials
            .iter()
            .cloned()
            .map(RequestAuth::Basic)
            .collect();
        let mut seen: HashMap<(u64, u128), DetailId, BuildHasherDefault<Fx>> = HashMap::default();
        // Path index → the routes of the methods seen with it.
        let mut routes: Vec<Vec<(u32, Route)>> = vec![Vec::new(); batch.strings.len()];
        report.reserve(SampleKind::Request, batch.len());
        let columns = batch
            .sources
            .iter()
            .zip(&batch.methods)
            .zip(&batch.paths)
            .zip(&batch.schemes)
            .zip(&batch.auths)
            .zip(&batch.client_certs);
        for (i, (((((&src, &method), &path), &sch), &auth), &cert_code)) in columns.enumerate() {
            // A malformed batch (the host never sends one): no decision, so the host
            // denies the sample.
            let Some(&source) = ips.get(src as usize) else {
                continue;
            };
            let auth = match auth {
                0 => &NONE,
                1 => &VALID,
                2 => &INVALID,
                n => basic.get(n as usize - 3).unwrap_or(&INVALID),
            };
            let (m, p) = (batch.string(method), batch.string(path));
            // A batch has few distinct request lines: route each once.
            let known =
                routes
                    .get_mut(path as usize)
                    .map(|r| match r.iter().find(|(x, _)| *x == method) {
                        Some(&(_, found)) => found,
                        None => {
                            let found = route(m, p, self.version);
                            r.push((method, found));
                            found
                        }
                    });
            let view = View {
                source: Ok(source),
                source_v4: !source.v6,
                method: m,
                path: p,
                scheme: scheme(sch).map(|s| Ok(s == Scheme::Https)),
                auth,
                client_cert: cert(cert_code),
                route: known,
            };
            let out = self.decide_view(&view);
            let detail = *seen
                .entry(memo_key(&out, view.source_v4, method, path))
                .or_insert_with(|| report.detail(self.detail(&view, &out)));
            report.answer(SampleKind::Request, i, detail);
        }
    }

    fn decide_view(&self, req: &View) -> Outcome {
        if self.fatal.is_some() {
            return Outcome::tls(Cause::Fatal);
        }
        let Ok(source) = req.source else {
            return Outcome::tls(Cause::BadSource);
        };
        let peer = if self.dual_stack {
            source.mapped()
        } else {
            source
        };
        let mut out = self.decide_inner(req, peer);
        out.peer = Some(peer);
        if self.dual_stack_derived
            && !source.v6
            && out.depends.members | out.depends.resolve | ip_checked(&out)
        {
            out.depends.dual_stack = self.listen.as_ref().is_some_and(|l| l.wildcard);
        }
        out
    }

    fn decide_inner(&self, req: &View, peer: Ip) -> Outcome {
        // 4.B: the transport.
        let https = match req.scheme {
            None => self.https,
            Some(Ok(https)) => https,
            Some(Err(_)) => return Outcome::tls(Cause::BadScheme),
        };
        if https != self.https {
            return Outcome::tls(if self.https {
                Cause::PlainToTls
            } else {
                Cause::TlsToPlain
            });
        }
        let mut valid_cert = false;
        if self.https && self.cert_mode != CertMode::None {
            match req.client_cert {
                CertPresence::None if self.cert_mode == CertMode::Required => {
                    return Outcome::tls(Cause::NoClientCert);
                }
                CertPresence::None => {}
                CertPresence::Untrusted => {
                    return Outcome::tls(Cause::UntrustedCert(self.cert_mode));
                }
                CertPresence::Trusted if self.cafile.is_none() => {
                    return Outcome::tls(Cause::NoCaFile(self.cert_mode));
                }
                CertPresence::Trusted => valid_cert = true,
            }
        }
        // 4.C: routing.
        let handler = match req
            .route
            .unwrap_or_else(|| route(req.method, req.path, self.version))
        {
            Route::BadRequest => {
                return Outcome::new(false, Some(400), Stage::Access, Cause::BadRequest);
            }
            Route::NotImplemented => {
                return Outcome::new(false, Some(501), Stage::Access, Cause::NotImplemented);
            }
            Route::Handler(h) => h,
        };
        let members_check = match handler.guard(self.version) {
            Guard::Safe => return Outcome::new(true, None, Stage::Passed, Cause::Safe(handler)),
            Guard::Unchecked => {
                let mut out = Outcome::new(true, None, Stage::Passed, Cause::Unchecked(handler));
                out.depends.version = !self.version_given || self.version.is_future();
                return out;
            }
            Guard::Checked { members } => members && self.include_members,
        };
        let mut depends = Depends {
            version: handler == Handler::PostMpp
                && (!self.version_given || self.version.is_future()),
            ..Depends::default()
        };
        // 4.D: check_access.
        let ip_check = self.allowlist.restricts() || members_check;
        if ip_check {
            let mut allowed = self.allowlist.nets.iter().any(|(_, n)| n.contains(peer));
            if !allowed && members_check {
                match &self.members.ips {
                    None => depends.members = true,
                    Some(ips) => {
                        allowed = ips.iter().any(|ip| ip.host_net().contains(peer));
                        depends.resolve |= !allowed && !self.members.unknown_names.is_empty();
                    }
                }
            }
            if !allowed {
                depends.resolve |= !self.allowlist.unknown_names.is_empty();
                let cause = Cause::IpDenied {
                    handler,
                    members: members_check,
                };
                return Outcome {
                    depends,
                    ..Outcome::new(false, Some(403), Stage::Access, cause)
                };
            }
        }
        if self.demands_cert && !valid_cert {
            return Outcome {
                depends,
                ..Outcome::new(
                    false,
                    Some(403),
                    Stage::Access,
                    Cause::CertRequired(handler),
                )
            };
        }
        let cert_replaced_auth = valid_cert && self.version.cert_replaces_basic_auth();
        if let Some(secret) = self.auth.as_ref().filter(|_| !cert_replaced_auth) {
            let failed = match req.auth {
                RequestAuth::None => Some(Cause::NoAuthHeader(handler)),
                RequestAuth::Invalid => Some(Cause::NotAuthenticated(handler)),
                RequestAuth::Valid => None,
                RequestAuth::Basic(c) => (!secret.matches(&c.username, &c.password))
                    .then_some(Cause::NotAuthenticated(handler)),
            };
            if let Some(cause) = failed {
                return Outcome {
                    depends,
                    ..Outcome::new(false, Some(401), Stage::Access, cause)
                };
            }
        }
        let cause = Cause::Passed {
            handler,
            ip: ip_check,
            cert: self.demands_cert,
            auth: self.auth.is_some() && !cert_replaced_auth,
            cert_replaced_auth: cert_replaced_auth && self.auth.is_some(),
        };
        Outcome {
            depends,
            ..Outcome::new(true, None, Stage::Passed, cause)
        }
    }

    /// The decision for sample `index`.
    pub fn decision(&self, index: usize, req: &HttpRequest, out: &Outcome) -> Decision {
        let d = self.detail(&View::of_request(req), out);
        Decision {
            kind: SampleKind::Request,
            index: index as u32,
            verdict: d.verdict,
            status: d.status,
            stage: d.stage,
            location: d.location,
            method: d.method,
            reason: d.reason,
            depends_on: d.depends_on,
        }
    }

    /// Decides and renders in one step.
    pub fn decide_request(&self, index: usize, req: &HttpRequest) -> Decision {
        let out = self.decide(req);
        self.decision(index, req, &out)
    }

    /// Stage, location, reason and dependencies of an outcome.
    fn detail(&self, req: &View, out: &Outcome) -> DecisionDetail {
        let (reason, key) = self.reason(req, out);
        let mut depends_on = Vec::new();
        if out.depends.members {
            depends_on.push("members".to_string());
        }
        if out.depends.resolve {
            depends_on.push("resolve".to_string());
        }
        if out.depends.version {
            depends_on.push("patroni_version".to_string());
        }
        if out.depends.dual_stack {
            depends_on.push("dual_stack".to_string());
        }
        DecisionDetail {
            verdict: if out.allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            status: out.status,
            stage: out.stage.as_str().to_string(),
            // File and line only: decisions are reported by line.
            location: Some(Location {
                file: self.file.clone(),
                line: key.location.line,
                end_line: None,
                pointer: None,
            }),
            method: None,
            reason,
            depends_on,
        }
    }

    fn reason(&self, req: &View, out: &Outcome) -> (String, &Key) {
        let k = &self.keys;
        let mut r = String::with_capacity(160);
        let key = match out.cause {
            Cause::Fatal => {
                let (why, key) = self
                    .fatal
                    .as_ref()
                    .map_or(("Patroni does not start", &k.restapi), |(w, k)| {
                        (w.as_str(), k)
                    });
                push(&mut r, &[why, " (", &key.label, "); nothing answers"]);
                key
            }
            Cause::BadSource => {
                push(
                    &mut r,
                    &[
                        "source `",
                        req.source.err().unwrap_or(""),
                        "` is not an IP address",
                    ],
                );
                &k.restapi
            }
            Cause::BadScheme => {
                push(
                    &mut r,
                    &[
                        "scheme `",
                        match req.scheme {
                            Some(Err(s)) => s,
                            _ => "",
                        },
                        "` is neither http nor https",
                    ],
                );
                &k.restapi
            }
            Cause::PlainToTls => {
                push(
                    &mut r,
                    &[
                        "plain HTTP to a TLS listener (",
                        &k.certfile.label,
                        "): the TLS handshake fails, no HTTP response",
                    ],
                );
                &k.certfile
            }
            Cause::TlsToPlain => {
                push(
                    &mut r,
                    &[
                        "HTTPS to a plain-HTTP listener (",
                        &k.certfile.label,
                        " is not set): the TLS handshake fails",
                    ],
                );
                &k.certfile
            }
            Cause::NoClientCert => {
                push(
                    &mut r,
                    &[
                        &k.verify_client.label,
                        " is required: the TLS handshake fails without a client certificate, for every request",
                    ],
                );
                &k.verify_client
            }
            Cause::UntrustedCert(mode) => {
                push(
                    &mut r,
                    &[
                        &k.verify_client.label,
                        " is ",
                        mode_name(mode),
                        ": a client certificate that does not verify against ",
                        &k.cafile.label,
                        " fails the TLS handshake, GET included",
                    ],
                );
                &k.verify_client
            }
            Cause::NoCaFile(mode) => {
                push(
                    &mut r,
                    &[
                        &k.verify_client.label,
                        " is ",
                        mode_name(mode),
                        " but restapi.cafile is not set: no CA is loaded, so no client certificate verifies and the TLS handshake fails",
                    ],
                );
                &k.cafile
            }
            Cause::BadRequest => {
                push(
                    &mut r,
                    &[
                        "`",
                        req.method,
                        " ",
                        req.path,
                        "` is not a valid request line: 400 Bad request",
                    ],
                );
                &k.restapi
            }
            Cause::NotImplemented => {
                push(
                    &mut r,
                    &[
                        "no handler for `",
                        req.method,
                        " ",
                        req.path,
                        "`: 501 Unsupported method, before any access check",
                    ],
                );
                &k.restapi
            }
            Cause::Safe(h) => {
                push(
                    &mut r,
                    &[
                        h.describe(),
                        " is a safe endpoint: no IP, certificate or password check",
                    ],
                );
                if self.https && self.cert_mode != CertMode::None {
                    push(
                        &mut r,
                        &["; the TLS handshake passed ", &k.verify_client.label],
                    );
                    &k.verify_client
                } else {
                    push(&mut r, &[" in ", &k.restapi.label]);
                    &k.restapi
                }
            }
            Cause::Unchecked(h) => {
                push(
                    &mut r,
                    &[
                        h.describe(),
                        " has no access check in Patroni 3.3.0 to 4.1.5 (fixed by PR #3722): ",
                        &k.allowlist.label,
                        ", the client certificate and ",
                        &k.authentication.label,
                        " do not apply",
                    ],
                );
                &k.restapi
            }
            Cause::IpDenied { handler, members } => {
                push(&mut r, &[handler.describe(), ": source "]);
                push_ip(&mut r, out.peer);
                if out.peer.is_some_and(|p| p.v6) && self.dual_stack && req.source_v4 {
                    r.push_str(" (an IPv4 client on a dual-stack listener)");
                }
                push(&mut r, &[" is not in ", &k.allowlist.label]);
                if members {
                    push(&mut r, &[" nor a member (", &k.include_members.label, ")"]);
                    if out.depends.members {
                        r.push_str(
                            "; allowed only if it is a cluster member, and the members are unknown",
                        );
                    }
                }
                r.push_str(": 403 Access is denied");
                if self.allowlist.restricts() || !members {
                    &k.allowlist
                } else {
                    &k.include_members
                }
            }
            Cause::CertRequired(h) => {
                push(
                    &mut r,
                    &[
                        h.describe(),
                        ": ",
                        &k.verify_client.label,
                        " demands a verified client certificate for unsafe endpoints: 403 client certificate required",
                    ],
                );
                &k.verify_client
            }
            Cause::NoAuthHeader(h) => {
                push(
                    &mut r,
                    &[
                        h.describe(),
                        ": ",
                        &k.authentication.label,
                        " is set and the request has no Authorization header: 401 no auth header received",
                    ],
                );
                &k.authentication
            }
            Cause::NotAuthenticated(h) => {
                push(
                    &mut r,
                    &[
                        h.describe(),
                        ": the Authorization header does not match ",
                        &k.authentication.label,
                        ": 401 not authenticated",
                    ],
                );
                &k.authentication
            }
            Cause::Passed {
                handler,
                ip,
                cert,
                auth,
                cert_replaced_auth,
            } => {
                push(&mut r, &[handler.describe(), " passes check_access"]);
                let mut last = &k.restapi;
                if !(ip || cert || auth) {
                    push(
                        &mut r,
                        &[
                            ": no allowlist, no client-certificate demand and no authentication in ",
                            &k.restapi.label,
                        ],
                    );
                }
                if ip {
                    r.push_str(": source ");
                    push_ip(&mut r, out.peer);
                    push(&mut r, &[" allowed by ", &k.allowlist.label]);
                    last = &k.allowlist;
                }
                if cert {
                    push(
                        &mut r,
                        &[
                            "; client certificate verified (",
                            &k.verify_client.label,
                            ")",
                        ],
                    );
                    last = &k.verify_client;
                }
                if auth {
                    push(&mut r, &["; credentials match ", &k.authentication.label]);
                    last = &k.authentication;
                }
                if cert_replaced_auth {
                    r.push_str("; before 2.0.0 a valid client certificate replaces basic auth");
                }
                last
            }
        };
        (r, key)
    }
}

/// Everything the rendered detail of `out` depends on, packed: the outcome without the
/// peer, the source's family, and the peer only where the reason prints it (a denied or
/// allowlisted address) or the request line where it quotes it (400, 501). Two requests
/// with the same key get the same detail; a few integers hash far faster than `Outcome`.
fn memo_key(out: &Outcome, source_v4: bool, method: u32, path: u32) -> (u64, u128) {
    fn mode(m: CertMode) -> u64 {
        match m {
            CertMode::None => 0,
            CertMode::Optional => 1,
            CertMode::Required => 2,
        }
    }
    let h = |h: Handler| h as u64;
    // cause: code in bits 0..5, payload from bit 5 (handler 8 bits, then flags).
    let (cause, payload, printed) = match out.cause {
        Cause::Fatal => (0, 0, None),
        Cause::BadSource => (1, 0, None),
        Cause::BadScheme => (2, 0, None),
        Cause::PlainToTls => (3, 0, None),
        Cause::TlsToPlain => (4, 0, None),
        Cause::NoClientCert => (5, 0, None),
        Cause::UntrustedCert(m) => (6, mode(m), None),
        Cause::NoCaFile(m) => (7, mode(m), None),
        Cause::BadRequest => (8, 0, Some(((method as u128) << 32) | path as u128)),
        Cause::NotImplemented => (9, 0, Some(((method as u128) << 32) | path as u128)),
        Cause::Safe(x) => (10, h(x), None),
        Cause::Unchecked(x) => (11, h(x), None),
        Cause::IpDenied { handler, members } => (
            12,
            h(handler) | (members as u64) << 8,
            out.peer.map(|p| p.bits),
        ),
        Cause::CertRequired(x) => (13, h(x), None),
        Cause::NoAuthHeader(x) => (14, h(x), None),
        Cause::NotAuthenticated(x) => (15, h(x), None),
        Cause::Passed {
            handler,
            ip,
            cert,
            auth,
            cert_replaced_auth,
        } => (
            16,
            h(handler)
                | (ip as u64) << 8
                | (cert as u64) << 9
                | (auth as u64) << 10
                | (cert_replaced_auth as u64) << 11,
            if ip { out.peer.map(|p| p.bits) } else { None },
        ),
    };
    let stage = match out.stage {
        Stage::Tls => 0,
        Stage::Access => 1,
        Stage::Passed => 2,
    };
    let d = out.depends;
    let key = cause
        | payload << 5
        | (out.allow as u64) << 17
        | (out.status.map_or(0, |s| s as u64 + 1)) << 18
        | stage << 35
        | (d.members as u64) << 37
        | (d.resolve as u64) << 38
        | (d.version as u64) << 39
        | (d.dual_stack as u64) << 40
        | (source_v4 as u64) << 41
        | (out.peer.is_some_and(|p| p.v6) as u64) << 42
        | (printed.is_some() as u64) << 43;
    (key, printed.unwrap_or(0))
}

fn ip_checked(out: &Outcome) -> bool {
    matches!(
        out.cause,
        Cause::IpDenied { .. } | Cause::Passed { ip: true, .. }
    )
}

fn mode_name(mode: CertMode) -> &'static str {
    match mode {
        CertMode::None => "none",
        CertMode::Optional => "optional",
        CertMode::Required => "required",
    }
}

fn push(r: &mut String, parts: &[&str]) {
    for p in parts {
        r.push_str(p);
    }
}

/// Writes an address; IPv4 without the formatting machinery (it is in most reasons).
fn push_ip(r: &mut String, ip: Option<Ip>) {
    use std::fmt::Write;
    let Some(ip) = ip else { return };
    if ip.v6 {
        let _ = write!(r, "{ip}");
        return;
    }
    for (i, octet) in (ip.bits as u32).to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            r.push('.');
        }
        if octet >= 100 {
            r.push((b'0' + octet / 100) as char);
        }
        if octet >= 10 {
            r.push((b'0' + octet / 10 % 10) as char);
        }
        r.push((b'0' + octet % 10) as char);
    }
}

/// The peer address: an IP, with an IPv6 scope dropped and brackets tolerated.
fn parse_source(text: &str) -> Option<Ip> {
    let t = text.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    Ip::parse(t)
}
