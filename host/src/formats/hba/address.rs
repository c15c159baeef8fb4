//! The address and mask columns of pg_hba.conf, read as the server reads them.
//!
//! PostgreSQL hands the text to `getaddrinfo(…, AI_NUMERICHOST)`; on Linux that is glibc,
//! which tries `inet_aton` first (so `127.1`, `010.0.0.1` — octal, 8.0.0.1 — and
//! `0x7f000001` are IPv4 addresses) and then `inet_pton(AF_INET6)` with an optional
//! `%scope`. Anything else is "not a number", which the server takes for a host name. The
//! CIDR suffix goes through `strtol`. Addresses are printed as glibc's `inet_ntop` prints
//! them, which is what the `pg_hba_file_rules` view shows. Checked against Python's
//! `socket.getaddrinfo` on the same glibc (Debian bookworm, 2.36).

use std::net::Ipv4Addr;

/// A numeric address or mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Ip {
    pub(crate) fn is_v6(&self) -> bool {
        matches!(self, Ip::V6(_))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Ip::V4(b) => b,
            Ip::V6(b) => b,
        }
    }

    /// The text `inet_ntop` gives.
    pub(crate) fn text(&self) -> String {
        match self {
            Ip::V4(b) => Ipv4Addr::from(*b).to_string(),
            Ip::V6(b) => ntop6(b),
        }
    }

    /// The prefix length, when the mask's one bits are contiguous from the left.
    pub(crate) fn prefix(&self) -> Option<u8> {
        let mut ones = 0u32;
        let mut seen_zero = false;
        for byte in self.bytes() {
            for bit in (0..8).rev() {
                if byte & (1 << bit) != 0 {
                    if seen_zero {
                        return None;
                    }
                    ones += 1;
                } else {
                    seen_zero = true;
                }
            }
        }
        u8::try_from(ones).ok()
    }
}

/// `getaddrinfo(text, AI_NUMERICHOST)`: the address, or None for glibc's `EAI_NONAME`.
pub(crate) fn numeric_host(text: &str) -> Option<Ip> {
    if let Some(v4) = inet_aton_exact(text.as_bytes()) {
        return Some(Ip::V4(v4));
    }
    let (addr, scope) = match text.find('%') {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let v6 = inet_pton6(addr.as_bytes())?;
    match scope {
        Some(scope) if !scope_ok(&v6, scope) => None,
        _ => Some(Ip::V6(v6)),
    }
}

/// `pg_sockaddr_cidr_mask`: the mask for the text after `/`, or None if invalid.
pub(crate) fn cidr_mask(bits: &str, v6: bool) -> Option<Ip> {
    let bits = strtol_exact(bits)?;
    let max = if v6 { 128 } else { 32 };
    if !(0..=max).contains(&bits) {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut left = bits;
    for byte in bytes.iter_mut() {
        *byte = match left {
            l if l >= 8 => 0xff,
            l if l <= 0 => 0,
            l => 0xffu8 << (8 - l),
        };
        left -= 8;
    }
    Some(if v6 {
        Ip::V6(bytes)
    } else {
        Ip::V4([bytes[0], bytes[1], bytes[2], bytes[3]])
    })
}

/// `strtol(text, &end, 10)` that must consume the whole (non-empty) text.
pub(crate) fn strtol_exact(text: &str) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // strtol clamps on overflow; any clamped value is out of every mask's range anyway.
    let value = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if negative { -value } else { value })
}

/// glibc's `__inet_aton_exact`: `a.b.c.d`, `a.b.c`, `a.b` or `a`, each part decimal,
/// octal (leading `0`) or hex (`0x`), the last part filling the remaining bytes.
fn inet_aton_exact(s: &[u8]) -> Option<[u8; 4]> {
    let mut parts: Vec<u32> = Vec::with_capacity(4);
    let mut i = 0;
    loop {
        if !s.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let mut base = 10u64;
        let mut digit = false;
        if s[i] == b'0' {
            i += 1;
            if matches!(s.get(i), Some(b'x' | b'X')) {
                base = 16;
                i += 1;
            } else {
                base = 8;
                digit = true;
            }
        }
        let mut value: u64 = 0;
        while let Some(&c) = s.get(i) {
            let d = match c {
                b'0'..=b'9' => u64::from(c - b'0'),
                b'a'..=b'f' if base == 16 => u64::from(c - b'a' + 10),
                b'A'..=b'F' if base == 16 => u64::from(c - b'A' + 10),
                _ => break,
            };
            if base == 8 && d >= 8 {
                return None;
            }
            value = value * base + d;
            if value > u64::from(u32::MAX) {
                return None;
            }
            digit = true;
            i += 1;
        }
        if s.get(i) == Some(&b'.') {
            if parts.len() > 2 || value > 0xff {
                return None;
            }
            parts.push(value as u32);
            i += 1;
        } else {
            if i != s.len() || !digit {
                return None;
            }
            let max: u64 = [0xffff_ffff, 0xff_ffff, 0xffff, 0xff][parts.len()];
            if value > max {
                return None;
            }
            let mut out = (value as u32).to_be_bytes();
            for (k, part) in parts.iter().enumerate() {
                out[k] = *part as u8;
            }
            return Some(out);
        }
    }
}

