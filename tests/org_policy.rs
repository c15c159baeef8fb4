//! Org policies end to end: the README's "Write your own policy" guide run exactly as
//! written (scaffold, `cargo test`, build, `patrol test`, check; then the worked example),
//! the build refusing a policy that imports outside the world, the bundle's exceptions
//! and problems, and the finding codes of the built-in policies (unique, documented).
//!
//! Building a policy compiles the SDK's dependencies for wasm once; every build here
//! shares one `CARGO_TARGET_DIR` under `CARGO_TARGET_TMPDIR`, so later builds only compile
//! the policy crates.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// A fresh directory of its own (another `cargo test` may run these tests at the same
/// time), removed when the test ends.
fn tmp(name: &str) -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix(&format!("org-policy-{name}-"))
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let path = dir.path().to_path_buf();
    DIRS.with(|d| d.borrow_mut().push(dir));
    path
}

thread_local! {
    static DIRS: std::cell::RefCell<Vec<tempfile::TempDir>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The environment every step runs in: `patrol` on PATH, the shared cargo target dir, a
/// private compile cache.
fn env(cmd: &mut Command, cache: &Path) {
    let bin = Path::new(env!("CARGO_BIN_EXE_patrol"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap())
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("org-policy-target"),
        )
        .env("PATROL_CACHE_DIR", cache)
        .env("NO_COLOR", "1");
}

fn patrol(dir: &Path, cache: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    env(&mut c, cache);
    c.current_dir(dir);
    c
}

fn show(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(out)))
}

