//! Fixes that are proven not to break the deployment, applied in rounds until none is
//! left: the one loop behind `check --fix`, `check --diff` and `patrol test`.
//!
//! Each round takes the patches of the findings at or above the threshold, and before
//! offering them [`proof`] applies them to an in-memory copy, rebuilds the deployment
//! model and decides every required flow again with the same policies. A patch is
//! withheld when it turns an allowed required flow into a refused (or undecidable) one,
//! leaves a file its parser reports invalid, names a certificate, key or CA path that no
//! input names,
//! or changes one end of a link only. A withheld patch's finding keeps no patch and says
//! why in `fix_withheld` and its remediation. At most [`MAX_ROUNDS`] rounds: as `eslint
//! --fix`, a fix that only applies once another is in is taken in the next round.

pub mod proof;
mod window;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::patch::{self, FileChange};
use crate::run::{self, Outcome, Plan, Severity};

pub use proof::{FlowRef, Withheld, WithheldReason};

/// At most this many rounds of fixes.
pub const MAX_ROUNDS: usize = 10;

/// How to converge.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Only the patches of findings at or above this severity (none: every patch).
    pub fail_on: Option<Severity>,
    pub max_rounds: usize,
    /// Prove each fix against the required flows (off only where no deployment exists).
    pub prove: bool,
}

/// What converging did.
#[derive(Debug)]
pub struct Converged {
    /// The plan over the fixed texts.
    pub plan: Plan,
    /// The outcome of the fixed texts; its findings whose fix was withheld carry why.
    pub outcome: Outcome,
    /// Each changed file from its original text to its final one.
    pub changes: Vec<FileChange>,
    /// Patches withheld, with the flow or rule they would break.
    pub withheld: Vec<Withheld>,
    /// Patches that could not be applied (overlaps), for stderr.
    pub skipped: Vec<String>,
    /// Required flows checked in the last proof, and how many of them are allowed.
    pub flows: FlowCount,
    pub rounds: usize,
    /// Stopped at `max_rounds` with fixes still left (fixes undoing each other).
    pub unfinished: bool,
}

/// Required flows in the final state.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FlowCount {
    pub total: usize,
    pub allowed: usize,
}

/// Applies the proven fixes of `outcome` (the run of `plan`) in rounds.
pub fn converge(mut plan: Plan, mut outcome: Outcome, options: Options) -> Result<Converged> {
    let mut changed: BTreeMap<String, FileChange> = BTreeMap::new();
    let mut withheld: Vec<Withheld> = Vec::new();
    let mut skipped = Vec::new();
    let mut rounds = 0;
    let mut unfinished = false;
    let mut flows = FlowCount::default();
    for round in 1..=options.max_rounds {
        let candidates = fixable(&outcome, options.fail_on, &withheld);
        if candidates.is_empty() {
            break;
        }
        let proven = if options.prove {
            proof::prove(&plan, &outcome, &candidates)?
        } else {
            proof::Proven::unproven(candidates)
        };
        flows = proven.flows;
        withheld.extend(proven.withheld);
        let patches: Vec<&run::Patch> = proven
            .accepted
            .iter()
            .filter_map(|&i| outcome.patches.get(i))
            .collect();
        let (changes, left) = patch::apply_all(&patches, &outcome.files);
        if changes.is_empty() || round == options.max_rounds {
            skipped.extend(left);
        }
        if changes.is_empty() {
            break;
        }
        rounds = round;
        for c in changes {
            let Some(file) = plan.files.iter_mut().find(|f| f.display == c.file) else {
                skipped.push(format!("{}: not one of the checked files", c.file));
                continue;
            };
            file.text = c.after.clone();
            let entry = changed.entry(c.file.clone()).or_insert_with(|| FileChange {
                file: c.file.clone(),
                before: c.before.clone(),
                after: String::new(),
                applied: Vec::new(),
            });
            entry.after = c.after;
            entry.applied.extend(c.applied);
        }
        outcome = run::run(&plan)?;
        if round == options.max_rounds && !fixable(&outcome, options.fail_on, &withheld).is_empty()
        {
            unfinished = true;
        }
    }
    if options.prove && rounds > 0 {
        // The flows as they are after the last round.
        let dep = outcome
            .deployment
            .clone()
            .unwrap_or_else(crate::deployment::empty);
        let decided = crate::deployment::decide::decide(&plan, &outcome, &dep)?;
        flows = proof::count(&decided);
    }
    mark_withheld(&mut outcome, &withheld);
    let changes = changed
        .into_values()
        .filter(|c| c.after != c.before)
        .collect();
    Ok(Converged {
        plan,
        outcome,
        changes,
        withheld,
        skipped,
        flows,
        rounds,
        unfinished,
    })
}

/// Indexes of the patches of findings at or above the threshold, except those already
/// withheld (by policy, file and description).
fn fixable(outcome: &Outcome, fail_on: Option<Severity>, withheld: &[Withheld]) -> Vec<usize> {
    let mut indexes: Vec<usize> = outcome
        .findings
        .iter()
        .filter(|f| fail_on.is_none_or(|t| f.severity >= t))
        .filter_map(|f| f.patch)
        .filter(|&i| {
            outcome
                .patches
                .get(i)
                .is_some_and(|p| !withheld.iter().any(|w| w.same_patch(p)))
        })
        .collect();
    indexes.sort_unstable();
    indexes.dedup();
    indexes
}

/// The findings whose patch is withheld lose it and say why.
pub fn mark_withheld(outcome: &mut Outcome, withheld: &[Withheld]) {
    for f in &mut outcome.findings {
        let Some(p) = f.patch.and_then(|i| outcome.patches.get(i)) else {
            continue;
        };
        if let Some(w) = withheld.iter().find(|w| w.same_patch(p)) {
            f.patch = None;
            let why = format!("No automatic fix: {}.", w.message);
            f.remediation = if f.remediation.is_empty() {
                why
            } else {
                format!("{} {why}", f.remediation)
            };
            f.fix_withheld = Some(w.clone());
        }
    }
}

/// Proves the patches of a plain `check` (one round, nothing written), so that its
/// findings say "an automatic fix is available" only of fixes that pass.
pub fn annotate(
    plan: &Plan,
    outcome: &mut Outcome,
    fail_on: Option<Severity>,
) -> Result<Vec<Withheld>> {
    let candidates = fixable(outcome, fail_on, &[]);
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let proven = proof::prove(plan, outcome, &candidates)?;
    mark_withheld(outcome, &proven.withheld);
    Ok(proven.withheld)
}
