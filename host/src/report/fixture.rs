//! An outcome for the renderers' unit tests: two policies with metadata, findings with and
//! without lines, pointers and patches, a host parse finding, a decision, a failed policy,
//! and a file holding a secret.

use std::sync::Arc;

use crate::engine::{CacheOutcome, Failure, FailureKind};
use crate::run::{
    Decision, Detail, Finding, Outcome, Patch, PolicyInfo, SampleId, SampleKind, Severity, Verdict,
};
use crate::wit;

pub const PATRONI: &str = "\
scope: demo
restapi:
  listen: 0.0.0.0:8008
  authentication:
    username: admin
    password: Fixture-Secret-42
";

pub const HBA: &str = "# hba\nlocal all all trust\nhost all all 0.0.0.0/0 md5\n";

fn info(name: &str, codes: &[(&str, wit::Severity, &str, &str)], reads: &[&str]) -> PolicyInfo {
    let meta = wit::PolicyMetadata {
        name: name.to_string(),
        version: "0.1.0".to_string(),
        description: format!("{name} policy"),
        codes: codes
            .iter()
            .map(|(code, severity, summary, help)| wit::CodeInfo {
                code: code.to_string(),
                severity: *severity,
                summary: summary.to_string(),
                help: help.to_string(),
            })
            .collect(),
        reads: reads.iter().map(|r| r.to_string()).collect(),
        settings_schema: "{}".to_string(),
    };
    PolicyInfo {
        name: name.to_string(),
        version: "0.1.0".to_string(),
        source: format!("builtin:{name}"),
        cache: CacheOutcome::Hit,
        skipped: None,
        metadata: Some(Arc::new(meta)),
    }
}

#[allow(clippy::too_many_arguments)]
fn finding(
    policy: &str,
    code: &str,
    severity: Severity,
    file: &str,
    line: u32,
    pointer: Option<&str>,
    remediation: &str,
    patch: Option<usize>,
) -> Finding {
    Finding {
        policy: policy.to_string(),
        code: code.to_string(),
        severity,
        message: format!("{code} at line {line}"),
        file: file.to_string(),
        line,
        end_line: None,
        pointer: pointer.map(str::to_string),
        remediation: remediation.to_string(),
        patch,
        fix_withheld: None,
    }
}

/// Files are named relative to `dir` (the tests' working directory).
pub fn outcome(dir: &str) -> Outcome {
    let patroni = format!("{dir}/patroni.yml");
    let hba = format!("{dir}/pg_hba.conf");
    let listen_help = "Listen on the node's own address, not on every interface.";
    Outcome {
        findings: vec![
            finding(
                "pg-hba",
                "trust-method",
                Severity::Critical,
                &hba,
                2,
                None,
                "Use scram-sha-256 or peer.",
                Some(1),
            ),
            finding(
                "pg-hba",
                "md5-method",
                Severity::Medium,
                &hba,
                3,
                None,
                "Use scram-sha-256.",
                Some(2),
            ),
            finding(
                "patroni-restapi",
                "listen-all",
                Severity::High,
                &patroni,
                3,
                Some("/restapi/listen"),
                listen_help,
                Some(0),
            ),
            finding(
                "patroni-restapi",
                "no-tls",
                Severity::Low,
                &patroni,
                0,
                None,
                "",
                None,
            ),
            finding(
                "patroni-restapi",
                "weak-password",
                Severity::Medium,
                &patroni,
                6,
                Some("/restapi/authentication/password"),
                "",
                None,
            ),
            finding(
                "patrol",
                "duplicate-key",
                Severity::Low,
                &patroni,
                1,
                None,
                "",
                None,
            ),
        ],
        decisions: vec![Decision {
            sample: SampleId::new(SampleKind::Request, 0),
            name: Some("restart".into()),
            detail: std::sync::Arc::new(Detail {
                verdict: Verdict::Deny,
                status: Some(401),
                stage: "access".to_string(),
                file: Some(patroni.clone()),
                line: Some(4),
                method: None,
                reason: "no credentials".to_string(),
                policy: Some("patroni-restapi".to_string()),
                depends_on: Vec::new(),
            }),
        }],
        patches: vec![
            Patch {
                policy: "patroni-restapi".to_string(),
                file: patroni.clone(),
                description: "listen on the node's address".to_string(),
                edits: vec![wit::Edit::Lines(wit::LineEdit {
                    start: 3,
                    end: 3,
                    text: "  listen: 10.0.0.1:8008".to_string(),
                })],
                refused: None,
                kind: None,
            },
            Patch {
                policy: "pg-hba".to_string(),
                file: hba.clone(),
                description: "replace trust with peer".to_string(),
                edits: vec![wit::Edit::Lines(wit::LineEdit {
                    start: 2,
                    end: 2,
                    text: "local all all peer".to_string(),
                })],
                refused: None,
                kind: None,
            },
            Patch {
                policy: "pg-hba".to_string(),
                file: hba.clone(),
                description: "drop the md5 line".to_string(),
                edits: vec![wit::Edit::Lines(wit::LineEdit {
                    start: 3,
                    end: 3,
                    text: String::new(),
                })],
                refused: None,
                kind: None,
            },
        ],
        errors: vec![Failure {
            policy: "org-policy".to_string(),
            kind: FailureKind::Timeout,
            message: "it ran past its time limit of 10000 ms".to_string(),
        }],
        policies: vec![
            info(
                "patroni-restapi",
                &[
                    (
                        "listen-all",
                        wit::Severity::High,
                        "The REST API listens on every interface",
                        listen_help,
                    ),
                    (
                        "no-tls",
                        wit::Severity::Medium,
                        "The REST API has no TLS",
                        "Set restapi.certfile and restapi.keyfile.",
                    ),
                    (
                        "never-seen",
                        wit::Severity::Info,
                        "A code without findings",
                        "Nothing to do.",
                    ),
                ],
                &["patroni", "requests"],
            ),
            info(
                "pg-hba",
                &[
                    (
                        "trust-method",
                        wit::Severity::Critical,
                        "A rule trusts without a password",
                        "Use scram-sha-256 or peer.",
                    ),
                    (
                        "md5-method",
                        wit::Severity::Medium,
                        "A rule uses md5",
                        "Use scram-sha-256.",
                    ),
                ],
                &["pg-hba", "connections"],
            ),
        ],
        files: vec![(hba, HBA.to_string()), (patroni, PATRONI.to_string())],
        ..Outcome::default()
    }
}

/// The secrets of [`outcome`]'s files.
pub fn secrets() -> super::redact::Secrets {
    super::redact::Secrets::collect([PATRONI, HBA])
}
