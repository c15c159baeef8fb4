//! Adopting patrol on a repository that already has findings, on copies of
//! `examples/insecure`: a baseline that fails only new findings and survives moved lines,
//! baselined findings that are gone, inline suppressions in every format with comments,
//! changed-only runs, and the README's CI examples run exactly as it shows them.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// patrol, run in `cwd`, with one compile cache for every test here.
fn patrol(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    c.env("NO_COLOR", "1")
        .env(
            "PATROL_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("adopt-cache"),
        )
        .current_dir(cwd);
    c
}

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

/// A fresh directory `NAME` holding a copy of examples/insecure as `deploy/`.
fn fresh(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("adopt-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    copy_tree(&root().join("examples/insecure"), &d.join("deploy"));
    // A repository of its own, as users have: baseline entries name files from the
    // repository's root (the target directory is inside patrol's own checkout).
    let status = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&d)
        .status()
        .unwrap();
    assert!(status.success());
    d
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `patrol check --format json ARGS deploy` in `dir`: the exit code and the report.
fn check(dir: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = patrol(dir)
        .args(["check", "--format", "json"])
        .args(args)
        .arg("deploy")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    (out.status.code().unwrap_or(-1), v, stderr(&out))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no list `{key}` in {v:#}"))
}

/// (policy/code, file, line) of each finding of a list.
fn ids(items: &[Value]) -> Vec<(String, String, u64)> {
    items
        .iter()
        .map(|f| {
            (
                format!(
                    "{}/{}",
                    f["policy"].as_str().unwrap(),
                    f["code"].as_str().unwrap()
                ),
                f["file"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn edit(path: &Path, f: impl FnOnce(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(&text)).unwrap();
}

/// The one new mistake the baseline tests add: a superuser allowed in with a cleartext
/// password from a new network, at the top of pg_hba.conf (where nothing shadows it).
const MISTAKE: &str = "local   app             app                                     password\n";

fn add_mistake(dir: &Path) {
    edit(&dir.join("deploy/pg_hba.conf"), |t| format!("{MISTAKE}{t}"));
}

/// Writes the baseline `base.json` of `dir` and checks the run that wrote it is clean.
fn write_baseline(dir: &Path) -> usize {
    let (code, v, err) = check(dir, &["--write-baseline", "base.json"]);
    assert_eq!(code, 0, "{err}\n{v:#}");
    assert!(list(&v, "findings").is_empty(), "{v:#}");
    let n = list(&v, "baselined").len();
    assert!(n > 20, "the insecure example has many findings: {n}");
    assert!(
        err.contains(&format!("wrote {n} findings to the baseline")),
        "{err}"
    );
    n
}

#[test]
fn a_baseline_fails_only_the_new_finding() {
    let d = fresh("baseline-new");
    let n = write_baseline(&d);
    let text = std::fs::read_to_string(d.join("base.json")).unwrap();
    let baseline: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(baseline["version"], 1);
    // No source text in the baseline: it may hold secrets.
    for file in ["patroni.yml", "pg_hba.conf", "pgbackrest.conf"] {
        for line in std::fs::read_to_string(d.join("deploy").join(file))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| l.len() > 12)
        {
            assert!(!text.contains(line), "the baseline holds `{line}`");
        }
    }
    // Unchanged: clean.
    let (code, v, err) = check(&d, &["--baseline", "base.json"]);
    assert_eq!(
        (
            code,
            list(&v, "findings").len(),
            list(&v, "baselined").len()
        ),
        (0, 0, n),
        "{err}"
    );

    add_mistake(&d);
    let (code, v, err) = check(&d, &["--baseline", "base.json"]);
    assert_eq!(code, 1, "{err}");
    let found = ids(list(&v, "findings"));
    assert_eq!(found.len(), 1, "only the new finding: {found:#?}");
    assert_eq!(
        (found[0].1.as_str(), found[0].2),
        ("deploy/pg_hba.conf", 1),
        "{found:?}"
    );
    assert_eq!(list(&v, "baselined").len(), n);
    assert!(list(&v, "absent").is_empty(), "{v:#}");
    assert_eq!(v["summary"]["baselined"], n);
}

/// Comments and blank lines above every finding: at the top of each file (after a
/// `#!` line) and in the middle of pg_hba.conf.
fn move_lines(dir: &Path) {
    for path in walk(&dir.join("deploy")) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".json")
            || name.ends_with(".crt")
            || name.ends_with(".key")
            || name.ends_with(".pem")
        {
            continue;
        }
        edit(&path, |t| match t.strip_prefix("#!") {
            Some(_) => {
                let (first, rest) = t.split_once('\n').unwrap();
                format!("{first}\n# moved\n\n{rest}")
            }
            None => format!("# moved down\n\n# by two comments\n{t}"),
        });
    }
    edit(&dir.join("deploy/pg_hba.conf"), |t| {
        let mut lines: Vec<&str> = t.lines().collect();
        let middle = lines.iter().position(|l| l.starts_with("host")).unwrap();
        lines.splice(middle..middle, ["", "# a comment in the middle", "   "]);
        lines.join("\n") + "\n"
    });
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path))
        } else {
            out.push(path)
        }
    }
    out
}

