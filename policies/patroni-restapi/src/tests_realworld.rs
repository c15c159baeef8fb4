//! Regression tests from real-world Patroni YAML (issue 13): the example and Spilo
//! passwords copied into deployments, and the `/mpp` note that fired on every config.

use super::*;

/// Patroni's own example postgres0.yml, as thousands of repositories copy it.
fn example() -> Value {
    json!({
        "scope": "batman",
        "restapi": {
            "listen": "127.0.0.1:8008", "connect_address": "127.0.0.1:8008",
            "authentication": { "username": "username", "password": "password" }
        },
        "bootstrap": { "users": { "admin": { "password": "admin", "options": ["createrole"] } } },
        "postgresql": {
            "listen": "127.0.0.1:5432",
            "authentication": {
                "replication": { "username": "replicator", "password": "rep-pass" },
                "superuser": { "username": "postgres", "password": "zalando" },
                "rewind": { "username": "rewind_user", "password": "k3Jx-9qLm-Zp2W" }
            }
        }
    })
}

#[test]
fn default_and_weak_passwords_are_reported_without_their_value() {
    let e = run(&input(&example(), json!({})));
    let weak: Vec<&policy_guest::Finding> = e
        .findings
        .iter()
        .filter(|f| f.code == "weak-credentials")
        .collect();
    let keys: Vec<&str> = weak
        .iter()
        .map(|f| f.location.pointer.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        [
            "/restapi/authentication/password",
            "/postgresql/authentication/superuser/password",
            "/postgresql/authentication/replication/password",
            "/bootstrap/users/admin/password",
        ]
    );
    for f in &weak {
        assert_eq!(f.severity, policy_guest::Severity::High);
        for secret in ["zalando", "rep-pass", "`password`"] {
            assert!(!f.message.contains(secret), "{}", f.message);
        }
    }
    assert!(weak[1].message.contains("Spilo"), "{}", weak[1].message);
    assert!(weak[3].message.contains("user name"), "{}", weak[3].message);
}

#[test]
fn placeholders_and_strong_passwords_are_not_weak() {
    let config = json!({
        "restapi": { "listen": "127.0.0.1:8008",
            "authentication": { "username": "patroni", "password": "{{ patroni_restapi_password }}" } },
        "postgresql": { "authentication": {
            "superuser": { "username": "postgres", "password": "${PG_SUPERUSER_PASSWORD}" },
            "replication": { "username": "replicator", "password": "Xq7-vT2m-Lk9p-Rr4e" } } }
    });
    let e = run(&input(&config, json!({})));
    assert!(!codes(&e).contains(&"weak-credentials"), "{:?}", codes(&e));
}

#[test]
fn mpp_note_only_with_citus() {
    let mut inp = input(&example(), json!({}));
    inp.context.patroni_version = Some("4.1.5".into());
    let e = run(&inp);
    assert!(!codes(&e).contains(&"mpp-unprotected"), "{:?}", codes(&e));
    let mut citus = example();
    citus["citus"] = json!({ "group": 0, "database": "citus" });
    let mut inp = input(&citus, json!({}));
    inp.context.patroni_version = Some("4.1.5".into());
    let e = run(&inp);
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "mpp-unprotected")
        .expect("Citus coordinator");
    assert_eq!(f.severity, policy_guest::Severity::High);
}

#[test]
fn unauthenticated_api_rated_by_its_listener() {
    let sev = |listen: &str, allowlist: bool| {
        let mut config = json!({ "restapi": { "listen": listen } });
        if allowlist {
            config["restapi"]["allowlist"] = json!(["10.0.0.0/24"]);
        }
        let e = run(&input(&config, json!({})));
        e.findings
            .iter()
            .find(|f| f.code == "unsafe-endpoints-unauthenticated")
            .map(|f| f.severity)
    };
    use policy_guest::Severity::*;
    assert_eq!(sev("0.0.0.0:8008", false), Some(Critical));
    assert_eq!(sev("10.0.0.11:8008", true), Some(High));
    // Loopback only: the host's users and processes (docs/severity.md), not critical.
    assert_eq!(sev("127.0.0.1:8008", false), Some(Medium));
    assert_eq!(sev("localhost:8008", false), Some(Medium));
}
