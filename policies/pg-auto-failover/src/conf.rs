//! The `pg_autoctl` configuration file of each node (`pg_autoctl.cfg`, INI).
//!
//! Read as `keeper_config.c` / `monitor_config.c` read it: `[ssl] active` is 0 unless
//! set; a missing `[ssl] sslmode` is `prefer` (pg_autoctl fills it in for clusters made
//! before SSL support); `[pg_autoctl] monitor` is a libpq connection string (URI or
//! `key=value` form) whose `sslmode`, when absent, is libpq's `prefer`.

use policy_guest::DocumentKind;
use policy_guest::doc::documents;
use policy_guest::ini::Ini;
use policy_guest::pgbouncer::sslmode_rank;
use policy_guest::{Input, Location, Report};

/// What the HBA checks need to know about a node.
#[derive(Debug, Clone)]
pub struct Node {
    /// The directory of its configuration file (`""` for the current one).
    pub dir: String,
    pub ssl_active: bool,
}

pub fn dir_of(path: &str) -> String {
    path.rsplit_once('/').map_or("", |(d, _)| d).to_string()
}

pub fn check(input: &Input, report: &mut Report) -> Vec<Node> {
    let mut nodes = Vec::new();
    for doc in documents(input, DocumentKind::PgAutoctl) {
        let Some(ini) = Ini::new(doc) else { continue };
        let at = |section: &str, key: &str| -> Location {
            match ini.get(section, key) {
                Some(s) => Location {
                    pointer: Some(format!("{section}/{key}")),
                    ..s.location.clone()
                },
                None => ini.section_location(section),
            }
        };
        let value = |section: &str, key: &str| ini.value(section, key).unwrap_or("").to_string();
        let active = value("ssl", "active")
            .parse::<i64>()
            .map(|v| v != 0)
            .unwrap_or(false);
        let ca = value("ssl", "ca_file");
        let crl = value("ssl", "crl_file");
        let sslmode = ini
            .value("ssl", "sslmode")
            .filter(|m| !m.is_empty())
            .unwrap_or("prefer")
            .to_string();
        let rank = sslmode_rank(&sslmode);
        nodes.push(Node {
            dir: dir_of(&doc.path),
            ssl_active: active,
        });

        if !active {
            report.finding(
                "ssl-disabled",
                at("ssl", "active"),
                format!("`[ssl] active` is {}: PostgreSQL on this node and pg_autoctl's connections run without SSL", if ini.get("ssl", "active").is_some() { "0" } else { "not set" }),
            );
        } else if ca.is_empty() {
            report.finding(
                "self-signed-certificate",
                at("ssl", "cert_file"),
                "SSL without `ca_file` (`--ssl-self-signed`): traffic is encrypted, but nothing verifies the certificates, so this does NOT protect against man-in-the-middle or impersonation attacks".to_string(),
            );
        }
        // The sslmode pg_autoctl writes into its connection strings.
        let target = if ca.is_empty() {
            "require"
        } else {
            "verify-full"
        };
        if !ca.is_empty() && rank.is_some_and(|r| r < 5) && rank.is_some_and(|r| r >= 3) {
            let i = report.finding(
                "sslmode-unverified",
                at("ssl", "sslmode"),
                format!("`sslmode = {sslmode}` with `ca_file = {ca}`: the server's certificate {} checked against the CA, so a man in the middle is accepted", if rank == Some(4) { "is, but not its host name," } else { "is not" }),
            );
            report.fix(i, ini.set_patch("ssl", "sslmode", "verify-full"));
        } else if rank.is_none_or(|r| r < 3) {
            let i = report.finding(
                "sslmode-plaintext",
                at("ssl", "sslmode"),
                format!(
                    "`sslmode = {sslmode}`{}: pg_autoctl's connections to the monitor and to the primary may run without TLS",
                    if ini.get("ssl", "sslmode").is_some() { "" } else { " (not set: pg_autoctl uses `prefer`)" }
                ),
            );
            if active && rank.is_some() {
                report.fix(i, ini.set_patch("ssl", "sslmode", target));
            }
        }
        // The monitor URI of a keeper.
        if let Some(uri) = ini
            .get("pg_autoctl", "monitor")
            .map(|s| s.value.trim().to_string())
            .filter(|u| !u.is_empty())
        {
            let params = conninfo(&uri);
            let mode = params
                .iter()
                .find(|(k, _)| k == "sslmode")
                .map(|(_, v)| v.clone());
            let mode_rank = mode.as_deref().map_or(Some(2), sslmode_rank);
            let loc = at("pg_autoctl", "monitor");
            if mode_rank.is_none_or(|r| r < 3) {
                let i = report.finding(
                    "monitor-uri-no-ssl",
                    loc.clone(),
                    format!("the monitor URI has {}: the node's state, and its password if any, may reach the monitor in clear", match &mode {
                        Some(m) => format!("`sslmode={m}`"),
                        None => "no `sslmode` (libpq's default is `prefer`)".to_string(),
                    }),
                );
                if active {
                    report.fix(
                        i,
                        ini.set_patch(
                            "pg_autoctl",
                            "monitor",
                            &with_sslmode(&uri, target, &ca, &crl),
                        ),
                    );
                }
            } else if !ca.is_empty() && mode_rank.is_some_and(|r| r < 5) {
                let i = report.finding(
                    "monitor-uri-unverified",
                    loc.clone(),
                    format!("the monitor URI has `sslmode={}` though `ca_file` is set: the monitor's identity is not verified", mode.unwrap_or_default()),
                );
                report.fix(
                    i,
                    ini.set_patch(
                        "pg_autoctl",
                        "monitor",
                        &with_sslmode(&uri, "verify-full", &ca, &crl),
                    ),
                );
            }
            if params.iter().any(|(k, v)| k == "password" && !v.is_empty()) {
                report.finding("monitor-uri-password", loc, "the monitor URI carries the `autoctl_node` password in clear text in the configuration file".to_string());
            }
        }
        if ini
            .value("replication", "password")
            .is_some_and(|p| !p.is_empty())
        {
            report.finding(
                "replication-password-in-config",
                at("replication", "password"),
                "`[replication] password` is written in the configuration file".to_string(),
            );
        }
        match ini
            .value("postgresql", "auth_method")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("trust") => {
                let i = report.finding("auth-trust", at("postgresql", "auth_method"), "`auth_method = trust`: the HBA rules pg_autoctl adds let the monitor and replication users in with no password".to_string());
                report.fix(
                    i,
                    ini.set_patch("postgresql", "auth_method", "scram-sha-256"),
                );
            }
            Some(m @ ("md5" | "password")) => {
                let i = report.finding(
                    "auth-weak",
                    at("postgresql", "auth_method"),
                    format!("`auth_method = {m}`: the rules pg_autoctl adds use {m}"),
                );
                report.fix(
                    i,
                    ini.set_patch("postgresql", "auth_method", "scram-sha-256"),
                );
            }
            _ => {}
        }
    }
    nodes
}

