//! Today's decision on each required flow, by the same policies and simulation as
//! `patrol simulate`.
//!
//! Each member that serves flows is decided on its own: the policies that answer samples
//! run over that member's files only (so a pg_hba.conf of another member or cluster
//! never answers), with the flows as samples. The host then adds what the samples cannot
//! say: a `peer` login is refused when the connecting OS user is known and is not the
//! role; a `scram-sha-256` login needs the role's password storage; a flow whose source
//! or serving end is not among the inputs is `unknown`. A DCS flow is decided from its
//! link: both ends known and speaking the same scheme.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::run::{self, Outcome, Plan, Verdict};
use crate::samples::{Auth, Batch, Request, Samples};
use crate::wit;

use super::{endpoint, roles};

/// A flow's verdict: allowed, refused, or not decidable from the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowVerdict {
    Allow,
    Deny,
    Unknown,
}

impl FlowVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowVerdict::Allow => "allow",
            FlowVerdict::Deny => "deny",
            FlowVerdict::Unknown => "unknown",
        }
    }
}

/// The decision on one required flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowDecision {
    pub verdict: FlowVerdict,
    /// The rule or key that decided (a pg_hba line, `restapi.allowlist`).
    pub file: Option<String>,
    pub line: Option<u32>,
    pub method: Option<String>,
    pub reason: String,
    /// The policy that answered; none when the host decided.
    pub policy: Option<String>,
}

fn host(verdict: FlowVerdict, reason: impl Into<String>) -> FlowDecision {
    FlowDecision {
        verdict,
        file: None,
        line: None,
        method: None,
        reason: reason.into(),
        policy: None,
    }
}

/// Decides every flow of `deployment` with the policies of `plan` that answer samples
/// (`outcome` is the plan's own run, which says what each policy reads).
pub fn decide(
    plan: &Plan,
    outcome: &Outcome,
    deployment: &wit::Deployment,
) -> Result<Vec<FlowDecision>> {
    let mut out: Vec<Option<FlowDecision>> = vec![None; deployment.flows.len()];
    // Flows by the member that answers them.
    let mut by_target: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, f) in deployment.flows.iter().enumerate() {
        match (&f.call, &f.target) {
            (wit::FlowCall::Link(l), _) => {
                out[i] = Some(link_decision(deployment.links.get(*l as usize)))
            }
            (_, None) => {
                out[i] = Some(host(
                    FlowVerdict::Unknown,
                    "the server that answers it is not among the inputs",
                ))
            }
            (wit::FlowCall::Connection(c), _) if c.source.is_empty() => {
                out[i] = Some(host(
                    FlowVerdict::Unknown,
                    "the address it comes from is not among the inputs",
                ))
            }
            (wit::FlowCall::Request(r), Some(t)) if r.source.is_none() => {
                out[i] = Some(unknown_source(f, r, t, deployment))
            }
            (_, Some(t)) => by_target
                .entry((f.cluster.clone(), t.clone()))
                .or_default()
                .push(i),
        }
    }
    let policies: Vec<run::PolicyRun> = plan
        .policies
        .iter()
        .filter(|p| {
            let label = p.source.label();
            // A policy whose metadata could not be read runs too: it fails closed.
            outcome
                .policies
                .iter()
                .find(|i| i.source == label)
                .and_then(|i| i.metadata.as_ref())
                .is_none_or(|m| {
                    m.reads
                        .iter()
                        .any(|r| r == "requests" || r == "connections" || r == "*")
                })
        })
        .cloned()
        .collect();
    for ((cluster, target), indexes) in by_target {
        let Some(member) = deployment
            .clusters
            .iter()
            .find(|c| c.name == cluster)
            .and_then(|c| c.members.iter().find(|m| m.name == target))
        else {
            continue;
        };
        let decided = decide_member(plan, &policies, deployment, member, &indexes)?;
        for (i, d) in indexes.into_iter().zip(decided) {
            out[i] = Some(d);
        }
    }
    let decisions = out
        .into_iter()
        .map(|d| d.unwrap_or_else(|| host(FlowVerdict::Unknown, "not decided")))
        .collect::<Vec<_>>();
    // The method each pg_hba record is written with (the decision's method is what the
    // server asks for: `md5` records ask SCRAM-stored roles for SCRAM).
    let mut written: BTreeMap<(String, u32), String> = BTreeMap::new();
    for d in run::documents(plan) {
        if let wit::Body::Hba(rules) = &d.body {
            for r in rules {
                written
                    .entry((r.location.file.clone(), r.location.line))
                    .or_insert_with(|| r.method.clone());
            }
        }
    }
    let context = &plan.samples.context;
    Ok(deployment
        .flows
        .iter()
        .zip(decisions)
        .map(|(f, d)| adjust(f, d, deployment, context, &written))
        .collect())
}

