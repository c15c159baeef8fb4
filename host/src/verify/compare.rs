//! Simulates every sent probe with the same policies as `patrol simulate` — a request or
//! connection from the source address the probe left from — and compares the decision
//! with the server's answer. Each Patroni YAML is simulated alone (its REST API and its
//! PostgreSQL, with the other files); a PgBouncer's answers are compared with its
//! `auth_type`. A disagreement is a finding at the file:line the simulation decided by.

use std::collections::BTreeMap;

use super::endpoints::{Endpoint, Service};
use super::pg::PgAnswer;
use super::{Live, ProbeRecord, patroni};
use crate::run::{self, Decision, Finding, Plan, Severity, Verdict};
use crate::samples::{Auth, Batch, Request, Samples};
use crate::wit;

/// Fills `simulated`/`agrees` of every record; returns the findings. An error is a
/// policy failure of the simulation (exit 2), in `errors`.
pub fn compare(
    plan: &Plan,
    docs: &[wit::Document],
    endpoints: &[Endpoint],
    records: &mut [ProbeRecord],
    errors: &mut Vec<crate::engine::Failure>,
) -> anyhow::Result<Vec<Finding>> {
    let mut findings = Vec::new();
    // Group the records to simulate by the config their endpoint is simulated with.
    let mut groups: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let ep = &endpoints[r.endpoint];
        let simulated = matches!(ep.service, Service::Patroni | Service::Postgresql);
        if r.source.is_some()
            && simulated
            && matches!(r.live, Live::Http(_) | Live::TlsError(_) | Live::Pg(_))
        {
            groups.entry(ep.config.clone()).or_default().push(i);
        }
    }
    for (config, indexes) in groups {
        let mut batch = Batch::default();
        let mut connections = Vec::new();
        let mut order = Vec::new();
        for &i in &indexes {
            let r = &records[i];
            let ep = &endpoints[r.endpoint];
            let Some(source) = r.source else { continue };
            match ep.service {
                Service::Patroni => {
                    let (method, path) = r.probe.split_once(' ').unwrap_or((&r.probe, "/"));
                    let path = path.split(' ').next().unwrap_or("/");
                    batch.push(&Request {
                        source,
                        method,
                        path,
                        https: Some(ep.tls),
                        auth: Auth::None,
                        client_cert: r.client_cert.then_some(true),
                    });
                    order.push((true, i));
                }
                _ => {
                    let Some(a) = attempt_of(&r.probe) else {
                        continue;
                    };
                    connections.push(wit::Connection {
                        name: None,
                        source: source.to_string(),
                        ssl: a.ssl,
                        client_cert: None,
                        user: a.user,
                        database: a.database,
                        replication: match a.replication.as_str() {
                            "true" => wit::ReplicationMode::Physical,
                            "database" => wit::ReplicationMode::Logical,
                            _ => wit::ReplicationMode::None,
                        },
                    });
                    order.push((false, i));
                }
            }
        }
        let samples = Samples {
            context: plan.samples.context.clone(),
            requests: batch.finish(),
            request_names: Vec::new(),
            connections,
        };
        let outcome = run::run(&sub_plan(plan, config.as_deref(), samples))?;
        errors.extend(outcome.errors.iter().cloned());
        let (mut req, mut conn) = (0usize, 0usize);
        for (is_request, i) in order {
            let label = if is_request {
                req += 1;
                format!("requests[{}]", req - 1)
            } else {
                conn += 1;
                format!("connections[{}]", conn - 1)
            };
            let Some(d) = outcome
                .decisions
                .iter()
                .find(|d| d.sample == *label.as_str())
            else {
                continue;
            };
            let ep = &endpoints[records[i].endpoint];
            let finding = if is_request {
                compare_request(&mut records[i], ep, d)
            } else {
                compare_connection(&mut records[i], ep, d)
            };
            findings.extend(finding);
        }
    }
    for r in records.iter_mut() {
        let ep = &endpoints[r.endpoint];
        match (r.live.clone(), ep.service) {
            (Live::Pg(answer), Service::Pgbouncer) => {
                if let Some((f, agrees, sim)) = compare_pgbouncer(r, &answer, ep, docs) {
                    r.agrees = agrees;
                    r.simulated = Some(sim);
                    findings.extend(f);
                }
            }
            (Live::Connected, _) => {
                r.agrees = Some(true);
                r.simulated = Some(format!(
                    "listening ({} names {})",
                    ep.origin(),
                    ep.address()
                ));
            }
            _ => {}
        }
    }
    Ok(findings)
}