#[test]
fn moved_lines_keep_their_baseline_identity() {
    let d = fresh("baseline-moved");
    let n = write_baseline(&d);
    move_lines(&d);
    let (code, v, err) = check(&d, &["--baseline", "base.json"]);
    assert_eq!(code, 0, "{err}\n{:#?}", ids(list(&v, "findings")));
    assert_eq!(
        (list(&v, "baselined").len(), list(&v, "absent").len()),
        (n, 0)
    );
    add_mistake(&d);
    let (code, v, err) = check(&d, &["--baseline", "base.json"]);
    assert_eq!(code, 1, "{err}");
    let found = ids(list(&v, "findings"));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].1, "deploy/pg_hba.conf");
    assert_eq!(list(&v, "baselined").len(), n);
}

#[test]
fn a_removed_mistake_is_reported_as_gone() {
    let d = fresh("baseline-gone");
    let n = write_baseline(&d);
    // The `local all all trust` record goes.
    edit(&d.join("deploy/pg_hba.conf"), |t| {
        t.lines()
            .filter(|l| !l.ends_with("trust") || !l.starts_with("local"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    let (code, v, err) = check(&d, &["--baseline", "base.json"]);
    assert_eq!(code, 0, "{err}\n{:#?}", ids(list(&v, "findings")));
    let absent = list(&v, "absent");
    assert!(!absent.is_empty(), "{v:#}");
    assert!(
        absent.iter().all(|e| e["file"] == "deploy/pg_hba.conf"
            && e["fingerprint"].as_str().is_some_and(|f| f.len() == 32)),
        "{absent:#?}"
    );
    assert_eq!(list(&v, "baselined").len() + absent.len(), n);
    assert_eq!(v["summary"]["absent"], absent.len());
    assert!(err.contains("no longer reported"), "{err}");
    // SARIF: the gone ones are `absent`, the others `unchanged`, each with its fingerprint.
    let out = patrol(&d)
        .args([
            "check",
            "--format",
            "sarif",
            "--baseline",
            "base.json",
            "deploy",
        ])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let state = |s: &str| results.iter().filter(|r| r["baselineState"] == s).count();
    assert_eq!(
        (state("absent"), state("unchanged"), state("new")),
        (absent.len(), n - absent.len(), 0)
    );
    assert!(
        results
            .iter()
            .all(|r| r["partialFingerprints"]["patrolFindingHash/v1"].is_string())
    );
}

/// The first finding of a policy (not the host's) in `file`, on a line.
fn a_finding_in(v: &Value, file: &str) -> (String, u64) {
    let f = list(v, "findings")
        .iter()
        // Line 1 often holds findings about keys the file lacks, which stay at line 1
        // whatever is inserted above them: the test moves a finding of a line of its own.
        .find(|f| {
            f["file"] == file && f["line"].as_u64().unwrap_or(0) > 1 && f["policy"] != "patrol"
        })
        .unwrap_or_else(|| panic!("no finding in `{file}`"));
    (
        format!(
            "{}/{}",
            f["policy"].as_str().unwrap(),
            f["code"].as_str().unwrap()
        ),
        f["line"].as_u64().unwrap(),
    )
}

/// Inline suppressions in `file` (under examples/insecure), with the comment `marker`:
/// above the finding and (`trailing`) on its line; no reason, an expired date and
/// `--no-suppressions` bring it back.
fn suppresses_in(file: &str, marker: &str, trailing: bool) {
    let d = fresh(&format!("suppress-{}", file.replace('/', "-")));
    let shown = format!("deploy/{file}");
    let path = d.join(&shown);
    let original = std::fs::read_to_string(&path).unwrap();
    let (_, v, _) = check(&d, &[]);
    let (code, line) = a_finding_in(&v, &shown);
    let at = |line: u64, comment: &str| {
        let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
        match comment.strip_prefix("TRAIL ") {
            Some(rest) => lines[line as usize - 1].push_str(&format!("  {marker} {rest}")),
            None => lines.insert(line as usize - 1, format!("{marker} {comment}")),
        }
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    };
    let has = |items: &[Value], code: &str, line: u64| {
        ids(items)
            .iter()
            .any(|(c, f, l)| c == code && f == &shown && *l == line)
    };

    // Above the finding.
    at(
        line,
        &format!("patrol:ignore {code} reason=\"accepted in a test\" until=2999-12-31"),
    );
    let (_, v, err) = check(&d, &[]);
    assert!(
        has(list(&v, "suppressed"), &code, line + 1),
        "{file}: {err}\n{:#?}",
        list(&v, "suppressed")
    );
    assert!(!has(list(&v, "findings"), &code, line + 1), "{file}");
    let own: Vec<_> = ids(list(&v, "findings"))
        .into_iter()
        .filter(|(c, _, _)| c.ends_with("-suppression"))
        .collect();
    assert!(own.is_empty(), "{file}: {own:?}");
    let s = list(&v, "suppressed")
        .iter()
        .find(|s| s["line"] == line + 1)
        .unwrap();
    assert_eq!(s["suppression"]["reason"], "accepted in a test");
    assert_eq!(s["suppression"]["at"], format!("{shown}:{line}"));
    assert_eq!(v["summary"]["suppressed"], list(&v, "suppressed").len());

    // `--no-suppressions` shows it.
    let (_, v, _) = check(&d, &["--no-suppressions"]);
    assert!(
        has(list(&v, "findings"), &code, line + 1) && list(&v, "suppressed").is_empty(),
        "{file}"
    );

    // Without a reason: invalid, and the finding counts.
    at(line, &format!("patrol:ignore {code}"));
    let (exit, v, _) = check(&d, &[]);
    assert_eq!(exit, 1);
    assert!(
        has(list(&v, "findings"), "patrol/invalid-suppression", line),
        "{file}: {:#?}",
        ids(list(&v, "findings"))
    );
    assert!(has(list(&v, "findings"), &code, line + 1), "{file}");

    // Expired: reported, and the finding counts again.
    at(
        line,
        &format!("patrol:ignore {code} reason=\"was fine\" until=2001-02-03"),
    );
    let (_, v, _) = check(&d, &[]);
    assert!(
        has(list(&v, "findings"), "patrol/expired-suppression", line),
        "{file}"
    );
    assert!(has(list(&v, "findings"), &code, line + 1), "{file}");

    // A suppression of another code covers nothing: unused.
    at(
        line,
        "patrol:ignore pg-hba/no-such-finding reason=\"stale\"",
    );
    let (_, v, _) = check(&d, &[]);
    assert!(
        has(list(&v, "findings"), "patrol/unused-suppression", line),
        "{file}: {:#?}",
        ids(list(&v, "findings"))
    );

    // On the finding's own line, where the format has trailing comments.
    if trailing {
        at(
            line,
            &format!("TRAIL patrol:ignore {code} reason=\"trailing\""),
        );
        let (_, v, err) = check(&d, &[]);
        assert!(
            has(list(&v, "suppressed"), &code, line),
            "{file}: {err}\n{:#?}",
            ids(list(&v, "findings"))
        );
        assert!(!has(list(&v, "findings"), &code, line), "{file}");
    }
}

#[test]
fn suppression_in_patroni_yaml() {
    suppresses_in("patroni.yml", "#", true);
}

#[test]
fn suppression_in_etcd_yaml() {
    suppresses_in("etcd.conf.yml", "#", true);
}

#[test]
fn suppression_in_pg_hba() {
    suppresses_in("pg_hba.conf", "#", true);
}

#[test]
fn suppression_in_pg_ident() {
    suppresses_in("pg_auto_failover/node1/pg_ident.conf", "#", true);
}

#[test]
fn suppression_in_postgresql_conf() {
    suppresses_in("postgresql.conf", "#", true);
}

#[test]
fn suppression_in_ini_pgbackrest() {
    suppresses_in("pgbackrest.conf", "#", false);
}

#[test]
fn suppression_in_ini_pgbouncer() {
    suppresses_in("pgbouncer.ini", ";", false);
}

#[test]
fn suppression_in_haproxy() {
    suppresses_in("haproxy.cfg", "#", true);
}

#[test]
fn suppression_in_hcl() {
    suppresses_in("consul.hcl", "//", true);
}

#[test]
fn suppression_in_gitlab_rb() {
    suppresses_in("gitlab/gitlab.rb", "#", true);
}

#[test]
fn suppression_in_systemd_unit() {
    suppresses_in("patroni.service", "#", false);
}

#[test]
fn suppression_in_nftables() {
    suppresses_in("firewall/pg-node1.nft", "#", true);
}

/// A git repository in `dir` with everything committed on `main`.
fn git_repo(dir: &Path) {
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &["commit", "-q", "-m", "start"],
    ] {
        git(dir, args);
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn changed_since_reports_only_changed_lines_and_new_files() {
    let d = fresh("changed");
    git_repo(&d);
    let (code, v, err) = check(&d, &["--changed-since", "HEAD"]);
    assert_eq!(code, 0, "{err}");
    let all = v["summary"]["left_out"].as_u64().unwrap();
    assert!(all > 20 && list(&v, "findings").is_empty(), "{v:#}");
    assert!(err.contains(&format!("{all} findings left out")), "{err}");

    add_mistake(&d);
    // A new, untracked file: all of its findings count.
    std::fs::copy(
        d.join("deploy/pg_hba.conf"),
        d.join("deploy/pg_hba.new.conf"),
    )
    .unwrap();
    let (code, v, err) = check(&d, &["--changed-since", "HEAD"]);
    assert_eq!(code, 1, "{err}");
    let found = ids(list(&v, "findings"));
    assert!(
        found
            .iter()
            .any(|(_, f, l)| f == "deploy/pg_hba.conf" && *l == 1),
        "{found:#?}"
    );
    assert!(
        found.iter().all(
            |(_, f, l)| f == "deploy/pg_hba.new.conf" || (f == "deploy/pg_hba.conf" && *l == 1)
        ),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .filter(|(_, f, _)| f == "deploy/pg_hba.new.conf")
            .count()
            > 3,
        "{found:#?}"
    );
}

#[test]
fn changed_since_needs_git_and_a_known_revision() {
    let d = fresh("changed-errors");
    git_repo(&d);
    let out = patrol(&d)
        .args(["check", "--changed-since", "no-such-branch", "deploy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("unknown git revision `no-such-branch`"),
        "{}",
        stderr(&out)
    );
    let outside = tempfile::tempdir().unwrap();
    copy_tree(
        &root().join("examples/insecure"),
        &outside.path().join("deploy"),
    );
    let out = patrol(outside.path())
        .args(["check", "--changed-since", "main", "deploy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("needs a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn baseline_errors_exit_3_with_the_line() {
    let d = fresh("baseline-errors");
    std::fs::write(
        d.join("base.json"),
        "{\n  \"version\": 1,\n  \"findings\": 3\n}\n",
    )
    .unwrap();
    let out = patrol(&d)
        .args(["check", "--baseline", "base.json", "deploy"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("base.json:3:"), "{}", stderr(&out));
}

#[path = "adopt_readme.rs"]
mod readme;
