//! PgBouncer's security settings as PgBouncer reads them, and the checks on them, shared
//! by the policies that see a PgBouncer config: `pgbouncer` (pgbouncer.ini) and
//! `gitlab-omnibus` (`pgbouncer['…']` in gitlab.rb, rendered by Omnibus into the same
//! ini keys).
//!
//! A [`Config`] is the `[pgbouncer]` section's last value of every key (PgBouncer keeps
//! the last; names compare without case), each with where it was written; keys that are
//! not written take PgBouncer's defaults (`auth_type = md5`, `client_tls_sslmode =
//! disable`, `server_tls_sslmode = disable` before 1.20 and `prefer` from 1.20 on —
//! `src/main.c` of the tags `pgbouncer_1_19_1` and `pgbouncer_1_20_0`; neither requires
//! TLS —, TLS protocols `secure`; the caller can supply other defaults, as Omnibus does).
//!
//! TLS only applies where PgBouncer speaks TCP (`src/server.c`, `src/client.c` skip it for
//! Unix sockets): no server-TLS finding when every `[databases]` entry is reached over a
//! socket, no client-TLS finding when `listen_addr` is empty (socket only), and the
//! client side's severity follows `listen_addr` (docs/severity.md): every interface
//! critical, a network address high, loopback medium. [`check`] returns [`Issue`]s: a code, a
//! message, where, and the value that fixes it, so that each front end writes the fix in
//! its own syntax. The codes and their texts are [`CODES`] (for pgbouncer.ini; the GitLab
//! policy words its own).

use std::collections::HashMap;

use crate::report::Code;
use crate::{Location, Severity};

/// One key's effective value.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: String,
    /// Where it is written; `None` for a default.
    pub location: Option<Location>,
    /// The value could not be evaluated (gitlab.rb Ruby): it is set, to something unknown.
    pub unknown: bool,
}

/// The settings of one PgBouncer instance.
#[derive(Debug, Clone)]
pub struct Config {
    entries: HashMap<String, Entry>,
    defaults: HashMap<String, String>,
    /// Where findings about a key that is not written point (the `[pgbouncer]` header,
    /// or the gitlab.rb line that enables PgBouncer).
    pub anchor: Location,
    /// `user=` values of `[databases]` connection strings, and `auth_user`.
    pub app_users: Vec<(String, Location)>,
    /// The `host=` of every `[databases]` entry (empty when not written: a Unix socket);
    /// None when the databases are not known (Omnibus renders them from elsewhere).
    pub backend_hosts: Option<Vec<String>>,
}

/// PgBouncer's own defaults for the keys checked here.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("auth_type", "md5"),
    ("client_tls_sslmode", "disable"),
    ("server_tls_sslmode", "disable"),
    ("client_tls_protocols", "secure"),
    ("server_tls_protocols", "secure"),
    ("listen_addr", ""),
    ("admin_users", ""),
    ("stats_users", ""),
];

impl Config {
    pub fn new(anchor: Location) -> Config {
        let defaults = DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config {
            entries: HashMap::new(),
            defaults,
            anchor,
            app_users: Vec::new(),
            backend_hosts: None,
        }
    }

    /// Replaces PgBouncer's default of `key` (Omnibus ships other defaults).
    pub fn default(&mut self, key: &str, value: &str) {
        self.defaults
            .insert(key.to_ascii_lowercase(), value.to_string());
    }

    /// Sets `key` as written at `location` (a later call wins, as in PgBouncer).
    pub fn set(&mut self, key: &str, value: &str, location: Location, unknown: bool) {
        self.entries.insert(
            key.to_ascii_lowercase(),
            Entry {
                value: value.to_string(),
                location: Some(location),
                unknown,
            },
        );
    }

