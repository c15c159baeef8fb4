//! Policy tests: findings, patches (applied and checked again: a fix is a fixpoint) and
//! decisions, over inputs built by hand.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use policy_guest::hba::testing::{conn, context, rules};
use policy_guest::testing::hba_edits;
use policy_guest::{
    Body, Context, Diagnostic, Document, Evaluation, IdentRule, Input, Location, Setting, Severity,
    Verdict,
};

use super::*;

pub(crate) fn hba(text: &str) -> Document {
    Document {
        kind: policy_guest::DocumentKind::PgHba,
        path: "pg_hba.conf".into(),
        text: text.into(),
        body: Body::Hba(rules(text)),
        diagnostics: Vec::new(),
    }
}

pub(crate) fn loc(file: &str, line: u32) -> Location {
    Location {
        file: file.into(),
        line,
        end_line: None,
        pointer: None,
    }
}

/// A postgresql.conf read the simple way (`name = value`, one per line).
pub(crate) fn conf(path: &str, text: &str) -> Document {
    let settings = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.split('#').next()?.trim();
            let (k, v) = l.split_once('=')?;
            Some(Setting {
                section: None,
                name: k.trim().into(),
                value: v.trim().trim_matches('\'').into(),
                args: Vec::new(),
                location: loc(path, i as u32 + 1),
            })
        })
        .collect();
    Document {
        kind: policy_guest::DocumentKind::PostgresqlConf,
        path: path.into(),
        text: text.into(),
        body: Body::Settings(settings),
        diagnostics: Vec::new(),
    }
}

fn ident(lines: &[(&str, &str, &str)]) -> Document {
    let rules = lines
        .iter()
        .enumerate()
        .map(|(i, (m, s, d))| IdentRule {
            location: loc("pg_ident.conf", i as u32 + 1),
            map_name: m.to_string(),
            system_user: s.to_string(),
            database_user: d.to_string(),
            database_user_quoted: false,
        })
        .collect();
    Document {
        kind: policy_guest::DocumentKind::PgIdent,
        path: "pg_ident.conf".into(),
        text: String::new(),
        body: Body::Ident(rules),
        diagnostics: Vec::new(),
    }
}

pub(crate) fn input(documents: Vec<Document>, settings: &str) -> Input {
    Input {
        documents,
        context: context(15),
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: settings.into(),
    }
}

/// `documents` on a server whose facts are all known: TLS on with a client CA, SCRAM
/// password storage (PostgreSQL 15's default), and these roles, each with a SCRAM secret — so that every fix may
/// be offered (the rules that withhold fixes are tested in `facts_tests`).
pub(crate) fn known(mut documents: Vec<Document>, settings: &str) -> Input {
    documents.push(conf(
        "postgresql.conf",
        "ssl = on\nssl_ca_file = 'ca.crt'\n",
    ));
    let mut i = input(documents, settings);
    let roles = ["postgres", "app", "replicator", "alice", "bob", "a"];
    i.context.roles = Some(roles.iter().map(|r| (r.to_string(), Vec::new())).collect());
    i.context.password_types = roles
        .iter()
        .map(|r| (r.to_string(), "scram-sha-256".to_string()))
        .collect();
    i
}

pub(crate) fn run(input: &Input) -> Evaluation {
    policy_guest::run::<PgHba>(input).expect("the policy runs")
}

/// (line, code) of every finding, sorted.
pub(crate) fn codes(e: &Evaluation) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = e
        .findings
        .iter()
        .map(|f| (f.location.line, f.code.clone()))
        .collect();
    v.sort();
    v
}

const INSECURE: &str = "\
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             postgres                                peer
host    all             all             127.0.0.1/32            trust
host    all             all             0.0.0.0/0               md5     # remote
host    replication     replicator      0.0.0.0/0               password
hostssl app             app             10.0.0.0/8              scram-sha-256
";

