//! The rules that withhold a fix whose deployment facts are unknown or against it: each
//! with a case that fires (no patch, the reason and the manual steps) and one where the
//! fix is offered; and the hardened example stays quiet.

#![allow(clippy::unwrap_used)]

use policy_guest::DocumentKind;
use policy_guest::hba::rule::Rule;
use policy_guest::hba::testing::{conn, rules};
use policy_guest::testing::hba_edits;
use policy_guest::{Evaluation, Finding};

use crate::facts::{self, Facts, Known, SocketLogin};
use crate::tests::{codes, conf, hba, input, known, run};

fn finding<'a>(e: &'a Evaluation, code: &str) -> &'a Finding {
    e.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no `{code}` in {:?}", codes(e)))
}

/// The finding has no patch, says why in its message and the steps in its remediation.
fn withheld(f: &Finding, why: &str, step: &str) {
    assert_eq!(f.patch, None, "{}: {}", f.code, f.message);
    assert!(f.message.contains("no automatic fix"), "{}", f.message);
    assert!(f.message.contains(why), "{}", f.message);
    assert!(
        f.remediation.starts_with("No automatic fix") && f.remediation.contains(step),
        "{}",
        f.remediation
    );
}

#[test]
fn hostssl_only_on_a_server_known_to_speak_tls() {
    let text = "host all app 10.0.0.0/8 scram-sha-256\n";
    // No postgresql.conf, no Patroni parameter: unknown, not "on".
    let e = run(&input(vec![hba(text)], ""));
    withheld(
        finding(&e, "plain-tcp-allowed"),
        "no input says whether the server runs with `ssl` on",
        "1. turn `ssl` on",
    );
    // Known off: the reason names where.
    let off = conf("postgresql.conf", "ssl = off\n");
    let e = run(&input(vec![hba(text), off], ""));
    withheld(
        finding(&e, "plain-tcp-allowed"),
        "`ssl` is off (postgresql.conf:1)",
        "then change `host` to `hostssl`",
    );
    // Known on: the fix is offered.
    let on = conf("postgresql.conf", "ssl = on\n");
    let e = run(&input(vec![hba(text), on], ""));
    // What the policy asks for; the host renders it.
    assert_eq!(hba_edits(&e, "pg_hba.conf"), ["set 1: type=hostssl"]);
}

#[test]
fn hostssl_lines_on_a_server_without_tls_are_reported() {
    let text = "hostssl all app 10.0.0.0/8 scram-sha-256\n";
    let e = run(&input(
        vec![hba(text), conf("postgresql.conf", "port = 5432\n")],
        "",
    ));
    let f = finding(&e, "hostssl-without-ssl");
    assert!(f.message.contains("PostgreSQL's default"), "{}", f.message);
    // Unknown `ssl`: nothing is claimed either way.
    let e = run(&input(vec![hba(text)], ""));
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
}

#[test]
fn simulation_names_unknown_tls_instead_of_assuming_it() {
    let mut i = input(vec![hba("hostssl all app 10.0.0.0/8 scram-sha-256\n")], "");
    i.connections = vec![conn("10.0.0.1 app@app ssl")];
    let e = run(&i);
    let d = &e.full_decisions()[0];
    assert!(
        d.depends_on.iter().any(|f| f == "ssl"),
        "{:?}",
        d.depends_on
    );
    assert!(
        d.depends_on.iter().any(|f| f == "password_types"),
        "{:?}",
        d.depends_on
    );
}

#[test]
fn scram_only_when_every_admitted_role_has_a_scram_secret() {
    let text = "hostssl all all 10.0.0.0/8 md5\n";
    // One role of `all` has no known password storage: withheld, naming it.
    let mut i = known(vec![hba(text)], "");
    i.context
        .roles
        .as_mut()
        .unwrap()
        .push(("etl".into(), Vec::new()));
    let e = run(&i);
    withheld(
        finding(&e, "md5-auth"),
        "role(s) `etl` is stored is unknown",
        "`password_encryption = scram-sha-256`",
    );
    // `all` with no role list: unknown.
    let mut i = known(vec![hba(text)], "");
    i.context.roles = None;
    let e = run(&i);
    withheld(
        finding(&e, "md5-auth"),
        "the line admits every role, and the context lists no roles",
        "then change the method",
    );
    // Every role known SCRAM: offered.
    let e = run(&known(vec![hba(text)], ""));
    // What the policy asks for; the host renders it.
    assert_eq!(
        hba_edits(&e, "pg_hba.conf"),
        ["set 1: method=scram-sha-256"]
    );
}

