//! The command line as users' CI scripts see it: exit codes, JSON shapes, errors that name
//! the file and line, the compile cache, `--diff`/`--fix`.

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

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn insecure_example_has_findings_and_exits_1() {
    let cache = tmp("insecure-cache");
    let out = patrol(&cache)
        .args(["check", "examples/insecure", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    let findings = v["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    for f in findings {
        for key in ["policy", "code", "severity", "message", "file", "line"] {
            assert!(!f[key].is_null(), "finding without `{key}`: {f}");
        }
    }
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v:#}");
    // Every policy that reads Patroni files found something in the insecure example.
    assert!(
        findings
            .iter()
            .any(|f| f["policy"] == "patroni-restapi"
                && f["file"] == "examples/insecure/patroni.yml")
    );
}

#[test]
fn hardened_example_is_clean_and_exits_0() {
    let cache = tmp("hardened-cache");
    let out = patrol(&cache)
        .args(["check", "examples/hardened", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    // Info-level notes (e.g. a Patroni version whose `/mpp` only the network can protect)
    // may remain; nothing of severity low or above.
    let serious: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    assert!(serious.is_empty(), "{serious:#?}");
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v:#}");
}

#[test]
fn simulate_prints_one_decision_per_sample_and_policy() {
    let cache = tmp("simulate-cache");
    let out = patrol(&cache)
        .args([
            "simulate",
            "--samples",
            "examples/samples.yaml",
            "examples/insecure",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    let decisions = v["decisions"].as_array().unwrap();
    for d in decisions {
        for key in [
            "sample", "name", "verdict", "status", "line", "method", "reason", "policy",
        ] {
            assert!(d.get(key).is_some(), "decision without `{key}`: {d}");
        }
        assert!(d["verdict"] == "allow" || d["verdict"] == "deny");
    }
    let samples: std::collections::BTreeSet<&str> = decisions
        .iter()
        .map(|d| d["sample"].as_str().unwrap())
        .collect();
    for s in [
        "requests[0]",
        "requests[1]",
        "requests[2]",
        "connections[0]",
        "connections[1]",
        "connections[2]",
    ] {
        assert!(samples.contains(s), "no decision for {s}: {v:#}");
    }
}

#[test]
fn usage_errors_exit_3() {
    let cache = tmp("usage-cache");
    let out = patrol(&cache)
        .args(["check", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = patrol(&cache)
        .args(["check", "--format", "yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = patrol(&cache).args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = patrol(&cache).args(["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes"));
}

#[test]
fn missing_and_unknown_inputs_exit_3_naming_the_file() {
    let cache = tmp("missing-cache");
    let out = patrol(&cache)
        .args(["check", "no/such/patroni.yml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("`no/such/patroni.yml`"),
        "{}",
        stderr(&out)
    );

    let dir = tmp("unknown");
    std::fs::write(dir.join("notes.txt"), "hello").unwrap();
    let out = patrol(&cache)
        .arg("check")
        .arg(dir.join("notes.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--kind"), "{}", stderr(&out));
}

#[test]
fn samples_with_unknown_keys_are_errors_with_the_line() {
    let cache = tmp("samples-cache");
    let dir = tmp("samples");
    std::fs::write(
        dir.join("s.yaml"),
        "requests:\n  - source: 10.0.0.1\n    path: /\n    sorce: 10.0.0.2\n",
    )
    .unwrap();
    let out = patrol(&cache)
        .args(["simulate", "--samples"])
        .arg(dir.join("s.yaml"))
        .arg("examples/insecure")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("s.yaml:4") && err.contains("sorce"), "{err}");

    std::fs::write(dir.join("bad.yaml"), "requests:\n  - source: [\n").unwrap();
    let out = patrol(&cache)
        .args(["simulate", "--samples"])
        .arg(dir.join("bad.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("bad.yaml:"), "{}", stderr(&out));
}

#[test]
fn second_run_compiles_nothing() {
    let cache = tmp("second-run-cache");
    let first = patrol(&cache)
        .args(["-v", "check", "examples/hardened"])
        .output()
        .unwrap();
    assert!(stderr(&first).contains("(Compiled)"), "{}", stderr(&first));
    let second = patrol(&cache)
        .args(["-v", "check", "examples/hardened"])
        .output()
        .unwrap();
    let err = stderr(&second);
    assert!(
        err.contains("(Hit)") && !err.contains("(Compiled)"),
        "{err}"
    );
}

#[test]
fn malformed_yaml_is_a_finding_with_its_line() {
    let cache = tmp("malformed-cache");
    // A Patroni YAML named on the command line, and a Compose file met in a directory
    // walk (its services would tell which Patroni nodes run: a broken one must say so,
    // not drop the nodes in silence).
    let cases = [
        (
            "patroni.yml",
            "scope: x\nrestapi:\n  listen: [1, 2\n  certfile: a\n",
            3,
            false,
        ),
        (
            "docker-compose.yml",
            "services:\n  pg1:\n    image: patroni\n    environment:\n      PATRONI_NAME: pg1\n   bad: [\n",
            6,
            true,
        ),
    ];
    for (name, text, line, walk) in cases {
        let dir = tmp(&format!("malformed-{name}"));
        std::fs::write(dir.join(name), text).unwrap();
        let mut cmd = patrol(&cache);
        cmd.args(["check", "--format", "json"]);
        if walk {
            cmd.arg(&dir);
        } else {
            cmd.arg(dir.join(name));
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr(&out));
        let v = json(&out);
        let f = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "invalid-yaml")
            .unwrap_or_else(|| panic!("{name}: {v:#}"));
        assert!(f["line"].as_u64().unwrap() >= line, "{name}: {f}");
        assert!(f["file"].as_str().unwrap().ends_with(name), "{name}: {f}");
    }
}

#[test]
fn an_unrendered_template_is_skipped_with_its_reason_never_checked_as_live() {
    let cache = tmp("template-cache");
    let dir = tmp("template");
    // An Ansible template kept under the live name: its values are unknown, so
    // `ssl = {{ postgresql_ssl }}` must not turn into `ssl-off` or a broken line.
    std::fs::write(
        dir.join("postgresql.conf"),
        "# managed by Ansible\nssl = {{ postgresql_ssl }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("patroni.yml"),
        "scope: {{ cluster }}\nrestapi:\n  listen: 0.0.0.0:8008\n",
    )
    .unwrap();
    std::fs::write(dir.join("pg_ident.conf"), "omicron bryanh bryanh\n").unwrap();
    let out = patrol(&cache)
        .args(["check", "--format", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["findings"], serde_json::json!([]), "{v:#}");
    let files = v["files"].as_array().unwrap();
    let reason = |name: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .map(|f| f["skipped"].clone())
            .unwrap_or_else(|| panic!("{name} not listed: {v:#}"))
    };
    let conf = reason("postgresql.conf");
    assert!(
        conf.as_str()
            .unwrap()
            .contains("a template (`{{ postgresql_ssl }}` at line 2"),
        "{conf}"
    );
    assert!(
        reason("patroni.yml")
            .as_str()
            .unwrap()
            .contains("at line 1")
    );
    assert!(reason("pg_ident.conf").is_null(), "a live file is read");
    // Named on the command line, it is a usage error that says how to force it.
    let out = patrol(&cache)
        .args(["check"])
        .arg(dir.join("patroni.yml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--kind patroni="), "{}", stderr(&out));
    let out = patrol(&cache)
        .args(["check", "--format", "json", "--kind"])
        .arg(format!("patroni={}", dir.join("patroni.yml").display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// Copies a directory tree (the examples have no links).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `--fix` on the whole insecure example: a second check finds nothing left to patch, every
/// fixed file still parses, and `--diff` applied with `patch -p1` gives the same files.
#[test]
fn fix_reaches_a_fixpoint_and_diff_agrees_with_it() {
    let cache = tmp("fixpoint-cache");
    let work = tmp("fixpoint");
    copy_tree(
        &root().join("examples/insecure"),
        &work.join("fixed/insecure"),
    );
    copy_tree(
        &root().join("examples/insecure"),
        &work.join("diffed/insecure"),
    );

    let mut diff = patrol(&cache);
    let out = diff
        .current_dir(work.join("diffed"))
        .args(["check", "insecure", "--diff"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let patch = out.stdout.clone();
    assert!(!patch.is_empty());
    // Files whose changed lines hold a secret: their diff is redacted and cannot apply.
    let hidden: Vec<String> = stderr(&out)
        .lines()
        .filter_map(|l| {
            l.strip_prefix("patrol: the diff of `")?
                .split('`')
                .next()
                .map(str::to_string)
        })
        .collect();
    assert!(
        !String::from_utf8_lossy(&patch).contains("h4ckm3"),
        "a password in the diff"
    );

    let out = patrol(&cache)
        .current_dir(work.join("fixed"))
        .args(["check", "insecure", "--fix"])
        .output()
        .unwrap();
    // pg_hba.conf's fixes wait for TLS and SCRAM (`ssl = off`, `password_encryption =
    // md5` in postgresql.conf): withheld by the policy, the file stays as it is.
    assert!(
        stderr(&out).contains("patrol: fixed insecure/consul.hcl"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("patrol: fixed insecure/pg_hba.conf"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("fix not applied"),
        "{}",
        stderr(&out)
    );

    let out = patrol(&cache)
        .current_dir(work.join("fixed"))
        .args(["check", "insecure", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    let findings = v["findings"].as_array().unwrap();
    // `--fix` takes the fixes of findings at or above `--fail-on` (default `low`).
    let fixable: Vec<_> = findings
        .iter()
        .filter(|f| !f["patch"].is_null() && f["severity"] != "info")
        .collect();
    assert!(fixable.is_empty(), "fixes left after --fix: {fixable:#?}");
    let broken: Vec<_> = findings
        .iter()
        .filter(|f| f["policy"] == "patrol")
        .collect();
    assert!(
        broken.is_empty(),
        "a fixed file no longer parses: {broken:#?}"
    );
    assert!(v["errors"].as_array().unwrap().is_empty(), "{v:#}");

    let mut apply = Command::new("patch");
    apply
        .current_dir(work.join("diffed"))
        .args([
            "-p1",
            "--quiet",
            "--no-backup-if-mismatch",
            "--reject-file=/dev/null",
        ])
        .stdin(std::process::Stdio::piped());
    let mut child = apply.spawn().expect("`patch` runs");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &patch).unwrap();
    let applied = child.wait().unwrap().success();
    assert!(
        applied || !hidden.is_empty(),
        "the --diff does not apply with patch -p1"
    );
    for entry in walk(&work.join("fixed/insecure")) {
        let rel = entry.strip_prefix(work.join("fixed")).unwrap();
        if hidden.iter().any(|h| Path::new(h) == rel) {
            continue;
        }
        let fixed = std::fs::read(&entry).unwrap();
        let diffed = std::fs::read(work.join("diffed").join(rel)).unwrap();
        assert!(
            fixed == diffed,
            "--fix and --diff differ on {}",
            rel.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Patroni writes pg_hba.conf from `postgresql.pg_hba`: its items are checked, decide
/// connections when no pg_hba.conf is given, and are fixed inside their YAML lines.
#[test]
fn patroni_pg_hba_lists_are_checked_simulated_and_fixed() {
    let cache = tmp("patroni-hba-cache");
    let work = tmp("patroni-hba");
    let yaml = "scope: demo\nname: node1\npostgresql:\n  data_dir: /var/lib/postgresql/15/main\n  pg_hba:\n    - local all all peer\n    - host all all 10.0.0.0/8 md5   # apps\n";
    std::fs::write(work.join("patroni.yml"), yaml).unwrap();
    std::fs::write(
        work.join("samples.yaml"),
        "connections:\n  - {source: 10.1.2.3, ssl: false, user: app, database: app}\n",
    )
    .unwrap();

    let out = patrol(&cache)
        .current_dir(&work)
        .args([
            "simulate",
            "--samples",
            "samples.yaml",
            "patroni.yml",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let v = json(&out);
    // An `md5` line asks a role with a SCRAM password for SCRAM, as the server does; the
    // context does not say how `app`'s password is stored, so the answer says it depends
    // on that.
    let d = &v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["policy"] == "pg-hba")
        .cloned()
        .unwrap();
    assert_eq!(
        (d["file"].as_str(), d["line"].as_u64(), d["method"].as_str()),
        (Some("patroni.yml"), Some(7), Some("scram-sha-256")),
        "{d:#}"
    );
    assert!(d.to_string().contains("password_types"), "{d:#}");

    // Nothing says whether the server runs TLS or how passwords are stored: the findings
    // come without fixes, saying why.
    let out = patrol(&cache)
        .current_dir(&work)
        .args(["check", "patroni.yml", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    let found: Vec<(&str, u64, bool, &str)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["policy"] == "pg-hba")
        .map(|f| {
            (
                f["code"].as_str().unwrap(),
                f["line"].as_u64().unwrap(),
                f["patch"].is_null(),
                f["message"].as_str().unwrap(),
            )
        })
        .collect();
    for code in ["plain-tcp-allowed", "md5-auth"] {
        assert!(
            found.iter().any(|(c, l, none, m)| *c == code
                && *l == 7
                && *none
                && m.contains("no automatic fix")),
            "{found:#?}"
        );
    }

    // With `ssl` on and SCRAM password storage in Patroni's parameters, and every role
    // known to have a SCRAM secret, both fixes are offered.
    let yaml = yaml.replace(
        "  pg_hba:\n",
        "  parameters:\n    ssl: 'on'\n    password_encryption: scram-sha-256\n  pg_hba:\n",
    );
    std::fs::write(work.join("patroni.yml"), &yaml).unwrap();
    std::fs::write(
        work.join("context.yaml"),
        "context:\n  postgres_version: 15\n  roles: {app: []}\n  password_types: {app: scram-sha-256}\n",
    )
    .unwrap();
    let out = patrol(&cache)
        .current_dir(&work)
        .args(["check", "patroni.yml", "--samples", "context.yaml", "--fix"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("fixed patroni.yml"),
        "{}",
        stderr(&out)
    );
    let fixed = std::fs::read_to_string(work.join("patroni.yml")).unwrap();
    assert!(
        fixed.contains("\n    - hostssl all all 10.0.0.0/8 scram-sha-256   # apps\n"),
        "{fixed}"
    );
    assert!(fixed.starts_with("scope: demo\nname: node1\npostgresql:\n  data_dir: /var/lib/postgresql/15/main\n  parameters:\n    ssl: 'on'\n    password_encryption: scram-sha-256\n  pg_hba:\n    - local all all peer\n"), "{fixed}");
}

#[test]
fn limits_out_of_range_are_usage_errors() {
    let cache = tmp("limits-cache");
    let cases: &[(&str, &str)] = &[
        ("--memory-mib", "17592186044416"),
        ("--memory-mib", "0"),
        ("--memory-mib", "4097"),
        ("--output-mib", "0"),
        ("--output-mib", "99999999999"),
        ("--timeout-ms", "0"),
        ("--timeout-ms", "18446744073709551615"),
    ];
    for (flag, value) in cases {
        let out = patrol(&cache)
            .args(["check", "examples/hardened", flag, value])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{flag} {value}: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains(flag) && err.contains("not in"),
            "{flag} {value}: {err}"
        );
    }
}

/// The output says which PostgreSQL and Patroni versions the answers assume, and why.
#[test]
fn simulate_names_the_versions_it_assumes() {
    let dir = tmp("versions");
    let cache = tmp("versions-cache");
    std::fs::write(dir.join("pg_hba.conf"), "local all all peer\n").unwrap();
    let run = |samples: &str, format: &str| {
        std::fs::write(dir.join("samples.json"), samples).unwrap();
        patrol(&cache)
            .args(["simulate", "--format", format, "--samples"])
            .arg(dir.join("samples.json"))
            .arg(dir.join("pg_hba.conf"))
            .output()
            .unwrap()
    };
    let given = json(&run(
        r#"{"context": {"postgres_version": 13}, "connections": [{"source": "local", "user": "a", "database": "a"}]}"#,
        "json",
    ));
    assert_eq!(
        given["versions"],
        serde_json::json!([{"software": "postgresql", "version": "13", "source": "samples context `postgres_version`"}])
    );
    let out = run(
        r#"{"connections": [{"source": "local", "user": "a", "database": "a"}]}"#,
        "text",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("assumed PostgreSQL 18 (the newest behaviour: no `postgres_version` in the samples context, and no version in the files)"),
        "{text}"
    );
}

/// With no version in the samples context, the version the files show is the one the
/// answers assume: a Debian `bin_dir` of PostgreSQL 14 makes a continuation line valid
/// (13 refuses it) and the output names where the version was read.
#[test]
fn check_assumes_the_version_the_files_show() {
    let dir = tmp("versions-inferred");
    let cache = tmp("versions-inferred-cache");
    let patroni = |major: u32| {
        format!(
            "scope: demo\nname: pg1\nrestapi:\n  listen: 127.0.0.1:8008\n  connect_address: 127.0.0.1:8008\npostgresql:\n  listen: 127.0.0.1:5432\n  connect_address: 127.0.0.1:5432\n  data_dir: /var/lib/postgresql/{major}/main\n  bin_dir: /usr/lib/postgresql/{major}/bin\n"
        )
    };
    // A continuation line: valid from 14, refused by 13.
    std::fs::write(dir.join("pg_hba.conf"), "local all all \\\n  peer\n").unwrap();
    let run = |major: u32| {
        std::fs::write(dir.join("patroni.yml"), patroni(major)).unwrap();
        let out = patrol(&cache)
            .args(["check", "--format", "json"])
            .arg(&dir)
            .output()
            .unwrap();
        json(&out)
    };
    let on14 = run(14);
    let version = &on14["versions"][0];
    assert_eq!(version["version"], "14", "{on14}");
    assert!(
        version["source"]
            .as_str()
            .unwrap()
            .starts_with("inferred from bin_dir /usr/lib/postgresql/14/bin at "),
        "{on14}"
    );
    let invalid = |v: &serde_json::Value| {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["code"] == "invalid-line")
            .count()
    };
    assert_eq!(invalid(&on14), 0, "{on14}");
    let on13 = run(13);
    assert_eq!(on13["versions"][0]["version"], "13", "{on13}");
    assert!(invalid(&on13) > 0, "13 refuses a continuation line: {on13}");

    // postgresql.conf names per major: `vacuum_defer_cleanup_age` exists up to 15.
    std::fs::remove_file(dir.join("pg_hba.conf")).unwrap();
    std::fs::write(
        dir.join("postgresql.conf"),
        "vacuum_defer_cleanup_age = 0\n",
    )
    .unwrap();
    let codes = |v: &serde_json::Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                f["policy"] == "patrol" && f["file"].as_str().unwrap().ends_with("postgresql.conf")
            })
            .map(|f| format!("{}:{}", f["code"].as_str().unwrap(), f["line"]))
            .collect()
    };
    assert!(codes(&run(15)).is_empty(), "15 knows it");
    assert_eq!(codes(&run(16)), ["invalid-line:1"]);
    // No version anywhere: a note naming the majors that know it.
    std::fs::remove_file(dir.join("patroni.yml")).unwrap();
    let out = patrol(&cache)
        .args(["check", "--format", "json"])
        .arg(dir.join("postgresql.conf"))
        .output()
        .unwrap();
    let unknown = json(&out);
    let note: Vec<_> = unknown["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["code"] == "parameter-version")
        .collect();
    assert_eq!(note.len(), 1, "{unknown}");
    assert_eq!(note[0]["line"], 1);
    assert!(
        note[0]["message"]
            .as_str()
            .unwrap()
            .contains("15 and earlier"),
        "{unknown}"
    );
}

#[test]
fn a_pgbouncer_auth_file_is_read_typed_and_its_passwords_never_shown() {
    let cache = tmp("auth-file-cache");
    let dir = tmp("auth-file");
    std::fs::write(
        dir.join("pgbouncer.ini"),
        "[databases]\napp = dbname=app\n[pgbouncer]\nauth_type = scram-sha-256\nauth_file = /etc/pgbouncer/users.txt\n",
    )
    .unwrap();
    // Not named userlist.txt: found as the ini's `auth_file`. PgBouncer stops at the `#`
    // line, so `late` is never loaded.
    std::fs::write(
        dir.join("users.txt"),
        "\"app\" \"Secret-Pw-1\"\n# \"old\" \"Secret-Pw-2\"\n\"late\" \"Secret-Pw-3\"\n",
    )
    .unwrap();
    for format in ["json", "text", "sarif"] {
        let out = patrol(&cache)
            .args(["check", dir.to_str().unwrap(), "--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!all.contains("Secret-Pw"), "{format}: {all}");
        if format != "json" {
            continue;
        }
        let v = json(&out);
        let kinds: Vec<(String, String)> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let path = f["path"].as_str().unwrap();
                let name = path.rsplit('/').next().unwrap().to_string();
                (name, f["kind"].as_str().unwrap_or("-").to_string())
            })
            .collect();
        assert!(
            kinds.contains(&("users.txt".into(), "pgbouncer-auth-file".into())),
            "{kinds:?}"
        );
        let found: Vec<(String, String, u64, String)> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["file"].as_str().unwrap().ends_with("users.txt"))
            .map(|f| {
                (
                    f["policy"].as_str().unwrap().to_string(),
                    f["code"].as_str().unwrap().to_string(),
                    f["line"].as_u64().unwrap(),
                    f["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        // One finding: the policy's, which takes the host's diagnostic over.
        assert_eq!(
            found,
            [(
                "pgbouncer".to_string(),
                "auth-file-broken".to_string(),
                2,
                "high".to_string()
            )]
        );
    }
    // The hardened example's userlist.txt (SCRAM secrets only) is read and quiet.
    let out = patrol(&cache)
        .args(["check", "examples/hardened", "--format", "json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v:#}");
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "examples/hardened/userlist.txt"
                && f["kind"] == "pgbouncer-auth-file"),
        "{v:#}"
    );
    let on_it = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"] == "examples/hardened/userlist.txt")
        .count();
    assert_eq!(on_it, 0, "{v:#}");
}

/// `--jobs` changes how many policies run at once, never the output.
#[test]
fn jobs_1_and_jobs_2_give_byte_identical_output() {
    let cache = tmp("jobs-cache");
    for (path, format, samples) in [
        ("examples/insecure", "json", None),
        ("examples/insecure", "sarif", None),
        ("examples/hardened", "text", None),
        ("examples/insecure", "json", Some("examples/samples.yaml")),
    ] {
        let run = |jobs: &str| {
            let mut c = patrol(&cache);
            match samples {
                Some(s) => c.args(["simulate", "--samples", s]),
                None => c.arg("check"),
            };
            c.args([path, "--format", format, "--jobs", jobs])
                .output()
                .unwrap()
        };
        // A first run fills the compile cache (`policies[].cache` says `compiled` once).
        let _ = run("2");
        let (one, two) = (run("1"), run("2"));
        assert_eq!(one.status.code(), two.status.code(), "{path} {format}");
        assert!(
            !one.stdout.is_empty(),
            "{path} {format}: no output: {}",
            stderr(&one)
        );
        assert!(
            one.stdout == two.stdout,
            "{path} {format}: --jobs 1 and --jobs 2 differ"
        );
    }
    let bad = patrol(&cache)
        .args(["check", "examples/hardened", "--jobs", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3), "{}", stderr(&bad));
}

/// A built-in policy that reads nothing the inputs hold is not run once its metadata is
/// in the cache; the findings and exit code are those of the run that ran every policy.
#[test]
fn a_policy_that_reads_nothing_present_is_skipped_without_changing_the_output() {
    let cache = tmp("skip-cache");
    let run = |path: &str| {
        patrol(&cache)
            .args(["check", path, "--format", "json"])
            .output()
            .unwrap()
    };
    // Each file, and policies that must run on it (`postgresql-conf` reports what
    // Patroni sets, through the deployment model).
    for (path, runs) in [
        (
            "examples/insecure/patroni.yml",
            &["patroni-restapi", "pg-hba", "postgresql-conf"][..],
        ),
        ("examples/insecure/pg_hba.conf", &["pg-hba"][..]),
        (
            "examples/insecure/postgresql.conf",
            &["postgresql-conf"][..],
        ),
    ] {
        let _ = std::fs::remove_dir_all(&cache);
        let (cold, warm) = (run(path), run(path));
        assert_eq!(cold.status.code(), warm.status.code(), "{path}");
        let (mut cold, mut warm) = (json(&cold), json(&warm));
        let skipped = |v: &serde_json::Value| -> Vec<String> {
            v["policies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["skipped"].is_string())
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect()
        };
        // The cold run has no cached metadata: it runs every policy.
        assert!(skipped(&cold).is_empty(), "{path}: {:?}", skipped(&cold));
        let names = skipped(&warm);
        for name in ["consul", "gitlab-omnibus", "topology"] {
            assert!(
                names.iter().any(|n| n == name),
                "{path}: {name} ran: {names:?}"
            );
        }
        for name in runs {
            assert!(!names.iter().any(|n| n == name), "{path}: {name} skipped");
        }
        for v in [&mut cold, &mut warm] {
            for p in v["policies"].as_array_mut().unwrap() {
                // `compiled` on the cold run, `hit` on the warm one.
                let p = p.as_object_mut().unwrap();
                p.remove("skipped");
                p.remove("cache");
            }
        }
        assert_eq!(cold, warm, "{path}");
        assert!(!cold["findings"].as_array().unwrap().is_empty(), "{path}");
    }
}
