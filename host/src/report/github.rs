//! `--format github`: GitHub Actions workflow commands, one per finding, so that findings
//! show as annotations on the pull request's files:
//!
//! ```text
//! ::error file=deploy/pg_hba.conf,line=4,title=pg-hba/trust-method (critical)::message
//! ```
//!
//! critical and high are `error`, medium `warning`, low and info `notice`. Files are
//! relative to the repository root (GitHub resolves them against the workspace). A
//! failed policy is an `error` without a file. Values are escaped as the runner expects:
//! `%`, CR and LF in messages, and also `:` and `,` in properties.

use std::io;

use super::paths::Paths;
use super::{CiLevel, Mode, Render};
use crate::run::{Finding, Outcome};

pub struct Github {
    pub paths: Paths,
}

impl Render for Github {
    fn render(&self, outcome: &Outcome, _mode: Mode, out: &mut dyn io::Write) -> io::Result<()> {
        for f in &outcome.findings {
            writeln!(out, "{}", self.command(f))?;
        }
        for e in &outcome.errors {
            writeln!(
                out,
                "::error title={}::{}",
                property(&format!("patrol: policy {} failed", e.policy)),
                data(&e.to_string())
            )?;
        }
        Ok(())
    }
}

impl Github {
    fn command(&self, f: &Finding) -> String {
        let level = match f.severity.ci_level() {
            CiLevel::Error => "error",
            CiLevel::Warning => "warning",
            CiLevel::Note => "notice",
        };
        let file = self
            .paths
            .relative(&f.file)
            .unwrap_or_else(|| f.file.clone());
        let mut props = vec![format!("file={}", property(&file))];
        if f.line > 0 {
            props.push(format!("line={}", f.line));
            if let Some(end) = f.end_line.filter(|&e| e > f.line) {
                props.push(format!("endLine={end}"));
            }
        }
        props.push(format!(
            "title={}",
            property(&format!(
                "{}/{} ({})",
                f.policy,
                f.code,
                f.severity.as_str()
            ))
        ));
        let mut message = f.message.clone();
        if !f.remediation.is_empty() {
            message.push_str(&format!("\nFix: {}", f.remediation));
        }
        format!("::{level} {}::{}", props.join(","), data(&message))
    }
}

/// Escapes a command's message.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a command's property value.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn one_command_per_finding() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::at(dir.path(), &dir.path().join("deploy"));
        let mut out = Vec::new();
        Github { paths }
            .render(&fixture::outcome("cluster"), Mode::Check, &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "::error file=deploy/cluster/pg_hba.conf,line=2,title=pg-hba/trust-method (critical)::trust-method at line 2%0AFix: Use scram-sha-256 or peer."
        );
        assert!(
            lines[1].starts_with("::warning file=deploy/cluster/pg_hba.conf,line=3,"),
            "{text}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with(
                "::notice file=deploy/cluster/patroni.yml,title=patroni-restapi/no-tls (low)::"
            )),
            "{text}"
        );
        assert_eq!(
            lines.last().unwrap(),
            &"::error title=patrol%3A policy org-policy failed::policy `org-policy` failed: it ran past its time limit of 10000 ms"
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
    }
}
