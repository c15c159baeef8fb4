//! `--format text`: for humans. Findings grouped by file, each with its source line
//! (secrets redacted) and remediation; decisions one per line; a summary with counts by
//! severity. Colour only when asked (the CLI decides: a terminal and no `NO_COLOR`).

use std::collections::{BTreeMap, HashMap};
use std::io;

use super::{Mode, Render, escape, redact};
use crate::run::{Decision, Detail, Finding, Outcome, Severity, Verdict};

pub struct Text {
    pub color: bool,
    /// The inputs' secret values, scrubbed from the source lines shown.
    pub secrets: redact::Secrets,
}

impl Text {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
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

    /// `source`: the lines of the finding's file.
    fn finding(
        &self,
        f: &Finding,
        source: Option<&[&str]>,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        let place = match (f.line, f.end_line) {
            (0, _) => f.file.clone(),
            (l, Some(e)) if e > l => format!("{}:{l}-{e}", f.file),
            (l, _) => format!("{}:{l}", f.file),
        };
        writeln!(
            out,
            "{place}: {} [{}/{}] {}",
            self.severity(f.severity),
            f.policy,
            f.code,
            f.message
        )?;
        if let Some(lines) = source.filter(|_| f.line > 0)
            && let Some(line) = lines.get(f.line as usize - 1)
        {
            // The file's own line, as data: secrets redacted where they stand, control
            // characters escaped.
            let shown = escape::text(&self.secrets.scrub(line.trim_end_matches('\r'))).into_owned();
            let width = f.line.to_string().len();
            writeln!(out, "  {:>width$} | {}", f.line, shown)?;
            let (start, len) = span(&shown, f.pointer.as_deref());
            // Keep the line's tabs so that the marks sit under the span.
            let pad: String = shown
                .chars()
                .take(start)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let mark = "^".repeat(len.clamp(1, 80));
            writeln!(out, "  {:>width$} | {pad}{}", "", self.paint("33", &mark))?;
        }
        if !f.remediation.is_empty() {
            writeln!(out, "  {} {}", self.paint("32", "fix:"), f.remediation)?;
        }
        if f.patch.is_some() {
            writeln!(
                out,
                "  {}",
                self.paint(
                    "2",
                    "(an automatic fix is available: --diff to see it, --fix to apply it)"
                )
            )?;
        }
        Ok(())
    }

    /// Every decision, one per line; the parts a shared detail decides (all but the
    /// sample and its name) are formatted once per detail.
    fn decisions(&self, decisions: &[Decision], out: &mut dyn io::Write) -> io::Result<()> {
        let mut cache: HashMap<*const Detail, (String, String)> = HashMap::new();
        for d in decisions {
            let key = std::sync::Arc::as_ptr(&d.detail);
            let (before, after) = cache.entry(key).or_insert_with(|| self.detail_parts(d));
            match d.name.as_deref() {
                Some(n) => writeln!(out, "{}{before} ({n}){after}", d.sample)?,
                None => writeln!(out, "{}{before}{after}", d.sample)?,
            }
        }
        Ok(())
    }

    /// What a decision's line shows between its sample and its name, and after the name.
    fn detail_parts(&self, d: &Detail) -> (String, String) {
        let verdict = match d.verdict {
            Verdict::Allow => self.paint("32", "allow"),
            Verdict::Deny => self.paint("31", "deny "),
        };
        let status = d.status.map(|s| format!(" {s}")).unwrap_or_default();
        let method = d
            .method
            .as_deref()
            .map(|m| format!(" method={m}"))
            .unwrap_or_default();
        let at = match (&d.file, d.line) {
            (Some(f), Some(l)) => format!(" at {f}:{l}"),
            _ => String::new(),
        };
        (
            format!(" {verdict}{status} [{}]{method}{at}", d.stage),
            format!(": {}", d.reason),
        )
    }
}

