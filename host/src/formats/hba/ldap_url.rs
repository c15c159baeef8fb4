//! `ldapurl=` as PostgreSQL reads it: OpenLDAP's `ldap_url_parse`
//! (`LDAP_PVT_URL_PARSE_HISTORIC`, libraries/libldap/url.c), reduced to what the server
//! keeps (scheme, whether there is a host, a base DN, attributes, a filter). A URL that
//! does not parse gives an `LDAP_URL_ERR_*` code, which PostgreSQL prints through
//! `ldap_err2string` as if it were an LDAP result code ("Time limit exceeded" for a
//! missing `ldap://`).

use super::address::strtol_exact;

/// What PostgreSQL takes from a parsed LDAP URL.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LdapUrl {
    pub scheme: &'static str,
    pub host: bool,
    pub dn: bool,
    pub attrs: bool,
    pub filter: bool,
}

/// OpenLDAP's `ldap_url_parse` (`LDAP_PVT_URL_PARSE_HISTORIC`); the error is an
/// `LDAP_URL_ERR_*` code.
pub(crate) fn parse(url: &str) -> Result<LdapUrl, u8> {
    const BADSCHEME: u8 = 3;
    const BADENCLOSURE: u8 = 4;
    const BADURL: u8 = 5;
    const BADSCOPE: u8 = 8;
    const BADFILTER: u8 = 9;
    const BADEXTS: u8 = 10;
    let (mut rest, enclosed) = match url.strip_prefix('<') {
        Some(r) => (r, true),
        None => (url, false),
    };
    if rest
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("URL:"))
    {
        rest = &rest[4..];
    }
    let scheme = ["ldap", "ldaps", "ldapi", "cldap"]
        .into_iter()
        .find(|s| {
            rest.get(..s.len() + 3)
                .is_some_and(|p| p.eq_ignore_ascii_case(&format!("{s}://")))
        })
        .ok_or(BADSCHEME)?;
    rest = &rest[scheme.len() + 3..];
    if enclosed {
        rest = rest.strip_suffix('>').ok_or(BADENCLOSURE)?;
    }
    let (hostport, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest.split('?').next().unwrap_or(""), None),
    };
    let mut host = hostport;
    if scheme != "ldapi" {
        let port = if let Some(inner) = hostport.strip_prefix('[') {
            let close = inner.find(']').ok_or(BADURL)?;
            let after = &inner[close + 1..];
            host = &inner[..close];
            match after.find(':') {
                Some(0) => Some(&after[1..]),
                Some(_) => return Err(BADURL),
                None => None,
            }
        } else {
            hostport.find(':').map(|i| {
                host = &hostport[..i];
                &hostport[i + 1..]
            })
        };
        if let Some(port) = port {
            let port = hex_unescape(port);
            if port.is_empty() || strtol_exact(&port).is_none() {
                return Err(BADURL);
            }
        }
    }
    let mut parsed = LdapUrl {
        scheme,
        host: !hex_unescape(host).is_empty(),
        dn: false,
        attrs: false,
        filter: false,
    };
    let Some(tail) = tail else { return Ok(parsed) };
    let mut parts = tail.splitn(5, '?');
    parsed.dn = parts.next().is_some();
    if let Some(attrs) = parts.next() {
        parsed.attrs = !attrs.is_empty();
    }
    if let Some(scope) = parts.next()
        && !scope.is_empty()
    {
        let scope = hex_unescape(scope).to_ascii_lowercase();
        let known = [
            "one",
            "onelevel",
            "base",
            "sub",
            "subtree",
            "subord",
            "subordinate",
            "children",
        ];
        if !known.contains(&scope.as_str()) {
            return Err(BADSCOPE);
        }
    }
    if let Some(filter) = parts.next()
        && !filter.is_empty()
    {
        if hex_unescape(filter).is_empty() {
            return Err(BADFILTER);
        }
        parsed.filter = true;
    }
    if let Some(exts) = parts.next() {
        if exts.contains('?') {
            return Err(BADURL);
        }
        if exts.split(',').all(str::is_empty) {
            return Err(BADEXTS);
        }
    }
    Ok(parsed)
}

/// `ldap_pvt_hex_unescape`: `%XX` decoded; a bad escape empties the string, a NUL ends it.
fn hex_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |k: usize| b.get(k).and_then(|c| (*c as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return String::new(),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if let Some(nul) = out.iter().position(|c| *c == 0) {
        out.truncate(nul);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// OpenLDAP's `ldap_err2string` for the `LDAP_URL_ERR_*` codes PostgreSQL passes it.
pub(crate) fn err2string(rc: u8) -> &'static str {
    match rc {
        1 => "Operations error",
        2 => "Protocol error",
        3 => "Time limit exceeded",
        4 => "Size limit exceeded",
        5 => "Compare False",
        6 => "Compare True",
        7 => "Authentication method not supported",
        8 => "Strong(er) authentication required",
        9 => "Partial results and referral received",
        10 => "Referral",
        _ => "Unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected outcomes are what PostgreSQL 15 (OpenLDAP 2.5) reported for `ldapurl=`.
    #[test]
    fn ldap_urls() {
        let err = |u: &str| parse(u).err().map(err2string);
        assert_eq!(err("foo"), Some("Time limit exceeded"));
        assert_eq!(err("http://x/dc=a"), Some("Time limit exceeded"));
        assert_eq!(err("ldap://h:abc/dc=a"), Some("Compare False"));
        assert_eq!(
            err("ldap://h/dc=x?uid?bogus"),
            Some("Strong(er) authentication required")
        );
        assert_eq!(
            err("ldap://h/dc=x?a?b?c?d?e"),
            Some("Strong(er) authentication required")
        );
        assert_eq!(err("ldap://h:/dc=x"), Some("Compare False"));
        assert_eq!(err("ldap://h:389:1/dc=x"), Some("Compare False"));
        assert_eq!(err("ldap://[::1/dc=x"), Some("Compare False"));
        assert_eq!(err("ldap:/h/dc=x"), Some("Time limit exceeded"));
        assert_eq!(err(" ldap://h/dc=x"), Some("Time limit exceeded"));
        assert_eq!(err("<ldap://h/dc=x"), Some("Size limit exceeded"));
        for good in [
            "ldap://h/",
            "LDAPS://h:636/dc=x",
            "ldap://h:0/dc=x",
            "ldap://h:70000/dc=x",
            "ldap://[::1]:389/dc=x",
            "ldap://h/dc=x??base",
            "ldap:///dc=x",
            "<ldap://h/dc=x>",
            "URL:ldap://h/dc=x",
            "ldap://h/dc=x?uid?SUB",
            "ldap://h/dc=x?uid?children",
            "ldap://h/dc=x??sub?uid=%41",
        ] {
            assert_eq!(err(good), None, "{good}");
        }
        let url = parse("ldap://h").ok();
        assert_eq!(url.map(|u| (u.host, u.dn)), Some((true, false)));
        let url = parse("ldapi://x/dc=a").ok();
        assert_eq!(url.map(|u| u.scheme), Some("ldapi"));
    }

    #[test]
    fn never_panics_on_multibyte_text() {
        for url in [
            "URé",
            "ldaé",
            "<é",
            "ldap://é:é/é?é?é?é?é",
            "UR",
            "ldap://[é]:é/",
            "ldap://h/%é",
        ] {
            let _ = parse(url);
        }
    }
}
