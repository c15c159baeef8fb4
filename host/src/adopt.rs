//! Adopting patrol on a repository that already has findings: inline suppressions
//! ([`crate::suppress`]), a baseline of the findings it had ([`crate::baseline`]) and
//! changed-only reports ([`crate::changed`]), applied to a run's outcome in that order,
//! after the `patrol.yaml` bundle.
//!
//! None of them hides a finding silently: suppressed and baselined findings are listed
//! apart (JSON `suppressed`, `baselined`; SARIF suppressions and `baselineState`), the
//! findings a changed-only run leaves out are counted, and only what is left in
//! `findings` counts for the exit code.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::baseline::{self, Baseline, Baselined};
use crate::bundle::Date;
use crate::changed::{Change, Since};
use crate::fingerprint::Fingerprints;
use crate::report::paths::Paths;
use crate::run::{Finding, Outcome};
use crate::suppress::{self, Suppressed};
use crate::wit;

/// What `patrol check` asked for (`--no-suppressions`, `--baseline`, `--write-baseline`,
/// `--changed-since`). The default: inline suppressions on, nothing else.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub no_suppressions: bool,
    /// The baseline to compare with, and its file as shown.
    pub baseline: Option<(Baseline, String)>,
    /// Record the findings (after suppressions) here, then compare with them.
    pub write_baseline: Option<PathBuf>,
    pub changed_since: Option<Since>,
}

/// What the adoption steps did, part of the outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Findings an inline `patrol:ignore` covers.
    pub suppressed: Vec<Suppressed>,
    /// Findings the baseline holds.
    pub baselined: Vec<Baselined>,
    /// Baseline entries no finding matches any more.
    pub absent: Vec<baseline::Entry>,
    /// The baseline file in use.
    pub baseline: Option<String>,
    /// The revision of `--changed-since`.
    pub changed_since: Option<String>,
    /// Findings left out because they touch no changed line.
    pub left_out: usize,
}

/// Applies the options to `outcome` (see the module docs).
pub fn apply(options: &Options, documents: &[wit::Document], outcome: &mut Outcome) -> Result<()> {
    if !options.no_suppressions {
        outcome.adopt.suppressed = suppress::apply(documents, outcome, Date::today());
    }
    let wants_baseline = options.baseline.is_some() || options.write_baseline.is_some();
    if wants_baseline {
        let paths = Paths::discover();
        let fingerprints = Fingerprints::new(
            &paths,
            documents.iter().map(|d| (d.path.as_str(), d.text.as_str())),
        );
        let written;
        let (baseline, file) = match (&options.write_baseline, &options.baseline) {
            (Some(path), _) => {
                let b = Baseline::of(&outcome.findings, &fingerprints);
                b.write(path)?;
                written = (b, path.display().to_string());
                (&written.0, written.1.clone())
            }
            (None, Some((b, file))) => (b, file.clone()),
            (None, None) => return Ok(()),
        };
        let (new, known, absent) =
            baseline.split(std::mem::take(&mut outcome.findings), &fingerprints);
        outcome.findings = new;
        outcome.adopt.baselined = known;
        outcome.adopt.absent = absent;
        outcome.adopt.baseline = Some(file);
    }
    if let Some(since) = &options.changed_since {
        let mut names: Vec<&str> = outcome.findings.iter().map(|f| f.file.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let changes = since.changes(&names)?;
        let mut seen = std::collections::HashSet::new();
        let texts: Vec<(String, String)> = documents
            .iter()
            .filter(|d| seen.insert(d.path.as_str()))
            .map(|d| (d.path.clone(), d.text.clone()))
            .collect();
        let before = outcome.findings.len();
        let keep: Vec<bool> = outcome
            .findings
            .iter()
            .map(|f| touches_change(f, &outcome.patches, &texts, &changes))
            .collect();
        let mut keep = keep.into_iter();
        outcome.findings.retain(|_| keep.next().unwrap_or(true));
        outcome.adopt.left_out = before - outcome.findings.len();
        outcome.adopt.changed_since = Some(since.reference.clone());
    }
    Ok(())
}

/// Whether `f`'s lines, or the lines its fix edits, changed.
fn touches_change(
    f: &Finding,
    patches: &[crate::run::Patch],
    texts: &[(String, String)],
    changes: &std::collections::HashMap<String, Change>,
) -> bool {
    let Some(change) = changes.get(&f.file) else {
        return true;
    };
    if f.line == 0 {
        return change.any();
    }
    if change.touches(f.line, f.end_line.unwrap_or(f.line).max(f.line)) {
        return true;
    }
    let Some(patch) = f.patch.and_then(|p| patches.get(p)) else {
        return false;
    };
    fix_lines(patch, texts)
        .into_iter()
        .any(|(file, a, b)| changes.get(&file).is_some_and(|c| c.touches(a, b)))
}

/// The lines (of the current text) a patch changes, by file: the patch applied alone and
/// diffed.
fn fix_lines(patch: &crate::run::Patch, texts: &[(String, String)]) -> Vec<(String, u32, u32)> {
    let (changes, _) = crate::patch::apply_all(&[patch], texts);
    let mut out = Vec::new();
    for c in changes {
        let diff = similar::TextDiff::from_lines(&c.before, &c.after);
        for op in diff.ops() {
            if matches!(op.tag(), similar::DiffTag::Equal) {
                continue;
            }
            let r = op.old_range();
            // An insertion sits between two lines: both count.
            let (first, last) = if r.is_empty() {
                (r.start as u32, r.start as u32 + 1)
            } else {
                (r.start as u32 + 1, r.end as u32)
            };
            out.push((c.file.clone(), first.max(1), last));
        }
    }
    out
}

impl Options {
    /// The options of `patrol check`; `near` is a checked path (where git is asked). A
    /// baseline that cannot be read, or `--changed-since` outside a repository or with an
    /// unknown revision, is an error (exit 3).
    pub fn resolve(
        no_suppressions: bool,
        baseline: Option<&std::path::Path>,
        write_baseline: Option<&std::path::Path>,
        changed_since: Option<&str>,
        near: &std::path::Path,
    ) -> Result<Options> {
        Ok(Options {
            no_suppressions,
            baseline: baseline
                .map(|p| Baseline::load(p).map(|b| (b, p.display().to_string())))
                .transpose()?,
            write_baseline: write_baseline.map(std::path::Path::to_path_buf),
            changed_since: changed_since.map(|r| Since::open(r, near)).transpose()?,
        })
    }
}

/// Says on stderr what the adoption steps did that the report does not show by itself.
pub fn note(options: &Options, outcome: &Outcome) {
    let report = &outcome.adopt;
    let s = |n: usize| if n == 1 { "" } else { "s" };
    if let Some(path) = &options.write_baseline {
        let n = report.baselined.len();
        crate::say!(
            "patrol: wrote {n} finding{} to the baseline `{}`",
            s(n),
            path.display()
        );
    }
    if let Some(since) = &report.changed_since {
        let n = report.left_out;
        crate::say!(
            "patrol: {n} finding{} left out: they touch no line changed since `{since}`",
            s(n)
        );
    }
    if !report.absent.is_empty() && options.write_baseline.is_none() {
        let n = report.absent.len();
        crate::say!(
            "patrol: {n} baselined finding{} no longer reported; write the baseline again to drop {} (`--write-baseline`)",
            s(n),
            if n == 1 { "it" } else { "them" }
        );
    }
}
