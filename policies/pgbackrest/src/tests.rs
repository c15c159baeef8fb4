//! Native tests with documents shaped as the host hands them over.

use policy_guest::{
    Body, Context, Document, Edit, Evaluation, Input, Location, Setting, Severity, Span, Structured,
};

use super::*;

/// An INI document as the host's `ini` parser gives it.
fn ini_doc(path: &str, text: &str) -> Document {
    let mut settings = Vec::new();
    let mut section = None;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(name.to_string());
            continue;
        }
        let (k, v) = l.split_once('=').expect("key=value");
        settings.push(Setting {
            section: section.clone(),
            name: k.trim().into(),
            value: v.trim().into(),
            args: vec![],
            location: Location {
                file: path.into(),
                line: i as u32 + 1,
                end_line: None,
                pointer: None,
            },
        });
    }
    Document {
        kind: policy_guest::DocumentKind::Pgbackrest,
        path: path.into(),
        text: text.into(),
        body: Body::Settings(settings),
        diagnostics: vec![],
    }
}

fn patroni_doc(json: serde_json::Value) -> Document {
    let mut spans = Vec::new();
    fn walk(v: &serde_json::Value, p: String, line: &mut u32, spans: &mut Vec<Span>) {
        spans.push(Span {
            pointer: p.clone(),
            line: *line,
            end_line: *line,
        });
        *line += 1;
        if let serde_json::Value::Object(m) = v {
            for (k, v) in m {
                walk(v, format!("{p}/{k}"), line, spans);
            }
        }
    }
    walk(&json, String::new(), &mut 1, &mut spans);
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

fn run(docs: Vec<Document>, settings: &str) -> Evaluation {
    let context = Context {
        postgres_version: None,
        patroni_version: None,
        members: None,
        resolve: vec![],
        dual_stack: None,
        server_addresses: vec![],
        roles: None,
        password_types: vec![],
        extra: "{}".into(),
    };
    let input = Input {
        documents: docs,
        context,
        requests: Default::default(),
        connections: vec![],
        deployment: policy_guest::testing::deployment(),
        settings: settings.into(),
    };
    policy_guest::run::<Pgbackrest>(&input).expect("evaluates")
}

fn codes(e: &Evaluation) -> Vec<(String, Severity, u32)> {
    e.findings
        .iter()
        .map(|f| (f.code.clone(), f.severity, f.location.line))
        .collect()
}

/// Applies line patches bottom-up, as the host does.
fn patched(e: &Evaluation, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut edits: Vec<(u32, u32, String)> = e
        .patches
        .iter()
        .flat_map(|p| &p.edits)
        .map(|x| match x {
            Edit::Lines(l) => (l.start, l.end, l.text.clone()),
            _ => panic!("line edits"),
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (s, e, t) in edits {
        lines.splice(
            (s - 1) as usize..e as usize,
            t.split('\n').map(str::to_string),
        );
    }
    lines.join("\n") + "\n"
}

const INSECURE: &str = "\
[global]
repo1-host=backup1
repo1-host-user=postgres
repo2-type=s3
repo2-s3-bucket=pg-backups
repo2-s3-endpoint=s3.eu-west-1.amazonaws.com
repo2-s3-region=eu-west-1
repo2-storage-verify-tls=n
repo2-path=/pg-cluster
tls-server-address=*
process-max=4

[main]
pg1-path=/var/lib/postgresql/15/main
";

#[test]
fn insecure_config() {
    let e = run(vec![ini_doc("pgbackrest.conf", INSECURE)], "{}");
    assert_eq!(
        codes(&e),
        vec![
            ("storage-verify-tls-disabled".into(), Severity::High, 8),
            ("repo-unencrypted".into(), Severity::High, 4),
            ("host-type-ssh".into(), Severity::Low, 2),
            ("tls-server-no-auth".into(), Severity::High, 10),
            ("tls-server-incomplete".into(), Severity::High, 10),
            ("tls-server-no-ca".into(), Severity::Medium, 10),
        ]
    );
    let after = patched(&e, INSECURE);
    assert!(after.contains("\nrepo2-storage-verify-tls=y\n"), "{after}");
    assert!(after.contains("tls-server-address=*\ntls-server-cert-file=/etc/pgbackrest/ssl/server.crt\ntls-server-key-file=/etc/pgbackrest/ssl/server.key\ntls-server-ca-file=/etc/pgbackrest/ssl/ca.crt\nprocess-max=4"), "{after}");
    let again: Vec<String> = run(vec![ini_doc("pgbackrest.conf", &after)], "{}")
        .findings
        .into_iter()
        .map(|f| f.code)
        .collect();
    // What needs a human: encryption at stanza creation, SSH → TLS, the authorizations.
    assert_eq!(
        again,
        vec!["repo-unencrypted", "host-type-ssh", "tls-server-no-auth"]
    );
}

#[test]
fn tls_hosts_and_clean_config() {
    let text = "[global]\nrepo1-host = backup1\nrepo1-host-type = tls\n[main]\npg1-path=/d\n";
    let e = run(vec![ini_doc("pgbackrest.conf", text)], "{}");
    assert_eq!(
        codes(&e),
        vec![("tls-client-incomplete".into(), Severity::High, 3)]
    );
    let after = patched(&e, text);
    assert!(after.contains("repo1-host-type = tls\nrepo1-host-cert-file = /etc/pgbackrest/ssl/client.crt\nrepo1-host-key-file = /etc/pgbackrest/ssl/client.key\nrepo1-host-ca-file = /etc/pgbackrest/ssl/ca.crt\n"), "{after}");
    assert!(
        run(vec![ini_doc("pgbackrest.conf", &after)], "{}")
            .findings
            .is_empty()
    );

    let hardened = "[global]\nrepo1-host=backup1\nrepo1-host-type=tls\nrepo1-host-cert-file=/c\nrepo1-host-key-file=/k\nrepo1-host-ca-file=/ca\nrepo2-type=s3\nrepo2-cipher-type=aes-256-cbc\nrepo2-cipher-pass=x\ntls-server-address=10.0.1.11\ntls-server-cert-file=/s\ntls-server-key-file=/sk\ntls-server-ca-file=/ca\ntls-server-auth=backup1=main\n[main]\npg1-path=/d\n";
    assert!(
        run(vec![ini_doc("pgbackrest.conf", hardened)], "{}")
            .findings
            .is_empty()
    );
    let any = hardened.replace("backup1=main", "backup1=*");
    assert_eq!(
        codes(&run(vec![ini_doc("pgbackrest.conf", &any)], "{}")),
        vec![("tls-server-auth-any-stanza".into(), Severity::Low, 14)]
    );
    let ssh_ok = run(
        vec![ini_doc("p.conf", "[global]\nrepo1-host=b\n")],
        r#"{"require_tls_hosts": false}"#,
    );
    assert!(ssh_ok.findings.is_empty());
}

#[test]
fn local_repositories_and_legacy_names() {
    let e = run(vec![ini_doc("p.conf", "[main]\npg1-path=/d\n")], "{}");
    assert_eq!(
        codes(&e),
        vec![("repo-unencrypted".into(), Severity::Medium, 2)]
    );
    let e = run(
        vec![ini_doc(
            "p.conf",
            "[global]\nrepo-path=/r\nrepo-cipher-type=aes-256-cbc\n[main]\npg1-path=/d\n",
        )],
        "{}",
    );
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
    let e = run(
        vec![ini_doc(
            "p.conf",
            "[global]\nrepo1-s3-verify-tls=n\nrepo1-cipher-type=aes-256-cbc\n",
        )],
        "{}",
    );
    assert_eq!(
        codes(&e),
        vec![("storage-verify-tls-disabled".into(), Severity::High, 2)]
    );
}

#[test]
fn commands_pinned_in_patroni() {
    let unpinned = patroni_doc(serde_json::json!({
        "bootstrap": {"dcs": {"postgresql": {"parameters": {
            "archive_command": "pgbackrest --stanza=main archive-push %p",
            "restore_command": "pgbackrest --stanza=main archive-get %f \"%p\""}}}},
        "postgresql": {"parameters": {"unix_socket_directories": "/run"}}
    }));
    let conf = ini_doc(
        "pgbackrest.conf",
        "[global]\nrepo1-cipher-type=aes-256-cbc\n[main]\npg1-path=/d\n",
    );
    let e = run(vec![conf.clone(), unpinned], "{}");
    let got: Vec<&str> = e.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(got, vec!["command-not-pinned", "command-not-pinned"]);
    let Edit::Set(pv) = &e.patches[0].edits[0] else {
        panic!("pointer edit")
    };
    assert_eq!(pv.pointer, "/postgresql/parameters/archive_command");
    assert_eq!(pv.value, "\"pgbackrest --stanza=main archive-push %p\"");

    let pinned_other_stanza = patroni_doc(serde_json::json!({"postgresql": {"parameters": {
        "archive_command": "/usr/bin/pgbackrest --stanza=pg-cluster archive-push %p",
        "restore_command": "cp /x %p"}}}));
    let e = run(vec![conf.clone(), pinned_other_stanza.clone()], "{}");
    assert_eq!(
        e.findings
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>(),
        vec!["unknown-stanza"]
    );
    // Without a pgbackrest.conf, stanzas are not judged.
    assert!(run(vec![pinned_other_stanza], "{}").findings.is_empty());
    // recovery_conf does not pin restore_command.
    let recovery = patroni_doc(
        serde_json::json!({"postgresql": {"recovery_conf": {"restore_command": "pgbackrest --stanza=main archive-get %f %p"}}}),
    );
    assert_eq!(run(vec![conf, recovery], "{}").findings.len(), 1);
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

/// Regression tests from real-world pgbackrest.conf files (issue 13).
#[path = "tests_realworld.rs"]
mod realworld;
