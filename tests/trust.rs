//! Identity and trust, through the real binary: an org policy cannot pass for a built-in
//! one or for patrol itself, two policies cannot share a name, and the compile cache
//! loads only artifacts patrol wrote for that very component, from a directory no other
//! user can write to (a precompiled artifact is native code).

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn patrol(cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    c.env("NO_COLOR", "1").env("PATROL_CACHE_DIR", cache);
    c
}

fn policy(name: &str) -> PathBuf {
    Path::new(env!("PATROL_TEST_POLICY_DIR")).join(format!("{name}.wasm"))
}

/// A fresh directory below the target's temporary directory, mode 0700.
fn fresh(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("trust-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

fn workdir(name: &str) -> PathBuf {
    let dir = fresh(name);
    std::fs::write(dir.join("pg_hba.conf"), "host all all 0.0.0.0/0 trust\n").unwrap();
    dir
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

fn check(cache: &Path, dir: &Path, extra: &[&str], policies: &[PathBuf]) -> Output {
    let mut c = patrol(cache);
    c.current_dir(dir)
        .args(["check", "--format", "json", "pg_hba.conf"])
        .args(extra);
    for p in policies {
        c.arg("--policy").arg(p);
    }
    c.output().unwrap()
}

fn policy_names(json: &serde_json::Value) -> Vec<String> {
    json["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

// Identity.

#[test]
fn an_org_policy_cannot_take_a_built_in_name() {
    let cache = fresh("names-cache");
    let dir = workdir("names-builtin");
    // The built-in pg-hba's own component, given as an org policy: with or without the
    // built-ins, it is refused by name and does not report as `pg-hba`.
    for extra in [&[][..], &["--no-builtin"][..]] {
        let out = check(&cache, &dir, extra, &[policy("pg-hba")]);
        let v = json(&out);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {v:#}");
        let errors = v["errors"].as_array().unwrap();
        let refused = errors
            .iter()
            .find(|e| e["kind"] == "load")
            .unwrap_or_else(|| panic!("{extra:?}: {v:#}"));
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains("`pg-hba`") && message.contains("built-in"),
            "{message}"
        );
        assert!(
            refused["policy"].as_str().unwrap().ends_with("pg-hba.wasm"),
            "the error names the file: {refused}"
        );
        let names = policy_names(&v);
        let sources: Vec<&str> = v["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["source"].as_str().unwrap())
            .collect();
        assert_eq!(
            names.iter().filter(|n| *n == "pg-hba").count(),
            usize::from(extra.is_empty()),
            "{names:?}"
        );
        assert!(
            sources.iter().all(|s| !s.ends_with(".wasm")),
            "the impostor ran: {sources:?}"
        );
    }
}

#[test]
fn two_policies_cannot_share_a_name() {
    let cache = fresh("dup-cache");
    let dir = workdir("names-dup");
    let out = check(
        &cache,
        &dir,
        &["--no-builtin"],
        &[policy("hostile"), policy("hostile")],
    );
    let v = json(&out);
    assert_eq!(out.status.code(), Some(2), "{v:#}");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{v:#}");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("another policy is also called `hostile`"),
        "{v:#}"
    );
    assert_eq!(policy_names(&v), ["hostile"]);
}

// The compile cache.

/// The compiled artifacts in a cache directory.
fn artifacts(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    v.sort();
    v
}

/// Fills a fresh cache with the artifact of `name` alone; returns its path.
fn compiled(cache_name: &str, name: &str) -> PathBuf {
    let cache = fresh(cache_name);
    let out = patrol(&cache)
        .args(["policy", "inspect"])
        .arg(policy(name))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found = artifacts(&cache);
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// What `policy inspect` says the component is called.
fn inspected_name(cache: &Path, name: &str) -> (String, String) {
    let out = patrol(cache)
        .args(["policy", "inspect", "--format", "json"])
        .arg(policy(name))
        .output()
        .unwrap();
    let v = json(&out);
    (
        v["metadata"]["name"].as_str().unwrap_or("").to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Plants the hostile policy's artifact (written by patrol itself) under the name of
/// pg-hba's artifact in `cache`.
fn plant(cache: &Path) {
    let hostile = compiled(
        &format!("{}-h", cache.file_name().unwrap().to_string_lossy()),
        "hostile",
    );
    let target = compiled(
        &format!("{}-p", cache.file_name().unwrap().to_string_lossy()),
        "pg-hba",
    );
    std::fs::copy(&hostile, cache.join(target.file_name().unwrap())).unwrap();
}

#[test]
fn a_planted_artifact_is_not_loaded() {
    let cache = fresh("planted");
    plant(&cache);
    let (name, stderr) = inspected_name(&cache, "pg-hba");
    assert_eq!(
        name, "pg-hba",
        "the planted artifact replaced the policy: {stderr}"
    );
    // The built-in pg-hba (same bytes, same cache key) too.
    plant(&cache);
    let dir = workdir("planted-run");
    let v = json(&check(&cache, &dir, &[], &[]));
    let names = policy_names(&v);
    assert!(
        names.contains(&"pg-hba".to_string()) && !names.contains(&"hostile".to_string()),
        "{names:?}"
    );
}

/// The cache outcome (`hit`, `compiled`) of the built-in pg-hba in a check's JSON.
fn pg_hba_cache(v: &serde_json::Value) -> String {
    v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "pg-hba")
        .map(|p| p["cache"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn an_artifact_changed_in_place_is_not_loaded() {
    let artifact = compiled("changed-in-place", "pg-hba");
    let cache = artifact.parent().unwrap().to_path_buf();
    let dir = workdir("changed-in-place-run");
    assert_eq!(pg_hba_cache(&json(&check(&cache, &dir, &[], &[]))), "hit");
    // One bit of the code, same file, same name, same size: the signature no longer
    // verifies, so the artifact is compiled again and replaced, never loaded.
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&artifact, &bytes).unwrap();
    assert_eq!(
        pg_hba_cache(&json(&check(&cache, &dir, &[], &[]))),
        "compiled"
    );
    assert_ne!(std::fs::read(&artifact).unwrap(), bytes);
    assert_eq!(pg_hba_cache(&json(&check(&cache, &dir, &[], &[]))), "hit");
}

#[test]
fn an_artifact_others_can_write_is_not_loaded() {
    let cache = compiled("writable-artifact", "pg-hba")
        .parent()
        .unwrap()
        .to_path_buf();
    let artifact = artifacts(&cache).remove(0);
    std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (name, stderr) = inspected_name(&cache, "pg-hba");
    assert_eq!(name, "pg-hba", "{stderr}");
    // Then planted and world-writable: not loaded either.
    plant(&cache);
    let artifact = artifacts(&cache).remove(0);
    std::fs::set_permissions(&artifact, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (name, stderr) = inspected_name(&cache, "pg-hba");
    assert_eq!(name, "pg-hba", "{stderr}");
}

/// A cache directory (or a parent) that is not safe: a warning, no artifact read or
/// written there, and the run still right.
fn assert_refused(cache: &Path, artifact_dir: &Path) {
    let before = artifacts(artifact_dir);
    let (name, stderr) = inspected_name(cache, "pg-hba");
    assert_eq!(
        name, "pg-hba",
        "a planted artifact was loaded from an unsafe cache: {stderr}"
    );
    assert!(stderr.contains("not using the compile cache"), "{stderr}");
    assert_eq!(
        artifacts(artifact_dir),
        before,
        "patrol wrote to an unsafe cache"
    );
}

#[test]
fn a_world_writable_cache_directory_is_refused() {
    let cache = fresh("world-writable");
    plant(&cache);
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_refused(&cache, &cache);
    // Group-writable too.
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o770)).unwrap();
    assert_refused(&cache, &cache);
}

#[test]
fn a_cache_below_a_world_writable_directory_is_refused() {
    let parent = fresh("writable-parent");
    let cache = parent.join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
    plant(&cache);
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert_refused(&cache, &cache);
}

#[test]
fn a_cache_directory_of_another_user_is_refused() {
    let cache = fresh("other-owner");
    plant(&cache);
    // The tests run as root (see tests/support): give the directory to `postgres`.
    let status = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(&cache)
        .status()
        .unwrap();
    assert!(status.success());
    assert_refused(&cache, &cache);
}
