//! Answers the `connections` samples: which pg_hba line each hits, with which method,
//! or where it fails.
//!
//! The first pg_hba.conf of the input is the server's (else the one Patroni writes from
//! the first `pg_hba` list of patroni.yml). A file the server refuses
//! (invalid lines, no entries) denies every connection: at start-up the server does not
//! start, and on reload it keeps rules patrol cannot see. Likewise a refused pg_ident.conf:
//! a connection whose line uses a `map=` is denied, with `pg_ident.conf` in `depends_on`
//! (the server keeps the maps it had, which patrol cannot see).

use policy_guest::DocumentKind;
use policy_guest::hba::{Matcher, ServerFacts};
use policy_guest::report::decision;
use policy_guest::{Body, Decision, IdentRule, Input, Location, Report, SampleKind, Verdict};

pub fn decide_all(
    input: &Input,
    server: &ServerFacts,
    ident: &[IdentRule],
    ident_refused: bool,
    report: &mut Report,
) {
    if input.connections.is_empty() {
        return;
    }
    // A pg_hba.conf given as a file, else the one Patroni writes from its `pg_hba` list.
    let doc = input
        .documents
        .iter()
        .find(|d| d.kind == DocumentKind::PgHba)
        .or_else(|| {
            input
                .documents
                .iter()
                .find(|d| d.kind == policy_guest::DocumentKind::PatroniPgHba)
        });
    let deny_all = |report: &mut Report, reason: String| {
        for i in 0..input.connections.len() {
            report.decision(decision(
                SampleKind::Connection,
                i,
                Verdict::Deny,
                "hba",
                reason.clone(),
            ));
        }
    };
    let Some(doc) = doc else {
        return deny_all(
            report,
            "no pg_hba.conf among the inputs: cannot tell how the server answers".into(),
        );
    };
    let Body::Hba(rules) = &doc.body else {
        return deny_all(report, format!("{} is not a parsed pg_hba.conf", doc.path));
    };
    // A template's placeholder lines are not the server's rules: nothing to answer with.
    if let Some(d) = doc
        .diagnostics
        .iter()
        .find(|d| d.code == "template-placeholders")
    {
        return deny_all(
            report,
            format!(
                "{} is an unrendered template (line {}): simulate against the rendered pg_hba.conf",
                doc.path, d.location.line
            ),
        );
    }
    // An invalid line of an included file is named with its file: the server refuses
    // the top file for it all the same.
    let mut invalid: Vec<(bool, &str, u32)> = doc
        .diagnostics
        .iter()
        .filter(|d| d.code != "no-entries")
        .map(|d| {
            let own = d.location.file == doc.path;
            (!own, d.location.file.as_str(), d.location.line)
        })
        .collect();
    invalid.sort_unstable();
    invalid.dedup();
    if !invalid.is_empty() {
        let lines: Vec<String> = invalid
            .iter()
            .map(|&(included, file, line)| {
                if included {
                    format!("{file}:{line}")
                } else {
                    line.to_string()
                }
            })
            .collect();
        return deny_all(
            report,
            format!(
                "{} has invalid lines ({}): PostgreSQL refuses the whole file (a start fails; a reload keeps the previous rules)",
                doc.path,
                lines.join(", ")
            ),
        );
    }
    if rules.is_empty() {
        return deny_all(
            report,
            format!("{} has no entries: PostgreSQL refuses it", doc.path),
        );
    }
    let matcher = Matcher::new(rules, ident, &input.context, server.clone());
    let mut scratch = matcher.scratch();
    for (i, c) in input.connections.iter().enumerate() {
        let mut o = matcher.decide(c, &mut scratch);
        let mapped = o
            .rule
            .is_some_and(|r| rules[r].options.iter().any(|(k, _)| k == "map"));
        if ident_refused && mapped {
            o.verdict = Verdict::Deny;
            o.reason = format!(
                "pg_ident.conf has invalid lines, so the server refuses it and keeps the maps it had (none at start-up), which patrol cannot see; with this file: {}",
                o.reason
            );
            o.depends_on.push("pg_ident.conf");
        }
        let location = o.rule.map(|r| {
            let l = &rules[r].location;
            Location {
                file: l.file.clone(),
                line: l.line,
                end_line: l.end_line,
                pointer: None,
            }
        });
        report.decision(Decision {
            kind: SampleKind::Connection,
            index: i as u32,
            verdict: o.verdict,
            status: None,
            stage: o.stage.as_str().to_string(),
            location,
            method: o.method.map(str::to_string),
            reason: o.reason,
            depends_on: o.depends_on.iter().map(|d| d.to_string()).collect(),
        });
    }
}
