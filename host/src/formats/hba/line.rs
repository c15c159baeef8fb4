//! One tokenized pg_hba.conf record checked as PostgreSQL's `parse_hba_line` checks it,
//! field by field and in the same order, so the first problem the server would report
//! is the one reported here, in the server's words.

use super::address::{self, Ip};
use super::options::AuthOptions;
use super::regex;
use super::tokenize::{AuthLine, Token};
use crate::wit;

/// The record's connection type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnType {
    Local,
    Host,
    HostSsl,
    HostNoSsl,
    HostGss,
    HostNoGss,
}

impl ConnType {
    /// The connection type a record's first field names; none for any other word.
    pub(crate) fn from_word(word: &str) -> Option<ConnType> {
        Some(match word {
            "local" => ConnType::Local,
            "host" => ConnType::Host,
            "hostssl" => ConnType::HostSsl,
            "hostnossl" => ConnType::HostNoSsl,
            "hostgssenc" => ConnType::HostGss,
            "hostnogssenc" => ConnType::HostNoGss,
            _ => return None,
        })
    }
}

/// An authentication method the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Trust,
    Reject,
    Ident,
    Peer,
    Password,
    Md5,
    Scram,
    Gss,
    Sspi,
    Pam,
    Ldap,
    Cert,
    Radius,
    Oauth,
}

impl Method {
    /// The name the server keeps (`hba_authname`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::Trust => "trust",
            Method::Reject => "reject",
            Method::Ident => "ident",
            Method::Peer => "peer",
            Method::Password => "password",
            Method::Md5 => "md5",
            Method::Scram => "scram-sha-256",
            Method::Gss => "gss",
            Method::Sspi => "sspi",
            Method::Pam => "pam",
            Method::Ldap => "ldap",
            Method::Cert => "cert",
            Method::Radius => "radius",
            Method::Oauth => "oauth",
        }
    }

    /// The method named `text`; `Err(true)` when the build patrol simulates (Linux, as
    /// Debian and the PGDG packages build it: GSSAPI, PAM, LDAP, OpenSSL) lacks it.
    fn parse(text: &str, version: u32) -> Result<Method, bool> {
        Ok(match text {
            "trust" => Method::Trust,
            "ident" => Method::Ident,
            "peer" => Method::Peer,
            "password" => Method::Password,
            "gss" => Method::Gss,
            "reject" => Method::Reject,
            "md5" => Method::Md5,
            "scram-sha-256" => Method::Scram,
            "pam" => Method::Pam,
            "ldap" => Method::Ldap,
            "cert" => Method::Cert,
            "radius" => Method::Radius,
            "oauth" if version >= 18 => Method::Oauth,
            // SSPI is Windows-only; BSD authentication exists only on OpenBSD.
            "sspi" | "bsd" => return Err(true),
            _ => return Err(false),
        })
    }
}

/// A valid record's content.
#[derive(Debug)]
pub(crate) struct Record {
    pub conn_type: String,
    pub databases: Vec<Token>,
    pub users: Vec<Token>,
    pub address: Option<wit::HbaAddress>,
    pub method: String,
    pub options: Vec<(String, String)>,
}

