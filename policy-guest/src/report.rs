//! Builders for what a policy returns: findings, decisions and patches.
//!
//! A [`Report`] collects them during `evaluate`. Findings are created from a [`Code`] so
//! that the severity and the remediation come from one table per policy, and a finding
//! whose code is not in that table is caught in tests (debug assertion).

use crate::{
    CodeInfo, Decision, Edit, Evaluation, Finding, LineEdit, Location, Patch, PointerValue,
    SampleKind, Severity, Verdict,
};

/// One finding code of a policy: the stable code, its default severity, a one-line
/// summary and the remediation.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub help: &'static str,
}

impl Code {
    pub const fn new(
        code: &'static str,
        severity: Severity,
        summary: &'static str,
        help: &'static str,
    ) -> Self {
        Code { code, severity, summary, help }
    }

    pub fn info(&self) -> CodeInfo {
        CodeInfo {
            code: self.code.to_string(),
            severity: self.severity,
            summary: self.summary.to_string(),
            help: self.help.to_string(),
        }
    }
}

/// A location: file and line.
pub fn at(file: &str, line: u32) -> Location {
    Location { file: file.to_string(), line, end_line: None, pointer: None }
}

/// Collects a policy's results.
#[derive(Debug)]
pub struct Report {
    codes: &'static [Code],
    evaluation: Evaluation,
}

impl Report {
    pub fn new(codes: &'static [Code]) -> Self {
        Report {
            codes,
            evaluation: Evaluation { findings: Vec::new(), decisions: Vec::new(), patches: Vec::new() },
        }
    }

    fn code(&self, code: &str) -> Option<&'static Code> {
        self.codes.iter().find(|c| c.code == code)
    }

    /// Adds a finding with the code's default severity and remediation; returns its index
    /// so that a patch can be attached with [`Report::fix`].
    pub fn finding(&mut self, code: &str, location: Location, message: impl Into<String>) -> usize {
        let known = self.code(code);
        debug_assert!(known.is_some(), "finding code `{code}` is not declared in the policy's CODES");
        self.evaluation.findings.push(Finding {
            code: code.to_string(),
            severity: known.map_or(Severity::High, |c| c.severity),
            message: message.into(),
            location,
            remediation: known.map_or(String::new(), |c| c.help.to_string()),
            patch: None,
        });
        self.evaluation.findings.len() - 1
    }

    /// Overrides the severity of finding `index` (when a case is worse or milder than the
    /// code's default).
    pub fn severity(&mut self, index: usize, severity: Severity) {
        if let Some(f) = self.evaluation.findings.get_mut(index) {
            f.severity = severity;
        }
    }

    /// Overrides the remediation text of finding `index`.
    pub fn remediation(&mut self, index: usize, text: impl Into<String>) {
        if let Some(f) = self.evaluation.findings.get_mut(index) {
            f.remediation = text.into();
        }
    }

    /// Attaches a patch to finding `index`. Patches with the same file and edits are
    /// shared between findings.
    pub fn fix(&mut self, index: usize, patch: Patch) {
        let existing = self
            .evaluation
            .patches
            .iter()
            .position(|p| p.file == patch.file && p.edits == patch.edits);
        let slot = existing.unwrap_or_else(|| {
            self.evaluation.patches.push(patch);
            self.evaluation.patches.len() - 1
        });
        if let Some(f) = self.evaluation.findings.get_mut(index) {
            f.patch = Some(slot as u32);
        }
    }

    pub fn decision(&mut self, decision: Decision) {
        self.evaluation.decisions.push(decision);
    }

    pub fn findings(&self) -> &[Finding] {
        &self.evaluation.findings
    }

    pub fn finish(self) -> Evaluation {
        self.evaluation
    }
}

/// A decision with no location, method or dependencies.
pub fn decision(kind: SampleKind, index: usize, verdict: Verdict, stage: &str, reason: String) -> Decision {
    Decision {
        kind,
        index: index as u32,
        verdict,
        status: None,
        stage: stage.to_string(),
        location: None,
        method: None,
        reason,
        depends_on: Vec::new(),
    }
}

/// A patch that sets a JSON value at a pointer of a structured document.
pub fn set_value(file: &str, description: impl Into<String>, pointer: &str, value: serde_json::Value) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.into(),
        edits: vec![Edit::Set(PointerValue { pointer: pointer.to_string(), value: value.to_string() })],
    }
}

/// A patch that removes the value at a pointer of a structured document.
pub fn remove_value(file: &str, description: impl Into<String>, pointer: &str) -> Patch {
    Patch { file: file.to_string(), description: description.into(), edits: vec![Edit::Remove(pointer.to_string())] }
}

/// A patch that replaces lines `start..=end` of a file with `text`.
pub fn replace_lines(file: &str, description: impl Into<String>, start: u32, end: u32, text: impl Into<String>) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.into(),
        edits: vec![Edit::Lines(LineEdit { start, end, text: text.into() })],
    }
}

impl PartialEq for Edit {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Edit::Lines(a), Edit::Lines(b)) => a.start == b.start && a.end == b.end && a.text == b.text,
            (Edit::Set(a), Edit::Set(b)) => a.pointer == b.pointer && a.value == b.value,
            (Edit::Remove(a), Edit::Remove(b)) => a == b,
            _ => false,
        }
    }
}
