//! A run: parse the input files, load the policies, evaluate each one in its own sandbox,
//! and gather findings, decisions, patches and failures into an [`Outcome`].
//!
//! The run fails closed: a policy that fails (trap, limit, its own error, bad settings,
//! bad output, a refused name) is reported in `errors`, and every sample it would have
//! answered (every kind, for a policy that reads `*` or whose metadata is unknown) gets a
//! deny decision from it; a sample that no policy answers is denied too.
//!
//! What a policy returned is bounded before it is copied: a decision detail shared by
//! many samples is copied into each of them clipped ([`MAX_REASON`]), and a failed
//! policy's error is referred to, not copied, in the decisions it denies.

mod checks;
pub mod decision;
mod pool;
mod skip;
pub mod versions;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::Serialize;

use crate::discover::InputFile;
use crate::engine::{CacheOutcome, Engine, Failure, FailureKind, Limits, Loaded, clip};
use crate::formats::{self, ParseContext};
use crate::samples::Samples;
use crate::wit;
use skip::{Entry, present_kinds, skippable, skipped};

/// The built-in policies, compiled to components by `build.rs`.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_policies.rs"));
}

/// Where a policy comes from.
#[derive(Debug, Clone)]
pub enum PolicySource {
    Builtin(&'static str, &'static [u8]),
    File(PathBuf, Vec<u8>),
}

impl PolicySource {
    /// Every built-in policy.
    pub fn builtins() -> Vec<PolicySource> {
        builtin::BUILTIN_POLICIES
            .iter()
            .map(|(name, bytes)| PolicySource::Builtin(name, bytes))
            .collect()
    }

    pub fn label(&self) -> String {
        match self {
            PolicySource::Builtin(name, _) => format!("builtin:{name}"),
            PolicySource::File(path, _) => path.display().to_string(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            PolicySource::Builtin(_, b) => b,
            PolicySource::File(_, b) => b,
        }
    }

    /// The SHA-256 of a built-in component, computed by `build.rs`.
    fn digest(&self) -> Option<&'static [u8; 32]> {
        let PolicySource::Builtin(name, bytes) = self else {
            return None;
        };
        builtin::BUILTIN_POLICIES
            .iter()
            .zip(builtin::BUILTIN_DIGESTS)
            .find(|((n, b), _)| n == name && std::ptr::eq(*b, *bytes))
            .map(|(_, d)| d)
    }
}

/// A policy to run, with its settings as JSON.
#[derive(Debug, Clone)]
pub struct PolicyRun {
    pub source: PolicySource,
    pub settings: Option<String>,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub files: Vec<InputFile>,
    pub policies: Vec<PolicyRun>,
    /// Settings by policy name (`--settings NAME=FILE`); they win over `PolicyRun::settings`.
    pub settings_by_name: BTreeMap<String, String>,
    pub samples: Samples,
    pub limits: Limits,
    pub verbose: bool,
    /// The `patrol.yaml` in effect: severity overrides and exceptions, applied to the
    /// outcome.
    pub bundle: Option<crate::bundle::Bundle>,
    /// Where the PEM files the configs name are looked for (`--root`, the checked tree).
    pub certs: crate::certs::Search,
    /// Refuse org policies named like a built-in one (always, but for `patrol test`, which
    /// runs the one policy under test, possibly a built-in one's crate).
    pub reserve_builtin_names: bool,
    /// The files the directory walks met and did not read, with the reason.
    pub skipped: Vec<crate::discover::Skipped>,
    /// Inline suppressions, baseline, changed-only report (`crate::adopt`).
    pub adopt: crate::adopt::Options,
}

/// How much of each text of a decision detail is copied into every decision that uses
/// it (the detail crosses the boundary once; a report repeats it per sample).
pub const MAX_REASON: usize = 1024;

