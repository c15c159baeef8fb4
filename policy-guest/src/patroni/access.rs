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
//! the location of the key that decided.

use super::addr::Ip;
use super::config::{CertMode, Key, RestApi};
use super::route::{Guard, Handler, Route, route};
use crate::{CertPresence, Decision, HttpRequest, Location, RequestAuth, SampleKind, Verdict};

/// Where the request stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depends {
    pub members: bool,
    pub resolve: bool,
    pub version: bool,
    pub dual_stack: bool,
}

/// The decision as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        if self.fatal.is_some() {
            return Outcome::tls(Cause::Fatal);
        }
        let Some(source) = parse_source(&req.source) else {
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

    fn decide_inner(&self, req: &HttpRequest, peer: Ip) -> Outcome {
        // 4.B: the transport.
        let https = match req.scheme.as_deref() {
            None => self.https,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(_) => return Outcome::tls(Cause::BadScheme),
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
        let handler = match route(&req.method, &req.path, self.version) {
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
            let failed = match &req.auth {
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

    /// The decision record for sample `index`.
    pub fn decision(&self, index: usize, req: &HttpRequest, out: &Outcome) -> Decision {
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
        Decision {
            kind: SampleKind::Request,
            index: index as u32,
            verdict: if out.allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            status: out.status,
            stage: out.stage.as_str().to_string(),
            // File and line only: the pointer would cost one more allocation per sample
            // and decisions are reported by line.
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

    /// Decides and renders in one step.
    pub fn decide_request(&self, index: usize, req: &HttpRequest) -> Decision {
        let out = self.decide(req);
        self.decision(index, req, &out)
    }

    fn reason(&self, req: &HttpRequest, out: &Outcome) -> (String, &Key) {
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
                push(&mut r, &["source `", &req.source, "` is not an IP address"]);
                &k.restapi
            }
            Cause::BadScheme => {
                push(
                    &mut r,
                    &[
                        "scheme `",
                        req.scheme.as_deref().unwrap_or(""),
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
                        &req.method,
                        " ",
                        &req.path,
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
                        &req.method,
                        " ",
                        &req.path,
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
                if out.peer.is_some_and(|p| p.v6) && self.dual_stack && !req.source.contains(':') {
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
