//! PgBouncer and Consul as Omnibus configures them from `pgbouncer['…']` and
//! `consul['…']`, checked with the same code as pgbouncer.ini and consul.hcl
//! (`policy_guest::pgbouncer`, `policy_guest::consul`).
//!
//! PgBouncer: every `pgbouncer['key']` is the ini key of the same name, over Omnibus's
//! defaults (`listen_addr = 0.0.0.0`, `auth_type = md5`, both TLS modes `disable`, both
//! TLS protocol lists `all`, `admin_users`/`stats_users` `gitlab-psql, postgres,
//! pgbouncer`). Consul: the JSON `ConsulHelper` renders: its defaults, `encrypt` from
//! `encryption_key`, `tls.defaults` from `use_tls` and the `tls_*` keys
//! (`verify_incoming` is `tls_verify_client`, else whether the node is a server), `ports`
//! from `http_port`/`https_port`, all deep-merged with `consul['configuration']`. Fixes
//! are gitlab.rb assignments, nested ones (`consul['configuration']['acl']['default_policy']`)
//! written after the section's last line: gitlab.rb is evaluated with auto-vivifying
//! hashes, so they add to the hash rather than replace it.

use policy_guest::pgbouncer::{Config, Wants};
use policy_guest::{Patch, Report, Withheld, consul, pgbouncer};
use serde_json::{Map, Value, json};

use crate::rb::Rb;
use crate::{ConsulSettings, PgBouncerSettings};

const PGBOUNCER_ROLES: &[&str] = &["pgbouncer_role"];
const CONSUL_ROLES: &[&str] = &["consul_role", "patroni_role", "pgbouncer_role"];

/// Omnibus's `pgbouncer` defaults that differ from PgBouncer's.
const PGBOUNCER_DEFAULTS: &[(&str, &str)] = &[
    ("listen_addr", "0.0.0.0"),
    ("auth_type", "md5"),
    ("client_tls_sslmode", "disable"),
    ("server_tls_sslmode", "disable"),
    ("client_tls_protocols", "all"),
    ("server_tls_protocols", "all"),
    ("admin_users", "gitlab-psql, postgres, pgbouncer"),
    ("stats_users", "gitlab-psql, postgres, pgbouncer"),
];

/// The gitlab-omnibus code of a `policy_guest::pgbouncer` code.
fn pgbouncer_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "auth-type-weak" => "pgbouncer-auth-type-weak",
        "auth-hba-file-missing" => "pgbouncer-auth-hba-file-missing",
        "client-tls-weak" => "pgbouncer-client-tls-weak",
        "server-tls-weak" => "pgbouncer-server-tls-weak",
        "server-tls-unverified" => "pgbouncer-server-tls-unverified",
        "tls-protocols-legacy" => "pgbouncer-tls-protocols-legacy",
        "listen-all-interfaces" => "pgbouncer-listen-all-interfaces",
        "admin-user-not-allowed" => "pgbouncer-admin-user-not-allowed",
        "stats-user-not-allowed" => "pgbouncer-stats-user-not-allowed",
        _ => return None,
    })
}

fn consul_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "gossip-unencrypted" => "consul-gossip-unencrypted",
        "gossip-verify-disabled" => "consul-gossip-verify-disabled",
        "tls-verify-incoming-off" => "consul-tls-verify-incoming-off",
        "tls-verify-outgoing-off" => "consul-tls-verify-outgoing-off",
        "tls-verify-server-hostname-off" => "consul-tls-verify-server-hostname-off",
        "acl-disabled" => "consul-acl-disabled",
        "acl-default-allow" => "consul-acl-default-allow",
        "http-api-exposed" => "consul-http-api-exposed",
        "script-checks-enabled" => "consul-script-checks-enabled",
        _ => return None,
    })
}