/// glibc's `inet_pton4`: strict dotted quad, no leading zeros.
fn inet_pton4(s: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut octets = 0;
    let mut saw_digit = false;
    let mut cur: u32 = 0;
    for &c in s {
        if c.is_ascii_digit() {
            if saw_digit && cur == 0 {
                return None;
            }
            cur = cur * 10 + u32::from(c - b'0');
            if cur > 255 {
                return None;
            }
            if !saw_digit {
                octets += 1;
                if octets > 4 {
                    return None;
                }
                saw_digit = true;
            }
            out[octets - 1] = cur as u8;
        } else if c == b'.' && saw_digit {
            if octets == 4 {
                return None;
            }
            saw_digit = false;
            cur = 0;
        } else {
            return None;
        }
    }
    (octets == 4).then_some(out)
}

/// glibc's `inet_pton6`.
fn inet_pton6(s: &[u8]) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    let mut tp = 0usize;
    let mut colonp: Option<usize> = None;
    let mut i = 0;
    if s.is_empty() {
        return None;
    }
    if s[0] == b':' {
        i = 1;
        if s.get(1) != Some(&b':') {
            return None;
        }
    }
    let mut curtok = i;
    let mut xdigits = 0;
    let mut val: u32 = 0;
    while i < s.len() {
        let ch = s[i];
        i += 1;
        if let Some(d) = (ch as char).to_digit(16) {
            if xdigits == 4 {
                return None;
            }
            val = (val << 4) | d;
            xdigits += 1;
            continue;
        }
        if ch == b':' {
            curtok = i;
            if xdigits == 0 {
                if colonp.is_some() {
                    return None;
                }
                colonp = Some(tp);
                continue;
            } else if i == s.len() {
                return None;
            }
            if tp + 2 > 16 {
                return None;
            }
            out[tp] = (val >> 8) as u8;
            out[tp + 1] = val as u8;
            tp += 2;
            xdigits = 0;
            val = 0;
            continue;
        }
        if ch == b'.' && tp + 4 <= 16 {
            let v4 = inet_pton4(&s[curtok..])?;
            out[tp..tp + 4].copy_from_slice(&v4);
            tp += 4;
            xdigits = 0;
            break;
        }
        return None;
    }
    if xdigits > 0 {
        if tp + 2 > 16 {
            return None;
        }
        out[tp] = (val >> 8) as u8;
        out[tp + 1] = val as u8;
        tp += 2;
    }
    if let Some(colon) = colonp {
        if tp == 16 {
            return None;
        }
        let n = tp - colon;
        out.copy_within(colon..tp, 16 - n);
        out[colon..16 - n].fill(0);
        tp = 16;
    }
    (tp == 16).then_some(out)
}

/// glibc's `__inet6_scopeid_pton`: a number for any address; an interface name only for
/// link-local and node/link-local multicast addresses. Whether the interface exists is
/// only known on the server, so any name is taken to exist.
fn scope_ok(addr: &[u8; 16], scope: &str) -> bool {
    let link_local = addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80;
    let mc_local = addr[0] == 0xff && matches!(addr[1] & 0x0f, 1 | 2);
    if (link_local || mc_local) && !scope.is_empty() {
        return true;
    }
    scope.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && scope.bytes().all(|b| b.is_ascii_digit())
        && scope.parse::<u64>().is_ok_and(|n| n <= u64::from(u32::MAX))
}

