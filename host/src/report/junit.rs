//! `--format junit`: JUnit XML for CI test reports (Jenkins, GitLab, Azure DevOps, the
//! GitHub test-reporter actions), written with `quick-junit`.
//!
//! One test suite per policy; in it, one test case per (finding code, file): the case
//! fails with every finding of that code in that file (message, `file:line`, severity,
//! remediation), and passes for the files of the kinds the policy reads that have none.
//! Cases are named for the JUnit hierarchy consumers show: classname `policy.code`
//! (package `policy`, class `code`), name the file. A policy that failed gets an `error`
//! case; `simulate` adds a `decisions` suite with one passing case per sample (its
//! verdict as output), erroring when the policy answering it failed.
//!
//! The output is valid against the Jenkins xUnit plugin's `junit-10.xsd`
//! (tests/fixtures/schemas), and well-formed whatever the strings hold (the outcome is
//! escaped first: see [`super::escape`]). Its size is linear in the findings, and the
//! passing cases of a policy are bounded ([`MAX_PASSING_CASES`]): a policy declaring
//! 100,000 codes does not turn a tree of 1,000 files into 100 million test cases.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;
use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Mode, Render};
use crate::bundle::WaivedBy;
use crate::formats::kind::{self, Detected};
use crate::run::{Finding, HOST_POLICY, Outcome, Severity};

/// A finding, and the `patrol.yaml` exception that waived it.
type Entry<'a> = (&'a Finding, Option<&'a WaivedBy>);

pub struct Junit;

impl Render for Junit {
    fn render(&self, outcome: &Outcome, mode: Mode, out: &mut dyn io::Write) -> io::Result<()> {
        let xml = report(outcome, mode)
            .to_string()
            .map_err(io::Error::other)?;
        out.write_all(without_root_skipped(&xml).as_bytes())
    }
}

