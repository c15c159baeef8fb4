//! `patrol verify` against a real cluster: etcd + Patroni 4.1.5 + PostgreSQL 15 on
//! loopback (`tests/support/verify_cluster.py`, on the harness of the Patroni differential
//! test). The repository's copy of the Patroni YAML is the config the cluster started
//! with; the test verifies it clean (0 drift), then changes the live side only — a
//! pg_hba.conf line edited in the data directory and reloaded, `archive_command` set with
//! `patronictl edit-config`, the REST API's allowlist changed and reloaded — and checks
//! that each is reported with its code at the right file:line. Around every verify run,
//! the cluster's state (members, roles, timeline, PostgreSQL's start time, the dynamic
//! config, Patroni's history, scheduled actions, pg_hba.conf, sessions left by patrol) is
//! read and must be unchanged: the probes change nothing.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

mod support;

// Only the versions and packages of the differential test's harness are used here.
#[allow(dead_code)]
#[path = "support/patroni.rs"]
mod patroni;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

const HBA_POSTGRES: &str = "host all postgres 127.0.0.1/32 scram-sha-256";

struct Cluster {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Cluster {
    fn call(&mut self, cmd: Value) -> Value {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let answer = self.line();
        assert!(answer.get("error").is_none(), "{cmd}: {answer}");
        answer
    }

    fn line(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }
}

/// The line of the first line of `text` that contains `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in:\n{text}")) as u64
        + 1
}

/// Runs `patrol verify --format json` (with `extra` arguments); returns the exit code
/// and the JSON.
fn verify(dir: &Path, cache: &Path, extra: &[&str]) -> (i32, Value) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .current_dir(dir)
        .args(["verify", "patroni.yml", "--samples", "samples.yaml"])
        .args(extra)
        .args(["--format", "json", "--interval-ms", "10", "--no-config"])
        .env("PATROL_CACHE_DIR", cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "patrol verify ({:.1}s, exit {:?}): {}",
        started.elapsed().as_secs_f64(),
        out.status.code(),
        stderr.trim()
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), json)
}

fn findings<'a>(report: &'a Value, code: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == code)
        .collect()
}

/// The Patroni release the live cluster runs (its venv cached by `support::servers`).
const PATRONI_VERSION: &str = "4.1.5";