/// glibc's `inet_ntop6`: the longest run (≥ 2) of zero words becomes `::`, and an
/// IPv4-compatible or IPv4-mapped address ends in dotted form.
fn ntop6(b: &[u8; 16]) -> String {
    let words: Vec<u16> = b
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let (mut best, mut cur): ((Option<usize>, usize), (Option<usize>, usize)) =
        ((None, 0), (None, 0));
    for (i, w) in words.iter().enumerate() {
        if *w == 0 {
            cur = match cur.0 {
                None => (Some(i), 1),
                Some(base) => (Some(base), cur.1 + 1),
            };
        } else if cur.0.is_some() {
            if best.0.is_none() || cur.1 > best.1 {
                best = cur;
            }
            cur = (None, 0);
        }
    }
    if cur.0.is_some() && (best.0.is_none() || cur.1 > best.1) {
        best = cur;
    }
    if best.1 < 2 {
        best = (None, 0);
    }
    let mut out = String::new();
    for (i, w) in words.iter().enumerate() {
        if let Some(base) = best.0
            && i >= base
            && i < base + best.1
        {
            if i == base {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        if i == 6 && best.0 == Some(0) && (best.1 == 6 || (best.1 == 5 && words[5] == 0xffff)) {
            out.push_str(&Ipv4Addr::new(b[12], b[13], b[14], b[15]).to_string());
            return out;
        }
        out.push_str(&format!("{w:x}"));
    }
    if let Some(base) = best.0
        && base + best.1 == 8
    {
        out.push(':');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values are what glibc 2.36's getaddrinfo(AI_NUMERICHOST) answered
    /// (Python's socket.getaddrinfo on this machine).
    #[test]
    fn numeric_hosts_as_glibc() {
        let cases: &[(&str, Option<&str>)] = &[
            ("127.1", Some("127.0.0.1")),
            ("1", Some("0.0.0.1")),
            ("0x7f.1", Some("127.0.0.1")),
            ("0x7F000001", Some("127.0.0.1")),
            ("4294967295", Some("255.255.255.255")),
            ("4294967296", None),
            ("127.0.0.1 ", None),
            (" 127.0.0.1", None),
            ("127.0.0.1x", None),
            ("1.2.3.4.5", None),
            ("", None),
            ("::", Some("::")),
            ("::ffff:1.2.3.4", Some("::ffff:1.2.3.4")),
            ("::1.2.3.4", Some("::1.2.3.4")),
            ("fe80::1%lo", Some("fe80::1")),
            ("fe80::1%1", Some("fe80::1")),
            ("1::2::3", None),
            ("[::1]", None),
            ("00000000000012", Some("0.0.0.10")),
            ("1.2.3.0377", Some("1.2.3.255")),
            ("1.2.3.0400", None),
            ("1.2.3.08", None),
            ("1.2.65535", Some("1.2.255.255")),
            ("1.16777215", Some("1.255.255.255")),
            ("1.16777216", None),
            ("ffff::1%", None),
            ("::1%lo", None),
            ("::1%1", Some("::1")),
            ("1.2.3.4%lo", None),
            ("1.2.3.", None),
            (".1.2.3", None),
            ("1..2", None),
            ("0x", None),
            ("0x1g", None),
            ("+1", None),
            ("1e2", None),
            ("12345678901234567890", None),
            ("Ff::", Some("ff::")),
            (":::", None),
            ("1:2:3:4:5:6:7:8", Some("1:2:3:4:5:6:7:8")),
            ("1:2:3:4:5:6:7:8:9", None),
            ("1:2:3:4:5:6:1.2.3.4", Some("1:2:3:4:5:6:102:304")),
            ("::1.2.3", None),
            ("1:2:3:4:5:6:7::", Some("1:2:3:4:5:6:7:0")),
            ("::00001", None),
            ("localhost", None),
            ("010.0.0.1", Some("8.0.0.1")),
            ("2001:db8:0:0:1:0:0:1", Some("2001:db8::1:0:0:1")),
            ("0:0:0:0:0:0:0:1", Some("::1")),
            ("1:0:0:0:0:0:0:0", Some("1::")),
            ("::ffff:010.0.0.1", None),
        ];
        for (text, want) in cases {
            let got = numeric_host(text).map(|ip| ip.text());
            assert_eq!(got.as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn cidr_masks() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("24", false, Some("255.255.255.0")),
            ("0", false, Some("0.0.0.0")),
            ("32", false, Some("255.255.255.255")),
            ("33", false, None),
            ("-1", false, None),
            ("+8", false, Some("255.0.0.0")),
            (" 8", false, Some("255.0.0.0")),
            ("8 ", false, None),
            ("", false, None),
            ("x", false, None),
            ("024", false, Some("255.255.255.0")),
            ("64", true, Some("ffff:ffff:ffff:ffff::")),
            ("128", true, Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
            ("129", true, None),
            ("99999999999999999999", false, None),
        ];
        for (bits, v6, want) in cases {
            let got = cidr_mask(bits, *v6).map(|ip| ip.text());
            assert_eq!(got.as_deref(), *want, "{bits:?}");
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(cidr_mask("20", false).and_then(|m| m.prefix()), Some(20));
        assert_eq!(numeric_host("255.0.255.0").and_then(|m| m.prefix()), None);
        assert_eq!(numeric_host("0.0.0.0").and_then(|m| m.prefix()), Some(0));
        assert_eq!(
            numeric_host("ffff:ff80::").and_then(|m| m.prefix()),
            Some(25)
        );
    }
}
