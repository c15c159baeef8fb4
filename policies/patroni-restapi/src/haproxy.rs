//! The HTTP health checks an haproxy.cfg sends, as far as a Patroni REST API sees them.
//!
//! Reads the directives that make a check (HAProxy 2.x `doc/configuration.txt`):
//! `option httpchk [<method>] [<uri>]` (bare: `OPTIONS /`), `http-check send meth <m> uri
//! <u>`, `no option httpchk` or another `option *-check` turning it off, and `server` /
//! `default-server` lines with `check`, `port`, `addr`, `check-ssl`, `no-check-ssl`,
//! `ssl`, `crt`. A `defaults` section applies to the proxies after it. The directives come
//! from the host's parsed settings when it has them, else from the file's text with a
//! small tokenizer (quotes, backslashes, `#` comments).

use policy_guest::{Body, Document};

/// One directive: its section header, name, words after the name, line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub section: String,
    pub name: String,
    pub args: Vec<String>,
    pub line: u32,
}

/// A health check HAProxy sends to one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub file: String,
    /// The `server` line.
    pub line: u32,
    /// `backend postgres`.
    pub section: String,
    pub server: String,
    /// The server address without the port.
    pub host: String,
    /// The port checked (`port`, else the address's port).
    pub port: Option<u16>,
    pub method: String,
    pub uri: String,
    /// The check speaks TLS.
    pub tls: bool,
    /// A client certificate (`crt`) goes with TLS checks.
    pub client_cert: bool,
}

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

/// The directives of a haproxy document.
pub fn directives(doc: &Document) -> Vec<Directive> {
    if let Body::Settings(settings) = &doc.body {
        return settings
            .iter()
            .filter(|s| !SECTIONS.contains(&s.name.as_str()))
            .map(|s| Directive {
                section: s.section.clone().unwrap_or_default(),
                name: s.name.clone(),
                args: s.args.clone(),
                line: s.location.line,
            })
            .collect();
    }
    let mut out = Vec::new();
    let mut section = String::new();
    for (i, line) in doc.text.lines().enumerate() {
        let words = words(line);
        let Some((first, rest)) = words.split_first() else {
            continue;
        };
        if SECTIONS.contains(&first.as_str()) {
            section = words.join(" ");
            continue;
        }
        out.push(Directive {
            section: section.clone(),
            name: first.clone(),
            args: rest.to_vec(),
            line: i as u32 + 1,
        });
    }
    out
}

/// Splits a line into words: quotes group, a backslash escapes, `#` starts a comment.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#') => break,
            (None, ' ' | '\t') => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

#[derive(Debug, Clone, Default)]
struct Proxy {
    httpchk: Option<(String, String)>,
    default_server: Vec<String>,
}

