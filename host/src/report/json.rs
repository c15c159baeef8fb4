//! `--format json`: one JSON object with `findings`, `decisions`, `patches`, `errors`,
//! `policies` and `files`, the findings set aside (`waived`, `suppressed`, `baselined`),
//! the baseline entries gone (`absent`) and a `summary` (the shapes are a contract: fields
//! may be added, never renamed).

use std::io;

use std::io::Write;

use serde::Serialize;

use super::{Mode, Render};
use crate::bundle::Waived;
use crate::engine::Failure;
use crate::run::{Decision, FileEntry, Finding, Outcome, Patch, PolicyInfo, Verdict};

pub struct Json;

/// The object printed, borrowing the outcome (a 100k-decision simulation is serialized
/// straight to the output, without a `serde_json::Value` tree in between).
#[derive(Serialize)]
struct Document<'a> {
    mode: &'static str,
    findings: &'a [Finding],
    decisions: &'a [Decision],
    patches: &'a [Patch],
    errors: &'a [Failure],
    policies: &'a [PolicyInfo],
    /// Findings a patrol.yaml exception covers, each with the exception.
    waived: &'a [Waived],
    /// Every file the run met: `path`, the `kind` it was read as (null when skipped) and
    /// why it was `skipped` (null when read).
    files: &'a [FileEntry],
    /// The PostgreSQL and Patroni versions the answers assume: `software`, `version` and
    /// `source` (the samples context, or the newest behaviour when it names none).
    versions: &'a [crate::run::versions::Assumed],
    /// Findings an inline `patrol:ignore` comment covers, each with the comment.
    suppressed: &'a [crate::suppress::Suppressed],
    /// Findings the `--baseline` file holds, each with its fingerprint.
    baselined: &'a [crate::baseline::Baselined],
    /// Baseline entries no finding matches any more.
    absent: &'a [crate::baseline::Entry],
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    findings: usize,
    decisions: usize,
    allowed: usize,
    denied: usize,
    errors: usize,
    suppressed: usize,
    baselined: usize,
    absent: usize,
    /// Findings `--changed-since` left out (they touch no changed line).
    left_out: usize,
}

impl Render for Json {
    fn render(&self, outcome: &Outcome, mode: Mode, out: &mut dyn io::Write) -> io::Result<()> {
        let allowed = outcome
            .decisions
            .iter()
            .filter(|d| d.verdict == Verdict::Allow)
            .count();
        let document = Document {
            mode: match mode {
                Mode::Check => "check",
                Mode::Simulate => "simulate",
            },
            findings: &outcome.findings,
            decisions: &outcome.decisions,
            patches: &outcome.patches,
            errors: &outcome.errors,
            policies: &outcome.policies,
            waived: &outcome.waived,
            files: &outcome.inputs,
            versions: &outcome.versions,
            suppressed: &outcome.adopt.suppressed,
            baselined: &outcome.adopt.baselined,
            absent: &outcome.adopt.absent,
            summary: Summary {
                findings: outcome.findings.len(),
                decisions: outcome.decisions.len(),
                allowed,
                denied: outcome.decisions.len() - allowed,
                errors: outcome.errors.len(),
                suppressed: outcome.adopt.suppressed.len(),
                baselined: outcome.adopt.baselined.len(),
                absent: outcome.adopt.absent.len(),
                left_out: outcome.adopt.left_out,
            },
        };
        let mut out = io::BufWriter::new(out);
        serde_json::to_writer_pretty(&mut out, &document)?;
        writeln!(out)?;
        out.flush()
    }
}