/// A finding as patrol reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub policy: String,
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: u32,
    pub end_line: Option<u32>,
    pub pointer: Option<String>,
    pub remediation: String,
    /// Index in `Outcome::patches`.
    pub patch: Option<usize>,
    /// Why the fix a policy proposed is not offered (it would break a required flow, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_withheld: Option<crate::fix::Withheld>,
}

pub use decision::{Decision, Detail, SampleId, SampleKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl From<wit::Severity> for Severity {
    fn from(s: wit::Severity) -> Self {
        match s {
            wit::Severity::Info => Severity::Info,
            wit::Severity::Low => Severity::Low,
            wit::Severity::Medium => Severity::Medium,
            wit::Severity::High => Severity::High,
            wit::Severity::Critical => Severity::Critical,
        }
    }
}

/// A patch as patrol reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Patch {
    pub policy: String,
    pub file: String,
    pub description: String,
    #[serde(skip)]
    pub edits: Vec<wit::Edit>,
    /// Why the patch cannot be applied as the policy wrote it (a pg_hba edit the host
    /// cannot render safely); the applier reports it as skipped with this reason.
    #[serde(skip)]
    pub refused: Option<String>,
    /// The kind of the document the patch edits (none when no checked document has its
    /// path): whose format renders its settings edits.
    #[serde(skip)]
    pub kind: Option<crate::formats::Kind>,
}

/// What a policy was, for reports (SARIF rules, `policy list`).
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    pub name: String,
    pub version: String,
    pub source: String,
    pub cache: CacheOutcome,
    /// Why the policy was not instantiated nor evaluated (it reads nothing the inputs
    /// hold; see [`skippable`]); none when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip)]
    pub metadata: Option<std::sync::Arc<wit::PolicyMetadata>>,
}

/// The outcome of a run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub decisions: Vec<Decision>,
    pub patches: Vec<Patch>,
    pub errors: Vec<Failure>,
    pub policies: Vec<PolicyInfo>,
    /// Findings an exception of the bundle covers; they do not count for the exit code.
    pub waived: Vec<crate::bundle::Waived>,
    /// Findings suppressed inline or baselined, and what a changed-only run left out.
    pub adopt: crate::adopt::Report,
    /// The input files (display name, text), for showing source lines.
    #[serde(skip)]
    pub files: Vec<(String, String)>,
    /// The deployment model the policies read (see [`crate::deployment`]).
    #[serde(skip)]
    pub deployment: Option<wit::Deployment>,
    /// Every file the run met: read as a kind, or skipped with the reason (JSON `files`).
    #[serde(skip)]
    pub inputs: Vec<FileEntry>,
    /// The PostgreSQL and Patroni versions the answers assume, and why (JSON `versions`).
    #[serde(skip)]
    pub versions: Vec<versions::Assumed>,
    /// What `patrol verify` probed and saw (JSON `verify`); none for other commands.
    #[serde(skip)]
    pub verify: Option<serde_json::Value>,
}

/// A file the run met: read as `kind`, or skipped and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub path: String,
    /// The kind it was read as; none when skipped.
    pub kind: Option<String>,
    /// Why it was not read; none when read.
    pub skipped: Option<String>,
}

impl Outcome {
    /// One line saying which files were read as what and which were skipped and why.
    pub fn files_summary(&self) -> String {
        let read: Vec<(String, String)> = self
            .inputs
            .iter()
            .filter_map(|e| Some((e.path.clone(), e.kind.clone()?)))
            .collect();
        let skipped: Vec<crate::discover::Skipped> = self
            .inputs
            .iter()
            .filter_map(|e| {
                Some(crate::discover::Skipped {
                    path: e.path.clone(),
                    reason: e.skipped.clone()?,
                })
            })
            .collect();
        crate::discover::summary(&read, &skipped)
    }
}

/// The host's own finding codes: problems met while parsing the inputs.
pub const HOST_POLICY: &str = "patrol";

fn diagnostic_severity(code: &str) -> Severity {
    HOST_CODES
        .iter()
        .find(|c| c.code == code)
        .map_or(Severity::Medium, |c| c.severity)
}

