//! Native tests: haproxy documents built as the host builds them (one setting per
//! directive), Patroni documents as structured JSON.

use policy_guest::testing::context;
use policy_guest::{
    Body, Document, Edit, Evaluation, Input, Location, Setting, Severity, Span, Structured,
};

use super::*;

/// Splits like the host (no quotes in these fixtures).
pub fn haproxy_doc(path: &str, text: &str) -> Document {
    let sections = ["global", "defaults", "frontend", "backend", "listen"];
    let mut settings = Vec::new();
    let mut section: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let code = raw.split('#').next().unwrap_or("");
        let words: Vec<&str> = code.split_whitespace().collect();
        let Some((first, rest)) = words.split_first() else {
            continue;
        };
        if sections.contains(first) {
            section = Some(match rest.first() {
                Some(n) => format!("{first} {n}"),
                None => first.to_string(),
            });
        }
        let value = code.trim_start()[first.len()..].trim().to_string();
        settings.push(Setting {
            section: section.clone(),
            name: first.to_string(),
            value,
            args: rest.iter().map(|s| s.to_string()).collect(),
            location: Location {
                file: path.into(),
                line: i as u32 + 1,
                end_line: None,
                pointer: None,
            },
        });
    }
    Document {
        kind: policy_guest::DocumentKind::Haproxy,
        path: path.into(),
        text: text.into(),
        body: Body::Settings(settings),
        diagnostics: vec![],
    }
}

/// A Patroni document from JSON; every pointer gets line 1 (enough for these tests).
pub fn patroni_doc(json: serde_json::Value) -> Document {
    let mut spans = Vec::new();
    fn walk(v: &serde_json::Value, p: String, spans: &mut Vec<Span>) {
        spans.push(Span {
            pointer: p.clone(),
            line: 1,
            end_line: 1,
        });
        if let serde_json::Value::Object(m) = v {
            for (k, v) in m {
                walk(v, format!("{p}/{k}"), spans);
            }
        }
    }
    walk(&json, String::new(), &mut spans);
    Document {
        kind: policy_guest::DocumentKind::Patroni,
        path: "patroni.yml".into(),
        text: String::new(),
        body: Body::Structured(Structured {
            json: json.to_string(),
            spans,
        }),
        diagnostics: vec![],
    }
}

pub fn run(docs: Vec<Document>, settings: &str) -> Evaluation {
    let input = Input {
        documents: docs,
        context: context(),
        requests: Default::default(),
        connections: vec![],
        deployment: policy_guest::testing::deployment(),
        settings: settings.into(),
    };
    policy_guest::run::<Haproxy>(&input).expect("evaluates")
}

fn codes(e: &Evaluation) -> Vec<(String, Severity, u32)> {
    e.findings
        .iter()
        .map(|f| (f.code.clone(), f.severity, f.location.line))
        .collect()
}

fn patched(e: &Evaluation, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for p in &e.patches {
        for edit in &p.edits {
            let Edit::Lines(l) = edit else {
                panic!("line edits only")
            };
            assert_eq!(l.start, l.end);
            lines[l.start as usize - 1] = l.text.clone();
        }
    }
    lines.join("\n") + "\n"
}

const PLAIN: &str = "\
global
    maxconn 100
defaults
    mode tcp
listen primary
    bind 10.0.2.5:5000
    option httpchk OPTIONS /primary
    default-server inter 3s fall 3
    server pg1 10.0.1.11:5432 maxconn 100 check port 8008 # node 1
    server pg2 10.0.1.12:5432 maxconn 100 check port 8008
listen stats
    bind :7000
";

fn tls_patroni(verify: &str) -> Document {
    patroni_doc(serde_json::json!({
        "scope": "c", "restapi": {
            "listen": "10.0.1.11:8008", "connect_address": "10.0.1.11:8008",
            "certfile": "/etc/patroni/ssl/server.crt", "cafile": "/etc/patroni/ssl/ca.crt",
            "verify_client": verify,
            "allowlist": ["10.0.1.0/24", "10.0.2.5/32"]
        }
    }))
}

const CLIENT_CERT: &str = r#"{"client_cert": "/etc/haproxy/ssl/haproxy-client.pem"}"#;