/// The report as quick-junit's data model.
pub fn report(outcome: &Outcome, mode: Mode) -> Report {
    let mut report = Report::new("patrol");
    // Every file's kind, to know which files a policy looked at.
    let kinds: Vec<(&str, String)> = outcome
        .files
        .iter()
        .filter_map(|(name, text)| match kind::detect(Path::new(name), text) {
            Detected::Document(k) => Some((name.as_str(), k.name().to_string())),
            _ => None,
        })
        .collect();

    let entries: Vec<Entry> = outcome
        .findings
        .iter()
        .map(|f| (f, None))
        .chain(
            outcome
                .waived
                .iter()
                .map(|w| (&w.finding, Some(&w.exception))),
        )
        .collect();
    let mut suites: Vec<TestSuite> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for info in &outcome.policies {
        seen.insert(info.name.as_str());
        let failed = outcome.errors.iter().any(|e| e.policy == info.name);
        let codes: Vec<String> = info
            .metadata
            .as_ref()
            .map(|m| m.codes.iter().map(|c| c.code.clone()).collect())
            .unwrap_or_default();
        let reads: Vec<&str> = info
            .metadata
            .as_ref()
            .map(|m| m.reads.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let files: Vec<&str> = kinds
            .iter()
            .filter(|(_, k)| reads.contains(&k.as_str()) || reads.contains(&"*"))
            .map(|(n, _)| *n)
            .collect();
        // A policy that failed checked nothing: no passing cases for it.
        let files = if failed { Vec::new() } else { files };
        suites.push(policy_suite(&info.name, &codes, &files, &entries));
    }
    // The host's parse findings, and findings of a policy with no info (defensive).
    for (f, _) in &entries {
        if seen.insert(f.policy.as_str()) {
            suites.push(policy_suite(&f.policy, &[], &[], &entries));
        }
    }
    for e in &outcome.errors {
        let position = suites.iter().position(|s| s.name.as_str() == e.policy);
        let suite = match position {
            Some(i) => &mut suites[i],
            None => {
                suites.push(TestSuite::new(e.policy.as_str()));
                let last = suites.len() - 1;
                &mut suites[last]
            }
        };
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status
            .set_message(e.to_string())
            .set_type(kind_name(e))
            .set_description(e.message.as_str());
        let mut case = TestCase::new("evaluation", status);
        case.set_classname(format!("{}.evaluation", e.policy));
        suite.add_test_case(case);
    }
    if mode == Mode::Simulate && !outcome.decisions.is_empty() {
        suites.push(decisions_suite(outcome));
    }
    report.add_test_suites(suites);
    report
}

/// The most passing cases (declared code × file read without a finding) one policy's
/// suite lists one by one; past it, a code without findings is one passing case for
/// every file.
pub const MAX_PASSING_CASES: usize = 100_000;

/// The name of that one case.
const OTHER_FILES: &str = "(every other file it read)";

fn policy_suite(policy: &str, codes: &[String], files: &[&str], entries: &[Entry]) -> TestSuite {
    // The findings of each code, grouped once (a scan per code is quadratic).
    let mut by_code: HashMap<&str, Vec<&Entry>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    let declared: HashSet<&str> = codes.iter().map(String::as_str).collect();
    order.extend(codes.iter().map(String::as_str));
    for e in entries.iter().filter(|(f, _)| f.policy == policy) {
        let code = e.0.code.as_str();
        let list = by_code.entry(code).or_default();
        // In the order of the declared codes, then any other code as first seen.
        if list.is_empty() && !declared.contains(code) {
            order.push(code);
        }
        list.push(e);
    }
    let one_by_one = codes.len().saturating_mul(files.len()) <= MAX_PASSING_CASES;
    let mut suite = TestSuite::new(policy);
    for code in order {
        let mut by_file: BTreeMap<&str, Vec<&Entry>> = if one_by_one {
            files.iter().map(|f| (*f, Vec::new())).collect()
        } else {
            BTreeMap::new()
        };
        for e in by_code.remove(code).unwrap_or_default() {
            by_file.entry(e.0.file.as_str()).or_default().push(e);
        }
        if !one_by_one && by_file.len() < files.len() {
            by_file.insert(OTHER_FILES, Vec::new());
        }
        for (file, found) in by_file {
            let mut case = TestCase::new(file, status(&found));
            case.set_classname(format!("{policy}.{code}"));
            suite.add_test_case(case);
        }
    }
    if policy == HOST_POLICY {
        suite.add_property(("description", "problems patrol met while parsing the files"));
    }
    suite
}

/// Fails with the findings; skipped when an exception waived every one of them.
fn status(entries: &[&Entry]) -> TestCaseStatus {
    let found: Vec<&Finding> = entries
        .iter()
        .filter(|(_, w)| w.is_none())
        .map(|(f, _)| *f)
        .collect();
    let Some(worst) = found.iter().map(|f| f.severity).max() else {
        return match entries.first() {
            Some((f, Some(by))) => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(format!(
                    "waived by the exception at {} until {}: {}",
                    by.at, by.expires, by.reason
                ));
                status.set_description(format!("{}: {}\n", place(f), f.message));
                status
            }
            _ => TestCaseStatus::success(),
        };
    };
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    let first = found[0];
    let message = if found.len() == 1 {
        format!("{}: {}", place(first), first.message)
    } else {
        format!(
            "{} findings, first {}: {}",
            found.len(),
            place(first),
            first.message
        )
    };
    let mut text = String::new();
    for f in found {
        text.push_str(&format!(
            "{}: {} [{}/{}] {}\n",
            place(f),
            f.severity.as_str(),
            f.policy,
            f.code,
            f.message
        ));
        if !f.remediation.is_empty() {
            text.push_str(&format!("  fix: {}\n", f.remediation));
        }
    }
    status
        .set_message(message)
        .set_type(severity_type(worst))
        .set_description(text);
    status
}

fn place(f: &Finding) -> String {
    match (f.line, f.end_line) {
        (0, _) => f.file.clone(),
        (l, Some(e)) if e > l => format!("{}:{l}-{e}", f.file),
        (l, _) => format!("{}:{l}", f.file),
    }
}

fn severity_type(s: Severity) -> &'static str {
    s.as_str()
}

fn kind_name(e: &crate::engine::Failure) -> String {
    serde_json::to_value(e.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "error".to_string())
}

