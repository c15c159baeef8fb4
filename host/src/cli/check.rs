//! `patrol check`: findings for config files, optionally a diff or the fix.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;

use super::Exit;
use super::common::{self, InputArgs, OutputArgs, PolicyArgs};
use crate::patch;
use crate::report::{Format, Mode};
use crate::run::{self, Outcome, Plan, Severity};

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
    let outcome = run::run(&plan)?;
    common::log_policies(&outcome, verbose);

    if args.diff || args.fix {
        let (plan, after, changes) = fix_passes(plan, outcome.clone(), args.fail_on)?;
        let secrets = crate::report::redact::Secrets::collect(
            outcome
                .files
                .iter()
                .chain(after.files.iter())
                .map(|(_, t)| t.as_str()),
        );
        if args.diff {
            let mut diff = String::new();
            for c in &changes {
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
            common::print(&outcome, Format::Text, Mode::Check, true)?;
            crate::adopt::note(&plan.adopt, &outcome);
            return Ok(exit_code(&outcome, args.fail_on));
        }
        // Fixes are written only inside the checked paths (not `--root`), symlinks
        // resolved; when one file may not be written, none is.
        let tree = crate::confine::Tree::new(args.inputs.paths.iter().map(PathBuf::as_path));
        let targets: Vec<(&patch::FileChange, &std::path::Path)> = changes
            .iter()
            .filter_map(|c| {
                plan.files
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
                secrets.scrub(&c.applied.join("; "))
            );
        }
        // The report and the exit code say what is left after the fix.
        common::print(&after, args.output.format, Mode::Check, false)?;
        crate::adopt::note(&plan.adopt, &after);
        return Ok(exit_code(&after, args.fail_on));
    }

    common::print(&outcome, args.output.format, Mode::Check, false)?;
    crate::adopt::note(&plan.adopt, &outcome);
    Ok(exit_code(&outcome, args.fail_on))
}

/// At most this many rounds of fixes: as `eslint --fix`, a fix that only applies once
/// another is in (two policies editing one line; `md5` → `scram-sha-256` once
/// `password_encryption` is SCRAM) is taken in the next round.
const MAX_PASSES: usize = 10;

/// Applies the fixes in memory, checks the fixed texts again and repeats until no fix
/// applies. Returns the plan over the fixed texts, its outcome, and each changed file from
/// its original text to its final one. Fixes that never applied are reported on stderr.
fn fix_passes(
    mut plan: Plan,
    mut outcome: Outcome,
    fail_on: Severity,
) -> Result<(Plan, Outcome, Vec<patch::FileChange>)> {
    let mut changed: BTreeMap<String, patch::FileChange> = BTreeMap::new();
    let secrets =
        crate::report::redact::Secrets::collect(outcome.files.iter().map(|(_, t)| t.as_str()));
    for pass in 1..=MAX_PASSES {
        let fixable = fixable_patches(&outcome, fail_on);
        let (changes, skipped) = patch::apply_all(&fixable, &outcome.files);
        let last = changes.is_empty() || pass == MAX_PASSES;
        if last {
            for s in &skipped {
                crate::say!("patrol: fix not applied: {}", secrets.scrub(s));
            }
        }
        if changes.is_empty() {
            break;
        }
        for c in changes {
            let Some(file) = plan.files.iter_mut().find(|f| f.display == c.file) else {
                crate::say!(
                    "patrol: fix not applied: {}: not one of the checked files",
                    c.file
                );
                continue;
            };
            file.text = c.after.clone();
            let entry = changed
                .entry(c.file.clone())
                .or_insert_with(|| patch::FileChange {
                    file: c.file.clone(),
                    before: c.before.clone(),
                    after: String::new(),
                    applied: Vec::new(),
                });
            entry.after = c.after;
            entry.applied.extend(c.applied);
        }
        outcome = run::run(&plan)?;
        if last && !fixable_patches(&outcome, fail_on).is_empty() {
            crate::say!(
                "patrol: stopped after {MAX_PASSES} rounds of fixes; some fixes undo others"
            );
        }
    }
    let changes = changed
        .into_values()
        .filter(|c| c.after != c.before)
        .collect();
    Ok((plan, outcome, changes))
}

/// The patches of findings at or above the threshold.
fn fixable_patches(outcome: &Outcome, fail_on: Severity) -> Vec<&run::Patch> {
    let mut indexes: Vec<usize> = outcome
        .findings
        .iter()
        .filter(|f| f.severity >= fail_on)
        .filter_map(|f| f.patch)
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    indexes
        .into_iter()
        .filter_map(|i| outcome.patches.get(i))
        .collect()
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
