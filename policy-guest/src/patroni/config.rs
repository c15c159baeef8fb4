//! The `restapi` section of a Patroni YAML, normalized once the way
//! `RestApiServer.reload_config` and `Config` do it, so that deciding a request is a few
//! compares.
//!
//! What Patroni does with each value (reference §2.1 and §4.A, checked on 4.1.5):
//! `certfile` truthy → HTTPS; `verify_client` kept only when a string, lowercased, and
//! only `none`/`optional`/`required` change the TLS mode; `allowlist` read only when a list,
//! each string entry parsed or resolved and silently dropped when that fails, a non-string
//! scalar entry stops Patroni; `authentication` becomes the `username:password` string
//! (Python `str.format`, so `12345` and `null` become `12345` and `None`) and wins over a
//! legacy `auth`; `allowlist_include_members` counts by Python truthiness.

use serde_json::Value;

use super::addr::{Ip, Net, getaddrinfo_numeric};
use super::python::{python_port, python_str, truthy};
use super::version::Version;
use crate::Location;
use crate::doc::Structured;

/// Facts the files do not give, borrowed from the input's context.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// `None`: the newest behaviour.
    pub version: Option<Version>,
    /// The members' REST API hosts, IPs or `api_url`s; `None`: unknown.
    pub members: Option<&'a [String]>,
    pub resolve: &'a [(String, Vec<String>)],
    pub dual_stack: Option<bool>,
}

impl<'a> Facts<'a> {
    /// Reads the context; an unreadable `patroni_version` is an error.
    pub fn from_context(ctx: &'a crate::Context) -> Result<Facts<'a>, String> {
        let version = match &ctx.patroni_version {
            None => None,
            Some(text) => Some(Version::parse(text).ok_or_else(|| {
                format!("context `patroni_version` `{text}` is not a Patroni version")
            })?),
        };
        Ok(Facts {
            version,
            members: ctx.members.as_deref(),
            resolve: &ctx.resolve,
            dual_stack: ctx.dual_stack,
        })
    }

    /// What a host name resolves to: the context's `resolve`, else `localhost` as a stock
    /// `/etc/hosts` has it; `None` when unknown.
    pub fn lookup(&self, name: &str) -> Option<Vec<Ip>> {
        if let Some((_, addrs)) = self
            .resolve
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            return Some(
                addrs
                    .iter()
                    .filter_map(|a| getaddrinfo_numeric(a.trim()))
                    .collect(),
            );
        }
        name.eq_ignore_ascii_case("localhost").then(|| {
            vec![
                Ip::v4(std::net::Ipv4Addr::LOCALHOST),
                Ip::v6(std::net::Ipv6Addr::LOCALHOST),
            ]
        })
    }

    /// What `getaddrinfo(host)` gives: a numeric address, else the name's addresses.
    pub fn resolve_host(&self, host: &str) -> Option<Vec<Ip>> {
        match getaddrinfo_numeric(host) {
            Some(ip) => Some(vec![ip]),
            None => self.lookup(host),
        }
    }
}

/// The TLS client-certificate mode of the listener (`ssl.CERT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertMode {
    None,
    Optional,
    Required,
}

/// `restapi.verify_client` as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyValue {
    Absent,
    /// A non-string (YAML `true`, `yes`, `1`): silently ignored.
    NotString(String),
    /// A string, lowercased as Patroni does.
    Str(String),
}

/// Why an allowlist entry is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// Has a `/` but `ip_network` refuses it.
    InvalidNetwork,
    /// The context says the name resolves to nothing.
    Unresolvable,
    /// A list or mapping where a string belongs.
    NotAString,
}

#[derive(Debug, Clone)]
pub struct Dropped {
    pub index: usize,
    /// The entry as JSON text (a string entry without quotes).
    pub text: String,
    pub why: DropReason,
}

/// `restapi.allowlist` after `_build_allowlist`.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    /// The key exists.
    pub present: bool,
    /// It is a list (anything else is ignored entirely).
    pub is_list: bool,
    /// Usable networks with the index of the entry they come from.
    pub nets: Vec<(usize, Net)>,
    pub dropped: Vec<Dropped>,
    /// Host names the context cannot resolve: kept as restricting (they probably resolve
    /// somewhere), and every decision that hinges on them depends on `resolve`.
    pub unknown_names: Vec<(usize, String)>,
}

impl Allowlist {
    /// Whether the IP check runs (`if self.__allowlist`).
    pub fn restricts(&self) -> bool {
        !self.nets.is_empty() || !self.unknown_names.is_empty()
    }

