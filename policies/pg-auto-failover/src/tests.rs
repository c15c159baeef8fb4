//! Policy tests over hand-built inputs; line fixes are applied and the result checked
//! again, settings fixes are checked as the edits they ask for (the host writes them:
//! `tests/*.yaml` show the fixed text).

use policy_guest::hba::testing::{context, rules};
use policy_guest::testing::{apply_line_edits, hba_edits};
use policy_guest::{Body, Document, Edit, Evaluation, IdentRule, Input, Location, Setting};

use super::*;

/// The settings edits of the patches of `file`: (section, key, value).
fn sets(e: &Evaluation, file: &str) -> Vec<(String, String, String)> {
    e.patches
        .iter()
        .filter(|p| p.file == file)
        .flat_map(|p| p.edits.iter())
        .filter_map(|ed| match ed {
            Edit::SetSetting(s) => Some((
                s.section.clone().unwrap_or_default(),
                s.key.clone(),
                s.value.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn set(section: &str, key: &str, value: &str) -> (String, String, String) {
    (section.into(), key.into(), value.into())
}

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
        } else if let Some((k, v)) = l.split_once('=') {
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
        kind: policy_guest::DocumentKind::PgAutoctl,
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

fn ident(path: &str, text: &str) -> Document {
    let entries = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let f: Vec<&str> = l.split_whitespace().collect();
            IdentRule {
                location: Location {
                    file: path.into(),
                    line: i as u32 + 1,
                    end_line: None,
                    pointer: None,
                },
                map_name: f[0].into(),
                system_user: f[1].into(),
                database_user: f[2].into(),
                database_user_quoted: false,
            }
        })
        .collect();
    Document {
        kind: policy_guest::DocumentKind::PgIdent,
        path: path.into(),
        text: text.into(),
        body: Body::Ident(entries),
        diagnostics: Vec::new(),
    }
}

fn run(docs: Vec<Document>) -> Evaluation {
    let input = Input {
        documents: docs,
        context: context(15),
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: "{}".into(),
    };
    policy_guest::run::<PgAutoFailover>(&input).expect("the policy runs")
}

fn codes(e: &Evaluation) -> Vec<(String, String, u32)> {
    let mut v: Vec<_> = e
        .findings
        .iter()
        .map(|f| (f.location.file.clone(), f.code.clone(), f.location.line))
        .collect();
    v.sort();
    v
}

const NODE: &str = "\
[pg_autoctl]
role = keeper
monitor = postgres://autoctl_node:h4ckm3@monitor.example:5432/pg_auto_failover?sslmode=require
formation = default

[postgresql]
pgdata = /var/lib/postgresql/data
auth_method = trust

[ssl]
active = 1
sslmode = require
ca_file = /etc/ssl/root.crt
cert_file = /etc/ssl/server.crt
key_file = /etc/ssl/server.key

[replication]
password = h4ckm3m0r3
";

/// Rules PostgreSQL loads (`cert` only on `hostssl`): weak, not invalid.
const NODE_HBA: &str = "\
local all postgres peer
hostssl replication \"pgautofailover_replicator\" 10.0.0.0/8 cert
host \"postgres\" \"pgautofailover_replicator\" 10.0.0.0/8 trust   # pg_rewind
hostssl all app 10.0.3.0/24 scram-sha-256
";

#[test]
fn node_with_a_ca_but_weak_modes_and_rules() {
    let docs = vec![
        ini("node/pg_autoctl.cfg", NODE),
        hba("node/pg_hba.conf", NODE_HBA),
        ident("node/pg_ident.conf", "# empty\n"),
    ];
    let e = run(docs);
    let cfg = "node/pg_autoctl.cfg".to_string();
    let h = "node/pg_hba.conf".to_string();
    assert_eq!(
        codes(&e),
        vec![
            (cfg.clone(), "auth-trust".into(), 8),
            (cfg.clone(), "monitor-uri-password".into(), 3),
            (cfg.clone(), "monitor-uri-unverified".into(), 3),
            (cfg.clone(), "replication-password-in-config".into(), 18),
            (cfg, "sslmode-unverified".into(), 12),
            (h.clone(), "hba-cert-without-map".into(), 2),
            (h.clone(), "hba-not-hostssl".into(), 3),
            (h.clone(), "hba-trust".into(), 3),
            (h, "ident-map-missing".into(), 2),
        ]
    );
    let mut cfg_sets = sets(&e, "node/pg_autoctl.cfg");
    cfg_sets.sort();
    assert_eq!(
        cfg_sets,
        vec![
            set(
                "pg_autoctl",
                "monitor",
                "postgres://autoctl_node:h4ckm3@monitor.example:5432/pg_auto_failover?sslmode=verify-full&sslrootcert=/etc/ssl/root.crt"
            ),
            set("postgresql", "auth_method", "scram-sha-256"),
            set("ssl", "sslmode", "verify-full"),
        ]
    );
    // The host renders these (`tests/hba.yaml` shows the text).
    assert_eq!(
        hba_edits(&e, "node/pg_hba.conf"),
        [
            "set 2: method=cert +map=pgautofailover",
            "set 3: type=hostssl method=scram-sha-256"
        ]
    );
    let fixed_hba = "local all postgres peer\nhostssl replication \"pgautofailover_replicator\" 10.0.0.0/8 cert map=pgautofailover\nhostssl \"postgres\" \"pgautofailover_replicator\" 10.0.0.0/8 scram-sha-256   # pg_rewind\nhostssl all app 10.0.3.0/24 scram-sha-256\n";
    let fixed_ident = apply_line_edits("# empty\n", &e, Some("node/pg_ident.conf"));
    assert_eq!(
        fixed_ident,
        "# empty\npgautofailover postgres pgautofailover_replicator\n"
    );
    // The HBA and ident fixes leave nothing to fix in those files.
    let again = run(vec![
        ini("node/pg_autoctl.cfg", NODE),
        hba("node/pg_hba.conf", fixed_hba),
        ident("node/pg_ident.conf", &fixed_ident),
    ]);
    assert!(
        again
            .findings
            .iter()
            .all(|f| f.location.file == "node/pg_autoctl.cfg"),
        "{:?}",
        codes(&again)
    );
}

#[test]
fn a_cert_rule_gets_hostssl_and_its_map() {
    let text =
        "host    replication  pgautofailover_replicator  10.0.1.12/32  cert   # from node2\n";
    let cfg = "[ssl]\nactive = 1\nsslmode = verify-full\nca_file = /ca\n[postgresql]\nauth_method = cert\n";
    let e = run(vec![
        ini("pg_autoctl.cfg", cfg),
        hba("pg_hba.conf", text),
        ident(
            "pg_ident.conf",
            "pgautofailover postgres pgautofailover_replicator\n",
        ),
    ]);
    assert_eq!(
        hba_edits(&e, "pg_hba.conf"),
        ["set 1: type=hostssl method=cert +map=pgautofailover"]
    );
}

#[test]
fn self_signed_and_no_ssl() {
    let selfsigned = "[pg_autoctl]\nrole = keeper\nmonitor = postgres://autoctl_node@monitor/pg_auto_failover\n[ssl]\nactive = 1\nsslmode = prefer\ncert_file = /d/server.crt\nkey_file = /d/server.key\n";
    let e = run(vec![ini("pg_autoctl.cfg", selfsigned)]);
    let found: Vec<(String, u32)> = e
        .findings
        .iter()
        .map(|f| (f.code.clone(), f.location.line))
        .collect();
    assert_eq!(
        found,
        vec![
            ("self-signed-certificate".into(), 7),
            ("sslmode-plaintext".into(), 6),
            ("monitor-uri-no-ssl".into(), 3)
        ]
    );
    let msg = &e.findings[0].message;
    assert!(
        msg.contains("NOT protect against man-in-the-middle"),
        "{msg}"
    );
    let mut got = sets(&e, "pg_autoctl.cfg");
    got.sort();
    assert_eq!(
        got,
        vec![
            set(
                "pg_autoctl",
                "monitor",
                "postgres://autoctl_node@monitor/pg_auto_failover?sslmode=require"
            ),
            set("ssl", "sslmode", "require"),
        ]
    );

    let nossl = "[pg_autoctl]\nrole = monitor\n[postgresql]\nauth_method = md5\n";
    let e = run(vec![
        ini("pg_autoctl.cfg", nossl),
        hba(
            "pg_hba.conf",
            "host pg_auto_failover autoctl_node 10.0.0.0/8 md5\n",
        ),
    ]);
    let found: Vec<String> = e.findings.iter().map(|f| f.code.clone()).collect();
    assert_eq!(
        found,
        vec![
            "ssl-disabled",
            "sslmode-plaintext",
            "auth-weak",
            "hba-not-hostssl"
        ]
    );
    // SSL is off: no `hostssl` patch (it would lock the nodes out).
    assert!(
        e.findings
            .iter()
            .filter(|f| f.code == "hba-not-hostssl" || f.code == "sslmode-plaintext")
            .all(|f| f.patch.is_none())
    );
}

#[test]
fn hardened_is_clean_and_broad_maps_are_found() {
    let cfg = "[pg_autoctl]\nrole = keeper\nmonitor = postgres://autoctl_node@monitor.example:5432/pg_auto_failover?sslmode=verify-full&sslrootcert=/etc/ssl/root.crt\n[postgresql]\nauth_method = cert\n[ssl]\nactive = 1\nsslmode = verify-full\nca_file = /etc/ssl/root.crt\ncert_file = /etc/ssl/server.crt\nkey_file = /etc/ssl/server.key\n";
    let h = "hostssl replication pgautofailover_replicator 10.0.1.0/24 cert map=pgautofailover\nhostssl postgres pgautofailover_monitor 10.0.1.30/32 trust\n";
    let good = run(vec![
        ini("pg_autoctl.cfg", cfg),
        hba("pg_hba.conf", h),
        ident(
            "pg_ident.conf",
            "pgautofailover postgres pgautofailover_replicator\n",
        ),
    ]);
    assert!(good.findings.is_empty(), "{:?}", codes(&good));
    let broad = run(vec![
        ini("pg_autoctl.cfg", cfg),
        hba("pg_hba.conf", h),
        ident(
            "pg_ident.conf",
            "pgautofailover /^(.*)$ pgautofailover_replicator\n",
        ),
    ]);
    assert_eq!(
        codes(&broad),
        vec![("pg_ident.conf".into(), "ident-map-too-broad".into(), 1)]
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