/// A finding code of the host itself (policy [`HOST_POLICY`]): a problem met while reading
/// the inputs.
#[derive(Debug, Clone, Copy)]
pub struct HostCode {
    pub code: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub help: &'static str,
}

/// Every code the host reports (the parsers' diagnostics and the bundle's own).
pub const HOST_CODES: &[HostCode] = &[
    HostCode {
        code: "invalid-yaml",
        severity: Severity::High,
        summary: "the file is not valid YAML",
        help: "Fix the syntax error at the reported line; the policies cannot check what patrol cannot read, and the program the file configures refuses it.",
    },
    HostCode {
        code: "invalid-line",
        severity: Severity::High,
        summary: "a line the program it configures would reject or read differently",
        help: "Fix or remove the line; the message says what the server says about it (for pg_hba.conf, the server refuses the whole file).",
    },
    HostCode {
        code: "auth-file-broken",
        severity: Severity::High,
        summary: "a line of a PgBouncer auth_file PgBouncer stops reading at: the users on it and after it are not loaded",
        help: "Write every entry as `\"user\" \"password\"` (a `\"` inside doubled) and comment lines with `;` only (PgBouncer reads `#` as a broken line). The `pgbouncer` policy reports it as `pgbouncer/auth-file-broken`, low when no entry follows.",
    },
    HostCode {
        code: "template-placeholders",
        severity: Severity::Info,
        summary: "an unrendered template: lines with placeholders (`@authmethodhost@`, `{{ var }}`) a tool fills in",
        help: "The file is rendered (by initdb, Ansible, …) before the server reads it; its placeholder lines are not checked. Check the rendered file.",
    },
    HostCode {
        code: "include-not-seen",
        severity: Severity::Info,
        summary: "a postgresql.conf `include` or `include_dir` names a file or directory that is not among the checked files: its settings are unknown",
        help: "Add the file or directory to the checked paths so that its settings are read; on the server it must exist, or PostgreSQL refuses to start (`include_if_exists` tolerates a missing file). Debian's stock `include_dir = 'conf.d'` names a directory the package creates empty.",
    },
    HostCode {
        code: "no-entries",
        severity: Severity::High,
        summary: "a pg_hba.conf with no record: the server refuses the file (it does not start; a reload keeps the old rules)",
        help: "Add the records the deployment needs. High whatever the reach: a deployment that breaks at its next start (docs/severity.md).",
    },
    HostCode {
        code: "parameter-version",
        severity: Severity::Low,
        summary: "a postgresql.conf parameter only some PostgreSQL majors know, on a server whose version patrol does not know",
        help: "Set `postgres_version` in the samples context (or keep the version in the files, e.g. Patroni's `bin_dir`); on a major that does not know the parameter, remove it or use its replacement, as the server refuses to start on an unknown name.",
    },
    HostCode {
        code: "duplicate-key",
        severity: Severity::Low,
        summary: "a key is set twice",
        help: "Remove one of the two settings; which one wins depends on the parser reading the file (PyYAML: the last).",
    },
    HostCode {
        code: "unsupported-value",
        severity: Severity::Medium,
        summary: "a YAML value the program reads differently from its text (a tag, a merge key, a YAML 1.1 form)",
        help: "Write the value plainly; the message names what the program would make of it.",
    },
    HostCode {
        code: "unsupported-ruby",
        severity: Severity::Info,
        summary: "gitlab.rb Ruby that patrol reads but does not run",
        help: "patrol evaluates literal assignments only; settings computed by Ruby code are not checked.",
    },
    HostCode {
        code: "unsupported-include",
        severity: Severity::Info,
        summary: "an nftables `include` patrol does not follow",
        help: "Give the included file as one of the checked paths so that its rules are read.",
    },
    HostCode {
        code: crate::bundle::EXPIRED,
        severity: Severity::Medium,
        summary: "a patrol.yaml exception whose expiry date has passed",
        help: "Fix the finding it waived, or renew the exception with a new `expires` date and reason.",
    },
    HostCode {
        code: crate::suppress::INVALID,
        severity: Severity::Medium,
        summary: "a `patrol:ignore` comment patrol cannot use: no reason, a bad code, date or key",
        help: "Write `patrol:ignore POLICY/CODE reason=\"why it is accepted\"` (optionally `until=YYYY-MM-DD`); until then it suppresses nothing.",
    },
    HostCode {
        code: crate::suppress::EXPIRED,
        severity: Severity::Medium,
        summary: "a `patrol:ignore` comment whose `until` date has passed",
        help: "Fix the finding it suppressed, or renew the suppression with a new `until` date and reason.",
    },
    HostCode {
        code: crate::suppress::UNUSED,
        severity: Severity::Low,
        summary: "a `patrol:ignore` comment that covers no finding",
        help: "Remove the comment (the finding it was for is gone), or move it onto the finding's line or the line above.",
    },
];