/// The span to mark on a source line, as (first char, char count): the key the finding's
/// pointer names (`/restapi/listen` → `listen`, `global/repo1-cipher-pass` →
/// `repo1-cipher-pass`), else the line without its indentation (and a YAML list dash).
pub fn span(line: &str, pointer: Option<&str>) -> (usize, usize) {
    if let Some(key) = pointer
        .and_then(|p| p.rsplit('/').next())
        .filter(|k| !k.is_empty())
    {
        let key = key.replace("~1", "/").replace("~0", "~");
        if !key.chars().all(|c| c.is_ascii_digit())
            && let Some(at) = find_key(line, &key)
        {
            return (line[..at].chars().count(), key.chars().count());
        }
    }
    let body = line.trim_start();
    let body = body.strip_prefix("- ").map(str::trim_start).unwrap_or(body);
    let start = line.len() - body.len();
    (
        line[..start].chars().count(),
        body.trim_end().chars().count(),
    )
}

/// Where `key` stands as a key on `line`: not inside a longer word or a trailing comment,
/// and followed (after an optional quote) by `:`, `=`, `]`, a space or the end.
fn find_key(line: &str, key: &str) -> Option<usize> {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.';
    // Not in a trailing comment.
    let code = line
        .find(" #")
        .or_else(|| line.find("\t#"))
        .map_or(line, |i| &line[..i]);
    code.match_indices(key).map(|(i, _)| i).find(|&i| {
        let before = line[..i].chars().next_back();
        let after = line[i + key.len()..]
            .trim_start_matches(['"', '\''])
            .chars()
            .next();
        !before.is_some_and(word) && after.is_none_or(|c| matches!(c, ':' | '=' | ']' | ' ' | '\t'))
    })
}

