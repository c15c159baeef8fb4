//! `patrol verify`: compares the simulation with the live deployment. From the configs
//! ([`endpoints`]) it takes the addresses of the Patroni REST API, PostgreSQL, PgBouncer,
//! etcd and HAProxy (or `--target`), sends probes that change nothing ([`patroni`],
//! [`pg`]; etcd and HAProxy only get a TCP connect), simulates the same requests and
//! connections from the source address each probe left from, with the same policies as
//! `patrol simulate`, and turns every disagreement into a `verify/…` finding that names
//! the file:line the simulation decided by and the server's answer ([`compare`]).
//!
//! Safety: probes go only to the addresses the configs or `--target` name, one
//! connection at a time and at most one per `--interval-ms`, none after `--max-time`;
//! no password or `Authorization` header is ever sent; a client certificate only from
//! the files `--client-cert`/`--client-key` name.

pub mod certs;
pub mod compare;
pub mod dcs;
pub mod endpoints;
pub mod net;
pub mod patroni;
pub mod pg;

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::run::Severity;
use endpoints::{Endpoint, Service, Skipped};

/// A certificate chain as a server served it: DER, leaf first.
pub type Chain = Vec<Vec<u8>>;

/// The policy name of verify's findings (`verify/drift-hba`).
pub const POLICY: &str = "verify";

/// A finding code of `patrol verify`.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub help: &'static str,
}

/// Every code `patrol verify` reports (docs/codes.md lists them).
pub const CODES: &[Code] = &[
    Code {
        code: "drift-restapi",
        severity: Severity::High,
        summary: "the live Patroni REST API decides a request otherwise than its config file: it lets through what the file refuses (high) or refuses what the file lets through (medium)",
        help: "The running Patroni does not run the checked `restapi` section: reload it (`patronictl reload`, SIGHUP) or bring the file in line with what runs; the finding names the line the file decides by and the server's answer.",
    },
    Code {
        code: "drift-tls",
        severity: Severity::Medium,
        summary: "the live TLS handshake differs from the config file: TLS where the file has none, none where it has some, or a client certificate demanded otherwise",
        help: "Reload the server with the checked TLS settings (`restapi.certfile`, `verify_client`), or bring the file in line with what runs.",
    },
    Code {
        code: "drift-hba",
        severity: Severity::High,
        summary: "the live PostgreSQL or PgBouncer answers a connection otherwise than the checked pg_hba.conf (or auth_type): another method, a refusal, or a session opened without a password (high when the live side is more open)",
        help: "The server runs another pg_hba.conf than the checked one (edited in the data directory, or not reloaded): `SELECT * FROM pg_hba_file_rules`, then reload the checked file or bring it in line.",
    },
    Code {
        code: "drift-dcs",
        severity: Severity::High,
        summary: "the live dynamic configuration (`GET /config`, the DCS) differs from the YAML's `bootstrap.dcs`: a key changed or added at run time (a command-bearing key such as `archive_command` is code execution as postgres)",
        help: "Someone changed the DCS (`patronictl edit-config`, `PATCH /config`, a DCS write): review the live value, then put it back (`patronictl edit-config`) or into the YAML so that the files say what runs.",
    },
    Code {
        code: "drift-cert",
        severity: Severity::Medium,
        summary: "the live REST API serves another certificate than the file `restapi.certfile` names (rotated on one side only)",
        help: "Deploy the checked certificate (and reload Patroni), or check in the one that runs; the message names both by subject, serial and expiry.",
    },
    Code {
        code: "served-cert",
        severity: Severity::High,
        summary: "the certificate the live REST API serves is outside its validity period (high) or does not name the address it is reached at (medium)",
        help: "Issue a certificate for the connect address (IP SAN for an address, DNS SAN for a name) with a current validity period, and reload Patroni.",
    },
    Code {
        code: "unexpected-answer",
        severity: Severity::Medium,
        summary: "a server answered a probe in a way no documented handler path gives (the probe's harmlessness rests on that path)",
        help: "Check the server's version and logs; patrol's probes are chosen from Patroni 4.1.5's and PostgreSQL's documented answers.",
    },
    Code {
        code: "unreachable",
        severity: Severity::High,
        summary: "an endpoint the configs (or `--target`) name cannot be reached: nothing there was verified (exit 3)",
        help: "Run verify from a host that reaches the endpoint, give its reachable address with `--target NAME=HOST:PORT`, or check that the server runs.",
    },
];

/// What a server answered a probe (or why nothing was sent).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum Live {
    NotSent(String),
    Unreachable(String),
    TlsError(String),
    /// A TCP connection was accepted (etcd, HAProxy: nothing more is sent).
    Connected,
    Http(net::Answer),
    Pg(pg::PgAnswer),
}

