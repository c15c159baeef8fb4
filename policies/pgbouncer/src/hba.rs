//! The cross-file checks between pgbouncer.ini and its `auth_hba_file`.
//!
//! With `auth_type = hba`, PgBouncer picks the method per connection from that file
//! (`local`, `host`, `hostssl`, `hostnossl` lines; methods `trust`, `reject`, `md5`,
//! `password`, `scram-sha-256`, `cert`, `peer`). What the ini file says about TLS decides
//! what those lines mean: `host` lines take clients without TLS unless
//! `client_tls_sslmode` requires it, and `hostssl` lines never match while client TLS is
//! off.

use policy_guest::DocumentKind;
use policy_guest::doc::documents;
use policy_guest::ini::Ini;
use policy_guest::pgbouncer::{Config, sslmode_rank};
use policy_guest::report::{hba_change, hba_patch};
use policy_guest::{Body, Document, HbaEdit, HbaRule, Input, Location, Patch, Report};

/// The `pg-hba` document that is the auth_hba_file `name`, preferring the ini file's
/// directory.
fn find<'a>(input: &'a Input, ini_path: &str, name: &str) -> Option<&'a Document> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let dir = |p: &str| p.rsplit_once('/').map_or("", |(d, _)| d).to_string();
    let candidates: Vec<&Document> = documents(input, DocumentKind::PgHba)
        .filter(|d| d.path.rsplit('/').next().unwrap_or(&d.path) == base)
        .collect();
    candidates
        .iter()
        .find(|d| dir(&d.path) == dir(ini_path))
        .or(candidates.first())
        .copied()
}

pub fn check(input: &Input, ini: &Ini, cfg: &Config, report: &mut Report) {
    if !cfg.value("auth_type").trim().eq_ignore_ascii_case("hba") {
        return;
    }
    let Some(file) = ini
        .get("pgbouncer", "auth_hba_file")
        .map(|s| s.value.trim().to_string())
        .filter(|f| !f.is_empty())
    else {
        return;
    };
    let Some(doc) = find(input, &ini.doc.path, &file) else {
        report.finding(
            "auth-hba-file-unchecked",
            cfg.location("auth_hba_file"),
            format!("`auth_hba_file = {file}` is not among the checked files: its rules decide who gets in"),
        );
        return;
    };
    let Body::Hba(rules) = &doc.body else { return };
    let mode = cfg.value("client_tls_sslmode");
    let rank = sslmode_rank(&mode).unwrap_or(0);
    let tls_files = cfg.is_set("client_tls_key_file") && cfg.is_set("client_tls_cert_file");
    for rule in rules {
        let method = rule.method.to_ascii_lowercase();
        let network = rule.connection_type != "local";
        let at = Location {
            pointer: None,
            ..rule.location.clone()
        };
        if network && method == "trust" {
            let i = report.finding(
                "auth-hba-trust",
                at.clone(),
                format!(
                    "line {} of the auth_hba_file (`{}`) lets clients in with no password",
                    rule.location.line,
                    rule.raw.trim()
                ),
            );
            let mut change = hba_change(rule.location.line);
            change.method = Some("scram-sha-256".into());
            if let Some(p) = fix(doc, rule, change, "`trust` → `scram-sha-256`") {
                report.fix(i, p);
            }
            continue;
        }
        let password = matches!(
            method.as_str(),
            "md5" | "password" | "scram-sha-256" | "plain"
        );
        if network
            && password
            && matches!(rule.connection_type.as_str(), "host" | "hostnossl")
            && rank < 3
        {
            let i = report.finding(
                "auth-hba-plaintext",
                at.clone(),
                format!(
                    "`{}` (line {}) takes `{}` passwords on connections without TLS (`client_tls_sslmode = {}` in {})",
                    rule.raw.trim(),
                    rule.location.line,
                    rule.method,
                    if mode.is_empty() { "disable" } else { &mode },
                    ini.doc.path
                ),
            );
            // `hostssl` only helps when PgBouncer can speak TLS to clients at all.
            if rule.connection_type == "host"
                && rank >= 1
                && tls_files
                && let Some(p) = fix(doc, rule, hostssl(rule), "`host` → `hostssl`")
            {
                report.fix(i, p);
            }
        }
        if rule.connection_type == "hostssl" && rank == 0 {
            report.finding(
                "auth-hba-hostssl-without-tls",
                at,
                format!(
                    "`{}` (line {}) never matches: client TLS is off in {}",
                    rule.raw.trim(),
                    rule.location.line,
                    ini.doc.path
                ),
            );
        }
    }
}

/// A change of the record to `hostssl`.
fn hostssl(rule: &HbaRule) -> policy_guest::HbaChange {
    let mut change = hba_change(rule.location.line);
    change.connection_type = Some("hostssl".into());
    change
}

/// The patch that makes `change` to the record (the host renders it in the file's own
/// text); none for a record continued over several lines or read from another file.
fn fix(
    doc: &Document,
    rule: &HbaRule,
    change: policy_guest::HbaChange,
    what: &str,
) -> Option<Patch> {
    let line = rule.location.line;
    let continued = rule.location.end_line.is_some_and(|e| e != line);
    if continued || rule.location.file != doc.path || line == 0 {
        return None;
    }
    Some(hba_patch(
        &doc.path,
        format!("{what} on line {line}"),
        vec![HbaEdit::Set(change)],
    ))
}
