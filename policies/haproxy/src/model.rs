//! An haproxy.cfg as HAProxy applies it to health checks: proxies with the `defaults`
//! they inherit, and each server's effective check settings.
//!
//! Read from the host's settings (one per directive; see `host/src/formats/haproxy.rs`
//! for the mapping). What counts, from HAProxy 2.x `doc/configuration.txt`:
//! - a proxy (`backend`, `listen`) starts from the last `defaults` section before it, or
//!   the one named by `from NAME` (a `defaults` section starts empty unless it says `from`); it inherits `option httpchk`, `http-check connect`,
//!   `http-check send`, `source` and the `default-server` options;
//! - `option httpchk [<method>] [<uri>]` enables HTTP checks (bare: `OPTIONS /`; one word:
//!   the URI); `no option httpchk` or another `option *-check`/`*-chk` replaces them;
//!   `http-check send meth M uri U` changes method and URI; `http-check connect` may set
//!   `port`, `addr` and `ssl` for the check connection;
//! - `default-server` lines update the proxy's server defaults in order; a `server` line's
//!   own options win; `no-check`, `no-check-ssl`, `no-ssl` undo their positive forms;
//! - a check speaks TLS with `check-ssl`, with `http-check connect … ssl`, or with `ssl`
//!   when neither `port` nor `addr` moves the check off the traffic port;
//! - a TLS check verifies the server with `verify` (server or default-server), else the
//!   global `ssl-server-verify` (default `required`); `verify required` needs a `ca-file`,
//!   or HAProxy refuses the configuration;
//! - the check goes to `port` (server or default-server), else `http-check connect port`,
//!   else the server's own port; `ca-file` and `crt` relative paths start from the global
//!   `ca-base` and `crt-base`.

use std::collections::HashMap;

use policy_guest::{Body, Document, Setting};

/// Server options that take one value word (everything else is read as a flag).
const VALUE_OPTIONS: &[&str] = &[
    "addr",
    "agent-addr",
    "agent-inter",
    "agent-port",
    "agent-send",
    "alpn",
    "ca-file",
    "check-alpn",
    "check-proto",
    "check-sni",
    "ciphers",
    "ciphersuites",
    "client-sigalgs",
    "cookie",
    "crl-file",
    "crt",
    "curves",
    "downinter",
    "error-limit",
    "fall",
    "fastinter",
    "guid",
    "hash-key",
    "id",
    "init-addr",
    "init-state",
    "inter",
    "log-bufsize",
    "log-proto",
    "max-reuse",
    "maxconn",
    "maxqueue",
    "minconn",
    "namespace",
    "npn",
    "observe",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "pool-conn-name",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "port",
    "proto",
    "proxy-v2-options",
    "redir",
    "resolve-net",
    "resolve-opts",
    "resolve-prefer",
    "resolvers",
    "rise",
    "shard",
    "sigalgs",
    "slowstart",
    "sni",
    "socks4",
    "source",
    "ssl-max-ver",
    "ssl-min-ver",
    "tcp-ut",
    "track",
    "usesrc",
    "verify",
    "verifyhost",
    "weight",
    "ws",
];

/// A value and the line that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub value: String,
    pub line: u32,
}

/// Server check options, each `None` when not set at this level.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    pub check: Option<bool>,
    pub check_ssl: Option<bool>,
    pub ssl: Option<bool>,
    pub port: Option<At>,
    pub addr: Option<At>,
    pub verify: Option<At>,
    pub ca_file: Option<At>,
    pub crt: Option<At>,
    pub source: Option<At>,
}

impl Opts {
    /// Reads option words written at `line`.
    pub fn read(words: &[String], line: u32) -> Opts {
        let mut o = Opts::default();
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_str();
            i += 1;
            let at = |v: Option<&String>| {
                v.map(|v| At {
                    value: v.clone(),
                    line,
                })
            };
            if VALUE_OPTIONS.contains(&w) {
                let v = words.get(i);
                i += 1;
                match w {
                    "port" => o.port = at(v),
                    "addr" => o.addr = at(v),
                    "verify" => o.verify = at(v),
                    "ca-file" => o.ca_file = at(v),
                    "crt" => o.crt = at(v),
                    "source" => o.source = at(v),
                    _ => {}
                }
                continue;
            }
            match w {
                "check" => o.check = Some(true),
                "no-check" => o.check = Some(false),
                "check-ssl" => o.check_ssl = Some(true),
                "no-check-ssl" => o.check_ssl = Some(false),
                "ssl" => o.ssl = Some(true),
                "no-ssl" => o.ssl = Some(false),
                _ => {}
            }
        }
        o
    }

    /// These options with `over`'s set ones on top.
    pub fn merged(&self, over: &Opts) -> Opts {
        fn pick<T: Clone>(base: &Option<T>, over: &Option<T>) -> Option<T> {
            over.clone().or_else(|| base.clone())
        }
        Opts {
            check: pick(&self.check, &over.check),
            check_ssl: pick(&self.check_ssl, &over.check_ssl),
            ssl: pick(&self.ssl, &over.ssl),
            port: pick(&self.port, &over.port),
            addr: pick(&self.addr, &over.addr),
            verify: pick(&self.verify, &over.verify),
            ca_file: pick(&self.ca_file, &over.ca_file),
            crt: pick(&self.crt, &over.crt),
            source: pick(&self.source, &over.source),
        }
    }
}