fn decisions_suite(outcome: &Outcome) -> TestSuite {
    let mut suite = TestSuite::new("decisions");
    for d in &outcome.decisions {
        let verdict = match d.verdict {
            crate::run::Verdict::Allow => "allow",
            crate::run::Verdict::Deny => "deny",
        };
        let at = match (&d.file, d.line) {
            (Some(f), Some(l)) => format!(" at {f}:{l}"),
            _ => String::new(),
        };
        let status_code = d.status.map(|s| format!(" {s}")).unwrap_or_default();
        let line = format!("{verdict}{status_code} [{}]{at}: {}", d.stage, d.reason);
        let failed_policy = d.stage == "policy-error";
        let status = if failed_policy {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_message(line.clone()).set_type("policy-error");
            s
        } else {
            TestCaseStatus::success()
        };
        let name = match &d.name {
            Some(n) => format!("{} ({n})", d.sample),
            None => d.sample.to_string(),
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(format!(
            "decisions.{}",
            d.policy.as_deref().unwrap_or("none")
        ));
        case.set_system_out(line);
        suite.add_test_case(case);
    }
    suite
}

/// quick-junit always writes `skipped` on `<testsuites>`, which the Jenkins schema does not
/// allow there (only on `<testsuite>`, where it stays): the root's count is dropped.
fn without_root_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites ") else {
        return xml.to_string();
    };
    let end = xml[start..].find('>').map_or(xml.len(), |i| start + i);
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return xml.to_string();
    };
    let value_end = tag[at + 10..]
        .find('"')
        .map_or(tag.len(), |i| at + 10 + i + 1);
    format!(
        "{}{}{}{}",
        &xml[..start],
        &tag[..at],
        &tag[value_end..],
        &xml[end..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    fn xml(mode: Mode) -> String {
        let mut out = Vec::new();
        Junit
            .render(&fixture::outcome("cluster"), mode, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn one_case_per_code_and_file() {
        let report = report(&fixture::outcome("cluster"), Mode::Check);
        let hba = report
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == "pg-hba")
            .unwrap();
        let names: Vec<(String, String)> = hba
            .test_cases
            .iter()
            .map(|c| {
                (
                    c.classname.as_ref().unwrap().to_string(),
                    c.name.to_string(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    "pg-hba.trust-method".to_string(),
                    "cluster/pg_hba.conf".to_string()
                ),
                (
                    "pg-hba.md5-method".to_string(),
                    "cluster/pg_hba.conf".to_string()
                ),
            ]
        );
        assert_eq!(hba.failures, 2);
        let restapi = report
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == "patroni-restapi")
            .unwrap();
        // never-seen passes on the one Patroni file; the other codes fail there.
        assert_eq!((restapi.tests, restapi.failures), (4, 3));
        let host = report
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == "patrol")
            .unwrap();
        assert_eq!(host.failures, 1);
        let failed = report
            .test_suites
            .iter()
            .find(|s| s.name.as_str() == "org-policy")
            .unwrap();
        assert_eq!(failed.errors, 1);
    }

    #[test]
    fn failures_carry_message_and_location() {
        let text = xml(Mode::Check);
        assert!(text.contains(r#"<failure message="cluster/pg_hba.conf:2: trust-method at line 2" type="critical">"#), "{text}");
        assert!(text.contains("fix: Use scram-sha-256 or peer."), "{text}");
        assert!(text.starts_with("<?xml"));
        assert!(
            !text.contains("<testsuites name=\"patrol\" tests=\"9\" skipped"),
            "{text}"
        );
    }

    #[test]
    fn waived_findings_are_skipped() {
        let mut outcome = fixture::outcome("cluster");
        let finding = outcome.findings.remove(1);
        outcome.waived.push(crate::bundle::Waived {
            finding,
            exception: crate::bundle::WaivedBy {
                at: "patrol.yaml:7".into(),
                reason: "legacy".into(),
                expires: "2027-01-31".into(),
            },
        });
        let mut out = Vec::new();
        Junit.render(&outcome, Mode::Check, &mut out).unwrap();
        let xml = String::from_utf8(out).unwrap();
        assert!(xml.contains(r#"<skipped message="waived by the exception at patrol.yaml:7 until 2027-01-31: legacy">"#), "{xml}");
        assert!(
            xml.starts_with("<?xml") && xml.contains("<testsuites name=\"patrol\" tests="),
            "{xml}"
        );
        assert!(
            !xml[..xml.find("<testsuite ").unwrap()].contains("skipped="),
            "{xml}"
        );
    }

    #[test]
    fn decisions_only_in_simulate() {
        assert!(!xml(Mode::Check).contains("requests[0]"));
        assert!(xml(Mode::Simulate).contains("requests[0] (restart)"));
    }
}
