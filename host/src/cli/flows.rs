//! `patrol flows`: the connections and calls the deployment itself needs (replication,
//! pg_rewind, Patroni's own connection, HAProxy checks, REST calls between members,
//! PgBouncer's auth_user, the DCS, pg_auto_failover), each with the line that makes it
//! needed and today's decision by the same policies as `patrol simulate`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use super::Exit;
use super::common::{self, InputArgs, PolicyArgs};
use crate::deployment::decide::{self, FlowDecision, FlowVerdict};
use crate::run;
use crate::wit;

/// Exit codes of `patrol flows`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every required flow is allowed (or unknown: its other end is not among the inputs)
  1  some required flow is denied
  2  a policy failed (trap, limit, its own error, invalid settings); wins over 1
  3  usage error, or an input file that cannot be read or understood";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub policies: PolicyArgs,
    /// A samples file whose `context` (members, resolve, password_types, versions)
    /// applies; its requests and connections are not flows and are ignored here.
    #[arg(long, value_name = "FILE")]
    pub samples: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FlowFormat::Text)]
    pub format: FlowFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowFormat {
    Text,
    Json,
}

/// One required flow and its decision, as `patrol flows` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    pub kind: String,
    pub cluster: String,
    pub description: String,
    /// Where the deployment makes the flow needed.
    pub file: String,
    pub line: u32,
    /// The member (or the file of the other end) that answers it; none: unknown end.
    pub target: Option<String>,
    pub decision: FlowDecision,
}

/// The flows of the plan's deployment with today's decisions, and the run's failures.
pub fn collect(plan: &run::Plan) -> Result<(Vec<FlowReport>, run::Outcome)> {
    let outcome = run::run(plan)?;
    let deployment = outcome
        .deployment
        .clone()
        .unwrap_or_else(crate::deployment::empty);
    let decisions = decide::decide(plan, &outcome, &deployment)?;
    Ok((reports(&deployment, decisions), outcome))
}

/// Pairs each flow with its decision.
pub fn reports(deployment: &wit::Deployment, decisions: Vec<FlowDecision>) -> Vec<FlowReport> {
    deployment
        .flows
        .iter()
        .zip(decisions)
        .map(|(f, decision)| FlowReport {
            kind: kind_name(f.kind).to_string(),
            cluster: f.cluster.clone(),
            description: f.description.clone(),
            file: f.source.file.clone(),
            line: f.source.line,
            target: f.target.clone(),
            decision,
        })
        .collect()
}

pub fn run(args: Args, verbose: bool) -> Result<Exit> {
    let plan = common::plan(
        &args.inputs,
        &args.policies,
        args.samples.as_deref(),
        verbose,
    )?;
    let (flows, outcome) = collect(&plan)?;
    common::log_policies(&outcome, verbose);
    let mut out = std::io::stdout().lock();
    match args.format {
        FlowFormat::Json => {
            #[derive(Serialize)]
            struct Json<'a> {
                flows: &'a [FlowReport],
                errors: &'a [crate::engine::Failure],
            }
            serde_json::to_writer_pretty(
                &mut out,
                &Json {
                    flows: &flows,
                    errors: &outcome.errors,
                },
            )?;
            writeln!(out)?;
        }
        FlowFormat::Text => write!(out, "{}", text(&flows))?,
    }
    for e in &outcome.errors {
        crate::say!("patrol: {e}");
    }
    Ok(if !outcome.errors.is_empty() {
        Exit::PolicyFailed
    } else if flows
        .iter()
        .any(|f| f.decision.verdict == FlowVerdict::Deny)
    {
        Exit::Findings
    } else {
        Exit::Clean
    })
}

/// The flows as text: one line per flow, grouped by cluster, then a count.
pub fn text(flows: &[FlowReport]) -> String {
    let mut s = String::new();
    let mut cluster: Option<&str> = None;
    for f in flows {
        if cluster != Some(f.cluster.as_str()) {
            s.push_str(&format!("cluster {}\n", f.cluster));
            cluster = Some(&f.cluster);
        }
        let d = &f.decision;
        let at = match (&d.file, d.line) {
            (Some(file), Some(line)) => format!(" at {file}:{line}"),
            _ => String::new(),
        };
        let method = d
            .method
            .as_deref()
            .map_or(String::new(), |m| format!(" ({m})"));
        let to = f
            .target
            .as_deref()
            .map_or_else(|| " [unknown end]".to_string(), |t| format!(" → {t}"));
        s.push_str(&format!(
            "  {:<7} {}{to}  [{}:{}]\n          {}{at}{method}\n",
            d.verdict.as_str(),
            f.description,
            f.file,
            f.line,
            d.reason
        ));
    }
    let count = |v: FlowVerdict| flows.iter().filter(|f| f.decision.verdict == v).count();
    s.push_str(&format!(
        "{} required flows: {} allowed, {} denied, {} unknown\n",
        flows.len(),
        count(FlowVerdict::Allow),
        count(FlowVerdict::Deny),
        count(FlowVerdict::Unknown)
    ));
    s
}

/// The kebab-case name of a flow kind.
pub fn kind_name(k: wit::FlowKind) -> &'static str {
    match k {
        wit::FlowKind::Replication => "replication",
        wit::FlowKind::Rewind => "rewind",
        wit::FlowKind::Superuser => "superuser",
        wit::FlowKind::PgbouncerAuthUser => "pgbouncer-auth-user",
        wit::FlowKind::HaproxyCheck => "haproxy-check",
        wit::FlowKind::MemberRestapi => "member-restapi",
        wit::FlowKind::Patronictl => "patronictl",
        wit::FlowKind::PatroniDcs => "patroni-dcs",
        wit::FlowKind::PgAutoFailover => "pg-auto-failover",
        wit::FlowKind::Pgbackrest => "pgbackrest",
    }
}
