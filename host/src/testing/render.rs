//! Prints `patrol test` results: one line per case, a readable diff under each failure
//! (missing and unexpected findings, decision fields that differ, the patched text as a
//! unified diff), then the coverage of the policy's finding codes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use super::runner::{CaseResult, Failure, sample_text};
use crate::run::{Decision, Finding, Verdict};
use crate::wit;

/// The results of one test file.
#[derive(Debug)]
pub struct FileResults {
    pub file: String,
    pub cases: Vec<CaseResult>,
}

/// Which codes the cases exercise: code → number of cases that expect it.
#[derive(Debug)]
pub struct Coverage {
    pub policy: String,
    pub codes: BTreeMap<String, usize>,
}

impl Coverage {
    pub fn new(meta: &wit::PolicyMetadata, results: &[FileResults]) -> Self {
        let mut codes: BTreeMap<String, usize> =
            meta.codes.iter().map(|c| (c.code.clone(), 0)).collect();
        for case in results.iter().flat_map(|f| &f.cases) {
            let mut seen: Vec<&String> = case.exercised.iter().collect();
            seen.sort();
            seen.dedup();
            for code in seen {
                if let Some(n) = codes.get_mut(code) {
                    *n += 1;
                }
            }
        }
        Coverage {
            policy: meta.name.clone(),
            codes,
        }
    }

    pub fn uncovered(&self) -> Vec<&str> {
        self.codes
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(c, _)| c.as_str())
            .collect()
    }
}

pub fn text(results: &[FileResults], coverage: &Coverage) -> String {
    let mut out = String::new();
    let (mut passed, mut failed) = (0, 0);
    for file in results {
        for case in &file.cases {
            if case.failures.is_empty() {
                passed += 1;
                let _ = writeln!(out, "ok   {}: {}", file.file, case.name);
                continue;
            }
            failed += 1;
            let _ = writeln!(out, "FAIL {}:{}: {}", file.file, case.line, case.name);
            for f in &case.failures {
                failure(&mut out, f);
            }
        }
    }
    let _ = writeln!(out);
    let covered = coverage.codes.values().filter(|n| **n > 0).count();
    let _ = writeln!(
        out,
        "coverage: {covered} of {} finding codes of `{}` exercised",
        coverage.codes.len(),
        coverage.policy
    );
    for (code, n) in &coverage.codes {
        let cases = if *n == 1 { "case" } else { "cases" };
        let mark = if *n == 0 {
            "   <- no test expects it"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<48} {n:>3} {cases}{mark}",
            format!("{}/{code}", coverage.policy)
        );
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    let _ = writeln!(
        out,
        "\ntest result: {verdict}. {passed} passed; {failed} failed"
    );
    out
}

fn failure(out: &mut String, f: &Failure) {
    match f {
        Failure::Setup(m) => {
            let _ = writeln!(out, "     cannot run the case: {m}");
        }
        Failure::Error { expected, actual } => match (expected, actual) {
            (Some(want), Some(got)) => {
                let _ = writeln!(
                    out,
                    "     policy error: expected a message containing `{want}`\n                   got `{got}`"
                );
            }
            (Some(want), None) => {
                let _ = writeln!(
                    out,
                    "     policy error: expected one containing `{want}`, but the policy ran without error"
                );
            }
            (None, Some(got)) => {
                let _ = writeln!(out, "     the policy failed: {got}");
            }
            (None, None) => {}
        },
        Failure::Findings {
            missing,
            unexpected,
        } => {
            let _ = writeln!(out, "     findings:");
            for m in missing {
                let mut place = m.file.clone().unwrap_or_else(|| "*".to_string());
                if let Some(line) = m.line {
                    let _ = write!(place, ":{line}");
                }
                let mut extra = String::new();
                if let Some(s) = m.severity {
                    let _ = write!(extra, " ({})", s.as_str());
                }
                if let Some(msg) = &m.message_contains {
                    let _ = write!(extra, " containing `{msg}`");
                }
                let _ = writeln!(
                    out,
                    "       - expected  {} at {place}{extra}   (test line {})",
                    m.code, m.at
                );
            }
            for u in unexpected {
                let _ = writeln!(out, "       + got       {}", finding_line(u));
            }
        }
        Failure::Decision {
            expected,
            actual,
            mismatches,
        } => {
            let got = actual
                .as_deref()
                .map(decision_line)
                .unwrap_or_else(|| "no decision".to_string());
            let _ = writeln!(
                out,
                "     decision for `{}` (test line {}): {got}",
                sample_text(&expected.sample),
                expected.at
            );
            for m in mismatches {
                let _ = writeln!(out, "       {m}");
            }
        }
        Failure::Patch { file, diff } => {
            let _ = writeln!(out, "     patched `{file}` differs:");
            for line in diff.lines() {
                let _ = writeln!(out, "       {line}");
            }
        }
        Failure::PatchSkipped(m) => {
            let _ = writeln!(out, "     a patch does not apply: {m}");
        }
        Failure::Withheld {
            missing,
            unexpected,
        } => {
            let _ = writeln!(out, "     fixes held back:");
            for m in missing {
                let mut extra = String::new();
                if let Some(file) = &m.file {
                    let _ = write!(extra, " in {file}");
                }
                if let Some(r) = &m.reason_contains {
                    let _ = write!(extra, ", the reason containing `{r}`");
                }
                let _ = writeln!(
                    out,
                    "       - expected  the fix of {} held back{extra}   (test line {})",
                    m.code, m.at
                );
            }
            for w in unexpected {
                let _ = writeln!(
                    out,
                    "       + got       `{}` of {} ({}) held back: {}",
                    w.description, w.file, w.policy, w.message
                );
            }
        }
        Failure::NotFixed(f) => {
            let _ = writeln!(
                out,
                "     the fix is not a fixpoint: after the patches, still {}",
                finding_line(f)
            );
        }
    }
}

fn finding_line(f: &Finding) -> String {
    format!(
        "{}/{} at {}:{} ({}) {:?}",
        f.policy,
        f.code,
        f.file,
        f.line,
        f.severity.as_str(),
        f.message
    )
}

fn decision_line(d: &Decision) -> String {
    let verdict = if d.verdict == Verdict::Allow {
        "allow"
    } else {
        "deny"
    };
    let status = d.status.map(|s| format!(" {s}")).unwrap_or_default();
    let at = match (&d.file, d.line) {
        (Some(f), Some(l)) => format!(" at {f}:{l}"),
        _ => String::new(),
    };
    format!("{verdict}{status} (stage {}){at}: {}", d.stage, d.reason)
}

pub fn json(results: &[FileResults], coverage: &Coverage) -> serde_json::Value {
    let cases: Vec<_> = results
        .iter()
        .flat_map(|file| {
            file.cases.iter().map(move |c| {
                let failures: Vec<String> = c
                    .failures
                    .iter()
                    .map(|f| {
                        let mut s = String::new();
                        failure(&mut s, f);
                        s.lines().map(str::trim).collect::<Vec<_>>().join("\n")
                    })
                    .collect();
                json!({ "file": file.file, "line": c.line, "name": c.name, "passed": c.failures.is_empty(), "failures": failures })
            })
        })
        .collect();
    let passed = cases.iter().filter(|c| c["passed"] == true).count();
    json!({
        "policy": coverage.policy,
        "passed": passed,
        "failed": cases.len() - passed,
        "cases": cases,
        "coverage": coverage.codes.iter().map(|(code, n)| json!({ "code": code, "cases": n })).collect::<Vec<_>>(),
        "uncovered": coverage.uncovered(),
    })
}
