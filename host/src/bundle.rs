//! The policy bundle, `patrol.yaml`: which policies run (built-in ones by name, org ones
//! by path), their settings, severity overrides and exceptions.
//!
//! Found in the working directory or named with `--config`. [`Bundle::load`] checks the
//! whole file and reports every problem with its line (unknown keys, unknown built-in
//! policies, missing reasons or expiry dates, bad globs…). After the run, [`Bundle::apply`]
//! checks that every code it names exists in the policies that ran, overrides
//! severities, moves the findings an exception covers to `waived`, and turns each expired
//! exception into a `patrol/expired-exception` finding at its line (the finding it
//! covered counts again).
//!
//! ```yaml
//! policies:
//!   - builtin: all                       # every built-in policy (the default)
//!   - builtin: patroni-restapi
//!     settings: {allowed_cidrs: [10.20.0.0/16]}
//!   - path: policies/org-access          # a .wasm, or a policy crate (its built component)
//!     settings: {admin_networks: [10.20.0.0/16]}
//! severity:
//!   patroni-restapi/listen-all-interfaces: high
//! exceptions:
//!   - code: patroni-restapi/no-tls       # or a bare code: any policy's
//!     file: "legacy/*.yml"               # glob, relative to patrol.yaml's directory
//!     line: 3                            # optional; also `pointer:` (or `key:`)
//!     reason: "the legacy cluster is retired in June, SEC-1234"
//!     expires: 2026-06-30
//! ```

use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use serde::Serialize;

use crate::run::{Finding, HOST_POLICY, Outcome, Severity};
use crate::spanned::{Node, Problem, Problems, SpannedDoc};
use crate::testing::severity as parse_severity;

mod date;
pub use date::Date;

/// The file name looked for in the working directory.
pub const FILE_NAME: &str = "patrol.yaml";
/// The finding an expired exception becomes.
pub const EXPIRED: &str = "expired-exception";

/// A checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The file as shown to users.
    pub file: String,
    /// Its directory: relative paths and globs start here.
    pub dir: PathBuf,
    /// `None`: the file has no `policies`, every built-in policy runs.
    pub policies: Option<Vec<Entry>>,
    pub severity: Vec<Override>,
    pub exceptions: Vec<Exception>,
}

