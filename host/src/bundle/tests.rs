use std::sync::Arc;

use super::*;
use crate::engine::CacheOutcome;
use crate::run::PolicyInfo;
use crate::wit;

const BUILTINS: &[&str] = &["patroni-restapi", "pg-hba"];

fn parse(text: &str) -> Result<Bundle, Vec<String>> {
    Bundle::parse(text, "patrol.yaml", Path::new("."), BUILTINS)
        .map_err(|p| p.iter().map(|p| p.to_string()).collect())
}

fn finding(policy: &str, code: &str, file: &str, line: u32) -> Finding {
    Finding {
        policy: policy.into(),
        code: code.into(),
        severity: Severity::Low,
        message: "m".into(),
        file: file.into(),
        line,
        end_line: None,
        pointer: None,
        remediation: String::new(),
        patch: None,
        fix_withheld: None,
    }
}

fn outcome(findings: Vec<Finding>) -> Outcome {
    let meta = wit::PolicyMetadata {
        name: "patroni-restapi".into(),
        version: "1".into(),
        description: String::new(),
        codes: ["no-tls", "no-allowlist"]
            .iter()
            .map(|c| wit::CodeInfo {
                code: c.to_string(),
                severity: wit::Severity::High,
                summary: String::new(),
                help: String::new(),
            })
            .collect(),
        reads: vec![],
        settings_schema: String::new(),
    };
    Outcome {
        findings,
        policies: vec![PolicyInfo {
            name: meta.name.clone(),
            version: "1".into(),
            source: "builtin:patroni-restapi".into(),
            cache: CacheOutcome::Disabled,
            skipped: None,
            metadata: Some(Arc::new(meta)),
        }],
        ..Outcome::default()
    }
}

fn today() -> Date {
    Date::parse("2026-03-01").unwrap()
}

#[test]
fn an_empty_bundle_runs_the_builtins() {
    let b = parse("").unwrap();
    assert!(b.policies.is_none());
    let b = parse("# nothing yet\n").unwrap();
    assert!(b.policies.is_none() && b.exceptions.is_empty());
}