/// Where included files may be read: inside the checked paths and `--root` (and the
/// directories of the files themselves, all inside those unless a plan was built without
/// paths, as `patrol test` does).
pub fn include_tree(plan: &Plan) -> crate::confine::Tree {
    let dirs: std::collections::BTreeSet<&std::path::Path> =
        plan.files.iter().filter_map(|f| f.path.parent()).collect();
    crate::confine::Tree::new(
        plan.certs
            .trees
            .iter()
            .chain(plan.certs.root.iter())
            .map(PathBuf::as_path)
            .chain(dirs),
    )
}

/// The documents the policies read: every input parsed, plus the documents the host
/// derives (certificate facts, port matrices, the pg_hba.conf Patroni writes), for the
/// PostgreSQL version the run assumes ([`prepare`]).
pub fn documents(plan: &Plan) -> Vec<wit::Document> {
    prepare(plan).documents
}

/// [`documents`], parsed for PostgreSQL `version` (none: the newest).
fn documents_for(plan: &Plan, version: Option<u32>) -> Vec<wit::Document> {
    let tree = include_tree(plan);
    let ctx = ParseContext {
        postgres_version: version,
        tree: Some(tree),
    };
    let documents: Vec<wit::Document> = plan
        .files
        .iter()
        .map(|f| formats::document(f.kind.clone(), &f.display, &f.path, f.text.clone(), &ctx))
        .collect();
    // Certificate facts: one more document (kind `certificates`), read by the host since
    // policies have no filesystem or clock.
    let mut documents = crate::certs::with_facts(documents, &plan.files, &plan.certs);
    // The port matrix of each topology (kind `port-matrix`), for the `topology` policy.
    documents.extend(crate::ports::derived_documents(&documents));
    // The pg_hba.conf Patroni writes from its `pg_hba` lists (kind `patroni-pg-hba`).
    documents.extend(formats::patroni_hba::derived(&documents, &ctx));
    documents
}

/// What every policy of a run reads: the documents, the deployment model, and the
/// context the policies get.
pub struct Prepared {
    pub documents: Vec<wit::Document>,
    pub deployment: wit::Deployment,
    /// The samples context, with the PostgreSQL version the deployment model infers
    /// when the context names none and every cluster that shows a version agrees.
    pub context: wit::Context,
    pub inference: versions::Inference,
}

/// Parses the inputs and builds the deployment model. When the samples context names no
/// PostgreSQL version, the version the files show (Debian or RHEL paths of `bin_dir`,
/// `data_dir`, `data_directory`, …) is the one the files are parsed for and the policies
/// judge by; the model itself keeps saying it was inferred and where from.
pub fn prepare(plan: &Plan) -> Prepared {
    let given = &plan.samples.context;
    let documents = documents_for(plan, given.postgres_version);
    let deployment = crate::deployment::build(&documents, given);
    let inference = if given.postgres_version.is_some() {
        versions::Inference::None
    } else {
        versions::Inference::of(&deployment)
    };
    let Some(major) = inference.major() else {
        return Prepared {
            documents,
            deployment,
            context: given.clone(),
            inference,
        };
    };
    let mut context = given.clone();
    context.postgres_version = Some(major);
    let (documents, deployment) = if major == versions::NEWEST_POSTGRES {
        (documents, deployment)
    } else {
        let documents = documents_for(plan, Some(major));
        let deployment = crate::deployment::build(&documents, given);
        (documents, deployment)
    };
    Prepared {
        documents,
        deployment,
        context,
        inference,
    }
}

