//! A Consul agent's security settings as Consul resolves them, and the checks on them,
//! shared by the `consul` policy (consul.hcl / consul.json) and the `gitlab-omnibus`
//! policy (the config Omnibus renders from `consul['…']` in gitlab.rb).
//!
//! The config is the JSON Consul decodes (HCL is turned into the same JSON by the host).
//! Resolution follows Consul 1.12+ (`agent/config/builder.go`): the `tls` stanza's
//! `internal_rpc` value, else the deprecated top-level key that maps to it
//! (`verify_incoming_rpc`), else `tls.defaults`, else the deprecated top-level key
//! (`verify_incoming`, `verify_outgoing`, `ca_file`…), else Consul's default (false).
//! `verify_server_hostname` lives in `internal_rpc` only. The HTTP API listens on
//! `addresses.http`, else `client_addr` (default `127.0.0.1`), on `ports.http` (8500; -1
//! turns it off). ACLs are on with `acl.enabled` (or the old `acl_datacenter`), and the
//! default policy is `acl.default_policy` (or `acl_default_policy`), `allow` by default.
//!
//! [`check`] returns [`Issue`]s with the JSON pointer that decides each one (or where the
//! fix should go) and the value that fixes it; each front end writes the fix in its own
//! syntax (HCL lines, JSON, gitlab.rb).

use serde_json::Value;

use crate::Severity;
use crate::net::{IpNet, Reach, by_reach, reach};
use crate::report::Code;

pub const CODES: &[Code] = &[
    Code::new(
        "gossip-unencrypted",
        Severity::High,
        "gossip between agents is not encrypted",
        "Set `encrypt` to a key from `consul keygen` on every agent: without it anyone on the network reads and injects gossip (membership, events).",
    ),
    Code::new(
        "gossip-verify-disabled",
        Severity::Medium,
        "unencrypted gossip is still accepted or sent",
        "Remove `encrypt_verify_incoming = false` / `encrypt_verify_outgoing = false` once every agent has the key.",
    ),
    Code::new(
        "tls-verify-incoming-off",
        Severity::High,
        "the agent accepts RPC connections without a client certificate",
        "Set `tls { internal_rpc { verify_incoming = true } }` (or `tls.defaults.verify_incoming`) with a `ca_file`.",
    ),
    Code::new(
        "tls-verify-outgoing-off",
        Severity::High,
        "the agent's RPC to servers is not TLS-verified",
        "Set `tls { defaults { verify_outgoing = true } }` with a `ca_file`, `cert_file` and `key_file`.",
    ),
    Code::new(
        "tls-verify-server-hostname-off",
        Severity::High,
        "the agent does not check that it talks to a server",
        "Set `tls { internal_rpc { verify_server_hostname = true } }`: otherwise any certificate from the CA (any client agent's) can pose as a server.",
    ),
    Code::new(
        "acl-disabled",
        Severity::High,
        "ACLs are off: anyone who reaches the API can read and change everything",
        "Enable ACLs (`acl { enabled = true default_policy = \"deny\" }`) after bootstrapping tokens for the agents, Patroni and the PgBouncer watcher.",
    ),
    Code::new(
        "acl-default-allow",
        Severity::High,
        "ACLs allow what no token denies",
        "Set `acl { default_policy = \"deny\" }` and give each client a token with the rights it needs.",
    ),
    Code::new(
        "http-api-exposed",
        Severity::Critical,
        "the HTTP API listens beyond loopback without TLS (critical on a wildcard or public address with ACLs allowing by default, high on private addresses only; medium and low when ACLs deny by default)",
        "Bind the HTTP API to loopback (`client_addr = \"127.0.0.1\"`), or serve only HTTPS (`ports { http = -1 https = 8501 }`) with client certificates.",
    ),
    Code::new(
        "script-checks-enabled",
        Severity::Critical,
        "script checks can be registered over the API: remote code execution",
        "Set `enable_script_checks = false` (use `enable_local_script_checks` for checks defined in files).",
    ),
];