/// The HTTP health checks of a haproxy document.
pub fn checks(doc: &Document) -> Vec<HealthCheck> {
    let mut defaults = Proxy::default();
    let mut current = Proxy::default();
    let mut current_section = String::new();
    let mut out = Vec::new();
    for d in directives(doc) {
        if d.section != current_section {
            current_section = d.section.clone();
            current = defaults.clone();
        }
        let kind = d.section.split_whitespace().next().unwrap_or("");
        let target = if kind == "defaults" {
            &mut defaults
        } else {
            &mut current
        };
        match d.name.as_str() {
            "option" => match d.args.first().map(String::as_str) {
                Some("httpchk") => {
                    let a = &d.args[1..];
                    target.httpchk = Some(match a.len() {
                        0 => ("OPTIONS".into(), "/".into()),
                        1 => ("OPTIONS".into(), a[0].clone()),
                        _ => (a[0].clone(), a[1].clone()),
                    });
                }
                Some(o) if o.ends_with("-check") || o.ends_with("-chk") || o == "tcp-check" => {
                    target.httpchk = None
                }
                _ => {}
            },
            "no" if d.args.first().is_some_and(|a| a == "option")
                && d.args.get(1).is_some_and(|a| a == "httpchk") =>
            {
                target.httpchk = None;
            }
            "http-check" if d.args.first().is_some_and(|a| a == "send") => {
                let (mut method, mut uri) =
                    target.httpchk.clone().unwrap_or(("GET".into(), "/".into()));
                let mut it = d.args[1..].iter();
                while let Some(k) = it.next() {
                    match k.as_str() {
                        "meth" => method = it.next().cloned().unwrap_or(method),
                        "uri" => uri = it.next().cloned().unwrap_or(uri),
                        _ => {}
                    }
                }
                target.httpchk = Some((method, uri));
            }
            "default-server" => target.default_server = d.args.clone(),
            "server" if matches!(kind, "backend" | "listen") => {
                let Some((method, uri)) = current.httpchk.clone() else {
                    continue;
                };
                let (Some(name), Some(addr)) = (d.args.first(), d.args.get(1)) else {
                    continue;
                };
                let mut kw: Vec<String> = current.default_server.clone();
                kw.extend(d.args[2..].iter().cloned());
                if !has(&kw, "check") || last_of(&kw, &["check", "no-check"]) == Some("no-check") {
                    continue;
                }
                let (host, addr_port) = split_addr(addr);
                let port_kw = value(&kw, "port").and_then(|p| p.parse().ok());
                let addr_kw = value(&kw, "addr");
                let port = port_kw.or(addr_port);
                let ssl = last_of(&kw, &["ssl", "no-ssl"]) == Some("ssl");
                let tls = match last_of(&kw, &["check-ssl", "no-check-ssl"]) {
                    Some("check-ssl") => true,
                    Some(_) => false,
                    None => ssl && port_kw.is_none() && addr_kw.is_none(),
                };
                out.push(HealthCheck {
                    file: doc.path.clone(),
                    line: d.line,
                    section: d.section.clone(),
                    server: name.clone(),
                    host: addr_kw.map(|a| split_addr(a).0).unwrap_or(host),
                    port,
                    method,
                    uri,
                    tls,
                    client_cert: has(&kw, "crt"),
                });
            }
            _ => {}
        }
    }
    out
}

fn has(kw: &[String], k: &str) -> bool {
    kw.iter().any(|w| w == k)
}

fn last_of<'a>(kw: &'a [String], of: &[&str]) -> Option<&'a str> {
    kw.iter()
        .rev()
        .find(|w| of.contains(&w.as_str()))
        .map(String::as_str)
}

fn value<'a>(kw: &'a [String], k: &str) -> Option<&'a str> {
    let i = kw.iter().rposition(|w| w == k)?;
    kw.get(i + 1).map(String::as_str)
}

/// `10.0.0.1:5432` → (`10.0.0.1`, 5432); `[::1]:5432`, `pg1`, `ipv4@10.0.0.1:5432`.
fn split_addr(addr: &str) -> (String, Option<u16>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document {
            kind: policy_guest::DocumentKind::Haproxy,
            path: "haproxy.cfg".into(),
            text: text.into(),
            body: Body::Text,
            diagnostics: vec![],
        }
    }

    #[test]
    fn reads_patroni_checks() {
        let cfg = "\
global
    maxconn 100
defaults
    mode tcp
    default-server inter 3s fall 3 rise 2 on-marked-down shutdown-sessions
listen primary
    bind *:5000
    option httpchk OPTIONS /primary
    http-check expect status 200
    server pg1 10.0.0.1:5432 maxconn 100 check port 8008
    server pg2 10.0.0.2:5432 maxconn 100 check port 8008 check-ssl verify none crt /etc/haproxy/client.pem # tls
listen replicas
    bind *:5001
    option httpchk
    http-check send meth GET uri /replica
    server pg1 10.0.0.1:5432 check port 8008
    server pg3 10.0.0.3:5432
backend plain
    option pgsql-check user haproxy
    server pg1 10.0.0.1:5432 check
";
        let c = checks(&doc(cfg));
        assert_eq!(c.len(), 3, "{c:#?}");
        assert_eq!(
            (c[0].method.as_str(), c[0].uri.as_str(), c[0].port, c[0].tls),
            ("OPTIONS", "/primary", Some(8008), false)
        );
        assert_eq!(c[0].line, 10);
        assert!(c[1].tls && c[1].client_cert);
        assert_eq!(
            (c[2].method.as_str(), c[2].uri.as_str()),
            ("GET", "/replica")
        );
    }

    #[test]
    fn words_like_haproxy() {
        assert_eq!(
            words("  server a \"b c\"d # x"),
            vec!["server", "a", "b cd"]
        );
        assert_eq!(words("a\\ b 'c#d'"), vec!["a b", "c#d"]);
    }
}
