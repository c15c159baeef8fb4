//! `patrol verify` without real servers: `--dry-run` sends nothing, a bad `--target` and
//! an unreachable endpoint exit 3 with the reason, and tiny fake servers on loopback (a
//! REST API that refuses everything, a PostgreSQL that trusts everyone) make the drift
//! codes fire at the right line in every output format. tests/verify_live.rs runs the
//! real cluster.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn patrol(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    c.env("NO_COLOR", "1")
        .env(
            "PATROL_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("verify-cli-cache"),
        )
        .current_dir(dir)
        .arg("verify")
        .args(["--no-config", "--interval-ms", "0"]);
    c
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("verify-{name}"));
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

/// A Patroni YAML whose REST API and PostgreSQL are at these loopback ports, allowing
/// 127.0.0.1 to call the protected endpoints and asking postgres for SCRAM.
fn config(dir: &Path, api: u16, pg: u16) {
    std::fs::write(
        dir.join("patroni.yml"),
        format!(
            "scope: demo\nname: node1\nrestapi:\n  listen: 127.0.0.1:{api}\n  connect_address: 127.0.0.1:{api}\n  allowlist:\n    - 127.0.0.1/32\npostgresql:\n  listen: 127.0.0.1:{pg}\n  connect_address: 127.0.0.1:{pg}\n  data_dir: /var/lib/postgresql/data\n  pg_hba:\n    - host all postgres 127.0.0.1/32 scram-sha-256\n"
        ),
    )
    .unwrap();
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves `connections` connections on a loopback port, answering each with `answer`
/// after reading what the client sent first; returns the port.
fn fake(answer: &'static [u8], connections: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(answer);
        }
    });
    port
}

#[test]
fn dry_run_lists_the_probes_and_sends_nothing() {
    let dir = tmp("dry-run");
    let (api, pg) = (closed_port(), closed_port());
    config(&dir, api, pg);
    let out = patrol(&dir)
        .args(["patroni.yml", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // Nothing listens there: had anything been sent, the run would have said unreachable.
    assert!(text.contains(&format!("patroni 127.0.0.1:{api} (patroni.yml:5 restapi.connect_address): POST /switchover (empty body)")), "{text}");
    assert!(text.contains(&format!("postgresql 127.0.0.1:{pg} (patroni.yml:10 postgresql.connect_address): startup user=postgres database=postgres without SSL")), "{text}");
    assert!(
        !text.contains("/reinitialize") && !text.contains("/reload"),
        "{text}"
    );
}

#[test]
fn bad_targets_and_unreachable_endpoints_exit_3() {
    let dir = tmp("unreachable");
    config(&dir, closed_port(), closed_port());
    let out = patrol(&dir)
        .args(["patroni.yml", "--target", "nope=127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown NAME `nope`"));

    let out = patrol(&dir)
        .args(["patroni.yml", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(3), "{v:#}");
    let unreachable: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "unreachable")
        .collect();
    assert_eq!(unreachable.len(), 2, "{v:#}");
    assert_eq!(unreachable[0]["line"], 5);
    assert!(
        unreachable[0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot connect")
    );
    assert_eq!(v["verify"]["summary"]["unreachable"], 2);
}

#[test]
fn fake_servers_make_drift_fire_at_the_deciding_line() {
    let dir = tmp("fake");
    // 12 REST probes (14 without the two DELETEs) and one startup packet.
    let api = fake(b"HTTP/1.0 403 Forbidden\r\n\r\nAccess is denied", 12);
    let pg = fake(b"R\0\0\0\x08\0\0\0\0", 1);
    config(&dir, api, pg);
    let out = patrol(&dir)
        .args(["patroni.yml", "--format", "json", "--no-delete"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v:#}");
    let codes = |code: &str| -> Vec<serde_json::Value> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == code)
            .cloned()
            .collect()
    };
    let api_drift = codes("drift-restapi");
    // Every probe sent (the DELETEs are left out): the fake refuses even the safe
    // endpoints and /mpp, which no Patroni checks; refusing more than the file is medium.
    assert_eq!(api_drift.len(), 12, "{v:#}");
    assert!(api_drift.iter().all(|f| f["severity"] == "medium"));
    let hba = codes("drift-hba");
    assert_eq!(hba.len(), 1, "{v:#}");
    assert_eq!(
        (hba[0]["line"].as_u64(), hba[0]["severity"].as_str()),
        (Some(13), Some("high"))
    );
    assert!(
        hba[0]["message"]
            .as_str()
            .unwrap()
            .contains("session was opened"),
        "{:#}",
        hba[0]
    );
    assert_eq!(v["verify"]["summary"]["sessions_opened"], 1);
    assert_eq!(v["mode"], "verify");

    // The CI formats carry the same findings with verify's own rule texts.
    let api = fake(b"HTTP/1.0 403 Forbidden\r\n\r\nAccess is denied", 12);
    let pg = fake(b"R\0\0\0\x08\0\0\0\0", 1);
    config(&dir, api, pg);
    let out = patrol(&dir)
        .args(["patroni.yml", "--format", "sarif", "--no-delete"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let sarif = json(&out);
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"].to_string();
    assert!(
        rules.contains("verify/drift-hba") && rules.contains("pg_hba_file_rules"),
        "{rules}"
    );
}

#[test]
fn tls_mismatch_and_unexpected_answers_are_findings() {
    let dir = tmp("tls-unexpected");
    // The file says TLS; the server speaks plain HTTP: every handshake fails.
    let api = fake(b"HTTP/1.0 200 OK\r\n\r\n{}", 12);
    config(&dir, api, closed_port());
    let yml = std::fs::read_to_string(dir.join("patroni.yml")).unwrap();
    std::fs::write(
        dir.join("patroni.yml"),
        yml.replace(
            "  allowlist:",
            "  certfile: /etc/patroni/server.crt\n  allowlist:",
        ),
    )
    .unwrap();
    let out = patrol(&dir)
        .args(["patroni.yml", "--format", "json", "--no-delete"])
        .output()
        .unwrap();
    let v = json(&out);
    let count = |code: &str| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == code)
            .count()
    };
    assert_eq!(count("drift-tls"), 12, "{v:#}");
    // The PostgreSQL port is closed: exit 3 wins over the drift's 1.
    assert_eq!(count("unreachable"), 1, "{v:#}");
    assert_eq!(out.status.code(), Some(3), "{v:#}");

    // A server that answers 200 to everything: the protected handlers' documented
    // rejections (400, 422, 502 …) are not what came back.
    let api = fake(b"HTTP/1.0 200 OK\r\n\r\n{}", 12);
    let pg = fake(b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0", 1);
    config(&dir, api, pg);
    let out = patrol(&dir)
        .args(["patroni.yml", "--format", "json", "--no-delete"])
        .output()
        .unwrap();
    let v = json(&out);
    let unexpected: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "unexpected-answer")
        .collect();
    // switchover, failover, PATCH and PUT /config, restart, citus, mpp, failsafe.
    assert_eq!(unexpected.len(), 8, "{v:#}");
    assert!(
        unexpected[0]["message"]
            .as_str()
            .unwrap()
            .contains("answered 200")
    );
    assert_eq!(v["verify"]["summary"]["drift"], 0, "{v:#}");
    assert_eq!(out.status.code(), Some(1), "{v:#}");
}
