//! A probe for the report formats (tests/report.rs). For every document it reads it
//! reports the first setting line (`first-line`, high, with a patch that rewrites it), and
//! every line that holds a secret (`secret-line`, medium) with a message that quotes the
//! line verbatim, a patch that rewrites the secret line itself (keeping the value), and a patch that inserts
//! a comment above it (so that the diff's context shows the secret). A well-behaved
//! policy never quotes a secret; this one does so that the tests prove the host's
//! redaction catches it in every format.

use policy_guest::report::at;
use policy_guest::{Code, Edit, Input, LineEdit, Location, Patch, Policy, Report, Severity};

pub struct ReportProbe;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Settings {}

const CODES: &[Code] = &[
    Code::new("first-line", Severity::High, "The first setting of a file", "Review the first setting."),
    Code::new("secret-line", Severity::Medium, "A line holds a secret", "Move the secret out of the file."),
    Code::new("whole-file", Severity::Low, "A finding about the whole file", "Nothing to do."),
];

fn is_secret(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    !l.trim_start().starts_with('#')
        && ["password", "pass=", "pass =", "token", "encrypt", "cipher"].iter().any(|k| l.contains(k))
        && (l.contains(':') || l.contains('='))
}

fn lines(file: &str, description: &str, start: u32, end: u32, text: String) -> Patch {
    Patch {
        file: file.to_string(),
        description: description.to_string(),
        edits: vec![Edit::Lines(LineEdit { start, end, text })],
    }
}

impl Policy for ReportProbe {
    type Settings = Settings;
    const NAME: &'static str = "report-probe";
    const DESCRIPTION: &'static str = "probes the report formats";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] =
        &["patroni", "pg-hba", "postgresql-conf", "pgbackrest", "consul", "gitlab-rb", "etcd", "haproxy", "pgbouncer"];

    fn evaluate(input: &Input, _settings: &Settings, report: &mut Report) -> Result<(), String> {
        for doc in &input.documents {
            let file = doc.path.as_str();
            let file_level = Location { file: file.to_string(), line: 0, end_line: None, pointer: None };
            report.finding("whole-file", file_level, format!("{} is a {} file", file, doc.kind));
            let mut first = true;
            for (i, line) in doc.text.lines().enumerate() {
                let n = i as u32 + 1;
                let trimmed = line.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                if first {
                    first = false;
                    let f = report.finding("first-line", at(file, n), format!("first setting: {trimmed}"));
                    report.fix(f, lines(file, "mark the first setting", n, n, format!("{line} # reviewed")));
                }
                if is_secret(line) {
                    let f = report.finding("secret-line", at(file, n), format!("the line `{trimmed}` holds a secret"));
                    report.fix(f, lines(file, "flag the secret line", n, n, format!("{line} # rotate")));
                    let g = report.finding("secret-line", at(file, n), format!("secret in {file}:{n}: {trimmed}"));
                    report.fix(g, lines(file, "comment above the secret", n, n - 1, "# a secret follows".to_string()));
                }
            }
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(ReportProbe);