/// The HTTP check of a proxy.
#[derive(Debug, Clone, Default)]
pub struct Check {
    /// `option httpchk` is on: (method, URI, line).
    pub http: Option<(String, String, u32)>,
    pub connect_port: Option<u16>,
    pub connect_ssl: bool,
    pub connect_addr: Option<String>,
}

/// What a proxy inherits and holds.
#[derive(Debug, Clone, Default)]
pub struct Proxy {
    /// `listen primary`.
    pub section: String,
    pub keyword: String,
    pub check: Check,
    pub default_server: Opts,
    pub source: Option<At>,
    pub binds: Vec<String>,
    pub servers: Vec<Server>,
}

/// A `server` line with its effective options.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: String,
    pub addr: String,
    pub line: u32,
    /// The directive's raw value (for patches).
    pub value: String,
    /// Options written on the server line itself.
    pub own: Opts,
    /// Defaults and own options merged.
    pub opts: Opts,
}

/// A haproxy document's proxies and globals.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub file: String,
    /// `ssl-server-verify` in `global`.
    pub ssl_server_verify: Option<At>,
    pub ca_base: Option<String>,
    pub crt_base: Option<String>,
    pub proxies: Vec<Proxy>,
}

impl Config {
    /// Reads a haproxy document; `None` when the host gave no settings.
    pub fn read(doc: &Document) -> Option<Config> {
        let Body::Settings(settings) = &doc.body else {
            return None;
        };
        let mut cfg = Config {
            file: doc.path.clone(),
            ..Config::default()
        };
        let mut named_defaults: HashMap<String, Proxy> = HashMap::new();
        let mut last_defaults = Proxy::default();
        let mut current: Option<Proxy> = None;
        let mut in_defaults = false;
        for s in settings {
            let section = s.section.clone().unwrap_or_default();
            let keyword = section.split_whitespace().next().unwrap_or("").to_string();
            if is_header(s) {
                // A new section: close the current one.
                if let Some(p) = current.take() {
                    finish(
                        &mut cfg,
                        p,
                        in_defaults,
                        &mut named_defaults,
                        &mut last_defaults,
                    );
                }
                in_defaults = keyword == "defaults";
                // A `defaults` section resets the defaults (unless `from`); a proxy takes
                // the last one.
                let base = match from_name(s) {
                    Some(name) => named_defaults.get(&name).cloned().unwrap_or_default(),
                    None if in_defaults => Proxy::default(),
                    None => last_defaults.clone(),
                };
                current = matches!(
                    keyword.as_str(),
                    "defaults" | "backend" | "listen" | "frontend"
                )
                .then(|| Proxy {
                    section: section.clone(),
                    keyword: keyword.clone(),
                    binds: Vec::new(),
                    servers: Vec::new(),
                    ..base
                });
                continue;
            }
            if keyword == "global" {
                match s.name.as_str() {
                    "ssl-server-verify" => {
                        cfg.ssl_server_verify = s.args.first().map(|v| At {
                            value: v.clone(),
                            line: s.location.line,
                        })
                    }
                    "ca-base" => cfg.ca_base = s.args.first().cloned(),
                    "crt-base" => cfg.crt_base = s.args.first().cloned(),
                    _ => {}
                }
                continue;
            }
            if let Some(p) = current.as_mut() {
                apply(p, s);
            }
        }
        if let Some(p) = current.take() {
            finish(
                &mut cfg,
                p,
                in_defaults,
                &mut named_defaults,
                &mut last_defaults,
            );
        }
        Some(cfg)
    }

    /// `path` as HAProxy opens it: relative to `ca-base` / `crt-base`.
    pub fn resolve(&self, path: &str, crt: bool) -> String {
        let base = if crt { &self.crt_base } else { &self.ca_base };
        match base {
            Some(b) if !path.starts_with('/') => format!("{}/{path}", b.trim_end_matches('/')),
            _ => path.to_string(),
        }
    }

    /// Whether a TLS check verifies the server: the effective `verify` (`required`
    /// unless `ssl-server-verify none`).
    pub fn verify_of(&self, opts: &Opts) -> (bool, Option<At>) {
        match &opts.verify {
            Some(v) => (v.value != "none", Some(v.clone())),
            None => match &self.ssl_server_verify {
                Some(v) => (v.value != "none", Some(v.clone())),
                None => (true, None),
            },
        }
    }
}

/// Whether `s` is a section header: the host gives each header as a setting named
/// after its section's keyword.
fn is_header(s: &Setting) -> bool {
    const SECTIONS: &[&str] = &[
        "global",
        "defaults",
        "frontend",
        "backend",
        "listen",
        "peers",
        "resolvers",
        "userlist",
        "mailers",
        "program",
        "http-errors",
        "ring",
        "log-forward",
        "cache",
        "fcgi-app",
        "crt-store",
        "traces",
        "acme",
    ];
    SECTIONS.contains(&s.name.as_str())
        && s.section
            .as_deref()
            .and_then(|sec| sec.split_whitespace().next())
            == Some(s.name.as_str())
}

