//! `--format sarif`: one SARIF 2.1.0 log with one run, as GitHub code scanning (and
//! GitLab, Azure DevOps, the VS Code SARIF viewer) read it.
//!
//! - rules come from the policies' metadata: id `policy/code`, the code's summary and
//!   help, its default severity as a level, and the `security-severity` score GitHub
//!   ranks alerts by;
//! - results carry a physical location relative to the repository root (`%SRCROOT%`,
//!   see [`super::paths`]) with the start and end line, the JSON pointer as a logical
//!   location, and the finding's patch as a `fix`: the file's text before and after the
//!   patch, diffed by line into `replacements`;
//! - a failed policy is a tool execution notification, and the invocation is then not
//!   successful;
//! - the work spent on fixes is bounded ([`FIX_BUDGET`] bytes of file text applied and
//!   diffed per log): past it, results carry no `fixes` (`--diff` has every fix).
//!
//! A finding a `patrol.yaml` exception waived stays in the log with an external, accepted
//! suppression (code scanners show it as dismissed, not as an open alert); one an inline
//! `patrol:ignore` comment covers, with an `inSource` suppression and its reason.
//!
//! Every result has `partialFingerprints` (`patrolFindingHash/v1`, see
//! [`crate::fingerprint`]: by policy, code, file and content, not by line), so code
//! scanning keeps an alert's identity when lines move. With `--baseline`, results carry a
//! `baselineState`: `new`, `unchanged` (baselined), and `absent` for a baselined finding
//! that is gone (a `pass` result at its file, with no line).
//!
//! Secrets: the log holds no source text except a fix's inserted lines, and a fix whose
//! lines carry a secret is left out (a redacted fix would write `<redacted>` into the
//! file); the CLI then scrubs every secret value from the rendered log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;

use serde_json::json;
use serde_sarif::sarif::{
    ArtifactChange, ArtifactContent, ArtifactLocation, Fix, Invocation, Location, LogicalLocation,
    Message, MultiformatMessageString, Notification, PhysicalLocation, PropertyBag, Region,
    Replacement, ReportingConfiguration, ReportingDescriptor, Result as SarifResult, ResultLevel,
    Run, Sarif as SarifLog, Suppression, Tool, ToolComponent,
};

use super::paths::Paths;
use super::redact::{self, Secrets};
use super::{CiLevel, Mode, Render};
use crate::bundle::WaivedBy;
use crate::fingerprint::{self, Fingerprints};
use crate::patch;
use crate::run::{Finding, HOST_POLICY, Outcome, Patch, Severity};
use crate::suppress::SuppressedBy;

/// The URI of the schema the log follows (the OASIS errata 01 schema).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// How many bytes of file text the fixes of one log may apply and diff (see `fixes` in
/// [`Sarif::log`]).
pub const FIX_BUDGET: usize = 64 << 20;

/// The base id the relative artifact URIs are resolved against.
pub const SRCROOT: &str = "%SRCROOT%";

pub struct Sarif {
    pub paths: Paths,
}

impl Render for Sarif {
    fn render(&self, outcome: &Outcome, _mode: Mode, out: &mut dyn io::Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &self.log(outcome))?;
        writeln!(out)
    }
}

/// A rule as the log lists it, before it becomes a `reportingDescriptor`.
struct Rule {
    id: String,
    policy: String,
    code: String,
    severity: Severity,
    summary: String,
    help: String,
}