#[test]
fn password_types_absent_is_unknown_not_scram() {
    // The switch today's default (SCRAM for every unnamed role) would have offered.
    let text = "hostssl all app 10.0.0.0/8 md5\n";
    let pg = conf(
        "postgresql.conf",
        "ssl = on\npassword_encryption = scram-sha-256\n",
    );
    let e = run(&input(vec![hba(text), pg], ""));
    withheld(
        finding(&e, "scram-required-weak-method"),
        "role(s) `app` is stored is unknown",
        "SELECT rolname FROM pg_authid",
    );
}

#[test]
fn no_scram_below_postgresql_10() {
    let text = "hostssl all app 10.0.0.0/8 password\n";
    let mut i = known(vec![hba(text)], "");
    i.context.postgres_version = Some(9);
    let e = run(&i);
    withheld(
        finding(&e, "password-cleartext"),
        "PostgreSQL 9 (the samples' context (`postgres_version`)) has no `scram-sha-256` method",
        "upgrade PostgreSQL to version 10",
    );
}

#[test]
fn no_scram_in_the_run_that_changes_password_encryption() {
    // PostgreSQL 13 stores MD5 by default: the postgresql-conf policy changes
    // `password_encryption` in this run, so the line keeps `md5` until the passwords are
    // set again.
    let text = "hostssl all app 10.0.0.0/8 md5\n";
    let mut i = known(vec![hba(text)], "");
    i.documents
        .retain(|d| d.kind != DocumentKind::PostgresqlConf);
    i.documents.push(conf("postgresql.conf", "ssl = on\n"));
    i.context.postgres_version = Some(13);
    let e = run(&i);
    withheld(
        finding(&e, "md5-auth"),
        "stores new passwords as MD5 (`password_encryption`, PostgreSQL 13's default)",
        "1. set `password_encryption = scram-sha-256` and reload",
    );
}

