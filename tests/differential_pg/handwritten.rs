//! Hand-written differential cases about what changed between PostgreSQL 13 and 18, run
//! on every version (the server says what each version makes of them): backslash line
//! continuation, regular expressions in the database and user columns (16+, also quoted
//! and holding a comma), `include`, `include_if_exists` (also of a missing file),
//! `include_dir` and a quoted `"include"` (16+), an error inside an included file,
//! `clientcert=1`/`0` (gone in 14), `oauth` (18, refused without a validator library),
//! the method asked of a role that does not exist, and pg_ident.conf's `all`, `+group`
//! and quoted forms in the database-user column (16+).

use crate::cases::{CERTS, Line, Probe};
use crate::compare::Case;

fn rule(
    kind: &str,
    db: &str,
    user: &str,
    addr: Option<&str>,
    method: &str,
    options: &[&str],
) -> Line {
    Line::Rule {
        kind: kind.into(),
        db: db.into(),
        user: user.into(),
        addr: addr.map(str::to_string),
        method: method.into(),
        options: options.iter().map(|o| o.to_string()).collect(),
        comment: false,
    }
}

/// A line kept as written in both the file and its `password` variant.
fn raw(text: &str) -> Line {
    Line::Invalid(text.into())
}

fn probe(source: &'static str, user: &'static str, database: &'static str) -> Probe {
    Probe {
        source,
        ssl: false,
        cert: None,
        user,
        database,
        replication: "false",
    }
}

fn tls(cert: Option<&str>, user: &'static str, database: &'static str) -> Probe {
    Probe {
        ssl: true,
        cert: cert.map(|c| {
            CERTS
                .iter()
                .position(|(name, _, _)| *name == c)
                .expect("a certificate of cases::CERTS")
        }),
        ..probe("127.0.0.1", user, database)
    }
}

/// Probes that tell apart which of a few lines matched, from 127.0.0.1.
fn everyone() -> Vec<Probe> {
    let mut out = Vec::new();
    for user in ["alice", "bob", "carol", "dave", "eve", "repl"] {
        for db in ["app", "postgres", "alice"] {
            out.push(probe("127.0.0.1", user, db));
        }
    }
    out.push(probe("local", "postgres", "postgres"));
    out
}

fn case(name: &str, lines: Vec<Line>, probes: Vec<Probe>) -> Case {
    Case {
        name: format!("hand-written: {name}"),
        lines,
        ident: None,
        files: Vec::new(),
        probes,
    }
}

fn with_files(mut c: Case, files: &[(&str, &str)]) -> Case {
    c.files = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    c
}

