//! IP addresses and networks as Patroni's Python sees them.
//!
//! Patroni reads `restapi.allowlist` with `ipaddress.ip_network(v, strict=False)` when an
//! entry holds a `/`, and with `socket.getaddrinfo(v, 8080)` otherwise; both accept forms
//! that a plain CIDR parser would not (a netmask or hostmask after the `/`, `127.1` or
//! `0x7f.1` through glibc's `inet_aton`) and refuse some it would (a space, a leading
//! zero in `ip_network`). These parsers follow CPython 3.11 and glibc 2.36 so that an entry
//! is kept or dropped exactly as the server does. Addresses are `u128` with a family flag,
//! so that matching a request is a mask and a compare, with no allocation.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An address: IPv4 in the low 32 bits, or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ip {
    pub v6: bool,
    pub bits: u128,
}

/// A network: address family, network bits, mask and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Net {
    pub v6: bool,
    pub bits: u128,
    pub mask: u128,
    pub prefix: u8,
}

impl From<std::net::IpAddr> for Ip {
    fn from(addr: std::net::IpAddr) -> Ip {
        match addr {
            std::net::IpAddr::V4(v4) => Ip::v4(v4),
            std::net::IpAddr::V6(v6) => Ip::v6(v6),
        }
    }
}

impl Ip {
    pub fn v4(addr: Ipv4Addr) -> Ip {
        Ip {
            v6: false,
            bits: u32::from(addr) as u128,
        }
    }

    pub fn v6(addr: Ipv6Addr) -> Ip {
        Ip {
            v6: true,
            bits: u128::from(addr),
        }
    }

    /// The IPv4-mapped IPv6 form (`::ffff:a.b.c.d`) of an IPv4 address; what a dual-stack
    /// listener reports as the peer of an IPv4 client. IPv6 addresses are unchanged.
    pub fn mapped(self) -> Ip {
        if self.v6 {
            self
        } else {
            Ip {
                v6: true,
                bits: 0xffff_0000_0000 | self.bits,
            }
        }
    }

    /// Parses an address as Python's `ipaddress.ip_address` does (strict dotted decimal
    /// IPv4, IPv6 with an optional `%scope`, which membership ignores).
    pub fn parse(text: &str) -> Option<Ip> {
        if let Some(v4) = dotted_quad(text.as_bytes()) {
            return Some(Ip {
                v6: false,
                bits: v4 as u128,
            });
        }
        if !text.contains(':') {
            return None;
        }
        parse_v6(text).map(Ip::v6)
    }

    pub fn host_net(self) -> Net {
        let prefix = if self.v6 { 128 } else { 32 };
        Net {
            v6: self.v6,
            bits: self.bits,
            mask: mask(self.v6, prefix),
            prefix,
        }
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.v6 {
            Ipv6Addr::from(self.bits).fmt(f)
        } else {
            Ipv4Addr::from(self.bits as u32).fmt(f)
        }
    }
}

impl Net {
    /// Python's `ip in net`: false across families.
    #[inline]
    pub fn contains(&self, ip: Ip) -> bool {
        self.v6 == ip.v6 && ip.bits & self.mask == self.bits
    }

    /// Whether every address of `other` is in `self`.
    pub fn covers(&self, other: &Net) -> bool {
        self.v6 == other.v6 && self.prefix <= other.prefix && other.bits & self.mask == self.bits
    }

    /// The network address.
    pub fn addr(&self) -> Ip {
        Ip {
            v6: self.v6,
            bits: self.bits,
        }
    }

    /// Builds a network from an address and a prefix, host bits cleared.
    pub fn new(ip: Ip, prefix: u8) -> Net {
        let m = mask(ip.v6, prefix);
        Net {
            v6: ip.v6,
            bits: ip.bits & m,
            mask: m,
            prefix,
        }
    }

    /// The IPv4-mapped IPv6 network of an IPv4 network (`10.0.0.0/8` →
    /// `::ffff:10.0.0.0/104`); what an allowlist on a dual-stack listener needs.
    pub fn mapped(&self) -> Net {
        if self.v6 {
            *self
        } else {
            Net::new(self.addr().mapped(), self.prefix + 96)
        }
    }

    /// Parses a network as `ipaddress.ip_network(text, strict=False)` (CPython 3.11):
    /// IPv4 with a prefix length, a netmask or a hostmask; IPv6 with a prefix length.
    pub fn parse_python(text: &str) -> Option<Net> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) if !p.contains('/') => (a, Some(p)),
            Some(_) => return None,
            None => (text, None),
        };
        if let Ok(v4) = addr.parse::<Ipv4Addr>() {
            let prefix = match prefix {
                None => 32,
                Some(p) => prefix_digits(p, 32).or_else(|| v4_mask_prefix(p))?,
            };
            return Some(Net::new(Ip::v4(v4), prefix));
        }
        let v6 = parse_v6(addr)?;
        let prefix = match prefix {
            None => 128,
            Some(p) => prefix_digits(p, 128)?,
        };
        Some(Net::new(Ip::v6(v6), prefix))
    }
}

