//! The Patroni REST API probes: the safe endpoints, and each protected handler with an
//! input that handler rejects *after* `check_access`, so that a request the server lets
//! through changes nothing. Read from Patroni 4.1.5's `patroni/api.py` (`RestApiHandler`),
//! handler by handler:
//!
//! | probe | body | why nothing happens when access passes | "passed" statuses |
//! |---|---|---|---|
//! | `GET /patroni`, `GET /cluster`, `GET /config`, `OPTIONS /` | – | safe handlers: no access check, read only | any |
//! | `POST /switchover`, `POST /failover` | empty (`Content-Length: 0`) | `do_POST_failover` → `_read_json_content()`: `json.loads('')` raises → `send_error(400)`, the handler returns | 400 |
//! | `PATCH /config`, `PUT /config` | `{` | `_read_json_content()` → 400 before the DCS is read | 400 |
//! | `POST /restart` | `{"schedule": "1970-01-01T00:00:00+00:00"}` | `parse_schedule`: in the past → 422 and `break` before `ha.restart` (paused: 500 "Can't schedule restart in the paused state" first) | 422, 500 |
//! | `DELETE /restart` | – | only sent when `GET /patroni` shows no `scheduled_restart`: `delete_future_restart()` finds none → 404 | 404 |
//! | `DELETE /switchover` | – | only sent when `GET /cluster` shows no `scheduled_switchover`: → 404 "no switchover is scheduled" | 404 |
//! | `POST /citus`, `POST /mpp` | empty | `do_POST_mpp` → `_read_json_content()` → 400 | 400 |
//! | `POST /failsafe` | empty | failsafe mode off → 502 before the body is read; on → `_read_json_content()` → 400 | 400, 502 |
//!
//! "Access refused" is what `check_access` answers: 403 `Access is denied` (allowlist),
//! 403 `client certificate required`, 401 `no auth header received` / `not authenticated`
//! (basic auth); 501 is "no handler". No probe carries an `Authorization` header: with
//! `restapi.authentication` set, an allowed address is answered 401, which is what the
//! simulation predicts for a request without credentials. Never sent: `POST /reinitialize`
//! (its handler calls `ha.reinitialize` even when the body is invalid JSON), `POST
//! /reload` (reloads the config), `POST /sigterm`: no input makes them harmless.
//!
//! The `DELETE` probes read the schedule first, so a schedule made between that read and
//! the probe (milliseconds) would be deleted: say `--no-delete` to leave them out.

use std::net::IpAddr;

use serde_json::Value;

use super::endpoints::Endpoint;
use super::net::{self, ClientCert, Pacer};
use super::{Live, ProbeRecord};

/// One request of the table above.
#[derive(Debug, Clone, Copy)]
pub struct HttpProbe {
    pub method: &'static str,
    pub path: &'static str,
    pub body: Option<&'static str>,
    /// The statuses that mean "access passed, the handler rejected the input"; empty: any.
    pub passed: &'static [u16],
    pub guard: Guard,
}

/// What must be true before a probe is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    None,
    /// `GET /patroni` showed no `scheduled_restart`.
    NoScheduledRestart,
    /// `GET /cluster` showed no `scheduled_switchover`.
    NoScheduledSwitchover,
}

const fn p(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    passed: &'static [u16],
    guard: Guard,
) -> HttpProbe {
    HttpProbe {
        method,
        path,
        body,
        passed,
        guard,
    }
}