pub fn cases() -> Vec<Case> {
    let host = |db, user, method| rule("host", db, user, Some("127.0.0.1/32"), method, &[]);
    let fallback = rule(
        "host",
        "all",
        "all",
        Some("127.0.0.0/8"),
        "scram-sha-256",
        &[],
    );
    let local = rule("local", "all", "postgres", None, "trust", &[]);
    let mut out = vec![
        case(
            "backslash continuation",
            vec![
                // The address field ends in the continuation: the method follows on the
                // next line, in the file and in its `password` variant.
                rule(
                    "host",
                    "all",
                    "alice",
                    Some("127.0.0.1/32 \\\n   "),
                    "md5",
                    &[],
                ),
                host("all", "bob", "trust"),
                fallback.clone(),
            ],
            everyone(),
        ),
        case(
            "regex in the database and user columns",
            vec![
                host("/^ap", "/^(al|da)", "trust"),
                host("all", "/^b", "md5"),
                fallback.clone(),
            ],
            everyone(),
        ),
        case(
            "quoted regex holding a comma",
            vec![
                host("all", "\"/^(alice|bob){1,2}$\"", "trust"),
                host("\"/^a,p\"", "all", "md5"),
                fallback.clone(),
            ],
            everyone(),
        ),
        case(
            "regex that does not compile",
            vec![host("all", "/^(al", "trust"), fallback.clone()],
            everyone(),
        ),
        with_files(
            case(
                "include",
                vec![
                    host("all", "alice", "md5"),
                    raw("include extra.conf"),
                    fallback.clone(),
                ],
                everyone(),
            ),
            &[(
                "extra.conf",
                "host all bob 127.0.0.1/32 trust\nhost all carol 127.0.0.1/32 reject\n",
            )],
        ),
        with_files(
            case(
                "error inside an included file",
                vec![
                    host("all", "alice", "md5"),
                    raw("include bad.conf"),
                    fallback.clone(),
                ],
                everyone(),
            ),
            &[(
                "bad.conf",
                "host all bob 127.0.0.1/32 trust\nhost all all 127.0.0.1/33 trust\n",
            )],
        ),
        case(
            "include_if_exists of a missing file",
            vec![
                raw("include_if_exists missing.conf"),
                host("all", "bob", "trust"),
                fallback.clone(),
            ],
            everyone(),
        ),
        with_files(
            case(
                "include_dir",
                vec![raw("include_dir conf.d"), fallback.clone()],
                everyone(),
            ),
            &[("conf.d/10-bob.conf", "host all bob 127.0.0.1/32 trust\n")],
        ),
        with_files(
            case(
                "quoted \"include\"",
                vec![raw("\"include\" extra.conf"), fallback.clone()],
                everyone(),
            ),
            &[(
                "extra.conf",
                "host all bob 127.0.0.1/32 trust\nhost all carol 127.0.0.1/32 reject\n",
            )],
        ),
        case(
            "clientcert=1",
            vec![
                rule(
                    "hostssl",
                    "all",
                    "alice",
                    Some("127.0.0.1/32"),
                    "md5",
                    &["clientcert=1"],
                ),
                fallback.clone(),
            ],
            vec![
                tls(Some("alice"), "alice", "app"),
                tls(None, "alice", "app"),
            ],
        ),
        case(
            "clientcert=0",
            vec![
                rule(
                    "hostssl",
                    "all",
                    "alice",
                    Some("127.0.0.1/32"),
                    "md5",
                    &["clientcert=0"],
                ),
                fallback.clone(),
            ],
            vec![
                tls(Some("alice"), "alice", "app"),
                tls(None, "alice", "app"),
            ],
        ),
        case(
            "oauth",
            vec![
                rule(
                    "host",
                    "all",
                    "alice",
                    Some("127.0.0.1/32"),
                    "oauth",
                    &["issuer=https://example.com", "scope=openid"],
                ),
                fallback.clone(),
            ],
            everyone(),
        ),
        case(
            "md5 for roles with SCRAM, MD5, no password, and none at all",
            vec![host("all", "all", "md5"), local.clone()],
            everyone(),
        ),
        case(
            "password for every kind of role",
            vec![host("all", "all", "password"), local.clone()],
            everyone(),
        ),
    ];
    let cert_probes = vec![
        tls(Some("bob"), "dave", "app"),
        tls(Some("bob"), "alice", "app"),
        tls(Some("bob"), "carol", "app"),
        tls(Some("alice"), "alice", "app"),
        tls(Some("alice"), "carol", "app"),
        tls(Some("app"), "app", "app"),
        tls(Some("app"), "dave", "app"),
    ];
    let cert_line = rule(
        "hostssl",
        "all",
        "all",
        Some("127.0.0.1/32"),
        "cert",
        &["map=idmap"],
    );
    for (name, ident) in [
        (
            "pg_ident all and +group",
            "idmap bob all\nidmap alice +admins\n",
        ),
        (
            "pg_ident quoted \"all\" and \"+admins\"",
            "idmap bob \"all\"\nidmap alice \"+admins\"\n",
        ),
        (
            "pg_ident regex in the database-user column",
            "idmap bob /^(da|ca)\nidmap /^(.*)\\.example\\.com$ \\1\n",
        ),
        (
            "pg_ident invalid line",
            "idmap bob carol\nidmap /^(bob alice\n",
        ),
    ] {
        let mut c = case(
            name,
            vec![cert_line.clone(), local.clone()],
            cert_probes.clone(),
        );
        c.ident = Some(ident.to_string());
        out.push(c);
    }
    out
}