impl fmt::Display for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.prefix)
    }
}

fn mask(v6: bool, prefix: u8) -> u128 {
    if v6 {
        if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix as u32)
        }
    } else if prefix == 0 {
        0
    } else {
        (u32::MAX << (32 - prefix as u32)) as u128
    }
}

/// `_prefix_from_prefix_string`: ASCII digits only (no sign, no space), within range.
fn prefix_digits(text: &str, max: u8) -> Option<u8> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = text.parse().ok()?;
    (value <= max as u32).then_some(value as u8)
}

/// `_prefix_from_ip_string`: a dotted netmask (`255.255.0.0`), else a hostmask
/// (`0.0.255.255`).
fn v4_mask_prefix(text: &str) -> Option<u8> {
    let value = u32::from(text.parse::<Ipv4Addr>().ok()?);
    contiguous(value).or_else(|| contiguous(!value))
}

fn contiguous(value: u32) -> Option<u8> {
    let zeros = if value == 0 {
        32
    } else {
        value.trailing_zeros()
    };
    let prefix = 32 - zeros;
    let ones = if zeros == 32 { 0 } else { value >> zeros };
    let all = if prefix == 0 {
        0
    } else {
        u32::MAX >> (32 - prefix)
    };
    (ones == all).then_some(prefix as u8)
}

/// Strict dotted-decimal IPv4 (`_parse_octet`): four parts of one to three digits, no
/// leading zero, at most 255. The hot path of every request's source address.
fn dotted_quad(b: &[u8]) -> Option<u32> {
    let mut value: u32 = 0;
    let mut parts = 0;
    let mut i = 0;
    while parts < 4 {
        let start = i;
        let mut octet: u32 = 0;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 3 {
            octet = octet * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        let len = i - start;
        if len == 0 || octet > 255 || (len > 1 && b[start] == b'0') {
            return None;
        }
        value = value << 8 | octet;
        parts += 1;
        if parts < 4 {
            if i >= b.len() || b[i] != b'.' {
                return None;
            }
            i += 1;
        }
    }
    (i == b.len()).then_some(value)
}

/// IPv6 text with an optional `%scope` (non-empty, one `%`), as `IPv6Address` takes it.
fn parse_v6(text: &str) -> Option<Ipv6Addr> {
    let addr = match text.split_once('%') {
        Some((a, scope)) if !scope.is_empty() && !scope.contains('%') => a,
        Some(_) => return None,
        None => text,
    };
    addr.parse().ok()
}

/// What `getaddrinfo` makes of a numeric host without a name lookup: glibc's
/// `inet_aton` forms (`127.1`, `0x7f.0.0.1`, `2130706433`, octal `0177.0.0.1`) and IPv6
/// text with an optional scope. `None`: glibc would try to resolve it as a name.
pub fn getaddrinfo_numeric(text: &str) -> Option<Ip> {
    if let Some(v4) = inet_aton(text) {
        return Some(Ip::v4(v4));
    }
    if text.contains(':') {
        return parse_v6(text).map(Ip::v6);
    }
    None
}

fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let mut parts = [0u64; 4];
    let mut count = 0;
    for part in text.split('.') {
        if count == 4 {
            return None;
        }
        parts[count] = c_number(part)?;
        count += 1;
    }
    let value = match count {
        1 => parts[0],
        2 if parts[0] <= 0xff && parts[1] <= 0xff_ffff => parts[0] << 24 | parts[1],
        3 if parts[..2].iter().all(|p| *p <= 0xff) && parts[2] <= 0xffff => {
            parts[0] << 24 | parts[1] << 16 | parts[2]
        }
        4 if parts.iter().all(|p| *p <= 0xff) => {
            parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]
        }
        _ => return None,
    };
    (value <= u32::MAX as u64).then(|| Ipv4Addr::from(value as u32))
}