#[test]
fn policies_in_long_and_short_form() {
    let b = parse(
        "policies:\n  - builtin: all\n  - pg-hba\n  - builtin: patroni-restapi\n    settings: {allowed_cidrs: [10.0.0.0/8]}\n",
    )
    .unwrap();
    let p = b.policies.unwrap();
    assert_eq!(p[0].source, Source::AllBuiltins);
    assert_eq!(p[1].source, Source::Builtin("pg-hba".into()));
    assert_eq!(
        p[2].settings.as_deref(),
        Some(r#"{"allowed_cidrs":["10.0.0.0/8"]}"#)
    );
    assert_eq!(p[2].line, 4);
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let text = "\
policies:
  - builtin: pg-hbaa
  - path: nowhere/x.wasm
  - builtin: all
    settings: {a: 1}
severity:
  no-tls: high
  patroni-restapi/no-allowlist: urgent
exceptions:
  - code: patroni-restapi/no-tls
    file: \"[\"
    reason: \"\"
    expires: 2026-02-30
  - code: no-tls
    file: a.yml
    expire: 2026-01-01
color: red
";
    let problems = parse(text).unwrap_err();
    let joined = problems.join("\n");
    for expected in [
        "patrol.yaml:2: there is no built-in policy `pg-hbaa`",
        "patrol.yaml:3: no policy at `nowhere/x.wasm`",
        "patrol.yaml:5: `builtin: all` takes no settings",
        "patrol.yaml:7: `no-tls` must be `policy/code`",
        "patrol.yaml:8: `urgent` is not a severity",
        "patrol.yaml:11: `[` is not a valid glob",
        "patrol.yaml:12: `reason` must say why",
        "patrol.yaml:13: `2026-02-30` is not a date",
        "patrol.yaml:14: missing key `reason` in `exceptions[1]`",
        "patrol.yaml:14: missing key `expires` in `exceptions[1]`",
        "patrol.yaml:16: unknown key `expire` in `exceptions[1]`",
        "patrol.yaml:17: unknown key `color`",
    ] {
        assert!(
            joined.contains(expected),
            "missing `{expected}` in:\n{joined}"
        );
    }
    // Sorted by line.
    let lines: Vec<u32> = problems
        .iter()
        .map(|p| p.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{joined}");
}

#[test]
fn severity_overrides_and_exceptions_apply() {
    let b = parse(
        "severity:\n  patroni-restapi/no-tls: critical\nexceptions:\n  - code: no-allowlist\n    file: \"conf/*.yml\"\n    line: 3\n    reason: accepted until the firewall lands\n    expires: 2026-12-31\n",
    )
    .unwrap();
    let mut o = outcome(vec![
        finding("patroni-restapi", "no-tls", "conf/a.yml", 2),
        finding("patroni-restapi", "no-allowlist", "conf/a.yml", 3),
        finding("patroni-restapi", "no-allowlist", "conf/b.yml", 4),
    ]);
    b.apply(&mut o, today()).unwrap();
    assert_eq!(o.findings.len(), 2);
    assert_eq!(o.findings[0].severity, Severity::Critical);
    assert_eq!(o.waived.len(), 1);
    assert_eq!(o.waived[0].finding.file, "conf/a.yml");
    assert_eq!(o.waived[0].exception.at, "patrol.yaml:4");
    let json = serde_json::to_value(&o.waived[0]).unwrap();
    assert_eq!(json["code"], "no-allowlist");
    assert_eq!(json["exception"]["expires"], "2026-12-31");
}

#[test]
fn an_expired_exception_waives_nothing_and_is_a_finding() {
    let b = parse("exceptions:\n  - code: patroni-restapi/no-tls\n    file: \"**\"\n    reason: legacy\n    expires: 2026-02-28\n").unwrap();
    let mut o = outcome(vec![finding("patroni-restapi", "no-tls", "a.yml", 2)]);
    b.apply(&mut o, today()).unwrap();
    assert!(o.waived.is_empty());
    let expired: Vec<&Finding> = o.findings.iter().filter(|f| f.code == EXPIRED).collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (
            expired[0].policy.as_str(),
            expired[0].file.as_str(),
            expired[0].line
        ),
        ("patrol", "patrol.yaml", 2)
    );
    assert_eq!(expired[0].severity, Severity::Medium);
    assert!(expired[0].message.contains("expired on 2026-02-28"));
    // The last valid day still waives.
    let mut o = outcome(vec![finding("patroni-restapi", "no-tls", "a.yml", 2)]);
    b.apply(&mut o, Date::parse("2026-02-28").unwrap()).unwrap();
    assert_eq!(o.waived.len(), 1);
}

#[test]
fn codes_that_no_policy_has_are_reported() {
    let b = parse(
        "severity:\n  patroni-restapi/no-tsl: high\n  nosuch/x: low\n  patrol/duplicate-key: high\nexceptions:\n  - code: nope\n    file: a\n    reason: r\n    expires: 2030-01-01\n",
    )
    .unwrap();
    let problems: Vec<String> = b
        .apply(&mut outcome(vec![]), today())
        .unwrap_err()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("patrol.yaml:2: policy `patroni-restapi` has no finding code `no-tsl`; its codes: no-tls, no-allowlist"));
    assert!(problems[1].starts_with("patrol.yaml:3: no policy `nosuch` runs"));
    assert!(
        problems[2].starts_with("patrol.yaml:6: no policy that runs has a finding code `nope`")
    );
}

#[test]
fn globs_match_relative_to_the_bundle() {
    let b = Bundle::parse(
        "exceptions:\n  - code: no-tls\n    file: patroni.yml\n    reason: r\n    expires: 2030-01-01\n",
        "deploy/patrol.yaml",
        Path::new("deploy"),
        BUILTINS,
    )
    .unwrap();
    let mut o = outcome(vec![finding(
        "patroni-restapi",
        "no-tls",
        "deploy/patroni.yml",
        1,
    )]);
    b.apply(&mut o, today()).unwrap();
    assert_eq!(o.waived.len(), 1);
}