    /// Whether an entry admits every client (`0.0.0.0/0`, `::/0`, or the IPv4-mapped
    /// `::ffff:0:0/96`): the check then runs but refuses no one. On a dual-stack
    /// listener every client arrives as IPv6, so only an IPv6 entry can do that.
    pub fn admits_all(&self, dual_stack: bool) -> bool {
        self.nets.iter().any(|(_, n)| {
            let mapped_all = n.v6 && n.prefix == 96 && n.bits >> 32 == 0xffff;
            (n.prefix == 0 && (n.v6 || !dual_stack)) || (mapped_all && dual_stack)
        })
    }
}

/// The members `allowlist_include_members` admits.
#[derive(Debug, Clone, Default)]
pub struct Members {
    /// `None`: the context does not say who the members are.
    pub ips: Option<Vec<Ip>>,
    /// Member host names the context cannot resolve.
    pub unknown_names: Vec<String>,
}

/// A configured credential. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(text)
    }
    /// Whether `user:password`, as a client would join them, is exactly this credential
    /// (Patroni compares the whole base64 of the joined string).
    pub fn matches(&self, user: &str, password: &str) -> bool {
        let s = self.0.as_bytes();
        s.len() == user.len() + 1 + password.len()
            && s.starts_with(user.as_bytes())
            && s[user.len()] == b':'
            && s.ends_with(password.as_bytes())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The listener, from `restapi.listen`.
#[derive(Debug, Clone)]
pub struct Listen {
    pub host: String,
    pub port: u16,
    /// `''`/`*`/`::`/`0.0.0.0`: every interface.
    pub wildcard: bool,
    /// The socket is AF_INET6 (`''`, `*`, an IPv6 address, a name resolving to IPv6).
    pub ipv6_socket: bool,
}

/// A config key as reasons name it: `restapi.allowlist (patroni.yml:14)`, and where.
#[derive(Debug, Clone)]
pub struct Key {
    pub label: String,
    pub location: Location,
    pub present: bool,
}

/// The keys a decision can name.
#[derive(Debug, Clone)]
pub struct Keys {
    pub restapi: Key,
    pub listen: Key,
    pub certfile: Key,
    pub cafile: Key,
    pub verify_client: Key,
    pub authentication: Key,
    pub allowlist: Key,
    pub include_members: Key,
}

/// The compiled `restapi` view.
#[derive(Debug, Clone)]
pub struct RestApi {
    pub file: String,
    pub version: Version,
    /// The context named the version.
    pub version_given: bool,
    /// Why Patroni would not start with this config (every request then fails).
    pub fatal: Option<(String, Key)>,
    pub listen: Option<Listen>,
    pub https: bool,
    pub cafile: Option<String>,
    pub verify: VerifyValue,
    /// The effective TLS mode (HTTPS only; `None` over plain HTTP).
    pub cert_mode: CertMode,
    /// Whether `check_access` demands a certificate (`verify_client` in optional/required
    /// over HTTPS).
    pub demands_cert: bool,
    pub auth: Option<Secret>,
    /// The auth came from the undocumented `restapi.auth`.
    pub auth_legacy: bool,
    pub allowlist: Allowlist,
    pub include_members: bool,
    pub members: Members,
    /// IPv4 peers reach `check_access` as `::ffff:a.b.c.d`.
    pub dual_stack: bool,
    /// `dual_stack` was derived from `restapi.listen` (not given by the context).
    pub dual_stack_derived: bool,
    pub keys: Keys,
}

fn key(y: &Structured, pointer: &str, name: &str) -> Key {
    let location = y.loc(pointer);
    let present = y.get(pointer).is_some();
    let label = format!("{name} ({}:{})", location.file, location.line);
    Key {
        label,
        location,
        present,
    }
}

impl RestApi {
    /// Compiles the `restapi` section of `y` under `facts`.
    pub fn compile(y: &Structured, facts: &Facts) -> RestApi {
        let keys = Keys {
            restapi: key(y, "/restapi", "restapi"),
            listen: key(y, "/restapi/listen", "restapi.listen"),
            certfile: key(y, "/restapi/certfile", "restapi.certfile"),
            cafile: key(y, "/restapi/cafile", "restapi.cafile"),
            verify_client: key(y, "/restapi/verify_client", "restapi.verify_client"),
            authentication: if y.get("/restapi/authentication").is_none()
                && y.get("/restapi/auth").is_some()
            {
                key(y, "/restapi/auth", "restapi.auth")
            } else {
                key(y, "/restapi/authentication", "restapi.authentication")
            },
            allowlist: key(y, "/restapi/allowlist", "restapi.allowlist"),
            include_members: key(
                y,
                "/restapi/allowlist_include_members",
                "restapi.allowlist_include_members",
            ),
        };
        let version = facts.version.unwrap_or_default();
        let mut api = RestApi {
            file: y.doc.path.clone(),
            version,
            version_given: facts.version.is_some(),
            fatal: None,
            listen: None,
            https: false,
            cafile: None,
            verify: VerifyValue::Absent,
            cert_mode: CertMode::None,
            demands_cert: false,
            auth: None,
            auth_legacy: false,
            allowlist: Allowlist::default(),
            include_members: false,
            members: Members::default(),
            dual_stack: false,
            dual_stack_derived: facts.dual_stack.is_none(),
            keys,
        };
        let empty = serde_json::Map::new();
        let section = match y.get("/restapi") {
            Some(Value::Object(m)) => m,
            Some(_) => {
                api.fatal = Some((
                    "`restapi` is not a mapping".into(),
                    api.keys.restapi.clone(),
                ));
                &empty
            }
            None => {
                api.fatal = Some((
                    "no `restapi` section: Patroni does not start (unless PATRONI_RESTAPI_LISTEN is set)".into(),
                    api.keys.restapi.clone(),
                ));
                &empty
            }
        };
        api.read_listen(section, facts);
        api.read_tls(section);
        api.read_auth(section);
        if version.has_allowlist() {
            api.read_allowlist(section, facts);
            api.include_members = section.get("allowlist_include_members").is_some_and(truthy);
        }
        if api.include_members {
            api.members = members(facts);
        }
        api
    }

    fn fail(&mut self, reason: String, key: Key) {
        if self.fatal.is_none() {
            self.fatal = Some((reason, key));
        }
    }

    fn read_listen(&mut self, section: &serde_json::Map<String, Value>, facts: &Facts) {
        let Some(value) = section.get("listen") else {
            if !section.is_empty() {
                self.fail(
                    "no `restapi.listen`: Patroni does not start".into(),
                    self.keys.listen.clone(),
                );
            }
            self.dual_stack = facts.dual_stack.unwrap_or(false);
            return;
        };
        let parsed = value.as_str().and_then(|text| {
            let (host, port) = text.rsplit_once(':')?;
            let host = if host.contains(':') {
                host.trim().trim_matches(['[', ']'])
            } else {
                host
            };
            Some((host.to_string(), python_port(port)?))
        });
        let Some((host, port)) = parsed else {
            self.fail(
                format!(
                    "`restapi.listen` `{}` is not HOST:PORT: Patroni does not start",
                    python_str(value)
                ),
                self.keys.listen.clone(),
            );
            self.dual_stack = facts.dual_stack.unwrap_or(false);
            return;
        };
        let wildcard = matches!(
            host.as_str(),
            "" | "*" | "0.0.0.0" | "::" | "0:0:0:0:0:0:0:0"
        );
        let ipv6_socket = match host.as_str() {
            "" | "*" => true,
            h => match facts.resolve_host(h) {
                // Patroni binds the first address, IPv6 first on a dual-stack host.
                Some(ips) => ips.iter().any(|ip| ip.v6),
                None => false,
            },
        };
        // IPv4 peers reach an AF_INET6 socket only when it is bound to `::` or to an
        // IPv4-mapped address; one bound to `::1` or another IPv6 address sees none.
        let mapped_bind = Ip::parse(&host).is_some_and(|ip| ip.v6 && ip.bits >> 32 == 0xffff);
        let unspecified_v6 = matches!(host.as_str(), "" | "*")
            || Ip::parse(&host).is_some_and(|ip| ip.v6 && ip.bits == 0);
        self.dual_stack = facts.dual_stack.unwrap_or(unspecified_v6 || mapped_bind);
        self.listen = Some(Listen {
            host,
            port,
            wildcard,
            ipv6_socket,
        });
    }

    fn read_tls(&mut self, section: &serde_json::Map<String, Value>) {
        self.https = section.get("certfile").is_some_and(truthy);
        self.cafile = section
            .get("cafile")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        self.verify = match section.get("verify_client") {
            None => VerifyValue::Absent,
            Some(Value::String(s)) => VerifyValue::Str(s.to_lowercase()),
            Some(other) => VerifyValue::NotString(python_str(other)),
        };
        if let (true, VerifyValue::Str(s)) = (self.https, &self.verify) {
            self.cert_mode = match s.as_str() {
                "optional" => CertMode::Optional,
                "required" => CertMode::Required,
                _ => CertMode::None,
            };
            self.demands_cert = self.cert_mode != CertMode::None;
        }
    }

    fn read_auth(&mut self, section: &serde_json::Map<String, Value>) {
        match section.get("authentication") {
            Some(Value::Object(a)) => match (a.get("username"), a.get("password")) {
                (Some(u), Some(p)) => {
                    self.auth = Some(Secret(format!("{}:{}", python_str(u), python_str(p))));
                }
                (u, _) => {
                    let missing = if u.is_none() { "username" } else { "password" };
                    self.fail(
                        format!("`restapi.authentication` has no `{missing}`: Patroni does not start (KeyError)"),
                        self.keys.authentication.clone(),
                    );
                }
            },
            Some(_) => self.fail(
                "`restapi.authentication` is not a mapping: Patroni does not start (TypeError)"
                    .into(),
                self.keys.authentication.clone(),
            ),
            None => match section.get("auth") {
                Some(Value::String(s)) => {
                    self.auth = Some(Secret(s.clone()));
                    self.auth_legacy = true;
                }
                Some(_) => self.fail(
                    "`restapi.auth` is not a string: Patroni does not start".into(),
                    self.keys.authentication.clone(),
                ),
                None => {}
            },
        }
    }

    fn read_allowlist(&mut self, section: &serde_json::Map<String, Value>, facts: &Facts) {
        let Some(value) = section.get("allowlist") else {
            return;
        };
        let list = &mut self.allowlist;
        list.present = true;
        let Value::Array(entries) = value else { return };
        list.is_list = true;
        let mut fatal = None;
        for (index, entry) in entries.iter().enumerate() {
            let text = match entry {
                Value::String(s) => s,
                Value::Array(_) | Value::Object(_) => {
                    list.dropped.push(Dropped {
                        index,
                        text: entry.to_string(),
                        why: DropReason::NotAString,
                    });
                    continue;
                }
                other => {
                    // `'/' in v` raises TypeError: Patroni exits at start (on a reload it
                    // keeps the previous REST API settings).
                    fatal.get_or_insert(python_str(other));
                    continue;
                }
            };
            if text.contains('/') {
                match Net::parse_python(text) {
                    Some(net) => list.nets.push((index, net)),
                    None => list.dropped.push(Dropped {
                        index,
                        text: text.clone(),
                        why: DropReason::InvalidNetwork,
                    }),
                }
            } else {
                match facts.resolve_host(text) {
                    Some(ips) if ips.is_empty() => list.dropped.push(Dropped {
                        index,
                        text: text.clone(),
                        why: DropReason::Unresolvable,
                    }),
                    Some(ips) => list
                        .nets
                        .extend(ips.into_iter().map(|ip| (index, ip.host_net()))),
                    None if is_host_name(text) => list.unknown_names.push((index, text.clone())),
                    None => list.dropped.push(Dropped {
                        index,
                        text: text.clone(),
                        why: DropReason::Unresolvable,
                    }),
                }
            }
        }
        if let Some(entry) = fatal {
            self.fail(
                format!("`restapi.allowlist` entry `{entry}` is not a string: Patroni does not start (TypeError)"),
                self.keys.allowlist.clone(),
            );
        }
    }
}

/// Whether DNS could resolve `text` at all: letters, digits, `-`, `.`, `_`, at most 253,
/// and a last label that is not all digits (no top-level domain is numeric, so
/// `10.0.0.300` never resolves).
pub fn is_host_name(text: &str) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        && !text.starts_with('.')
        && !text.contains("..")
        && !text
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// The host of a member as the context gives it: `10.0.0.1`, `node2`, `node2:8008`,
/// `[::1]:8008`, or an `api_url` such as `https://node2:8008/patroni`.
pub fn member_host(text: &str) -> &str {
    let t = text.trim();
    let t = t.split_once("://").map_or(t, |(_, rest)| rest);
    let t = t.split(['/', '?', '#']).next().unwrap_or(t);
    let t = t.rsplit_once('@').map_or(t, |(_, h)| h);
    if let Some(rest) = t.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    if t.matches(':').count() == 1 {
        return t.split(':').next().unwrap_or(t);
    }
    t
}

fn members(facts: &Facts) -> Members {
    let Some(list) = facts.members else {
        return Members::default();
    };
    let mut ips = Vec::new();
    let mut unknown_names = Vec::new();
    for m in list {
        let host = member_host(m);
        match facts.resolve_host(host) {
            Some(found) => ips.extend(found),
            None if is_host_name(host) => unknown_names.push(host.to_string()),
            None => {}
        }
    }
    Members {
        ips: Some(ips),
        unknown_names,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_hosts() {
        assert_eq!(member_host("10.0.0.1"), "10.0.0.1");
        assert_eq!(member_host("node2:8008"), "node2");
        assert_eq!(member_host("https://node2:8008/patroni"), "node2");
        assert_eq!(member_host("[::1]:8008"), "::1");
        assert_eq!(member_host("fe80::1"), "fe80::1");
        assert_eq!(member_host("http://[::1]:8008/patroni"), "::1");
    }

    #[test]
    fn secrets_never_print_and_compare_whole() {
        let s = Secret("a:b:c".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(s.matches("a", "b:c"));
        assert!(s.matches("a:b", "c"));
        assert!(!s.matches("a", "b:c "));
        assert!(!s.matches("A", "b:c"));
    }
}
