//! Table-driven tests of the matcher: each case is a pg_hba.conf, facts, a connection, and
//! the record line and method PostgreSQL 15 answers (checked against a real server by
//! `tests/differential_pg.rs`).

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use super::testing::{conn, context, rules};
use super::*;
use crate::Location;

fn roles(list: &[(&str, &[&str])]) -> Option<Vec<(String, Vec<String>)>> {
    Some(
        list.iter()
            .map(|(r, m)| (r.to_string(), m.iter().map(|s| s.to_string()).collect()))
            .collect(),
    )
}

/// (line, method, verdict) of a connection; line 0 = no record.
fn answer(m: &Matcher, spec: &str) -> (u32, String, Verdict) {
    let mut s = m.scratch();
    let o = m.decide(&conn(spec), &mut s);
    let line = o.rule.map_or(0, |i| m.rules()[i].line);
    (line, o.method.unwrap_or("-").to_string(), o.verdict)
}

const FILE: &str = "\
local   all         postgres                    peer
local   all         all                         ident
host    replication repl       10.0.0.0/8       scram-sha-256
host    sameuser    all        10.0.0.0/8       md5
host    samerole    all        10.0.0.0/8       password
hostssl app,\"all\"   +admins    10.1.0.0/16      cert
hostnossl app       alice      10.1.0.0 255.255.0.0 trust
host    app         bob        10.2.0.0/16      reject
hostnogssenc app    bob        0.0.0.0/0        md5
host    all         all        ::1/128          trust
host    all         all        samehost         password
host    all         all        samenet          md5
hostssl all         all        all              scram-sha-256 clientcert=verify-full
";

#[test]
fn first_match_over_columns() {
    let mut ctx = context(15);
    ctx.roles = roles(&[
        ("alice", &["admins"]),
        ("admins", &[]),
        ("bob", &[]),
        ("repl", &[]),
        ("app", &["admins"]),
        ("postgres", &[]),
    ]);
    ctx.password_types = vec![("bob".into(), "md5".into())];
    let m = Matcher::new(&rules(FILE), &[], &ctx, ServerFacts::tls_with_ca());
    let cases: &[(&str, u32, &str, Verdict)] = &[
        ("local postgres@x", 1, "peer", Verdict::Allow),
        ("local alice@x", 2, "peer", Verdict::Allow),
        // Physical replication matches only the `replication` keyword.
        (
            "10.0.0.1 repl@x physical",
            3,
            "scram-sha-256",
            Verdict::Allow,
        ),
        ("10.0.0.1 alice@alice physical", 0, "-", Verdict::Deny),
        // Logical replication is an ordinary connection: sameuser.
        (
            "10.0.0.1 repl@repl logical",
            4,
            "scram-sha-256",
            Verdict::Allow,
        ),
        // md5 asks for MD5 only when the stored password is an MD5 hash.
        ("10.0.0.1 bob@bob", 4, "md5", Verdict::Allow),
        // samerole: alice is a member of admins (and of herself).
        ("10.0.0.1 alice@admins", 5, "password", Verdict::Allow),
        ("10.9.0.1 alice@app", 0, "-", Verdict::Deny),
        // `"all"` is a database called all; +admins includes admins' members.
        (
            "10.1.2.3 alice@all ssl cert=alice",
            6,
            "cert",
            Verdict::Allow,
        ),
        ("10.1.2.3 alice@app ssl cert=bob", 6, "cert", Verdict::Deny),
        ("10.1.2.3 alice@app ssl", 6, "cert", Verdict::Deny),
        ("10.1.2.3 alice@app", 7, "trust", Verdict::Allow),
        ("10.2.0.9 bob@app", 8, "reject", Verdict::Deny),
        ("10.3.0.9 bob@app ssl", 9, "md5", Verdict::Allow),
        ("::1 carol@x", 10, "trust", Verdict::Deny),
        ("127.0.0.1 bob@x", 11, "password", Verdict::Allow),
        ("127.0.0.2 bob@x", 12, "md5", Verdict::Allow),
        ("127.0.0.2 alice@x", 12, "scram-sha-256", Verdict::Allow),
        (
            "192.168.0.1 alice@x ssl cert=alice",
            13,
            "scram-sha-256",
            Verdict::Allow,
        ),
        (
            "192.168.0.1 alice@x ssl cert=bob",
            13,
            "scram-sha-256",
            Verdict::Deny,
        ),
        ("192.168.0.1 alice@x ssl cert=!alice", 0, "-", Verdict::Deny),
        ("192.168.0.1 alice@x", 0, "-", Verdict::Deny),
    ];
    for (spec, line, method, verdict) in cases {
        let got = answer(&m, spec);
        assert_eq!(got, (*line, method.to_string(), *verdict), "{spec}");
    }
}

