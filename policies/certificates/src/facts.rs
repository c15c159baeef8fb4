//! The `certificates` document the host builds (the typed `certificate-facts` record of
//! `wit/policy.wit`), read into the policy's own view: files by path, roles as words.

use std::collections::BTreeMap;

use std::net::IpAddr;

use policy_guest::{
    Body, CertFile, CertLookup, CertReference, CertRole, CertificateFacts, Document, DocumentKind,
    Location, X509Certificate,
};
#[cfg(test)]
use serde::Deserialize;

#[derive(Debug, Clone)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Facts {
    pub now: i64,
    #[cfg_attr(test, serde(default))]
    pub references: Vec<Ref>,
    #[cfg_attr(test, serde(default))]
    pub files: BTreeMap<String, File>,
}

#[derive(Debug, Clone)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Ref {
    pub path: String,
    pub role: String,
    #[cfg_attr(test, serde(deserialize_with = "kind_from_name"))]
    pub kind: DocumentKind,
    pub key: String,
    pub group: String,
    pub file: String,
    pub line: u32,
    #[cfg_attr(test, serde(default))]
    pub pointer: Option<String>,
}

/// A kind written by name in a test's JSON facts.
#[cfg(test)]
fn kind_from_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DocumentKind, D::Error> {
    let name = <String as Deserialize>::deserialize(d)?;
    Ok(DocumentKind::from_name(&name))
}

impl Ref {
    pub fn loc(&self) -> Location {
        Location {
            file: self.file.clone(),
            line: self.line,
            end_line: None,
            pointer: self.pointer.clone(),
        }
    }

    /// `restapi.certfile (patroni.yml:12)`.
    pub fn label(&self) -> String {
        format!("`{}` ({}:{})", self.key, self.file, self.line)
    }
}

#[derive(Debug, Clone, Default)]
#[cfg_attr(test, derive(Deserialize))]
pub struct File {
    pub found: bool,
    #[cfg_attr(test, serde(default))]
    pub location: Option<String>,
    #[cfg_attr(test, serde(default))]
    pub how: Option<String>,
    #[cfg_attr(test, serde(default))]
    pub reason: Option<String>,
    #[cfg_attr(test, serde(default))]
    pub candidates: Vec<String>,
    #[cfg_attr(test, serde(default))]
    pub mode: Option<u32>,
    #[cfg_attr(test, serde(default))]
    pub world_readable: bool,
    #[cfg_attr(test, serde(default))]
    pub errors: Vec<String>,
    #[cfg_attr(test, serde(default))]
    pub certificates: Vec<Cert>,
    #[cfg_attr(test, serde(default))]
    pub keys: Vec<Key>,
    #[cfg_attr(test, serde(default))]
    pub chains: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Cert {
    pub subject: String,
    #[cfg_attr(test, serde(default))]
    pub subject_cn: Vec<String>,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    #[cfg_attr(test, serde(default))]
    pub not_before_text: String,
    pub not_after_text: String,
    #[cfg_attr(test, serde(default))]
    pub dns_names: Vec<String>,
    #[cfg_attr(test, serde(default))]
    pub ip_addresses: Vec<String>,
    #[cfg_attr(test, serde(default))]
    pub is_ca: bool,
    #[cfg_attr(test, serde(default))]
    pub self_signed: bool,
    pub key_type: String,
    #[cfg_attr(test, serde(default))]
    pub key_bits: usize,
    #[cfg_attr(test, serde(default))]
    pub key_id: Option<String>,
    pub signature_algorithm: String,
}

#[derive(Debug, Clone)]
#[cfg_attr(test, derive(Deserialize))]
pub struct Key {
    pub key_type: String,
    #[cfg_attr(test, serde(default))]
    pub encrypted: bool,
    #[cfg_attr(test, serde(default))]
    pub key_id: Option<String>,
}

impl Facts {
    /// Reads the input's `certificates` document (the typed `certificate-facts` record).
    pub fn read(doc: &Document) -> Result<Facts, String> {
        let Body::Certificates(c) = &doc.body else {
            return Err("the certificates document carries no certificate facts".into());
        };
        Ok(Facts::from_record(c))
    }

    /// The policy's view of the host's record.
    pub fn from_record(c: &CertificateFacts) -> Facts {
        Facts {
            now: c.now,
            references: c.references.iter().map(Ref::from_record).collect(),
            files: c
                .files
                .iter()
                .map(|f| (f.path.clone(), File::from_record(f)))
                .collect(),
        }
    }

