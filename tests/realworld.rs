//! The real-world corpus (`tests/realworld/`, sources and licences in `SOURCES.tsv`):
//! `patrol check DIR --format json` on each folder, compared with the reviewed snapshot
//! `tests/realworld/expected.tsv` — every finding (file, line, severity, `policy/code`),
//! every policy error, and every file's kind or the reason it was skipped. Any change
//! fails until the snapshot is updated on purpose:
//!
//! ```text
//! PATROL_UPDATE_SNAPSHOT=1 cargo test --release -p patrol --test realworld
//! ```
//!
//! rewrites it, keeping the review comments (last column) of the rows that stay. Review
//! the `git diff` of the snapshot before committing it.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/realworld")
        .canonicalize()
        .unwrap()
}

const SNAPSHOT: &str = "expected.tsv";
const HEADER: &str = "# file\tline\tseverity\tpolicy/code (or kind: / skipped: / error:)\tcomment (why, where not obvious)";

/// One row of the snapshot, without its comment.
type Row = (String, u32, String, String);

/// The rows of one folder's run.
fn rows(folder: &str) -> Vec<Row> {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("realworld-cache");
    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .args(["check", folder, "--format", "json", "--no-config"])
        .current_dir(corpus())
        .env("NO_COLOR", "1")
        .env("PATROL_CACHE_DIR", cache)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0..=2)),
        "`patrol check {folder}` exited {:?}: {stderr}",
        out.status.code()
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{folder}: not JSON ({e}): {stderr}"));
    let mut rows = Vec::new();
    for f in v["files"].as_array().expect("a `files` list") {
        let path = f["path"].as_str().unwrap().to_string();
        let what = match (f["kind"].as_str(), f["skipped"].as_str()) {
            (Some(kind), _) => format!("kind: {kind}"),
            (None, Some(reason)) => format!("skipped: {reason}"),
            (None, None) => panic!("{path}: neither read nor skipped"),
        };
        rows.push((path, 0, "-".to_string(), what));
    }
    for f in v["findings"].as_array().unwrap() {
        rows.push((
            f["file"].as_str().unwrap().to_string(),
            f["line"].as_u64().unwrap() as u32,
            f["severity"].as_str().unwrap().to_string(),
            format!(
                "{}/{}",
                f["policy"].as_str().unwrap(),
                f["code"].as_str().unwrap()
            ),
        ));
    }
    for e in v["errors"].as_array().unwrap() {
        rows.push((
            folder.to_string(),
            0,
            "error".to_string(),
            format!("error: {} {}", e["policy"], e["kind"]),
        ));
    }
    rows
}

fn folders() -> Vec<String> {
    let mut folders: Vec<String> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    folders
}

fn parse_snapshot(text: &str) -> BTreeMap<Row, String> {
    let mut map = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 4,
            "{SNAPSHOT}:{}: fewer than 4 tab-separated columns: `{line}`",
            i + 1
        );
        let line_no = cols[1]
            .parse()
            .unwrap_or_else(|_| panic!("{SNAPSHOT}:{}: `{}` is not a line number", i + 1, cols[1]));
        let row = (
            cols[0].to_string(),
            line_no,
            cols[2].to_string(),
            cols[3].to_string(),
        );
        map.insert(row, cols.get(4).map_or(String::new(), |c| c.to_string()));
    }
    map
}

#[test]
fn corpus_matches_the_reviewed_snapshot() {
    let folders = folders();
    assert!(folders.len() >= 10, "{folders:?}");
    let mut actual: Vec<Row> = folders.iter().flat_map(|f| rows(f)).collect();
    actual.sort();
    actual.dedup();
    // Every file in the corpus is read or listed as skipped: nothing is skipped in silence.
    let listed: Vec<&str> = actual
        .iter()
        .filter(|r| r.1 == 0 && r.2 == "-")
        .map(|r| r.0.as_str())
        .collect();
    let sources = std::fs::read_to_string(corpus().join("SOURCES.tsv")).unwrap();
    let mut files = 0;
    for line in sources.lines().skip(1) {
        let file = line.split('\t').next().unwrap();
        files += 1;
        assert!(
            corpus().join(file).is_file(),
            "SOURCES.tsv names `{file}`, which is not in the corpus"
        );
        assert!(
            listed.contains(&file),
            "`{file}` is neither read nor listed as skipped"
        );
    }
    assert!(
        files >= 60,
        "the corpus holds {files} files; at least 60 wanted"
    );

    let path = corpus().join(SNAPSHOT);
    let old = parse_snapshot(&std::fs::read_to_string(&path).unwrap_or_default());
    if std::env::var_os("PATROL_UPDATE_SNAPSHOT").is_some_and(|v| !v.is_empty()) {
        let mut text = format!("{HEADER}\n");
        for row in &actual {
            let comment = old.get(row).map_or("", String::as_str);
            text.push_str(
                &format!("{}\t{}\t{}\t{}\t{}\n", row.0, row.1, row.2, row.3, comment)
                    .replace("\t\n", "\n"),
            );
        }
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected: Vec<&Row> = old.keys().collect();
    let added: Vec<String> = actual
        .iter()
        .filter(|r| !old.contains_key(*r))
        .map(|r| format!("+ {r:?}"))
        .collect();
    let removed: Vec<String> = expected
        .iter()
        .filter(|r| !actual.contains(r))
        .map(|r| format!("- {r:?}"))
        .collect();
    assert!(
        added.is_empty() && removed.is_empty(),
        "the findings on tests/realworld changed ({} new, {} gone); review them, then update the snapshot with \
         PATROL_UPDATE_SNAPSHOT=1 cargo test --release -p patrol --test realworld\n{}\n{}",
        added.len(),
        removed.len(),
        added.join("\n"),
        removed.join("\n")
    );
}
