//! A real Patroni for the differential test: certificates, packages and the run of
//! `tests/support/patroni_probe.py`, which starts etcd and Patroni on loopback, loads each
//! `restapi` variant with SIGHUP and records the server's answer to every request.
//!
//! The probe is a Python script because the clients must bind their sockets to chosen
//! source addresses (127.0.0.x), speak TLS with and without client certificates, and the
//! venv with Patroni is Python anyway. Everything here runs as root in CI (Patroni itself
//! runs as `postgres`); servers are stopped by the probe, and by the process-group
//! [`crate::support::Guard`] if the test dies.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::support::{self, Pki};

/// The certificates the probe's clients and server use, as the plan's `certs`.
pub struct Certs {
    pub json: Value,
}

/// A CA with a server certificate (127.0.0.1, ::1, localhost) and a client certificate,
/// and a second CA with a client certificate the server does not trust.
pub fn certs(dir: &Path) -> Certs {
    let good = Pki::new(dir, "patrol");
    let server = good.server(
        "server",
        "127.0.0.1",
        &["IP:127.0.0.1", "IP:::1", "DNS:localhost"],
    );
    let client = good.client("client", "patrol-client");
    let rogue = Pki::new(dir, "rogue");
    let rogue_client = rogue.client("rogue-client", "patrol-client");
    let p = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    Certs {
        json: json!({
            "ca": p(&good.ca.cert),
            "server_cert": p(&server.cert), "server_key": p(&server.key),
            "client_cert": p(&client.cert), "client_key": p(&client.key),
            "rogue_cert": p(&rogue_client.cert), "rogue_key": p(&rogue_client.key),
        }),
    }
}

/// Installs etcd, PostgreSQL 15 and openssl from Debian when missing; returns
/// PostgreSQL's bin directory.
pub fn packages() -> PathBuf {
    support::ensure_packages(&[
        ("etcd", "etcd-server"),
        ("openssl", "openssl"),
        ("python3", "python3-venv"),
    ]);
    support::pg_bindir(15)
}

/// Runs the probe on `plan` (whose `workdir` is owned by `postgres`) and returns its
/// answers: `{patroni_version, python, variants: [{name, restapi, config_text,
/// results: [{outcome, status, body, error}]}]}`.
pub fn probe(plan: &Value, scratch: &Path) -> Value {
    let plan_path = scratch.join("plan.json");
    let out_path = scratch.join("answers.json");
    std::fs::write(
        &plan_path,
        serde_json::to_vec_pretty(plan).expect("plan to JSON"),
    )
    .expect("write plan");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/patroni_probe.py");
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let started = Instant::now();
    let mut cmd = Command::new(python);
    cmd.arg(&script).arg(&plan_path).arg(&out_path);
    let mut child = support::spawn_in_group(&mut cmd);
    // If this test dies while the probe runs, stop the probe and the servers it started
    // (they share its process group).
    let group = format!("-{}", child.id());
    let guard = support::Guard::new(move || {
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    });
    let status = child.wait().expect("wait for the probe");
    guard.disarm();
    assert!(
        status.success(),
        "{} failed with {status}; see the logs in {}",
        script.display(),
        plan["workdir"]
    );
    eprintln!(
        "patroni probe finished in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let text = std::fs::read_to_string(&out_path).expect("read the probe's answers");
    serde_json::from_str(&text).expect("the probe's answers are JSON")
}

/// Runs `patrol simulate --format json` on one Patroni YAML and its samples; `cache` is
/// patrol's compile cache, shared between calls so that the policies compile once.
pub fn simulate(dir: &Path, cache: &Path, config_text: &str, samples: &Value) -> Value {
    let config = dir.join("patroni.yml");
    let samples_path = dir.join("samples.json");
    std::fs::write(&config, config_text).expect("write patroni.yml");
    std::fs::write(
        &samples_path,
        serde_json::to_vec_pretty(samples).expect("samples"),
    )
    .expect("write samples");
    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("simulate")
        .arg("--samples")
        .arg(&samples_path)
        .arg("--kind")
        .arg(format!("patroni={}", config.display()))
        .args(["--format", "json"])
        .env("PATROL_CACHE_DIR", cache)
        .output()
        .expect("run patrol simulate");
    assert!(
        out.status.success(),
        "patrol simulate failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "patrol simulate printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
