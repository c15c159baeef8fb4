//! `--changed-since REF`: which lines of the checked files changed since a git revision,
//! so that a merge request is judged by what it touches.
//!
//! The whole deployment is still evaluated (a pg_hba line is judged with postgresql.conf
//! and patroni.yml); only the report is narrowed to the findings whose lines, or whose
//! fix's lines, changed. A file that did not exist at REF (new, untracked) is changed
//! everywhere; a file git cannot tell about (outside the repository) too: unknown is not
//! unchanged.
//!
//! Lines come from `git diff --unified=0 REF -- FILES`, run in the repository that holds
//! the checked paths: REF against the working tree, staged or not.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

/// A repository and the revision to compare with, checked when the run starts.
#[derive(Debug, Clone)]
pub struct Since {
    /// The revision as the user wrote it.
    pub reference: String,
    /// The repository's top directory (canonical).
    top: PathBuf,
}

/// What changed in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Every line (a new file, or one git cannot tell about).
    All,
    /// These inclusive line ranges of the current text.
    Lines(Vec<(u32, u32)>),
}

impl Change {
    /// Whether any line of `first..=last` changed.
    pub fn touches(&self, first: u32, last: u32) -> bool {
        match self {
            Change::All => true,
            Change::Lines(ranges) => ranges.iter().any(|&(a, b)| a <= last && first <= b),
        }
    }

    /// Whether anything in the file changed.
    pub fn any(&self) -> bool {
        !matches!(self, Change::Lines(r) if r.is_empty())
    }
}

impl Since {
    /// Checks that `near` (a checked path) is in a git repository and that `reference`
    /// names a commit in it.
    pub fn open(reference: &str, near: &Path) -> Result<Since> {
        if reference.is_empty() || reference.starts_with('-') {
            bail!("`{reference}` is not a git revision");
        }
        let dir = if near.is_dir() {
            near.to_path_buf()
        } else {
            near.parent().unwrap_or(Path::new(".")).to_path_buf()
        };
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let top = git(&dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
            anyhow::anyhow!(
                "`--changed-since` needs a git repository, and `{}` is not in one ({e})",
                dir.display()
            )
        })?;
        let top = PathBuf::from(top.trim());
        let top = top.canonicalize().unwrap_or(top);
        git(&top, &["rev-parse", "--verify", "--quiet", "--end-of-options", format!("{reference}^{{commit}}").as_str()])
            .map_err(|_| anyhow::anyhow!("unknown git revision `{reference}` in `{}` (fetch it first, e.g. `git fetch origin main`)", top.display()))?;
        Ok(Since {
            reference: reference.to_string(),
            top,
        })
    }

    /// What changed in each of `files` (names relative to the working directory, or
    /// absolute).
    pub fn changes(&self, files: &[&str]) -> Result<HashMap<String, Change>> {
        let cwd = std::env::current_dir()?;
        let mut out = HashMap::new();
        let mut inside: Vec<(String, String)> = Vec::new(); // (name, path from the top)
        for &name in files {
            let abs = cwd.join(name);
            let abs = abs.canonicalize().unwrap_or(abs);
            match abs.strip_prefix(&self.top) {
                Ok(rel) => {
                    inside.push((name.to_string(), rel.to_string_lossy().replace('\\', "/")))
                }
                Err(_) => {
                    out.insert(name.to_string(), Change::All);
                }
            }
        }
        if inside.is_empty() {
            return Ok(out);
        }
        let paths: Vec<&str> = inside.iter().map(|(_, rel)| rel.as_str()).collect();
        let mut args: Vec<&str> = vec![
            "ls-tree",
            "-r",
            "--name-only",
            "-z",
            self.reference.as_str(),
            "--",
        ];
        args.extend(&paths);
        let listed = git(&self.top, &args)?;
        let at_ref: HashSet<&str> = listed.split('\0').filter(|s| !s.is_empty()).collect();
        let mut args: Vec<&str> = vec![
            "-c",
            "core.quotePath=false",
            "diff",
            "--unified=0",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--no-relative",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            self.reference.as_str(),
            "--",
        ];
        args.extend(&paths);
        let diff = git(&self.top, &args)?;
        let hunks = parse_diff(&diff);
        for (name, rel) in inside {
            let change = if !at_ref.contains(rel.as_str()) {
                Change::All
            } else {
                Change::Lines(hunks.get(&rel).cloned().unwrap_or_default())
            };
            out.insert(name, change);
        }
        Ok(out)
    }
}

/// The changed line ranges of the new side of a `--unified=0` diff, by file. A pure
/// deletion marks the lines on both sides of the gap.
pub fn parse_diff(diff: &str) -> HashMap<String, Vec<(u32, u32)>> {
    let mut out: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
    let mut file: Option<String> = None;
    for line in diff.lines() {
        if let Some(name) = line.strip_prefix("+++ ") {
            file = unquote(name).strip_prefix("b/").map(str::to_string);
            continue;
        }
        let (Some(f), Some(hunk)) = (&file, line.strip_prefix("@@ ")) else {
            continue;
        };
        let Some(new) = hunk.split_whitespace().find_map(|w| w.strip_prefix('+')) else {
            continue;
        };
        let (start, count) = match new.split_once(',') {
            Some((s, c)) => (s.parse::<u32>().unwrap_or(0), c.parse::<u32>().unwrap_or(1)),
            None => (new.parse::<u32>().unwrap_or(0), 1),
        };
        let range = if count == 0 {
            (start.max(1), start + 1)
        } else {
            (start, start + count - 1)
        };
        out.entry(f.clone()).or_default().push(range);
    }
    out
}

/// A path git quoted (`"b/with \"quote\""`), unquoted for the common escapes.
fn unquote(name: &str) -> String {
    let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) else {
        return name.to_string();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// Runs git in `dir`; its stdout, or its stderr's first line as the error.
fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run `git`: {}", crate::discover::io_reason(&e)))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("{}", err.lines().next().unwrap_or("git failed").trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_new_side_ranges_and_deletions() {
        let diff = "diff --git a/x.conf b/x.conf\n--- a/x.conf\n+++ b/x.conf\n@@ -3 +3 @@\n-a\n+b\n@@ -10,2 +9,0 @@\n-c\n-d\n@@ -20,0 +19,3 @@\n+e\n+f\n+g\ndiff --git a/n.yml b/n.yml\nnew file mode 100644\n--- /dev/null\n+++ \"b/sp ace.yml\"\n@@ -0,0 +1 @@\n+x\n";
        let hunks = parse_diff(diff);
        assert_eq!(hunks["x.conf"], vec![(3, 3), (9, 10), (19, 21)]);
        assert_eq!(hunks["sp ace.yml"], vec![(1, 1)]);
        let c = Change::Lines(hunks["x.conf"].clone());
        assert!(c.touches(10, 12) && c.touches(1, 3) && !c.touches(4, 8) && !c.touches(22, 30));
        assert!(!Change::Lines(Vec::new()).any() && Change::All.any());
    }
}
