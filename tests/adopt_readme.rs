//! The README's "Adopting patrol on an existing repository" section, run as written: its
//! commands are read from the README (so it cannot drift from what is tested) and run with
//! `sh` in a git repository made from `examples/insecure`, with a bare `origin`.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{MISTAKE, copy_tree, git, root};

/// The section's fenced code blocks: (info string, lines).
fn blocks() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("## Adopting patrol on an existing repository")
        .expect("the README has the section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in section.lines() {
        if let Some(info) = line.strip_prefix("```") {
            match current.take() {
                Some(block) => out.push(block),
                None => current = Some((info.to_string(), Vec::new())),
            }
        } else if let Some((_, lines)) = &mut current {
            lines.push(line.to_string());
        }
    }
    out
}

/// The block whose first line is `first`.
fn block(first: &str) -> Vec<String> {
    blocks()
        .into_iter()
        .find(|(_, l)| l.first().is_some_and(|l| l == first))
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("no block `{first}`"))
}

/// The `script:` lines of a GitLab job.
fn gitlab_script(lines: &[String], job: &str) -> Vec<String> {
    let at = lines
        .iter()
        .position(|l| l == &format!("{job}:"))
        .unwrap_or_else(|| panic!("no job `{job}`"));
    let mut out = Vec::new();
    let mut in_script = false;
    for line in &lines[at + 1..] {
        if !line.starts_with(' ') && !line.is_empty() {
            break;
        }
        if line.trim() == "script:" {
            in_script = true;
        } else if in_script {
            match line.trim().strip_prefix("- ") {
                Some(cmd) if line.starts_with("    ") => out.push(cmd.to_string()),
                _ => in_script = false,
            }
        }
    }
    out
}

/// Runs `command` with `sh` in `dir`; its exit code.
fn sh(dir: &Path, command: &str, env: &[(&str, &str)]) -> i32 {
    assert!(
        !command.contains("${{"),
        "a GitHub expression is left in `{command}`"
    );
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_patrol"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env(
            "PATROL_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("adopt-cache"),
        )
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    eprintln!("$ {command}\n{}", String::from_utf8_lossy(&out.stderr));
    out.status.code().unwrap_or(-1)
}

/// The results of a SARIF log by `baselineState`.
fn states(sarif: &Path) -> (Vec<Value>, usize, usize) {
    let log: Value = serde_json::from_str(&std::fs::read_to_string(sarif).unwrap()).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap().clone();
    let new: Vec<Value> = results
        .iter()
        .filter(|r| r["baselineState"] == "new")
        .cloned()
        .collect();
    let unchanged = results
        .iter()
        .filter(|r| r["baselineState"] == "unchanged")
        .count();
    let absent = results
        .iter()
        .filter(|r| r["baselineState"] == "absent")
        .count();
    (new, unchanged, absent)
}

#[test]
fn readme_ci_examples_run_as_shown() {
    let top = Path::new(env!("CARGO_TARGET_TMPDIR")).join("adopt-readme");
    let _ = std::fs::remove_dir_all(&top);
    std::fs::create_dir_all(&top).unwrap();
    git(&top, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    let repo = top.join("repo");
    copy_tree(&root().join("examples/insecure"), &repo.join("deploy"));
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &["commit", "-q", "-m", "deploy"],
        &["remote", "add", "origin", "../origin.git"],
    ] {
        git(&repo, args);
    }

    // Record the baseline and commit it, as the README says.
    let record = block("patrol check --write-baseline .patrol-baseline.json deploy/");
    for command in record.iter().filter(|l| !l.trim().is_empty()) {
        assert_eq!(sh(&repo, command, &[]), 0, "{command}");
    }
    git(&repo, &["push", "-q", "origin", "main"]);
    assert!(git(&repo, &["ls-files"]).contains(".patrol-baseline.json"));

    // A pull request that adds one mistake.
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    let hba = repo.join("deploy/pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("{MISTAKE}{text}")).unwrap();
    git(&repo, &["commit", "-q", "-am", "a new superuser network"]);

    let github = block("# .github/workflows/patrol.yml");
    let runs: Vec<&str> = github
        .iter()
        .filter_map(|l| l.trim().strip_prefix("run: "))
        .collect();
    let patrol_runs: Vec<&str> = runs
        .iter()
        .copied()
        .filter(|r| r.starts_with("patrol "))
        .collect();
    assert_eq!(patrol_runs.len(), 2, "{runs:?}");
    assert!(
        runs.iter()
            .all(|r| r.starts_with("patrol ") || r.starts_with("cargo install")),
        "{runs:?}"
    );
    assert!(
        github
            .iter()
            .any(|l| l.contains("uses: github/codeql-action/upload-sarif@"))
    );
    let (pull_request, push) = (patrol_runs[0], patrol_runs[1]);
    assert!(
        pull_request.contains("--changed-since \"origin/${{ github.base_ref }}\""),
        "{pull_request}"
    );

    let pull_request = pull_request.replace("${{ github.base_ref }}", "main");
    assert_eq!(sh(&repo, &pull_request, &[]), 1, "{pull_request}");
    let (new, unchanged, absent) = states(&repo.join("patrol.sarif"));
    assert_eq!(new.len(), 1, "only the new finding: {new:#?}");
    assert_eq!(
        new[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "deploy/pg_hba.conf"
    );
    assert_eq!(
        new[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        1
    );
    assert!(unchanged > 20 && absent == 0, "{unchanged} {absent}");

    // The push to the feature branch fails on the new finding; main is clean.
    assert_eq!(sh(&repo, push, &[]), 1, "{push}");
    git(&repo, &["checkout", "-q", "main"]);
    assert_eq!(sh(&repo, push, &[]), 0, "{push}");
    let (new, _, _) = states(&repo.join("patrol.sarif"));
    assert!(new.is_empty(), "{new:#?}");
    git(&repo, &["checkout", "-q", "feature"]);

    // GitLab: the merge request job fails with a JUnit report naming the finding.
    let gitlab = block("# .gitlab-ci.yml");
    let mr = gitlab_script(&gitlab, "patrol-merge-request");
    assert_eq!(mr.len(), 2, "{mr:?}");
    let env = [("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")];
    assert_eq!(sh(&repo, &mr[0], &env), 0, "{}", mr[0]);
    assert_eq!(sh(&repo, &mr[1], &env), 1, "{}", mr[1]);
    let junit = std::fs::read_to_string(repo.join("patrol-junit.xml")).unwrap();
    assert!(junit.contains("deploy/pg_hba.conf"), "{junit}");
    let default_branch = gitlab_script(&gitlab, "patrol-default-branch");
    assert_eq!(default_branch.len(), 1, "{default_branch:?}");
    assert_eq!(
        sh(&repo, &default_branch[0], &[]),
        1,
        "on the feature branch"
    );
    git(&repo, &["checkout", "-q", "main"]);
    assert_eq!(sh(&repo, &default_branch[0], &[]), 0, "on main");
}
