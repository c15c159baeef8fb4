//! Renders an [`Outcome`] in every output format behind one trait, [`Render`]. Findings,
//! decisions and patches go to stdout; logs and errors to stderr (the CLI's job).
//! Every format goes through [`redact`]: secrets never appear in any output; and through
//! [`escape`]: no value can drive the terminal or the CI runner that shows the output.
//!
//! `text` and `json` are for people and scripts; `sarif` (code scanners), `junit` (test
//! reports) and `github` (workflow annotations) are for CI. The CI formats name files
//! relative to the repository root ([`paths`]) and map severities the same way
//! ([`Severity::ci_level`]).

pub mod decisions_json;
pub mod escape;
pub mod github;
pub mod json;
pub mod junit;
pub mod paths;
pub mod redact;
pub mod sarif;
pub mod stream;
pub mod text;

#[cfg(test)]
pub(crate) mod fixture;

use std::io;

use crate::run::{Outcome, Severity};

/// Which subcommand produced the outcome (the text format shows decisions first for
/// `simulate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Check,
    Simulate,
    /// `patrol verify`: shown as `check` is, with its probes in JSON's `verify`.
    Verify,
}

/// One output format.
pub trait Render {
    fn render(&self, outcome: &Outcome, mode: Mode, out: &mut dyn io::Write) -> io::Result<()>;
}

/// The output formats, for `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For humans: findings grouped by file, with the source line.
    Text,
    /// One JSON object: `findings`, `decisions`, `patches`, `errors`, `policies`.
    Json,
    /// SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps), with fixes.
    Sarif,
    /// JUnit XML: one test case per policy, finding code and file.
    Junit,
    /// GitHub Actions workflow commands (`::error file=…,line=…::…`).
    Github,
}

impl Format {
    /// The renderer of this format; `secrets` are the inputs' secret values, for the text
    /// format's source lines.
    pub fn renderer(self, color: bool, secrets: &redact::Secrets) -> Box<dyn Render> {
        match self {
            Format::Text => Box::new(text::Text {
                color,
                secrets: secrets.clone(),
            }),
            Format::Json => Box::new(json::Json),
            Format::Sarif => Box::new(sarif::Sarif {
                paths: paths::Paths::discover(),
            }),
            Format::Junit => Box::new(junit::Junit),
            Format::Github => Box::new(github::Github {
                paths: paths::Paths::discover(),
            }),
        }
    }
}

/// Renders `outcome` in `format` with no secret in it and nothing that acts on a
/// terminal or a CI runner: the policies' texts are scrubbed before rendering (while the
/// values are still unescaped), then their control characters escaped; the text format
/// scrubs the source lines it shows, and SARIF leaves out fixes that would show a secret.
/// Secrets are scrubbed where they stand, never out of paths, codes, policy names or URIs.
/// In the formats a CI log shows line by line, no line of data can start a workflow
/// command.
pub fn render(outcome: &Outcome, format: Format, mode: Mode, color: bool) -> io::Result<String> {
    let mut buf = Vec::new();
    render_to(outcome, format, mode, color, &mut buf)?;
    Ok(String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// [`render`], written to `out` as it is produced (see [`stream`]); the same bytes.
pub fn render_to(
    outcome: &Outcome,
    format: Format,
    mode: Mode,
    color: bool,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let secrets = redact::Secrets::collect(outcome.files.iter().map(|(_, t)| t.as_str()));
    // A copy only when a policy quoted a secret or a text holds a control character (the
    // common case needs none).
    let (scrub, escape) = (secrets.found_in_outcome(outcome), escape::needed(outcome));
    let cleaned;
    let clean = if scrub || escape {
        let mut copy = outcome.clone();
        if scrub {
            secrets.scrub_outcome(&mut copy);
        }
        if escape {
            escape::outcome(&mut copy);
        }
        cleaned = copy;
        &cleaned
    } else {
        outcome
    };
    let guard = match format {
        Format::Text => stream::Guard::Workflow(|_| false),
        Format::Github => stream::Guard::Workflow(github::is_command),
        Format::Json | Format::Sarif => stream::Guard::Json,
        Format::Junit => stream::Guard::Xml,
    };
    let mut lines = stream::Lines::new(out, guard);
    // The guard looks at blocks, not at each small write of a renderer.
    let mut buffered = io::BufWriter::with_capacity(1 << 16, &mut lines);
    format
        .renderer(color, &secrets)
        .render(clean, mode, &mut buffered)?;
    io::Write::flush(&mut buffered)?;
    drop(buffered);
    lines.finish()
}

/// The formats of commands that print data rather than an outcome (`policy inspect`,
/// `policy list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DataFormat {
    /// For humans.
    Text,
    /// One JSON object.
    Json,
}

/// How CI tools grade a finding: SARIF levels and GitHub annotation commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiLevel {
    Error,
    Warning,
    Note,
}

impl Severity {
    /// critical and high are errors, medium a warning, low and info notes.
    pub fn ci_level(self) -> CiLevel {
        match self {
            Severity::Critical | Severity::High => CiLevel::Error,
            Severity::Medium => CiLevel::Warning,
            Severity::Low | Severity::Info => CiLevel::Note,
        }
    }

    /// The `security-severity` score GitHub code scanning reads (CVSS-like, 0.0–10.0:
    /// over 9.0 critical, 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low).
    pub fn security_severity(self) -> &'static str {
        match self {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "3.0",
            Severity::Info => "1.0",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_format_shows_a_secret_even_escaped() {
        let mut outcome = fixture::outcome("c");
        outcome.files.push((
            "c/x.yml".to_string(),
            "password: \"Quo'te&<Secret>\"\n".to_string(),
        ));
        outcome.findings[0].message = "the value Fixture-Secret-42 is weak".to_string();
        outcome.findings[1].message = "the value Quo'te&<Secret> is weak".to_string();
        for format in [
            Format::Text,
            Format::Json,
            Format::Sarif,
            Format::Junit,
            Format::Github,
        ] {
            let out = render(&outcome, format, Mode::Check, false).unwrap();
            for leak in [
                "Fixture-Secret-42",
                "Quo'te",
                "Quo&apos;te",
                "Quo\\u0027te",
                "te&<Secret>",
                "&lt;Secret&gt;",
            ] {
                assert!(!out.contains(leak), "{format:?} shows `{leak}`:\n{out}");
            }
            assert!(out.contains("redacted"), "{format:?}:\n{out}");
        }
    }
}
