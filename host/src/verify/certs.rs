//! The REST API's certificate as served (the TLS handshake's chain) against the files:
//! whether it is the certificate `restapi.certfile` names (`verify/drift-cert`), and
//! whether it is in its validity period and names the address it is reached at
//! (`verify/served-cert`). The configured file is looked up as `patrol check` does
//! (`--root`, else by name in the checked tree); when it cannot be found the comparison
//! is left out and said so — unknown is not a match.

use std::net::IpAddr;

use serde_json::Value;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::endpoints::{Endpoint, Service};
use super::{Chain, POLICY};
use crate::certs::locate::{self, Found, Index, Search};
use crate::run::{Finding, Severity};
use crate::wit;

fn finding(code: &str, severity: Severity, file: &str, line: u32, message: String) -> Finding {
    let help = super::CODES
        .iter()
        .find(|c| c.code == code)
        .map_or("", |c| c.help);
    Finding {
        policy: POLICY.into(),
        code: code.into(),
        severity,
        message,
        file: file.into(),
        line,
        end_line: None,
        pointer: Some("/restapi/certfile".into()),
        remediation: help.into(),
        patch: None,
        fix_withheld: None,
    }
}

/// A short description: subject, serial, end of validity.
fn describe(cert: &X509Certificate<'_>) -> String {
    format!(
        "subject `{}`, serial {}, valid until {}",
        cert.subject(),
        cert.raw_serial_as_string(),
        cert.validity().not_after
    )
}

/// Whether the certificate names `host` (an IP in an IP SAN, a name in a DNS SAN, a
/// `*.` wildcard for one label).
fn names(cert: &X509Certificate<'_>, host: &str) -> bool {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return false;
    };
    let ip: Option<IpAddr> = host.parse().ok();
    san.value.general_names.iter().any(|n| match (n, ip) {
        (GeneralName::IPAddress(bytes), Some(ip)) => match ip {
            IpAddr::V4(v4) => *bytes == v4.octets(),
            IpAddr::V6(v6) => *bytes == v6.octets(),
        },
        (GeneralName::DNSName(name), None) => {
            let (name, host) = (name.to_ascii_lowercase(), host.to_ascii_lowercase());
            name == host
                || name
                    .strip_prefix("*.")
                    .is_some_and(|rest| host.split_once('.').is_some_and(|(_, h)| h == rest))
        }
        _ => false,
    })
}

/// The checks of every REST API endpoint a chain was served at; notes for what could not
/// be compared.
pub fn check(
    docs: &[wit::Document],
    search: &Search,
    endpoints: &[Endpoint],
    served: &[Option<Chain>],
) -> (Vec<Finding>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let index = Index::build(&search.trees);
    let now = x509_parser::time::ASN1Time::now();
    for (ep, chain) in endpoints.iter().zip(served) {
        let (Service::Patroni, Some(chain)) = (ep.service, chain) else {
            continue;
        };
        let Some(leaf_der) = chain.first() else {
            continue;
        };
        let Ok((_, leaf)) = X509Certificate::from_der(leaf_der) else {
            notes.push(format!(
                "{}: the served certificate cannot be parsed",
                ep.address()
            ));
            continue;
        };
        let doc = docs.iter().find(|d| Some(&d.path) == ep.config.as_ref());
        let (named, line) = doc
            .and_then(|d| match &d.body {
                wit::Body::Structured(s) => {
                    let json: Value = serde_json::from_str(&s.json).ok()?;
                    let named = json.pointer("/restapi/certfile")?.as_str()?.to_string();
                    let line = s
                        .spans
                        .iter()
                        .find(|sp| sp.pointer == "/restapi/certfile")
                        .map_or(ep.line, |sp| sp.line);
                    Some((Some(named), line))
                }
                _ => None,
            })
            .unwrap_or((None, ep.line));
        let file = doc.map_or(ep.file.as_str(), |d| d.path.as_str());
        let validity = leaf.validity();
        if validity.not_after < now || validity.not_before > now {
            out.push(finding(
                "served-cert",
                Severity::High,
                file,
                line,
                format!(
                    "{} serves a certificate outside its validity period ({})",
                    ep.address(),
                    describe(&leaf)
                ),
            ));
        }
        if !names(&leaf, &ep.host) {
            out.push(finding(
                "served-cert",
                Severity::Medium,
                file,
                line,
                format!(
                    "{} serves a certificate whose subject alternative names do not name `{}` ({}): clients that check host names refuse it",
                    ep.address(),
                    ep.host,
                    describe(&leaf)
                ),
            ));
        }
        let Some(named) = named else {
            notes.push(format!(
                "{}: serves TLS, but no `restapi.certfile` is checked",
                ep.address()
            ));
            continue;
        };
        let dir = std::path::Path::new(file)
            .parent()
            .unwrap_or(std::path::Path::new("."));
        let path = match locate::find(&named, dir, search, &index, false) {
            Found::At { path, .. } => path,
            Found::Missing { reason, .. } => {
                notes.push(format!(
                    "{}: the served certificate is not compared with `{named}`: {reason}",
                    ep.address()
                ));
                continue;
            }
        };
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let configured = CertificateDer::pem_file_iter(&path)
            .ok()
            .and_then(|mut it| it.next())
            .and_then(Result::ok);
        let Some(configured) = configured else {
            notes.push(format!(
                "{}: `{}` holds no PEM certificate",
                ep.address(),
                path.display()
            ));
            continue;
        };
        if configured.as_ref() != leaf_der.as_slice() {
            let theirs = X509Certificate::from_der(configured.as_ref())
                .map(|(_, c)| describe(&c))
                .unwrap_or_else(|_| "unparsable".into());
            out.push(finding(
                "drift-cert",
                Severity::Medium,
                file,
                line,
                format!(
                    "{} serves another certificate than `{named}` ({}): served {}; the file holds {}",
                    ep.address(),
                    path.display(),
                    describe(&leaf),
                    theirs
                ),
            ));
        }
    }
    (out, notes)
}
