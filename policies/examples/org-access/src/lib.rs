//! `org-access`: an organisation's allowlist and access matrix, over Patroni REST API
//! requests and PostgreSQL connections. The worked example of patrol's "Write your own
//! policy" guide.
//!
//! The settings hold the matrix (who may do what from where, [`matrix`]) and two house
//! rules. The policy answers every request and connection sample with the matrix's
//! verdict, and compares it with what the real servers would do, simulated by the SDK
//! ([`policy_guest::patroni::RestApi`], [`policy_guest::hba::Matcher`]): a sample the
//! server lets through but the matrix forbids is a finding at the config line that let
//! it through; one the matrix allows but the server refuses is a (low) finding too.
//! [`checks`] holds the checks of the files themselves.

pub mod checks;
pub mod matrix;

use policy_guest::DocumentKind;
use policy_guest::doc::{Structured, documents};
use policy_guest::hba::{Matcher, ServerFacts};
use policy_guest::patroni::{Facts, RestApi};
use policy_guest::report::decision;
use policy_guest::{Body, Code, HbaRule, Input, Location, Policy, Report, SampleKind, Severity, Verdict};
use serde::Deserialize;

use matrix::Row;

pub struct OrgAccess;

/// The settings (`settings:` of this policy in patrol.yaml).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Who may do what, from where; empty: no matrix checks.
    pub matrix: Vec<Row>,
    /// Every pg_hba record for physical replication must be `hostssl` with
    /// `clientcert=verify-full` (or the `cert` method).
    pub replication_requires_verify_full: bool,
    /// No listener may use its default port (Patroni 8008, PostgreSQL 5432).
    pub forbid_default_ports: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { matrix: Vec::new(), replication_requires_verify_full: true, forbid_default_ports: true }
    }
}

pub const CODES: &[Code] = &[
    Code::new("request-outside-matrix", Severity::High,
        "Patroni lets through a request the access matrix forbids",
        "Tighten `restapi.allowlist` (and authentication) so that only the matrix's rows reach that endpoint, or add a row to the matrix."),
    Code::new("connection-outside-matrix", Severity::High,
        "pg_hba lets through a connection the access matrix forbids",
        "Narrow or remove the pg_hba record that admits it, or add a row to the matrix."),
    Code::new("matrix-request-blocked", Severity::Low,
        "Patroni refuses a request the access matrix allows",
        "Let the row's networks through `restapi.allowlist`, or give the sample the credentials it needs."),
    Code::new("matrix-connection-blocked", Severity::Low,
        "pg_hba refuses a connection the access matrix allows",
        "Add a pg_hba record for the row's networks, user and database."),
    Code::new("unsafe-endpoints-unrestricted", Severity::High,
        "`restapi` has no allowlist, so any address may call the unsafe endpoints",
        "Set `restapi.allowlist` to the networks of the matrix's admin rows."),
    Code::new("allowlist-outside-matrix", Severity::High,
        "`restapi.allowlist` admits a network the matrix does not allow to call unsafe endpoints",
        "Remove the entry, or add its network to a matrix row that may call unsafe endpoints."),
    Code::new("hba-outside-matrix", Severity::Medium,
        "a pg_hba record admits a network outside every row that may connect",
        "Narrow the record's address to the matrix's networks, or make it `reject`."),
    Code::new("replication-without-verify-full", Severity::High,
        "a pg_hba record for replication does not demand TLS with a verified client certificate",
        "Make it `hostssl … clientcert=verify-full` (or use the `cert` method)."),
    Code::new("default-port", Severity::Medium,
        "a listener uses its default port",
        "Move the listener off its default port (8008 for Patroni, 5432 for PostgreSQL)."),
];

impl Policy for OrgAccess {
    type Settings = Settings;
    const NAME: &'static str = "org-access";
    const DESCRIPTION: &'static str = "the organisation's access matrix and house rules for Patroni and pg_hba";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["patroni", "pg-hba", "postgresql-conf", "requests", "connections"];

