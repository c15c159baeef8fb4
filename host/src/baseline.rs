//! The baseline file (`--write-baseline FILE`, `--baseline FILE`): the findings a
//! repository already had when it adopted patrol, so that only new ones fail a build.
//!
//! A JSON file, diff-friendly: a `version`, then one entry per finding, sorted by file,
//! policy, code, pointer and fingerprint, with no line numbers (they move) and no
//! messages or source text (they may quote a secret): the fingerprint
//! ([`crate::fingerprint`]) is the identity.
//!
//! ```json
//! {
//!   "version": 1,
//!   "findings": [
//!     { "file": "deploy/pg_hba.conf", "policy": "pg-hba", "code": "trust-over-tcp",
//!       "fingerprint": "5c0d…" }
//!   ]
//! }
//! ```
//!
//! Matching counts: two identical findings need two entries. An entry no finding matches
//! any more is `absent` (the file can be tightened by writing it again).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprints;
use crate::run::Finding;

/// The format version this patrol reads and writes.
pub const VERSION: u32 = 1;

/// A baseline file's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub version: u32,
    pub findings: Vec<Entry>,
}

/// One finding of the baseline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Relative to the repository root when inside one.
    pub file: String,
    pub policy: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    pub fingerprint: String,
}

/// A finding the baseline holds, as `--format json` lists it under `baselined`.
#[derive(Debug, Clone, Serialize)]
pub struct Baselined {
    #[serde(flatten)]
    pub finding: Finding,
    pub fingerprint: String,
}

impl Baseline {
    /// The baseline of `findings`, sorted.
    pub fn of(findings: &[Finding], fingerprints: &Fingerprints<'_>) -> Baseline {
        let mut entries: Vec<Entry> = findings.iter().map(|f| entry(f, fingerprints)).collect();
        entries.sort();
        Baseline {
            version: VERSION,
            findings: entries,
        }
    }

    /// Reads and checks a baseline file; an error names the file and line.
    pub fn load(path: &Path) -> Result<Baseline> {
        let text = crate::confine::read_text(path)
            .map_err(|e| anyhow::anyhow!("cannot read baseline `{}`: {e}", path.display()))?;
        let baseline: Baseline = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}: not a patrol baseline: {e}",
                path.display(),
                e.line()
            )
        })?;
        if baseline.version != VERSION {
            bail!(
                "{}: baseline version {} is not supported; this patrol reads version {VERSION} (write it again with `--write-baseline`)",
                path.display(),
                baseline.version
            );
        }
        Ok(baseline)
    }

    /// Writes the baseline as pretty JSON, one key per line.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text)
            .with_context(|| format!("cannot write baseline `{}`", path.display()))
    }

    /// Splits `findings` into those the baseline does not hold (returned first), those it
    /// holds, and the entries no finding matched.
    pub fn split(
        &self,
        findings: Vec<Finding>,
        fingerprints: &Fingerprints<'_>,
    ) -> (Vec<Finding>, Vec<Baselined>, Vec<Entry>) {
        let mut left: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, e) in self.findings.iter().enumerate() {
            left.entry(e.fingerprint.as_str()).or_default().push(i);
        }
        let mut used = vec![false; self.findings.len()];
        let (mut new, mut baselined) = (Vec::new(), Vec::new());
        for f in findings {
            let fingerprint = fingerprints.of(&f);
            match left.get_mut(fingerprint.as_str()).and_then(Vec::pop) {
                Some(i) => {
                    used[i] = true;
                    baselined.push(Baselined {
                        finding: f,
                        fingerprint,
                    });
                }
                None => new.push(f),
            }
        }
        let absent = self
            .findings
            .iter()
            .zip(used)
            .filter(|(_, u)| !u)
            .map(|(e, _)| e.clone())
            .collect();
        (new, baselined, absent)
    }
}

fn entry(f: &Finding, fingerprints: &Fingerprints<'_>) -> Entry {
    Entry {
        file: fingerprints.file(&f.file),
        policy: f.policy.clone(),
        code: f.code.clone(),
        pointer: f.pointer.clone().filter(|p| !p.is_empty()),
        fingerprint: fingerprints.of(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::paths::Paths;
    use crate::run::Severity;

    fn finding(line: u32) -> Finding {
        Finding {
            policy: "pg-hba".into(),
            code: "md5-method".into(),
            severity: Severity::Medium,
            message: String::new(),
            file: "pg_hba.conf".into(),
            line,
            end_line: None,
            pointer: None,
            remediation: String::new(),
            patch: None,
            fix_withheld: None,
        }
    }

    #[test]
    fn splits_new_known_and_absent_and_reads_what_it_writes() {
        let paths = Paths::at(Path::new("/nonexistent/r"), Path::new("/nonexistent/r"));
        let old = "host all all 0.0.0.0/0 md5 # pw=Secret-1\nhost all x 0.0.0.0/0 md5\n";
        let fps = Fingerprints::new(&paths, [("pg_hba.conf", old)]);
        let baseline = Baseline::of(&[finding(1), finding(2)], &fps);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        baseline.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("Secret-1") && text.contains("\"version\": 1"),
            "{text}"
        );
        assert_eq!(Baseline::load(&path).unwrap(), baseline);

        let new = "host all all 0.0.0.0/0 md5 # pw=Secret-1\nhost all y 0.0.0.0/0 md5\n";
        let fps = Fingerprints::new(&paths, [("pg_hba.conf", new)]);
        let (left, known, absent) = baseline.split(vec![finding(1), finding(2)], &fps);
        assert_eq!(left.iter().map(|f| f.line).collect::<Vec<_>>(), [2]);
        assert_eq!(
            known.iter().map(|b| b.finding.line).collect::<Vec<_>>(),
            [1]
        );
        assert_eq!(absent.len(), 1);
    }

    #[test]
    fn a_bad_file_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        std::fs::write(
            &path,
            "{\n  \"version\": 1,\n  \"findings\": [ {\"file\": 1} ]\n}\n",
        )
        .unwrap();
        let e = Baseline::load(&path).unwrap_err().to_string();
        assert!(e.contains("b.json:3:"), "{e}");
        std::fs::write(&path, "{\"version\": 7, \"findings\": []}").unwrap();
        assert!(
            Baseline::load(&path)
                .unwrap_err()
                .to_string()
                .contains("version 7")
        );
    }
}