#[test]
fn plain_checks_against_tls_api_are_critical_and_fixed() {
    let e = run(
        vec![haproxy_doc("haproxy.cfg", PLAIN), tls_patroni("required")],
        CLIENT_CERT,
    );
    assert_eq!(
        codes(&e),
        vec![
            ("check-plain-http".into(), Severity::High, 9),
            ("check-without-client-cert".into(), Severity::High, 9),
            ("check-plain-http".into(), Severity::High, 10),
            ("check-without-client-cert".into(), Severity::High, 10),
        ]
    );
    // The CA is the one the Patroni side names (`restapi.cafile`), not an invented one.
    let after = patched(&e, PLAIN);
    assert!(after.contains("    server pg1 10.0.1.11:5432 maxconn 100 check port 8008 check-ssl ca-file /etc/patroni/ssl/ca.crt crt /etc/haproxy/ssl/haproxy-client.pem # node 1\n"), "{after}");
    // The fix is a fixpoint.
    let again = run(
        vec![haproxy_doc("haproxy.cfg", &after), tls_patroni("required")],
        CLIENT_CERT,
    );
    assert!(again.findings.is_empty(), "{:?}", again.findings);
}

#[test]
fn no_certificate_path_is_invented() {
    // No client certificate named anywhere: the whole line's fix is withheld.
    let e = run(
        vec![haproxy_doc("haproxy.cfg", PLAIN), tls_patroni("required")],
        "{}",
    );
    assert!(e.patches.is_empty(), "{:?}", e.patches);
    let f = &e.findings[0];
    assert!(
        f.message
            .contains("no automatic fix: no input names a client certificate"),
        "{}",
        f.message
    );
    assert!(
        f.remediation.contains("1. issue a client certificate"),
        "{}",
        f.remediation
    );
    // No CA on either side: withheld too.
    let patroni = patroni_doc(serde_json::json!({
        "scope": "c", "restapi": {
            "listen": "10.0.1.11:8008", "certfile": "/etc/patroni/ssl/server.crt"
        }
    }));
    let e = run(vec![haproxy_doc("haproxy.cfg", PLAIN), patroni], "{}");
    assert!(e.patches.is_empty(), "{:?}", e.patches);
    assert!(
        e.findings[0].message.contains("no input names the CA file"),
        "{}",
        e.findings[0].message
    );
}

#[test]
fn another_clusters_patroni_is_not_the_target() {
    // The HAProxy of cluster A (10.0.1.x) and the Patroni of cluster B (10.9.0.x): the
    // checks are not judged against B's TLS API.
    let b = patroni_doc(serde_json::json!({
        "scope": "b", "restapi": {
            "listen": "10.9.0.11:8008", "certfile": "/etc/patroni/ssl/server.crt",
            "cafile": "/etc/patroni/ssl/ca.crt", "verify_client": "required"
        }
    }));
    let e = run(vec![haproxy_doc("haproxy.cfg", PLAIN), b], CLIENT_CERT);
    assert!(
        e.findings.iter().all(|f| f.code == "check-plain-http"
            && f.severity == Severity::Medium
            && f.patch.is_none()),
        "{:?}",
        codes(&e)
    );
}

#[test]
fn plain_checks_against_plain_or_unknown_api() {
    let plain =
        patroni_doc(serde_json::json!({"scope": "c", "restapi": {"listen": "10.0.1.11:8008"}}));
    let e = run(vec![haproxy_doc("haproxy.cfg", PLAIN), plain], "{}");
    assert!(
        e.findings.iter().all(|f| f.code == "check-plain-http"
            && f.severity == Severity::Low
            && f.patch.is_none())
    );
    let e = run(vec![haproxy_doc("haproxy.cfg", PLAIN)], "{}");
    assert!(e.findings.iter().all(|f| f.code == "check-plain-http"
        && f.severity == Severity::Medium
        && f.patch.is_none()));
    assert_eq!(e.findings.len(), 2);
}

