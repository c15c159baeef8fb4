//! The DCS sections of a Patroni YAML, read as Patroni's DCS clients read them
//! (`patroni/dcs/etcd.py` `get_etcd_client`, `consul.py` `Consul.__init__`,
//! `zookeeper.py`, reference §2.3):
//!
//! - etcd/etcd3: `url` or `proxy` give the scheme and may carry `user:password@`; else
//!   `protocol` (default `http`) applies to `hosts`/`host`/`srv`; `username` and
//!   `password` are sent only when both are set; `cert` (+ `key`) is the client
//!   certificate; there is no way to turn server verification off.
//! - consul: `url` or `scheme` (default `http`), `token`, `cert`/`key`, `cacert`;
//!   verification is off only with `verify` false **and** no `cacert`.
//! - zookeeper: TLS only with `use_ssl`; `verify` (default true), `cert`/`key`,
//!   `auth_data`.
//! - raft: plaintext and unauthenticated without `password`.
//! - kubernetes: always TLS to the API server with the service-account token.
//!
//! No message ever quotes a password, token or `auth_data` value.

use policy_guest::doc::Structured;
use policy_guest::patroni::truthy;
use policy_guest::{Report, Severity};
use serde_json::Value;

use crate::Settings;

/// What one DCS section amounts to.
struct Dcs<'a> {
    name: &'a str,
    tls: bool,
    /// Where the scheme comes from (for the location).
    scheme_key: String,
    client_cert: bool,
    credential: bool,
    /// JSON pointers of secrets written in the file.
    secrets: Vec<String>,
    /// Every endpoint is on loopback.
    loopback: bool,
    verify_off: Option<String>,
}

/// Checks every DCS section of the document.
pub fn check(y: &Structured, settings: &Settings, report: &mut Report) {
    for name in ["etcd", "etcd3", "consul", "zookeeper", "raft"] {
        let Some(Value::Object(section)) = y.get(&format!("/{name}")) else {
            continue;
        };
        let d = match name {
            "etcd" | "etcd3" => etcd(name, section),
            "consul" => consul(section),
            "zookeeper" => zookeeper(section),
            _ => raft(section),
        };
        findings(y, &d, settings, report);
    }
}

fn findings(y: &Structured, d: &Dcs, settings: &Settings, report: &mut Report) {
    let name = d.name;
    if !d.tls {
        let msg = match name {
            "raft" => "`raft` has no `password`: Raft traffic between the nodes is neither encrypted nor authenticated".to_string(),
            "zookeeper" => "`zookeeper` has no `use_ssl: true`: ZooKeeper traffic is plain text".to_string(),
            _ => format!("`{name}` connects over plain HTTP: DCS reads and writes travel in clear text"),
        };
        let i = report.finding("dcs-no-tls", y.loc(&d.scheme_key), msg);
        if d.loopback && !settings.tls_on_loopback {
            report.severity(i, Severity::Low);
        }
    }
    if d.tls && settings.require_client_certificates && !d.client_cert && name != "raft" {
        report.finding(
            "dcs-no-client-cert",
            y.loc(&format!("/{name}/cert")),
            format!("`{name}` sets no client certificate (`cert`/`key`)"),
        );
    }
    if !d.credential && !d.client_cert {
        let what = match name {
            "consul" => "no `token` and no client certificate",
            "zookeeper" => "no `auth_data` and no client certificate",
            "raft" => "no `password`",
            _ => "neither `username`/`password` nor a client certificate",
        };
        let i = report.finding(
            "dcs-no-authentication",
            y.loc(&format!("/{name}")),
            format!("`{name}` has {what}: Patroni's DCS access carries no credential"),
        );
        if d.loopback && !settings.tls_on_loopback {
            report.severity(i, Severity::Medium);
        }
    }
    for pointer in &d.secrets {
        // A key passphrase decrypts a local file; it is never sent.
        if !d.tls && !pointer.ends_with("key_password") {
            report.finding(
                "dcs-credentials-in-clear",
                y.loc(pointer),
                format!("`{}` is sent over a plain-text connection", dotted(pointer)),
            );
        }
        if settings.report_secrets_in_file {
            report.finding(
                "dcs-secret-in-file",
                y.loc(pointer),
                format!("`{}` holds a secret in the YAML itself", dotted(pointer)),
            );
        }
    }
    if let Some(pointer) = &d.verify_off {
        report.finding(
            "dcs-tls-verify-disabled",
            y.loc(pointer),
            format!(
                "`{}` turns off verification of the DCS's certificate",
                dotted(pointer)
            ),
        );
    }
}

fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// The scheme, host and whether the URL carries a password.
fn parse_url(url: &str) -> (String, String, bool) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, host) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(u, h)| (u, h));
    let host = host_of(host);
    (scheme.to_ascii_lowercase(), host, userinfo.contains(':'))
}

/// `10.0.0.1:2379` → `10.0.0.1`, `[::1]:2379` → `::1`.
fn host_of(hostport: &str) -> String {
    let h = hostport.trim();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    if h.matches(':').count() == 1 {
        return h.split(':').next().unwrap_or(h).to_string();
    }
    h.to_string()
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim().to_ascii_lowercase();
    h == "localhost" || h == "::1" || h.starts_with("127.") || h == "ip6-localhost"
}