    /// The effective value of `key`.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let key = key.to_ascii_lowercase();
        self.entries.get(&key).cloned().or_else(|| {
            self.defaults.get(&key).map(|v| Entry {
                value: v.clone(),
                location: None,
                unknown: false,
            })
        })
    }

    /// The effective value, empty when unset.
    pub fn value(&self, key: &str) -> String {
        self.get(key).map(|e| e.value).unwrap_or_default()
    }

    /// Whether `key` is written (not a default) and non-empty.
    pub fn is_set(&self, key: &str) -> bool {
        self.entries
            .get(&key.to_ascii_lowercase())
            .is_some_and(|e| e.unknown || !e.value.trim().is_empty())
    }

    /// Where `key` is written, or the anchor.
    pub fn location(&self, key: &str) -> Location {
        self.entries
            .get(&key.to_ascii_lowercase())
            .and_then(|e| e.location.clone())
            .unwrap_or_else(|| self.anchor.clone())
    }

    fn known(&self, key: &str) -> Option<String> {
        self.get(key)
            .filter(|e| !e.unknown)
            .map(|e| e.value.trim().to_string())
    }
}

/// The `sslmode` ladder, weakest first.
pub const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// The rank of an sslmode on [`SSLMODES`]; `None` for a value PgBouncer would refuse.
pub fn sslmode_rank(mode: &str) -> Option<usize> {
    SSLMODES
        .iter()
        .position(|m| m.eq_ignore_ascii_case(mode.trim()))
}

/// What the organisation asks of PgBouncer.
#[derive(Debug, Clone)]
pub struct Wants<'a> {
    pub auth_types: &'a [String],
    pub min_client_sslmode: &'a str,
    pub min_server_sslmode: &'a str,
    /// The address to listen on instead of every interface, when the org names one.
    pub listen_addr: Option<&'a str>,
    pub admin_users: Option<&'a [String]>,
    pub stats_users: Option<&'a [String]>,
}

/// A problem found, with the `key = value` that fixes it when there is one.
#[derive(Debug, Clone)]
pub struct Issue {
    pub code: &'static str,
    pub message: String,
    pub location: Location,
    /// Raise the severity of the code for this case (`auth_type = any`).
    pub severity: Option<Severity>,
    pub key: &'static str,
    pub fix: Option<String>,
}

