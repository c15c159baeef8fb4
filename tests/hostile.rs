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
            .arg("--policy")
            .arg(wide())
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

/// The hostile policy under wide metadata: reads `*`, declares 100,000 codes.
fn wide() -> PathBuf {
    Path::new(env!("PATROL_TEST_POLICY_DIR")).join("hostile-wide.wasm")
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
/// `--no-builtin` is in `extra`), returning the output, the parsed JSON and the wall time.
fn run_mode(mode: &str, extra: &[&str]) -> (Output, serde_json::Value, Duration) {
    run_policy(
        &hostile(),
        &format!("{{\"mode\": \"{mode}\"}}"),
        mode,
        extra,
    )
}

/// [`run_mode`] for any policy, with its settings as JSON text.
fn run_policy(
    policy: &Path,
    settings: &str,
    mode: &str,
    extra: &[&str],
) -> (Output, serde_json::Value, Duration) {
    warm_cache();
    let dir = workdir(mode);
    std::fs::write(dir.join("settings.json"), settings).unwrap();
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
        .arg(policy)
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

/// Runs `patrol simulate` with `policy` (settings as JSON text) over `requests` request
/// samples, in `format`; returns the raw output and the wall time.
fn run_raw(
    policy: &Path,
    settings: &str,
    name: &str,
    requests: usize,
    format: &str,
    extra: &[&str],
) -> (Output, Duration) {
    warm_cache();
    let dir = workdir(name);
    std::fs::write(dir.join("settings.json"), settings).unwrap();
    let mut samples = String::from("requests:\n");
    for i in 0..requests {
        samples.push_str(&format!(
            "  - {{source: 127.0.0.{}, method: POST, path: /restart}}\n",
            i % 250 + 1
        ));
    }
    std::fs::write(dir.join("samples.yaml"), samples).unwrap();
    let start = Instant::now();
    let out = patrol()
        .current_dir(&dir)
        .args([
            "simulate",
            "--samples",
            "samples.yaml",
            "--format",
            format,
            "--policy",
        ])
        .arg(policy)
        .args(["--settings", "settings.json"])
        .args(extra)
        .arg("patroni.yml")
        .output()
        .unwrap();
    (out, start.elapsed())
}

fn error_of<'a>(json: &'a serde_json::Value, policy: &str) -> &'a serde_json::Value {
    json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["policy"] == policy)
        .unwrap_or_else(|| panic!("no error for {policy}: {json:#}"))
}

// Fail-open paths.