impl Sarif {
    /// The whole log.
    pub fn log(&self, outcome: &Outcome) -> SarifLog {
        let rules = rules(outcome);
        let index: BTreeMap<&str, usize> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let mut fixes: BTreeMap<usize, Option<Fix>> = BTreeMap::new();
        // Each fix applies its patch to the whole file and diffs it: bounded, so that
        // 10,000 patches of a 10,000-line file stay linear (past it, no `fixes`; `--diff`
        // has them all).
        let mut budget = FIX_BUDGET;
        let sizes: HashMap<&str, usize> = outcome
            .files
            .iter()
            .map(|(n, t)| (n.as_str(), t.len()))
            .collect();
        let secrets = Secrets::collect(outcome.files.iter().map(|(_, t)| t.as_str()));
        let mut results: Vec<SarifResult> = Vec::new();
        let fingerprints = Fingerprints::new(
            &self.paths,
            outcome.files.iter().map(|(n, t)| (n.as_str(), t.as_str())),
        );
        let with_baseline = outcome.adopt.baseline.is_some();
        for (f, set_aside) in every_finding(outcome) {
            let id = rule_id(f);
            let rule = index
                .get(id.as_str())
                .and_then(|&i| rules.get(i).map(|r| (i, r)));
            let fix = f.patch.and_then(|p| {
                fixes
                    .entry(p)
                    .or_insert_with(|| {
                        let patch = outcome.patches.get(p)?;
                        let size = sizes.get(patch.file.as_str()).copied().unwrap_or(0);
                        budget = budget.checked_sub(size.max(1))?;
                        self.fix(patch, &outcome.files, &secrets)
                    })
                    .clone()
            });
            let mut result = self.result(f, &id, rule, fix);
            result.partial_fingerprints = Some(BTreeMap::from([(
                fingerprint::SARIF_KEY.to_string(),
                fingerprints.of(f),
            )]));
            // A waived or suppressed finding stays in the log, suppressed: code scanners
            // show it as dismissed rather than as an open alert.
            let suppression = |kind: &str, justification: String| {
                Some(vec![
                    Suppression::builder()
                        .kind(json!(kind))
                        .status(json!("accepted"))
                        .justification(justification)
                        .build(),
                ])
            };
            match set_aside {
                SetAside::No => {}
                SetAside::Waived(by) => {
                    result.suppressions = suppression(
                        "external",
                        format!(
                            "{} (exception at {}, until {})",
                            by.reason, by.at, by.expires
                        ),
                    );
                }
                SetAside::Suppressed(by) => {
                    let until = by
                        .until
                        .as_deref()
                        .map(|u| format!(", until {u}"))
                        .unwrap_or_default();
                    result.suppressions = suppression(
                        "inSource",
                        format!("{} (patrol:ignore at {}{until})", by.reason, by.at),
                    );
                }
                SetAside::Baselined => {}
            }
            if with_baseline {
                let state = if matches!(set_aside, SetAside::Baselined) {
                    "unchanged"
                } else {
                    "new"
                };
                result.baseline_state = Some(json!(state));
            }
            results.push(result);
        }
        for gone in &outcome.adopt.absent {
            results.push(
                self.absent(
                    gone,
                    index
                        .get(format!("{}/{}", gone.policy, gone.code).as_str())
                        .copied(),
                ),
            );
        }

        let driver = ToolComponent::builder()
            .name("patrol")
            .full_name(format!("patrol {}", env!("CARGO_PKG_VERSION")))
            .version(env!("CARGO_PKG_VERSION"))
            .semantic_version(env!("CARGO_PKG_VERSION"))
            .short_description(text(env!("CARGO_PKG_DESCRIPTION")))
            .rules(rules.iter().map(descriptor).collect::<Vec<_>>())
            .build();
        let notifications: Vec<Notification> = outcome
            .errors
            .iter()
            .map(|e| {
                Notification::builder()
                    .level(json!("error"))
                    .message(Message::builder().text(e.to_string()).build())
                    .properties(properties(&[
                        ("policy", json!(e.policy)),
                        ("kind", json!(e.kind)),
                    ]))
                    .build()
            })
            .collect();
        let mut invocation = Invocation::builder()
            .execution_successful(outcome.errors.is_empty())
            .build();
        if !notifications.is_empty() {
            invocation.tool_execution_notifications = Some(notifications);
        }
        let base_ids = BTreeMap::from([(
            SRCROOT.to_string(),
            ArtifactLocation::builder()
                .uri(self.paths.root_uri())
                .description(
                    Message::builder()
                        .text("the root of the repository patrol ran in")
                        .build(),
                )
                .build(),
        )]);
        let run = Run::builder()
            .tool(Tool::builder().driver(driver).build())
            .invocations(vec![invocation])
            .original_uri_base_ids(base_ids)
            .column_kind(json!("unicodeCodePoints"))
            .results(results)
            .build();
        SarifLog::builder()
            .schema(SCHEMA)
            .version(json!("2.1.0"))
            .runs(vec![run])
            .build()
    }