pub const CODES: &[Code] = &[
    Code::new(
        "auth-type-weak",
        Severity::High,
        "clients authenticate with a method the organisation does not allow",
        "Set `auth_type = scram-sha-256` (the auth_file must then hold SCRAM secrets or plain passwords), `cert`, or `hba` with an `auth_hba_file` of hostssl rules. `trust` and `any` let anyone in; with `any` every user name is also a console admin.",
    ),
    Code::new(
        "auth-hba-file-missing",
        Severity::High,
        "`auth_type = hba` without `auth_hba_file`",
        "Set `auth_hba_file` to a pg_hba-style file of the connections PgBouncer should accept.",
    ),
    Code::new(
        "auth-hba-file-unchecked",
        Severity::Info,
        "the `auth_hba_file` is not among the checked files",
        "Pass the file named by `auth_hba_file` to patrol too, so that its rules are checked with PgBouncer's settings.",
    ),
    Code::new(
        "auth-hba-trust",
        Severity::Critical,
        "the auth_hba_file lets network clients in without a password",
        "Replace `trust` with `scram-sha-256` or `cert` on network lines of the auth_hba_file.",
    ),
    Code::new(
        "auth-hba-plaintext",
        Severity::High,
        "the auth_hba_file accepts passwords over connections without TLS",
        "Use `hostssl` instead of `host` (and require client TLS with `client_tls_sslmode = require`), or `hostnossl … reject`.",
    ),
    Code::new(
        "auth-hba-hostssl-without-tls",
        Severity::High,
        "the auth_hba_file has `hostssl` lines but client TLS is off",
        "Set `client_tls_sslmode`, `client_tls_key_file` and `client_tls_cert_file`; until then `hostssl` lines never match and the clients they were written for cannot connect. High, as `pg-hba/hostssl-without-ssl` for the same mistake on the server (docs/severity.md: breaks now).",
    ),
    Code::new(
        "client-tls-weak",
        Severity::Critical,
        "clients may talk to PgBouncer without TLS",
        "Set `client_tls_sslmode = require` (or stricter) with `client_tls_key_file` and `client_tls_cert_file`. Critical when `listen_addr` is every interface (passwords and data on the wire for anyone on the network), high on a network address, medium on loopback; nothing without `listen_addr` (Unix socket only).",
    ),
    Code::new(
        "server-tls-weak",
        Severity::High,
        "PgBouncer may talk to PostgreSQL without TLS",
        "Set `server_tls_sslmode = verify-full` with `server_tls_ca_file` (at least `require`).",
    ),
    Code::new(
        "server-tls-unverified",
        Severity::Medium,
        "PgBouncer does not verify PostgreSQL's certificate though it has a CA",
        "Set `server_tls_sslmode = verify-full`: with `require` a man in the middle with any certificate is accepted.",
    ),
    Code::new(
        "tls-protocols-legacy",
        Severity::Medium,
        "TLS 1.0 or 1.1 is allowed",
        "Set `client_tls_protocols = secure` and `server_tls_protocols = secure` (TLS 1.2 and 1.3).",
    ),
    Code::new(
        "listen-all-interfaces",
        Severity::Low,
        "PgBouncer listens on every interface",
        "Set `listen_addr` to the address clients use (and firewall port 6432 to the application hosts).",
    ),
    Code::new(
        "admin-user-not-allowed",
        Severity::Medium,
        "an `admin_users` entry is not on the organisation's list",
        "Keep `admin_users` to the accounts that operate PgBouncer: they can SHUTDOWN, RELOAD, KILL and SET.",
    ),
    Code::new(
        "stats-user-not-allowed",
        Severity::Low,
        "a `stats_users` entry is not on the organisation's list",
        "Keep `stats_users` to the monitoring accounts.",
    ),
    Code::new(
        "admin-user-is-app-user",
        Severity::Medium,
        "an application account is also a PgBouncer console admin",
        "Use a separate account for `admin_users`; the application's password then cannot shut the pooler down.",
    ),
    Code::new(
        "weak-credentials",
        Severity::High,
        "a known default or weak password (`postgres`, `admin`, Spilo's and Patroni's examples, the user's own name)",
        "Such passwords are guessed first: set a long random one (and keep it in the `auth_file` rather than the ini file). The message names the entry and why, never the value.",
    ),
    Code::new(
        "password-in-config",
        Severity::Low,
        "a password is written in a `[databases]` connection string",
        "Move passwords to the `auth_file` (or use `auth_user`/`auth_query`); the ini file is read by more people than the secrets should be.",
    ),
    Code::new(
        "auth-file-broken",
        Severity::High,
        "PgBouncer stops reading its auth_file at a line that is not `\"user\" \"password\"`: the users on it and after it cannot log in",
        "Write every entry as `\"user\" \"password\"` (a `\"` inside doubled) and comment lines with `;` only: PgBouncer reads `#` as a broken line. Low when no entry follows the line (PgBouncer then only logs `broken auth file`).",
    ),
];