#[test]
fn a_failed_policy_that_reads_everything_denies_every_sample() {
    warm_cache();
    let dir = workdir("wide-error");
    std::fs::write(dir.join("settings.json"), r#"{"mode": "error"}"#).unwrap();
    std::fs::write(
        dir.join("samples.yaml"),
        "requests:\n  - {source: 127.0.0.1, method: GET, path: /patroni}\n\
         connections:\n  - {source: 127.0.0.1, database: app, user: app}\n",
    )
    .unwrap();
    std::fs::write(dir.join("pg_hba.conf"), "host all all 127.0.0.1/32 trust\n").unwrap();
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
        .arg(wide())
        .args(["--settings", "settings.json", "patroni.yml", "pg_hba.conf"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{json:#}");
    assert_eq!(error_of(&json, "hostile-wide")["kind"], "policy");
    for sample in ["requests[0]", "connections[0]"] {
        let denied = json["decisions"].as_array().unwrap().iter().any(|d| {
            d["sample"] == sample && d["policy"] == "hostile-wide" && d["verdict"] == "deny"
        });
        assert!(
            denied,
            "{sample} must be denied by the failed policy that reads `*`: {json:#}"
        );
    }
}

#[test]
fn one_answer_per_sample_per_policy() {
    let (out, json, _) = run_mode("duplicate", &[]);
    assert_failed_closed("duplicate", &json, &out, "output", "requests[0] twice");
}

// Identity.

#[test]
fn undeclared_finding_codes_are_refused() {
    let (out, json, _) = run_mode("undeclared", &[]);
    assert_failed_closed("undeclared", &json, &out, "output", "`never-declared`");
    assert!(
        json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["code"] != "never-declared"),
        "{json:#}"
    );
}

// Poor reports.

#[test]
fn a_stack_overflow_is_named() {
    let (out, json, elapsed) = run_mode("stack", &[]);
    assert_failed_closed("stack", &json, &out, "trap", "stack overflow");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn policy_logs_cannot_flood_stderr() {
    let settings = r#"{"mode": "log-flood", "count": 200000}"#;
    let (out, elapsed) = run_raw(
        &hostile(),
        settings,
        "log-flood",
        2,
        "json",
        &["--no-builtin", "-v"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.stderr.len() < 256 << 10,
        "{} bytes of stderr",
        out.stderr.len()
    );
    assert!(
        stderr.contains("more log lines suppressed"),
        "{}",
        &stderr[stderr.len().saturating_sub(2000)..]
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

// Amplification: what the host renders is bounded by the limits, whatever the policy
// returns, and rendering is linear.

#[test]
fn a_huge_policy_error_is_not_copied_into_every_sample() {
    let settings = r#"{"mode": "big-error"}"#;
    for format in ["json", "text", "junit", "sarif", "github"] {
        let (out, elapsed) = run_raw(
            &hostile(),
            settings,
            "big-error",
            20,
            format,
            &["--no-builtin"],
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.len() < 1 << 20,
            "{format}: {} bytes of output for a 10 MB error and 20 samples",
            out.stdout.len()
        );
        assert!(
            elapsed < Duration::from_secs(20),
            "{format}: took {elapsed:?}"
        );
    }
}

#[test]
fn one_huge_decision_reason_is_not_copied_into_every_sample() {
    let settings = r#"{"mode": "big-detail"}"#;
    for format in ["json", "text", "junit"] {
        let (out, elapsed) = run_raw(
            &hostile(),
            settings,
            "big-detail",
            200,
            format,
            &["--no-builtin"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.len() < 4 << 20,
            "{format}: {} bytes of output for one 1 MB reason and 200 samples",
            out.stdout.len()
        );
        assert!(
            elapsed < Duration::from_secs(20),
            "{format}: took {elapsed:?}"
        );
    }
}

#[test]
fn the_output_limit_bounds_every_rendered_report() {
    // Past the limit once each finding is counted at what a report spends on it: the
    // policy fails (closed), and the report stays small.
    let settings = r#"{"mode": "many-findings", "count": 30000}"#;
    let (out, elapsed) = run_raw(
        &hostile(),
        settings,
        "many-findings-over",
        2,
        "sarif",
        &["--no-builtin", "--output-mib", "8"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.len() < 1 << 20,
        "{} bytes of SARIF",
        out.stdout.len()
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    // Within the limit: every format renders at most a few times the limit.
    let settings = r#"{"mode": "many-findings", "count": 4000}"#;
    for format in ["sarif", "json", "junit", "text", "github"] {
        let (out, elapsed) = run_raw(
            &hostile(),
            settings,
            "many-findings-within",
            2,
            format,
            &["--no-builtin", "--output-mib", "8"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.len() < 3 * (8 << 20),
            "{format}: {} bytes for an output limit of 8 MiB",
            out.stdout.len()
        );
        assert!(
            elapsed < Duration::from_secs(30),
            "{format}: took {elapsed:?}"
        );
    }
}

/// Runs `patrol check` alone with the hostile policy in `mode` on `patroni.yml`, with
/// `extra` arguments; returns the output and the file's text afterwards.
fn check_mode(mode: &str, extra: &[&str]) -> (Output, String) {
    warm_cache();
    let dir = workdir(&format!("check-{mode}-{}", extra.join("").replace('-', "")));
    std::fs::write(
        dir.join("settings.json"),
        format!("{{\"mode\": \"{mode}\"}}"),
    )
    .unwrap();
    let out = patrol()
        .current_dir(&dir)
        .args(["check", "--no-builtin", "--policy"])
        .arg(hostile())
        .args(["--settings", "settings.json"])
        .args(extra)
        .arg("patroni.yml")
        .output()
        .unwrap();
    let after = std::fs::read_to_string(dir.join("patroni.yml")).unwrap();
    (out, after)
}

const PATRONI: &str = "scope: demo\nrestapi:\n  listen: 127.0.0.1:8008\n";

#[test]
fn overlapping_or_outside_line_edits_are_a_policy_error_not_a_panic() {
    for (mode, needle) in [
        ("overlap", "line edits 1..3 and 2..3 overlap"),
        ("lines-outside", "outside the file"),
    ] {
        for extra in [
            &["--format", "sarif"][..],
            &["--diff"],
            &["--fix"],
            &["--format", "json"],
        ] {
            let (out, after) = check_mode(mode, extra);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{mode} {extra:?}: stdout {stdout}\nstderr {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{mode} {extra:?}: {stderr}");
            assert_eq!(after, PATRONI, "{mode} {extra:?}: the file changed");
            if extra == ["--format", "json"] {
                let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let err = &json["errors"][0];
                assert_eq!(err["kind"], "output", "{mode}: {err}");
                assert!(
                    err["message"].as_str().unwrap().contains(needle),
                    "{mode}: {err}"
                );
            }
        }
    }
}

#[test]
fn reports_are_linear_in_the_number_of_codes() {
    // 50,000 findings, each with its own (declared) code.
    let settings = r#"{"mode": "many-codes", "count": 50000}"#;
    for format in ["junit", "sarif"] {
        let (out, elapsed) = run_raw(
            &wide(),
            settings,
            "many-codes",
            2,
            format,
            &["--no-builtin"],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            elapsed < Duration::from_secs(40),
            "{format}: took {elapsed:?}"
        );
    }
}

#[test]
fn a_set_at_a_very_deep_pointer_is_refused_not_a_stack_overflow() {
    for extra in [&["--format", "sarif"][..], &["--diff"], &["--fix"]] {
        let (out, after) = check_mode("deep-pointer", extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert_eq!(after, PATRONI, "{extra:?}: the file changed");
        if extra != ["--format", "sarif"] {
            assert!(
                stderr.contains("fix not applied") && stderr.contains("levels"),
                "{extra:?}: {stderr}"
            );
        }
    }
}