/// Runs the flows served by `member` as samples over its files.
fn decide_member(
    plan: &Plan,
    policies: &[run::PolicyRun],
    deployment: &wit::Deployment,
    member: &wit::Member,
    indexes: &[usize],
) -> Result<Vec<FlowDecision>> {
    // Patroni rewrites pg_hba.conf from its list: a pg_hba.conf next to it is not what
    // the server reads.
    let patroni_writes_hba = plan.files.iter().any(|f| {
        member.files.contains(&f.display)
            && f.kind == crate::formats::Kind::Patroni
            && (f.text.contains("pg_hba:"))
    });
    let files = plan
        .files
        .iter()
        .filter(|f| member.files.contains(&f.display))
        .filter(|f| !(patroni_writes_hba && f.kind == crate::formats::Kind::PgHba))
        .cloned()
        .collect();
    let mut batch = Batch::default();
    let mut connections = Vec::new();
    let mut requests = 0;
    // Sample label → flow position in `indexes`.
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for (k, &i) in indexes.iter().enumerate() {
        match &deployment.flows[i].call {
            wit::FlowCall::Connection(c) => {
                labels.insert(format!("connections[{}]", connections.len()), k);
                connections.push(c.clone());
            }
            wit::FlowCall::Request(r) => {
                let Some(source) = &r.source else { continue };
                labels.insert(format!("requests[{requests}]"), k);
                requests += 1;
                batch.push(&Request {
                    source: endpoint::ip(source),
                    method: &r.method,
                    path: &r.path,
                    https: match r.scheme {
                        1 => Some(false),
                        2 => Some(true),
                        _ => None,
                    },
                    auth: if r.auth == 1 { Auth::Valid } else { Auth::None },
                    client_cert: (r.client_cert == 1).then_some(true),
                });
            }
            wit::FlowCall::Link(_) => {}
        }
    }
    // The member's cluster's version (given or inferred) is the one its flows are
    // decided on, as the run's own answers are.
    let mut context = plan.samples.context.clone();
    if context.postgres_version.is_none() {
        context.postgres_version = deployment
            .clusters
            .iter()
            .find(|c| {
                c.members.iter().any(|m| {
                    m.name == member.name
                        && m.source.file == member.source.file
                        && m.source.line == member.source.line
                })
            })
            .and_then(|c| c.postgres_version.as_ref())
            .map(|f| f.major);
    }
    let sub = Plan {
        files,
        policies: policies.to_vec(),
        settings_by_name: plan.settings_by_name.clone(),
        samples: Samples {
            context,
            requests: batch.finish(),
            request_names: Vec::new(),
            connections,
        },
        limits: plan.limits.clone(),
        verbose: plan.verbose,
        bundle: None,
        certs: plan.certs.clone(),
        reserve_builtin_names: plan.reserve_builtin_names,
        skipped: Vec::new(),
        adopt: Default::default(),
    };
    let outcome = run::run(&sub)?;
    let mut out: Vec<Option<FlowDecision>> = vec![None; indexes.len()];
    for d in &outcome.decisions {
        let Some(&k) = labels.get(&d.sample.to_string()) else {
            continue;
        };
        let this = FlowDecision {
            verdict: match d.verdict {
                Verdict::Allow => FlowVerdict::Allow,
                Verdict::Deny => FlowVerdict::Deny,
            },
            file: d.file.clone(),
            line: d.line,
            method: d.method.clone(),
            reason: d.reason.clone(),
            policy: d.policy.clone(),
        };
        // Every policy that answers must let it through: the first refusal decides.
        match &out[k] {
            Some(prev) if prev.verdict == FlowVerdict::Deny => {}
            _ => out[k] = Some(this),
        }
    }
    Ok(out
        .into_iter()
        .map(|d| d.unwrap_or_else(|| host(FlowVerdict::Deny, "no policy answers this flow")))
        .collect())
}