/// The plan of one simulation: the one Patroni YAML `config` (when given) with every
/// file of another kind, and these samples.
fn sub_plan(plan: &Plan, config: Option<&str>, samples: Samples) -> Plan {
    let files = plan
        .files
        .iter()
        .filter(|f| config.is_none_or(|c| f.display == c || f.kind.name() != "patroni"))
        .cloned()
        .collect();
    Plan {
        files,
        policies: plan.policies.clone(),
        settings_by_name: plan.settings_by_name.clone(),
        samples,
        limits: plan.limits.clone(),
        verbose: plan.verbose,
        bundle: None,
        certs: plan.certs.clone(),
        reserve_builtin_names: plan.reserve_builtin_names,
        skipped: Vec::new(),
        adopt: Default::default(),
    }
}

/// The attempt a PostgreSQL probe's label describes (see [`super::pg::Attempt::label`]).
fn attempt_of(label: &str) -> Option<super::pg::Attempt> {
    let rest = label.strip_prefix("startup ")?;
    let mut a = super::pg::Attempt {
        user: String::new(),
        database: String::new(),
        ssl: rest.contains(" over SSL"),
        replication: "false".into(),
    };
    for word in rest.split([' ', ',']) {
        if let Some(v) = word.strip_prefix("user=") {
            a.user = v.to_string();
        } else if let Some(v) = word.strip_prefix("database=") {
            a.database = v.to_string();
        } else if let Some(v) = word.strip_prefix("replication=") {
            a.replication = v.to_string();
        }
    }
    Some(a)
}

fn sim_text(d: &Decision) -> String {
    let at = match (&d.file, d.line) {
        (Some(f), Some(l)) => format!(" at {f}:{l}"),
        _ => String::new(),
    };
    let verdict = match d.verdict {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
    };
    let status = d.status.map(|s| format!(" {s}")).unwrap_or_default();
    let method = d
        .method
        .as_ref()
        .map(|m| format!(" `{m}`"))
        .unwrap_or_default();
    format!("{verdict}{status}{method} [{}]{at}: {}", d.stage, d.reason)
}

fn live_text(live: &Live) -> String {
    match live {
        Live::Http(a) => {
            let body: String = a.body.trim().chars().take(120).collect();
            format!("{} `{}`", a.status, body)
        }
        Live::TlsError(e) => format!("TLS failure: {e}"),
        Live::Pg(a) => a.describe(),
        Live::Connected => "accepted the connection".into(),
        Live::Unreachable(e) | Live::NotSent(e) => e.clone(),
    }
}

fn finding(code: &str, severity: Severity, at: (String, u32), message: String) -> Finding {
    let help = super::CODES
        .iter()
        .find(|c| c.code == code)
        .map_or("", |c| c.help);
    Finding {
        policy: super::POLICY.into(),
        code: code.into(),
        severity,
        message,
        file: at.0,
        line: at.1,
        end_line: None,
        pointer: None,
        remediation: help.into(),
        patch: None,
        fix_withheld: None,
    }
}

fn location(d: &Decision, ep: &Endpoint) -> (String, u32) {
    match (&d.file, d.line) {
        (Some(f), Some(l)) => (f.clone(), l),
        _ => (ep.file.clone(), ep.line),
    }
}