#[test]
fn verify_finds_live_drift_and_changes_nothing() {
    let pg_bindir = patroni::packages();
    let work = support::postgres_tempdir();
    let scratch = tempfile::Builder::new()
        .prefix("patrol-verify-live-")
        .tempdir()
        .unwrap();
    let certs_dir = work.path().join("certs");
    std::fs::create_dir_all(&certs_dir).unwrap();
    // A CA with the server and client certificates Patroni uses (patroni::certs), and a
    // server certificate of another CA, which does not name 127.0.0.1, for the swap.
    let certs = patroni::certs(&certs_dir).json;
    let other = support::Pki::new(&certs_dir, "other").server(
        "other-server",
        "127.0.0.1",
        &["DNS:elsewhere.example"],
    );
    let plan = json!({
        "workdir": work.path(),
        "venv": std::env::var("PATROL_PATRONI_VENV")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| support::servers::patroni_venv(PATRONI_VERSION)),
        "patroni_version": PATRONI_VERSION,
        "pg_bindir": pg_bindir,
        "certs": certs,
        "postgresql_extra": {"pg_hba": [
            "local all all trust",
            "host replication replicator 127.0.0.1/32 scram-sha-256",
            HBA_POSTGRES,
            "host all all 127.0.0.1/32 scram-sha-256",
        ]},
        "restapi_extra": {"allowlist": ["127.0.0.1/32"]},
    });
    let plan_path = scratch.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/verify_cluster.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(&plan_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = support::spawn_in_group(&mut cmd);
    let group = format!("-{}", child.id());
    let guard = support::Guard::new(move || {
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    });
    let mut cluster = Cluster {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        child,
    };
    let ready = cluster.line();
    assert_eq!(ready["ready"], true, "{ready}");

    // The repository: the YAML the cluster started with, and what to probe PostgreSQL with.
    let info = cluster.call(json!({"cmd": "info"}));
    assert_eq!(info["version"], PATRONI_VERSION);
    let config = info["config_text"].as_str().unwrap().to_string();
    let repo = scratch.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("patroni.yml"), &config).unwrap();
    std::fs::write(
        repo.join("samples.yaml"),
        "context: {postgres_version: 15, patroni_version: \"4.1.5\"}\n\
         connections:\n\
         \x20 - {source: 127.0.0.1, ssl: false, user: postgres, database: postgres}\n\
         \x20 - {source: 127.0.0.1, ssl: false, user: replicator, database: replication, replication: true}\n\
         \x20 - {source: 127.0.0.1, ssl: false, user: app, database: app}\n",
    )
    .unwrap();
    let cache = scratch.path().join("cache");

    // Every verify run leaves the cluster as it found it.
    let client = [
        "--client-cert",
        certs["client_cert"].as_str().unwrap(),
        "--client-key",
        certs["client_key"].as_str().unwrap(),
    ];
    let tls_on = std::cell::Cell::new(false);
    let checked = |cluster: &mut Cluster, what: &str| -> (i32, Value) {
        let before = cluster.call(json!({"cmd": "snapshot"}));
        let extra: &[&str] = if tls_on.get() { &client } else { &[] };
        let (code, report) = verify(&repo, &cache, extra);
        let after = cluster.call(json!({"cmd": "snapshot"}));
        assert_eq!(before, after, "{what}: the probes changed the cluster");
        assert_eq!(
            after["sessions_by_patrol"], "0",
            "{what}: a session was left open"
        );
        assert!(after["scheduled_restart"].is_null() && after["scheduled_switchover"].is_null());
        (code, report)
    };

    // 1. Clean: every probe agrees.
    let (code, clean) = checked(&mut cluster, "clean");
    let s = &clean["verify"]["summary"];
    println!("clean: {s}");
    assert_eq!(code, 0, "{clean:#}");
    assert_eq!(s["drift"], 0, "{clean:#}");
    assert_eq!(s["dcs_keys_drift"], 0, "{clean:#}");
    assert_eq!(s["unreachable"], 0);
    // 2 endpoints; 14 REST probes (nothing is scheduled, so both DELETEs go) and 3
    // startup packets.
    assert_eq!(s["endpoints"], 2, "{clean:#}");
    assert_eq!(s["probes_sent"], 17, "{clean:#}");
    assert_eq!(s["agree"], 17, "{clean:#}");
    assert!(
        clean["findings"].as_array().unwrap().is_empty(),
        "{clean:#}"
    );

    // 2. pg_hba.conf edited in the data directory and reloaded: `trust` for postgres.
    let trust = HBA_POSTGRES.replace("scram-sha-256", "trust");
    cluster.call(json!({"cmd": "hba", "old": HBA_POSTGRES, "new": trust}));
    let (code, report) = checked(&mut cluster, "pg_hba drift");
    println!("pg_hba drift: {}", report["verify"]["summary"]);
    assert_eq!(code, 1);
    let hba = findings(&report, "drift-hba");
    assert_eq!(hba.len(), 1, "{report:#}");
    assert_eq!(hba[0]["file"], "patroni.yml");
    assert_eq!(
        hba[0]["line"],
        line_of(&config, HBA_POSTGRES),
        "{:#}",
        hba[0]
    );
    assert_eq!(hba[0]["severity"], "high");
    assert!(
        hba[0]["message"].as_str().unwrap().contains("trust"),
        "{:#}",
        hba[0]
    );
    assert_eq!(report["verify"]["summary"]["sessions_opened"], 1);
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    cluster.call(json!({"cmd": "hba", "old": trust, "new": HBA_POSTGRES}));

    // 3. archive_command set in the DCS with patronictl edit-config.
    cluster.call(json!({"cmd": "edit-config", "set": "postgresql.parameters.archive_command=/bin/true patrol-drift"}));
    let (code, report) = checked(&mut cluster, "DCS drift");
    println!("DCS drift: {}", report["verify"]["summary"]);
    assert_eq!(code, 1);
    let dcs = findings(&report, "drift-dcs");
    assert_eq!(dcs.len(), 1, "{report:#}");
    assert_eq!(dcs[0]["line"], line_of(&config, "\"dcs\""), "{:#}", dcs[0]);
    assert_eq!(dcs[0]["severity"], "high");
    assert_eq!(
        dcs[0]["pointer"],
        "/bootstrap/dcs/postgresql/parameters/archive_command"
    );
    assert!(dcs[0]["message"].as_str().unwrap().contains("patrol-drift"));
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );

    // 4. The REST API's allowlist changed in the config Patroni reads, and reloaded.
    cluster
        .call(json!({"cmd": "restapi", "set": {"allowlist": ["127.0.0.2/32"]}, "wait_for": 403}));
    let (code, report) = checked(&mut cluster, "allowlist drift");
    println!("allowlist drift: {}", report["verify"]["summary"]);
    assert_eq!(code, 1);
    let api = findings(&report, "drift-restapi");
    // Every protected handler probed: /switchover, /failover, PATCH and PUT /config,
    // /restart, both DELETEs, /citus, /failsafe (not /mpp: it has no access check).
    assert_eq!(api.len(), 9, "{report:#}");
    let allowlist = line_of(&config, "\"allowlist\"");
    for f in &api {
        assert_eq!(f["line"], allowlist, "{f:#}");
        assert!(f["message"].as_str().unwrap().contains("403"), "{f:#}");
    }
    assert_eq!(findings(&report, "drift-dcs").len(), 1);

    // 5. TLS with client certificates required (and the DCS put back): the repository
    // takes the new config and a copy of the server certificate; verify is clean again,
    // without a client certificate (every handshake refused, as the file says) and with one.
    cluster
        .call(json!({"cmd": "edit-config", "set": "postgresql.parameters.archive_command=null"}));
    cluster.call(
        json!({"cmd": "restapi", "new_port": true, "wait_for": 400, "set": {
            "allowlist": ["127.0.0.1/32"], "certfile": "$CERT", "keyfile": "$KEY", "cafile": "$CA",
            "verify_client": "required",
        }}),
    );
    tls_on.set(true);
    let info = cluster.call(json!({"cmd": "info"}));
    let config = info["config_text"].as_str().unwrap().to_string();
    std::fs::write(repo.join("patroni.yml"), &config).unwrap();
    std::fs::copy(
        certs["server_cert"].as_str().unwrap(),
        repo.join("server.crt"),
    )
    .unwrap();
    let (code, report) = checked(&mut cluster, "TLS clean");
    let s = &report["verify"]["summary"];
    println!("TLS clean: {s}");
    assert_eq!(code, 0, "{report:#}");
    // 14 REST probes with the certificate, 12 without (the handshakes fail, so GET /patroni
    // and /cluster cannot show that nothing is scheduled: the DELETEs are not sent), 3
    // startup packets.
    assert_eq!(
        (s["probes_sent"].as_u64(), s["agree"].as_u64()),
        (Some(29), Some(29)),
        "{report:#}"
    );
    assert_eq!(s["dcs_keys_agree"], 3, "{report:#}");
    assert!(
        report["verify"]["notes"].as_array().unwrap().is_empty(),
        "{report:#}"
    );

    // 6. The certificate swapped on the live side only.
    cluster.call(json!({"cmd": "swap-cert", "cert": other.cert, "key": other.key}));
    let (code, report) = checked(&mut cluster, "certificate drift");
    println!("certificate drift: {}", report["verify"]["summary"]);
    assert_eq!(code, 1);
    let cert = findings(&report, "drift-cert");
    assert_eq!(cert.len(), 1, "{report:#}");
    let certfile = line_of(&config, "\"certfile\"");
    assert_eq!(cert[0]["line"], certfile, "{:#}", cert[0]);
    let served = findings(&report, "served-cert");
    assert_eq!(served.len(), 1, "{report:#}");
    assert_eq!(
        (served[0]["line"].as_u64(), served[0]["severity"].as_str()),
        (Some(certfile), Some("medium"))
    );
    assert!(
        served[0]["message"]
            .as_str()
            .unwrap()
            .contains("do not name `127.0.0.1`")
    );
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        2,
        "{report:#}"
    );

    let stopped = cluster.call(json!({"cmd": "stop"}));
    assert_eq!(stopped["stopped"], true);
    let _ = cluster.child.wait();
    guard.disarm();
}
