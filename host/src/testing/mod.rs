//! Policy tests as data: the YAML case files `patrol test` runs, for org policies and the
//! built-in ones alike.
//!
//! A file (`tests/*.yaml` in a policy crate) holds `cases`; each case gives the policy's
//! settings, input files (inline text, or `{from: path}` relative to the test file),
//! samples (the samples-file shape, inline or `{from: path}`) and what to expect: findings
//! (code, file, line, severity, message), decisions (verdict, status, stage, deciding
//! line, reason), the files' text after the patches, the fixes the proof holds back, or
//! the policy's error. Top-level
//! `settings`, `files` and `samples` are defaults for every case. [`parse`] reads a file
//! reporting every problem with its line; [`runner`] runs the cases through the real
//! host (parsers, sandbox, patcher) and compares; [`render`] prints the results and the
//! coverage of finding codes.
//!
//! ```yaml
//! policy: acme-rules              # optional: the policy these cases are for
//! cases:
//!   - name: an allowlist entry outside the admin networks
//!     settings: {admin_networks: [10.20.0.0/16]}
//!     files:
//!       patroni.yml: |
//!         restapi:
//!           allowlist: [10.20.0.0/24, 0.0.0.0/0]
//!     expect:
//!       findings:                 # exactly these (no_other_findings: false to relax)
//!         - {code: allowlist-outside-admin-networks, file: patroni.yml, line: 2}
//! ```

mod expect;
pub mod render;
pub mod runner;

use std::path::{Path, PathBuf};

use crate::formats::Kind;
use crate::formats::kind::KNOWN;
use crate::run::{Severity, Verdict};
use crate::samples::{self, Samples};
use crate::spanned::{Node, Problem, Problems, SpannedDoc};

/// One test file.
#[derive(Debug)]
pub struct TestFile {
    pub path: PathBuf,
    /// The path as shown to users.
    pub display: String,
    /// The policy the cases are for, when the file says.
    pub policy: Option<String>,
    pub cases: Vec<Case>,
}

/// One case: inputs and expectations.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// Line of the case in its file.
    pub line: u32,
    /// Settings as JSON.
    pub settings: String,
    pub files: Vec<CaseFile>,
    pub samples: Samples,
    pub expect: Expect,
}

/// An input file of a case.
#[derive(Debug, Clone)]
pub struct CaseFile {
    /// The name findings report (`patroni.yml`, `conf/pg_hba.conf`).
    pub name: String,
    /// Forced kind; otherwise detected from the name and content like `patrol check` does.
    pub kind: Option<Kind>,
    pub text: String,
    /// Permission bits the file gets (`mode: "0600"`), for the certificate checks.
    pub mode: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// `None`: findings are not checked.
    pub findings: Option<Vec<ExpectedFinding>>,
    /// Whether findings not listed fail the case (default: yes, when `findings` is given).
    pub no_other_findings: bool,
    pub decisions: Vec<ExpectedDecision>,
    /// `None`: patches are not checked; `Some`: exactly these files change, to this text.
    pub patches: Option<Vec<ExpectedPatch>>,
    /// The policy must fail with a message containing this.
    pub error: Option<String>,
    /// Fixes the proof must hold back; any other held-back fix fails the case.
    pub withheld: Vec<ExpectedWithheld>,
}

#[derive(Debug, Clone)]
pub struct ExpectedFinding {
    /// `code` (of the policy under test) or `policy/code`.
    pub code: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub severity: Option<Severity>,
    pub message_contains: Option<String>,
    /// Line in the test file.
    pub at: u32,
}

/// Which sample a decision is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleRef {
    /// `requests[3]`, `connections[0]`.
    Label(String),
    /// The sample's `name`.
    Name(String),
}

#[derive(Debug, Clone)]
pub struct ExpectedDecision {
    pub sample: SampleRef,
    pub verdict: Verdict,
    pub status: Option<u16>,
    pub stage: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub method: Option<String>,
    pub reason_contains: Option<String>,
    pub at: u32,
}

/// A fix that must be held back: the finding with this `code` (and `file`) keeps no
/// patch, for a reason whose message contains `reason_contains`.
#[derive(Debug, Clone)]
pub struct ExpectedWithheld {
    pub code: String,
    pub file: Option<String>,
    pub reason_contains: Option<String>,
    pub at: u32,
}

#[derive(Debug, Clone)]
pub struct ExpectedPatch {
    pub file: String,
    /// The file's whole text after every patch is applied.
    pub after: String,
    pub at: u32,
}

