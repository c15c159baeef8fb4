//! Checks Consul agent configs (HCL or JSON): gossip encryption, TLS verification of
//! RPC, ACLs denying by default, the HTTP API's exposure and script checks.
//!
//! The checks are `policy_guest::consul` (shared with the GitLab Omnibus policy, which
//! builds the same JSON from gitlab.rb). This crate runs them on each `consul` document
//! and writes the fixes in the file's own syntax: HCL line edits (`hcl_edit`) for `.hcl`
//! files, pointer edits for JSON files. Each file is one agent's config; a config split
//! over several files of one agent is checked file by file.

mod hcl_edit;
#[cfg(test)]
mod tests;

use policy_guest::DocumentKind;
use policy_guest::consul::{self, CODES};
use policy_guest::doc::{Structured, documents};
use policy_guest::{Code, Edit, Input, Patch, PointerValue, Policy, Report};
use serde::Deserialize;
use serde_json::Value;

pub struct Consul;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The address the `http-api-exposed` fix binds the HTTP API to: loopback or a unix
    /// socket (several separated by spaces), as the check wants it.
    pub client_addr: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            client_addr: "127.0.0.1".into(),
        }
    }
}

impl Policy for Consul {
    type Settings = Settings;
    const NAME: &'static str = "consul";
    const DESCRIPTION: &'static str = "Consul agents: gossip encryption, RPC TLS verification, ACL default deny, HTTP API exposure, script checks";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["consul"];

    fn validate(s: &Settings) -> Vec<String> {
        consul::client_addr_problem("client_addr", &s.client_addr)
            .into_iter()
            .collect()
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        for doc in documents(input, DocumentKind::Consul) {
            let Some(y) = Structured::new(doc) else {
                continue;
            };
            if !y.value.is_object() {
                continue;
            }
            for issue in consul::check(&y.value) {
                let i = report.finding(issue.code, y.loc(&issue.pointer), issue.message);
                if let Some(sev) = issue.severity {
                    report.severity(i, sev);
                }
                let Some(mut value) = issue.fix else { continue };
                if issue.code == "http-api-exposed" {
                    value = Value::String(settings.client_addr.clone());
                }
                if let Some(patch) = fix(&y, &issue.pointer, &value) {
                    report.fix(i, patch);
                }
            }
        }
        Ok(())
    }
}

/// The patch that sets `pointer` to `value` in this document's syntax.
fn fix(y: &Structured, pointer: &str, value: &Value) -> Option<Patch> {
    let path = &y.doc.path;
    let edit = if path.ends_with(".json") {
        Edit::Set(PointerValue {
            pointer: pointer.to_string(),
            value: value.to_string(),
        })
    } else {
        hcl_edit::set(y, pointer, value)?
    };
    let key = pointer.trim_start_matches('/').replace('/', ".");
    Some(Patch {
        file: path.clone(),
        description: format!("set `{key}` to `{value}`"),
        edits: vec![edit],
    })
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(Consul);
