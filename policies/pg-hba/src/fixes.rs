//! Findings and patches of one pg_hba.conf.
//!
//! Order matters for a fix to be a fixpoint (a second check after `--fix` finds nothing
//! to patch):
//! 1. records shadowed in the file as written are reported (their other findings are
//!    moot: no connection reaches them) and deleted;
//! 2. every other record gets its [`crate::checks`] findings and column fixes;
//! 3. the file *as it will be after those fixes* (a `host` turned `hostssl` may now be
//!    covered by an earlier `hostssl`) is analysed again; records shadowed or redundant
//!    there are deleted too;
//! 4. each record's fixes become one structured patch (the host renders it in the line's
//!    own text, alignment and comment kept), and every finding of the line points at it.

use std::collections::BTreeMap;

use policy_guest::hba::roles::Roles;
use policy_guest::hba::rule::{Method, Rule};
use policy_guest::hba::shadow::Unreachable;
use policy_guest::hba::{Matcher, ServerFacts};
use policy_guest::net::IpNet;
use policy_guest::report::{hba_change, hba_patch};
use policy_guest::{
    HbaAddress, HbaChange, HbaEdit, HbaInsert, HbaNetwork, HbaNew, HbaPlace, HbaRule, Report,
    Severity,
};

use crate::checks::{Env, LineFix, Pending, check_rule};

/// Why a record goes away.
#[derive(Debug, Clone)]
enum Gone {
    /// Shadowed in the file as written, by these lines.
    Shadowed(Vec<u32>),
    /// Shadowed once the other fixes are applied.
    ShadowedAfterFix(Vec<u32>),
    Redundant(Vec<u32>),
}

pub fn check_file(env: &Env<'_>, report: &mut Report) {
    let rules = env.rules;
    let roles = Roles::new(env.ctx.roles.as_deref());
    let compiled: Vec<Rule> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| Rule::compile(i, r, env.version))
        .collect();
    let report_unreachable = env.settings.report_unreachable && !env.refused;

    // 1. Shadowed as written.
    let mut gone: BTreeMap<usize, Gone> = BTreeMap::new();
    if report_unreachable {
        let matcher = Matcher::new(rules, env.ident, env.ctx, ServerFacts::clone(env.server));
        for u in matcher.shadowed(|_, _| false) {
            if let Unreachable::Shadowed { rule, by } = u {
                gone.insert(
                    rule,
                    Gone::Shadowed(by.iter().map(|b| rules[*b].location.line).collect()),
                );
            }
        }
    }

    // 2. Findings and column fixes of the others.
    let mut pending: Vec<(Vec<Pending>, LineFix)> = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        if gone.contains_key(&i) {
            pending.push((Vec::new(), LineFix::default()));
        } else {
            pending.push(check_rule(env, r, &compiled[i], &roles));
        }
    }

    // 3. The fixed file, analysed again.
    let mut model: Vec<HbaRule> = Vec::new();
    let mut origin: Vec<(usize, usize)> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if gone.contains_key(&i) {
            continue;
        }
        for (k, fixed) in apply(r, &pending[i].1).into_iter().enumerate() {
            model.push(fixed);
            origin.push((i, k));
        }
    }
    let mut dropped: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    if report_unreachable {
        let matcher = Matcher::new(&model, env.ident, env.ctx, ServerFacts::clone(env.server));
        // Alike after the fixes *and* as written: the fixes are applied by severity
        // threshold, so a line deleted as redundant because both lines would be fixed
        // to one method would otherwise leave its connections to the later line's
        // unfixed, different method.
        let same = |a: usize, b: usize| {
            same_auth(&model[a], &model[b]) && same_auth(&rules[origin[a].0], &rules[origin[b].0])
        };
        let line_of = |m: usize| rules[origin[m].0].location.line;
        for u in matcher.shadowed(same) {
            let (m, entry) = match u {
                Unreachable::Shadowed { rule, by } => (
                    rule,
                    Gone::ShadowedAfterFix(by.iter().map(|b| line_of(*b)).collect()),
                ),
                Unreachable::Redundant { rule, by } => (
                    rule,
                    Gone::Redundant(by.iter().map(|b| line_of(*b)).collect()),
                ),
            };
            let (i, k) = origin[m];
            dropped.entry(i).or_default().push(k);
            let expansions = origin.iter().filter(|(o, _)| *o == i).count();
            if dropped[&i].len() == expansions {
                gone.insert(i, entry);
            }
        }
    }

    // 4. Findings with their patches.
    for (i, r) in rules.iter().enumerate() {
        let (findings, fix) = &pending[i];
        let loc = r.location.clone();
        let deleting = match gone.get(&i) {
            Some(Gone::Shadowed(_)) | Some(Gone::ShadowedAfterFix(_)) => {
                compiled[i].method != Method::Reject
            }
            Some(Gone::Redundant(_)) => true,
            None => false,
        };
        // A record continued over several lines, or read from an included file, is not
        // patched.
        let patchable =
            loc.file == env.doc.path && loc.end_line.is_none_or(|e| e == loc.line) && loc.line > 0;
        let patch = patchable
            .then(|| {
                if deleting {
                    return Some(hba_patch(
                        &env.doc.path,
                        format!("delete unreachable line {}", loc.line),
                        vec![HbaEdit::Delete(loc.line)],
                    ));
                }
                let unreachable: Vec<usize> = dropped.get(&i).cloned().unwrap_or_default();
                let edits = fix_edits(loc.line, fix, &unreachable)?;
                let description = if env.doc.kind == policy_guest::DocumentKind::PatroniPgHba {
                    format!("fix the pg_hba item on line {}", loc.line)
                } else {
                    format!("fix line {}", loc.line)
                };
                Some(hba_patch(&env.doc.path, description, edits))
            })
            .flatten();
        if let Some(g) = gone.get(&i) {
            let (code, message) = match g {
                Gone::Shadowed(by) => (
                    "shadowed-line",
                    format!(
                        "no connection can reach this line: {} take(s) every connection it would match",
                        lines_text(by)
                    ),
                ),
                Gone::ShadowedAfterFix(by) => (
                    "shadowed-line",
                    format!(
                        "once the other fixes are applied, no connection can reach this line: {} take(s) every connection it would match",
                        lines_text(by)
                    ),
                ),
                Gone::Redundant(by) => (
                    "redundant-line",
                    format!(
                        "{} answer(s) every connection of this line the same way",
                        lines_text(by)
                    ),
                ),
            };
            let f = report.finding(code, loc.clone(), message);
            if compiled[i].method == Method::Reject && !matches!(g, Gone::Redundant(_)) {
                report.severity(f, Severity::High);
                report.remediation(f, "This `reject` protects nothing: the earlier lines let those connections in (or decide them) first. Move it above them.");
            }
            if let (Some(p), true) = (&patch, deleting) {
                report.fix(f, p.clone());
            }
        }
        for p in findings {
            let f = report.finding(p.code, loc.clone(), p.message.clone());
            if let Some(sev) = p.severity {
                report.severity(f, sev);
            }
            match (&patch, &p.withheld) {
                (Some(patch), _) if p.fixable || deleting => report.fix(f, patch.clone()),
                (_, Some(w)) => w.attach(report, f),
                _ => {}
            }
        }
    }
}