fn compare_request(r: &mut ProbeRecord, ep: &Endpoint, d: &Decision) -> Option<Finding> {
    r.simulated = Some(sim_text(d));
    let (allow, status, stage) = patroni::classify(&r.live)?;
    let sim_allow = d.verdict == Verdict::Allow;
    let agrees = allow == sim_allow && (allow || status == d.status);
    r.agrees = Some(agrees);
    if agrees {
        return None;
    }
    let code = if stage == "tls" || d.stage == "tls" {
        "drift-tls"
    } else {
        "drift-restapi"
    };
    let severity = if allow && !sim_allow {
        Severity::High
    } else {
        Severity::Medium
    };
    let cert = if r.client_cert {
        " with the client certificate"
    } else {
        ""
    };
    Some(finding(
        code,
        severity,
        location(d, ep),
        format!(
            "`{}`{cert} to {} from {}: the files say {} — the server answered {}",
            r.probe,
            ep.address(),
            r.source.map_or("?".into(), |s| s.to_string()),
            sim_text(d),
            live_text(&r.live)
        ),
    ))
}

fn compare_connection(r: &mut ProbeRecord, ep: &Endpoint, d: &Decision) -> Option<Finding> {
    r.simulated = Some(sim_text(d));
    let sim_allow = d.verdict == Verdict::Allow;
    let (agrees, live_open) = match &r.live {
        Live::TlsError(_) => (d.stage == "tls", false),
        Live::Pg(PgAnswer::SslRefused) => (!sim_allow && d.stage == "tls", false),
        Live::Pg(a) if a.no_entry() => (!sim_allow && d.line.is_none() && d.stage == "hba", false),
        Live::Pg(a) => match a.method() {
            Some(m) => {
                let open = m == "trust" && d.method.as_deref() != Some("trust")
                    || !sim_allow && !matches!(m, "reject" | "peer" | "ident" | "cert");
                (d.method.as_deref() == Some(m), open)
            }
            None => {
                r.unexpected = Some(format!("{}: {}", r.probe, a.describe()));
                return None;
            }
        },
        _ => return None,
    };
    r.agrees = Some(agrees);
    if agrees {
        return None;
    }
    Some(finding(
        "drift-hba",
        if live_open {
            Severity::High
        } else {
            Severity::Medium
        },
        location(d, ep),
        format!(
            "{} to {} from {}: the files say {} — the server {}",
            r.probe,
            ep.address(),
            r.source.map_or("?".into(), |s| s.to_string()),
            sim_text(d),
            live_text(&r.live)
        ),
    ))
}

/// PgBouncer: the method its `auth_type` asks for; `hba`, `pam` and unknown types are not
/// compared (no policy simulates PgBouncer's own hba file yet).
type Compared = (Option<Finding>, Option<bool>, String);

fn compare_pgbouncer(
    r: &ProbeRecord,
    answer: &PgAnswer,
    ep: &Endpoint,
    docs: &[wit::Document],
) -> Option<Compared> {
    let doc = docs.iter().find(|d| Some(&d.path) == ep.config.as_ref())?;
    let wit::Body::Settings(list) = &doc.body else {
        return None;
    };
    let setting = list
        .iter()
        .rev()
        .find(|s| s.name == "auth_type" && s.section.as_deref() == Some("pgbouncer"));
    let auth_type = setting.map_or("md5", |s| s.value.trim());
    let line = setting.map_or(ep.line, |s| s.location.line);
    let want: &[&str] = match auth_type {
        "trust" | "any" => &["trust"],
        "plain" => &["password"],
        // PgBouncer asks for SCRAM when the stored secret is a SCRAM one.
        "md5" => &["md5", "scram-sha-256"],
        "scram-sha-256" => &["scram-sha-256"],
        "cert" => &["cert"],
        _ => {
            return Some((
                None,
                None,
                format!(
                    "auth_type `{auth_type}` at {}:{line} (not simulated)",
                    doc.path
                ),
            ));
        }
    };
    let sim = format!(
        "auth_type `{auth_type}` at {}:{line} asks for {}",
        doc.path,
        want.join(" or ")
    );
    let got = answer.method();
    let agrees = got.is_some_and(|m| want.contains(&m));
    let finding = (!agrees).then(|| {
        let open = got == Some("trust");
        finding(
            "drift-hba",
            if open {
                Severity::High
            } else {
                Severity::Medium
            },
            (doc.path.clone(), line),
            format!(
                "{} to PgBouncer {} from {}: the files say {sim} — the server {}",
                r.probe,
                ep.address(),
                r.source.map_or("?".into(), |s| s.to_string()),
                answer.describe()
            ),
        )
    });
    Some((finding, Some(agrees), sim))
}
