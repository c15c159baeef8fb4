//! The proof of a round of fixes: which candidate patches may be offered.
//!
//! Cheap checks first, patch by patch, on the texts alone: the changed file must not gain
//! parse diagnostics (`invalid-line`, `invalid-yaml`…), the lines it adds must not name
//! a certificate, key or CA path that no input names, and no link may change at one end only (or at
//! its end when the other end is unknown). Then the flows: the patches that passed are
//! applied together to an in-memory copy, the model is rebuilt and every required flow
//! decided again; if one that was allowed is now refused or undecidable, the patches
//! that touch the flows' files are tried one by one to find those to withhold.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use serde::Serialize;

use super::FlowCount;
use super::window::{self, Window};
use crate::deployment::decide::{self, FlowDecision, FlowVerdict};
use crate::deployment::endpoint;
use crate::formats::{self, ParseContext};
use crate::patch;
use crate::run::{Outcome, Patch, Plan};
use crate::wit;

/// Why a fix is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WithheldReason {
    /// It turns a required flow from allowed into refused or undecidable.
    BreaksFlow,
    /// The file it leaves is one its parser (and server) reports invalid.
    InvalidFile,
    /// It names a certificate, key or CA path that no input names.
    InventedPath,
    /// It changes one end of a link only, or a link whose other end is unknown.
    OneLinkEnd,
}

/// The required flow a withheld fix would break.
#[derive(Debug, Clone, Serialize)]
pub struct FlowRef {
    pub kind: String,
    pub description: String,
    /// Where the deployment makes the flow needed.
    pub file: String,
    pub line: u32,
    /// Its decision after the fix.
    pub after: String,
    pub reason: String,
}

/// A fix that is not offered, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Withheld {
    pub policy: String,
    /// The patch's file and description.
    pub file: String,
    pub description: String,
    pub reason: WithheldReason,
    /// One line: "would refuse replication from 10.0.1.12 as `replicator` (patroni.yml:48)".
    pub message: String,
    pub flow: Option<FlowRef>,
}

impl Withheld {
    pub fn same_patch(&self, p: &Patch) -> bool {
        self.policy == p.policy && self.file == p.file && self.description == p.description
    }

    fn of(p: &Patch, reason: WithheldReason, message: String, flow: Option<FlowRef>) -> Withheld {
        Withheld {
            policy: p.policy.clone(),
            file: p.file.clone(),
            description: p.description.clone(),
            reason,
            message,
            flow,
        }
    }
}

/// The patches a round may apply, and those it withholds.
#[derive(Debug, Default)]
pub struct Proven {
    pub accepted: Vec<usize>,
    pub withheld: Vec<Withheld>,
    pub flows: FlowCount,
}

impl Proven {
    /// Every candidate, unproven (`patrol test` of a policy without a deployment).
    pub fn unproven(candidates: Vec<usize>) -> Proven {
        Proven {
            accepted: candidates,
            ..Proven::default()
        }
    }
}

/// The number of flows and allowed flows.
pub fn count(decided: &[FlowDecision]) -> FlowCount {
    FlowCount {
        total: decided.len(),
        allowed: decided
            .iter()
            .filter(|d| d.verdict == FlowVerdict::Allow)
            .count(),
    }
}

