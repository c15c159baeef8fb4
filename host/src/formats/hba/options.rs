//! The `name=value` options of a pg_hba.conf record, validated as PostgreSQL's
//! `parse_hba_auth_opt` does, and the per-method checks `parse_hba_line` makes once all
//! options are read (mandatory LDAP and RADIUS arguments).
//!
//! What needs the server's environment is taken as valid: RADIUS server names (the
//! server resolves them), and `ldapscheme` values other than ldap/ldaps (the server only
//! logs those). `ldapurl` goes through a port of OpenLDAP's `ldap_url_parse`, whose error
//! codes PostgreSQL prints through `ldap_err2string` (hence "Time limit exceeded" for a
//! URL without an LDAP scheme — checked on PostgreSQL 15).

use super::ldap_url;
use super::line::{ConnType, Method};

/// The options read so far for one record.
#[derive(Debug)]
pub(crate) struct AuthOptions {
    method: Method,
    conn: ConnType,
    version: u32,
    ldap: Ldap,
    radius: Radius,
    oauth_issuer: bool,
    oauth_scope: bool,
    map: bool,
    delegate_ident_mapping: bool,
}

#[derive(Debug, Default)]
struct Ldap {
    server: bool,
    basedn: bool,
    binddn: bool,
    bindpasswd: bool,
    searchattribute: bool,
    searchfilter: bool,
    prefix: bool,
    suffix: bool,
}

#[derive(Debug, Default)]
struct Radius {
    servers: usize,
    secrets: usize,
    ports: usize,
    identifiers: usize,
}

impl AuthOptions {
    pub(crate) fn new(method: Method, conn: ConnType, version: u32) -> AuthOptions {
        AuthOptions {
            method,
            conn,
            version,
            ldap: Ldap::default(),
            radius: Radius::default(),
            oauth_issuer: false,
            oauth_scope: false,
            map: false,
            delegate_ident_mapping: false,
        }
    }

    /// `parse_hba_auth_opt` for one `name=value`.
    pub(crate) fn apply(&mut self, name: &str, val: &str) -> Result<(), String> {
        use Method::*;
        let only = |methods: &str| {
            Err(format!(
                "authentication option \"{name}\" is only valid for authentication methods {methods}"
            ))
        };
        let m = self.method;
        match name {
            "map" => {
                self.map = true;
                if self.version >= 18 && m == Oauth {
                    return Ok(());
                }
                if !matches!(m, Ident | Peer | Gss | Sspi | Cert) {
                    return if self.version >= 18 {
                        only("ident, peer, gssapi, sspi, cert, and oauth")
                    } else {
                        only("ident, peer, gssapi, sspi, and cert")
                    };
                }
            }
            "clientcert" => self.clientcert(val)?,
            "clientname" if self.version >= 14 => {
                if self.conn != ConnType::HostSsl {
                    return Err("clientname can only be configured for \"hostssl\" rows".into());
                }
                if val != "CN" && val != "DN" {
                    return Err(format!("invalid value for clientname: \"{val}\""));
                }
            }
            "pamservice" | "pam_use_hostname" if m != Pam => return only("pam"),
            "pamservice" | "pam_use_hostname" => {}
            "ldapurl" if m != Ldap => return only("ldap"),
            "ldapurl" => self.ldapurl(val)?,
            "ldaptls"
            | "ldapscheme"
            | "ldapserver"
            | "ldapport"
            | "ldapbinddn"
            | "ldapbindpasswd"
            | "ldapsearchattribute"
            | "ldapsearchfilter"
            | "ldapbasedn"
            | "ldapprefix"
            | "ldapsuffix"
                if m != Ldap =>
            {
                return only("ldap");
            }
            "ldaptls" | "ldapscheme" => {}
            "ldapserver" => self.ldap.server = true,
            "ldapport" => {
                if atoi(val) == 0 {
                    return Err(format!("invalid LDAP port number: \"{val}\""));
                }
            }
            "ldapbinddn" => self.ldap.binddn = true,
            "ldapbindpasswd" => self.ldap.bindpasswd = true,
            "ldapsearchattribute" => self.ldap.searchattribute = true,
            "ldapsearchfilter" => self.ldap.searchfilter = true,
            "ldapbasedn" => self.ldap.basedn = true,
            "ldapprefix" => self.ldap.prefix = true,
            "ldapsuffix" => self.ldap.suffix = true,
            "krb_realm" | "include_realm" if !matches!(m, Gss | Sspi) => {
                return only("gssapi and sspi");
            }
            "krb_realm" | "include_realm" => {}
            "compat_realm" | "upn_username" if m != Sspi => return only("sspi"),
            "compat_realm" | "upn_username" => {}
            "radiusservers" | "radiusports" | "radiussecrets" | "radiusidentifiers"
                if m != Radius =>
            {
                return only("radius");
            }
            "radiusservers" => {
                // Each name is resolved by the server; only the list syntax is checked here.
                let list = split_guc_list(val)
                    .ok_or_else(|| format!("could not parse RADIUS server list \"{val}\""))?;
                self.radius.servers = list.len();
            }
            "radiusports" => {
                let list = split_guc_list(val)
                    .ok_or_else(|| format!("could not parse RADIUS port list \"{val}\""))?;
                if list.iter().any(|p| atoi(p) == 0) {
                    return Err(format!("invalid RADIUS port number: \"{val}\""));
                }
                self.radius.ports = list.len();
            }
            "radiussecrets" => {
                let list = split_guc_list(val)
                    .ok_or_else(|| format!("could not parse RADIUS secret list \"{val}\""))?;
                self.radius.secrets = list.len();
            }
            "radiusidentifiers" => {
                let list = split_guc_list(val)
                    .ok_or_else(|| format!("could not parse RADIUS identifiers list \"{val}\""))?;
                self.radius.identifiers = list.len();
            }
            "issuer" | "scope" | "validator" | "delegate_ident_mapping"
                if self.version >= 18 && m != Oauth =>
            {
                return only("oauth");
            }
            "issuer" if self.version >= 18 => self.oauth_issuer = true,
            "scope" if self.version >= 18 => self.oauth_scope = true,
            "delegate_ident_mapping" if self.version >= 18 => {
                self.delegate_ident_mapping = val == "1"
            }
            "validator" if self.version >= 18 => {}
            _ => {
                return Err(format!(
                    "unrecognized authentication option name: \"{name}\""
                ));
            }
        }
        Ok(())
    }

