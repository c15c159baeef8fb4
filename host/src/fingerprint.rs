//! A finding's identity across commits, for `--baseline` files and SARIF
//! `partialFingerprints`: the same finding keeps its fingerprint when unrelated lines move.
//!
//! The fingerprint (version `v1`) is the SHA-256, cut to 128 bits in hex, of:
//! - the policy and the code (`pg-hba/trust-over-tcp`);
//! - the file, relative to the repository root when it is inside one (so that
//!   `patrol check deploy/` and `cd deploy && patrol check .` agree), else as shown;
//! - what the finding points at, never its line number:
//!   - its pointer (`/restapi/listen`, `global/repo1-cipher-pass`) when it has one;
//!     a pointer into a list (`/postgresql/pg_hba/2`) has its indexes replaced by `-`
//!     and the source lines added, since an index moves when an item is inserted above;
//!   - otherwise the source lines `line..=end_line` with runs of whitespace collapsed to
//!     one space (a pg_hba record's columns, an INI `key = value`), plus an occurrence
//!     counter: how many earlier places in the same file hold the same lines (two
//!     identical `host all all 0.0.0.0/0 md5` records stay two findings);
//!   - nothing for a finding about the whole file (line 0).
//!
//! Editing the lines a finding points at (or, for a pointer, renaming the key) makes it a
//! new finding; inserting comments, blank lines or other settings above it does not.
//! Secrets: the content is hashed, never stored.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::report::paths::Paths;
use crate::run::Finding;

/// The key under which SARIF results carry the fingerprint (`partialFingerprints`).
pub const SARIF_KEY: &str = "patrolFindingHash/v1";

/// Computes fingerprints over the checked files' texts.
pub struct Fingerprints<'a> {
    paths: &'a Paths,
    /// Each file's lines, whitespace collapsed, by the name findings use.
    lines: HashMap<&'a str, Vec<String>>,
}

impl<'a> Fingerprints<'a> {
    /// `files`: (name as findings give it, text).
    pub fn new(paths: &'a Paths, files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let lines = files
            .into_iter()
            .map(|(name, text)| (name, text.lines().map(collapse).collect()))
            .collect();
        Fingerprints { paths, lines }
    }

    /// The file as the fingerprint names it: relative to the repository root if inside.
    pub fn file(&self, file: &str) -> String {
        self.paths
            .relative(file)
            .unwrap_or_else(|| file.to_string())
    }

    /// The fingerprint of `f`.
    pub fn of(&self, f: &Finding) -> String {
        let (content, occurrence) = self.content(f);
        let mut hash = Sha256::new();
        let (file, occurrence) = (self.file(&f.file), occurrence.to_string());
        for part in [
            f.policy.as_str(),
            f.code.as_str(),
            file.as_str(),
            content.as_str(),
            occurrence.as_str(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0u8]);
        }
        hash.finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// What `f` points at, normalised, and how many earlier places in its file hold the
    /// same lines (see the module docs).
    fn content(&self, f: &Finding) -> (String, usize) {
        let pointer = f.pointer.as_deref().filter(|p| !p.is_empty());
        let indexed = pointer.is_some_and(|p| {
            p.split('/')
                .any(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
        });
        if let Some(p) = pointer
            && !indexed
        {
            return (format!("pointer:{p}"), 0);
        }
        let prefix = pointer.map(|p| {
            let parts: Vec<&str> = p
                .split('/')
                .map(|s| {
                    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
                        "-"
                    } else {
                        s
                    }
                })
                .collect();
            format!("pointer:{}\n", parts.join("/"))
        });
        let prefix = prefix.unwrap_or_default();
        let Some(lines) = self.lines.get(f.file.as_str()).filter(|_| f.line > 0) else {
            return (prefix, 0);
        };
        let start = f.line as usize - 1;
        if start >= lines.len() {
            return (prefix, 0);
        }
        let len = f
            .end_line
            .filter(|&e| e > f.line)
            .map_or(1, |e| (e - f.line) as usize + 1)
            .min(lines.len() - start);
        let block = &lines[start..start + len];
        let occurrence = (0..start)
            .filter(|&k| k + len <= lines.len() && lines[k..k + len] == *block)
            .count();
        (format!("{prefix}lines:{}", block.join("\n")), occurrence)
    }
}