    fn result(
        &self,
        f: &Finding,
        id: &str,
        rule: Option<(usize, &Rule)>,
        fix: Option<Fix>,
    ) -> SarifResult {
        let mut message = f.message.clone();
        // The rule's help holds the code's remediation; repeat it only when this finding
        // says something else.
        if !f.remediation.is_empty()
            && rule.is_none_or(|(_, r)| r.help.trim() != f.remediation.trim())
        {
            message = format!("{message}\n\nFix: {}", f.remediation);
        }
        let mut region = Region::builder()
            .start_line(i64::from(f.line.max(1)))
            .build();
        if let Some(end) = f.end_line.filter(|&e| e > f.line) {
            region.end_line = Some(i64::from(end));
        }
        let physical = PhysicalLocation::builder()
            .artifact_location(self.artifact(&f.file))
            .region(region)
            .build();
        let mut location = Location::builder().physical_location(physical).build();
        if let Some(pointer) = f.pointer.as_deref().filter(|p| !p.is_empty()) {
            location.logical_locations = Some(vec![
                LogicalLocation::builder()
                    .fully_qualified_name(pointer)
                    .name(pointer.rsplit('/').next().unwrap_or(pointer))
                    .kind("property")
                    .build(),
            ]);
        }
        let mut result = SarifResult::builder()
            .rule_id(id)
            .level(level(f.severity))
            .message(Message::builder().text(message).build())
            .locations(vec![location])
            .properties(properties(&[
                ("severity", json!(f.severity)),
                ("policy", json!(f.policy)),
            ]))
            .build();
        if let Some((i, _)) = rule {
            result.rule_index = Some(i as i64);
        }
        if let Some(fix) = fix {
            result.fixes = Some(vec![fix]);
        }
        result
    }

    /// A baselined finding that is gone: a `pass` result at its file, `absent`.
    fn absent(&self, gone: &crate::baseline::Entry, rule: Option<usize>) -> SarifResult {
        // The entry names its file from the repository root (or absolutely, outside one).
        let artifact = if std::path::Path::new(&gone.file).is_absolute() {
            self.artifact(&gone.file)
        } else {
            let uri =
                percent_encoding::utf8_percent_encode(&gone.file, super::paths::PATH).to_string();
            let mut location = ArtifactLocation::builder().uri(uri).build();
            location.uri_base_id = Some(SRCROOT.to_string());
            location
        };
        let physical = PhysicalLocation::builder()
            .artifact_location(artifact)
            .build();
        let mut result = SarifResult::builder()
            .rule_id(format!("{}/{}", gone.policy, gone.code))
            .kind(serde_sarif::sarif::ResultKind::Pass)
            .level(ResultLevel::None)
            .message(
                Message::builder()
                    .text("a baselined finding that is no longer reported")
                    .build(),
            )
            .locations(vec![
                Location::builder().physical_location(physical).build(),
            ])
            .build();
        result.rule_index = rule.map(|i| i as i64);
        result.baseline_state = Some(json!("absent"));
        result.partial_fingerprints = Some(BTreeMap::from([(
            fingerprint::SARIF_KEY.to_string(),
            gone.fingerprint.clone(),
        )]));
        result
    }

    fn artifact(&self, file: &str) -> ArtifactLocation {
        let (uri, relative) = self.paths.uri(file);
        let mut location = ArtifactLocation::builder().uri(uri).build();
        if relative {
            location.uri_base_id = Some(SRCROOT.to_string());
        }
        location
    }

