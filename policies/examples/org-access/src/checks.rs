//! The static checks: what the config files say, whatever the samples.
//!
//! - `restapi.allowlist` entries must lie inside the networks of rows that may call unsafe
//!   endpoints, and there must be an allowlist when the matrix restricts them;
//! - pg_hba host records must admit only networks of rows that may connect;
//! - every pg_hba record for physical replication must be `hostssl` with
//!   `clientcert=verify-full` (or the `cert` method), fixed by rewriting the line;
//! - no listener may use its default port.

use policy_guest::DocumentKind;
use policy_guest::doc::{Structured, documents};
use policy_guest::net::{IpNet, parse_net, within_any};
use policy_guest::report::replace_lines;
use policy_guest::{Body, HbaAddress, HbaRule, Input, Report};

use crate::Settings;
use crate::matrix::Row;

pub fn allowlist(input: &Input, settings: &Settings, report: &mut Report) {
    let admin: Vec<IpNet> = settings.matrix.iter().filter(|r| r.allows_unsafe()).flat_map(Row::networks).collect();
    if settings.matrix.is_empty() {
        return;
    }
    for doc in documents(input, DocumentKind::Patroni) {
        let Some(y) = Structured::new(doc) else { continue };
        if y.get("/restapi").is_none() {
            continue;
        }
        let Some(list) = y.get("/restapi/allowlist").and_then(|v| v.as_array()) else {
            report.finding(
                "unsafe-endpoints-unrestricted",
                y.loc("/restapi"),
                "`restapi` has no `allowlist`: any address may call the unsafe endpoints, but the access matrix allows them only from its admin rows",
            );
            continue;
        };
        for (i, entry) in list.iter().enumerate() {
            let text = entry.as_str().map_or_else(|| entry.to_string(), str::to_string);
            if parse_net(&text).is_some_and(|net| within_any(&net, &admin)) {
                continue;
            }
            report.finding(
                "allowlist-outside-matrix",
                y.loc(&format!("/restapi/allowlist/{i}")),
                format!("`{text}` in `restapi.allowlist` is outside every network the access matrix allows to call unsafe endpoints"),
            );
        }
    }
}

fn hba_rules(input: &Input) -> impl Iterator<Item = &HbaRule> {
    documents(input, DocumentKind::PgHba).flat_map(|d| match &d.body {
        Body::Hba(rules) => rules.as_slice(),
        _ => &[],
    })
}

/// Whether a record lists the `replication` keyword (not a quoted database of that name).
fn for_replication(rule: &HbaRule) -> bool {
    rule.databases.iter().any(|d| !d.quoted && d.text == "replication")
}

pub fn hba_networks(input: &Input, settings: &Settings, report: &mut Report) {
    let allowed: Vec<IpNet> = settings.matrix.iter().filter(|r| !r.postgres.is_empty()).flat_map(Row::networks).collect();
    if settings.matrix.is_empty() {
        return;
    }
    for rule in hba_rules(input).filter(|r| r.method != "reject") {
        let (outside, shown) = match &rule.address {
            Some(HbaAddress::Any) => (true, "all".to_string()),
            Some(HbaAddress::Network(n)) => {
                let Some(prefix) = n.prefix else { continue };
                let text = format!("{}/{prefix}", n.address);
                (!parse_net(&text).is_some_and(|net| within_any(&net, &allowed)), text)
            }
            // `samehost`, `samenet`, host names: not networks the matrix can contain.
            _ => continue,
        };
        if outside {
            report.finding(
                "hba-outside-matrix",
                rule.location.clone(),
                format!("pg_hba admits `{shown}`, outside every network the access matrix lets connect"),
            );
        }
    }
}