/// Runs every policy over the inputs.
pub fn run(plan: &Plan) -> anyhow::Result<Outcome> {
    run_observed(plan, &|_| {})
}

/// [`run`], calling `done` with each policy's label when its evaluation ends (for the
/// progress bar of long simulations).
pub fn run_observed(plan: &Plan, done: &(dyn Fn(&str) + Sync)) -> anyhow::Result<Outcome> {
    // One picture of the deployment, for every policy.
    let mut prepared = prepare(plan);
    let documents = &prepared.documents;

    let mut outcome = Outcome::default();
    for doc in documents {
        for d in &doc.diagnostics {
            outcome.findings.push(Finding {
                policy: HOST_POLICY.to_string(),
                code: d.code.clone(),
                severity: diagnostic_severity(&d.code),
                message: d.message.clone(),
                file: d.location.file.clone(),
                line: d.location.line,
                end_line: d.location.end_line,
                pointer: d.location.pointer.clone(),
                remediation: String::new(),
                patch: None,
                fix_withheld: None,
            });
        }
    }

    let engine = Engine::new(plan.limits.clone(), plan.verbose)?;
    let present = present_kinds(documents, &plan.samples);
    // Load (compile) the policies on `--jobs` threads, or only read the metadata of one
    // that reads nothing present; check their names together, then evaluate.
    let jobs = plan.limits.jobs();
    let loads: Vec<Result<Entry, Failure>> = pool::map(
        plan.policies.iter().collect(),
        jobs,
        |_, p| match skippable(&engine, p, plan, &present) {
            Some(metadata) => Ok(Entry::Skipped {
                source: p.source.label(),
                metadata,
            }),
            None => engine
                .load_hashed(&p.source.label(), p.source.bytes(), p.source.digest())
                .map(Entry::Loaded),
        },
    )
    .into_iter()
    .zip(&plan.policies)
    .map(|(load, p)| load.unwrap_or_else(|| Err(panicked(p))))
    .collect();
    let loads = check_names(plan, loads);
    let work: Vec<(&PolicyRun, Result<Entry, Failure>)> = plan.policies.iter().zip(loads).collect();
    let results: Vec<PolicyResult> = pool::map(work, jobs, |_, (p, load)| {
        let result = evaluate_one(&engine, p, load, plan, &prepared);
        done(&p.source.label());
        result
    })
    .into_iter()
    .zip(&plan.policies)
    .map(|(result, p)| {
        result.unwrap_or_else(|| PolicyResult {
            info: None,
            result: Err(panicked(p)),
            reads: None,
        })
    })
    .collect();

    let mut answered = vec![false; plan.samples.requests.len() + plan.samples.connections.len()];
    let label = SampleId::new;
    // Named samples are few in a large batch: a name is shared text, not a copy per policy.
    let sample_name = |kind: SampleKind, index: usize| -> Option<std::sync::Arc<str>> {
        match kind {
            SampleKind::Request => plan
                .samples
                .request_names
                .get(index)
                .and_then(|n| n.as_deref())
                .map(Into::into),
            SampleKind::Connection => plan
                .samples
                .connections
                .get(index)
                .and_then(|c| c.name.as_deref())
                .map(Into::into),
        }
    };
    let slot = |kind: SampleKind, index: usize| match kind {
        SampleKind::Request => index,
        SampleKind::Connection => plan.samples.requests.len() + index,
    };

    let mut hba_targets = crate::patch::HbaTargets::new(&prepared.documents);
    for result in results {
        if let Some(info) = &result.info {
            outcome.policies.push(info.clone());
        }
        match result.result {
            Ok((name, evaluation)) => {
                let base = outcome.patches.len();
                for p in evaluation.patches {
                    // pg_hba edits become line edits of their document here, where its
                    // kind and text are known.
                    let (edits, refused) = hba_targets.render(p.edits, &p.file);
                    let kind = prepared
                        .documents
                        .iter()
                        .find(|d| d.path == p.file)
                        .map(|d| d.kind.clone());
                    outcome.patches.push(Patch {
                        policy: name.clone(),
                        file: p.file,
                        description: p.description,
                        edits,
                        refused,
                        kind,
                    });
                }
                for f in evaluation.findings {
                    outcome.findings.push(Finding {
                        policy: name.clone(),
                        code: f.code,
                        severity: f.severity.into(),
                        message: f.message,
                        file: f.location.file,
                        line: f.location.line,
                        end_line: f.location.end_line,
                        pointer: f.location.pointer,
                        remediation: f.remediation,
                        patch: f.patch.map(|i| base + i as usize),
                        fix_withheld: None,
                    });
                }
                // `check_evaluation` made sure every index is in range.
                let details = &evaluation.decision_details;
                outcome.decisions.reserve(
                    evaluation.requests.samples.len() + evaluation.connections.samples.len(),
                );
                // Each distinct detail is built once, when first used, and shared.
                let mut shared: Vec<Option<std::sync::Arc<Detail>>> = vec![None; details.len()];
                for (kind, answers) in [
                    (SampleKind::Request, &evaluation.requests),
                    (SampleKind::Connection, &evaluation.connections),
                ] {
                    for (&index, &at) in answers.samples.iter().zip(&answers.details) {
                        let (Some(detail), Some(slot_of)) =
                            (details.get(at as usize), shared.get_mut(at as usize))
                        else {
                            continue;
                        };
                        let detail = slot_of.get_or_insert_with(|| {
                            std::sync::Arc::new(Detail {
                                verdict: match detail.verdict {
                                    wit::Verdict::Allow => Verdict::Allow,
                                    wit::Verdict::Deny => Verdict::Deny,
                                },
                                status: detail.status,
                                stage: clip(&detail.stage, 64).into_owned(),
                                file: detail
                                    .location
                                    .as_ref()
                                    .map(|l| clip(&l.file, MAX_REASON).into_owned()),
                                line: detail.location.as_ref().map(|l| l.line),
                                method: detail.method.as_deref().map(|m| clip(m, 64).into_owned()),
                                reason: clip(&detail.reason, MAX_REASON).into_owned(),
                                policy: Some(name.clone()),
                                depends_on: detail
                                    .depends_on
                                    .iter()
                                    .take(16)
                                    .map(|d| clip(d, 128).into_owned())
                                    .collect(),
                            })
                        });
                        let index = index as usize;
                        answered[slot(kind, index)] = true;
                        outcome.decisions.push(Decision {
                            sample: label(kind, index),
                            name: sample_name(kind, index),
                            detail: std::sync::Arc::clone(detail),
                        });
                    }
                }
            }
            Err(failure) => {
                // Fail closed: everything this policy would have answered is denied; the
                // reason refers to the error (reported once) instead of copying it.
                let reads = result.reads.unwrap_or_else(|| vec!["*".into()]);
                let reason = format!(
                    "denied because policy `{}` failed ({}; see its error)",
                    failure.policy,
                    failure.kind.as_str()
                );
                let denied = std::sync::Arc::new(Detail {
                    verdict: Verdict::Deny,
                    status: None,
                    stage: "policy-error".to_string(),
                    file: None,
                    line: None,
                    method: None,
                    reason,
                    policy: Some(failure.policy.clone()),
                    depends_on: Vec::new(),
                });
                let mut deny = |kind: SampleKind, count: usize| {
                    for index in 0..count {
                        answered[slot(kind, index)] = true;
                        outcome.decisions.push(Decision {
                            sample: label(kind, index),
                            name: sample_name(kind, index),
                            detail: std::sync::Arc::clone(&denied),
                        });
                    }
                };
                if reads.iter().any(|r| r == "requests" || r == "*") {
                    deny(SampleKind::Request, plan.samples.requests.len());
                }
                if reads.iter().any(|r| r == "connections" || r == "*") {
                    deny(SampleKind::Connection, plan.samples.connections.len());
                }
                outcome.errors.push(failure);
            }
        }
    }

    let unanswered = std::sync::Arc::new(Detail {
        verdict: Verdict::Deny,
        status: None,
        stage: "none".to_string(),
        file: None,
        line: None,
        method: None,
        reason: "no policy answers this sample".to_string(),
        policy: None,
        depends_on: Vec::new(),
    });
    for (kind, count) in [
        (SampleKind::Request, plan.samples.requests.len()),
        (SampleKind::Connection, plan.samples.connections.len()),
    ] {
        for index in 0..count {
            if !answered[slot(kind, index)] {
                outcome.decisions.push(Decision {
                    sample: label(kind, index),
                    name: sample_name(kind, index),
                    detail: std::sync::Arc::clone(&unanswered),
                });
            }
        }
    }

    // A policy that reports a parser's diagnostic itself (pg-hba's `invalid-line`) takes it
    // over: the host's copy would say the same thing twice.
    let taken: std::collections::HashSet<(String, String, u32)> = outcome
        .findings
        .iter()
        .filter(|f| f.policy != HOST_POLICY)
        .map(|f| (f.code.clone(), f.file.clone(), f.line))
        .collect();
    outcome.findings.retain(|f| {
        f.policy != HOST_POLICY || !taken.contains(&(f.code.clone(), f.file.clone(), f.line))
    });

    if let Some(bundle) = &plan.bundle {
        bundle
            .apply(&mut outcome, crate::bundle::Date::today())
            .map_err(|problems| {
                let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("invalid bundle:\n{}", lines.join("\n"))
            })?;
    }
    crate::adopt::apply(&plan.adopt, documents, &mut outcome)?;
    outcome.decisions.sort_by_key(|d| d.sample);
    outcome.findings.sort_by(|a, b| {
        (
            a.file.as_str(),
            a.line,
            std::cmp::Reverse(a.severity),
            a.policy.as_str(),
            a.code.as_str(),
        )
            .cmp(&(
                b.file.as_str(),
                b.line,
                std::cmp::Reverse(b.severity),
                b.policy.as_str(),
                b.code.as_str(),
            ))
    });
    // One text per file (a derived document shares its file's path and text).
    let mut seen = std::collections::HashSet::new();
    outcome.files = std::mem::take(&mut prepared.documents)
        .into_iter()
        .filter(|d| seen.insert(d.path.clone()))
        .map(|d| (d.path, d.text))
        .collect();
    outcome.inputs = plan
        .files
        .iter()
        .map(|f| FileEntry {
            path: f.display.clone(),
            kind: Some(f.kind.name().to_string()),
            skipped: None,
        })
        .chain(plan.skipped.iter().map(|s| FileEntry {
            path: s.path.clone(),
            kind: None,
            skipped: Some(s.reason.clone()),
        }))
        .collect();
    outcome.inputs.sort_by(|a, b| a.path.cmp(&b.path));
    let kinds: Vec<&crate::formats::Kind> = plan.files.iter().map(|f| &f.kind).collect();
    outcome.versions = versions::assumed(&plan.samples.context, &kinds, &prepared.inference);
    outcome.deployment = Some(prepared.deployment);
    Ok(outcome)
}