/// The line with leading and trailing whitespace dropped and inner runs made one space.
fn collapse(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Severity;

    fn finding(file: &str, line: u32, pointer: Option<&str>) -> Finding {
        Finding {
            policy: "pg-hba".into(),
            code: "md5-method".into(),
            severity: Severity::Medium,
            message: format!("at line {line}"),
            file: file.into(),
            line,
            end_line: None,
            pointer: pointer.map(str::to_string),
            remediation: String::new(),
            patch: None,
            fix_withheld: None,
        }
    }

    #[test]
    fn survives_moved_lines_and_whitespace_but_not_edits() {
        let paths = Paths::at(
            std::path::Path::new("/nonexistent/r"),
            std::path::Path::new("/nonexistent/r"),
        );
        let before = "local all all peer\nhost all all 0.0.0.0/0 md5\nhost all all 0.0.0.0/0 md5\n";
        let after = "# a comment\n\nlocal all all peer\nhost   all all 0.0.0.0/0   md5\nhost all all 0.0.0.0/0 md5\n";
        let edited =
            "local all all peer\nhost all all 0.0.0.0/0 md5\nhost all all 10.0.0.0/8 md5\n";
        let a = Fingerprints::new(&paths, [("pg_hba.conf", before)]);
        let b = Fingerprints::new(&paths, [("pg_hba.conf", after)]);
        let c = Fingerprints::new(&paths, [("pg_hba.conf", edited)]);
        let (first, second) = (
            a.of(&finding("pg_hba.conf", 2, None)),
            a.of(&finding("pg_hba.conf", 3, None)),
        );
        assert_ne!(
            first, second,
            "identical lines are told apart by their occurrence"
        );
        assert_eq!(b.of(&finding("pg_hba.conf", 4, None)), first);
        assert_eq!(b.of(&finding("pg_hba.conf", 5, None)), second);
        assert_eq!(c.of(&finding("pg_hba.conf", 2, None)), first);
        assert_ne!(c.of(&finding("pg_hba.conf", 3, None)), second);
        // Another file, another identity.
        let d = Fingerprints::new(&paths, [("other.conf", before)]);
        assert_ne!(d.of(&finding("other.conf", 2, None)), first);
        assert_eq!(first.len(), 32);
    }

    #[test]
    fn a_pointer_wins_over_the_line_unless_it_holds_an_index() {
        let paths = Paths::at(
            std::path::Path::new("/nonexistent/r"),
            std::path::Path::new("/nonexistent/r"),
        );
        let a = Fingerprints::new(
            &paths,
            [(
                "p.yml",
                "restapi:\n  listen: 0.0.0.0:8008\n  allowlist:\n    - 0.0.0.0/0\n",
            )],
        );
        let b = Fingerprints::new(
            &paths,
            [(
                "p.yml",
                "restapi:\n  # moved\n  listen: 0.0.0.0:8009\n  allowlist:\n    - 10.0.0.0/8\n    - 0.0.0.0/0\n",
            )],
        );
        assert_eq!(
            a.of(&finding("p.yml", 2, Some("/restapi/listen"))),
            b.of(&finding("p.yml", 3, Some("/restapi/listen")))
        );
        assert_eq!(
            a.of(&finding("p.yml", 4, Some("/restapi/allowlist/0"))),
            b.of(&finding("p.yml", 6, Some("/restapi/allowlist/1")))
        );
        assert_ne!(
            a.of(&finding("p.yml", 4, Some("/restapi/allowlist/0"))),
            b.of(&finding("p.yml", 5, Some("/restapi/allowlist/0")))
        );
    }
}