#[test]
fn roles_absent_means_each_role_is_only_itself() {
    let m = Matcher::new(
        &rules("host samerole +admins 10.0.0.0/8 trust\nhost all all 10.0.0.0/8 reject\n"),
        &[],
        &context(15),
        ServerFacts::tls_with_ca(),
    );
    assert_eq!(answer(&m, "10.0.0.1 admins@admins").0, 1);
    assert_eq!(answer(&m, "10.0.0.1 alice@admins").0, 2);
    assert_eq!(answer(&m, "10.0.0.1 admins@x").0, 2);
}

#[test]
fn nonexistent_role_is_a_member_of_nothing() {
    let mut ctx = context(15);
    ctx.roles = roles(&[("alice", &[])]);
    let m = Matcher::new(
        &rules("host all +carol 10.0.0.0/8 trust\nhost all carol 10.0.0.0/8 md5\n"),
        &[],
        &ctx,
        ServerFacts::tls_with_ca(),
    );
    // The name still matches; the method asks for SCRAM (mock authentication) and fails.
    let mut s = m.scratch();
    let o = m.decide(&conn("10.0.0.1 carol@x"), &mut s);
    assert_eq!(
        (o.rule, o.method, o.verdict),
        (Some(1), Some("scram-sha-256"), Verdict::Deny)
    );
}

#[test]
fn families_never_cross_and_masks_apply_bitwise() {
    let m = Matcher::new(
        &rules(
            "host all all ::ffff:127.0.0.0/104 trust\nhost all all 10.0.5.0 255.0.255.0 md5\nhost all all 0.0.0.0/0 reject\n",
        ),
        &[],
        &context(15),
        ServerFacts::tls_with_ca(),
    );
    assert_eq!(answer(&m, "127.0.0.1 a@b").0, 3);
    assert_eq!(answer(&m, "10.77.5.1 a@b").0, 2);
    assert_eq!(answer(&m, "10.77.6.1 a@b").0, 3);
    assert_eq!(answer(&m, "::1 a@b").0, 0);
}

#[test]
fn tls_stage() {
    let file =
        rules("hostssl all all all trust clientcert=verify-ca\nhost all all all scram-sha-256\n");
    let mut no_ca = ServerFacts::tls_with_ca();
    no_ca.ca = Some(false);
    let m = Matcher::new(&file, &[], &context(15), no_ca);
    let mut s = m.scratch();
    // No CA: the certificate is never asked for; clientcert cannot be checked.
    let o = m.decide(&conn("10.0.0.1 a@b ssl cert=!x"), &mut s);
    assert_eq!((o.stage, o.rule), (Stage::Auth, Some(0)));
    assert!(o.reason.contains("certificate"), "{}", o.reason);
    let mut off = ServerFacts::tls_with_ca();
    off.ssl = Some(false);
    let m = Matcher::new(&file, &[], &context(15), off);
    let o = m.decide(&conn("10.0.0.1 a@b ssl"), &mut s);
    assert_eq!(
        (o.stage, o.rule, o.verdict),
        (Stage::Tls, None, Verdict::Deny)
    );
    let m = Matcher::new(&file, &[], &context(15), ServerFacts::tls_with_ca());
    let o = m.decide(&conn("10.0.0.1 a@b ssl cert=!x"), &mut s);
    assert_eq!((o.stage, o.method), (Stage::Tls, None));
    assert!(o.reason.contains("certificate"));
    let o = m.decide(&conn("10.0.0.1 a@b ssl"), &mut s);
    assert_eq!((o.stage, o.verdict), (Stage::Auth, Verdict::Deny));
    assert!(
        o.reason.contains("client certificate required"),
        "{}",
        o.reason
    );
    // verify-ca does not check the name.
    assert_eq!(
        answer(&m, "10.0.0.1 a@b ssl cert=zzz"),
        (1, "trust".into(), Verdict::Allow)
    );
}