/// The test files of a directory: `DIR/tests/*.yaml` (and `.yml`), or `DIR/*.yaml` when
/// there is no `tests/`; a file is itself.
pub fn discover(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    // A device, FIFO or socket is neither a case file nor a directory of them.
    if let Some(why) = std::fs::metadata(path)
        .ok()
        .and_then(|m| crate::confine::not_regular(&m))
    {
        return Err(format!(
            "cannot read `{}`: {why}; give a YAML case file or a directory of them",
            path.display()
        ));
    }
    let tests = path.join("tests");
    if !tests.is_dir() && path.join("Cargo.toml").is_file() {
        // A crate without tests/: its other YAML files are not test cases.
        return Ok(Vec::new());
    }
    let dir = if tests.is_dir() {
        tests
    } else {
        path.to_path_buf()
    };
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        format!(
            "cannot read `{}`: {}",
            dir.display(),
            crate::discover::io_reason(&e)
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads and checks a test file; every problem is reported, with its line.
pub fn parse(path: &Path) -> Result<TestFile, Vec<Problem>> {
    let display = path.to_string_lossy().replace('\\', "/");
    let display = display.strip_prefix("./").unwrap_or(&display).to_string();
    let one = |message: String| {
        vec![Problem {
            file: display.clone(),
            line: 0,
            message,
        }]
    };
    let text = crate::confine::read_text(path).map_err(|e| one(format!("cannot read it: {e}")))?;
    let doc = SpannedDoc::parse(&text, &display).map_err(|p| vec![p])?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut problems = Problems::default();
    let reader = Reader { base: &base };
    let root = doc.root();
    let mut file = TestFile {
        path: path.to_path_buf(),
        display: display.clone(),
        policy: None,
        cases: Vec::new(),
    };
    if root.mapping(
        &["policy", "settings", "files", "samples", "cases"],
        &mut problems,
    ) {
        file.policy = root
            .get("policy")
            .and_then(|n| n.str(&mut problems))
            .map(str::to_string);
        let defaults = Defaults {
            settings: root
                .get("settings")
                .and_then(|n| reader.settings(&n, &mut problems)),
            files: root
                .get("files")
                .map(|n| reader.files(&n, &mut problems))
                .unwrap_or_default(),
            samples: root
                .get("samples")
                .and_then(|n| reader.samples(&n, &mut problems)),
        };
        let cases = root
            .require("cases", &mut problems)
            .map(|n| n.items(&mut problems))
            .unwrap_or_default();
        if cases.is_empty() && root.get("cases").is_some() {
            problems.at(
                &root,
                "`cases` is empty: a test file needs at least one case",
            );
        }
        for node in cases {
            if let Some(case) = reader.case(&node, &defaults, &mut problems) {
                if file.cases.iter().any(|c| c.name == case.name) {
                    problems.at(&node, format!("two cases are named `{}`", case.name));
                }
                file.cases.push(case);
            }
        }
    }
    problems.into_result().map(|()| file)
}

struct Defaults {
    settings: Option<String>,
    files: Vec<CaseFile>,
    samples: Option<Samples>,
}

struct Reader<'p> {
    /// The test file's directory: `from:` paths are relative to it.
    base: &'p Path,
}

impl Reader<'_> {
    fn case(&self, node: &Node<'_>, defaults: &Defaults, problems: &mut Problems) -> Option<Case> {
        if !node.mapping(
            &["name", "settings", "files", "samples", "expect"],
            problems,
        ) {
            return None;
        }
        let name = node
            .require("name", problems)
            .and_then(|n| n.text(problems));
        let settings = match node.get("settings") {
            Some(n) => self.settings(&n, problems),
            None => defaults.settings.clone(),
        };
        let mut files = defaults.files.clone();
        if let Some(n) = node.get("files") {
            for f in self.files(&n, problems) {
                files.retain(|d| d.name != f.name);
                files.push(f);
            }
        }
        let samples = match node.get("samples") {
            Some(n) => self.samples(&n, problems),
            None => defaults.samples.clone(),
        };
        let expect = match node.require("expect", problems) {
            Some(n) => expect::expect(&n, problems),
            None => Expect::default(),
        };
        Some(Case {
            name: name?,
            line: node.line(),
            settings: settings.unwrap_or_else(|| "{}".to_string()),
            files,
            samples: samples.unwrap_or_default(),
            expect,
        })
    }

    /// `settings`: a mapping (the settings), or `{from: path}`.
    fn settings(&self, node: &Node<'_>, problems: &mut Problems) -> Option<String> {
        if let Some(from) = self.from(node, problems) {
            let (text, display) = self.read(node, &from, problems)?;
            return match SpannedDoc::parse(&text, &display) {
                Ok(doc) if doc.value.is_null() => Some("{}".to_string()),
                Ok(doc) => Some(doc.value.to_string()),
                Err(p) => {
                    problems.0.push(p);
                    None
                }
            };
        }
        if !node.value.is_object() && !node.value.is_null() {
            problems.at(
                node,
                format!(
                    "`{}` must be a mapping (the policy's settings) or `{{from: FILE}}`",
                    node.path()
                ),
            );
            return None;
        }
        Some(if node.value.is_null() {
            "{}".to_string()
        } else {
            node.value.to_string()
        })
    }

    /// `files`: name → inline text, `{from: path}`, or `{kind: KIND, text: ...}` /
    /// `{kind: KIND, from: path}`.
    fn files(&self, node: &Node<'_>, problems: &mut Problems) -> Vec<CaseFile> {
        let mut out = Vec::new();
        for (name, value) in node.entries(problems) {
            if name.is_empty()
                || name.starts_with('/')
                || name.split('/').any(|s| s == ".." || s == ".")
            {
                problems.at(
                    &value,
                    format!("file name `{name}` must be a relative path without `.` or `..`"),
                );
                continue;
            }
            let mut mode = None;
            let (kind, text) = if value.value.is_string() {
                (None, value.str(problems).map(str::to_string))
            } else if value.mapping(&["from", "text", "kind", "mode"], problems) {
                mode = value.get("mode").and_then(|m| {
                    let parsed = m
                        .str(problems)
                        .filter(|t| (3..=4).contains(&t.len()))
                        .and_then(|t| u32::from_str_radix(t, 8).ok())
                        .filter(|bits| *bits <= 0o7777);
                    if parsed.is_none() {
                        problems.at(
                            &m,
                            format!(
                                "the mode of `{name}` must be octal permission bits in quotes, such as \"0600\""
                            ),
                        );
                    }
                    parsed
                });
                let kind = value
                    .get("kind")
                    .and_then(|k| k.str(problems))
                    .and_then(|k| {
                        let known = KNOWN.contains(&k)
                            || k.chars()
                                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                        if !known || k.is_empty() {
                            problems.at(
                                &value,
                                format!(
                                    "`{k}` is not a document kind; known kinds: {}",
                                    KNOWN.join(", ")
                                ),
                            );
                            return None;
                        }
                        Some(Kind::from_name(k))
                    });
                let text = match (value.get("text"), value.get("from")) {
                    (Some(t), None) => t.str(problems).map(str::to_string),
                    (None, Some(from)) => from
                        .str(problems)
                        .and_then(|f| self.read(&value, f, problems))
                        .map(|(t, _)| t),
                    _ => {
                        problems.at(
                            &value,
                            format!("file `{name}` needs exactly one of `text` and `from`"),
                        );
                        None
                    }
                };
                (kind, text)
            } else {
                continue;
            };
            if let Some(text) = text {
                out.push(CaseFile {
                    name,
                    kind,
                    text,
                    mode,
                });
            }
        }
        out
    }

    /// `samples`: the samples-file shape inline, or `{from: path}`.
    fn samples(&self, node: &Node<'_>, problems: &mut Problems) -> Option<Samples> {
        if let Some(from) = self.from(node, problems) {
            let (text, display) = self.read(node, &from, problems)?;
            return samples::parse(&text, &display)
                .map_err(|m| problems.0.push(problem_from_text(&m, &display)))
                .ok();
        }
        let doc = node.doc;
        let base = node.pointer.clone();
        let line_of = |p: &str| doc.line(&format!("{base}{p}"));
        match samples::from_value(node.value, &doc.file, &line_of) {
            Ok(s) => Some(s),
            Err(m) => {
                problems.0.push(problem_from_text(&m, &doc.file));
                None
            }
        }
    }

    /// The path of a `{from: path}` mapping (its only key), if the node is one.
    fn from(&self, node: &Node<'_>, problems: &mut Problems) -> Option<String> {
        let from = node.get("from")?;
        if node.value.as_object().is_some_and(|m| m.len() == 1) {
            return from.str(problems).map(str::to_string);
        }
        None
    }

    fn read(
        &self,
        node: &Node<'_>,
        from: &str,
        problems: &mut Problems,
    ) -> Option<(String, String)> {
        let path = self.base.join(from);
        let display = path.to_string_lossy().replace('\\', "/");
        match crate::confine::read_text(&path) {
            Ok(text) => Some((text, display)),
            Err(e) => {
                problems.at(node, format!("cannot read `{display}`: {e}"));
                None
            }
        }
    }
}

/// Turns `file:line: message` (from the samples reader) back into a problem.
fn problem_from_text(text: &str, file: &str) -> Problem {
    let rest = text.strip_prefix(file).and_then(|r| r.strip_prefix(':'));
    if let Some((line, message)) = rest.and_then(|r| r.split_once(": "))
        && let Ok(line) = line.parse()
    {
        return Problem {
            file: file.to_string(),
            line,
            message: message.to_string(),
        };
    }
    Problem {
        file: file.to_string(),
        line: 0,
        message: text.to_string(),
    }
}

pub fn severity(text: &str) -> Option<Severity> {
    Some(match text {
        "info" => Severity::Info,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
