//! `patrol check`: findings for config files, optionally a diff or the fix.

use std::path::PathBuf;

use anyhow::Result;

use super::Exit;
use super::common::{self, InputArgs, OutputArgs, PolicyArgs};
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
}

pub fn run(args: Args, verbose: bool) -> Result<Exit> {
    let plan = common::plan(&args.inputs, &args.policies, args.samples.as_deref(), verbose)?;
    let outcome = run::run(&plan)?;
    common::log_policies(&outcome, verbose);

    if args.diff || args.fix {
        let fixable: Vec<&run::Patch> = fixable_patches(&outcome, args.fail_on);
        let (changes, skipped) = patch::apply_all(&fixable, &outcome.files);
        for s in &skipped {
            eprintln!("patrol: fix not applied: {s}");
        }
        if args.diff {
            let mut diff = String::new();
            for c in &changes {
                diff.push_str(&patch::unified_diff(c));
            }
            let secrets = crate::report::redact::Secrets::collect(outcome.files.iter().map(|(_, t)| t.as_str()));
            print!("{}", secrets.scrub(&diff));
            common::print(&outcome, Format::Text, Mode::Check, true)?;
            return Ok(exit_code(&outcome, args.fail_on));
        }
        for c in &changes {
            let file = plan.files.iter().find(|f| f.display == c.file);
            if let Some(f) = file {
                patch::write_atomic(&f.path, &c.after)?;
                eprintln!("patrol: fixed {} ({})", c.file, c.applied.join("; "));
            }
        }
        // Check again: the report and the exit code say what is left after the fix.
        let plan = common::plan(&args.inputs, &args.policies, args.samples.as_deref(), verbose)?;
        let after = run::run(&plan)?;
        common::print(&after, args.output.format, Mode::Check, false)?;
        return Ok(exit_code(&after, args.fail_on));
    }

    common::print(&outcome, args.output.format, Mode::Check, false)?;
    Ok(exit_code(&outcome, args.fail_on))
}

/// The patches of findings at or above the threshold.
fn fixable_patches(outcome: &Outcome, fail_on: Severity) -> Vec<&run::Patch> {
    let mut indexes: Vec<usize> =
        outcome.findings.iter().filter(|f| f.severity >= fail_on).filter_map(|f| f.patch).collect();
    indexes.sort_unstable();
    indexes.dedup();
    indexes.into_iter().filter_map(|i| outcome.patches.get(i)).collect()
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