fn lines_text(lines: &[u32]) -> String {
    let mut l = lines.to_vec();
    l.sort_unstable();
    l.dedup();
    let words: Vec<String> = l.iter().map(|n| n.to_string()).collect();
    if words.len() == 1 {
        format!("line {}", words[0])
    } else {
        format!("lines {}", words.join(", "))
    }
}

/// Whether two records authenticate alike: same method, same options.
fn same_auth(a: &HbaRule, b: &HbaRule) -> bool {
    if a.method != b.method {
        return false;
    }
    let mut x = a.options.clone();
    let mut y = b.options.clone();
    x.sort();
    y.sort();
    x == y
}

/// The record after its fix (several with an address list).
fn apply(r: &HbaRule, fix: &LineFix) -> Vec<HbaRule> {
    let mut base = r.clone();
    if let Some(t) = fix.connection_type {
        base.connection_type = t.to_string();
    }
    if let Some(m) = fix.method {
        base.method = m.to_string();
    }
    base.options
        .retain(|(k, _)| !fix.remove_options.contains(&k.as_str()));
    for (k, v) in &fix.set_options {
        match base.options.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => base.options.push((k.to_string(), v.to_string())),
        }
    }
    match &fix.addresses {
        None => vec![base],
        Some(nets) => nets
            .iter()
            .map(|n| {
                let mut r = base.clone();
                r.address = Some(HbaAddress::Network(HbaNetwork {
                    address: n.network().to_string(),
                    mask: n.netmask().to_string(),
                    prefix: Some(n.prefix_len()),
                }));
                r
            })
            .collect(),
    }
}

/// The structured edits of a record's fix (none when it changes nothing): a change of
/// its fields, and for an address list one copy of the record per further network
/// (`dropped` are the networks that turned out unreachable).
fn fix_edits(line: u32, fix: &LineFix, dropped: &[usize]) -> Option<Vec<HbaEdit>> {
    let mut change: HbaChange = hba_change(line);
    change.connection_type = fix.connection_type.map(str::to_string);
    change.method = fix.method.map(str::to_string);
    change.remove_options = fix.remove_options.iter().map(|o| o.to_string()).collect();
    change.set_options = fix
        .set_options
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let Some(nets) = &fix.addresses else {
        let empty = change.connection_type.is_none()
            && change.method.is_none()
            && change.remove_options.is_empty()
            && change.set_options.is_empty();
        return (!empty).then(|| vec![HbaEdit::Set(change)]);
    };
    let kept: Vec<&IpNet> = nets
        .iter()
        .enumerate()
        .filter(|(k, _)| !dropped.contains(k))
        .map(|(_, n)| n)
        .collect();
    let Some((first, rest)) = kept.split_first() else {
        return Some(vec![HbaEdit::Delete(line)]);
    };
    let mut edits = Vec::new();
    // The copies go after the record in order; each is the record with its own network.
    for net in rest {
        let mut copy = change.clone();
        copy.address = Some(net.to_string());
        edits.push(HbaEdit::Insert(HbaInsert {
            place: HbaPlace::After(line),
            new: HbaNew::Copy(copy),
        }));
    }
    change.address = Some(first.to_string());
    edits.insert(0, HbaEdit::Set(change));
    Some(edits)
}
