//! Makes data inert in every output. Config values, file names and whatever a policy
//! returns reach the reports; none of it may drive the terminal that shows a report or
//! the CI runner that reads it:
//!
//! - control characters (C0 but newline and tab, DEL, C1), bidirectional controls, line
//!   and paragraph separators and Unicode noncharacters (U+FFFE, U+FFFF…, which XML also
//!   forbids) are written as `\u{1b}`, visibly ([`text`], [`outcome`]);
//! - in the formats a CI log shows line by line (text, github) and in every message patrol
//!   prints itself (stderr, `policy inspect`, `ports`, `test`: [`log`], [`say!`]), no line
//!   of data may start a workflow command: GitHub Actions reads `::command::` at the start
//!   of a line (after leading whitespace) and the legacy `##[command]` anywhere in a line,
//!   Azure Pipelines `##vso[command]` anywhere ([`workflow_commands`]);
//! - the machine-read formats (JSON, SARIF, JUnit XML), which a CI step may still print,
//!   hold neither `##[` nor `##vso[` nor a line starting with `::` in their bytes: the
//!   character is written as the format's own escape (`\u005b`, `&#91;`), so the data
//!   read back is unchanged ([`json_commands`], [`xml_commands`]).

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
    // The sample labels are patrol's own (`requests[3]`); a shared detail is looked at
    // once, not once per decision it answers.
    let names = outcome.decisions.iter().filter_map(|d| d.name.as_deref());
    let details = crate::run::decision::distinct_details(&outcome.decisions)
        .into_iter()
        .flat_map(|d| {
            [
                d.stage.as_str(),
                &d.reason,
                d.file.as_deref().unwrap_or(""),
                d.method.as_deref().unwrap_or(""),
                d.policy.as_deref().unwrap_or(""),
            ]
            .into_iter()
            .chain(d.depends_on.iter().map(String::as_str))
        });
    let decisions = names.chain(details);
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
        if let Some(name) = &d.name
            && name.chars().any(is_unsafe)
        {
            let mut owned = name.to_string();
            field(&mut owned);
            d.name = Some(owned.into());
        }
    }
    crate::run::decision::edit_details(&mut outcome.decisions, |d| {
        for s in [&mut d.stage, &mut d.reason] {
            field(s);
        }
        for s in [&mut d.file, &mut d.method, &mut d.policy] {
            optional(s);
        }
        d.depends_on.iter_mut().for_each(field);
    });
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

/// Whether `s` holds a command that a runner reads anywhere in a line.
fn has_bracket_command(s: &str) -> bool {
    s.contains("##[") || s.contains("##vso[")
}

/// A message patrol prints (to stderr, or a text listing on stdout) with data in it:
/// control characters escaped, no line starting a workflow command.
pub fn log(message: &str) -> String {
    workflow_commands(text(message).into_owned(), |_| false)
}

/// `eprintln!` for a message that holds data (file names, values, policies' words): see
/// [`log`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        ::std::eprintln!("{}", $crate::report::escape::log(&::std::format!($($arg)*)))
    };
}

/// `println!` for a text listing that holds data: see [`log`].
#[macro_export]
macro_rules! show {
    ($($arg:tt)*) => {
        ::std::println!("{}", $crate::report::escape::log(&::std::format!($($arg)*)))
    };
}

/// Rendered JSON (or SARIF) whose bytes start no workflow command: `[` after `##` or
/// `##vso` is written `\u005b` (only strings can hold it; JSON escapes every newline in a
/// string, so no line starts with data).
pub fn json_commands(rendered: String) -> String {
    if !has_bracket_command(&rendered) {
        return rendered;
    }
    rendered
        .replace("##[", "##\\u005b")
        .replace("##vso[", "##vso\\u005b")
}

/// Rendered XML (JUnit) whose bytes start no workflow command: `[` after `##` or `##vso`
/// is written `&#91;`, the first `:` of a line starting with `::` `&#58;` (character
/// references, read back as the same text; the writer uses no CDATA).
pub fn xml_commands(rendered: String) -> String {
    let starts = |l: &str| l.trim_start().starts_with("::");
    if !has_bracket_command(&rendered) && !rendered.lines().any(starts) {
        return rendered;
    }
    let mut out = String::with_capacity(rendered.len() + 64);
    for line in rendered.split_inclusive('\n') {
        let line = line
            .replace("##[", "##&#91;")
            .replace("##vso[", "##vso&#91;");
        if starts(&line) {
            let at = line.len() - line.trim_start().len();
            out.push_str(&line[..at]);
            out.push_str("&#58;");
            out.push_str(&line[at + 1..]);
        } else {
            out.push_str(&line);
        }
    }
    out
}

/// Rendered output in which no line starts a workflow command: a line that starts with
/// `::` (after whitespace, as the runner trims it) gets its first colon escaped, unless
/// `ours` says it is one of patrol's own commands; `##[` is escaped wherever it stands.
pub fn workflow_commands(rendered: String, ours: impl Fn(&str) -> bool) -> String {
    let starts = |l: &str| l.trim_start().starts_with("::") && !ours(l);
    if !has_bracket_command(&rendered) && !rendered.lines().any(starts) {
        return rendered;
    }
    let mut out = String::with_capacity(rendered.len() + 64);
    for line in rendered.split_inclusive('\n') {
        let line = line
            .replace("##[", "##\\u{5b}")
            .replace("##vso[", "##vso\\u{5b}");
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
    fn no_command_in_machine_read_formats_and_messages() {
        let json = r#"{"a":"x ##[error]y ##vso[task.setvariable variable=v]z"}"#.to_string();
        let got = json_commands(json);
        assert!(!got.contains("##[") && !got.contains("##vso["), "{got}");
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["a"], "x ##[error]y ##vso[task.setvariable variable=v]z");
        let xml = "<a b=\"##vso[x]\">\n::add-mask::s\n  ::error::e ##[group]\n</a>\n".to_string();
        assert_eq!(
            xml_commands(xml),
            "<a b=\"##vso&#91;x]\">\n&#58;:add-mask::s\n  &#58;:error::e ##&#91;group]\n</a>\n"
        );
        assert_eq!(
            log("unknown `a\n::add-mask::x\n##vso[y]\x1b]0;t\x07`"),
            "unknown `a\n\\u{3a}:add-mask::x\n##vso\\u{5b}y]\\u{1b}]0;t\\u{7}`"
        );
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