/// One probe and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRecord {
    /// Index in [`Verification::endpoints`].
    pub endpoint: usize,
    pub probe: String,
    /// Sent with the `--client-cert` certificate.
    pub client_cert: bool,
    pub sent: bool,
    /// This machine's address on the connection: the source the server saw.
    pub source: Option<IpAddr>,
    pub live: Live,
    /// What the files say (the simulation's decision), when simulated.
    pub simulated: Option<String>,
    /// Whether both sides agree; none when not compared (not sent, not simulated).
    pub agrees: Option<bool>,
    /// An answer outside the probe's documented ones.
    pub unexpected: Option<String>,
    /// Something the user should know (a session opened by `trust`).
    pub note: Option<String>,
}

impl ProbeRecord {
    fn new(endpoint: usize, probe: String, client_cert: bool) -> ProbeRecord {
        ProbeRecord {
            endpoint,
            probe,
            client_cert,
            sent: false,
            source: None,
            live: Live::NotSent(String::new()),
            simulated: None,
            agrees: None,
            unexpected: None,
            note: None,
        }
    }
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct Options {
    pub interval: Duration,
    pub max_time: Duration,
    pub timeout: Duration,
    pub client_cert: Option<net::ClientCert>,
    pub no_delete: bool,
}

/// Everything verify saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    pub endpoints: Vec<Endpoint>,
    pub skipped: Vec<Skipped>,
    pub probes: Vec<ProbeRecord>,
    /// What could not be compared, and why (a configured certificate not found, …).
    pub notes: Vec<String>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub endpoints: usize,
    pub probes_sent: usize,
    pub agree: usize,
    pub drift: usize,
    pub not_compared: usize,
    pub unreachable: usize,
    pub sessions_opened: usize,
    /// Keys of the live dynamic configuration (`GET /config`) equal to the YAML's
    /// `bootstrap.dcs`, and keys that differ.
    pub dcs_keys_agree: usize,
    pub dcs_keys_drift: usize,
}

/// The probes, without sending them (`--dry-run` lists these).
pub fn planned(
    endpoints: &[Endpoint],
    attempts: &[pg::Attempt],
    with_cert: bool,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, ep) in endpoints.iter().enumerate() {
        match ep.service {
            Service::Patroni => {
                let passes = if ep.tls && with_cert { 2 } else { 1 };
                for pass in 0..passes {
                    for p in patroni::PROBES {
                        let cert = if pass == 1 {
                            " with the client certificate"
                        } else {
                            ""
                        };
                        out.push((i, format!("{}{cert}", p.label())));
                    }
                }
            }
            Service::Postgresql | Service::Pgbouncer => {
                out.extend(attempts.iter().map(|a| (i, a.label())));
            }
            Service::Etcd | Service::Haproxy => out.push((i, "TCP connect (nothing sent)".into())),
        }
    }
    out
}

/// Sends every probe, endpoint by endpoint; the served certificate chains by endpoint.
pub fn probe(
    endpoints: &[Endpoint],
    attempts: &[pg::Attempt],
    options: &Options,
) -> (Vec<ProbeRecord>, Vec<Option<Chain>>) {
    let mut pacer = net::Pacer::new(options.interval, options.max_time, options.timeout);
    let mut records = Vec::new();
    let mut served = vec![None; endpoints.len()];
    for (i, ep) in endpoints.iter().enumerate() {
        match ep.service {
            Service::Patroni => records.extend(patroni::run(
                i,
                ep,
                &mut pacer,
                options.client_cert.as_ref(),
                options.no_delete,
                &mut served[i],
            )),
            Service::Postgresql | Service::Pgbouncer => {
                for a in attempts {
                    let r = pg::run(i, ep, &mut pacer, a);
                    let unreachable = matches!(r.live, Live::Unreachable(_));
                    records.push(r);
                    // One refused connection says it: the other attempts would only repeat it.
                    if unreachable {
                        break;
                    }
                }
            }
            Service::Etcd | Service::Haproxy => {
                let mut r = ProbeRecord::new(i, "TCP connect (nothing sent)".into(), false);
                match net::connect(&mut pacer, &ep.host, ep.port) {
                    Ok(s) => {
                        r.sent = true;
                        r.source = net::source(&s);
                        r.live = Live::Connected;
                    }
                    Err(e) if e.starts_with("not sent") => r.live = Live::NotSent(e),
                    Err(e) => {
                        r.sent = true;
                        r.live = Live::Unreachable(e);
                    }
                }
                records.push(r);
            }
        }
    }
    for r in &mut records {
        if let Live::Pg(pg::PgAnswer::Method { method }) = &r.live
            && method == "trust"
        {
            r.note = Some("the server opened a session without a password; patrol closed it at once and sent nothing".into());
        }
    }
    (records, served)
}

