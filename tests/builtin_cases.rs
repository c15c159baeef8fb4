//! Every built-in policy is tested as users test theirs: its `policies/NAME/tests/*.yaml`
//! case files run through the built binary (`patrol test --builtin NAME policies/NAME
//! --require-coverage`), every case passing and every finding code expected by a case.
//! `patrol test` at the repository root runs them all, with a line per policy.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

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

fn cache() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("builtin-cases-cache");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn output(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The built-in policies' crates: `policies/NAME/Cargo.toml` (not `policies/examples`).
fn builtin_policies() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.len() >= 10,
        "expected the built-in policies under policies/, found {names:?}"
    );
    names
}

#[test]
fn every_builtin_policy_passes_its_cases_with_full_coverage() {
    let cache = cache();
    let mut failed = Vec::new();
    let mut ran = 0;
    for name in builtin_policies() {
        let dir = format!("policies/{name}");
        if !root().join(&dir).join("tests").is_dir() {
            failed.push(format!(
                "== {name}: no {dir}/tests/ directory: a built-in policy keeps `patrol test` case files there"
            ));
            continue;
        }
        let out = patrol(&cache)
            .args(["test", "--builtin", &name, &dir, "--require-coverage"])
            .output()
            .unwrap();
        ran += 1;
        if !out.status.success() {
            failed.push(format!("== {name}\n{}", output(&out)));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(ran >= 7, "only {ran} policies ran their cases");
}

#[test]
fn patrol_test_at_the_root_runs_every_builtin_policy() {
    let out = patrol(&cache()).arg("test").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .split("built-in policies:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no summary\n{}", output(&out)));
    let mut missing = false;
    for name in builtin_policies() {
        let line = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("no summary line for `{name}`\n{}", output(&out)));
        let has_tests = root().join("policies").join(&name).join("tests").is_dir();
        missing |= !has_tests;
        let verdict = line.split_whitespace().nth(1).unwrap();
        if has_tests {
            assert_eq!(verdict, "ok", "{line}\n{}", output(&out));
            assert!(line.contains(" 0 failed;"), "{line}");
        } else {
            // A built-in policy without case files fails the run.
            assert_eq!(verdict, "FAILED", "{line}");
            assert!(line.contains("no test files"), "{line}");
        }
    }
    // Exit 0 only when every built-in policy has cases and they pass.
    assert_eq!(
        out.status.code(),
        Some(i32::from(missing)),
        "{}",
        output(&out)
    );
}