/// A gitlab.rb value as the text PgBouncer's ini gets (`%w(a b)` → `a, b`).
fn ini_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(ini_text).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn pgbouncer(rb: &Rb, settings: &PgBouncerSettings, report: &mut Report) {
    if !rb.enabled("pgbouncer", PGBOUNCER_ROLES) {
        return;
    }
    let anchor = rb.anchor("pgbouncer", PGBOUNCER_ROLES);
    let mut cfg = Config::new(anchor.clone());
    for (k, v) in PGBOUNCER_DEFAULTS {
        cfg.default(k, v);
    }
    if let Some(Value::Object(section)) = rb.tree.get("pgbouncer") {
        for (k, v) in section {
            let path = ["pgbouncer", k.as_str()];
            let unknown = rb.is_unknown(&path);
            if v.is_null() && !unknown {
                continue; // nil: Omnibus's default applies
            }
            cfg.set(k, &ini_text(v), rb.loc(&path, &anchor), unknown);
        }
    }
    let wants = Wants {
        auth_types: &settings.allowed_auth_types,
        min_client_sslmode: &settings.min_client_tls_sslmode,
        min_server_sslmode: &settings.min_server_tls_sslmode,
        listen_addr: settings.listen_addr.as_deref(),
        admin_users: settings.allowed_admin_users.as_deref(),
        stats_users: settings.allowed_stats_users.as_deref(),
    };
    for issue in pgbouncer::check(&cfg, &wants) {
        let Some(code) = pgbouncer_code(issue.code) else {
            continue;
        };
        let message = issue.message.replace(
            &format!("`{} = ", issue.key),
            &format!("`pgbouncer['{}'] = ", issue.key),
        );
        let i = report.finding(code, issue.location, message);
        if let Some(sev) = issue.severity {
            report.severity(i, sev);
        }
        if let Some(value) = issue.fix {
            if issue.key == "auth_type"
                && value == "scram-sha-256"
                && let Some(w) = scram_blocked(rb)
            {
                w.attach(report, i);
                continue;
            }
            let value = if matches!(issue.key, "admin_users" | "stats_users") {
                json!(pgbouncer::list(&value))
            } else {
                json!(value)
            };
            report.fix(i, rb.patch(&["pgbouncer", issue.key], &value, "PgBouncer"));
        }
    }
}

/// Why `auth_type = scram-sha-256` would lock users out: the userlist Omnibus renders
/// from `pgbouncer['users']` must hold a SCRAM secret (or a plain password) for every
/// user, and GitLab's documented setup stores MD5 hashes (`gitlab-ctl pg-password-md5`).
/// None when every user's `password` there is a SCRAM secret.
fn scram_blocked(rb: &Rb) -> Option<Withheld> {
    let steps: &[&str] = &[
        "set each PgBouncer user's password again with `password_encryption = scram-sha-256` and put its SCRAM secret (`rolpassword` from `pg_authid`) in `pgbouncer['users'][…]['password']`",
        "run `gitlab-ctl reconfigure`",
        "then set `pgbouncer['auth_type'] = 'scram-sha-256'` and reconfigure again",
    ];
    let Some(Value::Object(users)) = rb.get(&["pgbouncer", "users"]) else {
        return Some(Withheld::new(
            "`pgbouncer['users']` is not set, so which secrets PgBouncer's userlist holds is unknown",
            steps,
        ));
    };
    let bad: Vec<String> = users
        .iter()
        .filter(|(_, u)| {
            !u.get("password")
                .and_then(Value::as_str)
                .is_some_and(|p| p.starts_with("SCRAM-SHA-256$"))
        })
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    (!bad.is_empty() || users.is_empty()).then(|| {
        Withheld::new(
            format!(
                "the userlist Omnibus renders from `pgbouncer['users']` has no SCRAM secret for {}, and `scram-sha-256` cannot verify an MD5 hash",
                if bad.is_empty() { "any user".to_string() } else { bad.join(", ") }
            ),
            steps,
        )
    })
}

/// The Consul config `ConsulHelper#configuration` renders.
fn consul_config(rb: &Rb) -> Value {
    let c = |k: &str| rb.get(&["consul", k]).cloned().filter(|v| !v.is_null());
    let mut cfg = json!({
        "datacenter": "gitlab_consul",
        "disable_update_check": true,
        "enable_script_checks": false,
        "enable_local_script_checks": true,
        "rejoin_after_leave": true,
        "server": false,
    });
    let server = rb
        .get(&["consul", "configuration", "server"])
        .and_then(consul::truthy)
        .unwrap_or(false);
    if let Some(key) = c("encryption_key")
        .filter(|k| k.as_str().is_some_and(|s| !s.is_empty()))
        .or_else(|| {
            rb.is_unknown(&["consul", "encryption_key"])
                .then(|| json!("(set in Ruby)"))
        })
    {
        cfg["encrypt"] = key;
        for (from, to) in [
            ("encryption_verify_incoming", "encrypt_verify_incoming"),
            ("encryption_verify_outgoing", "encrypt_verify_outgoing"),
        ] {
            if let Some(v) = c(from) {
                cfg[to] = v;
            }
        }
    }
    let mut ports = Map::new();
    for (from, to) in [("http_port", "http"), ("https_port", "https")] {
        if let Some(v) = c(from) {
            ports.insert(to.into(), v);
        }
    }
    if c("use_tls").and_then(|v| consul::truthy(&v)) == Some(true) {
        let mut defaults = Map::new();
        for (from, to) in [
            ("tls_ca_file", "ca_file"),
            ("tls_certificate_file", "cert_file"),
            ("tls_key_file", "key_file"),
        ] {
            if let Some(v) = c(from) {
                defaults.insert(to.into(), v);
            }
        }
        defaults.insert("verify_outgoing".into(), json!(true));
        defaults.insert(
            "verify_incoming".into(),
            c("tls_verify_client").unwrap_or(json!(server)),
        );
        cfg["tls"] = json!({ "defaults": defaults });
        ports.entry("https").or_insert(json!(8501));
    }
    cfg["ports"] = Value::Object(ports);
    if let Some(user) = rb.get(&["consul", "configuration"]) {
        deep_merge(&mut cfg, user);
    }
    cfg
}

