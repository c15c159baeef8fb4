use std::path::Path;

use serde_json::Value;

use super::*;
use crate::report::fixture;

const SCHEMA_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/schemas/sarif-schema-2.1.0.json"
);

/// Applies replacements the way a SARIF consumer does: regions in line/column terms of
/// the original text, applied from the last to the first.
fn apply(before: &str, replacements: &[Replacement]) -> String {
    let offset = |line: i64, column: i64| -> usize {
        let mut start = 0;
        for _ in 1..line {
            start += before[start..]
                .find('\n')
                .map_or(before.len() - start, |i| i + 1);
        }
        let rest = &before[start..];
        start
            + rest
                .char_indices()
                .nth(column as usize - 1)
                .map_or(rest.len(), |(i, _)| i)
    };
    let mut edits: Vec<(usize, usize, String)> = replacements
        .iter()
        .map(|r| {
            let d = &r.deleted_region;
            let start = offset(d.start_line.unwrap(), d.start_column.unwrap());
            let end = offset(d.end_line.unwrap(), d.end_column.unwrap());
            (
                start,
                end,
                r.inserted_content
                    .as_ref()
                    .and_then(|c| c.text.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut text = before.to_string();
    for (start, end, inserted) in edits {
        text.replace_range(start..end, &inserted);
    }
    text
}

#[test]
fn replacements_reproduce_the_new_text() {
    let cases = [
        ("a\nb\nc\n", "a\nB\nc\n"),
        ("a\nb\nc\n", "x\na\nb\nc\n"),
        ("a\nb\nc\n", "a\nb\n"),
        ("a\nb\nc", "a\nb"),
        ("a\nb\nc", "a\nb\nc\nd\n"),
        ("a\nb\nc\n", "a\nb\nc\nd\n"),
        ("a\r\nb\r\nc\r\n", "a\r\nB\r\nc\r\n"),
        (
            "1\n2\n3\n4\n5\n6\n7\n8\n",
            "1\nTWO\n3\n4\n5\n6\nSEVEN\nextra\n8\n",
        ),
        ("héllo wörld\nb\n", "héllo wörld\nß\n"),
        ("", "new\n"),
        ("old\n", ""),
    ];
    for (before, after) in cases {
        let r = replacements(before, after).unwrap();
        assert_eq!(apply(before, &r), after, "{before:?} -> {after:?}: {r:#?}");
    }
}

#[test]
fn replacements_never_carry_a_secret() {
    assert!(replacements("a\n", "a\npassword: hunter22\n").is_none());
    assert!(
        replacements("a\npassword: x1\n", "b\npassword: x1\n").is_some(),
        "an unchanged secret line is not shown"
    );
}

fn log() -> (Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("deploy")).unwrap();
    let sarif = Sarif {
        paths: Paths::at(root, &root.join("deploy")),
    };
    let value = serde_json::to_value(sarif.log(&fixture::outcome("cluster"))).unwrap();
    (value, dir)
}

#[test]
fn validates_against_the_sarif_schema() {
    let (log, _dir) = log();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA_FILE).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{log:#}");
    // The schema rejects what it does not know: a broken log must fail, or the test
    // proves nothing.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = Value::from("fatal");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn rules_come_from_the_metadata() {
    let (log, _dir) = log();
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "patroni-restapi/listen-all",
            "patroni-restapi/no-tls",
            "patroni-restapi/never-seen",
            "pg-hba/trust-method",
            "pg-hba/md5-method",
            "patroni-restapi/weak-password",
            "patrol/duplicate-key"
        ]
    );
    let trust = &rules[3];
    assert_eq!(
        trust["shortDescription"]["text"],
        "A rule trusts without a password"
    );
    assert_eq!(trust["help"]["text"], "Use scram-sha-256 or peer.");
    assert_eq!(trust["defaultConfiguration"]["level"], "error");
    assert_eq!(trust["properties"]["security-severity"], "9.5");
    assert_eq!(trust["properties"]["tags"][0], "security");
    assert_eq!(rules[1]["defaultConfiguration"]["level"], "warning");
    assert_eq!(rules[2]["properties"]["security-severity"], "1.0");
    assert_eq!(rules[2]["defaultConfiguration"]["level"], "note");
    for r in run["results"].as_array().unwrap() {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
    }
}

#[test]
fn results_have_locations_from_the_repository_root() {
    let (log, dir) = log();
    let run = &log["runs"][0];
    let root_uri = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    let root = Path::new(dir.path()).canonicalize().unwrap();
    assert_eq!(root_uri, format!("file://{}/", root.display()));
    let results = run["results"].as_array().unwrap();
    let trust = results
        .iter()
        .find(|r| r["ruleId"] == "pg-hba/trust-method")
        .unwrap();
    assert_eq!(trust["level"], "error");
    let physical = &trust["locations"][0]["physicalLocation"];
    assert_eq!(
        physical["artifactLocation"]["uri"],
        "deploy/cluster/pg_hba.conf"
    );
    assert_eq!(physical["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    assert_eq!(physical["region"]["startLine"], 2);
    let listen = results
        .iter()
        .find(|r| r["ruleId"] == "patroni-restapi/listen-all")
        .unwrap();
    assert_eq!(
        listen["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "/restapi/listen"
    );
    // The remediation is the rule's help: not repeated in the message.
    assert_eq!(listen["message"]["text"], "listen-all at line 3");
    let md5 = results
        .iter()
        .find(|r| r["ruleId"] == "pg-hba/md5-method")
        .unwrap();
    assert_eq!(md5["level"], "warning");
    // A finding about the whole file points at its first line (GitHub needs a line).
    let no_tls = results
        .iter()
        .find(|r| r["ruleId"] == "patroni-restapi/no-tls")
        .unwrap();
    assert_eq!(
        no_tls["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    assert_eq!(no_tls["level"], "note");
}

#[test]
fn fixes_carry_the_patches() {
    let (log, _dir) = log();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let trust = results
        .iter()
        .find(|r| r["ruleId"] == "pg-hba/trust-method")
        .unwrap();
    let change = &trust["fixes"][0]["artifactChanges"][0];
    assert_eq!(
        change["artifactLocation"]["uri"],
        "deploy/cluster/pg_hba.conf"
    );
    let replacement = &change["replacements"][0];
    assert_eq!(replacement["deletedRegion"]["startLine"], 2);
    assert_eq!(replacement["deletedRegion"]["endLine"], 3);
    assert_eq!(
        replacement["insertedContent"]["text"],
        "local all all peer\n"
    );
    let md5 = results
        .iter()
        .find(|r| r["ruleId"] == "pg-hba/md5-method")
        .unwrap();
    let deleted = &md5["fixes"][0]["artifactChanges"][0]["replacements"][0];
    assert_eq!(deleted["deletedRegion"]["startLine"], 3);
    assert!(deleted.get("insertedContent").is_none());
    let no_tls = results
        .iter()
        .find(|r| r["ruleId"] == "patroni-restapi/no-tls")
        .unwrap();
    assert!(no_tls.get("fixes").is_none());
}

#[test]
fn failed_policies_are_notifications() {
    let (log, _dir) = log();
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let n = &invocation["toolExecutionNotifications"][0];
    assert_eq!(n["level"], "error");
    assert!(
        n["message"]["text"]
            .as_str()
            .unwrap()
            .contains("org-policy")
    );
}

#[test]
fn no_source_text_but_fixes() {
    let (log, _dir) = log();
    assert!(
        !log.to_string()
            .contains(fixture::PATRONI.lines().last().unwrap().trim())
    );
}

#[test]
fn waived_findings_are_suppressed() {
    let dir = tempfile::tempdir().unwrap();
    let mut outcome = fixture::outcome("cluster");
    let finding = outcome.findings.remove(1);
    outcome.waived.push(crate::bundle::Waived {
        finding,
        exception: crate::bundle::WaivedBy {
            at: "patrol.yaml:7".to_string(),
            reason: "legacy clients until the migration".to_string(),
            expires: "2027-01-31".to_string(),
        },
    });
    let sarif = Sarif {
        paths: Paths::at(dir.path(), dir.path()),
    };
    let log = serde_json::to_value(sarif.log(&outcome)).unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA_FILE).unwrap()).unwrap();
    assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&log));
    let results = log["runs"][0]["results"].as_array().unwrap();
    let md5 = results
        .iter()
        .find(|r| r["ruleId"] == "pg-hba/md5-method")
        .unwrap();
    let suppression = &md5["suppressions"][0];
    assert_eq!(suppression["kind"], "external");
    assert_eq!(suppression["status"], "accepted");
    assert!(
        suppression["justification"]
            .as_str()
            .unwrap()
            .contains("patrol.yaml:7")
    );
    assert!(
        results
            .iter()
            .filter(|r| r.get("suppressions").is_some())
            .count()
            == 1
    );
}
