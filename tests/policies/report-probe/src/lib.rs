//! A probe for the report formats (tests/report.rs): it reports every setting line of
//! every document it reads, with a message that quotes the line verbatim and a patch
//! that rewrites the line (keeping its text, appending a comment), so that every line
//! (secrets included) reaches every output format: the source line in `text`, the message
//! everywhere, the patch in SARIF fixes and `--diff`. Severities cycle through all five
//! levels. A real policy never quotes a secret; this one does so that the tests prove
//! the host's redaction catches it in every format.

use policy_guest::report::at;
use policy_guest::{Code, Edit, Input, LineEdit, Location, Patch, Policy, Report, Severity};

pub struct ReportProbe;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Settings {}

const CODES: &[Code] = &[
    Code::new("line", Severity::High, "A setting line", "Review the line."),
    Code::new(
        "whole-file",
        Severity::Info,
        "A finding about the whole file",
        "Nothing to do.",
    ),
];

const LEVELS: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

impl Policy for ReportProbe {
    type Settings = Settings;
    const NAME: &'static str = "report-probe";
    const DESCRIPTION: &'static str = "probes the report formats";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &[
        "patroni",
        "pg-hba",
        "postgresql-conf",
        "pgbackrest",
        "consul",
        "gitlab-rb",
        "etcd",
        "haproxy",
        "pgbouncer",
        "pg-autoctl",
    ];

    fn evaluate(input: &Input, _settings: &Settings, report: &mut Report) -> Result<(), String> {
        for doc in &input.documents {
            let file = doc.path.as_str();
            let whole = Location {
                file: file.to_string(),
                line: 0,
                end_line: None,
                pointer: None,
            };
            report.finding(
                "whole-file",
                whole,
                format!("{file} is a {} file", doc.kind),
            );
            for (i, line) in doc.text.lines().enumerate() {
                let n = i as u32 + 1;
                let trimmed = line.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let f = report.finding("line", at(file, n), format!("line {n} reads `{trimmed}`"));
                report.severity(f, LEVELS[i % LEVELS.len()]);
                let patch = Patch {
                    file: file.to_string(),
                    description: format!("review line {n}"),
                    edits: vec![Edit::Lines(LineEdit {
                        start: n,
                        end: n,
                        text: format!("{line} # reviewed"),
                    })],
                };
                report.fix(f, patch);
            }
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(ReportProbe);