/// `parse_hba_line`: the record, or the server's message for the first problem.
pub(crate) fn parse(line: &AuthLine, version: u32) -> Result<Record, String> {
    let mut fields = line.fields.iter();
    let Some(first) = fields.next() else {
        return Err("end-of-line before database specification".into());
    };
    if first.len() > 1 {
        return Err("multiple values specified for connection type".into());
    }
    let conn_text = first[0].text.clone();
    let conn = ConnType::from_word(&conn_text)
        .ok_or_else(|| format!("invalid connection type \"{conn_text}\""))?;
    let databases = fields
        .next()
        .ok_or("end-of-line before database specification")?
        .clone();
    check_regexes(&databases, version)?;
    let users = fields
        .next()
        .ok_or("end-of-line before role specification")?
        .clone();
    check_regexes(&users, version)?;
    let address = if conn == ConnType::Local {
        None
    } else {
        Some(address_column(&mut fields)?)
    };

    let methods = fields
        .next()
        .ok_or("end-of-line before authentication method")?;
    if methods.len() > 1 {
        return Err("multiple values specified for authentication type".into());
    }
    let method_text = &methods[0].text;
    let mut method = Method::parse(method_text, version).map_err(|unsupported| {
        if unsupported {
            format!("invalid authentication method \"{method_text}\": not supported by this build")
        } else {
            format!("invalid authentication method \"{method_text}\"")
        }
    })?;
    // Backwards compatibility in the server: ident on a local line is peer.
    if conn == ConnType::Local && method == Method::Ident {
        method = Method::Peer;
    }
    if conn == ConnType::Local && method == Method::Gss {
        return Err("gssapi authentication is not supported on local sockets".into());
    }
    if conn != ConnType::Local && method == Method::Peer {
        return Err("peer authentication is only supported on local sockets".into());
    }
    if conn != ConnType::HostSsl && method == Method::Cert {
        return Err("cert authentication is only supported on hostssl connections".into());
    }

    let mut auth = AuthOptions::new(method, conn, version);
    let mut options = Vec::new();
    for token in fields.flatten() {
        let Some((name, value)) = token.text.split_once('=') else {
            return Err(format!(
                "authentication option not in name=value format: {}",
                token.text
            ));
        };
        auth.apply(name, value)?;
        options.push((name.to_string(), value.to_string()));
    }
    auth.finish()?;

    Ok(Record {
        conn_type: conn_text,
        databases,
        users,
        address,
        method: method.name().to_string(),
        options,
    })
}

/// From 16 on, a database or user token starting with `/` (quoted or not) is a regex.
fn check_regexes(tokens: &[Token], version: u32) -> Result<(), String> {
    if version < 16 {
        return Ok(());
    }
    for token in tokens {
        if let Some(pattern) = token.text.strip_prefix('/') {
            regex::check(pattern)
                .map_err(|why| format!("invalid regular expression \"{pattern}\": {why}"))?;
        }
    }
    Ok(())
}

/// The address column (and the mask column of the two-column form).
fn address_column<'a>(
    fields: &mut impl Iterator<Item = &'a Vec<Token>>,
) -> Result<wit::HbaAddress, String> {
    let tokens = fields
        .next()
        .ok_or("end-of-line before IP address specification")?;
    if tokens.len() > 1 {
        return Err("multiple values specified for host address".into());
    }
    let token = &tokens[0];
    if !token.quoted {
        match token.text.as_str() {
            "all" => return Ok(wit::HbaAddress::Any),
            "samehost" => return Ok(wit::HbaAddress::Samehost),
            "samenet" => return Ok(wit::HbaAddress::Samenet),
            _ => {}
        }
    }
    let (host, bits) = match token.text.split_once('/') {
        Some((host, bits)) => (host, Some(bits)),
        None => (token.text.as_str(), None),
    };
    let Some(addr) = address::numeric_host(host) else {
        return match bits {
            Some(_) => Err(format!(
                "specifying both host name and CIDR mask is invalid: \"{}\"",
                token.text
            )),
            None => Ok(wit::HbaAddress::Hostname(host.to_string())),
        };
    };
    let mask = match bits {
        Some(bits) => address::cidr_mask(bits, addr.is_v6())
            .ok_or_else(|| format!("invalid CIDR mask in address \"{}\"", token.text))?,
        None => {
            let tokens = fields
                .next()
                .ok_or("end-of-line before netmask specification")?;
            if tokens.len() > 1 {
                return Err("multiple values specified for netmask".into());
            }
            let text = &tokens[0].text;
            let mask = address::numeric_host(text)
                .ok_or_else(|| format!("invalid IP mask \"{text}\": Name or service not known"))?;
            if mask.is_v6() != addr.is_v6() {
                return Err("IP address and mask do not match".into());
            }
            mask
        }
    };
    Ok(network(addr, mask))
}

fn network(addr: Ip, mask: Ip) -> wit::HbaAddress {
    wit::HbaAddress::Network(wit::HbaNetwork {
        address: addr.text(),
        mask: mask.text(),
        prefix: mask.prefix(),
    })
}