    /// The fix of one patch: the patch applied alone to its file, as line replacements.
    /// None when it does not apply, changes nothing, or would show a secret.
    fn fix(&self, patch: &Patch, files: &[(String, String)], secrets: &Secrets) -> Option<Fix> {
        let (changes, _skipped) = patch::apply_all(&[patch], files);
        let change = changes.into_iter().next()?;
        let replacements = replacements(&change.before, &change.after)?;
        let shows_secret = replacements.iter().any(|r| {
            r.inserted_content
                .as_ref()
                .and_then(|c| c.text.as_deref())
                .is_some_and(|t| secrets.found_in(t))
        });
        if shows_secret {
            return None;
        }
        let artifact = ArtifactChange::builder()
            .artifact_location(self.artifact(&change.file))
            .replacements(replacements)
            .build();
        Some(
            Fix::builder()
                .description(
                    Message::builder()
                        .text(format!("{} ({})", patch.description, patch.policy))
                        .build(),
                )
                .artifact_changes(vec![artifact])
                .build(),
        )
    }
}

/// The rules of every policy that ran, in the order they ran, then the codes findings use
/// that no metadata declares (the host's own parse problems, a policy's undeclared code).
fn rules(outcome: &Outcome) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    // The ids listed so far (a scan of `rules` per finding is quadratic).
    let mut ids: HashSet<String> = HashSet::new();
    for info in &outcome.policies {
        let Some(meta) = &info.metadata else { continue };
        for c in &meta.codes {
            ids.insert(format!("{}/{}", meta.name, c.code));
            rules.push(Rule {
                id: format!("{}/{}", meta.name, c.code),
                policy: meta.name.clone(),
                code: c.code.clone(),
                severity: c.severity.into(),
                summary: c.summary.clone(),
                help: c.help.clone(),
            });
        }
    }
    for (f, _) in every_finding(outcome) {
        let id = rule_id(f);
        if !ids.insert(id.clone()) {
            continue;
        }
        let known = match f.policy.as_str() {
            HOST_POLICY => host_code(&f.code),
            crate::verify::POLICY => crate::verify::CODES
                .iter()
                .find(|c| c.code == f.code)
                .map(|c| (c.summary, c.help)),
            _ => None,
        };
        let (summary, help) = match known {
            Some((summary, help)) => (summary.to_string(), help.to_string()),
            None => (
                format!("`{}` finding of policy `{}`", f.code, f.policy),
                f.remediation.clone(),
            ),
        };
        rules.push(Rule {
            id,
            policy: f.policy.clone(),
            code: f.code.clone(),
            severity: f.severity,
            summary,
            help,
        });
    }
    rules
}