impl Outcome {
    /// The PostgreSQL major version the run's answers assume (given or inferred; none when
    /// the run read no PostgreSQL file).
    pub fn postgres_version(&self) -> Option<u32> {
        self.versions
            .iter()
            .find(|a| a.software == "postgresql")
            .and_then(|a| a.version.parse().ok())
    }
}

struct PolicyResult {
    info: Option<PolicyInfo>,
    result: Result<(String, wit::Evaluation), Failure>,
    /// What the policy reads, when its metadata could be read.
    reads: Option<Vec<String>>,
}

/// The failure of a policy whose host thread panicked.
fn panicked(p: &PolicyRun) -> Failure {
    Failure {
        policy: p.source.label(),
        kind: FailureKind::Trap,
        message: "the host thread evaluating it panicked".to_string(),
    }
}

/// Refuses a loaded policy whose name is not its to take (see [`checks::check_name`]) or
/// is taken by a policy before it (the built-in ones come first).
fn check_names(plan: &Plan, loads: Vec<Result<Entry, Failure>>) -> Vec<Result<Entry, Failure>> {
    let builtins: Vec<&str> = builtin::BUILTIN_POLICIES.iter().map(|(n, _)| *n).collect();
    let mut seen: HashMap<String, String> = HashMap::new();
    loads
        .into_iter()
        .zip(&plan.policies)
        .map(|(load, run)| {
            let loaded = load?;
            let name = loaded.metadata().name.clone();
            let refuse = |message: String| Failure { policy: loaded.source().to_string(), kind: FailureKind::Load, message };
            let origin = match &run.source {
                PolicySource::Builtin(n, _) => checks::Origin::Builtin(n),
                PolicySource::File(..) => checks::Origin::Org,
            };
            checks::check_name(&name, origin, &builtins, plan.reserve_builtin_names).map_err(&refuse)?;
            if let Some(other) = seen.get(&name) {
                return Err(refuse(format!("another policy is also called `{name}` ({other}); a policy's name must be unique")));
            }
            seen.insert(name, loaded.source().to_string());
            Ok(loaded)
        })
        .collect()
}