/// A number as `strtoul(s, 0)` reads it inside `inet_aton`: `0x` hex, leading-`0` octal,
/// decimal; at least one digit, nothing after it.
fn c_number(text: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if text.len() > 1 && text.starts_with('0') {
            (&text[1..], 8)
        } else {
            (text, 10)
        };
    if digits.is_empty() && radix != 8 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|v| *v <= u32::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> Option<String> {
        Net::parse_python(text).map(|n| n.to_string())
    }

    /// Outcomes checked against CPython 3.11 `ipaddress.ip_network(v, False)`.
    #[test]
    fn ip_network_like_python() {
        let cases: &[(&str, Option<&str>)] = &[
            ("10.0.0.0/8", Some("10.0.0.0/8")),
            ("10.1.2.3/8", Some("10.0.0.0/8")),
            ("127.0.0.1/32", Some("127.0.0.1/32")),
            ("10.0.0.0/255.255.0.0", Some("10.0.0.0/16")),
            ("10.0.0.0/0.0.255.255", Some("10.0.0.0/16")),
            ("10.0.0.0/0.0.0.0", Some("0.0.0.0/0")),
            ("10.0.0.0/255.0.255.0", None),
            ("0.0.0.0/0", Some("0.0.0.0/0")),
            ("10.0.0.0/08", Some("10.0.0.0/8")),
            ("10.0.0.0/+8", None),
            ("10.0.0.0/ 8", None),
            ("10.0.0.0/8 ", None),
            (" 10.0.0.0/8", None),
            ("10.0.0.0/33", None),
            ("10.0.0.0/", None),
            ("010.0.0.0/8", None),
            ("10.0.0/8", None),
            ("256.0.0.0/8", None),
            ("10.0.0.0/8/8", None),
            ("::/0", Some("::/0")),
            ("::ffff:127.0.0.0/104", Some("::ffff:127.0.0.0/104")),
            ("fe80::1%eth0/64", Some("fe80::/64")),
            ("fe80::1%/64", None),
            ("2001:db8::/ffff::", None),
            ("2001:db8::/129", None),
            ("[::1]/128", None),
            ("host/24", None),
            ("1:2:3:4:5:6:7::/128", Some("1:2:3:4:5:6:7:0/128")),
            ("::1:2:3:4:5:6:7/128", Some("0:1:2:3:4:5:6:7/128")),
            ("1::2::3/128", None),
            ("::ffff:1.2.3.04/128", None),
            ("10.0.0.0/255.255.255.255", Some("10.0.0.0/32")),
        ];
        for (text, want) in cases {
            assert_eq!(net(text).as_deref(), *want, "{text:?}");
        }
    }

    /// Outcomes checked against `socket.getaddrinfo(v, 8080)` on glibc 2.36.
    #[test]
    fn getaddrinfo_numeric_like_glibc() {
        let cases: &[(&str, Option<&str>)] = &[
            ("127.0.0.1", Some("127.0.0.1")),
            ("127.1", Some("127.0.0.1")),
            ("1.2.3", Some("1.2.0.3")),
            ("0x7f.1", Some("127.0.0.1")),
            ("2130706433", Some("127.0.0.1")),
            ("127.000.000.001", Some("127.0.0.1")),
            ("127.0.0.01", Some("127.0.0.1")),
            ("0177.0.0.1", Some("127.0.0.1")),
            ("08.0.0.1", None),
            ("127.0.0.1 ", None),
            (" 127.0.0.1", None),
            ("1.2.3.4.5", None),
            ("1..2", None),
            ("1.2.3.", None),
            ("256.0.0.1", None),
            ("::1", Some("::1")),
            ("fe80::1%lo", Some("fe80::1")),
            ("[::1]", None),
            ("localhost", None),
            ("0x", None),
            ("0x.1", None),
            ("00", Some("0.0.0.0")),
            ("4294967295", Some("255.255.255.255")),
            ("4294967296", None),
            ("1.16777215", Some("1.255.255.255")),
            ("1.16777216", None),
        ];
        for (text, want) in cases {
            let got = getaddrinfo_numeric(text).map(|ip| ip.to_string());
            assert_eq!(got.as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn dotted_quads_like_python() {
        let cases = [
            ("10.0.0.1", Some(0x0a00_0001)),
            ("255.255.255.255", Some(u32::MAX)),
            ("0.0.0.0", Some(0)),
            ("256.0.0.1", None),
            ("01.0.0.1", None),
            ("1.2.3", None),
            ("1.2.3.4.", None),
            ("1.2.3.4.5", None),
            ("1.2.3.0004", None),
            ("1..3.4", None),
            ("", None),
            ("1.2.3.4 ", None),
        ];
        for (text, want) in cases {
            assert_eq!(dotted_quad(text.as_bytes()), want, "{text:?}");
            assert_eq!(Ip::parse(text).map(|i| i.bits as u32), want, "{text:?}");
        }
    }

    #[test]
    fn mapped_addresses_only_match_mapped_networks() {
        let src = Ip::parse("127.0.0.2").unwrap();
        let v4 = Net::parse_python("127.0.0.0/8").unwrap();
        assert!(v4.contains(src));
        assert!(!v4.contains(src.mapped()));
        assert!(v4.mapped().contains(src.mapped()));
        assert_eq!(v4.mapped().to_string(), "::ffff:127.0.0.0/104");
        assert_eq!(Ip::parse("::ffff:127.0.0.2").unwrap(), src.mapped());
    }
}
