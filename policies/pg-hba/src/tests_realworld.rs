//! Regression tests from real-world pg_hba.conf files (issue 13): the superuser reached
//! through `all`, host bits under a `/0` mask, `redundant-line` between lines whose
//! methods differ, and upstream templates.

use super::*;

fn finding<'a>(e: &'a Evaluation, line: u32, code: &str) -> Option<&'a policy_guest::Finding> {
    e.findings
        .iter()
        .find(|f| f.location.line == line && f.code == code)
}

#[test]
fn superuser_through_all_is_superuser_remote() {
    let text = "\
host all all 0.0.0.0/0 scram-sha-256
";
    let e = run(&input(vec![hba(text)], r#"{"require_tls": false}"#));
    let f = finding(&e, 1, "superuser-remote").expect("postgres reaches line 1 through `all`");
    assert!(f.message.contains("`postgres`"), "{}", f.message);
    assert!(f.message.contains("all users"), "{}", f.message);
}

#[test]
fn superuser_rejected_first_is_not_reached_through_all() {
    let text = "\
host all postgres 0.0.0.0/0 reject
host all all 0.0.0.0/0 scram-sha-256
hostssl all all 10.0.0.0/8 scram-sha-256
";
    let e = run(&input(vec![hba(text)], r#"{"require_tls": false}"#));
    assert!(
        finding(&e, 2, "superuser-remote").is_none(),
        "{:?}",
        codes(&e)
    );
    // Loopback-only and socket lines are not remote.
    let text = "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n";
    let e = run(&input(vec![hba(text)], ""));
    assert!(
        !codes(&e).iter().any(|(_, c)| c == "superuser-remote"),
        "{:?}",
        codes(&e)
    );
}

#[test]
fn superuser_through_a_group_it_is_member_of() {
    let text = "hostssl all +admins 10.0.0.0/8 scram-sha-256\n";
    let mut i = input(vec![hba(text)], "");
    i.context.roles = Some(vec![
        ("postgres".into(), vec!["admins".into()]),
        ("admins".into(), vec![]),
    ]);
    let e = run(&i);
    assert!(
        finding(&e, 1, "superuser-remote").is_some(),
        "{:?}",
        codes(&e)
    );
}

#[test]
fn host_bits_under_a_zero_mask_are_reported() {
    let text = "\
hostssl all app 192.0.2.11/0 scram-sha-256
hostssl all app 0.0.0.0/0 scram-sha-256
hostssl all app 2001:db8::5/0 scram-sha-256
hostssl all app 192.0.2.12 0.0.0.0 scram-sha-256
";
    let e = run(&input(vec![hba(text)], r#"{"report_unreachable": false}"#));
    let f = finding(&e, 1, "zero-mask-address").expect("192.0.2.11/0 is every address");
    assert_eq!(f.severity, Severity::High);
    assert!(f.message.contains("`192.0.2.11/0`"), "{}", f.message);
    assert!(
        f.message
            .contains("probably meant as the single host `192.0.2.11/32`"),
        "{}",
        f.message
    );
    assert!(
        finding(&e, 1, "broad-address").is_none(),
        "one finding, not two"
    );
    // `0.0.0.0/0` says what it means: broad, not a mistake.
    assert!(finding(&e, 2, "zero-mask-address").is_none());
    assert!(finding(&e, 2, "broad-address").is_some());
    let v6 = finding(&e, 3, "zero-mask-address").expect("2001:db8::5/0 is every address");
    assert!(v6.message.contains("`2001:db8::5/128`"), "{}", v6.message);
    let two_columns = finding(&e, 4, "zero-mask-address").expect("two-column mask");
    assert!(two_columns.message.contains("`192.0.2.12 0.0.0.0`"));
}

#[test]
fn redundant_only_when_methods_agree_as_written() {
    // Line 2 asks for a clear-text password, line 3 for MD5; both are fixed to SCRAM,
    // but the fixes are applied by severity threshold: deleting line 2 as "answered
    // alike" by line 3 would hand its connections to MD5, not SCRAM.
    let text = "\
hostssl all alice 10.0.0.0/8 password
hostssl all all 10.0.0.0/8 md5
";
    let settings = r#"{"superusers": []}"#;
    // TLS on and every role's secret known to be SCRAM: the SCRAM fixes are offered.
    let e = run(&known(vec![hba(text)], settings));
    assert!(
        finding(&e, 1, "redundant-line").is_none(),
        "{:?}",
        codes(&e)
    );
    // What the policy asks for; the host renders it (`tests/rendering.yaml` checks
    // the text through the real host).
    assert_eq!(
        hba_edits(&e, "pg_hba.conf"),
        ["set 1: method=scram-sha-256", "set 2: method=scram-sha-256"],
        "line 1 is fixed in place, not deleted"
    );
    let fixed =
        "hostssl all alice 10.0.0.0/8 scram-sha-256\nhostssl all all 10.0.0.0/8 scram-sha-256\n";
    // Once both say the same, line 1 is redundant (info), and deleting it changes nothing.
    let again = run(&known(vec![hba(fixed)], settings));
    assert_eq!(codes(&again), [(1, "redundant-line".to_string())]);
    // Same method as written: redundant as before.
    let same = "local all postgres peer\nlocal all all peer\n";
    let e = run(&input(vec![hba(same)], ""));
    assert_eq!(codes(&e), [(1, "redundant-line".to_string())]);
    // `trust` on the socket is fixed to `peer`: not "answered alike" by a later `peer`.
    let trust = "local all postgres trust\nlocal all all peer\n";
    let e = run(&input(vec![hba(trust)], ""));
    assert_eq!(codes(&e), [(1, "trust-local".to_string())]);
}

#[test]
fn upstream_template_is_info_not_a_refused_file() {
    // PostgreSQL's own src/backend/libpq/pg_hba.conf.sample, as initdb reads it.
    let text = "\
# TYPE  DATABASE        USER            ADDRESS                 METHOD
@remove-line-for-nolocal@# \"local\" is for Unix domain socket connections only
@remove-line-for-nolocal@local   all             all                                     @authmethodlocal@
host    all             all             127.0.0.1/32            @authmethodhost@
host    all             all             ::1/128                 @authmethodhost@
";
    let mut doc = hba("");
    doc.text = text.into();
    for line in [3, 4, 5] {
        doc.diagnostics.push(Diagnostic {
            code: "invalid-line".into(),
            message: "invalid authentication method".into(),
            location: loc("pg_hba.conf", line),
        });
    }
    doc.diagnostics.push(Diagnostic {
        code: "no-entries".into(),
        message: "no entries".into(),
        location: loc("pg_hba.conf", 0),
    });
    let e = run(&input(vec![doc], ""));
    assert_eq!(codes(&e), [(3, "template-placeholders".to_string())]);
    assert_eq!(e.findings[0].severity, Severity::Info);
    assert!(
        e.findings[0]
            .message
            .contains("`@remove-line-for-nolocal@`")
    );
    // A real mistake next to placeholders is still one.
    let mut doc = hba("");
    doc.text = "host all all {{ cidr }} md5\nhots all all 10.0.0.0/8 md5\n".into();
    for line in [1, 2] {
        doc.diagnostics.push(Diagnostic {
            code: "invalid-line".into(),
            message: "bad".into(),
            location: loc("pg_hba.conf", line),
        });
    }
    let e = run(&input(vec![doc], ""));
    assert_eq!(
        codes(&e),
        [
            (1, "template-placeholders".to_string()),
            (2, "file-refused".into()),
            (2, "invalid-line".into())
        ]
    );
}

#[test]
fn the_hosts_template_note_is_reported_once_and_answers_nothing() {
    // The host turns a template's placeholder lines into one `template-placeholders`
    // diagnostic (host/src/formats/template.rs); the other lines are rules as usual.
    let mut doc = hba("host all all 127.0.0.1/32 scram-sha-256\n");
    doc.diagnostics.push(Diagnostic {
        code: "template-placeholders".into(),
        message: "`pg_hba.conf` is a template: 2 line(s) hold placeholders".into(),
        location: loc("pg_hba.conf", 3),
    });
    let mut i = input(vec![doc], "");
    i.connections
        .push(policy_guest::hba::testing::conn("127.0.0.1 a@b ssl"));
    let e = run(&i);
    assert_eq!(codes(&e), [(3, "template-placeholders".to_string())]);
    assert_eq!(e.findings[0].severity, Severity::Info);
    let d = &e.full_decisions()[0];
    assert_eq!(d.verdict, policy_guest::Verdict::Deny);
    assert!(
        d.reason.contains("unrendered template (line 3)"),
        "{}",
        d.reason
    );
}

#[test]
fn trust_over_tcp_is_rated_by_who_reaches_the_line() {
    // One rule for one mistake (docs/severity.md), the same as gitlab-omnibus's
    // `postgresql-trust-auth-network` for the lines Omnibus renders.
    let text = "\
hostssl all all 0.0.0.0/0 trust
hostssl all all 203.0.113.0/24 trust
hostssl all all 10.6.0.0/24 trust
hostssl all all 127.0.0.1/32 trust
hostssl all all db.example.com trust
";
    let e = run(&input(
        vec![hba(text)],
        r#"{"report_unreachable": false, "superusers": []}"#,
    ));
    let sev = |line| finding(&e, line, "trust-over-tcp").map(|f| f.severity);
    assert_eq!(sev(1), Some(Severity::Critical));
    assert_eq!(sev(2), Some(Severity::Critical));
    assert_eq!(sev(3), Some(Severity::High));
    assert_eq!(sev(4), Some(Severity::Medium));
    assert_eq!(
        sev(5),
        Some(Severity::Critical),
        "a host name may be anyone"
    );
}