/// A REST call whose caller's address is unknown (HAProxy's): the access rules cannot be
/// decided, but a client speaking http to an https REST API (or the reverse) fails
/// whatever its address.
fn unknown_source(
    f: &wit::RequiredFlow,
    r: &wit::FlowRequest,
    target: &str,
    deployment: &wit::Deployment,
) -> FlowDecision {
    let served = deployment
        .clusters
        .iter()
        .find(|c| c.name == f.cluster)
        .and_then(|c| c.members.iter().find(|m| m.name == target))
        .and_then(|m| m.restapi.as_ref());
    let want = if r.scheme == 2 { "https" } else { "http" };
    match served.and_then(|e| e.scheme.as_deref()) {
        Some(have) if r.scheme != 0 && have != want => {
            let mut d = host(
                FlowVerdict::Deny,
                format!("the client speaks {want} but the REST API speaks {have}"),
            );
            d.file = served.map(|e| e.source.file.clone());
            d.line = served.map(|e| e.source.line);
            d
        }
        _ => host(
            FlowVerdict::Unknown,
            "the address it comes from is not among the inputs",
        ),
    }
}

/// A DCS flow: both ends known and speaking the same scheme.
fn link_decision(link: Option<&wit::Link>) -> FlowDecision {
    let Some(l) = link else {
        return host(FlowVerdict::Unknown, "no such link");
    };
    let Some(to) = &l.to else {
        return host(
            FlowVerdict::Unknown,
            format!(
                "the server at {} is not among the inputs",
                endpoint::show(&l.target)
            ),
        );
    };
    let want = l.target.scheme.as_deref().unwrap_or("http");
    FlowDecision {
        file: Some(to.file.clone()),
        line: Some(to.line),
        method: Some(want.to_string()),
        policy: None,
        ..match to_scheme(l) {
            Some(have) if have == want => host(
                FlowVerdict::Allow,
                format!(
                    "the server listens with {have} at {}",
                    endpoint::show(&l.target)
                ),
            ),
            Some(have) => host(
                FlowVerdict::Deny,
                format!("the client speaks {want} but the server listens with {have}"),
            ),
            None => host(FlowVerdict::Unknown, "the server's scheme is not known"),
        }
    }
}

/// The scheme of the listener a link reaches.
fn to_scheme(l: &wit::Link) -> Option<String> {
    l.listener.as_ref()?.scheme.clone()
}

/// What the samples cannot say: the OS user of a `peer` login, the password storage a
/// `scram-sha-256` login needs.
fn adjust(
    flow: &wit::RequiredFlow,
    mut d: FlowDecision,
    deployment: &wit::Deployment,
    context: &wit::Context,
    written: &BTreeMap<(String, u32), String>,
) -> FlowDecision {
    let wit::FlowCall::Connection(c) = &flow.call else {
        return d;
    };
    if d.verdict != FlowVerdict::Allow {
        return d;
    }
    // Report the method the record is written with (an `md5` record asks a role whose
    // secret is SCRAM for SCRAM: what the server asks depends on the unknown storage).
    if let (Some(file), Some(line)) = (&d.file, d.line)
        && let Some(m) = written.get(&(file.clone(), line))
    {
        d.method = Some(m.clone());
    }
    let method = d.method.clone();
    match method.as_deref() {
        Some("peer") | Some("ident") if c.source == "local" => match &flow.os_user {
            Some(os) if *os == c.user => {}
            Some(os) if !d.reason.contains("pg_ident map") => {
                d.verdict = FlowVerdict::Deny;
                d.reason = format!(
                    "{}; the client runs as OS user `{os}`, not `{}`",
                    d.reason, c.user
                );
            }
            _ => {
                d.verdict = FlowVerdict::Unknown;
                d.reason = format!("{}; the OS user the client runs as is not known", d.reason);
            }
        },
        Some("scram-sha-256") => {
            let storage = deployment
                .clusters
                .iter()
                .find(|cl| cl.name == flow.cluster)
                .and_then(|cl| cl.roles.iter().find(|r| r.name == c.user))
                .map_or_else(|| roles::storage(&c.user, context), |r| r.password_storage);
            if storage == wit::PasswordStorage::Unknown {
                d.verdict = FlowVerdict::Unknown;
                d.reason = format!(
                    "{}; how the password of `{}` is stored is not known (SCRAM cannot verify an MD5 hash)",
                    d.reason, c.user
                );
            }
        }
        _ => {}
    }
    d
}
