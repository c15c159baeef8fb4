//! etcd's URL lists (`listen-client-urls: https://10.0.1.21:2379,http://127.0.0.1:2379`,
//! `initial-cluster: etcd1=https://…,etcd2=…`) and Patroni's host lists.

/// One URL of a list: scheme, host, port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
}

impl Url {
    /// Parses `scheme://host[:port][/…]`; `None` without a scheme.
    pub fn parse(text: &str) -> Option<Url> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(authority);
        Some(Url {
            scheme: scheme.to_ascii_lowercase(),
            host,
            port,
        })
    }

    /// Loopback or a Unix socket: plain HTTP there never crosses a network.
    pub fn is_local(&self) -> bool {
        matches!(self.scheme.as_str(), "unix" | "unixs") || is_loopback(&self.host)
    }
}

/// `host:port`, `[v6]:port`, `host` → (host, port).
pub fn split_host_port(text: &str) -> (String, Option<u16>) {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').unwrap_or((rest, ""));
        return (
            host.to_string(),
            tail.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match text.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().ok()),
        _ => (text.to_string(), None),
    }
}

pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The URLs of a comma-separated list (for `initial-cluster`, the part after `name=`).
pub fn list(value: &str) -> Vec<Url> {
    value
        .split(',')
        .map(|item| {
            item.split_once('=')
                .filter(|(n, _)| !n.contains("://"))
                .map_or(item, |(_, u)| u)
        })
        .filter_map(Url::parse)
        .collect()
}

/// The list with every non-local `http://` URL turned into `https://`, the rest as written.
pub fn to_https(value: &str) -> String {
    value
        .split(',')
        .map(|item| {
            let (prefix, url) = match item.split_once('=').filter(|(n, _)| !n.contains("://")) {
                Some((name, url)) => (format!("{name}="), url),
                None => (String::new(), item),
            };
            match Url::parse(url) {
                Some(u) if u.scheme == "http" && !u.is_local() => {
                    let lead = &url[..url.len() - url.trim_start().len()];
                    format!("{prefix}{lead}https{}", &url.trim_start()[4..])
                }
                _ => item.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rewrites_lists() {
        let l = list("https://10.0.1.21:2379, http://127.0.0.1:2379,unix://x");
        assert_eq!(l.len(), 3);
        assert_eq!(
            (l[0].scheme.as_str(), l[0].host.as_str(), l[0].port),
            ("https", "10.0.1.21", Some(2379))
        );
        assert!(l[1].is_local() && l[2].is_local() && !l[0].is_local());
        assert_eq!(list("a=http://[::1]:2380,b=http://h:2380")[0].host, "::1");
        assert_eq!(
            to_https("http://0.0.0.0:2379,http://localhost:2379"),
            "https://0.0.0.0:2379,http://localhost:2379"
        );
        assert_eq!(
            to_https("e1=http://10.0.1.21:2380,e2=https://10.0.1.22:2380"),
            "e1=https://10.0.1.21:2380,e2=https://10.0.1.22:2380"
        );
        assert_eq!(
            split_host_port("10.0.1.21:2379"),
            ("10.0.1.21".to_string(), Some(2379))
        );
    }
}
