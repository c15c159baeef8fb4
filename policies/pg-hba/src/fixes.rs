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
//! 4. each line's fixes are rendered once, in the line's own text with its alignment
//!    ([`crate::text`]), and every finding of the line points at that one patch.

use std::collections::BTreeMap;

use policy_guest::hba::roles::Roles;
use policy_guest::hba::rule::{Method, Rule};
use policy_guest::hba::shadow::Unreachable;
use policy_guest::hba::{Matcher, ServerFacts};
use policy_guest::net::IpNet;
use policy_guest::report::replace_lines;
use policy_guest::{HbaAddress, HbaNetwork, HbaRule, Report, Severity};

use crate::checks::{Env, LineFix, Pending, check_rule};
use crate::text::{Change, Line, render};

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
    let lines: Vec<&str> = env.doc.text.lines().collect();
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
        let patchable = loc.file == env.doc.path && loc.end_line.is_none_or(|e| e == loc.line);
        let text = lines
            .get(loc.line.saturating_sub(1) as usize)
            .copied()
            .filter(|_| patchable && loc.line > 0);
        let patch = text.and_then(|text| {
            if deleting {
                if env.doc.kind == crate::PATRONI_HBA && yaml_item(text).is_none() {
                    return None;
                }
                return Some(replace_lines(
                    &env.doc.path,
                    format!("delete unreachable line {}", loc.line),
                    loc.line,
                    loc.line,
                    "",
                ));
            }
            let unreachable: Vec<usize> = dropped.get(&i).cloned().unwrap_or_default();
            if env.doc.kind == crate::PATRONI_HBA {
                // The record is a list item of patroni.yml: fix it inside its line.
                let (prefix, record, suffix) = yaml_item(text)?;
                let new = render_fix(record, r, fix, &unreachable)?;
                return (new != record).then(|| {
                    replace_lines(
                        &env.doc.path,
                        format!("fix the pg_hba item on line {}", loc.line),
                        loc.line,
                        loc.line,
                        format!("{prefix}{new}{suffix}"),
                    )
                });
            }
            let new = render_fix(text, r, fix, &unreachable)?;
            (new != text).then(|| {
                replace_lines(
                    &env.doc.path,
                    format!("fix line {}", loc.line),
                    loc.line,
                    loc.line,
                    new,
                )
            })
        });
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

/// The line's text with its fix, keeping alignment; `dropped` are address expansions
/// that turned out unreachable. None when the text does not read as the record
/// (continuations, `@file` fields shifting columns): no patch then.
/// Splits a block-sequence item of patroni.yml, `  - host all all 10.0.0.0/8 md5  # x`
/// (or with the record in quotes), into what comes before the record, the record, and
/// what follows it. None for any other shape (a flow list, a multi-line scalar, a quote
/// inside the record), which is then not patched.
fn yaml_item(line: &str) -> Option<(&str, &str, &str)> {
    let dash = line.len() - line.trim_start().len();
    let rest = line[dash..].strip_prefix('-')?;
    let start = dash + 1 + (rest.len() - rest.trim_start().len());
    if start == dash + 1 {
        return None; // `-x` is not a sequence item
    }
    let body = &line[start..];
    match body.chars().next()? {
        q @ ('"' | '\'') => {
            let end = body[1..].find(q)? + 1;
            let record = &body[1..end];
            (!record.contains('\\')).then_some((&line[..start + 1], record, &line[start + end..]))
        }
        '[' | '{' | '|' | '>' | '&' | '*' | '!' => None,
        _ => {
            // A plain scalar ends at ` #` (a comment) or at the end of the line.
            let end = body.find(" #").unwrap_or(body.len());
            let record = body[..end].trim_end();
            Some((&line[..start], record, &line[start + record.len()..]))
        }
    }
}

fn render_fix(text: &str, r: &HbaRule, fix: &LineFix, dropped: &[usize]) -> Option<String> {
    let line = Line::parse(text);
    let local = r.connection_type == "local";
    if line.field(0)? != r.connection_type {
        return None;
    }
    let mut method_at = if local { 3 } else { 4 };
    if !local {
        let addr = line.field(3)?;
        if !addr.contains('/') && addr.parse::<std::net::IpAddr>().is_ok() {
            method_at = 5;
        }
    }
    let written = line.field(method_at)?;
    if written != r.method && !(r.method == "peer" && written == "ident") {
        return None;
    }
    let mut changes = Vec::new();
    if let Some(t) = fix.connection_type {
        changes.push(Change::Replace(0, t.to_string()));
    }
    if let Some(m) = fix.method {
        changes.push(Change::Replace(method_at, m.to_string()));
    }
    let mut append = Vec::new();
    for k in method_at + 1..line.fields.len() {
        let opt = line.field(k)?;
        let name = opt.split('=').next().unwrap_or(opt);
        if fix.remove_options.contains(&name) {
            changes.push(Change::Delete(k));
        }
    }
    for (name, value) in &fix.set_options {
        let existing = (method_at + 1..line.fields.len()).find(|k| {
            line.field(*k)
                .is_some_and(|o| o.split('=').next() == Some(name))
        });
        match existing {
            Some(k) => changes.push(Change::Replace(k, format!("{name}={value}"))),
            None => append.push(format!("{name}={value}")),
        }
    }
    let Some(nets) = &fix.addresses else {
        return Some(render(&line, &changes, &append));
    };
    let kept: Vec<&IpNet> = nets
        .iter()
        .enumerate()
        .filter(|(k, _)| !dropped.contains(k))
        .map(|(_, n)| n)
        .collect();
    let mut out = Vec::new();
    for (k, net) in kept.iter().enumerate() {
        let mut c = changes.clone();
        c.push(Change::Replace(3, net.to_string()));
        if method_at == 5 {
            c.push(Change::Delete(4));
        }
        let mut rendered = render(&line, &c, &append);
        if k > 0 {
            // The comment stays on the first line only.
            if let Some(cut) = comment_start(&rendered) {
                rendered.truncate(cut);
                rendered.truncate(rendered.trim_end().len());
            }
        }
        out.push(rendered);
    }
    Some(out.join("\n"))
}

fn comment_start(text: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod yaml_item_tests {
    use super::yaml_item;

    #[test]
    fn splits_block_items() {
        assert_eq!(
            yaml_item("    - host all all 10.0.0.0/8 md5  # app"),
            Some(("    - ", "host all all 10.0.0.0/8 md5", "  # app"))
        );
        assert_eq!(
            yaml_item("  - 'host all all 10.0.0.0/8 md5'"),
            Some(("  - '", "host all all 10.0.0.0/8 md5", "'"))
        );
        assert_eq!(yaml_item("  -x"), None);
        assert_eq!(yaml_item("  pg_hba: [host all all 0/0 md5]"), None);
        assert_eq!(yaml_item("  - [a]"), None);
    }
}