/// Why a finding in the log does not count.
#[derive(Debug, Clone, Copy)]
enum SetAside<'a> {
    No,
    Waived(&'a WaivedBy),
    Suppressed(&'a SuppressedBy),
    Baselined,
}

/// The findings, then the findings a `patrol.yaml` exception waived, an inline comment
/// suppressed, or the baseline holds.
fn every_finding(outcome: &Outcome) -> impl Iterator<Item = (&Finding, SetAside<'_>)> {
    let adopt = &outcome.adopt;
    outcome
        .findings
        .iter()
        .map(|f| (f, SetAside::No))
        .chain(
            outcome
                .waived
                .iter()
                .map(|w| (&w.finding, SetAside::Waived(&w.exception))),
        )
        .chain(
            adopt
                .suppressed
                .iter()
                .map(|s| (&s.finding, SetAside::Suppressed(&s.suppression))),
        )
        .chain(
            adopt
                .baselined
                .iter()
                .map(|b| (&b.finding, SetAside::Baselined)),
        )
}

/// What the host's own finding codes (problems met while parsing) mean.
fn host_code(code: &str) -> Option<(&'static str, &'static str)> {
    crate::run::HOST_CODES
        .iter()
        .find(|c| c.code == code)
        .map(|c| (c.summary, c.help))
}

fn rule_id(f: &Finding) -> String {
    format!("{}/{}", f.policy, f.code)
}

fn descriptor(rule: &Rule) -> ReportingDescriptor {
    let summary = if rule.summary.is_empty() {
        rule.code.clone()
    } else {
        rule.summary.clone()
    };
    let help = if rule.help.is_empty() {
        summary.clone()
    } else {
        rule.help.clone()
    };
    let markdown = format!("**{}**\n\n{}", summary, help);
    let mut props = properties(&[
        (
            "security-severity",
            json!(rule.severity.security_severity()),
        ),
        ("severity", json!(rule.severity)),
    ]);
    props.tags = Some(vec!["security".to_string(), rule.policy.clone()]);
    ReportingDescriptor::builder()
        .id(rule.id.clone())
        .name(rule.code.clone())
        .short_description(text(&summary))
        .full_description(text(&help))
        .help(
            MultiformatMessageString::builder()
                .text(help.clone())
                .markdown(markdown)
                .build(),
        )
        .default_configuration(
            ReportingConfiguration::builder()
                .level(json!(level_name(rule.severity)))
                .build(),
        )
        .properties(props)
        .build()
}

fn text(s: &str) -> MultiformatMessageString {
    MultiformatMessageString::builder().text(s).build()
}

fn properties(pairs: &[(&str, serde_json::Value)]) -> PropertyBag {
    let mut bag = PropertyBag::builder().build();
    for (k, v) in pairs {
        bag.additional_properties
            .insert((*k).to_string(), v.clone());
    }
    bag
}

fn level(s: Severity) -> ResultLevel {
    match s.ci_level() {
        CiLevel::Error => ResultLevel::Error,
        CiLevel::Warning => ResultLevel::Warning,
        CiLevel::Note => ResultLevel::Note,
    }
}

fn level_name(s: Severity) -> &'static str {
    match s.ci_level() {
        CiLevel::Error => "error",
        CiLevel::Warning => "warning",
        CiLevel::Note => "note",
    }
}

/// A position in a text: 1-based line and column (in Unicode code points), as SARIF counts
/// them. The end of a text that ends with a newline is column 1 of the (empty) line after.
fn position(text: &str, offset: usize) -> (i64, i64) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].trim_end_matches('\r').chars().count() + 1;
    (line as i64, column as i64)
}

/// The line diff of `before` → `after` as SARIF replacements: each changed run of lines is
/// a deleted region (from the start of its first line to the start of the line after it)
/// and the new lines as inserted content. None when an inserted line carries a secret.
pub fn replacements(before: &str, after: &str) -> Option<Vec<Replacement>> {
    let diff = similar::TextDiff::from_lines(before, after);
    let old: Vec<&str> = before.split_inclusive('\n').collect();
    let new: Vec<&str> = after.split_inclusive('\n').collect();
    let offset = |lines: &[&str], index: usize| -> usize {
        lines[..index.min(lines.len())]
            .iter()
            .map(|l| l.len())
            .sum()
    };
    let mut out = Vec::new();
    for op in diff.ops() {
        let (old_range, new_range) = (op.old_range(), op.new_range());
        if matches!(op.tag(), similar::DiffTag::Equal) {
            continue;
        }
        let inserted: String = new.get(new_range.clone()).unwrap_or_default().concat();
        if inserted.lines().any(redact::is_secret_line) {
            return None;
        }
        let (start, end) = (offset(&old, old_range.start), offset(&old, old_range.end));
        let (start_line, start_column) = position(before, start);
        let (end_line, end_column) = position(before, end);
        let region = Region::builder()
            .start_line(start_line)
            .start_column(start_column)
            .end_line(end_line)
            .end_column(end_column)
            .build();
        let mut replacement = Replacement::builder().deleted_region(region).build();
        if !inserted.is_empty() {
            replacement.inserted_content = Some(ArtifactContent::builder().text(inserted).build());
        }
        out.push(replacement);
    }
    Some(out)
}

#[cfg(test)]
#[path = "sarif_tests.rs"]
mod tests;
