//! Policy tests over hand-built inputs; fixes are applied and the result checked again.

use policy_guest::hba::testing::{context, rules};
use policy_guest::testing::hba_edits;
use policy_guest::{
    Body, Diagnostic, Document, Edit, Evaluation, Input, Location, PgbouncerPasswordKind as Kind,
    PgbouncerUser, Setting, Severity,
};

use super::*;

/// An ini file read the simple way (whole-line comments, `key = value`, `[section]`).
fn ini(path: &str, text: &str) -> Document {
    let mut section = None;
    let mut settings = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with(['#', ';']) {
            continue;
        }
        if let Some(s) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(s.to_string());
            continue;
        }
        if let Some((k, v)) = l.split_once('=') {
            settings.push(Setting {
                section: section.clone(),
                name: k.trim().into(),
                value: v.trim().into(),
                args: Vec::new(),
                location: Location {
                    file: path.into(),
                    line: i as u32 + 1,
                    end_line: None,
                    pointer: None,
                },
            });
        }
    }
    Document {
        kind: policy_guest::DocumentKind::Pgbouncer,
        path: path.into(),
        text: text.into(),
        body: Body::Settings(settings),
        diagnostics: Vec::new(),
    }
}

fn hba(path: &str, text: &str) -> Document {
    let mut r = rules(text);
    for rule in &mut r {
        rule.location.file = path.into();
    }
    Document {
        kind: policy_guest::DocumentKind::PgHba,
        path: path.into(),
        text: text.into(),
        body: Body::Hba(r),
        diagnostics: Vec::new(),
    }
}

fn run(docs: Vec<Document>, settings: &str) -> Evaluation {
    let input = Input {
        documents: docs,
        context: context(15),
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: settings.into(),
    };
    policy_guest::run::<PgBouncer>(&input).expect("the policy runs")
}

fn codes(e: &Evaluation) -> Vec<(String, u32)> {
    let mut v: Vec<_> = e
        .findings
        .iter()
        .map(|f| (f.code.clone(), f.location.line))
        .collect();
    v.sort();
    v
}

const WEAK: &str = "\
;; pgbouncer on pg-node1
[databases]
gitlabhq_production = host=10.0.1.11 port=5432 user=gitlab password=Secret-1

[pgbouncer]
listen_addr = *
listen_port = 6432
auth_type = md5
auth_file = /etc/pgbouncer/userlist.txt
admin_users = gitlab, pgbouncer
stats_users = monitor
client_tls_key_file = /etc/pgbouncer/server.key
client_tls_cert_file = /etc/pgbouncer/server.crt
client_tls_protocols = all
server_tls_ca_file = /etc/pgbouncer/ca.crt
";

/// The auth_file as the host hands it over: each user with how its password is stored,
/// the text with the passwords redacted, a `auth-file-broken` diagnostic per `broken` line.
fn userlist(users: &[(&str, Kind)], broken: Option<u32>) -> Document {
    let mut text: String = users
        .iter()
        .map(|(u, k)| {
            let pw = if *k == Kind::Empty { "" } else { "<redacted>" };
            format!("\"{u}\" \"{pw}\"\n")
        })
        .collect();
    if broken.is_some() {
        text.push_str("# \"old\" <redacted>\n\"late\" \"<redacted>\"\n");
    }
    let at = |line| Location {
        file: "userlist.txt".into(),
        line,
        end_line: None,
        pointer: None,
    };
    Document {
        kind: policy_guest::DocumentKind::PgbouncerAuthFile,
        path: "userlist.txt".into(),
        text,
        body: Body::PgbouncerUsers(
            users
                .iter()
                .zip(1..)
                .map(|((u, k), line)| PgbouncerUser {
                    user: (*u).into(),
                    password_kind: *k,
                    weak: None,
                    location: at(line),
                })
                .collect(),
        ),
        diagnostics: broken
            .map(|line| Diagnostic {
                code: "auth-file-broken".into(),
                message: "PgBouncer logs `broken auth file` and stops reading here".into(),
                location: at(line),
            })
            .into_iter()
            .collect(),
    }
}

const USERLIST_SCRAM: &[(&str, Kind)] = &[("gitlab", Kind::Scram), ("pgbouncer", Kind::Plain)];

