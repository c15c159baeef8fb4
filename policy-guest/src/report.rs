//! Builders for what a policy returns: findings, decisions and patches.
//!
//! A [`Report`] collects them during `evaluate`. Findings are created from a [`Code`] so
//! that the severity and the remediation come from one table per policy, and a finding
//! whose code is not in that table is caught in tests (debug assertion).
//!
//! Decisions cross the boundary as small records pointing into a table of details (stage,
//! location, method, reason, dependencies): a batch of samples has few distinct reasons,
//! and each string on the boundary costs an allocation on both sides; the answers are two
//! flat columns per list of samples (sample index, detail index). [`Report::decision`]
//! takes a whole [`Decision`] and shares equal details by itself; a policy that decides
//! many samples the same way can intern a detail once with [`Report::detail`] and answer
//! with [`Report::answer`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::{
    Answers, CodeInfo, DecisionDetail, Edit, Evaluation, Finding, HbaChange, HbaEdit, LineEdit,
    Location, Patch, PointerValue, SettingKey, SettingValue, Severity, Verdict,
};

/// Which list of the input a sample comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleKind {
    Request,
    Connection,
}

/// A decision as a policy writes it: the answer to one sample.
#[derive(Debug, Clone)]
pub struct Decision {
    pub kind: SampleKind,
    /// Index in the input's `requests` or `connections`.
    pub index: u32,
    pub verdict: Verdict,
    /// The HTTP status the server answers when it denies (401/403); none otherwise.
    pub status: Option<u16>,
    /// Where the decision was made: `tls`, `access`, `passed` (HTTP); `tls`, `hba`,
    /// `auth` (PostgreSQL).
    pub stage: String,
    /// The rule or key that decided (a pg_hba line, `restapi.allowlist`).
    pub location: Option<Location>,
    /// The authentication method the server asks for (PostgreSQL).
    pub method: Option<String>,
    pub reason: String,
    /// Facts the verdict depends on that the context did not give (`members`).
    pub depends_on: Vec<String>,
}

/// The index of an interned [`DecisionDetail`] in `evaluation.decision_details`.
pub type DetailId = u32;

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
        Code {
            code,
            severity,
            summary,
            help,
        }
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
    Location {
        file: file.to_string(),
        line,
        end_line: None,
        pointer: None,
    }
}

/// Collects a policy's results.
#[derive(Debug)]
pub struct Report {
    codes: &'static [Code],
    evaluation: Evaluation,
    /// Hash of a detail → the details with that hash.
    details: HashMap<u64, Vec<DetailId>, BuildHasherDefault<Fx>>,
    /// Hash of a patch → the patches with that hash (a 10,000-line file has as many
    /// patches; a linear search for an equal one would be quadratic).
    patches: HashMap<u64, Vec<usize>, BuildHasherDefault<Fx>>,
}

impl Report {
    pub fn new(codes: &'static [Code]) -> Self {
        Report {
            codes,
            evaluation: Evaluation {
                findings: Vec::new(),
                requests: Answers {
                    samples: Vec::new(),
                    details: Vec::new(),
                },
                connections: Answers {
                    samples: Vec::new(),
                    details: Vec::new(),
                },
                decision_details: Vec::new(),
                patches: Vec::new(),
            },
            details: HashMap::default(),
            patches: HashMap::default(),
        }
    }

