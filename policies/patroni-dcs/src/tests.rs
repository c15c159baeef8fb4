//! The policy natively: DCS findings per section, the command guard with its patches
//! applied and checked again.

#![allow(clippy::unwrap_used)]

use policy_guest::{Body, Context, Document, Edit, Evaluation, Input, Span, Structured};
use serde_json::{Value, json};

use crate::{CODES, PatroniDcs};

fn doc(config: &Value) -> Document {
    fn walk(v: &Value, pointer: String, spans: &mut Vec<Span>) {
        let line = spans.len() as u32 + 1;
        spans.push(Span {
            pointer: pointer.clone(),
            line,
            end_line: line,
        });
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| walk(v, format!("{pointer}/{k}"), spans)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, format!("{pointer}/{i}"), spans)),
            _ => {}
        }
    }
    let mut spans = Vec::new();
    walk(config, String::new(), &mut spans);
    Document {
        kind: policy_guest::DocumentKind::Patroni,
        path: "patroni.yml".into(),
        text: String::new(),
        body: Body::Structured(Structured {
            json: config.to_string(),
            spans,
        }),
        diagnostics: Vec::new(),
    }
}

fn run_with(config: &Value, settings: Value, version: Option<&str>) -> Evaluation {
    let input = Input {
        documents: vec![doc(config)],
        context: Context {
            postgres_version: None,
            patroni_version: version.map(String::from),
            members: None,
            resolve: Vec::new(),
            dual_stack: None,
            server_addresses: Vec::new(),
            roles: None,
            password_types: Vec::new(),
            extra: "{}".into(),
        },
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: settings.to_string(),
    };
    policy_guest::run::<PatroniDcs>(&input).unwrap_or_else(|e| panic!("{}", e.message))
}

fn run(config: &Value) -> Evaluation {
    run_with(config, json!({}), None)
}

fn codes(e: &Evaluation) -> Vec<String> {
    e.findings.iter().map(|f| f.code.clone()).collect()
}

fn apply(config: &Value, e: &Evaluation) -> Value {
    let mut v = config.clone();
    for p in &e.patches {
        for edit in &p.edits {
            let Edit::Set(pv) = edit else {
                panic!("only Set edits expected")
            };
            let value: Value = serde_json::from_str(&pv.value).unwrap();
            let parts: Vec<String> = pv
                .pointer
                .split('/')
                .skip(1)
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect();
            let mut cur = &mut v;
            for (i, part) in parts.iter().enumerate() {
                if i + 1 == parts.len() {
                    cur[part.as_str()] = value.clone();
                } else {
                    if cur.get(part.as_str()).is_none() {
                        cur[part.as_str()] = json!({});
                    }
                    cur = cur.get_mut(part.as_str()).unwrap();
                }
            }
        }
    }
    v
}

#[test]
fn codes_are_unique_and_documented() {
    let readme = include_str!("../README.md");
    for (i, c) in CODES.iter().enumerate() {
        assert!(
            CODES[..i].iter().all(|o| o.code != c.code),
            "duplicate code {}",
            c.code
        );
        assert!(
            readme.contains(&format!("`{}`", c.code)),
            "README.md does not document `{}`",
            c.code
        );
    }
}

#[test]
fn etcd_sections() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({ "etcd3": { "hosts": ["10.0.0.1:2379", "10.0.0.2:2379"] } }),
            vec!["dcs-no-tls", "dcs-no-authentication"],
        ),
        (
            json!({ "etcd3": { "hosts": "10.0.0.1:2379", "username": "patroni", "password": "etcd-pw-1" } }),
            vec![
                "dcs-no-tls",
                "dcs-credentials-in-clear",
                "dcs-secret-in-file",
            ],
        ),
        (
            json!({ "etcd3": { "protocol": "https", "hosts": "10.0.0.1:2379", "cacert": "/ca" } }),
            vec!["dcs-no-client-cert", "dcs-no-authentication"],
        ),
        (
            json!({ "etcd3": { "protocol": "https", "hosts": "10.0.0.1:2379", "cacert": "/ca", "cert": "/c", "key": "/k" } }),
            vec![],
        ),
        (
            json!({ "etcd": { "url": "https://patroni:etcd-pw-2@10.0.0.1:2379", "cert": "/c" } }),
            vec!["dcs-secret-in-file"],
        ),
        (
            json!({ "etcd": { "proxy": "http://10.0.0.1:2379" } }),
            vec!["dcs-no-tls", "dcs-no-authentication"],
        ),
    ];
    for (config, want) in cases {
        let e = run(&config);
        assert_eq!(codes(&e), want, "{config}");
        for f in &e.findings {
            assert!(!f.message.contains("etcd-pw"), "{}", f.message);
        }
    }
}

