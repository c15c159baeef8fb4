#![allow(clippy::unwrap_used)]

//! `patrol flows` and the fix proof as users see them: the required flows of a small
//! deployment with their decisions, exit codes, and a withheld fix naming the flow it
//! would break in JSON, in the text report and on stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn patrol(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    c.env("NO_COLOR", "1")
        .env("PATROL_CACHE_DIR", cache)
        .current_dir(root());
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("flows-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SSL_OFF: &str = "tests/fixtures/deployments/ssl-off-patroni";

#[test]
fn flows_lists_required_flows_with_decisions() {
    let cache = tmp("list-cache");
    let out = patrol(&cache)
        .args(["flows", SSL_OFF, "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    let flows = v["flows"].as_array().unwrap();
    let find = |d: &str| {
        flows
            .iter()
            .find(|f| f["description"] == d)
            .unwrap_or_else(|| panic!("no flow `{d}` in {v:#}"))
    };
    // Replication from the member's own address and from the second member HAProxy names.
    for from in ["10.0.1.11 (node1)", "10.0.1.12 (node2)"] {
        let f = find(&format!("replication from {from} as `replicator`"));
        assert_eq!(f["kind"], "replication");
        assert_eq!(f["file"], format!("{SSL_OFF}/patroni.yml"));
        assert_eq!(f["line"], 30, "the replication username");
        assert_eq!(f["decision"]["verdict"], "allow", "{f:#}");
        assert_eq!(f["decision"]["method"], "md5");
        assert_eq!(
            f["decision"]["line"], 43,
            "the pg_hba list item that admits it"
        );
    }
    let own = find("Patroni's own connection as `postgres` from 10.0.1.11");
    assert_eq!(own["decision"]["verdict"], "allow", "{own:#}");
    // The DCS at 10.0.1.21 is not among the inputs: unknown, never allowed.
    let dcs = find("Patroni to its DCS at http://10.0.1.21:2379");
    assert_eq!(dcs["decision"]["verdict"], "unknown");
    assert!(dcs["target"].is_null());
    // HAProxy's own address is not in its configuration.
    let check = flows.iter().find(|f| f["kind"] == "haproxy-check").unwrap();
    assert_eq!(check["decision"]["verdict"], "unknown");

    let out = patrol(&cache).args(["flows", SSL_OFF]).output().unwrap();
    let t = text(&out.stdout);
    assert!(t.starts_with("cluster batman\n"), "{t}");
    assert!(
        t.contains("  allow   replication from 10.0.1.12 (node2) as `replicator` → node1"),
        "{t}"
    );
    assert!(t.contains("required flows:"), "{t}");
}

#[test]
fn flows_exit_1_when_a_required_flow_is_denied() {
    let cache = tmp("deny-cache");
    let dir = tmp("deny");
    let yml = std::fs::read_to_string(root().join(SSL_OFF).join("patroni.yml")).unwrap();
    // Replication admitted only over TLS, which the server does not have.
    let yml = yml.replace(
        "- host replication replicator",
        "- hostssl replication replicator",
    );
    std::fs::write(dir.join("patroni.yml"), yml).unwrap();
    let out = patrol(&cache).arg("flows").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("deny    replication from 10.0.1.11 (node1)"),
        "{}",
        text(&out.stdout)
    );
}

const SSL_OFF_FILES: &str = "tests/fixtures/deployments/ssl-off-files";

fn ssl_everywhere() -> PathBuf {
    Path::new(env!("PATROL_TEST_POLICY_DIR")).join("ssl-everywhere.wasm")
}

#[test]
fn the_builtin_hostssl_fix_is_not_offered_while_ssl_is_off() {
    // The built-in pg-hba policy knows the effective `ssl` is off (Patroni's parameters)
    // and offers no `hostssl` fix; its finding says why and what to do by hand.
    let cache = tmp("builtin-cache");
    let out = patrol(&cache)
        .args(["check", SSL_OFF, "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "plain-tcp-allowed" && f["line"] == 43)
        .unwrap_or_else(|| panic!("no plain-tcp-allowed on line 43: {v:#}"));
    assert!(f["patch"].is_null(), "{f:#}");
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .contains("No automatic fix"),
        "{f:#}"
    );
}

#[test]
fn a_hostssl_fix_with_ssl_off_is_withheld_naming_the_replication_flow() {
    // An organisation's policy offers `host` → `hostssl` blindly; the host's proof
    // decides the deployment's flows after it and withholds the fix.
    let cache = tmp("withheld-cache");
    let dir = tmp("withheld");
    for f in ["patroni.yml", "pg_hba.conf", "postgresql.conf"] {
        std::fs::copy(root().join(SSL_OFF_FILES).join(f), dir.join(f)).unwrap();
    }
    let policy = ssl_everywhere();
    let check = |extra: &[&str]| {
        patrol(&cache)
            .arg("check")
            .arg(&dir)
            .arg("--policy")
            .arg(&policy)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = check(&["--format", "json"]);
    let v = json(&out);
    let ours: Vec<&serde_json::Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "host-not-hostssl")
        .collect();
    let replication = ours
        .iter()
        .find(|f| f["line"] == 3)
        .unwrap_or_else(|| panic!("no finding on the replication line: {v:#}"));
    assert!(
        replication["patch"].is_null(),
        "a withheld fix is no patch: {replication:#}"
    );
    let w = &replication["fix_withheld"];
    assert_eq!(w["reason"], "breaks-flow", "{w:#}");
    assert_eq!(w["flow"]["kind"], "replication");
    assert_eq!(w["flow"]["after"], "deny", "{w:#}");
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("would refuse replication from 10.0.1.11 (node1) as `replicator`"),
        "{w:#}"
    );
    assert!(
        replication["remediation"]
            .as_str()
            .unwrap()
            .contains("No automatic fix: would refuse replication"),
        "{replication:#}"
    );

    let out = check(&[]);
    let report = text(&out.stdout);
    assert!(
        report.contains(
            "No automatic fix: would refuse replication from 10.0.1.11 (node1) as `replicator`"
        ),
        "{report}"
    );

    let out = check(&["--fix"]);
    let err = text(&out.stderr);
    assert!(err.contains("patrol: fix withheld:"), "{err}");
    assert!(err.contains("required flows still pass"), "{err}");
    let after = std::fs::read_to_string(dir.join("pg_hba.conf")).unwrap();
    assert!(
        after.contains("\nhost    replication     replicator      10.0.1.0/24             md5\n"),
        "the replication line stays `host`:\n{after}"
    );
    // Every required flow allowed before the fix is still allowed.
    let out = patrol(&cache)
        .arg("flows")
        .arg(&dir)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    for f in v["flows"].as_array().unwrap() {
        if f["kind"] == "replication" {
            assert_eq!(f["decision"]["verdict"], "allow", "{f:#}");
        }
    }
}

#[test]
fn ssl_off_in_patroni_parameters_is_the_same_finding_as_in_postgresql_conf() {
    let cache = tmp("effective-cache");
    let dir = tmp("effective");
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::create_dir_all(dir.join("patroni")).unwrap();
    std::fs::write(
        dir.join("conf/postgresql.conf"),
        "ssl = off\npassword_encryption = md5\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("patroni/patroni.yml"),
        "scope: s\nname: n1\nrestapi:\n  listen: 127.0.0.1:8008\n  connect_address: 127.0.0.1:8008\npostgresql:\n  data_dir: /var/lib/postgresql/15/main\n  parameters:\n    ssl: 'off'\n    password_encryption: md5\n",
    )
    .unwrap();
    let found = |sub: &str| -> Vec<(String, u64)> {
        let out = patrol(&cache)
            .arg("check")
            .arg(dir.join(sub))
            .args(["--format", "json"])
            .output()
            .unwrap();
        let v = json(&out);
        let mut codes: Vec<(String, u64)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["policy"] == "postgresql-conf")
            .filter(|f| f["code"] == "ssl-off" || f["code"] == "password-encryption-not-scram")
            .map(|f| {
                (
                    f["code"].as_str().unwrap().to_string(),
                    f["line"].as_u64().unwrap(),
                )
            })
            .collect();
        codes.sort();
        codes
    };
    assert_eq!(
        found("conf"),
        [
            ("password-encryption-not-scram".to_string(), 2),
            ("ssl-off".to_string(), 1)
        ]
    );
    assert_eq!(
        found("patroni"),
        [
            ("password-encryption-not-scram".to_string(), 10),
            ("ssl-off".to_string(), 9)
        ],
        "the same findings at Patroni's parameters"
    );
}