/// The value at `pointer` and the pointer itself, when present.
fn at<'a>(config: &'a Value, pointer: &str) -> Option<(&'a Value, String)> {
    config.pointer(pointer).map(|v| (v, pointer.to_string()))
}

/// The first of `pointers` that is set.
fn first<'a>(config: &'a Value, pointers: &[&str]) -> Option<(&'a Value, String)> {
    pointers.iter().find_map(|p| at(config, p))
}

/// Consul's reading of a boolean (JSON bool, or the strings HCL 1 lets through).
pub fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Some(true),
            "false" | "0" | "f" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// Whether the config uses the deprecated top-level TLS keys (then fixes go there too:
/// Consul refuses a config that mixes them with the `tls` stanza for the same field).
pub fn legacy_tls(config: &Value) -> bool {
    config.get("tls").is_none()
        && [
            "verify_incoming",
            "verify_outgoing",
            "verify_server_hostname",
            "ca_file",
            "ca_path",
            "cert_file",
            "verify_incoming_rpc",
        ]
        .iter()
        .any(|k| config.get(*k).is_some())
}

/// A problem found, with where it is decided and the value that fixes it.
#[derive(Debug, Clone)]
pub struct Issue {
    pub code: &'static str,
    pub message: String,
    /// The key that decides (present), or where the fix goes (absent).
    pub pointer: String,
    /// Whether `pointer` is written in the config.
    pub present: bool,
    pub severity: Option<Severity>,
    pub fix: Option<Value>,
}

/// Resolves a TLS field the way Consul does: (value, deciding pointer).
fn tls_field(
    config: &Value,
    internal: &str,
    legacy_specific: Option<&str>,
    defaults: Option<&str>,
    legacy: Option<&str>,
) -> Option<(bool, String)> {
    let mut pointers = vec![format!("/tls/internal_rpc/{internal}")];
    pointers.extend(legacy_specific.map(|k| format!("/{k}")));
    pointers.extend(defaults.map(|k| format!("/tls/defaults/{k}")));
    pointers.extend(legacy.map(|k| format!("/{k}")));
    let refs: Vec<&str> = pointers.iter().map(String::as_str).collect();
    first(config, &refs).map(|(v, p)| (truthy(v).unwrap_or(false), p))
}

/// Whether `addr` (one entry of `client_addr`, which may hold several separated by
/// spaces) is loopback or a unix socket.
fn loopback(addr: &str) -> bool {
    let a = addr.trim().trim_matches(['[', ']']);
    a.starts_with("127.") || a == "::1" || a == "localhost" || a.starts_with("unix://")
}

/// The entries of a `client_addr`: each go-sockaddr template (`{{ … }}`, which Consul
/// expands first) whole, and the space-separated addresses around them.
fn listener_entries(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.extend(rest[..start].split_whitespace());
        let end = rest[start..]
            .find("}}")
            .map_or(rest.len(), |e| start + e + 2);
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out.extend(rest.split_whitespace());
    out
}

/// Who reaches an HTTP API bound to `addr` (one entry of `client_addr` or
/// `addresses.http`, not loopback): a private address the cluster's networks; a
/// wildcard, a public address, a name, or a go-sockaddr template other than the
/// private-address ones (what it picks is not in the file) anyone.
fn listener_reach(addr: &str) -> Reach {
    let a = addr.trim().trim_matches(['[', ']']);
    if a.contains("{{") {
        return if a.contains("GetPrivateIP") || a.contains("GetPrivateInterfaces") {
            Reach::Private
        } else {
            Reach::Anyone
        };
    }
    a.parse::<std::net::IpAddr>()
        .map_or(Reach::Anyone, |ip| reach(&IpNet::from(ip)))
}