    fn code(&self, code: &str) -> Option<&'static Code> {
        self.codes.iter().find(|c| c.code == code)
    }

    /// Adds a finding with the code's default severity and remediation; returns its index
    /// so that a patch can be attached with [`Report::fix`].
    pub fn finding(&mut self, code: &str, location: Location, message: impl Into<String>) -> usize {
        let known = self.code(code);
        debug_assert!(
            known.is_some(),
            "finding code `{code}` is not declared in the policy's CODES"
        );
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

    /// Appends `text` to the message of finding `index` (a withheld fix's reason).
    pub fn append_message(&mut self, index: usize, text: &str) {
        if let Some(f) = self.evaluation.findings.get_mut(index) {
            f.message.push_str(text);
        }
    }

    /// Attaches a patch to finding `index`. Patches with the same file and edits are
    /// shared between findings.
    pub fn fix(&mut self, index: usize, patch: Patch) {
        let mut h = Fx::default();
        hash_patch(&patch, &mut h);
        let candidates = self.patches.entry(h.finish()).or_default();
        let table = &mut self.evaluation.patches;
        let existing = candidates
            .iter()
            .copied()
            .find(|&i| table[i].file == patch.file && table[i].edits == patch.edits);
        let slot = existing.unwrap_or_else(|| {
            table.push(patch);
            candidates.push(table.len() - 1);
            table.len() - 1
        });
        if let Some(f) = self.evaluation.findings.get_mut(index) {
            f.patch = Some(slot as u32);
        }
    }

    /// Adds the decision for one sample; its detail is shared with equal earlier ones.
    pub fn decision(&mut self, d: Decision) {
        let detail = self.detail(DecisionDetail {
            verdict: d.verdict,
            status: d.status,
            stage: d.stage,
            location: d.location,
            method: d.method,
            reason: d.reason,
            depends_on: d.depends_on,
        });
        self.answer(d.kind, d.index as usize, detail);
    }

    /// Reserves room for `n` more answers about samples of `kind`.
    pub fn reserve(&mut self, kind: SampleKind, n: usize) {
        let answers = self.answers(kind);
        answers.samples.reserve(n);
        answers.details.reserve(n);
    }

    fn answers(&mut self, kind: SampleKind) -> &mut Answers {
        match kind {
            SampleKind::Request => &mut self.evaluation.requests,
            SampleKind::Connection => &mut self.evaluation.connections,
        }
    }

    /// Interns a decision detail: the index of an equal one added before, or of this one.
    pub fn detail(&mut self, detail: DecisionDetail) -> DetailId {
        let mut h = Fx::default();
        hash_detail(&detail, &mut h);
        let candidates = self.details.entry(h.finish()).or_default();
        let table = &mut self.evaluation.decision_details;
        if let Some(&id) = candidates
            .iter()
            .find(|&&id| same_detail(&table[id as usize], &detail))
        {
            return id;
        }
        let id = table.len() as DetailId;
        table.push(detail);
        candidates.push(id);
        id
    }

    /// Answers sample `index` of `kind` with a detail from [`Report::detail`].
    pub fn answer(&mut self, kind: SampleKind, index: usize, detail: DetailId) {
        debug_assert!(
            (detail as usize) < self.evaluation.decision_details.len(),
            "unknown decision detail {detail}"
        );
        let answers = self.answers(kind);
        answers.samples.push(index as u32);
        answers.details.push(detail);
    }

    pub fn findings(&self) -> &[Finding] {
        &self.evaluation.findings
    }

    pub fn finish(self) -> Evaluation {
        self.evaluation
    }
}

/// A decision with no location, method or dependencies.
pub fn decision(
    kind: SampleKind,
    index: usize,
    verdict: Verdict,
    stage: &str,
    reason: String,
) -> Decision {
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
pub fn set_value(
    file: &str,
    description: impl Into<String>,
    pointer: &str,
    value: serde_json::Value,
) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.into(),
        edits: vec![Edit::Set(PointerValue {
            pointer: pointer.to_string(),
            value: value.to_string(),
        })],
    }
}

/// A patch that removes the value at a pointer of a structured document.
pub fn remove_value(file: &str, description: impl Into<String>, pointer: &str) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.into(),
        edits: vec![Edit::Remove(pointer.to_string())],
    }
}

/// A patch of pg_hba records: the host renders each edit in the file's own style (a
/// `pg-hba` document, or the `pg_hba` list items of a `patroni` one).
pub fn hba_patch(file: &str, description: impl Into<String>, edits: Vec<HbaEdit>) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.into(),
        edits: edits.into_iter().map(Edit::Hba).collect(),
    }
}

/// A change of the record that starts at `line` that changes nothing yet: set the fields
/// that change.
pub fn hba_change(line: u32) -> HbaChange {
    HbaChange {
        line,
        connection_type: None,
        databases: None,
        users: None,
        address: None,
        method: None,
        set_options: Vec::new(),
        remove_options: Vec::new(),
    }
}

/// A patch that makes `key = value` in `section` of a settings file (postgresql.conf:
/// no section, `value` unquoted; INI files: the `[section]`, `value` as written after
/// `=`). The host writes it in the file's own style: in place on the assignment the
/// server reads, else as a new line at the end of the section (or file).
pub fn set_setting(
    file: &str,
    description: impl Into<String>,
    section: Option<&str>,
    key: &str,
    value: &str,
) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.into(),
        edits: vec![Edit::SetSetting(SettingValue {
            section: section.map(str::to_string),
            key: key.to_string(),
            value: value.to_string(),
        })],
    }
}

