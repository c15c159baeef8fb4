//! The sandbox against hostile policies: each misbehaviour is reported as a policy error
//! naming the policy and the limit, ends within its limit, never yields allow, and leaves
//! the other policies running. The policy is `tests/policies/hostile`, built to a component
//! by the host's build script; the WASI one is built here for `wasm32-wasip2`.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn patrol() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    c.env("NO_COLOR", "1").env("PATROL_CACHE_DIR", cache_dir());
    c
}

fn cache_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("patrol-cache");
    std::fs::create_dir_all(&d).ok();
    d
}

/// Compiles every policy into the cache once, before any test times a run: the time
/// bounds below are about the hostile policy, not about Cranelift.
fn warm_cache() {
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        let out = patrol()
            .args(["policy", "list", "--policy"])
            .arg(hostile())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn hostile() -> PathBuf {
    Path::new(env!("PATROL_TEST_POLICY_DIR")).join("hostile.wasm")
}

fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("patroni.yml"),
        "scope: demo\nrestapi:\n  listen: 127.0.0.1:8008\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("samples.yaml"),
        "requests:\n  - {source: 127.0.0.1, method: POST, path: /restart}\n  - {source: 127.0.0.2, method: GET, path: /patroni}\n",
    )
    .unwrap();
    dir
}

/// Runs `patrol simulate` with the hostile policy in `mode` (and the built-ins unless
/// `alone`), returning the output, the parsed JSON and the wall time.
fn run_mode(mode: &str, extra: &[&str]) -> (Output, serde_json::Value, Duration) {
    warm_cache();
    let dir = workdir(mode);
    std::fs::write(
        dir.join("settings.json"),
        format!("{{\"mode\": \"{mode}\"}}"),
    )
    .unwrap();
    let start = Instant::now();
    let out = patrol()
        .current_dir(&dir)
        .args([
            "simulate",
            "--samples",
            "samples.yaml",
            "--format",
            "json",
            "--policy",
        ])
        .arg(hostile())
        .args(["--settings", "settings.json"])
        .args(extra)
        .arg("patroni.yml")
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{mode}: stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json, elapsed)
}

/// The failure must name the policy and the kind, and every sample the hostile policy
/// reads must get a deny from it (fail closed).
fn assert_failed_closed(
    mode: &str,
    json: &serde_json::Value,
    out: &Output,
    kind: &str,
    needle: &str,
) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{mode}: exit code; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let errors = json["errors"].as_array().unwrap();
    let err = errors
        .iter()
        .find(|e| e["policy"] == "hostile")
        .unwrap_or_else(|| panic!("{mode}: no error for hostile: {json:#}"));
    assert_eq!(err["kind"], kind, "{mode}: {err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains(needle),
        "{mode}: message `{message}` lacks `{needle}`"
    );
    let decisions = json["decisions"].as_array().unwrap();
    for sample in ["requests[0]", "requests[1]"] {
        let from_hostile: Vec<_> = decisions
            .iter()
            .filter(|d| d["sample"] == sample && d["policy"] == "hostile")
            .collect();
        assert_eq!(
            from_hostile.len(),
            1,
            "{mode}: {sample} must be denied by the failed policy: {json:#}"
        );
        assert_eq!(from_hostile[0]["verdict"], "deny");
    }
    // The built-in policies still ran.
    assert!(
        json["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "patroni-restapi"),
        "{mode}: built-ins did not run"
    );
}

#[test]
fn endless_loop_hits_the_time_limit() {
    let (out, json, elapsed) = run_mode("loop", &["--timeout-ms", "1000"]);
    assert_failed_closed("loop", &json, &out, "timeout", "time limit of 1 s");
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (out, json, elapsed) = run_mode("memory", &["--memory-mib", "64"]);
    assert_failed_closed("memory", &json, &out, "memory", "memory limit of 64 MiB");
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
}

#[test]
fn panic_is_a_trap_with_its_message() {
    let (out, json, _) = run_mode("trap", &[]);
    assert_failed_closed("trap", &json, &out, "trap", "panics on purpose");
}

#[test]
fn oversized_output_hits_the_output_limit() {
    let (out, json, elapsed) = run_mode("output", &["--output-mib", "8"]);
    assert_failed_closed("output", &json, &out, "output", "limit of 8388608 bytes");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn policy_error_is_reported() {
    let (out, json, _) = run_mode("error", &[]);
    assert_failed_closed(
        "error",
        &json,
        &out,
        "policy",
        "returns an error on purpose",
    );
}

#[test]
fn invalid_settings_stop_the_policy_with_its_message() {
    let (out, json, _) = run_mode("deny-settings", &[]);
    assert_failed_closed(
        "deny-settings",
        &json,
        &out,
        "settings",
        "`mode` must not be `deny-settings`",
    );
}

#[test]
fn a_well_behaved_run_exits_by_findings_not_errors() {
    let (out, json, _) = run_mode("allow-all", &["--no-builtin"]);
    assert_eq!(out.status.code(), Some(0), "{json:#}");
    assert!(json["errors"].as_array().unwrap().is_empty());
    assert!(
        json["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["verdict"] == "allow")
    );
}

#[test]
fn undeclared_imports_are_refused_by_name() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile-wasip2");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasip2");
    let rustup = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .unwrap();
    assert!(rustup.success(), "rustup target add wasm32-wasip2 failed");
    let status = Command::new(env!("CARGO"))
        .current_dir(&crate_dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .unwrap();
    assert!(status.success());
    let component = target_dir.join("wasm32-wasip2/release/hostile-wasip2.wasm");

    let out = patrol()
        .args(["policy", "inspect"])
        .arg(&component)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("wasi:cli/environment"), "{text}");
    assert!(text.contains("refused: it imports `wasi:"), "{text}");

    let dir = workdir("wasip2");
    let out = patrol()
        .current_dir(&dir)
        .args(["check", "--format", "json", "--policy"])
        .arg(&component)
        .arg("patroni.yml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = &json["errors"][0];
    assert_eq!(err["kind"], "load");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("which the sandbox does not provide"),
        "{err}"
    );
}
