//! Runs the cases of a test file through the real host: the case's files are written to a
//! temporary directory and read back like `patrol check` reads them (kind detection,
//! parsers, includes), the policy runs in the sandbox via [`crate::run::run`], the patches
//! are applied by [`crate::fix::converge`] in rounds, exactly as `check --fix` applies
//! them; then the outcome is compared with the expectations. A case that expects patches
//! also checks the patched files, where every finding that had a fix must be gone (the
//! fix is a fixpoint).

use std::path::Path;

use anyhow::{Context, Result};

use super::{Case, ExpectedDecision, ExpectedFinding, ExpectedWithheld, SampleRef};
use crate::discover::InputFile;
use crate::engine::Limits;
use crate::formats::kind::{self, Detected, KNOWN};
use crate::run::{self, Decision, Finding, Outcome, Plan, PolicyRun, PolicySource};

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub line: u32,
    /// Empty when the case passed.
    pub failures: Vec<Failure>,
    /// The codes of the policy under test that the case expects (for coverage).
    pub exercised: Vec<String>,
}

/// One way a case failed, ready to print.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The case could not even run (a file of unknown kind…).
    Setup(String),
    /// The policy failed and the case did not expect it, or expected it and it did not.
    Error {
        expected: Option<String>,
        actual: Option<String>,
    },
    /// Findings: the expected ones not found, and the ones found but not expected.
    Findings {
        missing: Vec<ExpectedFinding>,
        unexpected: Vec<Finding>,
    },
    Decision {
        expected: Box<ExpectedDecision>,
        actual: Option<Box<Decision>>,
        mismatches: Vec<String>,
    },
    /// A file's text after the patches, as a unified diff from expected to actual.
    Patch { file: String, diff: String },
    /// Patches that could not be applied.
    PatchSkipped(String),
    /// Held-back fixes: the expected ones not held back, and the ones held back but not
    /// expected.
    Withheld {
        missing: Vec<ExpectedWithheld>,
        unexpected: Vec<crate::fix::Withheld>,
    },
    /// A finding that has a fix is still there after the fixes are applied.
    NotFixed(Box<Finding>),
}

/// Runs one case with `policy`; `name` is the policy's metadata name.
pub fn run_case(
    case: &Case,
    policy: &PolicySource,
    name: &str,
    limits: &Limits,
    verbose: bool,
) -> CaseResult {
    let exercised = case
        .expect
        .findings
        .iter()
        .flatten()
        .filter_map(|f| own_code(&f.code, name))
        .map(str::to_string)
        .collect();
    let failures = match execute(case, policy, limits, verbose) {
        Ok((plan, outcome, _dir)) => {
            let mut failures = compare(case, name, &outcome);
            if outcome.errors.is_empty() {
                failures.extend(fixes(case, name, plan, &outcome));
            }
            failures
        }
        Err(e) => vec![Failure::Setup(format!("{e:#}"))],
    };
    CaseResult {
        name: case.name.clone(),
        line: case.line,
        failures,
        exercised,
    }
}