/// `backend be from defs` → `defs`.
fn from_name(s: &Setting) -> Option<String> {
    let i = s.args.iter().position(|a| a == "from")?;
    s.args.get(i + 1).cloned()
}

fn finish(
    cfg: &mut Config,
    p: Proxy,
    in_defaults: bool,
    named: &mut HashMap<String, Proxy>,
    last: &mut Proxy,
) {
    if in_defaults {
        if let Some(name) = p.section.split_whitespace().nth(1) {
            named.insert(name.to_string(), p.clone());
        }
        *last = p;
    } else {
        cfg.proxies.push(p);
    }
}

fn apply(p: &mut Proxy, s: &Setting) {
    let line = s.location.line;
    let args = &s.args;
    let first = args.first().map(String::as_str);
    match s.name.as_str() {
        "option" => match first {
            Some("httpchk") => {
                let a = &args[1..];
                let (method, uri) = match a.len() {
                    0 => ("OPTIONS".to_string(), "/".to_string()),
                    1 => ("OPTIONS".to_string(), a[0].clone()),
                    _ => (a[0].clone(), a[1].clone()),
                };
                p.check.http = Some((method, uri, line));
            }
            Some(o) if o.ends_with("-check") || o.ends_with("-chk") => p.check.http = None,
            _ => {}
        },
        "no" if first == Some("option") && args.get(1).is_some_and(|a| a == "httpchk") => {
            p.check.http = None
        }
        "http-check" => match first {
            Some("send") => {
                if let Some((method, uri, _)) = p.check.http.as_mut() {
                    let mut it = args[1..].iter();
                    while let Some(k) = it.next() {
                        match k.as_str() {
                            "meth" => *method = it.next().cloned().unwrap_or_default(),
                            "uri" => *uri = it.next().cloned().unwrap_or_default(),
                            _ => {}
                        }
                    }
                }
            }
            Some("connect") => {
                let mut it = args[1..].iter();
                while let Some(k) = it.next() {
                    match k.as_str() {
                        "port" => p.check.connect_port = it.next().and_then(|v| v.parse().ok()),
                        "addr" => p.check.connect_addr = it.next().cloned(),
                        "ssl" => p.check.connect_ssl = true,
                        "sni" | "alpn" | "proto" | "comment" => {
                            it.next();
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        },
        "source" => {
            p.source = first.map(|v| At {
                value: v.to_string(),
                line,
            })
        }
        "bind" => p.binds.extend(first.map(str::to_string)),
        "default-server" => p.default_server = p.default_server.merged(&Opts::read(args, line)),
        "server" | "server-template" => {
            let (name, addr, rest) = if s.name == "server" {
                (args.first(), args.get(1), args.get(2..))
            } else {
                (args.first(), args.get(2), args.get(3..))
            };
            let (Some(name), Some(addr)) = (name, addr) else {
                return;
            };
            let own = Opts::read(rest.unwrap_or_default(), line);
            let opts = p.default_server.merged(&own);
            p.servers.push(Server {
                name: name.clone(),
                addr: addr.clone(),
                line,
                value: s.value.clone(),
                own,
                opts,
            });
        }
        _ => {}
    }
}

/// `10.0.0.1:5432` → (`10.0.0.1`, 5432); `[::1]:5432`, `pg1`, `ipv4@10.0.0.1:5432`.
pub fn split_addr(addr: &str) -> (String, Option<u16>) {
    let addr = addr.split_once('@').map_or(addr, |(_, a)| a);
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').unwrap_or((rest, ""));
        return (
            host.to_string(),
            tail.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match addr.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().ok()),
        _ => (addr.to_string(), None),
    }
}

/// A server's health check as HAProxy sends it.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub method: String,
    pub uri: String,
    pub host: String,
    pub port: Option<u16>,
    pub tls: bool,
}

impl Proxy {
    /// The HTTP check of `server`, when it has one.
    pub fn health_check(&self, server: &Server) -> Option<HealthCheck> {
        let (method, uri, _) = self.check.http.clone()?;
        if server.opts.check != Some(true) {
            return None;
        }
        let (host, addr_port) = split_addr(&server.addr);
        let port_opt = server.opts.port.as_ref().and_then(|p| p.value.parse().ok());
        let port = port_opt.or(self.check.connect_port).or(addr_port);
        let moved =
            port_opt.is_some() || server.opts.addr.is_some() || self.check.connect_port.is_some();
        let tls = match server.opts.check_ssl {
            Some(b) => b || self.check.connect_ssl,
            None => self.check.connect_ssl || (server.opts.ssl == Some(true) && !moved),
        };
        let host = server
            .opts
            .addr
            .as_ref()
            .map(|a| split_addr(&a.value).0)
            .or_else(|| self.check.connect_addr.as_ref().map(|a| split_addr(a).0))
            .unwrap_or(host);
        Some(HealthCheck {
            method,
            uri,
            host,
            port,
            tls,
        })
    }
}