    fn validate(settings: &Settings) -> Vec<String> {
        matrix::validate(&settings.matrix)
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        checks::allowlist(input, settings, report);
        checks::hba_networks(input, settings, report);
        checks::replication_tls(input, settings, report);
        checks::default_ports(input, settings, report);
        requests(input, &settings.matrix, report)?;
        connections(input, &settings.matrix, report);
        Ok(())
    }
}

/// The matrix's answer to each request, checked against every Patroni config's.
fn requests(input: &Input, rows: &[Row], report: &mut Report) -> Result<(), String> {
    let facts = Facts::from_context(&input.context)?;
    let apis: Vec<RestApi> = documents(input, DocumentKind::Patroni)
        .filter_map(Structured::new)
        .filter(|y| y.get("/restapi").is_some())
        .map(|y| RestApi::compile(&y, &facts))
        .collect();
    for (i, sample) in input.requests.iter().enumerate() {
        // Samples come as columns; an owned request is simpler to match.
        let req = &sample.to_request();
        let call = format!("{} {} from {}", req.method, req.path, req.source);
        let row = matrix::request_row(rows, req);
        for api in &apis {
            let server = api.decide_request(i, req);
            let at = server.location.clone().unwrap_or_else(|| Location { file: api.file.clone(), line: 0, end_line: None, pointer: None });
            match (row, server.verdict) {
                (None, Verdict::Allow) => {
                    report.finding("request-outside-matrix", at, format!("Patroni ({}) lets through {call}, which no row of the access matrix allows", api.file));
                }
                (Some(r), Verdict::Deny) => {
                    report.finding("matrix-request-blocked", at, format!("row `{}` allows {call}, but Patroni ({}) refuses it: {}", r.name, api.file, server.reason));
                }
                _ => {}
            }
        }
        report.decision(matrix_decision(SampleKind::Request, i, row, &call));
    }
    Ok(())
}

/// The same for connections, against every pg_hba.conf.
fn connections(input: &Input, rows: &[Row], report: &mut Report) {
    let matchers: Vec<(&str, &[HbaRule], Matcher)> = documents(input, DocumentKind::PgHba)
        .filter_map(|d| match &d.body {
            Body::Hba(rules) => {
                Some((d.path.as_str(), rules.as_slice(), Matcher::new(rules, &[], &input.context, ServerFacts::unknown())))
            }
            _ => None,
        })
        .collect();
    for (i, c) in input.connections.iter().enumerate() {
        let what = format!("{}@{} from {}", c.user, c.database, c.source);
        let row = matrix::connection_row(rows, c);
        for (file, rules, m) in &matchers {
            let mut scratch = m.scratch();
            let out = m.decide(c, &mut scratch);
            let at = out
                .rule
                .and_then(|r| rules.get(r))
                .map(|r| r.location.clone())
                .unwrap_or_else(|| Location { file: file.to_string(), line: 0, end_line: None, pointer: None });
            match (row, out.verdict) {
                (None, Verdict::Allow) => {
                    report.finding("connection-outside-matrix", at, format!("pg_hba lets {what} in, which no row of the access matrix allows"));
                }
                (Some(r), Verdict::Deny) => {
                    report.finding("matrix-connection-blocked", at, format!("row `{}` allows {what}, but the server refuses it: {}", r.name, out.reason));
                }
                _ => {}
            }
        }
        report.decision(matrix_decision(SampleKind::Connection, i, row, &what));
    }
}

fn matrix_decision(kind: SampleKind, index: usize, row: Option<&Row>, what: &str) -> policy_guest::Decision {
    match row {
        Some(r) => decision(kind, index, Verdict::Allow, "matrix", format!("row `{}` allows {what}", r.name)),
        None => decision(kind, index, Verdict::Deny, "matrix", format!("no row of the access matrix allows {what}")),
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(OrgAccess);
