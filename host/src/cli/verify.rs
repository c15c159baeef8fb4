//! `patrol verify`: probes the live servers the configs name with requests that change
//! nothing, and reports where they disagree with the simulation (`verify/drift-…`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

use super::Exit;
use super::common::{self, InputArgs, OutputArgs, PolicyArgs};
use crate::formats::{self, ParseContext};
use crate::report::{Format, Mode};
use crate::run::{FileEntry, Outcome, Severity};
use crate::verify::{self, Options, endpoints, net, pg};

pub const AFTER_HELP: &str = "\
Safety: probes go only to the addresses the configs (restapi/postgresql connect_address or
listen, PgBouncer listen_addr, etcd client URLs, HAProxy frontend binds) or --target name,
one connection at a time, at most one per --interval-ms, none after --max-time. No password
and no Authorization header is ever sent. Patroni's protected handlers get only inputs they
reject after the access check (POST /switchover with an empty body, PATCH /config with
invalid JSON, POST /restart with a schedule in the past, DELETE /restart and
/switchover only when nothing is scheduled); /reinitialize, /reload and /sigterm are never
called. PostgreSQL and PgBouncer get a startup packet per (user, database, ssl) of the
samples (default: postgres/postgres without SSL) and are closed at the first answer; a
`trust` answer opens a session, which is closed at once and reported. --dry-run lists the
probes without sending anything.

Exit codes:
  0  every probe agrees with the simulation (no drift at or above --fail-on)
  1  drift at or above --fail-on
  2  a policy failed while simulating (wins over 1 and 3)
  3  usage error, an unreadable input, or an endpoint that cannot be reached (wins over 1)";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub policies: PolicyArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// A samples file: its `context` applies to the simulation, and its `connections`
    /// name the (user, database, ssl, replication) to probe PostgreSQL and PgBouncer with.
    #[arg(long, value_name = "FILE")]
    pub samples: Option<PathBuf>,
    /// Probe HOST:PORT as the service NAME (patroni, postgresql, pgbouncer, etcd, haproxy)
    /// instead of the addresses the configs give it (repeatable).
    #[arg(long, value_name = "NAME=HOST:PORT")]
    pub target: Vec<String>,
    /// List the endpoints and probes; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Lowest severity of drift that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = Severity::Low, value_name = "SEVERITY")]
    pub fail_on: Severity,
    /// A client certificate (PEM) for the TLS probes of the REST API, sent in a second
    /// pass after the pass without one.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// At least this long between two connections, in milliseconds (0 to 60,000).
    #[arg(long, value_name = "MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub interval_ms: u64,
    /// No probe is sent after this many seconds (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub max_time: u64,
    /// Time limit of each connect, read and write, in milliseconds (100 to 60,000).
    #[arg(long, value_name = "MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub probe_timeout_ms: u64,
    /// Leave out `DELETE /restart` and `DELETE /switchover` (sent only when nothing is
    /// scheduled, read just before).
    #[arg(long)]
    pub no_delete: bool,
}