/// A patch that removes every assignment of `key` in `section` of a settings file.
pub fn remove_setting(
    file: &str,
    description: impl Into<String>,
    section: Option<&str>,
    key: &str,
) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.into(),
        edits: vec![Edit::RemoveSetting(SettingKey {
            section: section.map(str::to_string),
            key: key.to_string(),
        })],
    }
}

/// A patch that replaces lines `start..=end` of a file with `text`.
pub fn replace_lines(
    file: &str,
    description: impl Into<String>,
    start: u32,
    end: u32,
    text: impl Into<String>,
) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.into(),
        edits: vec![Edit::Lines(LineEdit {
            start,
            end,
            text: text.into(),
        })],
    }
}

impl Evaluation {
    /// Every decision with its detail, as the policy wrote it: requests first, then
    /// connections, each in the order they were answered (for tests).
    pub fn full_decisions(&self) -> Vec<Decision> {
        let mut out = Vec::new();
        for (kind, answers) in [
            (SampleKind::Request, &self.requests),
            (SampleKind::Connection, &self.connections),
        ] {
            for (&index, &detail) in answers.samples.iter().zip(&answers.details) {
                let Some(d) = self.decision_details.get(detail as usize) else {
                    continue;
                };
                out.push(Decision {
                    kind,
                    index,
                    verdict: d.verdict,
                    status: d.status,
                    stage: d.stage.clone(),
                    location: d.location.clone(),
                    method: d.method.clone(),
                    reason: d.reason.clone(),
                    depends_on: d.depends_on.clone(),
                });
            }
        }
        out
    }
}

fn hash_detail(d: &DecisionDetail, h: &mut Fx) {
    (d.verdict == Verdict::Allow).hash(h);
    d.status.hash(h);
    d.stage.hash(h);
    d.reason.hash(h);
    if let Some(l) = &d.location {
        l.file.hash(h);
        l.line.hash(h);
        l.end_line.hash(h);
        l.pointer.hash(h);
    }
    d.method.hash(h);
    d.depends_on.hash(h);
}

fn same_detail(a: &DecisionDetail, b: &DecisionDetail) -> bool {
    let same_location = match (&a.location, &b.location) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            x.file == y.file
                && x.line == y.line
                && x.end_line == y.end_line
                && x.pointer == y.pointer
        }
        _ => false,
    };
    a.verdict == b.verdict
        && a.status == b.status
        && a.stage == b.stage
        && a.reason == b.reason
        && a.method == b.method
        && a.depends_on == b.depends_on
        && same_location
}

/// A fast non-cryptographic hasher (the Fx hash of rustc) for the report's own tables:
/// the keys are the policy's own output, no attacker picks them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fx(u64);

impl Fx {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ rest.len() as u64);
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    fn write_u16(&mut self, i: u16) {
        self.add(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl PartialEq for Edit {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Edit::Lines(a), Edit::Lines(b)) => {
                a.start == b.start && a.end == b.end && a.text == b.text
            }
            (Edit::Set(a), Edit::Set(b)) => a.pointer == b.pointer && a.value == b.value,
            (Edit::Remove(a), Edit::Remove(b)) => a == b,
            // The generated pg_hba types have no `PartialEq`; their debug text says all.
            (Edit::Hba(a), Edit::Hba(b)) => format!("{a:?}") == format!("{b:?}"),
            (Edit::SetSetting(a), Edit::SetSetting(b)) => {
                a.section == b.section && a.key == b.key && a.value == b.value
            }
            (Edit::RemoveSetting(a), Edit::RemoveSetting(b)) => {
                a.section == b.section && a.key == b.key
            }
            _ => false,
        }
    }
}

/// Hashes what makes two patches the same fix: the file and the edits.
fn hash_patch(p: &Patch, h: &mut impl Hasher) {
    p.file.hash(h);
    for e in &p.edits {
        match e {
            Edit::Lines(l) => {
                0u8.hash(h);
                (l.start, l.end, &l.text).hash(h);
            }
            Edit::Set(v) => {
                1u8.hash(h);
                (&v.pointer, &v.value).hash(h);
            }
            Edit::Remove(pointer) => {
                2u8.hash(h);
                pointer.hash(h);
            }
            Edit::Hba(e) => {
                3u8.hash(h);
                format!("{e:?}").hash(h);
            }
            Edit::SetSetting(v) => {
                4u8.hash(h);
                (&v.section, &v.key, &v.value).hash(h);
            }
            Edit::RemoveSetting(k) => {
                5u8.hash(h);
                (&k.section, &k.key).hash(h);
            }
        }
    }
}