#[test]
fn consul_zookeeper_raft() {
    // GitLab's default: the local agent over plain HTTP, no token.
    let e = run(&json!({ "consul": { "url": "http://127.0.0.1:8500", "register_service": true } }));
    assert_eq!(codes(&e), vec!["dcs-no-tls", "dcs-no-authentication"]);
    assert_eq!(
        e.findings[0].severity,
        policy_guest::Severity::Low,
        "loopback"
    );
    let e = run(
        &json!({ "consul": { "url": "https://10.0.0.5:8501", "token": "tok-123", "verify": "off", "cert": "/c" } }),
    );
    assert_eq!(
        codes(&e),
        vec!["dcs-secret-in-file", "dcs-tls-verify-disabled"]
    );
    let e = run(
        &json!({ "consul": { "url": "https://10.0.0.5:8501", "token": "tok-123", "verify": false, "cacert": "/ca", "cert": "/c" } }),
    );
    assert_eq!(
        codes(&e),
        vec!["dcs-secret-in-file"],
        "cacert keeps verification on"
    );
    let e = run(
        &json!({ "zookeeper": { "hosts": ["10.0.0.1:2181"], "use_ssl": true, "verify": false, "cert": "/c", "key": "/k" } }),
    );
    assert_eq!(codes(&e), vec!["dcs-tls-verify-disabled"]);
    let e = run(&json!({ "raft": { "data_dir": "/var/lib/raft", "self_addr": "10.0.0.1:2222" } }));
    assert_eq!(codes(&e), vec!["dcs-no-tls", "dcs-no-authentication"]);
}

#[test]
fn commands_set_only_in_bootstrap_are_pinned_by_the_fix() {
    let config = json!({
        "bootstrap": { "dcs": { "postgresql": {
            "parameters": { "archive_command": "pgbackrest --stanza=main archive-push %p", "max_connections": 200,
                            "shared_preload_libraries": "pg_stat_statements" },
            "callbacks": { "on_role_change": "/usr/local/bin/role.sh" },
            "create_replica_methods": ["pgbackrest", "basebackup"],
            "pgbackrest": { "command": "/usr/bin/pgbackrest --stanza=main restore", "keep_data": true },
            "recovery_conf": { "restore_command": "pgbackrest archive-get %f %p", "recovery_target_timeline": "latest" },
        } } },
        "postgresql": { "parameters": { "max_connections": 500, "unix_socket_directories": "/run/postgresql" } },
    });
    let e = run(&config);
    let c = codes(&e);
    assert_eq!(
        c.iter().filter(|c| *c == "command-not-pinned").count(),
        6,
        "{c:?}"
    );
    assert!(c.contains(&"local-cmdline-parameter-ignored".to_string()));
    let fixed = apply(&config, &e);
    assert_eq!(
        fixed["postgresql"]["parameters"]["archive_command"],
        json!("pgbackrest --stanza=main archive-push %p")
    );
    assert_eq!(
        fixed["postgresql"]["parameters"]["restore_command"],
        json!("pgbackrest archive-get %f %p")
    );
    assert_eq!(
        fixed["postgresql"]["parameters"]["recovery_target_timeline"],
        json!("latest")
    );
    assert_eq!(
        fixed["postgresql"]["callbacks"]["on_role_change"],
        json!("/usr/local/bin/role.sh")
    );
    assert_eq!(fixed["postgresql"]["pgbackrest"]["keep_data"], json!(true));
    let again = codes(&run(&fixed));
    assert!(
        !again.iter().any(|c| c == "command-not-pinned"),
        "{again:?}"
    );
}

#[test]
fn local_recovery_conf_is_not_a_pin() {
    let config = json!({ "postgresql": { "recovery_conf": { "restore_command": "cp /wal/%f %p", "recovery_target_timeline": "latest" } } });
    let e = run(&config);
    assert_eq!(codes(&e), vec!["recovery-command-overridable"]);
    let fixed = apply(&config, &e);
    assert_eq!(
        fixed["postgresql"]["parameters"]["restore_command"],
        json!("cp /wal/%f %p")
    );
    assert!(codes(&run(&fixed)).is_empty());
}

#[test]
fn standby_cluster_and_role_parameters() {
    let config = json!({
        "bootstrap": { "dcs": { "standby_cluster": { "host": "10.1.0.1", "restore_command": "cp /wal/%f %p" } } },
        "standby_cluster": { "host": "10.1.0.1" },
        "postgresql": { "parameters": { "archive_command": "/bin/true" } },
    });
    let e = run(&config);
    assert_eq!(
        codes(&e),
        vec!["standby-cluster-command", "local-standby-cluster-ignored"]
    );
    assert!(e.patches.is_empty());
    // 4.2.0: parameters_<role> must be pinned too.
    let e = run_with(&config, json!({}), Some("4.2.0"));
    assert_eq!(
        codes(&e)
            .iter()
            .filter(|c| *c == "role-parameters-unpinned")
            .count(),
        3
    );
    let fixed = apply(&config, &e);
    assert_eq!(fixed["postgresql"]["parameters_primary"], json!({}));
    let again = codes(&run_with(&fixed, json!({}), Some("4.2.0")));
    assert!(!again.iter().any(|c| c == "role-parameters-unpinned"));
}
