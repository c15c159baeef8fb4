//! A test policy standing for an organisation's rule written without the deployment in
//! mind: every `host` line of a pg_hba.conf must be `hostssl`, with a fix that rewrites
//! the connection type whatever the server's TLS. The host's fix proof
//! (`patrol::fix::proof`) must withhold that fix when it would refuse a required flow
//! (tests/flows.rs): the built-in policies withhold such fixes themselves, so only a
//! policy like this one reaches the host's proof.

use policy_guest::DocumentKind;
use policy_guest::{Body, Code, Edit, Input, LineEdit, Patch, Policy, Report, Severity};

pub struct SslEverywhere;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Settings {}

const CODES: &[Code] = &[Code::new(
    "host-not-hostssl",
    Severity::High,
    "A TCP line of pg_hba.conf admits connections without TLS",
    "Make the line `hostssl`.",
)];

impl Policy for SslEverywhere {
    type Settings = Settings;
    const NAME: &'static str = "ssl-everywhere";
    const DESCRIPTION: &'static str = "every pg_hba TCP line must be hostssl (test policy)";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["pg-hba"];

    fn evaluate(input: &Input, _settings: &Settings, report: &mut Report) -> Result<(), String> {
        for doc in input
            .documents
            .iter()
            .filter(|d| d.kind == DocumentKind::PgHba)
        {
            let Body::Hba(rules) = &doc.body else {
                continue;
            };
            let lines: Vec<&str> = doc.text.lines().collect();
            for rule in rules.iter().filter(|r| r.connection_type == "host") {
                let n = rule.location.line;
                if rule.location.file != doc.path {
                    continue;
                }
                let Some(line) = (n as usize).checked_sub(1).and_then(|i| lines.get(i)) else {
                    continue;
                };
                let Some(at) = line.find("host") else {
                    continue;
                };
                let f = report.finding(
                    "host-not-hostssl",
                    rule.location.clone(),
                    format!("`{}` admits connections without TLS", rule.raw.trim()),
                );
                report.fix(
                    f,
                    Patch {
                        file: doc.path.clone(),
                        description: format!("make line {n} hostssl"),
                        edits: vec![Edit::Lines(LineEdit {
                            start: n,
                            end: n,
                            text: format!("{}hostssl{}", &line[..at], &line[at + 4..]),
                        })],
                    },
                );
            }
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(SslEverywhere);
