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
use crate::run::{FileEntry, Finding, Outcome, Patch, PolicyInfo, Verdict};

pub struct Json;

/// The object printed, borrowing the outcome, in three parts: these keys, then
/// `decisions` ([`super::decisions_json`]: a 100k-decision simulation renders each distinct
/// detail once), then [`Rest`]; the bytes are those of one `to_writer_pretty`.
#[derive(Serialize)]
struct Head<'a> {
    mode: &'static str,
    findings: &'a [Finding],
}

/// The keys after `decisions`.
#[derive(Serialize)]
struct Rest<'a> {
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
    /// `patrol verify`: the endpoints, every probe with the server's answer and the
    /// simulation's, and the counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    verify: Option<&'a serde_json::Value>,
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
        let head = Head {
            mode: match mode {
                Mode::Check => "check",
                Mode::Simulate => "simulate",
                Mode::Verify => "verify",
            },
            findings: &outcome.findings,
        };
        let rest = Rest {
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
            verify: outcome.verify.as_ref(),
        };
        let mut out = io::BufWriter::with_capacity(1 << 16, out);
        // `{\n  "mode": …,\n  "findings": […]\n}` without its closing `\n}`, and
        // `{\n  "patches": …\n}` without its opening `{`: no string holds a raw newline.
        let head = serde_json::to_vec_pretty(&head)?;
        let rest = serde_json::to_vec_pretty(&rest)?;
        let (Some(head), Some(rest)) = (head.strip_suffix(b"\n}"), rest.strip_prefix(b"{")) else {
            return Err(io::Error::other("unexpected layout of the JSON document"));
        };
        out.write_all(head)?;
        out.write_all(b",\n  \"decisions\": ")?;
        super::decisions_json::write(&outcome.decisions, &mut out)?;
        out.write_all(b",")?;
        out.write_all(rest)?;
        writeln!(out)?;
        out.flush()
    }
}
