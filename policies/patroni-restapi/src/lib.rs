//! Checks the `restapi` and `ctl` sections of a Patroni YAML.

use policy_guest::doc::{Structured, documents};
use policy_guest::{Code, Input, Policy, Report, Severity};
use serde::Deserialize;

pub struct PatroniRestapi;

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// CIDRs that may call the unsafe endpoints.
    pub allowed_cidrs: Vec<String>,
}

pub const CODES: &[Code] = &[
    Code::new("unauthenticated-unsafe-endpoints", Severity::Critical,
        "unsafe REST API endpoints need no authentication",
        "Set `restapi.authentication.username` and `password` (and/or TLS client certificates with `verify_client: required`)."),
    Code::new("no-tls", Severity::High, "the REST API speaks plain HTTP",
        "Set `restapi.certfile` and `restapi.keyfile`."),
    Code::new("no-allowlist", Severity::Medium, "no IP allowlist for unsafe endpoints",
        "Set `restapi.allowlist` to the addresses that must call unsafe endpoints."),
    Code::new("ctl-insecure", Severity::High, "patronictl does not verify the REST API certificate",
        "Remove `ctl.insecure` and set `ctl.cacert`."),
    Code::new("listen-all-interfaces", Severity::Low, "the REST API listens on every interface",
        "Set `restapi.listen` to the node's own address."),
];

impl Policy for PatroniRestapi {
    type Settings = Settings;
    const NAME: &'static str = "patroni-restapi";
    const DESCRIPTION: &'static str = "Patroni REST API: authentication, TLS, allowlist, patronictl";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["patroni", "requests"];

    fn evaluate(input: &Input, _settings: &Settings, report: &mut Report) -> Result<(), String> {
        for doc in documents(input, "patroni") {
            let Some(y) = Structured::new(doc) else { continue };
            if y.get("/restapi").is_none() {
                continue;
            }
            if y.get("/restapi/authentication").is_none() {
                report.finding("unauthenticated-unsafe-endpoints", y.loc("/restapi"),
                    "`restapi` has no `authentication`: anyone who reaches the API can restart, fail over or reconfigure the cluster");
            }
            if y.str("/restapi/certfile").is_none_or(str::is_empty) {
                report.finding("no-tls", y.loc("/restapi"), "`restapi` has no `certfile`: the API and its credentials travel in plain text");
            }
            if y.get("/restapi/allowlist").is_none() {
                report.finding("no-allowlist", y.loc("/restapi"), "`restapi` has no `allowlist`");
            }
            if y.get("/ctl/insecure").and_then(|v| v.as_bool()) == Some(true) {
                report.finding("ctl-insecure", y.loc("/ctl/insecure"), "`ctl.insecure: true` disables certificate verification");
            }
            if let Some(listen) = y.str("/restapi/listen") {
                let host = listen.rsplit_once(':').map_or("", |(h, _)| h);
                if matches!(host, "" | "*" | "0.0.0.0" | "[::]" | "::") {
                    report.finding("listen-all-interfaces", y.loc("/restapi/listen"), format!("`restapi.listen: {listen}` accepts connections on every interface"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(PatroniRestapi);