/// Every probe, in the order sent (the `GET`s first: they feed the guards).
pub const PROBES: &[HttpProbe] = &[
    p("GET", "/patroni", None, &[], Guard::None),
    p("GET", "/cluster", None, &[], Guard::None),
    p("GET", "/config", None, &[], Guard::None),
    p("OPTIONS", "/", None, &[], Guard::None),
    p("POST", "/switchover", Some(""), &[400], Guard::None),
    p("POST", "/failover", Some(""), &[400], Guard::None),
    p("PATCH", "/config", Some("{"), &[400], Guard::None),
    p("PUT", "/config", Some("{"), &[400], Guard::None),
    p(
        "POST",
        "/restart",
        Some(r#"{"schedule": "1970-01-01T00:00:00+00:00"}"#),
        &[422, 500],
        Guard::None,
    ),
    p(
        "DELETE",
        "/restart",
        None,
        &[404],
        Guard::NoScheduledRestart,
    ),
    p(
        "DELETE",
        "/switchover",
        None,
        &[404],
        Guard::NoScheduledSwitchover,
    ),
    p("POST", "/citus", Some(""), &[400], Guard::None),
    p("POST", "/mpp", Some(""), &[400], Guard::None),
    p("POST", "/failsafe", Some(""), &[400, 502], Guard::None),
];

impl HttpProbe {
    pub fn label(&self) -> String {
        match self.body {
            Some("") => format!("{} {} (empty body)", self.method, self.path),
            Some(b) => format!("{} {} (body `{b}`)", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}

/// `(verdict, status, stage)` as `patrol simulate` states it, from the server's answer:
/// a TLS failure denies at `tls`; `check_access`'s own 401/403, or 501, deny at
/// `access`; any other answer is the handler's (allow, `passed`).
pub fn classify(live: &Live) -> Option<(bool, Option<u16>, &'static str)> {
    match live {
        Live::TlsError(_) => Some((false, None, "tls")),
        Live::Http(a) => {
            let access = match a.status {
                401 => {
                    a.body_full.contains("no auth header received")
                        || a.body_full.contains("not authenticated")
                }
                403 => {
                    a.body_full.contains("Access is denied")
                        || a.body_full.contains("client certificate required")
                }
                501 => true,
                _ => false,
            };
            Some(if access {
                (false, Some(a.status), "access")
            } else {
                (true, None, "passed")
            })
        }
        _ => None,
    }
}

/// Sends every probe to one REST API endpoint, without and (when given) with the client
/// certificate; `no_delete` leaves the `DELETE` probes out.
pub fn run(
    index: usize,
    ep: &Endpoint,
    pacer: &mut Pacer,
    cert: Option<&ClientCert>,
    no_delete: bool,
    served: &mut Option<super::Chain>,
) -> Vec<ProbeRecord> {
    let mut out = Vec::new();
    let certs: Vec<Option<&ClientCert>> = if ep.tls && cert.is_some() {
        vec![None, cert]
    } else {
        vec![None]
    };
    for with in certs {
        let (mut restart_scheduled, mut switchover_scheduled) = (None, None);
        for probe in PROBES {
            let mut record = ProbeRecord::new(index, probe.label(), with.is_some());
            let blocked = match probe.guard {
                Guard::None => None,
                _ if no_delete => Some("left out: `--no-delete`".to_string()),
                Guard::NoScheduledRestart => match restart_scheduled {
                    Some(false) => None,
                    Some(true) => Some("not sent: a restart is scheduled, and DELETE /restart would delete it".into()),
                    None => Some("not sent: GET /patroni did not show whether a restart is scheduled".into()),
                },
                Guard::NoScheduledSwitchover => match switchover_scheduled {
                    Some(false) => None,
                    Some(true) => Some("not sent: a switchover is scheduled, and DELETE /switchover would delete it".into()),
                    None => Some("not sent: GET /cluster did not show whether a switchover is scheduled".into()),
                },
            };
            if let Some(why) = blocked {
                record.live = Live::NotSent(why);
                out.push(record);
                continue;
            }
            let (source, live) = send(ep, pacer, with, probe, served);
            record.source = source;
            record.sent = !matches!(live, Live::NotSent(_));
            if let Live::Http(a) = &live {
                let json: Option<Value> = serde_json::from_str(&a.body).ok();
                let has = |key: &str| json.as_ref().map(|j| j.get(key).is_some());
                match (probe.method, probe.path) {
                    ("GET", "/patroni") if a.status < 500 || json.is_some() => {
                        restart_scheduled = has("scheduled_restart");
                    }
                    ("GET", "/cluster") => switchover_scheduled = has("scheduled_switchover"),
                    _ => {}
                }
                if !probe.passed.is_empty()
                    && !probe.passed.contains(&a.status)
                    && classify(&live).is_some_and(|c| c.0)
                {
                    record.unexpected = Some(format!(
                        "{} answered {} where the handler's rejection is {:?}",
                        probe.label(),
                        a.status,
                        probe.passed
                    ));
                }
            }
            // The safe GETs answer with the cluster's state and dynamic configuration,
            // which may hold secrets the files do not (so the reports cannot scrub them):
            // their bodies stay out of the reports; GET /config is compared, not shown.
            let live = match live {
                Live::Http(mut a) if probe.method == "GET" => {
                    a.body = format!("({} bytes, not shown)", a.body_full.len());
                    Live::Http(a)
                }
                other => other,
            };
            record.live = live;
            out.push(record);
        }
    }
    out
}

fn send(
    ep: &Endpoint,
    pacer: &mut Pacer,
    cert: Option<&ClientCert>,
    probe: &HttpProbe,
    served: &mut Option<super::Chain>,
) -> (Option<IpAddr>, Live) {
    let tcp = match net::connect(pacer, &ep.host, ep.port) {
        Ok(s) => s,
        Err(e) if e.starts_with("not sent") => return (None, Live::NotSent(e)),
        Err(e) => return (None, Live::Unreachable(e)),
    };
    let source = net::source(&tcp);
    let host = ep.address();
    let answer = if ep.tls {
        match net::tls(tcp, &ep.host, cert) {
            Ok((mut s, chain)) => {
                if served.is_none() && !chain.is_empty() {
                    *served = Some(chain);
                }
                net::http(&mut s, &host, probe.method, probe.path, probe.body)
                    .map_err(Live::TlsError)
            }
            Err(e) => Err(Live::TlsError(e)),
        }
    } else {
        let mut s = tcp;
        net::http(&mut s, &host, probe.method, probe.path, probe.body).map_err(|e| {
            // A plain-HTTP request to a TLS listener is closed or answered with TLS bytes.
            Live::TlsError(format!("{e} (does the server speak TLS?)"))
        })
    };
    (
        source,
        match answer {
            Ok(a) => Live::Http(a),
            Err(l) => l,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::net::Answer;

    fn http(status: u16, body: &str) -> Live {
        Live::Http(Answer {
            status,
            body: body.into(),
            body_full: body.into(),
        })
    }

    #[test]
    fn answers_classify_as_the_simulation_states_them() {
        assert_eq!(
            classify(&http(403, "Access is denied")),
            Some((false, Some(403), "access"))
        );
        assert_eq!(
            classify(&http(401, "no auth header received")),
            Some((false, Some(401), "access"))
        );
        assert_eq!(classify(&http(400, "")), Some((true, None, "passed")));
        // A 403 the handler wrote is not check_access's.
        assert_eq!(classify(&http(403, "other")), Some((true, None, "passed")));
        assert_eq!(
            classify(&Live::TlsError("x".into())),
            Some((false, None, "tls"))
        );
    }

    #[test]
    fn no_probe_reaches_a_handler_that_acts() {
        for p in PROBES {
            assert!(
                !matches!(p.path, "/reinitialize" | "/reload" | "/sigterm"),
                "{p:?}"
            );
            if p.method != "GET" && p.method != "OPTIONS" {
                assert!(!p.passed.is_empty(), "{p:?} needs its rejection statuses");
                assert!(!p.passed.iter().any(|s| (200..300).contains(s)), "{p:?}");
            }
        }
    }
}