#[test]
fn cert_with_ident_map() {
    let ident = vec![IdentRule {
        location: Location {
            file: "pg_ident.conf".into(),
            line: 1,
            end_line: None,
            pointer: None,
        },
        map_name: "m".into(),
        system_user: r"/^(.*)\.example\.com$".into(),
        database_user: r"\1".into(),
        database_user_quoted: false,
    }];
    let m = Matcher::new(
        &rules("hostssl all all all cert map=m\n"),
        &ident,
        &context(15),
        ServerFacts::tls_with_ca(),
    );
    assert_eq!(
        answer(&m, "10.0.0.1 alice@x ssl cert=alice.example.com").2,
        Verdict::Allow
    );
    assert_eq!(
        answer(&m, "10.0.0.1 alice@x ssl cert=alice").2,
        Verdict::Deny
    );
    let m = Matcher::new(
        &rules("hostssl all all all cert map=missing\n"),
        &ident,
        &context(15),
        ServerFacts::tls_with_ca(),
    );
    let mut s = m.scratch();
    let o = m.decide(&conn("10.0.0.1 alice@x ssl cert=alice"), &mut s);
    assert!(o.reason.contains("no map"), "{}", o.reason);
}

#[test]
fn regex_names_from_16_only() {
    let file = rules("host /^app all 10.0.0.0/8 trust\nhost all /^adm 10.0.0.0/8 md5\n");
    let m15 = Matcher::new(&file, &[], &context(15), ServerFacts::tls_with_ca());
    let m16 = Matcher::new(&file, &[], &context(16), ServerFacts::tls_with_ca());
    assert_eq!(answer(&m15, "10.0.0.1 x@appdb").0, 0);
    assert_eq!(answer(&m15, "10.0.0.1 x@/^app").0, 1);
    assert_eq!(answer(&m16, "10.0.0.1 x@appdb").0, 1);
    assert_eq!(answer(&m16, "10.0.0.1 admin@db").0, 2);
}

#[test]
fn hostnames_use_resolve() {
    let mut ctx = context(15);
    ctx.resolve = vec![("App1.Example.com".into(), vec!["10.0.0.7".into()])];
    let m = Matcher::new(
        &rules("host all all .example.com trust\nhost all all app1.example.com md5\n"),
        &[],
        &ctx,
        ServerFacts::tls_with_ca(),
    );
    assert_eq!(answer(&m, "10.0.0.7 a@b").0, 1);
    let mut s = m.scratch();
    let o = m.decide(&conn("10.0.0.8 a@b"), &mut s);
    assert_eq!((o.rule, o.depends_on.clone()), (None, vec!["resolve"]));
}

#[test]
fn md5_follows_password_encryption_for_missing_passwords() {
    let mut ctx = context(15);
    ctx.password_types = vec![("nopw".into(), "none".into())];
    let mut md5 = ServerFacts::tls_with_ca();
    md5.password_encryption_md5 = Some(true);
    let m = Matcher::new(&rules("host all all all md5\n"), &[], &ctx, md5);
    assert_eq!(
        answer(&m, "10.0.0.1 nopw@x"),
        (1, "md5".into(), Verdict::Deny)
    );
    assert_eq!(
        answer(&m, "10.0.0.1 other@x"),
        (1, "scram-sha-256".into(), Verdict::Allow)
    );
}

// ----- shadow analysis -----------------------------------------------------------------

fn unreachable(text: &str) -> Vec<(String, u32, Vec<u32>)> {
    let file = rules(text);
    let m = Matcher::new(&file, &[], &context(15), ServerFacts::tls_with_ca());
    let same =
        |a: usize, b: usize| file[a].method == file[b].method && file[a].options == file[b].options;
    let line = |i: usize| file[i].location.line;
    m.shadowed(same)
        .into_iter()
        .map(|u| match u {
            shadow::Unreachable::Shadowed { rule, by } => (
                "shadowed".into(),
                line(rule),
                by.into_iter().map(line).collect(),
            ),
            shadow::Unreachable::Redundant { rule, by } => (
                "redundant".into(),
                line(rule),
                by.into_iter().map(line).collect(),
            ),
        })
        .collect()
}