/// The parameters of a libpq connection string (URI or `key=value` form), with the
/// URI's user info as `user`/`password`.
pub fn conninfo(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(rest) = s
        .strip_prefix("postgresql://")
        .or_else(|| s.strip_prefix("postgres://"))
    {
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = main.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            match userinfo.split_once(':') {
                Some((u, p)) => {
                    out.push(("user".into(), u.into()));
                    out.push(("password".into(), p.into()));
                }
                None => out.push(("user".into(), userinfo.into())),
            }
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.push((k.to_string(), v.to_string()));
        }
    } else {
        for word in s.split_whitespace() {
            if let Some((k, v)) = word.split_once('=') {
                out.push((k.to_string(), v.trim_matches('\'').to_string()));
            }
        }
    }
    out
}

/// The connection string with `sslmode` set, and `sslrootcert`/`sslcrl` added for the
/// verifying modes when the node has them and the string does not.
pub fn with_sslmode(s: &str, mode: &str, ca: &str, crl: &str) -> String {
    let verify = mode.starts_with("verify");
    let mut wanted: Vec<(&str, &str)> = vec![("sslmode", mode)];
    if verify && !ca.is_empty() {
        wanted.push(("sslrootcert", ca));
    }
    if verify && !crl.is_empty() {
        wanted.push(("sslcrl", crl));
    }
    let uri = s.starts_with("postgresql://") || s.starts_with("postgres://");
    if uri {
        let (main, query) = s.split_once('?').unwrap_or((s, ""));
        let mut pairs: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        for (k, v) in wanted {
            match pairs.iter_mut().find(|(pk, _)| pk == k) {
                Some(p) if k == "sslmode" => p.1 = v.to_string(),
                Some(_) => {}
                None => pairs.push((k.to_string(), v.to_string())),
            }
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{main}?{}", query.join("&"))
    } else {
        let mut words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
        for (k, v) in wanted {
            let prefix = format!("{k}=");
            match words.iter_mut().find(|w| w.starts_with(&prefix)) {
                Some(w) if k == "sslmode" => *w = format!("{k}={v}"),
                Some(_) => {}
                None => words.push(format!("{k}={v}")),
            }
        }
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let u = "postgres://autoctl_node:h4ckm3@monitor.host:5432/pg_auto_failover?sslmode=require";
        let p = conninfo(u);
        assert!(p.contains(&("password".into(), "h4ckm3".into())));
        assert!(p.contains(&("sslmode".into(), "require".into())));
        assert_eq!(
            with_sslmode(u, "verify-full", "/ca.crt", ""),
            "postgres://autoctl_node:h4ckm3@monitor.host:5432/pg_auto_failover?sslmode=verify-full&sslrootcert=/ca.crt"
        );
        assert_eq!(
            with_sslmode("postgres://m/db", "require", "", ""),
            "postgres://m/db?sslmode=require"
        );
        assert_eq!(
            with_sslmode(
                "host=m dbname=x sslmode=prefer",
                "verify-full",
                "/ca",
                "/crl"
            ),
            "host=m dbname=x sslmode=verify-full sslrootcert=/ca sslcrl=/crl"
        );
    }
}
