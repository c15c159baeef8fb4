//! `--format text`: for humans. Findings grouped by file, each with its source line
//! (secrets redacted) and remediation; decisions one per line; a summary with counts by
//! severity. Colour only when asked (the CLI decides: a terminal and no `NO_COLOR`).

use std::collections::BTreeMap;
use std::io;

use super::{Mode, Render, redact};
use crate::run::{Decision, Finding, Outcome, Severity, Verdict};

pub struct Text {
    pub color: bool,
}

impl Text {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }

    fn severity(&self, s: Severity) -> String {
        let code = match s {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        self.paint(code, s.as_str())
    }

    fn finding(&self, f: &Finding, source: Option<&str>, out: &mut dyn io::Write) -> io::Result<()> {
        let place = if f.line > 0 { format!("{}:{}", f.file, f.line) } else { f.file.clone() };
        writeln!(out, "{place}: {} [{}/{}] {}", self.severity(f.severity), f.policy, f.code, f.message)?;
        if let Some(text) = source.filter(|_| f.line > 0) {
            if let Some(line) = text.lines().nth(f.line as usize - 1) {
                let width = f.line.to_string().len();
                writeln!(out, "  {:>width$} | {}", f.line, redact::line(line))?;
                let indent = line.len() - line.trim_start().len();
                let mark = "^".repeat(line.trim().chars().count().clamp(1, 80));
                writeln!(out, "  {:>width$} | {}{}", "", " ".repeat(indent), self.paint("33", &mark))?;
            }
        }
        if !f.remediation.is_empty() {
            writeln!(out, "  {} {}", self.paint("32", "fix:"), f.remediation)?;
        }
        if f.patch.is_some() {
            writeln!(out, "  {}", self.paint("2", "(an automatic fix is available: --diff to see it, --fix to apply it)"))?;
        }
        Ok(())
    }

    fn decision(&self, d: &Decision, out: &mut dyn io::Write) -> io::Result<()> {
        let verdict = match d.verdict {
            Verdict::Allow => self.paint("32", "allow"),
            Verdict::Deny => self.paint("31", "deny "),
        };
        let name = d.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        let status = d.status.map(|s| format!(" {s}")).unwrap_or_default();
        let method = d.method.as_deref().map(|m| format!(" method={m}")).unwrap_or_default();
        let at = match (&d.file, d.line) {
            (Some(f), Some(l)) => format!(" at {f}:{l}"),
            _ => String::new(),
        };
        writeln!(out, "{} {verdict}{status} [{}]{method}{at}{name}: {}", d.sample, d.stage, d.reason)
    }
}

impl Render for Text {
    fn render(&self, outcome: &Outcome, mode: Mode, out: &mut dyn io::Write) -> io::Result<()> {
        let sources: BTreeMap<&str, &str> = outcome.files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        if mode == Mode::Simulate {
            for d in &outcome.decisions {
                self.decision(d, out)?;
            }
        }
        let mut last_file: Option<&str> = None;
        for f in &outcome.findings {
            if last_file != Some(f.file.as_str()) {
                if last_file.is_some() || (mode == Mode::Simulate && !outcome.decisions.is_empty()) {
                    writeln!(out)?;
                }
                writeln!(out, "{}", self.paint("1", &f.file))?;
                last_file = Some(f.file.as_str());
            }
            self.finding(f, sources.get(f.file.as_str()).copied(), out)?;
        }
        if mode == Mode::Check && !outcome.decisions.is_empty() {
            writeln!(out)?;
            for d in &outcome.decisions {
                self.decision(d, out)?;
            }
        }
        for e in &outcome.errors {
            writeln!(out, "{}: {e}", self.paint("1;31", "error"))?;
        }
        let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
        for f in &outcome.findings {
            *counts.entry(f.severity).or_default() += 1;
        }
        let by_severity: Vec<String> =
            counts.iter().rev().map(|(s, n)| format!("{n} {}", s.as_str())).collect();
        let mut summary = format!(
            "{} finding{}{}",
            outcome.findings.len(),
            if outcome.findings.len() == 1 { "" } else { "s" },
            if by_severity.is_empty() { String::new() } else { format!(" ({})", by_severity.join(", ")) }
        );
        if !outcome.decisions.is_empty() {
            let allowed = outcome.decisions.iter().filter(|d| d.verdict == Verdict::Allow).count();
            summary.push_str(&format!(", {} decisions ({allowed} allow, {} deny)", outcome.decisions.len(), outcome.decisions.len() - allowed));
        }
        if !outcome.errors.is_empty() {
            summary.push_str(&format!(", {} policy error{}", outcome.errors.len(), if outcome.errors.len() == 1 { "" } else { "s" }));
        }
        writeln!(out, "{}", self.paint("1", &summary))
    }
}
