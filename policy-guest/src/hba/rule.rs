//! A pg_hba record compiled for matching: keywords told apart from names, addresses
//! parsed into bit masks, options decoded. Built once per record by [`Rule::compile`];
//! everything the matcher does per connection works on these values.

use std::net::IpAddr;

use regex::Regex;

use crate::HbaRule;

/// Connection classes a record's connection type admits, as bits: a Unix socket, plain
/// TCP, TCP with TLS, TCP with GSSAPI encryption. (A connection is in exactly one.)
pub const LOCAL: u8 = 1;
pub const PLAIN: u8 = 2;
pub const SSL: u8 = 4;
pub const GSS: u8 = 8;

/// The classes of a connection type. `hostnogssenc` admits TLS connections too (it is
/// about GSS encryption only); `hostnossl` admits GSS-encrypted ones.
pub fn classes(connection_type: &str) -> u8 {
    match connection_type {
        "local" => LOCAL,
        "host" => PLAIN | SSL | GSS,
        "hostssl" => SSL,
        "hostnossl" => PLAIN | GSS,
        "hostgssenc" => GSS,
        "hostnogssenc" => PLAIN | SSL,
        _ => 0,
    }
}

/// A `/regex` name (PostgreSQL 16+). A pattern the `regex` crate cannot compile never
/// matches.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The text after the `/`.
    pub text: String,
    pub re: Option<Regex>,
}

impl Pattern {
    pub fn new(text: &str) -> Self {
        Pattern {
            text: text.to_string(),
            re: Regex::new(text).ok(),
        }
    }

    /// PostgreSQL's `pg_regexec` searches: the pattern anchors itself with `^`/`$`.
    pub fn is_match(&self, name: &str) -> bool {
        self.re.as_ref().is_some_and(|re| re.is_match(name))
    }
}

/// One element of the database column.
#[derive(Debug, Clone)]
pub enum DbToken {
    All,
    SameUser,
    /// `samerole` or `samegroup`.
    SameRole,
    /// Matches physical replication connections only.
    Replication,
    Name(String),
    Regex(Pattern),
}

/// One element of the user column.
#[derive(Debug, Clone)]
pub enum UserToken {
    All,
    /// `+role`: members of role (directly or not), the role itself included.
    Group(String),
    Name(String),
    Regex(Pattern),
}

/// An IP network with its mask applied bitwise; IPv4 lives in the low 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Net {
    pub v6: bool,
    /// Already masked.
    pub addr: u128,
    pub mask: u128,
}

impl Net {
    pub fn new(addr: IpAddr, mask: IpAddr) -> Option<Self> {
        let (v6, a) = bits(addr);
        let (m6, m) = bits(mask);
        (v6 == m6).then_some(Net {
            v6,
            addr: a & m,
            mask: m,
        })
    }

    /// Whether the client address (family, bits) is in the network; families never
    /// cross-match (PostgreSQL's `check_ip`).
    pub fn contains_ip(&self, v6: bool, ip: u128) -> bool {
        self.v6 == v6 && ip & self.mask == self.addr
    }

    /// Whether every address of `other` is in `self`.
    pub fn contains(&self, other: &Net) -> bool {
        self.v6 == other.v6 && self.mask & !other.mask == 0 && other.addr & self.mask == self.addr
    }

    /// Whether some address is in both.
    pub fn overlaps(&self, other: &Net) -> bool {
        self.v6 == other.v6 && (self.addr ^ other.addr) & self.mask & other.mask == 0
    }

    /// The prefix length when the mask is contiguous.
    pub fn prefix(&self) -> Option<u32> {
        let width = if self.v6 { 128 } else { 32 };
        let ones = self.mask.count_ones();
        let expected = if ones == 0 {
            0
        } else {
            (full(self.v6) << (width - ones)) & full(self.v6)
        };
        (self.mask == expected).then_some(ones)
    }

    /// First and last address, for a contiguous mask.
    pub fn range(&self) -> Option<(u128, u128)> {
        self.prefix()?;
        Some((self.addr, self.addr | (full(self.v6) & !self.mask)))
    }
}

/// All ones in the family's width.
pub fn full(v6: bool) -> u128 {
    if v6 { u128::MAX } else { u32::MAX as u128 }
}