#[test]
fn trust_over_tcp_keeps_passwordless_roles() {
    let text = "host replication replicator 10.0.0.0/8 trust\n";
    let mut i = known(vec![hba(text)], r#"{"require_tls": false}"#);
    for (r, t) in &mut i.context.password_types {
        if r == "replicator" {
            *t = "none".into();
        }
    }
    let e = run(&i);
    withheld(
        finding(&e, "trust-over-tcp"),
        "role(s) `replicator` have no password",
        "give each role of this line a password",
    );
}

#[test]
fn peer_only_for_the_os_user() {
    // `all`: PgBouncer's auth_user or a replication user over the socket would fail.
    let e = run(&input(vec![hba("local all all trust\n")], ""));
    withheld(
        finding(&e, "trust-local"),
        "admits roles other than the OS user `postgres`",
        "map each OS user to its role in pg_ident.conf",
    );
    let e = run(&input(
        vec![hba("local replication replicator trust\n")],
        "",
    ));
    assert_eq!(finding(&e, "trust-local").patch, None);
}

#[test]
fn peer_not_for_a_socket_login_from_another_os_user() {
    let rule = Rule::compile(0, &rules("local all postgres trust\n")[0], 15);
    let mut f = Facts {
        os_user: Some(Known::new("postgres".to_string(), "test")),
        ..Facts::default()
    };
    assert!(facts::peer(&f, &rule).is_ok());
    f.socket_logins.push(SocketLogin {
        role: "postgres".into(),
        os_user: Some("pgbouncer".into()),
        what: "PgBouncer's `auth_user`".into(),
        source: "pgbouncer.ini:7".into(),
    });
    let w = facts::peer(&f, &rule).unwrap_err();
    assert!(w.reason.contains("pgbouncer.ini:7"), "{}", w.reason);
    f.os_user = None;
    f.socket_logins.clear();
    assert!(facts::peer(&f, &rule).is_err());
}

#[test]
fn clientcert_only_with_a_client_ca() {
    let text = "hostssl all app 10.0.0.0/8 scram-sha-256\n";
    let settings = r#"{"require_clientcert_verify_full": true}"#;
    let pg = conf("postgresql.conf", "ssl = on\n");
    let e = run(&input(vec![hba(text), pg], settings));
    withheld(
        finding(&e, "clientcert-not-verify-full"),
        "the server has no client CA",
        "set `ssl_ca_file`",
    );
}

#[test]
fn hardened_example_is_quiet() {
    let text = include_str!("../../../examples/hardened/pg_hba.conf");
    let pg = conf(
        "postgresql.conf",
        include_str!("../../../examples/hardened/postgresql.conf"),
    );
    let mut i = input(vec![hba(text), pg], "");
    i.context.password_types = vec![("replicator".into(), "md5".into())];
    let e = run(&i);
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
}

/// patroni.yml with a `pg_hba` list (as the host derives it: kind `patroni-pg-hba`,
/// records at their list items' lines) and `ssl` set at `pointer` to `ssl`.
fn patroni(pointer: &str, ssl: &str) -> Vec<policy_guest::Document> {
    use policy_guest::{Body, Document, Span, Structured};
    let text = "scope: c\npostgresql:\n  pg_hba:\n    - host all app 10.0.0.0/8 scram-sha-256\n    - hostssl all app 192.168.0.0/16 scram-sha-256\n";
    let mut records = rules(
        "host all app 10.0.0.0/8 scram-sha-256\nhostssl all app 192.168.0.0/16 scram-sha-256\n",
    );
    for (i, r) in records.iter_mut().enumerate() {
        r.location.file = "patroni.yml".into();
        r.location.line = 4 + i as u32;
    }
    let mut json = serde_json::json!({"scope": "c", "postgresql": {"pg_hba": []}, "bootstrap": {"dcs": {"postgresql": {}}}});
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let mut cur = &mut json;
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .as_object_mut()
            .unwrap()
            .entry(p.to_string())
            .or_insert_with(|| serde_json::json!({}));
    }
    cur[parts[parts.len() - 1]] = serde_json::Value::String(ssl.into());
    let yaml = Document {
        kind: policy_guest::DocumentKind::Patroni,
        path: "patroni.yml".into(),
        text: text.into(),
        body: Body::Structured(Structured {
            json: json.to_string(),
            spans: vec![Span {
                pointer: pointer.into(),
                line: 9,
                end_line: 9,
            }],
        }),
        diagnostics: Vec::new(),
    };
    let list = Document {
        kind: DocumentKind::PatroniPgHba,
        path: "patroni.yml".into(),
        text: text.into(),
        body: Body::Hba(records),
        diagnostics: Vec::new(),
    };
    vec![yaml, list]
}

#[test]
fn patroni_parameters_count_as_postgresql_conf() {
    for pointer in [
        "/postgresql/parameters/ssl",
        "/bootstrap/dcs/postgresql/parameters/ssl",
    ] {
        let e = run(&input(patroni(pointer, "off"), ""));
        withheld(
            finding(&e, "plain-tcp-allowed"),
            "`ssl` is off (patroni.yml:9",
            "turn `ssl` on",
        );
        let f = finding(&e, "hostssl-without-ssl");
        assert_eq!(f.location.line, 5, "{pointer}");
        assert!(f.message.contains("patroni.yml:9"), "{}", f.message);
        // `on` there: the list's `host` item becomes `hostssl`.
        let e = run(&input(patroni(pointer, "on"), ""));
        let f = finding(&e, "plain-tcp-allowed");
        assert!(f.patch.is_some(), "{pointer}: {}", f.message);
    }
    // Patroni's local parameters win over the dynamic configuration and postgresql.conf.
    let mut docs = patroni("/postgresql/parameters/ssl", "on");
    docs.push(conf("postgresql.conf", "ssl = off\n"));
    let e = run(&input(docs, ""));
    assert!(finding(&e, "plain-tcp-allowed").patch.is_some());
}