/// One policy to run.
#[derive(Debug, Clone)]
pub struct Entry {
    pub source: Source,
    /// Settings as JSON.
    pub settings: Option<String>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    AllBuiltins,
    Builtin(String),
    /// A component, resolved against the bundle's directory.
    Path(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Override {
    pub policy: String,
    pub code: String,
    pub severity: Severity,
    pub line: u32,
}

#[derive(Debug, Clone)]
pub struct Exception {
    /// `None`: the code of any policy.
    pub policy: Option<String>,
    pub code: String,
    pub file: String,
    matcher: GlobMatcher,
    pub line: Option<u32>,
    pub pointer: Option<String>,
    pub reason: String,
    pub expires: Date,
    /// Line of the exception in the bundle.
    pub at: u32,
}

/// A finding an exception covers, as `--format json` lists it under `waived`.
#[derive(Debug, Clone, Serialize)]
pub struct Waived {
    #[serde(flatten)]
    pub finding: Finding,
    pub exception: WaivedBy,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaivedBy {
    /// `patrol.yaml:12`.
    pub at: String,
    pub reason: String,
    pub expires: String,
}

impl Bundle {
    /// The bundle to use: `config` when given, else `patrol.yaml` in the working
    /// directory if there is one.
    pub fn find(config: Option<&Path>) -> Option<PathBuf> {
        match config {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(FILE_NAME)).filter(|p| p.is_file()),
        }
    }

    /// Reads and checks a bundle; `builtins` are the names of the built-in policies.
    pub fn load(path: &Path, builtins: &[&str]) -> Result<Bundle, Vec<Problem>> {
        let display = path.to_string_lossy().replace('\\', "/");
        let display = display.strip_prefix("./").unwrap_or(&display).to_string();
        let one = |message: String| {
            vec![Problem {
                file: display.clone(),
                line: 0,
                message,
            }]
        };
        let text =
            crate::confine::read_text(path).map_err(|e| one(format!("cannot read it: {e}")))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Self::parse(&text, &display, &dir, builtins)
    }

    /// Checks a bundle's text; `dir` resolves its relative paths.
    pub fn parse(
        text: &str,
        file: &str,
        dir: &Path,
        builtins: &[&str],
    ) -> Result<Bundle, Vec<Problem>> {
        let doc = SpannedDoc::parse(text, file).map_err(|p| vec![p])?;
        let mut problems = Problems::default();
        let mut bundle = Bundle {
            file: file.to_string(),
            dir: dir.to_path_buf(),
            policies: None,
            severity: Vec::new(),
            exceptions: Vec::new(),
        };
        let root = doc.root();
        if root.value.is_null() {
            return Ok(bundle);
        }
        if root.mapping(&["policies", "severity", "exceptions"], &mut problems) {
            if let Some(list) = root.get("policies") {
                let entries: Vec<Entry> = list
                    .items(&mut problems)
                    .iter()
                    .filter_map(|n| entry(n, dir, builtins, &mut problems))
                    .collect();
                for (i, e) in entries.iter().enumerate() {
                    if entries[..i].iter().any(|x| x.source == e.source) {
                        problems.0.push(Problem {
                            file: file.to_string(),
                            line: e.line,
                            message: "this policy is listed twice".to_string(),
                        });
                    }
                }
                bundle.policies = Some(entries);
            }
            if let Some(map) = root.get("severity") {
                for (key, node) in map.entries(&mut problems) {
                    let Some((policy, code)) = split_code(&key).filter(|(p, _)| !p.is_empty())
                    else {
                        problems.at(
                            &node,
                            format!("`{key}` must be `policy/code`, e.g. `patroni-restapi/no-tls`"),
                        );
                        continue;
                    };
                    let Some(text) = node.str(&mut problems) else {
                        continue;
                    };
                    match parse_severity(text) {
                        Some(severity) => bundle.severity.push(Override {
                            policy: policy.to_string(),
                            code: code.to_string(),
                            severity,
                            line: node.line(),
                        }),
                        None => problems.at(&node, format!("`{text}` is not a severity; use info, low, medium, high or critical")),
                    }
                }
            }
            if let Some(list) = root.get("exceptions") {
                bundle.exceptions = list
                    .items(&mut problems)
                    .iter()
                    .filter_map(|n| exception(n, &mut problems))
                    .collect();
            }
        }
        problems.into_result().map(|()| bundle)
    }

    /// Applies the bundle to a run's outcome (see the module docs). An override or
    /// exception that names a code no running policy has is an error, with its line.
    pub fn apply(&self, outcome: &mut Outcome, today: Date) -> Result<(), Vec<Problem>> {
        self.check_codes(outcome)?;
        for f in &mut outcome.findings {
            if let Some(o) = self
                .severity
                .iter()
                .find(|o| o.policy == f.policy && o.code == f.code)
            {
                f.severity = o.severity;
            }
        }
        let mut kept = Vec::with_capacity(outcome.findings.len());
        for f in std::mem::take(&mut outcome.findings) {
            let by = self
                .exceptions
                .iter()
                .find(|e| e.expires >= today && self.covers(e, &f));
            match by {
                Some(e) => outcome.waived.push(Waived {
                    finding: f,
                    exception: WaivedBy {
                        at: format!("{}:{}", self.file, e.at),
                        reason: e.reason.clone(),
                        expires: e.expires.to_string(),
                    },
                }),
                None => kept.push(f),
            }
        }
        for e in self.exceptions.iter().filter(|e| e.expires < today) {
            let code = match &e.policy {
                Some(p) => format!("{p}/{}", e.code),
                None => e.code.clone(),
            };
            kept.push(Finding {
                policy: HOST_POLICY.to_string(),
                code: EXPIRED.to_string(),
                severity: Severity::Medium,
                message: format!(
                    "the exception for `{code}` in `{}` expired on {}; what it waived is reported again (reason given: {})",
                    e.file, e.expires, e.reason
                ),
                file: self.file.clone(),
                line: e.at,
                end_line: None,
                pointer: None,
                remediation: "Fix what the exception waived, or renew it with a new `expires` date and an up-to-date `reason`.".to_string(),
                patch: None,
                fix_withheld: None,
            });
        }
        outcome.findings = kept;
        Ok(())
    }

    fn covers(&self, e: &Exception, f: &Finding) -> bool {
        let policy_ok = e.policy.as_ref().is_none_or(|p| p == &f.policy);
        let relative = self.relative(&f.file);
        policy_ok
            && e.code == f.code
            && (e.matcher.is_match(&f.file) || relative.is_some_and(|r| e.matcher.is_match(r)))
            && e.line.is_none_or(|l| l == f.line)
            && e.pointer
                .as_ref()
                .is_none_or(|p| f.pointer.as_ref() == Some(p))
    }

    /// A finding's file relative to the bundle's directory, when it is below it.
    fn relative<'f>(&self, file: &'f str) -> Option<&'f str> {
        let dir = self.dir.to_string_lossy().replace('\\', "/");
        let dir = dir.trim_start_matches("./").trim_end_matches('/');
        if dir.is_empty() || dir == "." {
            return None;
        }
        file.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
    }