/// Proves the candidate patches (indexes into `outcome.patches`) of the run of `plan`.
pub fn prove(plan: &Plan, outcome: &Outcome, candidates: &[usize]) -> Result<Proven> {
    let before_dep = outcome
        .deployment
        .clone()
        .unwrap_or_else(crate::deployment::empty);
    let mut proven = Proven::default();
    let mut passed = Vec::new();
    let mut texts = Texts {
        ctx: ParseContext {
            postgres_version: outcome.postgres_version(),
            tree: Some(crate::run::include_tree(plan)),
        },
        files: HashMap::new(),
        named: HashMap::new(),
    };
    for &i in candidates {
        let Some(p) = outcome.patches.get(i) else {
            continue;
        };
        match static_check(plan, outcome, p, &mut texts) {
            Some(w) => proven.withheld.push(w),
            None => passed.push(i),
        }
    }
    let passed = link_check(plan, outcome, &before_dep, passed, &mut proven.withheld);
    if before_dep.flows.is_empty() {
        proven.accepted = passed;
        return Ok(proven);
    }
    let before = decide::decide(plan, outcome, &before_dep)?;
    proven.flows = count(&before);
    let relevant = flow_files(&before_dep);
    let (touching, rest): (Vec<usize>, Vec<usize>) = passed.into_iter().partition(|&i| {
        outcome
            .patches
            .get(i)
            .is_some_and(|p| relevant.contains(&p.file))
    });
    proven.accepted.extend(rest);
    if touching.is_empty() {
        return Ok(proven);
    }
    if broken(plan, outcome, &before_dep, &before, &touching)?.is_none() {
        proven.accepted.extend(touching);
        return Ok(proven);
    }
    // Something breaks: take the patches one by one, each on top of those already
    // taken (two patches can break a flow only together: one deletes the line a flow
    // falls through to, the other changes the line it then meets).
    let mut taken: Vec<usize> = Vec::new();
    for i in touching {
        let Some(p) = outcome.patches.get(i) else {
            continue;
        };
        let mut with = taken.clone();
        with.push(i);
        match broken(plan, outcome, &before_dep, &before, &with)? {
            None => taken.push(i),
            Some((flow, after)) => {
                let place = format!("{}:{}", flow.source.file, flow.source.line);
                let message = if after.verdict == FlowVerdict::Deny {
                    format!("would refuse {} ({place})", flow.description)
                } else {
                    // The host's reason for "unknown" is its last clause.
                    let why = after.reason.rsplit("; ").next().unwrap_or(&after.reason);
                    format!(
                        "cannot show that {} ({place}) still works: {why}",
                        flow.description
                    )
                };
                let r = FlowRef {
                    kind: crate::cli::flows::kind_name(flow.kind).to_string(),
                    description: flow.description.clone(),
                    file: flow.source.file.clone(),
                    line: flow.source.line,
                    after: after.verdict.as_str().to_string(),
                    reason: after.reason.clone(),
                };
                proven.withheld.push(Withheld::of(
                    p,
                    WithheldReason::BreaksFlow,
                    message,
                    Some(r),
                ));
            }
        }
    }
    proven.accepted.extend(taken);
    Ok(proven)
}

/// Files whose text decides a flow: the files of the members that answer flows, where
/// flows and links are written, and the other ends of links.
fn flow_files(dep: &wit::Deployment) -> Vec<String> {
    let mut files: Vec<String> = dep.flows.iter().map(|f| f.source.file.clone()).collect();
    for c in &dep.clusters {
        for m in c.members.iter().filter(|m| {
            dep.flows
                .iter()
                .any(|f| f.cluster == c.name && f.target.as_deref() == Some(m.name.as_str()))
        }) {
            files.extend(m.files.iter().cloned());
        }
    }
    for l in &dep.links {
        files.push(l.from.file.clone());
        files.extend(l.to.as_ref().map(|t| t.file.clone()));
    }
    files.sort();
    files.dedup();
    files
}

/// The first flow allowed before and not after applying `patches`, with its decision.
fn broken(
    plan: &Plan,
    outcome: &Outcome,
    before_dep: &wit::Deployment,
    before: &[FlowDecision],
    patches: &[usize],
) -> Result<Option<(wit::RequiredFlow, FlowDecision)>> {
    let Some(after_plan) = patched_plan(plan, outcome, patches) else {
        return Ok(None);
    };
    let docs = crate::run::documents(&after_plan);
    let after_dep = crate::deployment::build(&docs, &after_plan.samples.context);
    let after = decide::decide(&after_plan, outcome, &after_dep)?;
    let key = |f: &wit::RequiredFlow| {
        (
            f.cluster.clone(),
            f.description.clone(),
            f.source.file.clone(),
        )
    };
    let now: HashMap<_, _> = after_dep.flows.iter().map(key).zip(after.iter()).collect();
    for (f, d) in before_dep.flows.iter().zip(before) {
        if d.verdict != FlowVerdict::Allow {
            continue;
        }
        if let Some(a) = now.get(&key(f))
            && a.verdict != FlowVerdict::Allow
        {
            return Ok(Some((f.clone(), (*a).clone())));
        }
    }
    Ok(None)
}

/// What every patch's static check of one round shares: the parse context (the include
/// tree is resolved on disk), and per file what its text was before any patch (its
/// diagnostics, its lines, for a pg_hba.conf its records), computed once per file, not
/// once per patch; and whether each certificate path is named by an input.
struct Texts<'a> {
    ctx: ParseContext,
    files: HashMap<&'a str, Before<'a>>,
    named: HashMap<String, bool>,
}

/// A file before the round's patches.
struct Before<'a> {
    counts: BTreeMap<String, usize>,
    lines: HashSet<&'a str>,
    /// A pg_hba.conf whose patches are checked on their windows ([`window`]).
    hba: Option<window::HbaFile<'a>>,
}