/// The README section "Write your own policy" (`PATROL_README` names another file).
fn guide() -> String {
    let path = std::env::var_os("PATROL_README")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("README.md"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let start = text.find("## Write your own policy").unwrap_or_else(|| {
        panic!(
            "{} has no \"## Write your own policy\" section (the guide this test runs)",
            path.display()
        )
    });
    let rest = &text[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

/// The `sh` blocks of a piece of Markdown, in order.
fn sh_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start() == "```sh" => current = Some(String::new()),
            Some(block) if line.trim_start() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// Runs shell steps in `dir`, stopping at the first that fails.
fn run_steps(blocks: &[String], dir: &Path, cache: &Path) {
    let script = blocks.concat();
    let mut sh = Command::new("sh");
    sh.args(["-e", "-x", "-c", &script]).current_dir(dir);
    env(&mut sh, cache);
    let out = sh.output().unwrap();
    assert!(
        out.status.success(),
        "the guide's steps failed in {}:\n{script}\n{}",
        dir.display(),
        show(&out)
    );
}

#[test]
fn the_guide_runs_as_written() {
    let guide = guide();
    let split = guide
        .find("### A worked example")
        .expect("the guide has a worked example section");
    let (own, example) = guide.split_at(split);
    let own_steps = sh_blocks(own);
    let example_steps = sh_blocks(example);
    assert!(
        own_steps.len() >= 2 && !example_steps.is_empty(),
        "{own_steps:?} {example_steps:?}"
    );
    let cache = tmp("guide-cache");

    // Part one, in an empty directory: scaffold, unit tests, build, `patrol test`, check.
    let work = tmp("guide");
    run_steps(&own_steps, &work, &cache);
    let crate_dir = work.join("acme-rules");
    let wasm = crate_dir.join("target/patrol/acme-rules.wasm");
    assert!(wasm.is_file());

    // What the guide says happens next: an outside entry fails the check at its line.
    std::fs::write(
        crate_dir.join("deploy/patroni.yml"),
        "scope: acme-main\nrestapi:\n  listen: 10.20.0.11:8443\n  allowlist: [10.20.0.0/24, 0.0.0.0/0]\n",
    )
    .unwrap();
    let check = |extra: &[&str]| {
        let mut c = patrol(&crate_dir, &cache);
        c.args([
            "check",
            "--no-builtin",
            "--policy",
            "target/patrol/acme-rules.wasm",
            "--settings",
            "acme-rules=settings.yaml",
        ]);
        c.args(extra).arg("deploy");
        c.output().unwrap()
    };
    let out = check(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v = json(&out);
    let f = &v["findings"][0];
    assert_eq!(
        (f["code"].as_str(), f["file"].as_str(), f["line"].as_u64()),
        (
            Some("allowlist-outside-admin-networks"),
            Some("deploy/patroni.yml"),
            Some(4)
        ),
        "{v:#}"
    );
    let text = String::from_utf8_lossy(&check(&[]).stdout).into_owned();
    assert!(text.contains("deploy/patroni.yml:4: high [acme-rules/allowlist-outside-admin-networks] `0.0.0.0/0` in `restapi.allowlist` is outside the admin networks (10.20.0.0/16)"), "{text}");
    let diff = check(&["--diff"]);
    assert!(
        String::from_utf8_lossy(&diff.stdout).contains("-  allowlist: [10.20.0.0/24, 0.0.0.0/0]"),
        "{}",
        show(&diff)
    );

    // A failing case shows a readable diff and exits 1; coverage is reported.
    let cases = crate_dir.join("tests/acme-rules.yaml");
    let original = std::fs::read_to_string(&cases).unwrap();
    std::fs::write(
        &cases,
        original.replace("file: patroni.yml, line: 6", "file: patroni.yml, line: 5"),
    )
    .unwrap();
    let out = patrol(&crate_dir, &cache)
        .args(["test", "--policy", "target/patrol/acme-rules.wasm"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stdout.contains("- expected  allowlist-outside-admin-networks at patroni.yml:5"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "+ got       acme-rules/allowlist-outside-admin-networks at patroni.yml:6 (high)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("coverage: 1 of 1 finding codes of `acme-rules` exercised"),
        "{stdout}"
    );
    std::fs::write(&cases, original).unwrap();

    // Part two, from the root of the checkout: the worked example.
    run_steps(&example_steps, &root(), &cache);
    let out = patrol(&root().join("policies/examples/org-access/deploy"), &cache)
        .args(["check", "--samples", "samples.yaml", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    let waived = v["waived"].as_array().unwrap();
    assert_eq!(waived.len(), 1, "{v:#}");
    assert_eq!(waived[0]["code"], "request-outside-matrix");
    assert_eq!(waived[0]["exception"]["at"], "patrol.yaml:27");

    // `policy list` shows the bundle's org policy with its codes.
    let out = patrol(&root().join("policies/examples/org-access/deploy"), &cache)
        .args(["policy", "list", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    let org = v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "org-access")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(org["codes"].as_array().unwrap().len(), 9);
}

#[test]
fn build_refuses_a_policy_that_imports_outside_the_world() {
    let cache = tmp("leaky-cache");
    let work = tmp("leaky");
    let out = patrol(&work, &cache)
        .args(["policy", "new", "leaky-policy"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let lib = work.join("leaky-policy/src/lib.rs");
    let mut text = std::fs::read_to_string(&lib).unwrap();
    text.push_str(
        "\n#[link(wasm_import_module = \"env\")]\nunsafe extern \"C\" {\n    fn host_clock() -> u64;\n}\n\n\
         #[unsafe(no_mangle)]\npub extern \"C\" fn leak() -> u64 {\n    unsafe { host_clock() }\n}\n",
    );
    std::fs::write(&lib, text).unwrap();
    let out = patrol(&work.join("leaky-policy"), &cache)
        .args(["policy", "build"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("imports `env::host_clock`, which is outside the `patrol:policy` world"),
        "{stderr}"
    );
    assert!(
        !work
            .join("leaky-policy/target/patrol/leaky-policy.wasm")
            .exists()
    );
}

#[test]
fn a_bundle_reports_every_problem_with_its_line() {
    let dir = tmp("bad-bundle");
    std::fs::write(dir.join("pg_hba.conf"), "local all all peer\n").unwrap();
    std::fs::write(
        dir.join("patrol.yaml"),
        "policies:\n  - builtin: no-such-policy\nseverity:\n  x: urgent\nexceptions:\n  - code: a/b\n    file: \"*\"\ncolour: blue\n",
    )
    .unwrap();
    let out = patrol(&dir, &tmp("bad-bundle-cache"))
        .args(["check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "patrol.yaml:2: there is no built-in policy `no-such-policy`",
        "patrol.yaml:4: `x` must be `policy/code`",
        "patrol.yaml:6: missing key `reason` in `exceptions[0]`",
        "patrol.yaml:6: missing key `expires` in `exceptions[0]`",
        "patrol.yaml:8: unknown key `colour`",
    ] {
        assert!(
            stderr.contains(expected),
            "missing `{expected}` in:\n{stderr}"
        );
    }
    // `--no-config` ignores it.
    let out = patrol(&dir, &tmp("bad-bundle-cache2"))
        .args(["check", "--no-config", "--fail-on", "critical"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(3), "{}", show(&out));
}

#[test]
fn an_expired_exception_is_a_finding_and_waives_nothing() {
    let dir = tmp("expired");
    std::fs::write(dir.join("pg_hba.conf"), "host all all 0.0.0.0/0 trust\n").unwrap();
    let cache = tmp("expired-cache");
    let first = patrol(&dir, &cache)
        .args(["check", "--format", "json", "--no-config"])
        .output()
        .unwrap();
    let v = json(&first);
    let Some(f) = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["policy"] != "patrol")
    else {
        panic!("the built-in policies find nothing in a trust-everyone pg_hba.conf: {v:#}");
    };
    let code = format!(
        "{}/{}",
        f["policy"].as_str().unwrap(),
        f["code"].as_str().unwrap()
    );
    let bundle = |expires: &str| {
        format!(
            "exceptions:\n  - code: {code}\n    file: pg_hba.conf\n    reason: accepted for the test\n    expires: {expires}\n"
        )
    };
    std::fs::write(dir.join("patrol.yaml"), bundle("2999-12-31")).unwrap();
    let v = json(
        &patrol(&dir, &cache)
            .args(["check", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert!(
        v["waived"].as_array().unwrap().iter().any(|w| format!(
            "{}/{}",
            w["policy"].as_str().unwrap(),
            w["code"].as_str().unwrap()
        ) == code),
        "{v:#}"
    );

    std::fs::write(dir.join("patrol.yaml"), bundle("2001-01-01")).unwrap();
    let out = patrol(&dir, &cache)
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v = json(&out);
    assert!(v["waived"].as_array().unwrap().is_empty(), "{v:#}");
    let expired = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "expired-exception")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(
        (
            expired["policy"].as_str(),
            expired["file"].as_str(),
            expired["line"].as_u64()
        ),
        (Some("patrol"), Some("patrol.yaml"), Some(2))
    );
    assert_eq!(expired["severity"], "medium");
}

/// Every built-in policy's codes are unique and documented in its README.md.
#[test]
fn builtin_codes_are_unique_and_documented() {
    let cache = tmp("codes-cache");
    let out = patrol(&root(), &cache)
        .args(["policy", "list", "--no-config", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let v = json(&out);
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in v["policies"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let Some(dir) = p["source"]
            .as_str()
            .and_then(|s| s.strip_prefix("builtin:"))
        else {
            continue;
        };
        let readme = std::fs::read_to_string(root().join("policies").join(dir).join("README.md"))
            .unwrap_or_default();
        if readme.is_empty() {
            problems.push(format!(
                "policies/{dir}/README.md is missing: it must list the policy's finding codes"
            ));
        }
        for c in p["codes"].as_array().unwrap() {
            let code = c["code"].as_str().unwrap();
            if !seen.insert(format!("{name}/{code}")) {
                problems.push(format!("`{name}/{code}` is declared twice"));
            }
            let kebab = !code.is_empty()
                && code
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-');
            if !kebab {
                problems.push(format!("`{name}/{code}` is not kebab-case"));
            }
            if !readme.is_empty() && !mentions(&readme, code) {
                problems.push(format!(
                    "policies/{dir}/README.md does not document `{name}/{code}`"
                ));
            }
        }
    }
    assert!(!seen.is_empty(), "no built-in policy codes: {v:#}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether `text` has `code` as a whole word (not inside a longer code).
fn mentions(text: &str, code: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices(code).any(|(i, _)| {
        let before = text[..i].chars().next_back().is_none_or(|c| !word(c));
        let after = text[i + code.len()..]
            .chars()
            .next()
            .is_none_or(|c| !word(c));
        before && after
    })
}

/// The built-in policies keep YAML cases in `policies/NAME/tests/`, in the format org
/// policies use; they all pass.
#[test]
fn builtin_policy_cases_pass() {
    let cache = tmp("builtin-cases-cache");
    let mut failures = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("policies"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for dir in dirs.iter().filter(|d| d.join("Cargo.toml").is_file()) {
        let has_cases = std::fs::read_dir(dir.join("tests")).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.path()
                    .extension()
                    .is_some_and(|x| x == "yaml" || x == "yml")
            })
        });
        if !has_cases {
            continue;
        }
        let name = dir.file_name().unwrap().to_str().unwrap();
        let out = patrol(&root(), &cache)
            .args(["test", "--builtin", name])
            .arg(dir)
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!("policies/{name}:\n{}", show(&out)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `patrol test --builtin NAME` runs the same case files against a built-in policy.
#[test]
fn builtin_policies_run_case_files_too() {
    let dir = tmp("builtin-case");
    let cache = tmp("builtin-case-cache");
    let hba = "host all all 0.0.0.0/0 trust\n";
    std::fs::write(dir.join("pg_hba.conf"), hba).unwrap();
    let v = json(
        &patrol(&dir, &cache)
            .args(["check", "--format", "json", "--no-config"])
            .output()
            .unwrap(),
    );
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["policy"] != "patrol")
        .unwrap_or_else(|| panic!("{v:#}"))
        .clone();
    let (policy, code, line) = (
        f["policy"].as_str().unwrap(),
        f["code"].as_str().unwrap(),
        f["line"].as_u64().unwrap(),
    );
    let case = |line: u64| {
        format!(
            "policy: {policy}\ncases:\n  - name: trust from anywhere\n    files:\n      pg_hba.conf: \"{}\"\n    expect:\n      findings:\n        - {{code: {code}, file: pg_hba.conf, line: {line}}}\n      no_other_findings: false\n",
            hba.escape_default()
        )
    };
    std::fs::create_dir(dir.join("tests")).unwrap();
    std::fs::write(dir.join("tests/cases.yaml"), case(line)).unwrap();
    let out = patrol(&dir, &cache)
        .args(["test", "--builtin", policy, "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok   tests/cases.yaml: trust from anywhere"),
        "{}",
        show(&out)
    );

    std::fs::write(dir.join("tests/cases.yaml"), case(line + 1)).unwrap();
    let out = patrol(&dir, &cache)
        .args(["test", "--builtin", policy, "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let v = json(
        &patrol(&dir, &cache)
            .args(["test", "--builtin", policy, ".", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        (v["passed"].as_u64(), v["failed"].as_u64()),
        (Some(0), Some(1)),
        "{v:#}"
    );
    assert!(
        v["uncovered"].as_array().unwrap().len() + 1 >= v["coverage"].as_array().unwrap().len(),
        "{v:#}"
    );

    let out = patrol(&dir, &cache)
        .args(["test", "--builtin", "no-such-policy", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
}
