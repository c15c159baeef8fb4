//! `patrol check`: findings for config files, optionally a diff or the fix.

use std::path::PathBuf;

use anyhow::Result;

use super::Exit;
use super::common::{self, InputArgs, OutputArgs, PolicyArgs};
use crate::fix;
use crate::patch;
use crate::report::{Format, Mode};
use crate::run::{self, Outcome, Severity};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub policies: PolicyArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// A samples file whose `context` applies to the checks and whose requests and
    /// connections are evaluated too.
    #[arg(long, value_name = "FILE")]
    pub samples: Option<PathBuf>,
    /// Lowest severity that makes the exit code 1.
    #[arg(long, value_enum, default_value_t = Severity::Low, value_name = "SEVERITY")]
    pub fail_on: Severity,
    /// Print the fixes as a unified diff on stdout (apply with `patch -p1`); the report
    /// goes to stderr.
    #[arg(long, conflicts_with = "fix")]
    pub diff: bool,
    /// Apply the fixes to the files (atomically), then check again and report what is left.
    #[arg(long)]
    pub fix: bool,
    /// Record the findings in FILE (a JSON baseline; no line numbers, no secrets) and report
    /// them as baselined: exit 0 unless a policy failed.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fix", "diff", "baseline"])]
    pub write_baseline: Option<PathBuf>,
    /// Fail only on findings that are not in the baseline FILE; the others are listed as
    /// baselined, and baselined findings that are gone are reported as absent.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Ignore `patrol:ignore` comments in the files: report what they suppress.
    #[arg(long)]
    pub no_suppressions: bool,
    /// Report only the findings whose lines, or whose fix's lines, changed since the git
    /// revision REF (`origin/main`); the whole deployment is still evaluated.
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
}

pub fn run(args: Args, verbose: bool) -> Result<Exit> {
    let mut plan = common::plan(
        &args.inputs,
        &args.policies,
        args.samples.as_deref(),
        verbose,
    )?;
    let near = args
        .inputs
        .paths
        .first()
        .map_or(std::path::Path::new("."), PathBuf::as_path);
    plan.adopt = crate::adopt::Options::resolve(
        args.no_suppressions,
        args.baseline.as_deref(),
        args.write_baseline.as_deref(),
        args.changed_since.as_deref(),
        near,
    )?;
    let mut outcome = run::run(&plan)?;
    common::log_policies(&outcome, verbose);

    if args.diff || args.fix {
        let options = fix::Options {
            fail_on: Some(args.fail_on),
            max_rounds: fix::MAX_ROUNDS,
            prove: true,
        };
        let converged = fix::converge(plan, outcome.clone(), options)?;
        let secrets = crate::report::redact::Secrets::collect(
            outcome
                .files
                .iter()
                .chain(converged.outcome.files.iter())
                .map(|(_, t)| t.as_str()),
        );
        summarize(&converged, &secrets);
        if args.diff {
            let mut diff = String::new();
            for c in &converged.changes {
                let (hunks, hidden) = patch::unified_diff(c, &secrets);
                if hidden {
                    crate::say!(
                        "patrol: the diff of `{}` hides a secret on a changed line: `patch` cannot apply that hunk; `--fix` can",
                        c.file
                    );
                }
                diff.push_str(&hunks);
            }
            print!("{diff}");
            // The report is of the files as they are, on stderr.
            fix::mark_withheld(&mut outcome, &converged.withheld);
            common::print(&outcome, Format::Text, Mode::Check, true)?;
            crate::adopt::note(&converged.plan.adopt, &outcome);
            return Ok(exit_code(&outcome, args.fail_on));
        }
        // Fixes are written only inside the checked paths (not `--root`), symlinks
        // resolved; when one file may not be written, none is.
        let tree = crate::confine::Tree::new(args.inputs.paths.iter().map(PathBuf::as_path));
        let targets: Vec<(&patch::FileChange, &std::path::Path)> = converged
            .changes
            .iter()
            .filter_map(|c| {
                converged
                    .plan
                    .files
                    .iter()
                    .find(|f| f.display == c.file)
                    .map(|f| (c, f.path.as_path()))
            })
            .collect();
        let refused: Vec<String> = targets
            .iter()
            .filter_map(|(_, path)| patch::write_target(path, &tree).err())
            .collect();
        if !refused.is_empty() {
            anyhow::bail!("no fix written: {}", refused.join("; "));
        }
        for (c, path) in targets {
            patch::write_atomic(path, &c.after, &tree).map_err(anyhow::Error::msg)?;
            crate::say!(
                "patrol: fixed {} ({})",
                c.file,
                secrets.scrub_prose(&c.applied.join("; "))
            );
        }
        // The report and the exit code say what is left after the fix.
        common::print(&converged.outcome, args.output.format, Mode::Check, false)?;
        crate::adopt::note(&converged.plan.adopt, &converged.outcome);
        return Ok(exit_code(&converged.outcome, args.fail_on));
    }

    // "An automatic fix is available" only of fixes that pass the proof.
    fix::annotate(&plan, &mut outcome, Some(args.fail_on))?;
    common::print(&outcome, args.output.format, Mode::Check, false)?;
    crate::adopt::note(&plan.adopt, &outcome);
    Ok(exit_code(&outcome, args.fail_on))
}

/// On stderr: patches not applied, fixes withheld with what they would break, and the
/// count of fixes applied and required flows still passing.
fn summarize(c: &fix::Converged, secrets: &crate::report::redact::Secrets) {
    for s in &c.skipped {
        crate::say!("patrol: fix not applied: {}", secrets.scrub_prose(s));
    }
    for w in &c.withheld {
        crate::say!(
            "patrol: fix withheld: {} ({}, {}): {}",
            secrets.scrub_prose(&w.description),
            w.policy,
            w.file,
            secrets.scrub_prose(&w.message)
        );
    }
    if c.unfinished {
        crate::say!(
            "patrol: stopped after {} rounds of fixes; some fixes undo others",
            fix::MAX_ROUNDS
        );
    }
    let applied: usize = c.changes.iter().map(|ch| ch.applied.len()).sum();
    crate::say!(
        "patrol: {applied} fixes applied; {} required flows still pass (of {} checked); {} fixes withheld",
        c.flows.allowed,
        c.flows.total,
        c.withheld.len()
    );
}

pub fn exit_code(outcome: &Outcome, fail_on: Severity) -> Exit {
    if !outcome.errors.is_empty() {
        Exit::PolicyFailed
    } else if outcome.findings.iter().any(|f| f.severity >= fail_on) {
        Exit::Findings
    } else {
        Exit::Clean
    }
}
