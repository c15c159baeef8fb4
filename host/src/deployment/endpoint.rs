//! Endpoints as configurations write them: `10.0.1.11:8008`, `[::1]:5432`,
//! `https://etcd1:2379`, `host=10.0.0.5 port=5432`; and whether two endpoints are the
//! same listener (host:port, with wildcard listeners matching every address).

use std::net::IpAddr;

use crate::samples::ip_address;
use crate::wit;

/// Parses `host:port`, `[v6]:port`, `scheme://host:port/…` or a bare host.
pub fn parse(text: &str, source: wit::Location, context: &wit::Context) -> wit::Endpoint {
    let text = text.trim();
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, text),
    };
    // Drop a path and user info of a URL.
    let rest = rest.split('/').next().unwrap_or(rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let (host, port) = split_host_port(rest);
    endpoint(host, port, scheme, source, context)
}

/// An endpoint from a host and port given apart.
pub fn endpoint(
    host: &str,
    port: Option<u16>,
    scheme: Option<String>,
    source: wit::Location,
    context: &wit::Context,
) -> wit::Endpoint {
    let host = host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let address = resolve(&host, context).map(ip_address);
    wit::Endpoint {
        host,
        port,
        address,
        scheme,
        source,
    }
}

/// Splits `host:port` (`[v6]:port`, `v6` without a port, a bare host).
pub fn split_host_port(text: &str) -> (&str, Option<u16>) {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match text.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host, Some(p)),
            Err(_) => (text, None),
        },
        _ => (text, None),
    }
}

/// The address of `host`: an IP literal, or a name the context resolves to exactly one
/// address. Names are never looked up on this machine.
pub fn resolve(host: &str, context: &wit::Context) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    let (_, addrs) = context
        .resolve
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(host))?;
    match addrs.as_slice() {
        [one] => one.parse().ok(),
        _ => None,
    }
}

/// Whether a host is a wildcard listener (`0.0.0.0`, `::`, `*`, empty).
pub fn is_wildcard(host: &str) -> bool {
    matches!(host, "" | "*" | "0.0.0.0" | "::")
}

/// Whether `target` (what a client names) reaches the listener `listener`: the same port
/// and the same host (by name or address). A wildcard listener matches any host, but
/// only when `target` names no other known listener — callers match exact ones first.
pub fn same(target: &wit::Endpoint, listener: &wit::Endpoint) -> bool {
    if target.port.is_none() || target.port != listener.port {
        return false;
    }
    if target.host.eq_ignore_ascii_case(&listener.host) {
        return true;
    }
    match (&target.address, &listener.address) {
        (Some(a), Some(b)) => ip(a) == ip(b),
        _ => false,
    }
}

/// The endpoint as `host:port`.
pub fn show(e: &wit::Endpoint) -> String {
    let host = if e.host.contains(':') {
        format!("[{}]", e.host)
    } else {
        e.host.clone()
    };
    match e.port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// The address as an [`IpAddr`].
pub fn ip(a: &wit::IpAddress) -> IpAddr {
    match a {
        wit::IpAddress::V4(v) => IpAddr::V4((*v).into()),
        wit::IpAddress::V6((hi, lo)) => {
            IpAddr::V6(((u128::from(*hi) << 64) | u128::from(*lo)).into())
        }
    }
}

/// Whether two optional addresses are the same known address.
pub fn same_address(a: &Option<wit::IpAddress>, b: &Option<wit::IpAddress>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if ip(a) == ip(b))
}

/// Whether two locations are the same place.
pub fn same_location(a: &wit::Location, b: &wit::Location) -> bool {
    a.file == b.file && a.line == b.line && a.pointer == b.pointer
}