/// Chef's `DeepMerge.merge(default, user)`: hashes merge, anything else is replaced.
fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// The gitlab.rb key behind a rendered Consul pointer.
fn consul_key(pointer: &str) -> Vec<String> {
    let segs: Vec<String> = pointer.split('/').skip(1).map(str::to_string).collect();
    let direct = match pointer {
        "/encrypt" => Some("encryption_key"),
        "/encrypt_verify_incoming" => Some("encryption_verify_incoming"),
        "/encrypt_verify_outgoing" => Some("encryption_verify_outgoing"),
        "/tls/defaults/verify_incoming" => Some("tls_verify_client"),
        "/tls/defaults/verify_outgoing" => Some("use_tls"),
        _ => None,
    };
    match direct {
        Some(k) => vec!["consul".into(), k.into()],
        None => ["consul".to_string(), "configuration".to_string()]
            .into_iter()
            .chain(segs)
            .collect(),
    }
}

pub fn consul(rb: &Rb, settings: &ConsulSettings, report: &mut Report) {
    if !rb.enabled("consul", CONSUL_ROLES) {
        return;
    }
    let anchor = rb.anchor("consul", CONSUL_ROLES);
    let cfg = consul_config(rb);
    let use_tls = rb.get(&["consul", "use_tls"]).and_then(consul::truthy) == Some(true);
    let certs = ["tls_ca_file", "tls_certificate_file", "tls_key_file"]
        .iter()
        .all(|k| rb.is_set(&["consul", k]));
    for issue in consul::check(&cfg) {
        let Some(code) = consul_code(issue.code) else {
            continue;
        };
        let key = consul_key(&issue.pointer);
        let path: Vec<&str> = key.iter().map(String::as_str).collect();
        let in_configuration = rb.is_set(&path) || path.get(1) == Some(&"configuration");
        let location = if rb.is_set(&path) || (in_configuration && rb.is_set(&path[..2])) {
            rb.loc(&path, &anchor)
        } else {
            anchor.clone()
        };
        let i = report.finding(code, location, issue.message.clone());
        if let Some(sev) = issue.severity {
            report.severity(i, sev);
        }
        let patch = match issue.code {
            // TLS from Omnibus's own keys: turning it on sets verify_outgoing, and
            // `tls_verify_client` decides verify_incoming.
            "tls-verify-incoming-off" | "tls-verify-outgoing-off" if path[1] != "configuration" => {
                if use_tls && issue.code == "tls-verify-incoming-off" {
                    Some(rb.patch(
                        &["consul", "tls_verify_client"],
                        &json!(true),
                        "Consul RPC TLS",
                    ))
                } else if !use_tls && certs {
                    Some(Patch {
                        file: rb.doc.path.clone(),
                        description: "turn on Consul TLS: `consul['use_tls'] = true` and `consul['tls_verify_client'] = true` in gitlab.rb".into(),
                        edits: rb.set_many(&[(&["consul", "use_tls"], json!(true)), (&["consul", "tls_verify_client"], json!(true))]),
                    })
                } else {
                    None
                }
            }
            "tls-verify-server-hostname-off" if use_tls || certs => {
                Some(rb.patch(&path, &json!(true), "Consul RPC TLS"))
            }
            "http-api-exposed" => Some(rb.patch(
                &path,
                &json!(settings.client_addr),
                "bind Consul's HTTP API to loopback",
            )),
            _ => issue.fix.as_ref().map(|v| rb.patch(&path, v, "Consul")),
        };
        if let Some(p) = patch {
            report.fix(i, p);
        }
    }
}