impl<'a> Before<'a> {
    fn new(file: &crate::discover::InputFile, text: &'a str, ctx: &ParseContext) -> Before<'a> {
        let doc = parse(file, text, ctx);
        let counts = diagnostics(&doc, ctx);
        let hba = match (&file.kind, &doc.body) {
            (formats::Kind::PgHba, wit::Body::Hba(rules)) => {
                let others = doc
                    .diagnostics
                    .iter()
                    .filter(|d| d.code != NO_ENTRIES)
                    .count();
                window::HbaFile::new(text, rules.len(), others)
            }
            _ => None,
        };
        Before {
            counts,
            lines: text.lines().collect(),
            hba,
        }
    }
}

/// The diagnostic a pg_hba.conf with no rule and no other diagnostic gets.
const NO_ENTRIES: &str = "no-entries";

fn parse(file: &crate::discover::InputFile, text: &str, ctx: &ParseContext) -> wit::Document {
    formats::document(
        file.kind.clone(),
        &file.display,
        &file.path,
        text.to_string(),
        ctx,
    )
}

/// Each diagnostic code of `doc` (and of the documents derived from it), and how many
/// times it occurs.
fn diagnostics(doc: &wit::Document, ctx: &ParseContext) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let derived = formats::patroni_hba::derived(std::slice::from_ref(doc), ctx);
    for d in doc
        .diagnostics
        .iter()
        .chain(derived.iter().flat_map(|d| &d.diagnostics))
    {
        *counts.entry(d.code.clone()).or_insert(0) += 1;
    }
    counts
}

/// The checks on the patch's text alone.
fn static_check<'a>(
    plan: &Plan,
    outcome: &'a Outcome,
    p: &Patch,
    texts: &mut Texts<'a>,
) -> Option<Withheld> {
    let (name, text) = outcome.files.iter().find(|(name, _)| *name == p.file)?;
    let file = plan.files.iter().find(|f| f.display == p.file)?;
    let ctx = &texts.ctx;
    let before = texts
        .files
        .entry(name.as_str())
        .or_insert_with(|| Before::new(file, text, ctx));
    // (b) the file must not gain parse problems: the first code (by name) that occurs
    // more often after the patch than before.
    let (gained, after) = match hba_window(before, p) {
        Some(Window::Unchanged) => return None,
        Some(Window::Changed { before: old, after }) => {
            let Some(hba) = &before.hba else {
                return None;
            };
            let old = parse(file, &old, ctx);
            let new = parse(file, &after, ctx);
            (window_gain(hba, &before.counts, &old, &new), after)
        }
        Some(Window::Whole) | None => {
            let (changes, _) = patch::apply_all(&[p], &outcome.files);
            let change = changes.into_iter().next()?;
            let new = diagnostics(&parse(file, &change.after, ctx), ctx);
            let gained = new
                .into_iter()
                .find(|(code, n)| *n > before.counts.get(code).copied().unwrap_or(0))
                .map(|(code, _)| code);
            (gained, change.after)
        }
    };
    if let Some(code) = gained {
        return Some(Withheld::of(
            p,
            WithheldReason::InvalidFile,
            format!(
                "it would leave `{}` with a new `{code}` problem that its server refuses",
                p.file
            ),
            None,
        ));
    }
    // (c) no invented certificate, key or CA paths.
    for line in after.lines().filter(|l| !before.lines.contains(l)) {
        for path in absolute_paths(line) {
            let named = *texts
                .named
                .entry(path.clone())
                .or_insert_with(|| named(plan, outcome, &path));
            if !named {
                return Some(Withheld::of(
                    p,
                    WithheldReason::InventedPath,
                    format!(
                        "it names `{path}`, a certificate or key path no input names; give the real path by hand"
                    ),
                    None,
                ));
            }
        }
    }
    None
}

/// The window of a pg_hba.conf patch made of line edits only; none for any other patch
/// (a file of another kind, or a patch the applier refuses or renders otherwise).
fn hba_window(before: &Before<'_>, p: &Patch) -> Option<Window> {
    let hba = before.hba.as_ref()?;
    if p.refused.is_some() || p.edits.is_empty() {
        return None;
    }
    let edits: Option<Vec<&wit::LineEdit>> = p
        .edits
        .iter()
        .map(|e| match e {
            wit::Edit::Lines(l) => Some(l),
            _ => None,
        })
        .collect();
    Some(hba.window(&edits?))
}