/// Why a `client_addr` setting (the address the `http-api-exposed` fix writes) cannot be
/// used, naming the setting `field`: empty, or an entry beyond loopback, which the check
/// would flag again after the fix, so that the finding never clears.
pub fn client_addr_problem(field: &str, value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some(format!("`{field}` must not be empty"));
    }
    let outside: Vec<&str> = value.split_whitespace().filter(|a| !loopback(a)).collect();
    (!outside.is_empty()).then(|| {
        format!(
            "`{field}`: `{}` is not a loopback address or unix socket (127.0.0.0/8, ::1, localhost, unix://…): the `http-api-exposed` fix binds the HTTP API to it and the check would flag it again",
            outside.join(" ")
        )
    })
}

/// Runs every check on a Consul agent config.
pub fn check(config: &Value) -> Vec<Issue> {
    let mut out = Vec::new();
    let legacy = legacy_tls(config);
    let server = config.get("server").and_then(truthy).unwrap_or(false);
    let issue = |code, message: String, pointer: String, present: bool, fix: Option<Value>| Issue {
        code,
        message,
        pointer,
        present,
        severity: None,
        fix,
    };
    // Gossip.
    match config.get("encrypt").and_then(Value::as_str) {
        Some(k) if !k.trim().is_empty() => {
            for key in ["encrypt_verify_incoming", "encrypt_verify_outgoing"] {
                if config.get(key).and_then(truthy) == Some(false) {
                    out.push(issue("gossip-verify-disabled", format!("`{key} = false`: gossip without the key is still accepted or sent"), format!("/{key}"), true, Some(Value::Bool(true))));
                }
            }
        }
        _ => out.push(issue(
            "gossip-unencrypted",
            "no `encrypt` key: gossip (members, health, events) travels in clear and anyone on the network can join it".into(),
            "/encrypt".into(),
            config.get("encrypt").is_some(),
            None,
        )),
    }
    // TLS for RPC.
    let has_ca = first(
        config,
        &[
            "/tls/internal_rpc/ca_file",
            "/tls/defaults/ca_file",
            "/ca_file",
            "/tls/internal_rpc/ca_path",
            "/tls/defaults/ca_path",
            "/ca_path",
        ],
    )
    .is_some()
        || config.pointer("/auto_encrypt/tls").and_then(truthy) == Some(true);
    let fix_at = |modern: &str, old: &str| {
        if legacy {
            format!("/{old}")
        } else {
            modern.to_string()
        }
    };
    let fields = [
        (
            "tls-verify-incoming-off",
            "verify_incoming",
            Some("verify_incoming_rpc"),
            Some("verify_incoming"),
            Some("verify_incoming"),
            "/tls/defaults/verify_incoming",
        ),
        (
            "tls-verify-outgoing-off",
            "verify_outgoing",
            None,
            Some("verify_outgoing"),
            Some("verify_outgoing"),
            "/tls/defaults/verify_outgoing",
        ),
        (
            "tls-verify-server-hostname-off",
            "verify_server_hostname",
            None,
            None,
            Some("verify_server_hostname"),
            "/tls/internal_rpc/verify_server_hostname",
        ),
    ];
    for (code, field, legacy_specific, defaults, old, modern) in fields {
        let resolved = tls_field(config, field, legacy_specific, defaults, old);
        if resolved.as_ref().is_some_and(|(v, _)| *v) {
            continue;
        }
        let (pointer, present) = match resolved {
            Some((_, p)) => (p, true),
            None => (fix_at(modern, field), false),
        };
        let why = match field {
            "verify_incoming" => {
                "servers and agents accept RPC from anyone who reaches port 8300, without a certificate"
            }
            "verify_outgoing" => {
                "RPC to the servers may be plain text and the server certificate is not checked"
            }
            _ => {
                "any certificate signed by the CA, a client agent's included, can pose as a server"
            }
        };
        let fix = has_ca.then_some(Value::Bool(true));
        let mut found = issue(
            code,
            format!(
                "`{field}` is {}: {why}{}",
                if present { "false" } else { "not set" },
                if has_ca { "" } else { " (no `ca_file` either)" }
            ),
            pointer,
            present,
            fix,
        );
        if field == "verify_incoming" && !server {
            client_verify_incoming(config, &mut found);
        }
        out.push(found);
    }
    // ACLs.
    let enabled = config
        .pointer("/acl/enabled")
        .and_then(truthy)
        .unwrap_or(false)
        || config.get("acl_datacenter").is_some();
    if !enabled {
        out.push(issue(
            "acl-disabled",
            "ACLs are not enabled: any client that reaches the agent can read and write the KV store, register services and deregister Patroni's".into(),
            if config.get("acl").is_some() { "/acl/enabled".into() } else { "/acl".into() },
            config.pointer("/acl/enabled").is_some(),
            None,
        ));
    } else {
        let policy = first(config, &["/acl/default_policy", "/acl_default_policy"]);
        let deny = policy
            .as_ref()
            .and_then(|(v, _)| v.as_str())
            .is_some_and(|s| s.eq_ignore_ascii_case("deny"));
        if !deny {
            let (pointer, present) = match &policy {
                Some((_, p)) => (p.clone(), true),
                None => ("/acl/default_policy".into(), false),
            };
            out.push(issue(
                "acl-default-allow",
                format!(
                    "ACL default policy is `{}`: whatever no token denies is allowed",
                    policy
                        .as_ref()
                        .and_then(|(v, _)| v.as_str())
                        .unwrap_or("allow")
                ),
                pointer,
                present,
                Some(Value::String("deny".into())),
            ));
        }
    }
    // HTTP API.
    let http_port = config
        .pointer("/ports/http")
        .and_then(Value::as_i64)
        .unwrap_or(8500);
    let acl_deny = enabled
        && first(config, &["/acl/default_policy", "/acl_default_policy"])
            .and_then(|(v, _)| v.as_str().map(str::to_string))
            .is_some_and(|s| s.eq_ignore_ascii_case("deny"));
    let http_exposed = if http_port >= 0 {
        let (addr, pointer) = match first(config, &["/addresses/http", "/client_addr"]) {
            Some((v, p)) => (v.as_str().unwrap_or("").to_string(), Some(p)),
            None => ("127.0.0.1".into(), None),
        };
        let exposed = listener_entries(&addr).into_iter().any(|a| !loopback(a));
        if exposed {
            let pointer = pointer.unwrap_or_else(|| "/client_addr".into());
            let mut i = issue(
                "http-api-exposed",
                format!(
                    "the HTTP API listens on `{addr}` port {http_port} in plain HTTP{}",
                    if acl_deny {
                        ""
                    } else {
                        " and ACLs do not deny by default: anyone on the network controls the agent"
                    }
                ),
                pointer,
                true,
                Some(Value::String("127.0.0.1".into())),
            );
            // docs/severity.md: with ACLs allowing by default, whoever reaches the API
            // writes the KV store and the catalog (redirects clients, Patroni's keys
            // when Consul is its DCS): data or more, critical for anyone on the
            // network; with ACLs denying, an anonymous caller learns little (medium).
            let reach = listener_entries(&addr)
                .into_iter()
                .filter(|a| !loopback(a))
                .map(listener_reach)
                .max()
                .unwrap_or(Reach::Host);
            let top = if acl_deny {
                Severity::Medium
            } else {
                Severity::Critical
            };
            i.severity = Some(by_reach(reach, top));
            if reach == Reach::Private {
                i.message
                    .push_str(" (private addresses only: the cluster's networks)");
            }
            out.push(i);
        }
        exposed
    } else {
        false
    };
    if config.get("enable_script_checks").and_then(truthy) == Some(true) {
        let mut i = issue(
            "script-checks-enabled",
            format!(
                "`enable_script_checks = true`: a check registered over the HTTP API runs any command as the Consul user{}",
                if http_exposed {
                    ", and the API is reachable from the network"
                } else {
                    ""
                }
            ),
            "/enable_script_checks".into(),
            true,
            Some(Value::Bool(false)),
        );
        if acl_deny && !http_exposed {
            i.severity = Some(Severity::High);
        }
        out.push(i);
    }
    out
}