/// Runs every check that needs only the settings.
pub fn check(cfg: &Config, wants: &Wants) -> Vec<Issue> {
    let mut out = Vec::new();
    let issue = |code, key, message: String, fix: Option<String>| Issue {
        code,
        message,
        location: cfg.location(key),
        severity: None,
        key,
        fix,
    };
    // auth_type
    if let Some(auth) = cfg.known("auth_type") {
        let allowed = wants
            .auth_types
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&auth));
        if !allowed {
            // No password at all: rated by who reaches the listener (docs/severity.md,
            // superuser-level gain). MD5 still needs a password: as `pg-hba`'s `md5-auth`.
            let open = match listen_reach(&cfg.value("listen_addr")) {
                Some(Reach::Any) => Severity::Critical,
                Some(Reach::Network) => Severity::High,
                Some(Reach::Loopback) | None => Severity::Medium,
            };
            let (why, severity) = match auth.to_ascii_lowercase().as_str() {
                "any" => (
                    "any password or none is accepted and every user name is a console admin",
                    open,
                ),
                "trust" => ("no password is asked", open),
                "plain" | "password" => ("passwords travel in clear text", Severity::High),
                "md5" => (
                    "MD5 challenge-response; MD5 hashes in the auth_file are password equivalents",
                    Severity::Low,
                ),
                "pam" => ("PAM receives the password in clear text", Severity::Medium),
                _ => ("the organisation does not allow it", Severity::High),
            };
            let mut i = issue(
                "auth-type-weak",
                "auth_type",
                format!(
                    "`auth_type = {auth}`{}: {why}",
                    if cfg.is_set("auth_type") {
                        ""
                    } else {
                        " (the default)"
                    }
                ),
                Some("scram-sha-256".into()),
            );
            i.severity = Some(severity);
            out.push(i);
        }
        if auth.eq_ignore_ascii_case("hba") && !cfg.is_set("auth_hba_file") {
            out.push(issue(
                "auth-hba-file-missing",
                "auth_type",
                "`auth_type = hba` but no `auth_hba_file`: PgBouncer has no rules to apply".into(),
                None,
            ));
        }
    }
    // Client side TLS: only TCP listeners speak it.
    let client_tls_files = cfg.is_set("client_tls_key_file") && cfg.is_set("client_tls_cert_file");
    let reach = listen_reach(&cfg.value("listen_addr"));
    if let Some(mode) = cfg.known("client_tls_sslmode").filter(|_| reach.is_some()) {
        let want = sslmode_rank(wants.min_client_sslmode).unwrap_or(3);
        if sslmode_rank(&mode).is_some_and(|r| r < want) {
            let fix = client_tls_files.then(|| wants.min_client_sslmode.to_string());
            let (severity, where_) = match reach {
                Some(Reach::Loopback) => (Severity::Medium, "on loopback only"),
                Some(Reach::Network) => (Severity::High, "on a network address"),
                _ => (Severity::Critical, "on every interface"),
            };
            let mut i = issue(
                "client-tls-weak",
                "client_tls_sslmode",
                format!(
                    "`client_tls_sslmode = {mode}`{}: clients may connect {where_} (`listen_addr`) and send passwords without TLS (the organisation asks for `{}`){}",
                    if cfg.is_set("client_tls_sslmode") {
                        ""
                    } else {
                        " (the default)"
                    },
                    wants.min_client_sslmode,
                    if client_tls_files {
                        ""
                    } else {
                        "; set `client_tls_key_file` and `client_tls_cert_file` first"
                    }
                ),
                fix,
            );
            i.severity = Some(severity);
            out.push(i);
        }
    }
    // Server side TLS: not for databases reached over a Unix socket.
    let tcp_backends = cfg
        .backend_hosts
        .as_ref()
        .is_none_or(|hosts| hosts.is_empty() || hosts.iter().any(|h| !is_socket_host(h)));
    if let Some(mode) = cfg.known("server_tls_sslmode").filter(|_| tcp_backends) {
        let rank = sslmode_rank(&mode);
        let want = sslmode_rank(wants.min_server_sslmode).unwrap_or(3);
        let has_ca = cfg.is_set("server_tls_ca_file");
        if rank.is_some_and(|r| r < want) {
            let fix = if has_ca {
                "verify-full".to_string()
            } else {
                wants.min_server_sslmode.to_string()
            };
            let needs_ca = sslmode_rank(&fix).is_some_and(|r| r >= 4) && !has_ca;
            out.push(issue(
                "server-tls-weak",
                "server_tls_sslmode",
                format!(
                    "`server_tls_sslmode = {mode}`{}: PgBouncer may log in to PostgreSQL without TLS (the organisation asks for `{}`)",
                    if cfg.is_set("server_tls_sslmode") {
                        ""
                    } else {
                        " (the default: `prefer` from PgBouncer 1.20, `disable` before; neither requires TLS)"
                    },
                    wants.min_server_sslmode
                ),
                (!needs_ca).then_some(fix),
            ));
        } else if has_ca && rank.is_some_and(|r| r < 5) {
            out.push(issue(
                "server-tls-unverified",
                "server_tls_sslmode",
                format!("`server_tls_sslmode = {mode}` with `server_tls_ca_file` set: the server's certificate and name are not both checked, so a man in the middle is accepted"),
                Some("verify-full".into()),
            ));
        }
    }
    for key in ["client_tls_protocols", "server_tls_protocols"] {
        let Some(value) = cfg.known(key) else {
            continue;
        };
        let legacy = value
            .split([',', ' ', ':'])
            .map(|p| p.trim().to_ascii_lowercase())
            .any(|p| {
                matches!(
                    p.as_str(),
                    "all" | "legacy" | "tlsv1" | "tlsv1.0" | "tlsv1.1"
                )
            });
        if legacy {
            out.push(issue(
                "tls-protocols-legacy",
                key,
                format!("`{key} = {value}` allows TLS 1.0/1.1"),
                Some("secure".into()),
            ));
        }
    }
    if let Some(addr) = cfg.known("listen_addr") {
        let all = addr
            .split(',')
            .map(str::trim)
            .any(|a| matches!(a, "*" | "0.0.0.0" | "::" | "[::]"));
        if all {
            out.push(issue(
                "listen-all-interfaces",
                "listen_addr",
                format!("`listen_addr = {addr}` accepts connections on every interface"),
                wants.listen_addr.map(str::to_string),
            ));
        }
    }
    for (key, code, allowed) in [
        ("admin_users", "admin-user-not-allowed", wants.admin_users),
        ("stats_users", "stats-user-not-allowed", wants.stats_users),
    ] {
        let users = list(&cfg.known(key).unwrap_or_default());
        if let Some(allowed) = allowed {
            let extra: Vec<&String> = users.iter().filter(|u| !allowed.contains(u)).collect();
            if !extra.is_empty() {
                let keep: Vec<&String> = users.iter().filter(|u| allowed.contains(u)).collect();
                let fix = keep
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(issue(
                    code,
                    key,
                    format!(
                        "`{key}` names {}, not on the organisation's list",
                        extra
                            .iter()
                            .map(|u| format!("`{u}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some(fix),
                ));
            }
        }
    }
    let admins = list(&cfg.known("admin_users").unwrap_or_default());
    for (user, location) in &cfg.app_users {
        if admins.iter().any(|a| a == user) {
            out.push(Issue {
                code: "admin-user-is-app-user",
                message: format!("`{user}` connects for applications and is in `admin_users`: its password can shut the pooler down"),
                location: location.clone(),
                severity: None,
                key: "admin_users",
                fix: None,
            });
        }
    }
    out
}

/// How far PgBouncer's TCP listener reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Loopback,
    Network,
    Any,
}

/// The reach of `listen_addr` (a comma-separated list; the widest wins); None when it is
/// empty: PgBouncer then listens on its Unix socket only.
pub fn listen_reach(listen_addr: &str) -> Option<Reach> {
    listen_addr
        .split(',')
        .map(|a| a.trim().trim_start_matches('[').trim_end_matches(']'))
        .filter(|a| !a.is_empty())
        .map(|a| match a {
            "*" | "0.0.0.0" | "::" => Reach::Any,
            "localhost" => Reach::Loopback,
            a => match a.parse::<std::net::IpAddr>() {
                Ok(ip) if ip.is_loopback() => Reach::Loopback,
                _ => Reach::Network,
            },
        })
        .max_by_key(|r| match r {
            Reach::Loopback => 0,
            Reach::Network => 1,
            Reach::Any => 2,
        })
}

/// Whether a `[databases]` `host=` is a Unix socket: not written, a directory (`/…`), or
/// an abstract socket (`@…`).
pub fn is_socket_host(host: &str) -> bool {
    let h = host.trim();
    h.is_empty() || h.starts_with('/') || h.starts_with('@')
}

/// A comma- or space-separated list of names.
pub fn list(value: &str) -> Vec<String> {
    value
        .split([',', ' '])
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The `key=value` pairs of a libpq-style connection string in `[databases]`.
pub fn connstr(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (val, next) = if let Some(q) = after.strip_prefix('\'') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '\'' => {
                        end = i + 1;
                        break;
                    }
                    _ => v.push(c),
                }
            }
            (v, &q[end.min(q.len())..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.push((key, val));
        rest = next.trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32) -> Location {
        Location {
            file: "pgbouncer.ini".into(),
            line,
            end_line: None,
            pointer: None,
        }
    }

    fn wants() -> (Vec<String>, ()) {
        (
            vec!["scram-sha-256".into(), "cert".into(), "hba".into()],
            (),
        )
    }

    #[test]
    fn defaults_are_weak() {
        let mut cfg = Config::new(at(1));
        let (auth, _) = wants();
        let w = Wants {
            auth_types: &auth,
            min_client_sslmode: "require",
            min_server_sslmode: "require",
            listen_addr: None,
            admin_users: None,
            stats_users: None,
        };
        let codes: Vec<&str> = check(&cfg, &w).iter().map(|i| i.code).collect();
        // No `listen_addr`: the Unix socket only, where client TLS does not exist.
        assert_eq!(codes, vec!["auth-type-weak", "server-tls-weak"]);
        cfg.set("listen_addr", "*", at(2), false);
        let codes: Vec<&str> = check(&cfg, &w).iter().map(|i| i.code).collect();
        assert_eq!(
            codes,
            vec![
                "auth-type-weak",
                "client-tls-weak",
                "server-tls-weak",
                "listen-all-interfaces"
            ]
        );
    }

    #[test]
    fn hardened_is_clean_and_fixes_name_values() {
        let mut cfg = Config::new(at(1));
        for (k, v, l) in [
            ("auth_type", "scram-sha-256", 2),
            ("client_tls_sslmode", "require", 3),
            ("client_tls_key_file", "/k", 4),
            ("client_tls_cert_file", "/c", 5),
            ("server_tls_sslmode", "verify-full", 6),
            ("server_tls_ca_file", "/ca", 7),
            ("listen_addr", "10.0.1.11", 8),
        ] {
            cfg.set(k, v, at(l), false);
        }
        let (auth, _) = wants();
        let w = Wants {
            auth_types: &auth,
            min_client_sslmode: "require",
            min_server_sslmode: "require",
            listen_addr: None,
            admin_users: None,
            stats_users: None,
        };
        assert!(check(&cfg, &w).is_empty());
        cfg.set("server_tls_sslmode", "require", at(6), false);
        cfg.set("AUTH_TYPE", "any", at(9), false);
        let issues = check(&cfg, &w);
        assert_eq!(issues[0].code, "auth-type-weak");
        // `listen_addr = 10.0.1.11`: a network address, so high (critical on `*`).
        assert_eq!(issues[0].severity, Some(Severity::High));
        assert_eq!(issues[0].location.line, 9);
        assert_eq!(issues[1].code, "server-tls-unverified");
        assert_eq!(issues[1].fix.as_deref(), Some("verify-full"));
    }

    #[test]
    fn connection_strings() {
        assert_eq!(
            connstr("host=10.0.1.11 port=5432 user=gitlab password='a b\\'c' dbname=x"),
            vec![
                ("host".into(), "10.0.1.11".into()),
                ("port".into(), "5432".into()),
                ("user".into(), "gitlab".into()),
                ("password".into(), "a b'c".into()),
                ("dbname".into(), "x".into()),
            ]
        );
        assert_eq!(
            list("pgbouncer, gitlab-psql postgres"),
            vec!["pgbouncer", "gitlab-psql", "postgres"]
        );
    }
}