    fn clientcert(&mut self, val: &str) -> Result<(), String> {
        if self.conn != ConnType::HostSsl {
            return Err("clientcert can only be configured for \"hostssl\" rows".into());
        }
        let cert = self.method == Method::Cert;
        match val {
            "verify-full" => Ok(()),
            "verify-ca" | "1" if val == "verify-ca" || self.version <= 13 => {
                if cert && self.version >= 14 {
                    Err("clientcert only accepts \"verify-full\" when using \"cert\" authentication".into())
                } else {
                    Ok(())
                }
            }
            "0" | "no-verify" if self.version <= 13 => {
                if cert {
                    Err("clientcert can not be set to \"no-verify\" when using \"cert\" authentication".into())
                } else {
                    Ok(())
                }
            }
            _ => Err(format!("invalid value for clientcert: \"{val}\"")),
        }
    }

    fn ldapurl(&mut self, val: &str) -> Result<(), String> {
        let url = ldap_url::parse(val).map_err(|rc| {
            format!(
                "could not parse LDAP URL \"{val}\": {}",
                ldap_url::err2string(rc)
            )
        })?;
        if url.scheme != "ldap" && url.scheme != "ldaps" {
            return Err(format!("unsupported LDAP URL scheme: {}", url.scheme));
        }
        self.ldap.server |= url.host;
        self.ldap.basedn |= url.dn;
        self.ldap.searchattribute |= url.attrs;
        self.ldap.searchfilter |= url.filter;
        Ok(())
    }

