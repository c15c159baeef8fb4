//! The checks of postgresql.conf on the settings Patroni gives the server: each member's
//! effective setting (from the host's deployment model) whose winning assignment is in a
//! Patroni YAML or a `PATRONI_*` variable. Reported at that assignment; no patch (the
//! fix belongs in Patroni's configuration, and for `bootstrap.dcs` in the live DCS too,
//! which no input shows).

use std::collections::HashSet;

use policy_guest::pgconf::parse_bool;
use policy_guest::{Input, Report, SettingOrigin};

use super::{Settings, is_listen_all, logs};

pub fn check(input: &Input, settings: &Settings, report: &mut Report) {
    let mut seen = HashSet::new();
    for s in input
        .deployment
        .clusters
        .iter()
        .flat_map(|c| &c.members)
        .flat_map(|m| &m.settings)
    {
        let from = match s.origin {
            SettingOrigin::PatroniLocal => "Patroni's `postgresql.parameters`",
            SettingOrigin::PatroniDcsBootstrap => {
                "`bootstrap.dcs.postgresql.parameters` (the DCS keeps it after bootstrap)"
            }
            SettingOrigin::Environment => "a `PATRONI_*` environment variable",
            _ => continue,
        };
        if !seen.insert((s.source.file.clone(), s.source.line, s.name.clone())) {
            continue;
        }
        let v = s.value.trim();
        let (code, message) = match s.name.as_str() {
            "ssl" if settings.require_ssl && parse_bool(v) == Some(false) => (
                "ssl-off",
                format!("`ssl` is `{v}` in {from}: clients can only connect in clear text"),
            ),
            "password_encryption"
                if v.eq_ignore_ascii_case("md5") || parse_bool(v) == Some(true) =>
            {
                (
                    "password-encryption-not-scram",
                    format!(
                        "`password_encryption` is `{v}` in {from}: new passwords are stored as MD5 hashes"
                    ),
                )
            }
            "ssl_min_protocol_version"
                if matches!(v.to_ascii_lowercase().as_str(), "tlsv1" | "tlsv1.1") =>
            {
                (
                    "ssl-min-protocol-below-tls12",
                    format!(
                        "`ssl_min_protocol_version` is `{v}` in {from}: it accepts deprecated TLS versions"
                    ),
                )
            }
            "listen_addresses" if settings.forbid_listen_all && is_listen_all(v) => (
                "listen-all",
                format!(
                    "`listen_addresses` is `{v}` in {from}: the server listens on every interface"
                ),
            ),
            "log_connections" if settings.require_log_connections && !logs(Some(v)) => (
                "log-connections-off",
                format!("`log_connections` is `{v}` in {from}"),
            ),
            "log_disconnections" if settings.require_log_disconnections && !logs(Some(v)) => (
                "log-disconnections-off",
                format!("`log_disconnections` is `{v}` in {from}"),
            ),
            _ => continue,
        };
        report.finding(code, s.source.clone(), message);
    }
}