#[test]
fn insecure_file_findings_and_patches() {
    let e = run(&known(vec![hba(INSECURE)], ""));
    assert_eq!(
        codes(&e),
        [
            (3, "trust-over-tcp".to_string()),
            (4, "broad-address".into()),
            (4, "md5-auth".into()),
            (4, "plain-tcp-allowed".into()),
            // `postgres` reaches the line through `all`.
            (4, "superuser-remote".into()),
            (5, "broad-address".into()),
            (5, "password-cleartext".into()),
            (5, "plain-tcp-allowed".into()),
            (5, "replication-remote".into()),
            // Line 4 takes every connection line 6 would.
            (6, "shadowed-line".into()),
        ]
    );
    let trust = e
        .findings
        .iter()
        .find(|f| f.code == "trust-over-tcp")
        .unwrap();
    assert_eq!(
        trust.severity,
        Severity::Medium,
        "loopback-only trust is the exposure of `trust` on `local` (medium), not the network's (critical)"
    );
    // What the policy asks for; the host renders it (`tests/rendering.yaml` checks
    // the text through the real host).
    assert_eq!(
        hba_edits(&e, "pg_hba.conf"),
        [
            "set 3: method=scram-sha-256",
            "set 4: type=hostssl method=scram-sha-256",
            "set 5: type=hostssl method=scram-sha-256",
            "delete 6"
        ]
    );
    let fixed: String = "\
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             postgres                                peer
host    all             all             127.0.0.1/32            scram-sha-256
hostssl all             all             0.0.0.0/0               scram-sha-256 # remote
hostssl replication     replicator      0.0.0.0/0               scram-sha-256
"
    .into();
    // A second check proposes no further patch; what is left needs a human (addresses).
    let again = run(&known(vec![hba(&fixed)], ""));
    assert!(again.patches.is_empty(), "{:?}", again.patches);
    assert_eq!(
        codes(&again),
        [
            (4, "broad-address".to_string()),
            (4, "superuser-remote".into()),
            (5, "broad-address".into()),
            (5, "replication-remote".into())
        ]
    );
}

#[test]
fn org_cidrs_narrow_broad_addresses() {
    let text = "hostssl all all 192.168.0.0/16 scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256 # everyone\n";
    let settings =
        r#"{"org_cidrs": ["10.1.0.0/16", "10.2.0.0/16", "fd00::/8"], "require_tls": false}"#;
    let e = run(&input(vec![hba(text)], settings));
    assert_eq!(
        codes(&e),
        [
            (1, "broad-address".to_string()),
            (1, "superuser-remote".into()),
            (2, "broad-address".into()),
            (2, "superuser-remote".into())
        ]
    );
    assert_eq!(e.findings[0].severity, Severity::Medium);
    // What the policy asks for; the host renders it (`tests/rendering.yaml` checks
    // the text through the real host).
    assert_eq!(
        hba_edits(&e, "pg_hba.conf"),
        [
            "set 2: address=10.1.0.0/16",
            "insert after 2: copy of 2 address=10.2.0.0/16"
        ]
    );
    let fixed: String = "hostssl all all 192.168.0.0/16 scram-sha-256\nhost all all 10.1.0.0/16 scram-sha-256 # everyone\nhost all all 10.2.0.0/16 scram-sha-256\n".into();
    let again = run(&input(vec![hba(&fixed)], settings));
    assert!(again.patches.is_empty());
}