pub fn run(args: Args, verbose: bool) -> Result<Exit> {
    let plan = common::plan(
        &args.inputs,
        &args.policies,
        args.samples.as_deref(),
        verbose,
    )?;
    let targets = args
        .target
        .iter()
        .map(|t| endpoints::Target::parse(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let client_cert = match (&args.client_cert, &args.client_key) {
        (Some(c), Some(k)) => Some(net::ClientCert::load(c, k).map_err(anyhow::Error::msg)?),
        _ => None,
    };
    let tree = crate::confine::Tree::new(
        plan.certs
            .trees
            .iter()
            .chain(plan.certs.root.iter())
            .map(PathBuf::as_path),
    );
    let ctx = ParseContext {
        postgres_version: plan.samples.context.postgres_version,
        tree: Some(tree),
    };
    let docs: Vec<_> = plan
        .files
        .iter()
        .map(|f| formats::document(f.kind.clone(), &f.display, &f.path, f.text.clone(), &ctx))
        .collect();
    let (eps, skipped) = endpoints::derive(&docs, &targets);
    let attempts = attempts(&plan.samples);
    for s in &skipped {
        eprintln!("patrol: not probed: {}:{}: {}", s.file, s.line, s.reason);
    }
    if eps.is_empty() {
        bail!(
            "no endpoint to verify: the configs name no address to probe; give one with `--target NAME=HOST:PORT`"
        );
    }
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        for (i, probe) in verify::planned(&eps, &attempts, client_cert.is_some()) {
            let ep = &eps[i];
            writeln!(
                out,
                "{} {} ({} {}): {probe}",
                ep.service.name(),
                ep.address(),
                ep.origin(),
                ep.key
            )?;
        }
        return Ok(Exit::Clean);
    }
    let options = Options {
        interval: Duration::from_millis(args.interval_ms),
        max_time: Duration::from_secs(args.max_time),
        timeout: Duration::from_millis(args.probe_timeout_ms),
        client_cert,
        no_delete: args.no_delete,
    };
    let (mut records, served) = verify::probe(&eps, &attempts, &options);
    let mut errors = Vec::new();
    let mut findings = verify::compare::compare(&plan, &docs, &eps, &mut records, &mut errors)?;
    findings.extend(verify::record_findings(&eps, &records));
    let (dcs_findings, dcs_counts) = verify::dcs::compare_all(&docs, &eps, &records);
    findings.extend(dcs_findings);
    let (cert_findings, notes) = verify::certs::check(&docs, &plan.certs, &eps, &served);
    findings.extend(cert_findings);
    for n in &notes {
        eprintln!("patrol: not compared: {n}");
    }
    let mut verification = verify::summarize(eps, skipped, records, dcs_counts);
    verification.notes = notes;

    let mut outcome = Outcome {
        findings,
        errors,
        files: plan
            .files
            .iter()
            .map(|f| (f.display.clone(), f.text.clone()))
            .collect(),
        inputs: plan
            .files
            .iter()
            .map(|f| FileEntry {
                path: f.display.clone(),
                kind: Some(f.kind.name().to_string()),
                skipped: None,
            })
            .collect(),
        verify: Some(serde_json::to_value(&verification)?),
        ..Outcome::default()
    };
    outcome
        .findings
        .sort_by(|a, b| (&a.file, a.line, &a.code).cmp(&(&b.file, b.line, &b.code)));
    if args.output.format == Format::Text {
        // Server answers are data: escaped, and no line may start a CI workflow command.
        let lines: Vec<String> = verify::text_lines(&verification)
            .iter()
            .map(|l| crate::report::escape::text(l).into_owned())
            .collect();
        let text = crate::report::escape::workflow_commands(lines.join("\n") + "\n", |_| false);
        std::io::stdout().lock().write_all(text.as_bytes())?;
    }
    if args.output.format != Format::Text {
        // The text format ends its probe table with this line already.
        eprintln!("patrol: {}", verify::summary_line(&verification.summary));
    }
    common::print(&outcome, args.output.format, Mode::Verify, false)?;
    Ok(if !outcome.errors.is_empty() {
        Exit::PolicyFailed
    } else if verification.summary.unreachable > 0 {
        Exit::Usage
    } else if outcome.findings.iter().any(|f| f.severity >= args.fail_on) {
        Exit::Findings
    } else {
        Exit::Clean
    })
}

/// The distinct (user, database, ssl, replication) of the samples' connections; without
/// any, `postgres`/`postgres` without SSL.
fn attempts(samples: &crate::samples::Samples) -> Vec<pg::Attempt> {
    let mut out: Vec<pg::Attempt> = Vec::new();
    for c in &samples.connections {
        let a = pg::Attempt {
            user: c.user.clone(),
            database: c.database.clone(),
            ssl: c.ssl,
            replication: match c.replication {
                crate::wit::ReplicationMode::None => "false",
                crate::wit::ReplicationMode::Physical => "true",
                crate::wit::ReplicationMode::Logical => "database",
            }
            .into(),
        };
        if !out.iter().any(|o| o.label() == a.label()) {
            out.push(a);
        }
    }
    if out.is_empty() {
        out.push(pg::Attempt {
            user: "postgres".into(),
            database: "postgres".into(),
            ssl: false,
            replication: "false".into(),
        });
    }
    out
}