/// The fixes, through the same [`crate::fix::converge`] as `check --fix` (the same rounds,
/// every patch, proven against the required flows): the patched files must be the
/// expected ones, and, when the case expects patches, every finding that had a fix must
/// be gone from the patched files (the fix is a fixpoint, as `check --fix` promises).
fn fixes(case: &Case, name: &str, plan: Plan, before: &Outcome) -> Vec<Failure> {
    if case.expect.error.is_some() {
        return Vec::new();
    }
    let options = crate::fix::Options {
        fail_on: None,
        max_rounds: crate::fix::MAX_ROUNDS,
        prove: true,
    };
    let converged = match crate::fix::converge(plan, before.clone(), options) {
        Ok(c) => c,
        Err(e) => return vec![Failure::Setup(format!("fixing: {e:#}"))],
    };
    let mut failures: Vec<Failure> = converged
        .skipped
        .iter()
        .cloned()
        .map(Failure::PatchSkipped)
        .collect();
    failures.extend(withheld(case, name, &converged));
    if converged.unfinished {
        failures.push(Failure::PatchSkipped(format!(
            "fixes still left after {} rounds (fixes that undo each other)",
            crate::fix::MAX_ROUNDS
        )));
    }
    let changes = &converged.changes;
    if let Some(expected) = &case.expect.patches {
        for want in expected {
            let after = changes
                .iter()
                .find(|c| c.file == want.file)
                .map(|c| c.after.as_str())
                .or_else(|| {
                    before
                        .files
                        .iter()
                        .find(|(f, _)| f == &want.file)
                        .map(|(_, t)| t.as_str())
                })
                .unwrap_or("");
            if after != want.after {
                failures.push(Failure::Patch {
                    file: want.file.clone(),
                    diff: diff(&want.after, after),
                });
            }
        }
        for c in changes {
            if !expected.iter().any(|w| w.file == c.file) {
                failures.push(Failure::Patch {
                    file: c.file.clone(),
                    diff: format!("(no change expected)\n{}", diff(&c.before, &c.after)),
                });
            }
        }
        if failures.is_empty() && !expected.is_empty() {
            failures.extend(not_fixed(before, &converged.outcome));
        }
    }
    failures
}

/// Findings that had a fix and are still there after it. Lines move when patches add or
/// delete lines, so findings pair by policy, code and file: for each such group, the
/// patched files may keep at most as many findings as had no fix before.
fn not_fixed(before: &Outcome, after: &Outcome) -> Vec<Failure> {
    let key = |f: &Finding| (f.policy.clone(), f.code.clone(), f.file.clone());
    let mut groups: Vec<(String, String, String)> = before
        .findings
        .iter()
        .filter(|f| f.patch.is_some())
        .map(key)
        .collect();
    groups.sort();
    groups.dedup();
    let mut failures = Vec::new();
    for group in groups {
        let unfixable = before
            .findings
            .iter()
            .filter(|f| f.patch.is_none() && key(f) == group)
            .count();
        // A fix held back (and expected so by `withheld`) leaves its finding, rightly.
        let left: Vec<&Finding> = after
            .findings
            .iter()
            .filter(|f| key(f) == group && f.fix_withheld.is_none())
            .collect();
        if left.len() > unfixable {
            // Which one of the group is the unfixed one cannot be told; the first is shown.
            failures.push(Failure::NotFixed(Box::new(left[0].clone())));
        }
    }
    failures
}

/// The held-back fixes against `expect.withheld`: each expected one must be the held-back
/// fix of a finding with its code (and file), for a reason containing its text; a fix held
/// back that no expectation names fails the case too.
fn withheld(case: &Case, policy: &str, converged: &crate::fix::Converged) -> Option<Failure> {
    // The findings left after the fixes, each with the fix the proof held back.
    let held: Vec<(&Finding, &crate::fix::Withheld)> = converged
        .outcome
        .findings
        .iter()
        .filter_map(|f| f.fix_withheld.as_ref().map(|w| (f, w)))
        .collect();
    let matches = |want: &ExpectedWithheld, f: &Finding, w: &crate::fix::Withheld| {
        let (p, code) = want.code.split_once('/').unwrap_or((policy, &want.code));
        f.policy == p
            && f.code == code
            && want.file.as_ref().is_none_or(|file| &f.file == file)
            && want
                .reason_contains
                .as_ref()
                .is_none_or(|r| w.message.contains(r.as_str()))
    };
    let missing: Vec<ExpectedWithheld> = case
        .expect
        .withheld
        .iter()
        .filter(|want| !held.iter().any(|(f, w)| matches(want, f, w)))
        .cloned()
        .collect();
    let unexpected: Vec<crate::fix::Withheld> = converged
        .withheld
        .iter()
        .filter(|w| {
            !held.iter().any(|(f, h)| {
                h.policy == w.policy
                    && h.file == w.file
                    && h.description == w.description
                    && case.expect.withheld.iter().any(|want| matches(want, f, h))
            })
        })
        .cloned()
        .collect();
    (!missing.is_empty() || !unexpected.is_empty()).then_some(Failure::Withheld {
        missing,
        unexpected,
    })
}