#[test]
fn verify_none_and_missing_ca_file() {
    let cfg = "\
global
    ssl-server-verify none
listen primary
    bind 10.0.2.5:5000
    option httpchk
    default-server verify none
    server pg1 10.0.1.11:5432 check port 8008 check-ssl verify none crt /etc/haproxy/c.pem
    server pg2 10.0.1.12:5432 check port 8008 check-ssl crt /etc/haproxy/c.pem
listen other
    option httpchk GET /primary
    server pg3 10.0.1.13:5432 check port 8008 check-ssl verify required crt /etc/haproxy/c.pem
";
    let e = run(
        vec![haproxy_doc("haproxy.cfg", cfg), tls_patroni("required")],
        "{}",
    );
    assert_eq!(
        codes(&e),
        vec![
            ("check-verify-none".into(), Severity::High, 7),
            ("check-verify-none".into(), Severity::High, 8),
            ("check-no-ca-file".into(), Severity::High, 11),
        ]
    );
    let after = patched(&e, cfg);
    assert!(after.contains("server pg1 10.0.1.11:5432 check port 8008 check-ssl verify required crt /etc/haproxy/c.pem ca-file /etc/patroni/ssl/ca.crt\n"), "{after}");
    assert!(after.contains("server pg2 10.0.1.12:5432 check port 8008 check-ssl crt /etc/haproxy/c.pem verify required ca-file /etc/patroni/ssl/ca.crt\n"), "{after}");
    // pg3's backend has no Patroni of the input and names no CA: nothing to copy yet.
    let pg3 = e.findings.iter().find(|f| f.location.line == 11).unwrap();
    assert_eq!(pg3.patch, None);
    // Once the file names a CA, the other backend's check takes it (one CA per file).
    let again = run(
        vec![haproxy_doc("haproxy.cfg", &after), tls_patroni("required")],
        "{}",
    );
    assert_eq!(
        codes(&again),
        vec![("check-no-ca-file".into(), Severity::High, 11)]
    );
    assert!(again.findings[0].patch.is_some());
}

#[test]
fn optional_client_certificates_need_no_crt_and_tls_to_plain_is_reported() {
    let cfg = "listen p\n    option httpchk\n    server a 10.0.1.11:5432 check port 8008 check-ssl verify required ca-file /ca.crt\n";
    let e = run(
        vec![haproxy_doc("haproxy.cfg", cfg), tls_patroni("optional")],
        "{}",
    );
    assert!(e.findings.is_empty(), "{:?}", e.findings);
    let plain =
        patroni_doc(serde_json::json!({"scope": "c", "restapi": {"listen": "10.0.1.11:8008"}}));
    let e = run(vec![haproxy_doc("haproxy.cfg", cfg), plain], "{}");
    assert_eq!(
        codes(&e),
        vec![("check-tls-to-plain-api".into(), Severity::High, 3)]
    );
    assert!(e.patches.is_empty());
}

#[test]
fn source_outside_the_allowlist() {
    let cfg = "listen p\n    bind 10.9.9.9:5000\n    option httpchk OPTIONS /primary\n    server a 10.0.1.11:5432 check port 8008 check-ssl verify required ca-file /ca.crt crt /c.pem\n";
    let e = run(
        vec![haproxy_doc("haproxy.cfg", cfg), tls_patroni("required")],
        "{}",
    );
    assert_eq!(
        codes(&e),
        vec![("check-source-outside-allowlist".into(), Severity::Info, 4)]
    );
    // A check on a protected endpoint is refused outright.
    let unsafe_cfg = cfg.replace("OPTIONS /primary", "POST /restart");
    let e = run(
        vec![
            haproxy_doc("haproxy.cfg", &unsafe_cfg),
            tls_patroni("required"),
        ],
        "{}",
    );
    assert_eq!(
        codes(&e),
        vec![("check-source-outside-allowlist".into(), Severity::High, 4)]
    );
    // An address in the allowlist passes; so does an unknown source.
    let inside = cfg.replace("10.9.9.9", "10.0.2.5");
    assert!(
        run(
            vec![haproxy_doc("haproxy.cfg", &inside), tls_patroni("required")],
            "{}"
        )
        .findings
        .is_empty()
    );
    let wildcard = cfg.replace("10.9.9.9", "*");
    assert!(
        run(
            vec![
                haproxy_doc("haproxy.cfg", &wildcard),
                tls_patroni("required")
            ],
            "{}"
        )
        .findings
        .is_empty()
    );
    let via_setting = run(
        vec![
            haproxy_doc("haproxy.cfg", &wildcard),
            tls_patroni("required"),
        ],
        r#"{"source_addresses": ["10.7.7.7"]}"#,
    );
    assert_eq!(via_setting.findings.len(), 1);
}