impl Render for Text {
    fn render(&self, outcome: &Outcome, mode: Mode, out: &mut dyn io::Write) -> io::Result<()> {
        let sources: BTreeMap<&str, Vec<&str>> = outcome
            .files
            .iter()
            .map(|(n, t)| (n.as_str(), t.lines().collect()))
            .collect();
        if mode == Mode::Simulate {
            self.decisions(&outcome.decisions, out)?;
        }
        let mut last_file: Option<&str> = None;
        for f in &outcome.findings {
            if last_file != Some(f.file.as_str()) {
                if last_file.is_some() || (mode == Mode::Simulate && !outcome.decisions.is_empty())
                {
                    writeln!(out)?;
                }
                writeln!(out, "{}", self.paint("1", &f.file))?;
                last_file = Some(f.file.as_str());
            }
            self.finding(f, sources.get(f.file.as_str()).map(Vec::as_slice), out)?;
        }
        if mode == Mode::Check && !outcome.decisions.is_empty() {
            writeln!(out)?;
            self.decisions(&outcome.decisions, out)?;
        }
        for e in &outcome.errors {
            writeln!(out, "{}: {e}", self.paint("1;31", "error"))?;
        }
        if !outcome.inputs.is_empty() {
            writeln!(out, "{}", outcome.files_summary())?;
        }
        for v in &outcome.versions {
            writeln!(out, "{v}")?;
        }
        let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
        for f in &outcome.findings {
            *counts.entry(f.severity).or_default() += 1;
        }
        let by_severity: Vec<String> = counts
            .iter()
            .rev()
            .map(|(s, n)| format!("{n} {}", s.as_str()))
            .collect();
        let mut summary = format!(
            "{} finding{}{}",
            outcome.findings.len(),
            if outcome.findings.len() == 1 { "" } else { "s" },
            if by_severity.is_empty() {
                String::new()
            } else {
                format!(" ({})", by_severity.join(", "))
            }
        );
        if !outcome.decisions.is_empty() {
            let allowed = outcome
                .decisions
                .iter()
                .filter(|d| d.verdict == Verdict::Allow)
                .count();
            let n = outcome.decisions.len();
            summary.push_str(&format!(
                ", {n} decision{} ({allowed} allow, {} deny)",
                if n == 1 { "" } else { "s" },
                n - allowed
            ));
        }
        if !outcome.errors.is_empty() {
            summary.push_str(&format!(
                ", {} policy error{}",
                outcome.errors.len(),
                if outcome.errors.len() == 1 { "" } else { "s" }
            ));
        }
        if !outcome.waived.is_empty() {
            summary.push_str(&format!(
                ", {} waived by exceptions (--format json lists them)",
                outcome.waived.len()
            ));
        }
        let adopt = &outcome.adopt;
        for (n, what) in [
            (adopt.suppressed.len(), "suppressed inline".to_string()),
            (adopt.baselined.len(), "baselined".to_string()),
            (adopt.absent.len(), "gone from the baseline".to_string()),
            (
                adopt.left_out,
                format!(
                    "left out (no changed line since {})",
                    adopt.changed_since.as_deref().unwrap_or("?")
                ),
            ),
        ] {
            if n > 0 {
                summary.push_str(&format!(", {n} {what}"));
            }
        }
        writeln!(out, "{}", self.paint("1", &summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn marks_the_key_the_pointer_names() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("  listen: 0.0.0.0:8008", Some("/restapi/listen"), "listen"),
            (
                "  connect_address: x # listen: no",
                Some("/restapi/listen"),
                "connect_address: x # listen: no",
            ),
            (
                "repo1-cipher-pass=abc",
                Some("global/repo1-cipher-pass"),
                "repo1-cipher-pass",
            ),
            (
                "patroni['allowlist'] = ['10.0.0.0/8']",
                Some("/patroni/allowlist"),
                "allowlist",
            ),
            ("  \"a/b\": 1", Some("/x/a~1b"), "a/b"),
            ("    - 0.0.0.0/0", Some("/restapi/allowlist/0"), "0.0.0.0/0"),
            (
                "host all all 0.0.0.0/0 md5",
                None,
                "host all all 0.0.0.0/0 md5",
            ),
            ("  ssl: off  ", Some("/ssl_x"), "ssl: off"),
        ];
        for (line, pointer, want) in cases {
            let (start, len) = span(line, *pointer);
            let got: String = line.chars().skip(start).take(len).collect();
            assert_eq!(&got, want, "{line:?} {pointer:?}");
        }
    }

    #[test]
    fn renders_grouped_by_file_with_marks_and_summary() {
        let mut out = Vec::new();
        Text {
            color: false,
            secrets: fixture::secrets(),
        }
        .render(&fixture::outcome("c"), Mode::Check, &mut out)
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = "\
c/pg_hba.conf
c/pg_hba.conf:2: critical [pg-hba/trust-method] trust-method at line 2
  2 | local all all trust
    | ^^^^^^^^^^^^^^^^^^^
  fix: Use scram-sha-256 or peer.
  (an automatic fix is available: --diff to see it, --fix to apply it)
c/pg_hba.conf:3: medium [pg-hba/md5-method] md5-method at line 3
  3 | host all all 0.0.0.0/0 md5
    | ^^^^^^^^^^^^^^^^^^^^^^^^^^
  fix: Use scram-sha-256.
  (an automatic fix is available: --diff to see it, --fix to apply it)

c/patroni.yml
c/patroni.yml:3: high [patroni-restapi/listen-all] listen-all at line 3
  3 |   listen: 0.0.0.0:8008
    |   ^^^^^^
  fix: Listen on the node's own address, not on every interface.
  (an automatic fix is available: --diff to see it, --fix to apply it)
c/patroni.yml: low [patroni-restapi/no-tls] no-tls at line 0
c/patroni.yml:6: medium [patroni-restapi/weak-password] weak-password at line 6
  6 |     password: <redacted>
    |     ^^^^^^^^
c/patroni.yml:1: low [patrol/duplicate-key] duplicate-key at line 1
  1 | scope: demo
    | ^^^^^^^^^^^

requests[0] deny  401 [access] at c/patroni.yml:4 (restart): no credentials
error: policy `org-policy` failed: it ran past its time limit of 10000 ms
6 findings (1 critical, 1 high, 2 medium, 2 low), 1 decision (0 allow, 1 deny), 1 policy error
";
        assert_eq!(text, expected);
        assert!(!text.contains("Fixture-Secret-42"));
    }

    #[test]
    fn colour_only_when_asked() {
        let mut out = Vec::new();
        Text {
            color: true,
            secrets: Default::default(),
        }
        .render(&fixture::outcome("c"), Mode::Check, &mut out)
        .unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("\x1b[1;31mcritical\x1b[0m")
        );
    }
}
