//! Policy tests over postgresql.conf inputs built by hand; patches are checked as the
//! settings edits they ask for (the host writes them: `tests/settings.yaml` shows the
//! fixed text and that a second check is clean).

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use policy_guest::hba::testing::context;
use policy_guest::{Body, Document, Edit, Evaluation, Input, Location, Setting, Severity};

use super::*;

/// A postgresql.conf read the simple way (`name = value`, one per line).
fn conf(path: &str, text: &str) -> Document {
    let settings = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.split('#').next()?.trim();
            let (k, v) = l.split_once('=')?;
            Some(Setting {
                section: None,
                name: k.trim().to_ascii_lowercase(),
                value: v.trim().trim_matches('\'').into(),
                args: Vec::new(),
                location: Location {
                    file: path.into(),
                    line: i as u32 + 1,
                    end_line: None,
                    pointer: None,
                },
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

fn run(docs: Vec<Document>, settings: &str) -> Evaluation {
    let input = Input {
        documents: docs,
        context: context(15),
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: settings.into(),
    };
    policy_guest::run::<PostgresqlConf>(&input).expect("the policy runs")
}

/// Every patch as (file, description, key, value) of its one `set-setting` edit.
fn sets(e: &Evaluation) -> Vec<(String, String, String, String)> {
    e.patches
        .iter()
        .map(|p| {
            let [Edit::SetSetting(s)] = p.edits.as_slice() else {
                panic!("not one settings edit: {p:?}")
            };
            assert_eq!(s.section, None);
            (
                p.file.clone(),
                p.description.clone(),
                s.key.clone(),
                s.value.clone(),
            )
        })
        .collect()
}

fn codes(e: &Evaluation) -> Vec<(String, u32, String)> {
    let mut v: Vec<_> = e
        .findings
        .iter()
        .map(|f| (f.location.file.clone(), f.location.line, f.code.clone()))
        .collect();
    v.sort();
    v
}

const WEAK: &str = "\
listen_addresses = '*'          # every interface
port = 5432
ssl = off                       # TODO
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_min_protocol_version = 'TLSv1'
password_encryption = md5
log_connections = on
log_connections = off           # later one wins
shared_preload_libraries = 'pg_stat_statements'
";

const STRICT: &str = r#"{"forbid_listen_all": true, "listen_addresses": "10.0.0.5", "forbid_default_port": true, "port": 6432, "require_pgaudit": true}"#;

#[test]
fn weak_file() {
    let e = run(vec![conf("postgresql.conf", WEAK)], STRICT);
    let f = "postgresql.conf".to_string();
    assert_eq!(
        codes(&e),
        [
            (f.clone(), 0, "log-disconnections-off".to_string()),
            (f.clone(), 1, "listen-all".into()),
            (f.clone(), 2, "default-port".into()),
            (f.clone(), 3, "ssl-off".into()),
            (f.clone(), 6, "ssl-min-protocol-below-tls12".into()),
            (f.clone(), 7, "password-encryption-not-scram".into()),
            (f.clone(), 9, "log-connections-off".into()),
            (f.clone(), 10, "pgaudit-not-loaded".into()),
        ]
    );
    let f = || "postgresql.conf".to_string();
    let set = |d: &str, k: &str, v: &str| (f(), d.to_string(), k.to_string(), v.to_string());
    let mut got = sets(&e);
    got.sort();
    let mut want = vec![
        set(
            "set `listen_addresses = 10.0.0.5`",
            "listen_addresses",
            "10.0.0.5",
        ),
        set("set `port = 6432`", "port", "6432"),
        set("set `ssl = on`", "ssl", "on"),
        set(
            "set `ssl_min_protocol_version = TLSv1.2`",
            "ssl_min_protocol_version",
            "TLSv1.2",
        ),
        set(
            "set `password_encryption = scram-sha-256`",
            "password_encryption",
            "scram-sha-256",
        ),
        set("set `log_connections = on`", "log_connections", "on"),
        set("add `log_disconnections = on`", "log_disconnections", "on"),
        set(
            "set `shared_preload_libraries = pg_stat_statements,pgaudit`",
            "shared_preload_libraries",
            "pg_stat_statements,pgaudit",
        ),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn auto_conf_overrides_and_is_where_the_fix_goes() {
    let main = conf(
        "/etc/postgresql/15/main/postgresql.conf",
        "ssl = on\nlog_connections = on\nlog_disconnections = on\n",
    );
    let auto = conf(
        "/var/lib/postgresql/15/main/postgresql.auto.conf",
        "# Do not edit this file manually!\nlog_connections = 'off'\n",
    );
    let e = run(vec![auto, main], "");
    assert_eq!(
        codes(&e),
        [(
            "/var/lib/postgresql/15/main/postgresql.auto.conf".to_string(),
            2,
            "log-connections-off".to_string()
        )]
    );
    assert_eq!(
        sets(&e),
        [(
            "/var/lib/postgresql/15/main/postgresql.auto.conf".to_string(),
            "set `log_connections = on`".to_string(),
            "log_connections".to_string(),
            "on".to_string()
        )]
    );
}

#[test]
fn defaults_apply_when_absent() {
    // PostgreSQL 15 defaults: ssl off, scram-sha-256, logging off.
    let e = run(vec![conf("postgresql.conf", "# empty\n")], "");
    let got: Vec<String> = codes(&e).into_iter().map(|c| c.2).collect();
    assert_eq!(
        got,
        ["log-connections-off", "log-disconnections-off", "ssl-off"]
    );
    // No certificate configured: turning TLS on would stop the server, no patch.
    let ssl = e.findings.iter().find(|f| f.code == "ssl-off").unwrap();
    assert_eq!((ssl.patch, ssl.severity), (None, Severity::High));
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