/// The findings of the records themselves: an unreachable endpoint (once), an answer
/// outside a probe's documented ones.
pub fn record_findings(
    endpoints: &[Endpoint],
    records: &[ProbeRecord],
) -> Vec<crate::run::Finding> {
    let mut out = Vec::new();
    let mut reported = std::collections::BTreeSet::new();
    let code = |c: &str| CODES.iter().find(|x| x.code == c).copied();
    for r in records {
        let ep = &endpoints[r.endpoint];
        let (c, message) = match (&r.live, &r.unexpected) {
            (Live::Unreachable(why), _) if reported.insert(r.endpoint) => (
                "unreachable",
                format!(
                    "{} {} ({} `{}`) cannot be reached: {why}",
                    ep.service.name(),
                    ep.address(),
                    ep.origin(),
                    ep.key
                ),
            ),
            (_, Some(u)) => (
                "unexpected-answer",
                format!("{} {}: {u}", ep.service.name(), ep.address()),
            ),
            _ => continue,
        };
        let Some(c) = code(c) else { continue };
        out.push(crate::run::Finding {
            policy: POLICY.into(),
            code: c.code.into(),
            severity: c.severity,
            message,
            file: ep.file.clone(),
            line: ep.line,
            end_line: None,
            pointer: None,
            remediation: c.help.into(),
            patch: None,
            fix_withheld: None,
        });
    }
    out
}

/// Counts what happened.
pub fn summarize(
    endpoints: Vec<Endpoint>,
    skipped: Vec<Skipped>,
    probes: Vec<ProbeRecord>,
    dcs: (usize, usize),
) -> Verification {
    let unreachable: std::collections::BTreeSet<usize> = probes
        .iter()
        .filter(|r| matches!(r.live, Live::Unreachable(_)))
        .map(|r| r.endpoint)
        .collect();
    let summary = Summary {
        endpoints: endpoints.len(),
        probes_sent: probes.iter().filter(|r| r.sent).count(),
        agree: probes.iter().filter(|r| r.agrees == Some(true)).count(),
        drift: probes.iter().filter(|r| r.agrees == Some(false)).count(),
        not_compared: probes
            .iter()
            .filter(|r| r.sent && r.agrees.is_none())
            .count(),
        unreachable: unreachable.len(),
        sessions_opened: probes.iter().filter(|r| r.note.is_some()).count(),
        dcs_keys_agree: dcs.0,
        dcs_keys_drift: dcs.1,
    };
    Verification {
        endpoints,
        skipped,
        probes,
        notes: Vec::new(),
        summary,
    }
}

/// One line of counts.
pub fn summary_line(s: &Summary) -> String {
    format!(
        "verify: {} endpoints, {} probes sent: {} agree, {} drift, {} not compared; {} endpoints unreachable; dynamic config: {} keys agree, {} differ; {} sessions opened by trust (closed at once)",
        s.endpoints,
        s.probes_sent,
        s.agree,
        s.drift,
        s.not_compared,
        s.unreachable,
        s.dcs_keys_agree,
        s.dcs_keys_drift,
        s.sessions_opened
    )
}

/// The text format's probe table: one line per probe, the server's answer and the files'.
pub fn text_lines(v: &Verification) -> Vec<String> {
    let mut out = Vec::new();
    for (i, ep) in v.endpoints.iter().enumerate() {
        out.push(format!(
            "{} {} ({} {})",
            ep.service.name(),
            ep.address(),
            ep.origin(),
            ep.key
        ));
        for r in v.probes.iter().filter(|r| r.endpoint == i) {
            let mark = match r.agrees {
                Some(true) => "agree",
                Some(false) => "DRIFT",
                None if r.sent => "-",
                None => "not sent",
            };
            let cert = if r.client_cert { " +cert" } else { "" };
            let live = match &r.live {
                Live::Http(a) => format!(
                    "{} {}",
                    a.status,
                    a.body.trim().chars().take(60).collect::<String>()
                ),
                Live::TlsError(e) => format!("TLS failure: {e}"),
                Live::Pg(a) => a.describe(),
                Live::Connected => "connected".into(),
                Live::Unreachable(e) | Live::NotSent(e) => e.clone(),
            };
            out.push(format!(
                "  {mark:<8} {}{cert}: server {}",
                r.probe,
                live.replace('\n', " ")
            ));
            if let Some(sim) = &r.simulated {
                out.push(format!("           files: {}", sim.replace('\n', " ")));
            }
            if let Some(n) = &r.note {
                out.push(format!("           note: {n}"));
            }
        }
    }
    out.push(summary_line(&v.summary));
    out
}
