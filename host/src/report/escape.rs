//! Makes data inert in every output. Config values, file names and whatever a policy
//! returns reach the reports; none of it may drive the terminal that shows a report or
//! the CI runner that reads it:
//!
//! - control characters (C0 but newline and tab, DEL, C1), bidirectional controls, line
//!   and paragraph separators and Unicode noncharacters (U+FFFE, U+FFFF…, which XML also
//!   forbids) are written as `\u{1b}`, visibly ([`text`], [`outcome`]);
//! - in the formats a CI log shows line by line (text, github), no line of data may start
//!   a GitHub Actions workflow command: the runner reads `::command::` at the start of a
//!   line (after leading whitespace) and the legacy `##[command]` anywhere in a line
//!   ([`workflow_commands`]).

use std::borrow::Cow;

use crate::run::Outcome;

/// Whether `c` is written escaped.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
        || is_noncharacter(c)
}

/// U+FDD0–U+FDEF and the last two code points of every plane.
fn is_noncharacter(c: char) -> bool {
    let n = c as u32;
    (0xFDD0..=0xFDEF).contains(&n) || n & 0xFFFE == 0xFFFE
}

/// `s` with every unsafe character written as `\u{…}` (no copy when there is none).
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn field(s: &mut String) {
    if let Cow::Owned(escaped) = text(s) {
        *s = escaped;
    }
}

fn optional(s: &mut Option<String>) {
    if let Some(s) = s {
        field(s);
    }
}

/// Every string of `outcome` that is shown as data (not the files' texts, which fixes
/// and diffs must keep byte for byte, nor the patches' edits).
fn strings(outcome: &Outcome) -> impl Iterator<Item = &str> {
    let findings = outcome
        .findings
        .iter()
        .chain(outcome.waived.iter().map(|w| &w.finding))
        .flat_map(|f| {
            [
                f.policy.as_str(),
                &f.code,
                &f.message,
                &f.file,
                &f.remediation,
                f.pointer.as_deref().unwrap_or(""),
            ]
        });
    let waived = outcome.waived.iter().flat_map(|w| {
        [
            w.exception.at.as_str(),
            &w.exception.reason,
            &w.exception.expires,
        ]
    });
    let decisions = outcome.decisions.iter().flat_map(|d| {
        [
            d.sample.as_str(),
            &d.stage,
            &d.reason,
            d.name.as_deref().unwrap_or(""),
            d.file.as_deref().unwrap_or(""),
        ]
        .into_iter()
        .chain([
            d.method.as_deref().unwrap_or(""),
            d.policy.as_deref().unwrap_or(""),
        ])
        .chain(d.depends_on.iter().map(String::as_str))
    });
    let patches = outcome
        .patches
        .iter()
        .flat_map(|p| [p.policy.as_str(), &p.file, &p.description]);
    let errors = outcome
        .errors
        .iter()
        .flat_map(|e| [e.policy.as_str(), &e.message]);
    let policies = outcome
        .policies
        .iter()
        .flat_map(|p| [p.name.as_str(), &p.version, &p.source]);
    let files = outcome.files.iter().map(|(name, _)| name.as_str());
    findings
        .chain(waived)
        .chain(decisions)
        .chain(patches)
        .chain(errors)
        .chain(policies)
        .chain(files)
}

/// Whether [`outcome`] would change anything.
pub fn needed(outcome: &Outcome) -> bool {
    strings(outcome).any(|s| s.chars().any(is_unsafe))
}

/// Escapes every string [`needed`] looks at, in place.
pub fn outcome(outcome: &mut Outcome) {
    for f in outcome
        .findings
        .iter_mut()
        .chain(outcome.waived.iter_mut().map(|w| &mut w.finding))
    {
        for s in [
            &mut f.policy,
            &mut f.code,
            &mut f.message,
            &mut f.file,
            &mut f.remediation,
        ] {
            field(s);
        }
        optional(&mut f.pointer);
    }
    for w in &mut outcome.waived {
        for s in [
            &mut w.exception.at,
            &mut w.exception.reason,
            &mut w.exception.expires,
        ] {
            field(s);
        }
    }
    for d in &mut outcome.decisions {
        for s in [&mut d.sample, &mut d.stage, &mut d.reason] {
            field(s);
        }
        for s in [&mut d.name, &mut d.file, &mut d.method, &mut d.policy] {
            optional(s);
        }
        d.depends_on.iter_mut().for_each(field);
    }
    for p in &mut outcome.patches {
        for s in [&mut p.policy, &mut p.file, &mut p.description] {
            field(s);
        }
    }
    for e in &mut outcome.errors {
        field(&mut e.policy);
        field(&mut e.message);
    }
    for p in &mut outcome.policies {
        for s in [&mut p.name, &mut p.version, &mut p.source] {
            field(s);
        }
    }
    for (name, _) in &mut outcome.files {
        field(name);
    }
}

/// Rendered output in which no line starts a workflow command: a line that starts with
/// `::` (after whitespace, as the runner trims it) gets its first colon escaped, unless
/// `ours` says it is one of patrol's own commands; `##[` is escaped wherever it stands.
pub fn workflow_commands(rendered: String, ours: impl Fn(&str) -> bool) -> String {
    let starts = |l: &str| l.trim_start().starts_with("::") && !ours(l);
    if !rendered.contains("##[") && !rendered.lines().any(starts) {
        return rendered;
    }
    let mut out = String::with_capacity(rendered.len() + 64);
    for line in rendered.split_inclusive('\n') {
        let line = line.replace("##[", "##\\u{5b}");
        if starts(&line) {
            let at = line.len() - line.trim_start().len();
            out.push_str(&line[..at]);
            out.push_str("\\u{3a}");
            out.push_str(&line[at + 1..]);
        } else {
            out.push_str(&line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_drives_terminals_and_parsers() {
        let cases: &[(&str, &str)] = &[
            (
                "plain text\twith tab\nand newline",
                "plain text\twith tab\nand newline",
            ),
            ("\x1b]0;title\x07", "\\u{1b}]0;title\\u{7}"),
            ("a\rb\x7fc\u{9b}d", "a\\u{d}b\\u{7f}c\\u{9b}d"),
            ("left\u{202e}right\u{2066}", "left\\u{202e}right\\u{2066}"),
            (
                "x\u{ffff}y\u{fffe}\u{1fffe}",
                "x\\u{ffff}y\\u{fffe}\\u{1fffe}",
            ),
            ("naïve – ok ✓", "naïve – ok ✓"),
        ];
        for (input, want) in cases {
            assert_eq!(text(input), *want, "{input:?}");
        }
        assert!(matches!(text("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn no_line_of_data_starts_a_workflow_command() {
        let ours = |l: &str| l.starts_with("::error file=");
        let rendered = "::error file=x::ok\n::add-mask::leak\n  \t::error::x\nfine ##[set-output name=a]b\nplain\n";
        let got = workflow_commands(rendered.to_string(), ours);
        assert_eq!(
            got,
            "::error file=x::ok\n\\u{3a}:add-mask::leak\n  \t\\u{3a}:error::x\nfine ##\\u{5b}set-output name=a]b\nplain\n"
        );
        let clean = "nothing: here\n".to_string();
        assert_eq!(workflow_commands(clean.clone(), ours), clean);
    }
}