fn hosts(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => s
            .split(',')
            .map(|h| host_of(h.split_once("://").map_or(h, |(_, r)| r)))
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|h| host_of(h.split_once("://").map_or(h, |(_, r)| r)))
            .collect(),
        _ => Vec::new(),
    }
}

fn set(section: &serde_json::Map<String, Value>, key: &str) -> bool {
    section.get(key).is_some_and(truthy)
}

fn etcd<'a>(name: &'a str, s: &serde_json::Map<String, Value>) -> Dcs<'a> {
    let mut secrets = Vec::new();
    let url_key = if s.contains_key("proxy") {
        Some("proxy")
    } else if s.get("url").is_some_and(Value::is_string) {
        Some("url")
    } else {
        None
    };
    let (tls, scheme_key, endpoints, url_password) = match url_key {
        Some(key) => {
            let (scheme, host, password) =
                parse_url(s.get(key).and_then(Value::as_str).unwrap_or(""));
            (
                scheme == "https",
                format!("/{name}/{key}"),
                vec![host],
                password,
            )
        }
        None => {
            let protocol = s.get("protocol").and_then(Value::as_str).unwrap_or("http");
            let mut endpoints = hosts(s.get("hosts"));
            endpoints.extend(s.get("host").and_then(Value::as_str).map(host_of));
            if s.contains_key("srv")
                || s.contains_key("discovery_srv")
                || s.contains_key("srv_domain")
            {
                endpoints.push("srv".into());
            }
            (
                protocol.eq_ignore_ascii_case("https"),
                format!("/{name}/protocol"),
                endpoints,
                false,
            )
        }
    };
    if url_password {
        secrets.push(format!("/{name}/{}", url_key.unwrap_or("url")));
    }
    let user_pass = set(s, "username") && set(s, "password");
    if s.get("password").is_some_and(truthy) {
        secrets.push(format!("/{name}/password"));
    }
    Dcs {
        name,
        tls,
        scheme_key,
        client_cert: set(s, "cert"),
        credential: user_pass || url_password,
        secrets,
        loopback: !endpoints.is_empty() && endpoints.iter().all(|h| is_loopback(h)),
        verify_off: None,
    }
}

/// `parse_bool` for consul's `verify`.
fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Some(true),
            "off" | "false" | "no" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn consul(s: &serde_json::Map<String, Value>) -> Dcs<'static> {
    let (tls, scheme_key, endpoints) = match s.get("url").and_then(Value::as_str) {
        Some(url) => {
            let (scheme, host, _) = parse_url(url);
            (scheme == "https", "/consul/url".to_string(), vec![host])
        }
        None => {
            let scheme = s.get("scheme").and_then(Value::as_str).unwrap_or("http");
            let host = s
                .get("host")
                .and_then(Value::as_str)
                .map_or("127.0.0.1".to_string(), host_of);
            (
                scheme.eq_ignore_ascii_case("https"),
                "/consul/scheme".to_string(),
                vec![host],
            )
        }
    };
    let verify = s.get("verify").and_then(parse_bool).unwrap_or(true);
    let verify_off = (tls && !verify && !set(s, "cacert")).then(|| "/consul/verify".to_string());
    let secrets = if set(s, "token") {
        vec!["/consul/token".to_string()]
    } else {
        Vec::new()
    };
    Dcs {
        name: "consul",
        tls,
        scheme_key,
        client_cert: set(s, "cert"),
        credential: set(s, "token"),
        secrets,
        loopback: endpoints.iter().all(|h| is_loopback(h)),
        verify_off,
    }
}

fn zookeeper(s: &serde_json::Map<String, Value>) -> Dcs<'static> {
    let tls = set(s, "use_ssl");
    let verify = s.get("verify").is_none_or(truthy);
    let mut secrets = Vec::new();
    if let Some(Value::Object(auth)) = s.get("auth_data") {
        secrets.extend(
            auth.keys()
                .map(|k| format!("/zookeeper/auth_data/{}", policy_guest::doc::escape(k))),
        );
    }
    if set(s, "key_password") {
        secrets.push("/zookeeper/key_password".into());
    }
    let endpoints = hosts(s.get("hosts"));
    Dcs {
        name: "zookeeper",
        tls,
        scheme_key: "/zookeeper/use_ssl".into(),
        client_cert: tls && set(s, "cert"),
        credential: s.get("auth_data").is_some_and(truthy),
        secrets,
        loopback: !endpoints.is_empty() && endpoints.iter().all(|h| is_loopback(h)),
        verify_off: (tls && !verify).then(|| "/zookeeper/verify".to_string()),
    }
}

fn raft(s: &serde_json::Map<String, Value>) -> Dcs<'static> {
    let password = set(s, "password");
    let mut endpoints: Vec<String> = hosts(s.get("partner_addrs"));
    endpoints.extend(s.get("self_addr").and_then(Value::as_str).map(host_of));
    Dcs {
        name: "raft",
        tls: password,
        scheme_key: "/raft/password".into(),
        client_cert: false,
        credential: password,
        secrets: if password {
            vec!["/raft/password".into()]
        } else {
            Vec::new()
        },
        loopback: !endpoints.is_empty() && endpoints.iter().all(|h| is_loopback(h)),
        verify_off: None,
    }
}
