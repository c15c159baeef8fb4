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