fn evaluate_one(
    engine: &Engine,
    run: &PolicyRun,
    load: Result<Entry, Failure>,
    plan: &Plan,
    prepared: &Prepared,
) -> PolicyResult {
    let loaded: Loaded = match load {
        Ok(Entry::Loaded(l)) => l,
        Ok(Entry::Skipped { source, metadata }) => return skipped(source, metadata),
        Err(failure) => {
            return PolicyResult {
                info: None,
                result: Err(failure),
                reads: None,
            };
        }
    };
    let meta = loaded.metadata.clone();
    let info = PolicyInfo {
        name: meta.name.clone(),
        version: meta.version.clone(),
        source: loaded.source.clone(),
        cache: loaded.cache,
        skipped: None,
        metadata: Some(meta.clone()),
    };
    let reads = meta.reads.clone();
    // By name (`--settings NAME=FILE`) wins over the run's own (the bundle's, or
    // `--settings FILE` for every `--policy`).
    let settings = plan
        .settings_by_name
        .get(&meta.name)
        .cloned()
        .or_else(|| run.settings.clone())
        .unwrap_or_else(|| "{}".to_string());
    let mut session = engine.session(&loaded);
    let result = session.validate_settings(&settings).and_then(|()| {
        let wants = |what: &str| reads.iter().any(|r| r == what || r == "*");
        let input = wit::Input {
            documents: prepared
                .documents
                .iter()
                .filter(|d| wants(d.kind.name()))
                .cloned()
                .collect(),
            context: prepared.context.clone(),
            requests: if wants("requests") {
                plan.samples.requests.clone()
            } else {
                wit::RequestBatch::default()
            },
            connections: if wants("connections") {
                plan.samples.connections.clone()
            } else {
                Vec::new()
            },
            deployment: prepared.deployment.clone(),
            settings: settings.clone(),
        };
        let evaluation = session.evaluate(&input)?;
        checks::check_evaluation(&meta, &evaluation, &input)?;
        Ok((meta.name.clone(), evaluation))
    });
    PolicyResult {
        info: Some(info),
        result,
        reads: Some(reads),
    }
}