/// An address as (is IPv6, bits).
pub fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u32::from(a) as u128),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

/// The address column of a `host*` record.
#[derive(Debug, Clone)]
pub enum Address {
    Any,
    SameHost,
    SameNet,
    Net(Net),
    /// Lower-cased; `suffix` when it starts with `.`.
    Host {
        name: String,
        suffix: bool,
    },
    /// An address the host handed over but that does not parse: matches nothing.
    Unusable,
}

/// The authentication method, as the server keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Trust,
    Reject,
    Scram,
    Md5,
    Password,
    Cert,
    Peer,
    Ident,
    Gss,
    Sspi,
    Pam,
    Ldap,
    Radius,
    Bsd,
    Other,
}

impl Method {
    pub fn parse(name: &str) -> Self {
        match name {
            "trust" => Method::Trust,
            "reject" => Method::Reject,
            "scram-sha-256" => Method::Scram,
            "md5" => Method::Md5,
            "password" => Method::Password,
            "cert" => Method::Cert,
            "peer" => Method::Peer,
            "ident" => Method::Ident,
            "gss" => Method::Gss,
            "sspi" => Method::Sspi,
            "pam" => Method::Pam,
            "ldap" => Method::Ldap,
            "radius" => Method::Radius,
            "bsd" => Method::Bsd,
            _ => Method::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Trust => "trust",
            Method::Reject => "reject",
            Method::Scram => "scram-sha-256",
            Method::Md5 => "md5",
            Method::Password => "password",
            Method::Cert => "cert",
            Method::Peer => "peer",
            Method::Ident => "ident",
            Method::Gss => "gss",
            Method::Sspi => "sspi",
            Method::Pam => "pam",
            Method::Ldap => "ldap",
            Method::Radius => "radius",
            Method::Bsd => "bsd",
            Method::Other => "other",
        }
    }
}

/// `clientcert=`: what the server checks of the client certificate before (verify-ca)
/// and after (verify-full: the name) the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCert {
    Off,
    VerifyCa,
    VerifyFull,
}

/// A compiled pg_hba record.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Position in the rule list handed to the matcher.
    pub index: usize,
    pub line: u32,
    pub connection_type: String,
    pub classes: u8,
    pub databases: Vec<DbToken>,
    pub users: Vec<UserToken>,
    /// None for `local`.
    pub address: Option<Address>,
    pub method: Method,
    /// The method's name as written (for methods patrol has no variant for).
    pub method_name: String,
    pub clientcert: ClientCert,
    /// `clientname=DN`: compare the subject DN instead of the CN.
    pub clientname_dn: bool,
    pub map: Option<String>,
}

impl Rule {
    /// Compiles a record for the server of `version` (regular expressions in names
    /// from 16 on, quoted or not: 16 compiles every token that starts with `/`; checked
    /// against real 16.14, 17.10 and 18.4 servers, `tests/differential_pg`).
    pub fn compile(index: usize, r: &HbaRule, version: u32) -> Rule {
        let regex_names = version >= 16;
        let databases = r
            .databases
            .iter()
            .map(|n| {
                if regex_names && n.quoted && n.text.starts_with('/') {
                    return DbToken::Regex(Pattern::new(&n.text[1..]));
                }
                if n.quoted {
                    return DbToken::Name(n.text.clone());
                }
                match n.text.as_str() {
                    "all" => DbToken::All,
                    "sameuser" => DbToken::SameUser,
                    "samerole" | "samegroup" => DbToken::SameRole,
                    "replication" => DbToken::Replication,
                    t if regex_names && t.starts_with('/') => DbToken::Regex(Pattern::new(&t[1..])),
                    t => DbToken::Name(t.to_string()),
                }
            })
            .collect();
        let users = r
            .users
            .iter()
            .map(|n| {
                if regex_names && n.quoted && n.text.starts_with('/') {
                    return UserToken::Regex(Pattern::new(&n.text[1..]));
                }
                if n.quoted {
                    return UserToken::Name(n.text.clone());
                }
                match n.text.as_str() {
                    "all" => UserToken::All,
                    t if t.starts_with('+') => UserToken::Group(t[1..].to_string()),
                    t if regex_names && t.starts_with('/') => {
                        UserToken::Regex(Pattern::new(&t[1..]))
                    }
                    t => UserToken::Name(t.to_string()),
                }
            })
            .collect();
        let address = r.address.as_ref().map(compile_address);
        let local = r.connection_type == "local";
        let mut method = Method::parse(&r.method);
        if local && method == Method::Ident {
            // PostgreSQL silently turns `ident` on a `local` record into `peer`.
            method = Method::Peer;
        }
        let mut clientcert = ClientCert::Off;
        let mut clientname_dn = false;
        let mut map = None;
        for (name, value) in &r.options {
            match name.as_str() {
                "clientcert" => {
                    clientcert = match value.as_str() {
                        "verify-full" => ClientCert::VerifyFull,
                        "verify-ca" | "1" => ClientCert::VerifyCa,
                        _ => ClientCert::Off,
                    }
                }
                "clientname" => clientname_dn = value == "DN",
                "map" => map = Some(value.clone()),
                _ => {}
            }
        }
        if method == Method::Cert {
            // `cert` always verifies the chain and the name (clientcert=verify-full).
            clientcert = ClientCert::VerifyFull;
        }
        Rule {
            index,
            line: r.location.line,
            connection_type: r.connection_type.clone(),
            classes: classes(&r.connection_type),
            databases,
            users,
            address,
            method,
            method_name: if method == Method::Peer {
                "peer".to_string()
            } else {
                r.method.clone()
            },
            clientcert,
            clientname_dn,
            map,
        }
    }
}

