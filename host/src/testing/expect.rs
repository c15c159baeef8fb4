//! The `expect` block of a case: findings, decisions, patched texts, held-back fixes or
//! the policy's error, each problem reported with its line.

use super::{
    Expect, ExpectedDecision, ExpectedFinding, ExpectedPatch, ExpectedWithheld, SampleRef, severity,
};
use crate::run::Verdict;
use crate::spanned::{Node, Problems};

pub(super) fn expect(node: &Node<'_>, problems: &mut Problems) -> Expect {
    let mut e = Expect::default();
    if !node.mapping(
        &[
            "findings",
            "no_other_findings",
            "decisions",
            "patches",
            "error",
            "withheld",
        ],
        problems,
    ) {
        return e;
    }
    if let Some(list) = node.get("findings") {
        let items = if list.value.is_null() {
            Vec::new()
        } else {
            list.items(problems)
        };
        e.findings = Some(items.iter().filter_map(|n| finding(n, problems)).collect());
    }
    e.no_other_findings = node
        .get("no_other_findings")
        .and_then(|n| n.bool(problems))
        .unwrap_or(true);
    if let Some(list) = node.get("decisions") {
        e.decisions = list
            .items(problems)
            .iter()
            .filter_map(|n| decision(n, problems))
            .collect();
    }
    if let Some(list) = node.get("patches") {
        let items = if list.value.is_null() {
            Vec::new()
        } else {
            list.items(problems)
        };
        e.patches = Some(items.iter().filter_map(|n| patch(n, problems)).collect());
    }
    if let Some(list) = node.get("withheld") {
        let items = if list.value.is_null() {
            Vec::new()
        } else {
            list.items(problems)
        };
        e.withheld = items.iter().filter_map(|n| withheld(n, problems)).collect();
    }
    e.error = node.string("error", problems);
    if e.error.is_some()
        && (e.findings.as_ref().is_some_and(|f| !f.is_empty()) || !e.decisions.is_empty())
    {
        problems.at(node, "`error` cannot be combined with expected findings or decisions: a failed policy returns neither");
    }
    e
}

fn finding(node: &Node<'_>, problems: &mut Problems) -> Option<ExpectedFinding> {
    if !node.mapping(
        &["code", "file", "line", "severity", "message_contains"],
        problems,
    ) {
        return None;
    }
    let code = node.require("code", problems).and_then(|n| n.str(problems));
    let severity = node.get("severity").and_then(|n| {
        let text = n.str(problems)?;
        let s = severity(text);
        if s.is_none() {
            problems.at(
                &n,
                format!("`{text}` is not a severity; use info, low, medium, high or critical"),
            );
        }
        s
    });
    Some(ExpectedFinding {
        code: code?.to_string(),
        file: node.string("file", problems),
        line: node.get("line").and_then(|n| n.u32(problems)),
        severity,
        message_contains: node.string("message_contains", problems),
        at: node.line(),
    })
}

fn decision(node: &Node<'_>, problems: &mut Problems) -> Option<ExpectedDecision> {
    let keys = [
        "sample",
        "verdict",
        "status",
        "stage",
        "file",
        "line",
        "method",
        "reason_contains",
    ];
    if !node.mapping(&keys, problems) {
        return None;
    }
    let sample = node
        .require("sample", problems)
        .and_then(|n| n.text(problems))
        .map(|s| {
            let indexed = |prefix: &str| {
                s.strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('['))
                    .and_then(|r| r.strip_suffix(']'))
                    .is_some_and(|i| i.parse::<usize>().is_ok())
            };
            if indexed("requests") || indexed("connections") {
                SampleRef::Label(s)
            } else {
                SampleRef::Name(s)
            }
        });
    let verdict = node
        .require("verdict", problems)
        .and_then(|n| match n.str(problems)? {
            "allow" => Some(Verdict::Allow),
            "deny" => Some(Verdict::Deny),
            other => {
                problems.at(&n, format!("`{other}` is not a verdict; use allow or deny"));
                None
            }
        });
    let status = node.get("status").and_then(|n| {
        let s = n.u32(problems)?;
        u16::try_from(s)
            .ok()
            .filter(|s| (100..600).contains(s))
            .or_else(|| {
                problems.at(&n, format!("`{s}` is not an HTTP status"));
                None
            })
    });
    Some(ExpectedDecision {
        sample: sample?,
        verdict: verdict?,
        status,
        stage: node.string("stage", problems),
        file: node.string("file", problems),
        line: node.get("line").and_then(|n| n.u32(problems)),
        method: node.string("method", problems),
        reason_contains: node.string("reason_contains", problems),
        at: node.line(),
    })
}

fn patch(node: &Node<'_>, problems: &mut Problems) -> Option<ExpectedPatch> {
    if !node.mapping(&["file", "after"], problems) {
        return None;
    }
    let file = node.require("file", problems).and_then(|n| n.str(problems));
    let after = node
        .require("after", problems)
        .and_then(|n| n.str(problems));
    Some(ExpectedPatch {
        file: file?.to_string(),
        after: after?.to_string(),
        at: node.line(),
    })
}

fn withheld(node: &Node<'_>, problems: &mut Problems) -> Option<ExpectedWithheld> {
    if !node.mapping(&["code", "file", "reason_contains"], problems) {
        return None;
    }
    let code = node.require("code", problems).and_then(|n| n.str(problems));
    Some(ExpectedWithheld {
        code: code?.to_string(),
        file: node.string("file", problems),
        reason_contains: node.string("reason_contains", problems),
        at: node.line(),
    })
}