#[test]
fn weak_file_and_its_fix() {
    let e = run(
        vec![ini("pgbouncer.ini", WEAK), userlist(USERLIST_SCRAM, None)],
        r#"{"listen_addr": "10.0.1.11", "allowed_admin_users": ["pgbouncer"]}"#,
    );
    assert_eq!(
        codes(&e),
        vec![
            ("admin-user-is-app-user".into(), 3),
            ("admin-user-not-allowed".into(), 10),
            ("auth-type-weak".into(), 8),
            ("client-tls-weak".into(), 5),
            ("listen-all-interfaces".into(), 6),
            ("password-in-config".into(), 3),
            ("server-tls-weak".into(), 5),
            ("tls-protocols-legacy".into(), 14),
        ]
    );
    // Every fix is a settings edit of `[pgbouncer]`, written by the host
    // (tests/tls.yaml and tests/auth.yaml show the fixed text).
    let mut sets: Vec<(String, String)> = e
        .patches
        .iter()
        .flat_map(|p| {
            assert_eq!(p.file, "pgbouncer.ini");
            p.edits.iter()
        })
        .map(|ed| match ed {
            Edit::SetSetting(s) => {
                assert_eq!(s.section.as_deref(), Some("pgbouncer"));
                (s.key.clone(), s.value.clone())
            }
            other => panic!("not a settings edit: {other:?}"),
        })
        .collect();
    sets.sort();
    let want: Vec<(String, String)> = [
        ("admin_users", "pgbouncer"),
        ("auth_type", "scram-sha-256"),
        ("client_tls_protocols", "secure"),
        ("client_tls_sslmode", "require"),
        ("listen_addr", "10.0.1.11"),
        ("server_tls_sslmode", "verify-full"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(sets, want);
}

#[test]
fn auth_hba_file_cross_checks() {
    let conf = "[pgbouncer]\nlisten_addr = 10.0.1.11\nauth_type = hba\nauth_hba_file = /etc/pgbouncer/pgbouncer_hba.conf\nclient_tls_sslmode = prefer\nclient_tls_key_file = /k\nclient_tls_cert_file = /c\nserver_tls_sslmode = verify-full\nserver_tls_ca_file = /ca\n";
    let hba_text = "local all pgbouncer peer\nhost    all all 10.0.3.0/24 scram-sha-256\nhost all all 10.0.4.0/24 trust\nhostssl all all 10.0.5.0/24 cert\n";
    let docs = vec![
        ini("bouncer/pgbouncer.ini", conf),
        hba("bouncer/pgbouncer_hba.conf", hba_text),
        hba("pg_hba.conf", "host all all 0.0.0.0/0 trust\n"),
    ];
    let e = run(docs, "{}");
    assert_eq!(
        codes(&e),
        vec![
            ("auth-hba-plaintext".into(), 2),
            ("auth-hba-trust".into(), 3),
            ("client-tls-weak".into(), 5)
        ]
    );
    assert!(e.findings.iter().all(|f| f.code == "client-tls-weak" || f.location.file == "bouncer/pgbouncer_hba.conf"));
    // The method and the connection type change in their own columns; the host renders
    // them (`tests/auth.yaml` shows the text).
    assert_eq!(
        hba_edits(&e, "bouncer/pgbouncer_hba.conf"),
        ["set 2: type=hostssl", "set 3: method=scram-sha-256"]
    );

    // TLS off: hostssl lines never match; the file missing is said.
    let off = "[pgbouncer]\nauth_type = hba\nauth_hba_file = /etc/pgbouncer/other_hba.conf\n";
    let e = run(
        vec![
            ini("pgbouncer.ini", off),
            hba("pgbouncer_hba.conf", hba_text),
        ],
        "{}",
    );
    assert!(
        codes(&e).contains(&("auth-hba-file-unchecked".into(), 3)),
        "{:?}",
        codes(&e)
    );
    let off = "[pgbouncer]\nauth_type = hba\nauth_hba_file = pgbouncer_hba.conf\n";
    let e = run(
        vec![
            ini("pgbouncer.ini", off),
            hba("pgbouncer_hba.conf", hba_text),
        ],
        "{}",
    );
    assert!(
        codes(&e).contains(&("auth-hba-hostssl-without-tls".into(), 4)),
        "{:?}",
        codes(&e)
    );
    // No TLS files: no `hostssl` patch for the plaintext line.
    assert!(
        e.findings
            .iter()
            .filter(|f| f.code == "auth-hba-plaintext")
            .all(|f| f.patch.is_none())
    );
}

#[test]
fn hardened_is_clean() {
    let text = "[databases]\napp = host=10.0.1.11 dbname=app\n[pgbouncer]\nlisten_addr = 10.0.1.11\nauth_type = scram-sha-256\nclient_tls_sslmode = verify-full\nclient_tls_key_file = /k\nclient_tls_cert_file = /c\nclient_tls_ca_file = /ca\nserver_tls_sslmode = verify-full\nserver_tls_ca_file = /ca\nadmin_users = pgbouncer-admin\n";
    let e = run(vec![ini("pgbouncer.ini", text)], "{}");
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
}

#[test]
fn settings_are_validated() {
    let input = Input {
        documents: Vec::new(),
        context: context(15),
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: r#"{"min_client_tls_sslmode": "always", "allowed_auth_types": ["kerberos"]}"#
            .into(),
    };
    let err = policy_guest::run::<PgBouncer>(&input).expect_err("invalid settings");
    assert!(
        err.message.contains("`always`") && err.message.contains("`kerberos`"),
        "{}",
        err.message
    );
}

#[test]
fn codes_are_unique_and_documented() {
    let readme = include_str!("../README.md");
    let mut seen = std::collections::HashSet::new();
    for c in CODES {
        assert!(seen.insert(c.code), "duplicate code {}", c.code);
        assert!(
            readme.contains(&format!("`{}`", c.code)),
            "README lacks {}",
            c.code
        );
    }
}

#[test]
fn scram_only_when_the_auth_file_can_do_it() {
    let settings = r#"{"listen_addr": "10.0.1.11"}"#;
    let auth = |e: &Evaluation| {
        e.findings
            .iter()
            .find(|f| f.code == "auth-type-weak")
            .cloned()
            .unwrap()
    };
    // Not among the inputs: unknown secrets, no switch.
    let f = auth(&run(vec![ini("pgbouncer.ini", WEAK)], settings));
    assert_eq!(f.patch, None);
    assert!(
        f.message
            .contains("the auth_file `/etc/pgbouncer/userlist.txt` is not among the inputs"),
        "{}",
        f.message
    );
    assert!(
        f.remediation
            .contains("3. then set `auth_type = scram-sha-256`"),
        "{}",
        f.remediation
    );
    // An MD5 hash and an empty secret would be locked out.
    let md5 = &[("gitlab", Kind::Md5), ("app", Kind::Empty)];
    let f = auth(&run(
        vec![ini("pgbouncer.ini", WEAK), userlist(md5, None)],
        settings,
    ));
    assert_eq!(f.patch, None);
    assert!(
        f.message
            .contains("`gitlab` has an MD5 hash, `app` has an empty secret"),
        "{}",
        f.message
    );
    // auth_user: other users' storage is PostgreSQL's, unknown.
    let with_auth_user = WEAK.replace("auth_file =", "auth_user = pgbouncer\nauth_file =");
    let f = auth(&run(
        vec![
            ini("pgbouncer.ini", &with_auth_user),
            userlist(USERLIST_SCRAM, None),
        ],
        settings,
    ));
    assert_eq!(f.patch, None);
    // Every secret usable: offered.
    let f = auth(&run(
        vec![ini("pgbouncer.ini", WEAK), userlist(USERLIST_SCRAM, None)],
        settings,
    ));
    assert!(f.patch.is_some());
    // A broken line: the users PgBouncer loads are not the file's, no switch.
    let f = auth(&run(
        vec![
            ini("pgbouncer.ini", WEAK),
            userlist(USERLIST_SCRAM, Some(3)),
        ],
        settings,
    ));
    assert_eq!(f.patch, None);
    assert!(
        f.message.contains("stops reading userlist.txt at line 3"),
        "{}",
        f.message
    );
}

#[test]
fn a_broken_auth_file_line_is_reported() {
    let found = |e: &Evaluation| -> Vec<(String, u32, Severity)> {
        e.findings
            .iter()
            .filter(|f| f.code == "auth-file-broken")
            .map(|f| (f.code.clone(), f.location.line, f.severity))
            .collect()
    };
    // An entry after the broken line is lost: high.
    let e = run(vec![userlist(USERLIST_SCRAM, Some(3))], "{}");
    assert_eq!(
        found(&e),
        vec![("auth-file-broken".into(), 3, Severity::High)]
    );
    // Only the last line: PgBouncer loads every user, low.
    let e = run(vec![userlist(USERLIST_SCRAM, Some(4))], "{}");
    assert_eq!(
        found(&e),
        vec![("auth-file-broken".into(), 4, Severity::Low)]
    );
    // A clean file: nothing.
    let e = run(vec![userlist(USERLIST_SCRAM, None)], "{}");
    assert!(found(&e).is_empty());
}

/// Regression tests from real-world pgbouncer.ini files (issue 13).
#[path = "tests_realworld.rs"]
mod realworld;
