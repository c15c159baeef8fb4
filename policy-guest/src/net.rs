//! Address helpers shared by the policies: CIDR parsing and containment (ipnet).

use std::net::IpAddr;

pub use ipnet::IpNet;

/// Parses an address or network; a bare address becomes a /32 or /128.
pub fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net);
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// Whether `inner` lies entirely within one of `outer`.
pub fn within_any(inner: &IpNet, outer: &[IpNet]) -> bool {
    outer.iter().any(|o| o.contains(inner))
}

/// Whether a listener's host (`127.0.0.1`, `[::1]`, `localhost`) is loopback only.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Who can reach a listener or an address rule (docs/severity.md): the rows of the
/// severity table, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Loopback or a Unix socket: someone on the host.
    Host,
    /// Private ranges (RFC 1918, CGNAT, link-local, IPv6 unique-local and link-local):
    /// the cluster's or the organisation's networks.
    Private,
    /// Every address (`/0`), or a network with public addresses.
    Anyone,
}

/// The reach of a network a rule admits.
pub fn reach(net: &IpNet) -> Reach {
    const PRIVATE: &[&str] = &[
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    ];
    const LOOPBACK: &[&str] = &["127.0.0.0/8", "::1/128", "::ffff:127.0.0.0/104"];
    let within = |list: &[&str]| {
        list.iter()
            .filter_map(|c| c.parse::<IpNet>().ok())
            .any(|o| o.contains(net))
    };
    if within(LOOPBACK) {
        Reach::Host
    } else if within(PRIVATE) {
        Reach::Private
    } else {
        Reach::Anyone
    }
}

/// The severity of a finding whose gain is `top` for anyone on the network, one step
/// less for private networks, two for the host only (the columns of docs/severity.md's
/// table for superuser/data gains: critical → high → medium).
pub fn by_reach(reach: Reach, top: crate::Severity) -> crate::Severity {
    use crate::Severity::*;
    let ladder = [Info, Low, Medium, High, Critical];
    let at = ladder.iter().position(|s| *s == top).unwrap_or(0);
    let down = match reach {
        Reach::Anyone => 0,
        Reach::Private => 1,
        Reach::Host => 2,
    };
    ladder[at.saturating_sub(down)]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::Severity;

    #[test]
    fn reach_of_networks() {
        let r = |s: &str| reach(&parse_net(s).unwrap());
        assert_eq!(r("0.0.0.0/0"), Reach::Anyone);
        assert_eq!(r("203.0.113.0/24"), Reach::Anyone);
        assert_eq!(r("10.0.0.0/8"), Reach::Private);
        assert_eq!(r("192.168.1.0/24"), Reach::Private);
        assert_eq!(r("fd00::/8"), Reach::Private);
        assert_eq!(r("127.0.0.1/32"), Reach::Host);
        assert_eq!(r("::1"), Reach::Host);
        assert_eq!(by_reach(Reach::Private, Severity::Critical), Severity::High);
        assert_eq!(by_reach(Reach::Host, Severity::Critical), Severity::Medium);
    }
}