#[test]
fn shadowed_lines_are_deleted_and_fixes_stay_fixpoints() {
    // Line 2 becomes hostssl and is then covered by line 1.
    let text = "hostssl all all 10.0.0.0/8 scram-sha-256\nhost app alice 10.1.0.0/16 scram-sha-256\nhost all all 10.0.0.0/8 reject\nhost all bob 10.0.0.0/8 trust\n";
    let e = run(&known(vec![hba(text)], ""));
    assert_eq!(
        codes(&e),
        [
            (1, "superuser-remote".to_string()),
            (2, "plain-tcp-allowed".into()),
            (2, "shadowed-line".into()),
            (4, "shadowed-line".into())
        ]
    );
    // What the policy asks for; the host renders it (`tests/rendering.yaml` checks
    // the text through the real host).
    assert_eq!(hba_edits(&e, "pg_hba.conf"), ["delete 2", "delete 4"]);
    let fixed: String =
        "hostssl all all 10.0.0.0/8 scram-sha-256\nhost all all 10.0.0.0/8 reject\n".into();
    // What is left is the superuser reaching the server through the all-users line,
    // which has no automatic fix.
    let again = run(&known(vec![hba(&fixed)], ""));
    assert!(again.patches.is_empty());
    assert_eq!(codes(&again), [(1, "superuser-remote".to_string())]);
}

