//! `--format json`: one JSON object with `findings`, `decisions`, `patches`, `errors` and
//! `policies` (the shapes are a contract: fields may be added, never renamed).

use std::io;

use serde_json::json;

use super::{Mode, Render};
use crate::run::Outcome;

pub struct Json;

impl Render for Json {
    fn render(&self, outcome: &Outcome, mode: Mode, out: &mut dyn io::Write) -> io::Result<()> {
        let summary = json!({
            "findings": outcome.findings.len(),
            "decisions": outcome.decisions.len(),
            "allowed": outcome.decisions.iter().filter(|d| d.verdict == crate::run::Verdict::Allow).count(),
            "denied": outcome.decisions.iter().filter(|d| d.verdict == crate::run::Verdict::Deny).count(),
            "errors": outcome.errors.len(),
        });
        let value = json!({
            "mode": match mode { Mode::Check => "check", Mode::Simulate => "simulate" },
            "findings": outcome.findings,
            "decisions": outcome.decisions,
            "patches": outcome.patches,
            "errors": outcome.errors,
            "policies": outcome.policies,
            // Findings a patrol.yaml exception covers, each with the exception.
            "waived": outcome.waived,
            "summary": summary,
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)
    }
}