pub fn replication_tls(input: &Input, settings: &Settings, report: &mut Report) {
    if !settings.replication_requires_verify_full {
        return;
    }
    for rule in hba_rules(input).filter(|r| for_replication(r)) {
        if rule.connection_type == "local" || rule.method == "reject" {
            continue;
        }
        let verify_full = rule.method == "cert" || rule.options.iter().any(|(k, v)| k == "clientcert" && v == "verify-full");
        if rule.connection_type == "hostssl" && verify_full {
            continue;
        }
        let finding = report.finding(
            "replication-without-verify-full",
            rule.location.clone(),
            format!(
                "replication record is `{}`{}: replicas must connect over TLS with a verified client certificate",
                rule.connection_type,
                if verify_full { "" } else { " without `clientcert=verify-full`" }
            ),
        );
        let start = rule.location.line;
        let end = rule.location.end_line.unwrap_or(start);
        if start > 0 {
            let text = require_verify_full(&rule.raw, &rule.connection_type, rule.method == "cert");
            let patch = replace_lines(&rule.location.file, "require hostssl and clientcert=verify-full for replication", start, end, text);
            report.fix(finding, patch);
        }
    }
}

/// The record rewritten as `hostssl … clientcert=verify-full`, keeping its columns and
/// spacing; a trailing comment stays last.
pub fn require_verify_full(raw: &str, connection_type: &str, cert_method: bool) -> String {
    let (record, comment) = match raw.find('#') {
        Some(i) => (raw[..i].trim_end(), Some(&raw[i..])),
        None => (raw.trim_end(), None),
    };
    let indent = &record[..record.len() - record.trim_start().len()];
    let rest = record.trim_start().strip_prefix(connection_type).unwrap_or(record.trim_start());
    // Keep the next column where it was when the type gets longer or shorter.
    let gap = rest.len() - rest.trim_start().len();
    let gap = (gap + connection_type.len()).saturating_sub("hostssl".len()).max(1);
    let kept: Vec<&str> = rest.trim_start().split(' ').filter(|w| !w.starts_with("clientcert=")).collect();
    let mut line = format!("{indent}hostssl{}{}", " ".repeat(gap), kept.join(" ").trim_end());
    if !cert_method {
        line.push_str(" clientcert=verify-full");
    }
    if let Some(c) = comment {
        line.push_str("  ");
        line.push_str(c);
    }
    line
}

/// `host:port` → port.
fn port(listen: &str) -> Option<u16> {
    listen.rsplit_once(':').and_then(|(_, p)| p.trim().parse().ok())
}

pub fn default_ports(input: &Input, settings: &Settings, report: &mut Report) {
    if !settings.forbid_default_ports {
        return;
    }
    for doc in documents(input, DocumentKind::Patroni) {
        let Some(y) = Structured::new(doc) else { continue };
        for (pointer, default, what) in [("/restapi/listen", 8008, "the Patroni REST API"), ("/postgresql/listen", 5432, "PostgreSQL")] {
            let Some(listen) = y.str(pointer) else { continue };
            if port(listen) == Some(default) {
                report.finding("default-port", y.loc(pointer), format!("{what} listens on its default port {default} (`{listen}`)"));
            }
        }
    }
    for doc in documents(input, DocumentKind::PostgresqlConf) {
        let Body::Settings(settings) = &doc.body else { continue };
        for s in settings.iter().filter(|s| s.name == "port" && s.value.trim() == "5432") {
            report.finding("default-port", s.location.clone(), "PostgreSQL listens on its default port 5432 (`port = 5432`)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_records_are_rewritten_in_place() {
        assert_eq!(
            require_verify_full("host    replication  replicator  10.20.1.0/24  scram-sha-256", "host", false),
            "hostssl replication  replicator  10.20.1.0/24  scram-sha-256 clientcert=verify-full"
        );
        assert_eq!(
            require_verify_full("hostssl replication all 10.0.0.0/8 md5 clientcert=verify-ca # replicas", "hostssl", false),
            "hostssl replication all 10.0.0.0/8 md5 clientcert=verify-full  # replicas"
        );
        assert_eq!(require_verify_full("hostnossl replication all ::1/128 cert", "hostnossl", true), "hostssl   replication all ::1/128 cert");
    }

    #[test]
    fn ports_come_from_the_last_colon() {
        assert_eq!(port("0.0.0.0:8008"), Some(8008));
        assert_eq!(port("[::]:5432"), Some(5432));
        assert_eq!(port("10.0.0.1,127.0.0.1:6432"), Some(6432));
        assert_eq!(port("localhost"), None);
    }
}