#[test]
fn only_patroni_checks_count() {
    let cfg = "defaults\n    option httpchk GET /\nbackend web\n    server w 10.0.5.1:80 check\nbackend pg\n    option pgsql-check user x\n    server a 10.0.1.11:5432 check port 8008\nbackend custom\n    server b 10.0.1.12:5432 check port 9008\n";
    let e = run(
        vec![haproxy_doc("haproxy.cfg", cfg), tls_patroni("required")],
        "{}",
    );
    assert!(e.findings.is_empty(), "{:?}", e.findings);
    let e = run(
        vec![haproxy_doc("haproxy.cfg", cfg), tls_patroni("required")],
        r#"{"patroni_ports": [9008]}"#,
    );
    assert_eq!(e.findings.first().map(|f| f.location.line), Some(9));
}

#[test]
fn defaults_and_named_defaults_are_inherited() {
    let cfg = "\
defaults base
    option httpchk OPTIONS /primary
    default-server check port 8008 check-ssl verify none
defaults other
    mode http
backend pg from base
    server a 10.0.1.11:5432 ca-file /ca.crt crt /c.pem
backend web
    server b 10.0.1.11:5432 check port 8008
";
    let e = run(
        vec![haproxy_doc("haproxy.cfg", cfg), tls_patroni("required")],
        "{}",
    );
    assert_eq!(
        codes(&e),
        vec![("check-verify-none".into(), Severity::High, 7)]
    );
    let after = patched(&e, cfg);
    assert!(
        after.contains("    server a 10.0.1.11:5432 ca-file /ca.crt crt /c.pem verify required\n"),
        "{after}"
    );
}

#[test]
fn quoting_and_settings_validation() {
    assert_eq!(quote("/a b/c.pem"), "'/a b/c.pem'");
    assert_eq!(quote("/etc/x"), "/etc/x");
    assert_eq!(
        replace_word_pair("a  verify  none b", "verify", "none", "required"),
        "a  verify  required b"
    );
    let input = Input {
        documents: vec![],
        context: context(),
        requests: Default::default(),
        connections: vec![],
        deployment: policy_guest::testing::deployment(),
        settings: r#"{"source_addresses": ["x"]}"#.into(),
    };
    assert!(policy_guest::run::<Haproxy>(&input).is_err());
}

#[test]
fn codes_are_unique_and_documented() {
    let readme = include_str!("../README.md");
    for (i, c) in CODES.iter().enumerate() {
        assert!(
            CODES[..i].iter().all(|o| o.code != c.code),
            "duplicate {}",
            c.code
        );
        assert!(
            readme.contains(&format!("`{}`", c.code)),
            "README lacks {}",
            c.code
        );
    }
}

#[test]
fn hardened_example_is_quiet() {
    // The Patroni side of examples/hardened/patroni.yml (the keys this policy reads).
    let patroni = patroni_doc(serde_json::json!({
        "scope": "pg-cluster", "restapi": {
            "listen": "10.0.1.11:8008", "connect_address": "10.0.1.11:8008",
            "certfile": "/etc/patroni/ssl/server.crt", "keyfile": "/etc/patroni/ssl/server.key",
            "cafile": "/etc/patroni/ssl/ca.crt", "verify_client": "optional",
            "allowlist": ["10.0.1.11/32", "10.0.1.12/32", "10.0.1.13/32", "10.0.2.5/32", "127.0.0.1/32"],
            "allowlist_include_members": true
        },
        "ctl": {"cacert": "/etc/patroni/ssl/ca.crt"}
    }));
    let cfg = include_str!("../../../examples/hardened/haproxy.cfg");
    let e = run(vec![haproxy_doc("haproxy.cfg", cfg), patroni], "{}");
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
}

/// Regression tests from real-world files (issue 13): statistics pages, the REST API
/// behind a frontend, unknown keywords.
#[path = "tests_realworld.rs"]
mod realworld;