    pub fn file(&self, path: &str) -> Option<&File> {
        self.files.get(path)
    }

    /// The references of one config group (`patroni.yml` + `restapi`).
    pub fn group<'a>(
        &'a self,
        file: &'a str,
        group: &'a str,
    ) -> impl Iterator<Item = &'a Ref> + 'a {
        self.references
            .iter()
            .filter(move |r| r.file == file && r.group == group)
    }

    pub fn role<'a>(&'a self, file: &str, group: &str, role: &str) -> Option<&'a Ref> {
        self.references
            .iter()
            .find(|r| r.file == file && r.group == group && r.role == role)
    }
}

impl Ref {
    fn from_record(r: &CertReference) -> Ref {
        let role = match r.role {
            CertRole::Cert => "cert",
            CertRole::Key => "key",
            CertRole::Ca => "ca",
            CertRole::CertKey => "cert-key",
        };
        Ref {
            path: r.path.clone(),
            role: role.to_string(),
            kind: r.kind.clone(),
            key: r.key.clone(),
            group: r.group.clone(),
            file: r.location.file.clone(),
            line: r.location.line,
            pointer: r.location.pointer.clone(),
        }
    }
}

impl File {
    fn from_record(f: &CertFile) -> File {
        File {
            found: f.found,
            location: f.location.clone(),
            how: f.how.map(|h| {
                match h {
                    CertLookup::Root => "root",
                    CertLookup::Name => "name",
                    CertLookup::Relative => "relative",
                }
                .to_string()
            }),
            reason: f.reason.clone(),
            candidates: f.candidates.clone(),
            mode: f.mode,
            world_readable: f.world_readable,
            errors: f.errors.clone(),
            certificates: f.certificates.iter().map(Cert::from_record).collect(),
            keys: f
                .keys
                .iter()
                .map(|k| Key {
                    key_type: k.key_type.clone(),
                    encrypted: k.encrypted,
                    key_id: k.key_id.clone(),
                })
                .collect(),
            chains: f
                .chains
                .iter()
                .map(|c| {
                    let result = c.error.clone().unwrap_or_else(|| "ok".to_string());
                    (c.ca.clone(), result)
                })
                .collect(),
        }
    }
}

impl Cert {
    fn from_record(c: &X509Certificate) -> Cert {
        Cert {
            subject: c.subject.clone(),
            subject_cn: c.subject_cn.clone(),
            issuer: c.issuer.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
            not_before_text: c.not_before_text.clone(),
            not_after_text: c.not_after_text.clone(),
            dns_names: c.dns_names.clone(),
            ip_addresses: c
                .ip_addresses
                .iter()
                .map(|a| IpAddr::from(*a).to_string())
                .collect(),
            is_ca: c.is_ca,
            self_signed: c.self_signed,
            key_type: c.key_type.clone(),
            key_bits: c.key_bits as usize,
            key_id: c.key_id.clone(),
            signature_algorithm: c.signature_algorithm.clone(),
        }
    }
}

/// Whether `cert` covers `host` the way TLS clients check names: an IP address against
/// the IP SANs; a name against the DNS SANs (a `*.` wildcard covers one leftmost label),
/// or against the CN when the certificate has no SAN at all and `cn_fallback` (OpenSSL
/// and Python do; Go, hence etcd, never does).
pub fn covers(cert: &Cert, host: &str, cn_fallback: bool) -> bool {
    let host = host.trim_matches(['[', ']']).trim_end_matches('.');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return cert
            .ip_addresses
            .iter()
            .any(|a| a.parse::<std::net::IpAddr>().ok() == Some(ip));
    }
    let matches = |pattern: &str| {
        let pattern = pattern.trim_end_matches('.');
        if let Some(rest) = pattern.strip_prefix("*.") {
            host.split_once('.')
                .is_some_and(|(first, tail)| !first.is_empty() && tail.eq_ignore_ascii_case(rest))
        } else {
            pattern.eq_ignore_ascii_case(host)
        }
    };
    if cert.dns_names.iter().any(|d| matches(d)) {
        return true;
    }
    cn_fallback
        && cert.dns_names.is_empty()
        && cert.ip_addresses.is_empty()
        && cert.subject_cn.iter().any(|cn| matches(cn))
}
