//! `patrol test` at the root of a patrol checkout: every built-in policy's case files
//! (`policies/NAME/tests/*.yaml`) run against that built-in component, one policy after
//! the other, then a summary with one line per policy.
//!
//! A built-in policy directory without case files fails the run: every built-in policy is
//! tested as users test theirs, and a missing `tests/` must not pass unnoticed.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::Exit;
use super::test::{Args, Tested, stdout, test_policy};
use crate::report::DataFormat as Format;
use crate::run::PolicySource;
use crate::testing::render;

/// The built-in policies' directories under `root/policies`, by policy name, when there is
/// at least one; `None` when `root` is no patrol checkout.
pub(super) fn builtin_dirs(root: &Path) -> Option<Vec<(String, PathBuf)>> {
    let policies = root.join("policies");
    let dirs: Vec<(String, PathBuf)> = PolicySource::builtins()
        .iter()
        .filter_map(|s| match s {
            PolicySource::Builtin(name, _) => Some(name.to_string()),
            PolicySource::File(..) => None,
        })
        .map(|name| {
            let dir = policies.join(&name);
            (name, dir)
        })
        .filter(|(_, dir)| dir.is_dir())
        .collect();
    (!dirs.is_empty()).then_some(dirs)
}

/// One policy's line in the summary.
struct Summary {
    name: String,
    exit: Exit,
    /// "12 passed, 0 failed; 8 of 8 codes", or why nothing ran.
    detail: String,
    json: serde_json::Value,
}

pub(super) fn run(args: &Args, dirs: &[(String, PathBuf)], verbose: bool) -> Result<Exit> {
    let mut summaries = Vec::new();
    for (name, dir) in dirs {
        let shown = dir.strip_prefix(".").unwrap_or(dir).display().to_string();
        if args.format == Format::Text {
            stdout(&format!("== {name} ({shown})\n"))?;
        }
        // A policy directory without tests/ would be read as a directory of test files.
        if !dir.join("tests").is_dir() {
            let why = format!(
                "no test files: a built-in policy keeps its cases in `{shown}/tests/*.yaml`"
            );
            crate::say!("error: {why}");
            summaries.push(Summary {
                name: name.clone(),
                // A built-in policy without cases fails the run, like a failed case.
                exit: Exit::Findings,
                json: json!({ "policy": name, "error": why }),
                detail: why,
            });
            continue;
        }
        let tested = test_policy(dir, Some(name), args, verbose);
        summaries.push(match tested {
            Ok(Tested {
                exit,
                results: Some(r),
            }) => {
                if args.format == Format::Text {
                    stdout(&crate::report::escape::log(&render::text(
                        &r.files,
                        &r.coverage,
                    )))?;
                    stdout("\n")?;
                }
                let cases = r.files.iter().flat_map(|f| &f.cases);
                let failed = cases.clone().filter(|c| !c.failures.is_empty()).count();
                let passed = cases.count() - failed;
                let covered = r.coverage.codes.values().filter(|n| **n > 0).count();
                Summary {
                    name: name.clone(),
                    exit,
                    detail: format!(
                        "{passed} passed, {failed} failed; {covered} of {} codes expected",
                        r.coverage.codes.len()
                    ),
                    json: render::json(&r.files, &r.coverage),
                }
            }
            Ok(Tested {
                exit,
                results: None,
            }) => Summary {
                name: name.clone(),
                exit,
                detail: "did not run (see the errors above)".to_string(),
                json: json!({ "policy": name, "error": "did not run" }),
            },
            Err(e) => {
                crate::say!("error: {e:#}");
                Summary {
                    name: name.clone(),
                    // Case files that cannot be read or are for another policy.
                    exit: Exit::Usage,
                    detail: format!("{e:#}"),
                    json: json!({ "policy": name, "error": format!("{e:#}") }),
                }
            }
        });
    }
    let exit = summaries
        .iter()
        .map(|s| s.exit)
        .max_by_key(|e| *e as u8)
        .unwrap_or(Exit::Clean);
    match args.format {
        Format::Text => stdout(&crate::report::escape::log(&text(&summaries)))?,
        Format::Json => {
            let policies: Vec<_> = summaries
                .iter()
                .map(|s| {
                    let mut v = s.json.clone();
                    v["exit"] = json!(s.exit as u8);
                    v
                })
                .collect();
            stdout(&crate::report::escape::json_commands(
                serde_json::to_string_pretty(&json!({ "policies": policies }))? + "\n",
            ))?;
        }
    }
    Ok(exit)
}

fn text(summaries: &[Summary]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("built-in policies:\n");
    for s in summaries {
        let verdict = if s.exit == Exit::Clean {
            "ok"
        } else {
            "FAILED"
        };
        let _ = writeln!(out, "  {:<18} {verdict:<7} {}", s.name, s.detail);
    }
    let ok = summaries.iter().filter(|s| s.exit == Exit::Clean).count();
    let verdict = if ok == summaries.len() {
        "ok"
    } else {
        "FAILED"
    };
    let _ = writeln!(
        out,
        "\nsuite result: {verdict}. {ok} of {} built-in policies passed",
        summaries.len()
    );
    out
}
