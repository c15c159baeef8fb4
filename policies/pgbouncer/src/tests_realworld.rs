//! Regression tests from real-world pgbouncer.ini files (issue 13): TLS demanded where
//! PgBouncer never speaks TCP, client TLS rated by `listen_addr`, the version-dependent
//! `server_tls_sslmode` default, and weak passwords in `[databases]`.

use super::*;
use policy_guest::Severity;

fn found<'a>(e: &'a Evaluation, code: &str) -> Vec<&'a policy_guest::Finding> {
    e.findings.iter().filter(|f| f.code == code).collect()
}

const SCRAM: &str = "auth_type = scram-sha-256\n";

#[test]
fn no_server_tls_for_databases_on_the_unix_socket() {
    // Debian's packaged layout: PgBouncer and PostgreSQL on one host, over the socket.
    let text = format!(
        "[databases]\napp = dbname=app\nother = host=/var/run/postgresql dbname=other\n[pgbouncer]\nlisten_addr = 127.0.0.1\n{SCRAM}"
    );
    let e = run(vec![ini("pgbouncer.ini", &text)], "");
    assert!(found(&e, "server-tls-weak").is_empty(), "{:?}", e.findings);
    // One database over TCP is enough for the finding, with the default explained.
    let text = text.replace("app = dbname=app", "app = host=10.0.1.11 dbname=app");
    let e = run(vec![ini("pgbouncer.ini", &text)], "");
    let f = found(&e, "server-tls-weak");
    assert_eq!(f.len(), 1, "{:?}", e.findings);
    assert!(
        f[0].message
            .contains("`prefer` from PgBouncer 1.20, `disable` before"),
        "{}",
        f[0].message
    );
}

#[test]
fn client_tls_follows_listen_addr() {
    let sev = |listen: &str| {
        let text = format!("[databases]\napp = dbname=app\n[pgbouncer]\n{listen}{SCRAM}");
        let e = run(vec![ini("pgbouncer.ini", &text)], "");
        found(&e, "client-tls-weak").first().map(|f| f.severity)
    };
    // No `listen_addr`: the Unix socket only, where TLS does not exist.
    assert_eq!(sev(""), None);
    assert_eq!(sev("listen_addr = localhost\n"), Some(Severity::Medium));
    assert_eq!(
        sev("listen_addr = 127.0.0.1, ::1\n"),
        Some(Severity::Medium)
    );
    assert_eq!(sev("listen_addr = 10.0.1.11\n"), Some(Severity::High));
    assert_eq!(sev("listen_addr = *\n"), Some(Severity::Critical));
}

#[test]
fn weak_passwords_in_databases_are_reported_without_their_value() {
    let text = format!(
        "[databases]\napp = host=10.0.1.11 dbname=app user=postgres password=postgres\nok = host=10.0.1.11 user=app password=Zq8-rT4w-Pm2x\n[pgbouncer]\n{SCRAM}"
    );
    let e = run(vec![ini("pgbouncer.ini", &text)], "");
    let weak = found(&e, "weak-credentials");
    assert_eq!(weak.len(), 1, "{:?}", e.findings);
    assert_eq!(weak[0].location.line, 2);
    assert_eq!(weak[0].severity, Severity::High);
    assert!(weak[0].message.contains("user name"), "{}", weak[0].message);
    assert!(!weak[0].message.contains("password=postgres"));
    assert_eq!(found(&e, "password-in-config").len(), 2);
}

#[test]
fn auth_type_rated_by_listener_and_md5_as_pg_hba() {
    let sev = |listen: &str, auth: &str| {
        let text =
            format!("[databases]\napp = dbname=app\n[pgbouncer]\n{listen}auth_type = {auth}\n");
        let e = run(vec![ini("pgbouncer.ini", &text)], "");
        found(&e, "auth-type-weak").first().map(|f| f.severity)
    };
    assert_eq!(sev("listen_addr = *\n", "trust"), Some(Severity::Critical));
    assert_eq!(
        sev("listen_addr = 10.0.1.11\n", "trust"),
        Some(Severity::High)
    );
    assert_eq!(
        sev("listen_addr = 127.0.0.1\n", "trust"),
        Some(Severity::Medium)
    );
    assert_eq!(sev("", "any"), Some(Severity::Medium));
    // A password is still needed: low, as `pg-hba/md5-auth`.
    assert_eq!(sev("listen_addr = *\n", "md5"), Some(Severity::Low));
    assert_eq!(sev("listen_addr = *\n", "plain"), Some(Severity::High));
}