    /// The checks `parse_hba_line` makes after the options.
    pub(crate) fn finish(&self) -> Result<(), String> {
        match self.method {
            Method::Ldap => {
                let l = &self.ldap;
                if l.prefix || l.suffix {
                    if l.basedn || l.binddn || l.bindpasswd || l.searchattribute || l.searchfilter {
                        return Err("cannot use ldapbasedn, ldapbinddn, ldapbindpasswd, ldapsearchattribute, \
                                    ldapsearchfilter, or ldapurl together with ldapprefix"
                            .into());
                    }
                } else if !l.basedn {
                    return Err("authentication method \"ldap\" requires argument \"ldapbasedn\", \"ldapprefix\", \
                                or \"ldapsuffix\" to be set"
                        .into());
                }
                if l.searchattribute && l.searchfilter {
                    return Err(
                        "cannot use ldapsearchattribute together with ldapsearchfilter".into(),
                    );
                }
            }
            Method::Radius => {
                let r = &self.radius;
                let required = |arg: &str| {
                    format!(
                        "authentication method \"radius\" requires argument \"{arg}\" to be set"
                    )
                };
                if r.servers == 0 {
                    return Err(required("radiusservers"));
                }
                if r.secrets == 0 {
                    return Err(required("radiussecrets"));
                }
                let count = |what: &str, n: usize| {
                    format!(
                        "the number of RADIUS {what} ({n}) must be 1 or the same as the number of RADIUS servers ({})",
                        r.servers
                    )
                };
                if !(r.secrets == 1 || r.secrets == r.servers) {
                    return Err(count("secrets", r.secrets));
                }
                if !(r.ports <= 1 || r.ports == r.servers) {
                    return Err(count("ports", r.ports));
                }
                if !(r.identifiers <= 1 || r.identifiers == r.servers) {
                    return Err(count("identifiers", r.identifiers));
                }
            }
            Method::Oauth => {
                // Whether `oauth_validator_libraries` allows the validator is a
                // postgresql.conf matter, not checked here.
                for (set, arg) in [(self.oauth_scope, "scope"), (self.oauth_issuer, "issuer")] {
                    if !set {
                        return Err(format!(
                            "authentication method \"oauth\" requires argument \"{arg}\" to be set"
                        ));
                    }
                }
                if self.map && self.delegate_ident_mapping {
                    return Err(
                        "map cannot be used in combination with delegate_ident_mapping".into(),
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// C's `atoi`: leading blanks, a sign, digits; 0 when there are none.
pub(crate) fn atoi(text: &str) -> i64 {
    let t = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    // Overflow is undefined in C; any overflowing value is nonzero, which is all callers ask.
    sign * digits
        .parse::<i64>()
        .unwrap_or(if digits.is_empty() { 0 } else { i64::MAX })
}

/// PostgreSQL's `SplitGUCList(…, ',')`: a comma list, elements optionally in double
/// quotes (`""` for a quote), blanks around them ignored, no empty unquoted element.
pub(crate) fn split_guc_list(text: &str) -> Option<Vec<String>> {
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c' | '\x0b');
    let s: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < s.len() && space(s[i]) {
        i += 1;
    }
    if i == s.len() {
        return Some(out);
    }
    loop {
        let mut name = String::new();
        if s[i] == '"' {
            i += 1;
            loop {
                let c = *s.get(i)?;
                if c == '"' {
                    if s.get(i + 1) == Some(&'"') {
                        name.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                name.push(c);
                i += 1;
            }
        } else {
            while i < s.len() && s[i] != ',' && !space(s[i]) {
                name.push(s[i]);
                i += 1;
            }
            if name.is_empty() {
                return None;
            }
        }
        while i < s.len() && space(s[i]) {
            i += 1;
        }
        out.push(name);
        match s.get(i) {
            None => return Some(out),
            Some(',') => {
                i += 1;
                while i < s.len() && space(s[i]) {
                    i += 1;
                }
                if i == s.len() {
                    // "a," expects another name: the unquoted-name branch finds it empty.
                    return None;
                }
            }
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guc_lists() {
        let ok = |s: &str| split_guc_list(s);
        assert_eq!(ok(""), Some(vec![]));
        assert_eq!(ok("  "), Some(vec![]));
        assert_eq!(ok("a"), Some(vec!["a".to_string()]));
        assert_eq!(ok("a, b"), Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            ok("\"a,b\",c"),
            Some(vec!["a,b".to_string(), "c".to_string()])
        );
        assert_eq!(ok("\"a\"\"b\""), Some(vec!["a\"b".to_string()]));
        assert_eq!(ok("a,,b"), None);
        assert_eq!(ok("a,"), None);
        assert_eq!(ok("a b"), None);
        assert_eq!(ok("\"a"), None);
    }

    #[test]
    fn atoi_as_c() {
        assert_eq!(atoi("389"), 389);
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(" -1"), -1);
        assert_eq!(atoi(""), 0);
    }
}