#[test]
fn shadowed_reject_is_high_and_kept() {
    let text = "host all all 10.0.0.0/8 scram-sha-256\nhost all mallory 10.0.0.0/8 reject\n";
    let e = run(&input(vec![hba(text)], r#"{"require_tls": false}"#));
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "shadowed-line")
        .unwrap();
    assert_eq!(
        (f.code.as_str(), f.location.line, f.severity, f.patch),
        ("shadowed-line", 2, Severity::High, None)
    );
}

#[test]
fn invalid_lines_refuse_the_file() {
    let mut doc = hba("host all all 10.0.0.0/8 scram-sha-256\n");
    doc.diagnostics.push(Diagnostic {
        code: "invalid-line".into(),
        message: "invalid connection type \"hots\"".into(),
        location: loc("pg_hba.conf", 2),
    });
    let mut i = input(vec![doc], r#"{"require_tls": false}"#);
    i.connections.push(conn("10.0.0.1 a@b"));
    let e = run(&i);
    assert_eq!(
        codes(&e),
        [
            (1, "superuser-remote".to_string()),
            (2, "file-refused".into()),
            (2, "invalid-line".into())
        ]
    );
    assert_eq!(
        e.findings
            .iter()
            .find(|f| f.code == "file-refused")
            .unwrap()
            .severity,
        Severity::High
    );
    assert_eq!(e.full_decisions()[0].verdict, Verdict::Deny);
    assert!(e.full_decisions()[0].reason.contains("invalid lines (2)"));
}

#[test]
fn an_invalid_line_of_an_included_file_is_named_with_its_file() {
    // The host read `extra.conf` through an `include` line and found line 3 of it bad.
    let mut doc = hba("host all all 10.0.0.0/8 scram-sha-256\n");
    doc.diagnostics.push(Diagnostic {
        code: "invalid-line".into(),
        message: "invalid connection type \"hots\"".into(),
        location: loc("extra.conf", 3),
    });
    let mut i = input(vec![doc], r#"{"require_tls": false}"#);
    i.connections.push(conn("10.0.0.1 a@b"));
    let e = run(&i);
    let reason = &e.full_decisions()[0].reason;
    assert_eq!(e.full_decisions()[0].verdict, Verdict::Deny);
    assert!(reason.contains("invalid lines (extra.conf:3)"), "{reason}");
}

#[test]
fn cross_file_checks() {
    let text = "hostssl all all 10.0.0.0/8 cert map=certs\nhostssl all all 192.168.0.0/16 md5\n";
    let pgconf = conf(
        "postgresql.conf",
        "ssl = on\npassword_encryption = 'scram-sha-256'\n",
    );
    let auto = conf("postgresql.auto.conf", "ssl = off\n");
    let e = run(&input(
        vec![hba(text), pgconf, auto, ident(&[("other", "x", "x")])],
        "",
    ));
    assert_eq!(
        codes(&e),
        [
            (1, "hostssl-without-ssl".to_string()),
            (1, "ident-map-missing".into()),
            (1, "superuser-remote".into()),
            (2, "hostssl-without-ssl".into()),
            (2, "scram-required-weak-method".into()),
            (2, "superuser-remote".into()),
        ]
    );
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "hostssl-without-ssl")
        .unwrap();
    assert!(
        f.message.contains("postgresql.auto.conf:1"),
        "{}",
        f.message
    );
}

#[test]
fn md5_roles_block_the_automatic_switch() {
    let text = "hostssl all all 10.0.0.0/8 md5\n";
    let mut i = known(vec![hba(text)], "");
    i.context
        .roles
        .as_mut()
        .unwrap()
        .push(("legacy".into(), Vec::new()));
    i.context
        .password_types
        .push(("legacy".into(), "md5".into()));
    let e = run(&i);
    assert_eq!(
        codes(&e),
        [(1, "md5-auth".to_string()), (1, "superuser-remote".into())]
    );
    assert_eq!(e.findings[0].patch, None);
    assert!(e.findings[0].message.contains("`legacy`"));
}

#[test]
fn md5_password_storage_blocks_the_switch() {
    let text = "hostssl all all 10.0.0.0/8 md5\nhostssl all all 192.168.0.0/16 password\n";
    let pgconf = conf("postgresql.conf", "ssl = on\npassword_encryption = md5\n");
    let e = run(&input(vec![hba(text), pgconf], ""));
    assert_eq!(
        codes(&e),
        [
            (1, "md5-auth".to_string()),
            (1, "superuser-remote".into()),
            (2, "password-cleartext".into()),
            (2, "superuser-remote".into())
        ]
    );
    assert!(e.patches.is_empty());
    let cleartext = e
        .findings
        .iter()
        .find(|f| f.code == "password-cleartext")
        .unwrap();
    assert!(
        cleartext
            .message
            .contains("stores new passwords as MD5 (`password_encryption`, postgresql.conf:2)"),
        "{}",
        cleartext.message
    );
    assert!(
        cleartext.remediation.starts_with("No automatic fix"),
        "{}",
        cleartext.remediation
    );
}

#[test]
fn clientcert_verify_full_when_required() {
    let text = "hostssl all all 10.0.0.0/8 scram-sha-256 clientcert=verify-ca\nhost all all 10.0.0.0/8\tscram-sha-256\n";
    let settings = r#"{"require_clientcert_verify_full": true}"#;
    let e = run(&known(vec![hba(text)], settings));
    // What the policy asks for; the host renders it (`tests/rendering.yaml` checks
    // the text through the real host).
    assert_eq!(
        hba_edits(&e, "pg_hba.conf"),
        ["set 1: +clientcert=verify-full", "delete 2"]
    );
    // The second line then repeats the first: shadowed once fixed, so deleted.
    assert!(
        codes(&e).contains(&(2, "shadowed-line".to_string())),
        "{:?}",
        codes(&e)
    );
    let text = "hostssl all all 10.0.0.0/8 scram-sha-256 clientcert=verify-ca\nhost all all 192.168.0.0/16\tscram-sha-256 # lan\n";
    let e = run(&known(vec![hba(text)], settings));
    assert_eq!(
        hba_edits(&e, "pg_hba.conf"),
        [
            "set 1: +clientcert=verify-full",
            "set 2: type=hostssl +clientcert=verify-full"
        ]
    );
    let fixed = "hostssl all all 10.0.0.0/8 scram-sha-256 clientcert=verify-full\nhostssl all all 192.168.0.0/16\tscram-sha-256 clientcert=verify-full # lan\n";
    let again = run(&known(vec![hba(fixed)], settings));
    assert!(again.patches.is_empty());
    assert!(
        codes(&again).iter().all(|(_, c)| c == "superuser-remote"),
        "{:?}",
        codes(&again)
    );
}

#[test]
fn decisions() {
    let text = "local all all peer\nhostssl all all 10.0.0.0/8 scram-sha-256\nhost all all 10.0.0.0/8 reject\n";
    let mut i = input(vec![hba(text)], "");
    i.connections = vec![
        conn("local a@b"),
        conn("10.0.0.1 a@b ssl"),
        conn("10.0.0.1 a@b"),
        conn("192.168.1.1 a@b"),
    ];
    let e = run(&i);
    let got: Vec<(Option<u32>, Option<String>, Verdict, String)> = e
        .full_decisions()
        .iter()
        .map(|d| {
            (
                d.location.as_ref().map(|l| l.line),
                d.method.clone(),
                d.verdict,
                d.stage.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (Some(1), Some("peer".into()), Verdict::Allow, "auth".into()),
            (
                Some(2),
                Some("scram-sha-256".into()),
                Verdict::Allow,
                "auth".into()
            ),
            (Some(3), Some("reject".into()), Verdict::Deny, "hba".into()),
            (None, None, Verdict::Deny, "hba".into()),
        ]
    );
    assert!(e.full_decisions()[2].reason.contains("rejected by line 3"));
    assert!(e.full_decisions()[3].reason.contains("no matching line"));
}

#[test]
fn codes_are_unique_and_documented() {
    let readme = include_str!("../README.md");
    let mut seen = std::collections::HashSet::new();
    for c in CODES {
        assert!(seen.insert(c.code), "duplicate code {}", c.code);
        assert!(
            readme.contains(&format!("`{}`", c.code)),
            "README.md does not document `{}`",
            c.code
        );
    }
}

#[test]
fn settings_are_validated() {
    let i = input(vec![], r#"{"org_cidrs": ["nope"]}"#);
    assert!(policy_guest::run::<PgHba>(&i).is_err());
    let i = input(vec![], r#"{"unknown": 1}"#);
    assert!(policy_guest::run::<PgHba>(&i).is_err());
    let _: Context = context(15);
}

#[test]
fn trust_on_the_socket_becomes_peer_for_the_os_user() {
    let text = "local   all   postgres   trust   # admin\n";
    let e = run(&input(vec![hba(text)], ""));
    assert_eq!(codes(&e), [(1, "trust-local".to_string())]);
    // What the policy asks for; the host renders it (`tests/rendering.yaml` checks
    // the text through the real host).
    assert_eq!(hba_edits(&e, "pg_hba.conf"), ["set 1: method=peer"]);
    let fixed: String = "local   all   postgres   peer    # admin\n".into();
    assert!(run(&input(vec![hba(&fixed)], "")).findings.is_empty());
}

/// Regression tests from real-world files (issue 13): missed exposures and noise.
#[path = "tests_realworld.rs"]
mod realworld;

#[test]
fn md5_says_it_is_deprecated_on_18_only() {
    let text = "hostssl all all 10.0.0.0/8 md5\n";
    let message = |version| {
        let mut i = input(vec![hba(text)], "");
        i.context.postgres_version = Some(version);
        let e = run(&i);
        e.findings
            .iter()
            .find(|f| f.code == "md5-auth")
            .map(|f| f.message.clone())
            .unwrap()
    };
    assert!(
        message(18).contains("on PostgreSQL 18, MD5 passwords are deprecated"),
        "{}",
        message(18)
    );
    assert!(!message(17).contains("deprecated"), "{}", message(17));
}

#[test]
fn oauth_without_a_validator_library_is_refused_on_18() {
    let text = "host all all 10.0.0.0/8 oauth issuer=https://example.com scope=openid\n";
    let invalid = |pgconf: Option<&str>| {
        let mut docs = vec![hba(text)];
        if let Some(c) = pgconf {
            docs.push(conf("postgresql.conf", c));
        }
        let mut i = input(docs, "");
        i.context.postgres_version = Some(18);
        let e = run(&i);
        e.findings
            .iter()
            .filter(|f| f.code == "invalid-line")
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        invalid(Some("ssl = on\n")),
        ["oauth_validator_libraries must be set for authentication method oauth"]
    );
    assert!(invalid(Some("oauth_validator_libraries = 'my_validator'\n")).is_empty());
    // Without postgresql.conf the setting is unknown: no claim either way.
    assert!(invalid(None).is_empty());
}