/// The first code (by name) that the file has more often with the window's new text
/// than without: the file's own count, minus the old window's, plus the new window's.
/// `no-entries` is the whole file's: the file has none of its rules and other
/// diagnostics left.
fn window_gain(
    hba: &window::HbaFile<'_>,
    counts: &BTreeMap<String, usize>,
    old: &wit::Document,
    new: &wit::Document,
) -> Option<String> {
    let ((was, old_rules), (now, new_rules)) = (tally(old), tally(new));
    let mut gained: Vec<&str> = now
        .iter()
        .filter(|(code, n)| **n > was.get(*code).copied().unwrap_or(0))
        .map(|(code, _)| *code)
        .collect();
    let total = |all: usize, out: usize, into: usize| (all + into).saturating_sub(out);
    let rules = total(hba.rules, old_rules, new_rules);
    let others = total(hba.diagnostics, was.values().sum(), now.values().sum());
    if rules == 0 && others == 0 && counts.get(NO_ENTRIES).copied().unwrap_or(0) == 0 {
        gained.push(NO_ENTRIES);
    }
    gained.into_iter().min().map(str::to_string)
}

/// Each diagnostic code of a window but `no-entries`, how many times it occurs, and the
/// window's number of rules.
fn tally(doc: &wit::Document) -> (BTreeMap<&str, usize>, usize) {
    let mut by_code: BTreeMap<&str, usize> = BTreeMap::new();
    for d in doc.diagnostics.iter().filter(|d| d.code != NO_ENTRIES) {
        *by_code.entry(d.code.as_str()).or_insert(0) += 1;
    }
    let rules = match &doc.body {
        wit::Body::Hba(rules) => rules.len(),
        _ => 0,
    };
    (by_code, rules)
}

/// Whether a certificate path is named by an input, or by a policy's settings (the
/// user's own word for where a certificate lives on the host).
fn named(plan: &Plan, outcome: &Outcome, path: &str) -> bool {
    outcome.files.iter().any(|(_, t)| t.contains(path))
        || plan
            .policies
            .iter()
            .filter_map(|p| p.settings.as_deref())
            .chain(plan.settings_by_name.values().map(String::as_str))
            .any(|t| t.contains(path))
        || plan
            .files
            .iter()
            .any(|f| f.path.ends_with(path.trim_start_matches('/')))
}

/// The plan with `patches` (indexes into `outcome.patches`) applied to its files, for a
/// second run of the same policies on the same samples; `None` when they change nothing.
/// No bundle, skip list or adoption options: the second run is compared, not reported.
fn patched_plan(plan: &Plan, outcome: &Outcome, patches: &[usize]) -> Option<Plan> {
    let list: Vec<&Patch> = patches
        .iter()
        .filter_map(|&i| outcome.patches.get(i))
        .collect();
    let (changes, _) = patch::apply_all(&list, &outcome.files);
    if changes.is_empty() {
        return None;
    }
    let mut after = Plan {
        bundle: None,
        skipped: Vec::new(),
        adopt: Default::default(),
        ..plan.clone()
    };
    for c in changes {
        if let Some(f) = after.files.iter_mut().find(|f| f.display == c.file) {
            f.text = c.after;
        }
    }
    Some(after)
}

/// The deployment model after applying `patches` (indexes into `outcome.patches`).
fn model_after(plan: &Plan, outcome: &Outcome, patches: &[usize]) -> wit::Deployment {
    match patched_plan(plan, outcome, patches) {
        Some(after) => {
            crate::deployment::build(&crate::run::documents(&after), &plan.samples.context)
        }
        None => crate::deployment::build(&crate::run::documents(plan), &plan.samples.context),
    }
}

/// (d) both ends of a link, or none: judged on the round's patches together (the two
/// ends of a link are two patches, often of one policy, in the same round). When they
/// leave a link whose ends disagree, each patch that does so on its own is withheld.
fn link_check(
    plan: &Plan,
    outcome: &Outcome,
    before_dep: &wit::Deployment,
    passed: Vec<usize>,
    withheld: &mut Vec<Withheld>,
) -> Vec<usize> {
    if before_dep.links.is_empty() {
        return passed;
    }
    let mut kept = passed;
    // Each pass withholds the patches of the files of a link left disagreeing, until
    // every link's ends agree (the patches that change the two ends of a link together
    // stay together).
    loop {
        let bad = disagreements(before_dep, &model_after(plan, outcome, &kept));
        if bad.is_empty() {
            return kept;
        }
        // Of the patches of the disagreeing links' files, those that leave a link
        // disagreeing on their own.
        let (out, rest): (Vec<usize>, Vec<usize>) = kept.into_iter().partition(|&i| {
            outcome
                .patches
                .get(i)
                .is_some_and(|p| bad.iter().any(|(_, files)| files.contains(&p.file)))
                && !disagreements(before_dep, &model_after(plan, outcome, &[i])).is_empty()
        });
        if out.is_empty() {
            return rest;
        }
        for i in out {
            let Some(p) = outcome.patches.get(i) else {
                continue;
            };
            let message = bad
                .iter()
                .find(|(_, files)| files.contains(&p.file))
                .map(|(m, _)| m.clone())
                .unwrap_or_default();
            withheld.push(Withheld::of(p, WithheldReason::OneLinkEnd, message, None));
        }
        kept = rest;
    }
}