#[test]
fn peer_not_for_pgbouncers_auth_user() {
    use policy_guest::{Body, Document, Location, Setting};
    let setting = |section: &str, name: &str, value: &str, line: u32| Setting {
        section: Some(section.into()),
        name: name.into(),
        value: value.into(),
        args: Vec::new(),
        location: Location {
            file: "pgbouncer.ini".into(),
            line,
            end_line: None,
            pointer: None,
        },
    };
    let ini = Document {
        kind: policy_guest::DocumentKind::Pgbouncer,
        path: "pgbouncer.ini".into(),
        text: String::new(),
        body: Body::Settings(vec![
            setting("databases", "app", "dbname=app", 2),
            setting("pgbouncer", "auth_user", "postgres", 5),
        ]),
        diagnostics: Vec::new(),
    };
    // PgBouncer logs in as `postgres` over the socket from an OS user no input gives.
    let e = run(&input(vec![hba("local all postgres trust\n"), ini], ""));
    withheld(
        finding(&e, "trust-local"),
        "PgBouncer's `auth_user` (pgbouncer.ini:5) logs in over the socket as `postgres` from OS user unknown",
        "map each OS user",
    );
}

#[test]
fn effective_settings_of_the_deployment_model_decide() {
    use policy_guest::{Cluster, EffectiveSetting, Location, Member, SettingOrigin, VersionFact};
    let at = |line| Location {
        file: "patroni.yml".into(),
        line,
        end_line: None,
        pointer: None,
    };
    let model = |ssl: &str, major: u32| {
        let mut dep = policy_guest::testing::deployment();
        dep.clusters.push(Cluster {
            name: "c".into(),
            grouping: "patroni-scope".into(),
            files: vec!["patroni.yml".into(), "pg_hba.conf".into()],
            members: vec![Member {
                name: "n1".into(),
                restapi: None,
                postgres: None,
                source: at(1),
                files: vec!["patroni.yml".into(), "pg_hba.conf".into()],
                settings: vec![EffectiveSetting {
                    name: "ssl".into(),
                    value: ssl.into(),
                    source: at(12),
                    origin: SettingOrigin::PatroniDcsBootstrap,
                }],
            }],
            postgres_version: Some(VersionFact {
                major,
                inferred: true,
                reason: "bin_dir /usr/lib/postgresql/9.6/bin".into(),
                source: Some(at(20)),
            }),
            roles: Vec::new(),
        });
        dep
    };
    let text = "host all app 10.0.0.0/8 password\n";
    let mut i = known(vec![hba(text)], "");
    i.deployment = model("off", 9);
    let e = run(&i);
    // ssl off in the bootstrap DCS beats postgresql.conf's `ssl = on`.
    withheld(
        finding(&e, "plain-tcp-allowed"),
        "`ssl` is off (patroni.yml:12 (`bootstrap.dcs.postgresql.parameters`))",
        "turn `ssl` on",
    );
    // The inferred 9.6 (major 9) forbids scram-sha-256.
    withheld(
        finding(&e, "password-cleartext"),
        "PostgreSQL 9 (inferred from bin_dir /usr/lib/postgresql/9.6/bin)",
        "upgrade PostgreSQL",
    );
    i.deployment = model("on", 15);
    let e = run(&i);
    assert!(finding(&e, "plain-tcp-allowed").patch.is_some());
}

#[test]
fn a_fragment_alone_leaves_ssl_unknown() {
    let text = "host all app 10.0.0.0/8 scram-sha-256\n";
    // A conf.d file that does not set `ssl`: the main postgresql.conf may.
    let fragment = conf("conf.d/10-memory.conf", "shared_buffers = 1GB\n");
    let e = run(&input(vec![hba(text), fragment], ""));
    withheld(
        finding(&e, "plain-tcp-allowed"),
        "no input says whether the server runs with `ssl` on",
        "1. turn `ssl` on",
    );
    // The same line in the main file: the server's default, and it says so.
    let main = conf("postgresql.conf", "shared_buffers = 1GB\n");
    let e = run(&input(vec![hba(text), main], ""));
    assert!(
        finding(&e, "plain-tcp-allowed")
            .message
            .contains("PostgreSQL's default"),
        "{:?}",
        codes(&e)
    );
}