fn compile_address(a: &crate::HbaAddress) -> Address {
    use crate::HbaAddress as A;
    match a {
        A::Any => Address::Any,
        A::Samehost => Address::SameHost,
        A::Samenet => Address::SameNet,
        A::Network(n) => {
            let addr = n.address.parse::<IpAddr>().ok();
            let mask = match (&n.mask, n.prefix, addr) {
                (m, _, _) if !m.is_empty() && m.parse::<IpAddr>().is_ok() => {
                    m.parse::<IpAddr>().ok()
                }
                (_, Some(p), Some(ip)) => Some(prefix_mask(ip, p)),
                (_, None, Some(ip)) => Some(prefix_mask(ip, if ip.is_ipv4() { 32 } else { 128 })),
                _ => None,
            };
            match (addr, mask) {
                (Some(a), Some(m)) => Net::new(a, m).map_or(Address::Unusable, Address::Net),
                _ => Address::Unusable,
            }
        }
        A::Hostname(h) => {
            let name = h.to_ascii_lowercase();
            let suffix = name.starts_with('.');
            Address::Host { name, suffix }
        }
    }
}

/// The mask of a prefix length, in the family of `ip`.
pub fn prefix_mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(_) => {
            let p = u32::from(prefix.min(32));
            let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            IpAddr::V4(m.into())
        }
        IpAddr::V6(_) => {
            let p = u32::from(prefix.min(128));
            let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            IpAddr::V6(m.into())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn net(a: &str, m: &str) -> Net {
        Net::new(a.parse().unwrap(), m.parse().unwrap()).unwrap()
    }

    #[test]
    fn networks() {
        let n8 = net("10.0.0.0", "255.0.0.0");
        let n24 = net("10.1.2.3", "255.255.255.0");
        assert_eq!(
            n24.addr,
            u32::from(std::net::Ipv4Addr::new(10, 1, 2, 0)) as u128
        );
        assert!(n8.contains(&n24) && !n24.contains(&n8));
        assert_eq!(n8.prefix(), Some(8));
        let odd = net("10.0.5.0", "255.0.255.0");
        assert_eq!(odd.prefix(), None);
        assert!(odd.contains_ip(
            false,
            u32::from(std::net::Ipv4Addr::new(10, 9, 5, 1)) as u128
        ));
        assert!(!odd.contains_ip(
            false,
            u32::from(std::net::Ipv4Addr::new(10, 9, 6, 1)) as u128
        ));
        assert!(n8.contains(&odd));
        assert!(!odd.overlaps(&n24));
        let v6 = net("::", "::");
        assert_eq!(v6.prefix(), Some(0));
        assert!(!v6.contains(&n8));
        assert_eq!(
            net("0.0.0.0", "0.0.0.0").range(),
            Some((0, u32::MAX as u128))
        );
    }
}