/// Every link whose ends the change leaves disagreeing (or changed at its end while the
/// other end is unknown), with the files of its ends.
fn disagreements(before: &wit::Deployment, after: &wit::Deployment) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let same = |a: &wit::Endpoint, b: &wit::Endpoint| {
        a.host == b.host && a.port == b.port && a.scheme == b.scheme
    };
    // Both ends name the same port and, when both say it, the same scheme.
    let agree = |l: &wit::Link| {
        l.listener.as_ref().is_some_and(|s| {
            l.target.port == s.port
                && (l.target.scheme.is_none() || s.scheme.is_none() || l.target.scheme == s.scheme)
        })
    };
    for (b, a) in before.links.iter().zip(&after.links) {
        if b.kind != a.kind || b.from.file != a.from.file || b.from.line != a.from.line {
            continue;
        }
        let changed = !same(&b.target, &a.target)
            || match (&b.listener, &a.listener) {
                (Some(x), Some(y)) => !same(x, y),
                (None, None) => false,
                _ => true,
            };
        if !changed {
            continue;
        }
        if b.to.is_none() {
            out.push((
                format!(
                    "it changes the link at {}:{} to {}, whose other end is not among the inputs",
                    b.from.file,
                    b.from.line,
                    show(&b.target)
                ),
                vec![b.from.file.clone()],
            ));
            continue;
        }
        if agree(b) && !agree(a) {
            let (to_file, to_line) =
                b.to.as_ref()
                    .map_or((String::new(), 0), |t| (t.file.clone(), t.line));
            out.push((
                format!(
                "it changes one end of the link {}:{} → {to_file}:{to_line} ({} → {}) and not the other",
                b.from.file,
                b.from.line,
                show(&b.target),
                show(&a.target)
            ),
                vec![b.from.file.clone(), to_file.clone()],
            ));
        }
    }
    out
}

fn show(e: &wit::Endpoint) -> String {
    match &e.scheme {
        Some(s) => format!("{s}://{}", endpoint::show(e)),
        None => endpoint::show(e),
    }
}

/// Certificate, key and CA file paths in a line: absolute paths (words starting with `/`
/// with a second component) whose file name has a certificate or key extension. A URI's
/// query (`sslrootcert=/a/root.crt&sslcrl=…`) is split at `&` and `?`. Other paths
/// (`/bin/kill` in a command) are left alone: what must never be invented is the TLS
/// material a server would refuse to start without.
fn absolute_paths(line: &str) -> Vec<String> {
    const EXTENSIONS: &[&str] = &[
        "crt", "pem", "key", "cert", "cer", "der", "p12", "pfx", "crl", "csr", "jks", "ca",
    ];
    line.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '=' | ',' | '`' | '(' | ')' | '[' | ']' | '{' | '}' | '&' | '?'
            )
    })
    .map(|w| w.trim_end_matches([';', ':', '.']))
    .filter(|w| w.starts_with('/') && w[1..].contains('/') && !w.starts_with("//"))
    .filter(|w| {
        let name = w.rsplit('/').next().unwrap_or("");
        name.rsplit_once('.')
            .is_some_and(|(_, ext)| EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
    })
    .map(str::to_string)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::absolute_paths;

    #[test]
    fn finds_absolute_paths() {
        assert_eq!(
            absolute_paths(
                "    server pg1 10.0.0.1:5432 check-ssl verify required ca-file /etc/haproxy/ca.crt"
            ),
            vec!["/etc/haproxy/ca.crt"]
        );
        assert_eq!(
            absolute_paths("  cacert: '/etc/etcd/ssl/ca.crt'"),
            vec!["/etc/etcd/ssl/ca.crt"]
        );
        assert!(absolute_paths("host all all 10.0.0.0/8 scram-sha-256").is_empty());
        assert!(absolute_paths("  protocol: https").is_empty());
        // Commands are not certificate material.
        assert!(absolute_paths("  on_role_change: /bin/kill -HUP 1").is_empty());
        // A URI's query is split into its parameters.
        assert_eq!(
            absolute_paths(
                "url: postgres://h/db?sslrootcert=/etc/ssl/root.crt&sslcrl=/etc/ssl/x.crl"
            ),
            vec!["/etc/ssl/root.crt", "/etc/ssl/x.crl"]
        );
    }
}