#[test]
fn shadowed_and_redundant() {
    let cases: &[(&str, &[(&str, u32, &[u32])])] = &[
        (
            "host all all 10.0.0.0/8 md5\nhost app alice 10.1.0.0/16 trust\n",
            &[("shadowed", 2, &[1])],
        ),
        // Different users: not shadowed.
        (
            "host all alice 10.0.0.0/8 md5\nhost app bob 10.1.0.0/16 trust\n",
            &[],
        ),
        // hostssl + hostnossl cover host.
        (
            "hostssl all all all md5\nhostnossl all all all md5\nhost app a 10.0.0.0/8 trust\n",
            &[("shadowed", 3, &[1, 2])],
        ),
        // Two halves cover the whole.
        (
            "host all all 10.0.0.0/9 md5\nhost all all 10.128.0.0/9 reject\nhost all all 10.0.0.0/8 trust\n",
            &[("shadowed", 3, &[1, 2])],
        ),
        // A list split over two lines.
        (
            "host app alice 10.0.0.0/8 md5\nhost app bob 10.0.0.0/8 md5\nhost app alice,bob 10.0.0.0/8 trust\n",
            &[("shadowed", 3, &[1, 2])],
        ),
        // +group and samerole depend on roles: never shadowed by names.
        (
            "host all alice 10.0.0.0/8 md5\nhost all +alice 10.0.0.0/8 trust\n",
            &[],
        ),
        // The replication keyword is not covered by all.
        (
            "host all all all md5\nhost replication all all trust\n",
            &[],
        ),
        // IPv4 does not cover IPv6.
        (
            "host all all 0.0.0.0/0 md5\nhost all all ::1/128 trust\n",
            &[],
        ),
        // A narrow line followed by a wider one with the same method is redundant.
        (
            "host app alice 10.1.0.0/16 md5\nhost all all 10.0.0.0/8 md5\n",
            &[("redundant", 1, &[2])],
        ),
        // ... unless a line in between answers differently.
        (
            "host app alice 10.1.0.0/16 md5\nhost all alice 10.1.2.0/24 reject\nhost all all 10.0.0.0/8 md5\n",
            &[],
        ),
        // Duplicate lines: the second is shadowed, the first is not redundant.
        (
            "host all all 10.0.0.0/8 md5\nhost all all 10.0.0.0/8 md5\n",
            &[("shadowed", 2, &[1])],
        ),
        // sameuser with a single user name is that name.
        (
            "host alice alice 10.0.0.0/8 md5\nhost sameuser alice 10.0.0.0/8 trust\n",
            &[("shadowed", 2, &[1])],
        ),
        (
            "host all all samenet md5\nhost all all samehost trust\n",
            &[("shadowed", 2, &[1])],
        ),
        (
            "host all all .example.com md5\nhost all all db.example.com trust\n",
            &[("shadowed", 2, &[1])],
        ),
        // Non-contiguous masks: exact containment only.
        (
            "host all all 10.0.0.0 255.0.0.0\tmd5\nhost all all 10.0.5.0 255.0.255.0 trust\n",
            &[("shadowed", 2, &[1])],
        ),
        ("local all all peer\nhost all all all md5\n", &[]),
    ];
    for (text, expected) in cases {
        let got = unreachable(text);
        let want: Vec<(String, u32, Vec<u32>)> = expected
            .iter()
            .map(|(k, l, by)| (k.to_string(), *l, by.to_vec()))
            .collect();
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn clientcert_is_checked_before_reject() {
    // ClientAuthentication checks clientcert before it looks at the method.
    let m = Matcher::new(
        &rules("hostssl all all all reject clientcert=verify-ca\n"),
        &[],
        &context(15),
        ServerFacts::tls_with_ca(),
    );
    let mut s = m.scratch();
    let o = m.decide(&conn("10.0.0.1 a@b ssl"), &mut s);
    assert!(
        o.reason.contains("client certificate required"),
        "{}",
        o.reason
    );
    let o = m.decide(&conn("10.0.0.1 a@b ssl cert=a"), &mut s);
    assert!(o.reason.contains("rejected by line 1"), "{}", o.reason);
}