    fn check_codes(&self, outcome: &Outcome) -> Result<(), Vec<Problem>> {
        // A policy that failed to load has no metadata: its codes cannot be checked.
        let all_loaded = outcome
            .errors
            .iter()
            .all(|e| e.kind != crate::engine::FailureKind::Load);
        let codes_of = |policy: &str| {
            outcome
                .policies
                .iter()
                .find(|p| p.name == policy)
                .and_then(|p| p.metadata.clone())
        };
        let mut problems = Vec::new();
        let mut check = |policy: Option<&str>, code: &str, line: u32| {
            let message = match policy {
                Some(HOST_POLICY) => return,
                Some(p) => match codes_of(p) {
                    Some(meta) if meta.codes.iter().any(|c| c.code == code) => return,
                    Some(meta) => {
                        let known: Vec<&str> = meta.codes.iter().map(|c| c.code.as_str()).collect();
                        format!(
                            "policy `{p}` has no finding code `{code}`; its codes: {}",
                            known.join(", ")
                        )
                    }
                    None if !all_loaded => return,
                    None => {
                        let running: Vec<&str> =
                            outcome.policies.iter().map(|p| p.name.as_str()).collect();
                        format!(
                            "no policy `{p}` runs; the policies that run: {}",
                            running.join(", ")
                        )
                    }
                },
                None => {
                    let any = outcome
                        .policies
                        .iter()
                        .filter_map(|p| p.metadata.as_ref())
                        .any(|m| m.codes.iter().any(|c| c.code == code));
                    if any || !all_loaded {
                        return;
                    }
                    format!(
                        "no policy that runs has a finding code `{code}` (`patrol policy list` shows them)"
                    )
                }
            };
            problems.push(Problem {
                file: self.file.clone(),
                line,
                message,
            });
        };
        for o in &self.severity {
            check(Some(&o.policy), &o.code, o.line);
        }
        for e in &self.exceptions {
            check(e.policy.as_deref(), &e.code, e.at);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// `policy/code` → (policy, code); a bare code has no `/`.
fn split_code(text: &str) -> Option<(&str, &str)> {
    let (policy, code) = text.split_once('/')?;
    (!code.is_empty() && !code.contains('/')).then_some((policy, code))
}

fn entry(node: &Node<'_>, dir: &Path, builtins: &[&str], problems: &mut Problems) -> Option<Entry> {
    let line = node.line();
    // Short forms: `- pg-hba` (a built-in, or `all`), `- path/to/policy.wasm`.
    if let Some(text) = node.value.as_str() {
        let source = if text.contains('/') || text.ends_with(".wasm") {
            path_source(node, text, dir, problems)?
        } else {
            builtin_source(node, text, builtins, problems)?
        };
        return Some(Entry {
            source,
            settings: None,
            line,
        });
    }
    if !node.mapping(&["builtin", "path", "settings"], problems) {
        return None;
    }
    let source = match (node.get("builtin"), node.get("path")) {
        (Some(b), None) => builtin_source(&b, b.str(problems)?, builtins, problems)?,
        (None, Some(p)) => path_source(&p, p.str(problems)?, dir, problems)?,
        _ => {
            problems.at(
                node,
                "a policy needs exactly one of `builtin: NAME` and `path: FILE.wasm`",
            );
            return None;
        }
    };
    let settings = match node.get("settings") {
        None => None,
        Some(s) if source == Source::AllBuiltins => {
            problems.at(&s, "`builtin: all` takes no settings; list the built-in policy by name to give it settings");
            None
        }
        Some(s) if s.value.is_object() => Some(s.value.to_string()),
        Some(s) if s.value.is_null() => None,
        Some(s) => {
            problems.at(
                &s,
                format!("`{}` must be a mapping (the policy's settings)", s.path()),
            );
            None
        }
    };
    Some(Entry {
        source,
        settings,
        line,
    })
}

fn builtin_source(
    node: &Node<'_>,
    name: &str,
    builtins: &[&str],
    problems: &mut Problems,
) -> Option<Source> {
    if name == "all" {
        return Some(Source::AllBuiltins);
    }
    if !builtins.contains(&name) {
        problems.at(
            node,
            format!(
                "there is no built-in policy `{name}`; the built-in policies are: all, {}",
                builtins.join(", ")
            ),
        );
        return None;
    }
    Some(Source::Builtin(name.to_string()))
}

/// A `.wasm` file, or a policy crate whose component `patrol policy build` wrote.
fn path_source(node: &Node<'_>, text: &str, dir: &Path, problems: &mut Problems) -> Option<Source> {
    let path = if dir == Path::new(".") {
        PathBuf::from(text)
    } else {
        dir.join(text)
    };
    if path.is_file() {
        return Some(Source::Path(path));
    }
    if path.join("Cargo.toml").is_file() {
        let built: Vec<PathBuf> = std::fs::read_dir(path.join("target/patrol"))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                    .collect()
            })
            .unwrap_or_default();
        if let [one] = built.as_slice() {
            return Some(Source::Path(one.clone()));
        }
        problems.at(
            node,
            format!(
                "the policy crate `{text}` is not built; run `patrol policy build {}`",
                path.display()
            ),
        );
        return None;
    }
    problems.at(
        node,
        format!(
            "no policy at `{}` (paths are relative to the bundle's directory)",
            path.display()
        ),
    );
    None
}

fn exception(node: &Node<'_>, problems: &mut Problems) -> Option<Exception> {
    if !node.mapping(
        &[
            "code", "file", "line", "pointer", "key", "reason", "expires",
        ],
        problems,
    ) {
        return None;
    }
    let code = node.require("code", problems).and_then(|n| {
        let text = n.str(problems)?;
        match split_code(text) {
            Some((p, c)) if !p.is_empty() => Some((Some(p.to_string()), c.to_string())),
            None if !text.is_empty() && !text.contains('/') => Some((None, text.to_string())),
            _ => {
                problems.at(
                    &n,
                    format!("`{text}` must be `policy/code` or a bare `code`"),
                );
                None
            }
        }
    });
    let file = node.require("file", problems).and_then(|n| {
        let text = n.str(problems)?;
        match Glob::new(text) {
            Ok(g) => Some((text.to_string(), g.compile_matcher())),
            Err(e) => {
                problems.at(&n, format!("`{text}` is not a valid glob: {}", e.kind()));
                None
            }
        }
    });
    let line = node.get("line").and_then(|n| {
        n.u32(problems).filter(|l| *l > 0).or_else(|| {
            problems.at(&n, "`line` must be 1 or more");
            None
        })
    });
    let pointer = match (node.get("pointer"), node.get("key")) {
        (Some(_), Some(k)) => {
            problems.at(&k, "give `pointer` or `key`, not both");
            None
        }
        (Some(n), None) | (None, Some(n)) => n.str(problems).map(str::to_string),
        (None, None) => None,
    };
    let reason = node.require("reason", problems).and_then(|n| {
        let text = n.str(problems)?.trim();
        if text.is_empty() {
            problems.at(&n, "`reason` must say why the finding is accepted");
            return None;
        }
        Some(text.to_string())
    });
    let expires = node.require("expires", problems).and_then(|n| {
        let text = n.text(problems)?;
        Date::parse(&text).or_else(|| {
            problems.at(
                &n,
                format!("`{text}` is not a date; write `expires: YYYY-MM-DD`"),
            );
            None
        })
    });
    let (policy, code) = code?;
    let (file, matcher) = file?;
    Some(Exception {
        policy,
        code,
        file,
        matcher,
        line,
        pointer,
        reason: reason?,
        expires: expires?,
        at: node.line(),
    })
}

#[cfg(test)]
mod tests;