/// The code of `policy` that an expected code names: `code`, or `policy/code`.
fn own_code<'a>(code: &'a str, policy: &str) -> Option<&'a str> {
    match code.split_once('/') {
        Some((p, c)) => (p == policy).then_some(c),
        None => Some(code),
    }
}

fn execute(
    case: &Case,
    policy: &PolicySource,
    limits: &Limits,
    verbose: bool,
) -> Result<(Plan, Outcome, tempfile::TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix("patrol-test-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let mut files = Vec::new();
    for f in &case.files {
        let path = dir.path().join(&f.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        if let Some(mode) = f.mode {
            set_mode(&path, mode)?;
        }
        let kind = match &f.kind {
            Some(k) => k.clone(),
            None => match kind::detect(Path::new(&f.name), &f.text) {
                Detected::Document(k) => k,
                // A certificate or key is no document: `patrol check` finds it in the
                // checked tree when a config names it, and so does the case.
                Detected::Unknown if is_pem(&f.text) => continue,
                Detected::Samples => anyhow::bail!(
                    "file `{}` looks like a samples file; put samples under `samples:`",
                    f.name
                ),
                Detected::Unknown => anyhow::bail!(
                    "cannot tell what kind of file `{}` is; write it as `{}: {{kind: KIND, text: ...}}` (kinds: {})",
                    f.name,
                    f.name,
                    KNOWN.join(", ")
                ),
            },
        };
        files.push(InputFile {
            kind,
            path,
            display: f.name.clone(),
            text: f.text.clone(),
        });
    }
    let plan = Plan {
        files,
        policies: vec![PolicyRun {
            source: policy.clone(),
            settings: Some(case.settings.clone()),
        }],
        settings_by_name: Default::default(),
        samples: case.samples.clone(),
        limits: limits.clone(),
        verbose,
        bundle: None,
        certs: Default::default(),
        // The policy under test may be a built-in one's crate, built from source.
        reserve_builtin_names: false,
        skipped: Vec::new(),
        adopt: Default::default(),
    };
    let outcome = run::run(&plan)?;
    // The directory lives as long as the plan that names its files.
    Ok((plan, outcome, dir))
}

/// Whether `text` is a PEM file (certificates, keys): it has a PEM block.
fn is_pem(text: &str) -> bool {
    text.lines().any(|l| {
        l.trim()
            .strip_prefix("-----BEGIN ")
            .is_some_and(|rest| rest.ends_with("-----"))
    })
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of `{}`", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    // No permission bits to set: the key-permission checks see what the platform reports.
    Ok(())
}

fn compare(case: &Case, name: &str, outcome: &Outcome) -> Vec<Failure> {
    let mut failures = Vec::new();
    let actual_error = (!outcome.errors.is_empty()).then(|| {
        outcome
            .errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    });
    match (&case.expect.error, &actual_error) {
        (Some(want), Some(got)) if got.contains(want.as_str()) => return failures,
        (None, None) => {}
        (want, got) => {
            failures.push(Failure::Error {
                expected: want.clone(),
                actual: got.clone(),
            });
            return failures;
        }
    }

    if let Some(expected) = &case.expect.findings {
        let (missing, unexpected) = match_findings(
            expected,
            &outcome.findings,
            name,
            case.expect.no_other_findings,
        );
        if !missing.is_empty() || !unexpected.is_empty() {
            failures.push(Failure::Findings {
                missing,
                unexpected,
            });
        }
    }

    for want in &case.expect.decisions {
        let found = outcome.decisions.iter().filter(|d| match &want.sample {
            SampleRef::Label(l) => d.sample == *l.as_str(),
            SampleRef::Name(n) => d.name.as_deref() == Some(n.as_str()),
        });
        // The tested policy's answer; else whatever answered (the "no policy" deny).
        let actual = found
            .clone()
            .find(|d| d.policy.as_deref() == Some(name))
            .or_else(|| found.clone().next());
        let mismatches = match actual {
            Some(d) => decision_mismatches(want, d),
            None => vec![format!(
                "no sample is called `{}`",
                sample_text(&want.sample)
            )],
        };
        if !mismatches.is_empty() {
            failures.push(Failure::Decision {
                expected: Box::new(want.clone()),
                actual: actual.cloned().map(Box::new),
                mismatches,
            });
        }
    }

    failures
}

pub fn sample_text(s: &SampleRef) -> &str {
    match s {
        SampleRef::Label(l) | SampleRef::Name(l) => l,
    }
}

/// Pairs expected with actual findings. The most specific expectations choose first, so a
/// loose one (code only) does not take the finding a precise one needs.
fn match_findings(
    expected: &[ExpectedFinding],
    actual: &[Finding],
    policy: &str,
    exhaustive: bool,
) -> (Vec<ExpectedFinding>, Vec<Finding>) {
    let mut order: Vec<&ExpectedFinding> = expected.iter().collect();
    let specificity = |e: &ExpectedFinding| {
        [
            e.file.is_some(),
            e.line.is_some(),
            e.severity.is_some(),
            e.message_contains.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    };
    order.sort_by_key(|e| std::cmp::Reverse(specificity(e)));
    let mut taken = vec![false; actual.len()];
    let mut missing = Vec::new();
    for want in order {
        let hit = actual
            .iter()
            .enumerate()
            .find(|(i, f)| !taken[*i] && finding_matches(want, f, policy));
        match hit {
            Some((i, _)) => taken[i] = true,
            None => missing.push(want.clone()),
        }
    }
    missing.sort_by_key(|e| e.at);
    let unexpected = if exhaustive {
        actual
            .iter()
            .zip(&taken)
            .filter(|(_, t)| !**t)
            .map(|(f, _)| f.clone())
            .collect()
    } else {
        Vec::new()
    };
    (missing, unexpected)
}

fn finding_matches(want: &ExpectedFinding, f: &Finding, policy: &str) -> bool {
    let (p, code) = want
        .code
        .split_once('/')
        .unwrap_or((policy, want.code.as_str()));
    f.policy == p
        && f.code == code
        && want.file.as_ref().is_none_or(|file| &f.file == file)
        && want.line.is_none_or(|l| f.line == l)
        && want.severity.is_none_or(|s| f.severity == s)
        && want
            .message_contains
            .as_ref()
            .is_none_or(|m| f.message.contains(m.as_str()))
}

fn decision_mismatches(want: &ExpectedDecision, d: &Decision) -> Vec<String> {
    let mut out = Vec::new();
    let verdict = |v: run::Verdict| {
        if v == run::Verdict::Allow {
            "allow"
        } else {
            "deny"
        }
    };
    if want.verdict != d.verdict {
        out.push(format!(
            "verdict: expected {}, got {}",
            verdict(want.verdict),
            verdict(d.verdict)
        ));
    }
    if let Some(s) = want.status
        && d.status != Some(s)
    {
        out.push(format!(
            "status: expected {s}, got {}",
            d.status.map_or("none".to_string(), |s| s.to_string())
        ));
    }
    if let Some(stage) = &want.stage
        && &d.stage != stage
    {
        out.push(format!("stage: expected `{stage}`, got `{}`", d.stage));
    }
    if let Some(file) = &want.file
        && d.file.as_ref() != Some(file)
    {
        out.push(format!(
            "file: expected `{file}`, got {}",
            d.file
                .as_deref()
                .map_or("none".to_string(), |f| format!("`{f}`"))
        ));
    }
    if let Some(line) = want.line
        && d.line != Some(line)
    {
        out.push(format!(
            "line: expected {line}, got {}",
            d.line.map_or("none".to_string(), |l| l.to_string())
        ));
    }
    if let Some(method) = &want.method
        && d.method.as_ref() != Some(method)
    {
        out.push(format!(
            "method: expected `{method}`, got {}",
            d.method
                .as_deref()
                .map_or("none".to_string(), |m| format!("`{m}`"))
        ));
    }
    if let Some(reason) = &want.reason_contains
        && !d.reason.contains(reason.as_str())
    {
        out.push(format!(
            "reason: expected it to contain `{reason}`, got `{}`",
            d.reason
        ));
    }
    out
}

/// A unified diff from `expected` to `actual`.
fn diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .missing_newline_hint(true)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Severity;

    fn finding(code: &str, line: u32) -> Finding {
        Finding {
            policy: "p".into(),
            code: code.into(),
            severity: Severity::High,
            message: "m".into(),
            file: "f.yml".into(),
            line,
            end_line: None,
            pointer: None,
            remediation: String::new(),
            patch: None,
            fix_withheld: None,
        }
    }

    fn want(code: &str, line: Option<u32>) -> ExpectedFinding {
        ExpectedFinding {
            code: code.into(),
            file: None,
            line,
            severity: None,
            message_contains: None,
            at: 1,
        }
    }

    #[test]
    fn precise_expectations_choose_first() {
        let actual = vec![finding("a", 3), finding("a", 7)];
        // The loose one comes first in the file but must not take line 7.
        let (missing, unexpected) =
            match_findings(&[want("a", None), want("a", Some(7))], &actual, "p", true);
        assert!(
            missing.is_empty() && unexpected.is_empty(),
            "{missing:?} {unexpected:?}"
        );
    }

    #[test]
    fn missing_and_unexpected_are_both_reported() {
        let actual = vec![finding("a", 3), finding("b", 4)];
        let (missing, unexpected) =
            match_findings(&[want("a", Some(5)), want("p/b", None)], &actual, "p", true);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].line, Some(5));
        assert_eq!(unexpected.len(), 1);
        assert_eq!(unexpected[0].line, 3);
        let (_, unexpected) = match_findings(&[want("b", None)], &actual, "p", false);
        assert!(unexpected.is_empty());
    }

    fn outcome(findings: Vec<Finding>) -> Outcome {
        Outcome {
            findings,
            ..Outcome::default()
        }
    }

    #[test]
    fn a_finding_without_a_fix_is_not_taken_for_an_unfixed_one() {
        let mut fixed = finding("a", 2);
        fixed.patch = Some(Default::default());
        // Line 1 had no fix and stays; line 2 had one and is gone.
        let before = outcome(vec![finding("a", 1), fixed.clone()]);
        assert!(not_fixed(&before, &outcome(vec![finding("a", 1)])).is_empty());
        // Both still there: the fix did not hold.
        let left = not_fixed(&before, &outcome(vec![finding("a", 1), finding("a", 2)]));
        assert_eq!(left.len(), 1);
        // Only the fixed one existed: any finding of the group left is a failure.
        let before = outcome(vec![fixed]);
        assert_eq!(not_fixed(&before, &outcome(vec![finding("a", 5)])).len(), 1);
    }

    #[test]
    fn pem_files_are_recognised_by_their_blocks() {
        assert!(is_pem(
            "subject=x\n-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n"
        ));
        assert!(is_pem("-----BEGIN PRIVATE KEY-----\n"));
        assert!(!is_pem("ssl_cert_file = '/etc/x.pem'\n"));
        assert!(!is_pem("# -----BEGIN nothing\n"));
    }

    #[test]
    fn codes_of_other_policies_do_not_count_as_exercised() {
        assert_eq!(own_code("x", "p"), Some("x"));
        assert_eq!(own_code("p/x", "p"), Some("x"));
        assert_eq!(own_code("patrol/invalid-yaml", "p"), None);
    }
}
