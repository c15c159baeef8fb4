//! Regression tests from real-world haproxy.cfg files (issue 13): `stats admin if TRUE`
//! without `stats auth` on a public bind, statistics pages without authentication, the
//! Patroni REST API republished through a `listen`/`frontend`, and directives HAProxy
//! refuses. Each file here was also given to `haproxy -c` 2.6.12: the files with an
//! unknown keyword are refused ("unknown keyword 'stats-auth' in 'listen' section"),
//! the others are accepted.

use super::*;

fn only(e: &Evaluation, code: &str) -> Vec<(Severity, u32)> {
    e.findings
        .iter()
        .filter(|f| f.code == code)
        .map(|f| (f.severity, f.location.line))
        .collect()
}

/// The stats block found in many Patroni + HAProxy tutorials and Ansible roles.
const STATS_ADMIN: &str = "\
global
    maxconn 100
defaults
    mode tcp
    timeout connect 4s
    timeout client 30m
    timeout server 30m
listen stats
    mode http
    bind *:7000
    stats enable
    stats uri /
    stats admin if TRUE
listen primary
    bind *:5000
    option httpchk OPTIONS /primary
    server pg1 10.0.1.11:5432 maxconn 100 check port 8008
";

#[test]
fn stats_admin_without_auth_on_every_interface() {
    let e = run(vec![haproxy_doc("haproxy.cfg", STATS_ADMIN)], "");
    assert_eq!(
        only(&e, "stats-admin-unauthenticated"),
        [(Severity::High, 13)]
    );
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "stats-admin-unauthenticated")
        .unwrap();
    assert!(f.message.contains("every interface"), "{}", f.message);
    // One finding for the page, not two.
    assert!(only(&e, "stats-unauthenticated").is_empty());
    // The `mode tcp` proxy serves no statistics.
    assert!(only(&e, "unknown-keyword").is_empty());
}

#[test]
fn stats_severity_follows_the_bind_and_auth_silences_it() {
    let on = |bind: &str, extra: &str| {
        STATS_ADMIN
            .replace("bind *:7000", &format!("bind {bind}"))
            .replace("    stats uri /\n", &format!("    stats uri /\n{extra}"))
    };
    let e = run(vec![haproxy_doc("h.cfg", &on("10.0.2.5:7000", ""))], "");
    assert_eq!(
        only(&e, "stats-admin-unauthenticated"),
        [(Severity::Medium, 13)]
    );
    let e = run(vec![haproxy_doc("h.cfg", &on("127.0.0.1:7000", ""))], "");
    assert_eq!(
        only(&e, "stats-admin-unauthenticated"),
        [(Severity::Low, 13)]
    );
    let e = run(vec![haproxy_doc("h.cfg", &on(":::7000", ""))], "");
    assert_eq!(
        only(&e, "stats-admin-unauthenticated"),
        [(Severity::High, 13)]
    );
    let e = run(
        vec![haproxy_doc(
            "h.cfg",
            &on("*:7000", "    stats auth admin:s3cret-long\n"),
        )],
        "",
    );
    assert!(
        only(&e, "stats-admin-unauthenticated").is_empty(),
        "{:?}",
        codes(&e)
    );
    assert!(only(&e, "stats-unauthenticated").is_empty());
    // Admin actions for loopback clients only.
    let text = STATS_ADMIN.replace("stats admin if TRUE", "stats admin if LOCALHOST");
    let e = run(vec![haproxy_doc("h.cfg", &text)], "");
    assert_eq!(
        only(&e, "stats-admin-unauthenticated"),
        [(Severity::Low, 13)]
    );
}

#[test]
fn stats_page_without_auth() {
    let text = STATS_ADMIN.replace("    stats admin if TRUE\n", "");
    let e = run(vec![haproxy_doc("haproxy.cfg", &text)], "");
    assert_eq!(only(&e, "stats-unauthenticated"), [(Severity::Medium, 11)]);
    // Stats inherited from `defaults` by an HTTP frontend.
    let text = "\
defaults
    mode http
    stats enable
    stats uri /haproxy?stats
frontend web
    bind 127.0.0.1:8080
    default_backend app
backend app
    server a1 10.0.0.9:8080
";
    let e = run(vec![haproxy_doc("haproxy.cfg", text)], "");
    assert_eq!(
        only(&e, "stats-unauthenticated"),
        [(Severity::Info, 3)],
        "frontend and the backend it reaches share the page of `defaults`: {:?}",
        codes(&e)
    );
}

#[test]
fn restapi_behind_a_listen_is_reported() {
    let text = "\
defaults
    mode tcp
listen patroni_api
    bind *:8009
    server pg1 10.0.1.11:8008 check
    server pg2 10.0.1.12:8008 check
frontend api
    bind 10.0.2.5:18008
    default_backend nodes
backend nodes
    server pg3 10.0.1.13:8008
";
    let e = run(vec![haproxy_doc("haproxy.cfg", text)], "");
    assert_eq!(
        only(&e, "restapi-republished"),
        [(Severity::High, 5), (Severity::Medium, 11)]
    );
    // Health checks on port 8008 are not a republished API.
    let e = run(vec![haproxy_doc("haproxy.cfg", STATS_ADMIN)], "");
    assert!(only(&e, "restapi-republished").is_empty());
}

#[test]
fn unknown_keywords_are_invalid() {
    let text = "\
global
    maxconn 100
    tune.ssl.default-dh-param 2048
    stats socket /run/haproxy/admin.sock mode 660 level admin
    daemonize
defaults
    mode http
    no option redispatch
    timeout connect 4s
listen stats
    bind 127.0.0.1:7000
    stats-auth admin:admin
    stats auth admin:pw
    .if defined(X)
    .endif
    no optoin redispatch
";
    let e = run(vec![haproxy_doc("haproxy.cfg", text)], "");
    assert_eq!(
        only(&e, "unknown-keyword"),
        [
            (Severity::High, 5),
            (Severity::High, 12),
            (Severity::High, 16)
        ]
    );
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "unknown-keyword" && f.location.line == 12)
        .unwrap();
    assert!(
        f.message.contains("`stats-auth`") && f.message.contains("'listen' section"),
        "{}",
        f.message
    );
}

#[test]
fn bind_reach() {
    use crate::exposure::{Reach, bind_reach};
    for (a, want) in [
        (":80", Reach::Any),
        ("*:80", Reach::Any),
        ("0.0.0.0:80", Reach::Any),
        (":::80", Reach::Any),
        ("[::]:80", Reach::Any),
        ("ipv4@:80", Reach::Any),
        ("127.0.0.1:80", Reach::Loopback),
        ("[::1]:80", Reach::Loopback),
        ("localhost:80", Reach::Loopback),
        ("10.0.0.5:80", Reach::Network),
        ("${IP}:80", Reach::Network),
        ("/run/haproxy.sock", Reach::Socket),
        ("unix@/run/x.sock", Reach::Socket),
        ("abns@x", Reach::Socket),
    ] {
        assert_eq!(bind_reach(a), want, "{a}");
    }
}