/// Rewords `tls-verify-incoming-off` for a client agent. Only servers listen for RPC
/// (port 8300), so on a client `verify_incoming` decides nothing but whether its HTTPS
/// API demands client certificates; Consul's own guides (and Omnibus, which renders
/// `verify_incoming` as `server` unless `tls_verify_client` says otherwise) leave it
/// false on clients, the API being guarded by ACL tokens.
fn client_verify_incoming(config: &Value, found: &mut Issue) {
    let https = config
        .pointer("/ports/https")
        .and_then(Value::as_i64)
        .filter(|p| *p > 0);
    let (message, severity) = match https {
        Some(port) => (
            format!(
                "`verify_incoming` is {} on this client agent: its HTTPS API (port {port}) takes calls without a client certificate (clients serve no RPC; only ACL tokens guard the API)",
                if found.present { "false" } else { "not set" }
            ),
            Severity::Medium,
        ),
        None => (
            format!(
                "`verify_incoming` is {} on this client agent: it would only make an HTTPS API demand client certificates (clients serve no RPC, and `ports.https` is off)",
                if found.present { "false" } else { "not set" }
            ),
            Severity::Low,
        ),
    };
    found.message = message;
    found.severity = Some(severity);
}

/// The ports a Consul agent listens on: (name, port, protocols), from `ports`.
pub fn ports(config: &Value) -> Vec<(&'static str, i64, &'static [&'static str])> {
    let get = |k: &str, d: i64| {
        config
            .pointer(&format!("/ports/{k}"))
            .and_then(Value::as_i64)
            .unwrap_or(d)
    };
    let server = truthy(config.get("server").unwrap_or(&Value::Bool(false))).unwrap_or(false);
    let mut out: Vec<(&'static str, i64, &'static [&'static str])> = vec![
        ("serf_lan", get("serf_lan", 8301), &["tcp", "udp"]),
        ("http", get("http", 8500), &["tcp"]),
        ("dns", get("dns", 8600), &["tcp", "udp"]),
    ];
    if server {
        out.push(("server", get("server", 8300), &["tcp"]));
        out.push(("serf_wan", get("serf_wan", 8302), &["tcp", "udp"]));
    }
    let https = get("https", -1);
    if https >= 0 {
        out.push(("https", https, &["tcp"]));
    }
    out.retain(|(_, p, _)| *p > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(v: &Value) -> Vec<&'static str> {
        check(v).iter().map(|i| i.code).collect()
    }

    #[test]
    fn api_severity_follows_its_reach() {
        let sev = |addr: &str, policy: &str| {
            let v =
                json!({"client_addr": addr, "acl": {"enabled": true, "default_policy": policy}});
            check(&v)
                .into_iter()
                .find(|i| i.code == "http-api-exposed")
                .map(|i| i.severity)
        };
        assert_eq!(sev("127.0.0.1 ::1", "allow"), None);
        assert_eq!(sev("0.0.0.0", "allow"), Some(Some(Severity::Critical)));
        assert_eq!(sev("[::]", "allow"), Some(Some(Severity::Critical)));
        assert_eq!(sev("203.0.113.5", "allow"), Some(Some(Severity::Critical)));
        assert_eq!(
            sev("consul.internal", "allow"),
            Some(Some(Severity::Critical))
        );
        assert_eq!(
            sev("10.0.1.11 127.0.0.1", "allow"),
            Some(Some(Severity::High))
        );
        assert_eq!(
            sev("{{ GetPrivateIP }} 192.168.1.4", "allow"),
            Some(Some(Severity::High))
        );
        assert_eq!(
            sev("{{ GetAllInterfaces | attr \"address\" }}", "allow"),
            Some(Some(Severity::Critical))
        );
        assert_eq!(sev("0.0.0.0", "deny"), Some(Some(Severity::Medium)));
        assert_eq!(sev("10.0.1.11", "deny"), Some(Some(Severity::Low)));
        assert_eq!(
            listener_entries("10.0.0.1 {{ GetPrivateInterfaces | attr \"address\" }} ::1"),
            vec![
                "10.0.0.1",
                "{{ GetPrivateInterfaces | attr \"address\" }}",
                "::1"
            ]
        );
    }

    #[test]
    fn bare_agent_has_every_problem_but_the_api() {
        let v = json!({"datacenter": "dc1", "server": false});
        assert_eq!(
            codes(&v),
            vec![
                "gossip-unencrypted",
                "tls-verify-incoming-off",
                "tls-verify-outgoing-off",
                "tls-verify-server-hostname-off",
                "acl-disabled"
            ]
        );
    }

    #[test]
    fn hardened_agent_is_clean() {
        let v = json!({
            "encrypt": "k",
            "tls": {"defaults": {"ca_file": "/ca", "verify_incoming": true, "verify_outgoing": true},
                    "internal_rpc": {"verify_server_hostname": true}},
            "acl": {"enabled": true, "default_policy": "deny"},
            "client_addr": "127.0.0.1",
        });
        assert!(check(&v).is_empty(), "{:?}", check(&v));
    }

    #[test]
    fn legacy_keys_and_fix_pointers() {
        let v = json!({"encrypt": "k", "encrypt_verify_incoming": false, "ca_file": "/ca", "verify_incoming": true, "verify_outgoing": false,
                       "acl": {"enabled": true}, "client_addr": "0.0.0.0", "enable_script_checks": true});
        let issues = check(&v);
        let found: Vec<(&str, &str, bool)> = issues
            .iter()
            .map(|i| (i.code, i.pointer.as_str(), i.present))
            .collect();
        assert_eq!(
            found,
            vec![
                ("gossip-verify-disabled", "/encrypt_verify_incoming", true),
                ("tls-verify-outgoing-off", "/verify_outgoing", true),
                (
                    "tls-verify-server-hostname-off",
                    "/verify_server_hostname",
                    false
                ),
                ("acl-default-allow", "/acl/default_policy", false),
                ("http-api-exposed", "/client_addr", true),
                ("script-checks-enabled", "/enable_script_checks", true),
            ]
        );
        assert_eq!(issues[5].severity, None);
    }

    #[test]
    fn client_agents_serve_no_rpc() {
        // The client shape of Consul's deployment guide (auto_encrypt, verify_incoming
        // false): the finding stays, but not as an RPC exposure.
        let client = json!({"encrypt": "k", "verify_incoming": false, "verify_outgoing": true,
                            "verify_server_hostname": true, "ca_file": "/ca", "auto_encrypt": {"tls": true},
                            "acl": {"enabled": true, "default_policy": "deny"}});
        let issues = check(&client);
        assert_eq!(codes(&client), vec!["tls-verify-incoming-off"]);
        assert_eq!(issues[0].severity, Some(Severity::Low));
        assert!(!issues[0].message.contains("8300"), "{}", issues[0].message);
        let https = json!({"verify_incoming": false, "ports": {"https": 8501}});
        let i = check(&https)
            .into_iter()
            .find(|i| i.code == "tls-verify-incoming-off");
        assert_eq!(i.map(|i| i.severity), Some(Some(Severity::Medium)));
        let server = json!({"server": true, "verify_incoming": false});
        let i = check(&server)
            .into_iter()
            .find(|i| i.code == "tls-verify-incoming-off");
        assert_eq!(i.map(|i| i.severity), Some(None));
    }

    #[test]
    fn https_only_api_is_not_exposed_in_clear() {
        let v = json!({"client_addr": "0.0.0.0", "ports": {"http": -1, "https": 8501}});
        assert!(!codes(&v).contains(&"http-api-exposed"));
        assert!(
            ports(&v)
                .iter()
                .any(|(n, p, _)| *n == "https" && *p == 8501)
        );
    }
}
