//! The `certificates` document the host builds (see `host/src/certs/mod.rs` for its
//! shape), read into types.

use std::collections::BTreeMap;

use policy_guest::{Body, Document, Location};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Facts {
    pub now: i64,
    #[serde(default)]
    pub references: Vec<Ref>,
    #[serde(default)]
    pub files: BTreeMap<String, File>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ref {
    pub path: String,
    pub role: String,
    pub kind: String,
    pub key: String,
    pub group: String,
    pub file: String,
    pub line: u32,
    #[serde(default)]
    pub pointer: Option<String>,
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

#[derive(Debug, Clone, Default, Deserialize)]
pub struct File {
    pub found: bool,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub how: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub candidates: Vec<String>,
    #[serde(default)]
    pub mode: Option<u32>,
    #[serde(default)]
    pub world_readable: bool,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub certificates: Vec<Cert>,
    #[serde(default)]
    pub keys: Vec<Key>,
    #[serde(default)]
    pub chains: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cert {
    pub subject: String,
    #[serde(default)]
    pub subject_cn: Vec<String>,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    #[serde(default)]
    pub not_before_text: String,
    pub not_after_text: String,
    #[serde(default)]
    pub dns_names: Vec<String>,
    #[serde(default)]
    pub ip_addresses: Vec<String>,
    #[serde(default)]
    pub is_ca: bool,
    #[serde(default)]
    pub self_signed: bool,
    pub key_type: String,
    #[serde(default)]
    pub key_bits: usize,
    #[serde(default)]
    pub key_id: Option<String>,
    pub signature_algorithm: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Key {
    pub key_type: String,
    #[serde(default)]
    pub encrypted: bool,
    #[serde(default)]
    pub key_id: Option<String>,
}

impl Facts {
    /// Reads the input's `certificates` document; `None` when there is none.
    pub fn read(doc: &Document) -> Result<Facts, String> {
        let Body::Structured(s) = &doc.body else {
            return Err("the certificates document is not structured".into());
        };
        serde_json::from_str(&s.json)
            .map_err(|e| format!("the certificates document does not read: {e}"))
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
