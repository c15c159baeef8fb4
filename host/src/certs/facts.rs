//! The certificate facts of one run as a typed model: rendered as JSON for the
//! document's `text` (for people), and handed to policies as the `certificate-facts`
//! WIT record (the contract).

use std::collections::BTreeMap;

use serde::Serialize;

use super::pem::{CertFacts, FileFacts, KeyFacts};
use super::refs::Ref;
use crate::wit;

/// Everything the host found about the PEM files the configs name.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// Unix seconds of the run (policies have no clock).
    pub now: i64,
    pub now_text: String,
    pub root: Option<String>,
    pub references: Vec<Ref>,
    /// By path as named.
    pub files: BTreeMap<String, File>,
}

/// One named file: where it was found (or why not) and what it holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct File {
    pub found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub how: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub world_readable: Option<bool>,
    /// Problems reading the file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub facts: Option<FileFacts>,
    /// CA path as named → `ok` or why the file's first certificate does not chain to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chains: Option<BTreeMap<String, String>>,
}

impl Facts {
    /// The WIT record of these facts.
    pub fn to_wit(&self) -> wit::CertificateFacts {
        wit::CertificateFacts {
            now: self.now,
            now_text: self.now_text.clone(),
            root: self.root.clone(),
            references: self.references.iter().map(reference).collect(),
            files: self.files.iter().map(|(path, f)| file(path, f)).collect(),
        }
    }
}

fn reference(r: &Ref) -> wit::CertReference {
    let role = match r.role {
        "key" => wit::CertRole::Key,
        "ca" => wit::CertRole::Ca,
        "cert-key" => wit::CertRole::CertKey,
        _ => wit::CertRole::Cert,
    };
    wit::CertReference {
        path: r.path.clone(),
        role,
        kind: r.kind.clone(),
        key: r.key.clone(),
        group: r.group.clone(),
        location: wit::Location {
            file: r.file.clone(),
            line: r.line,
            end_line: None,
            pointer: r.pointer.clone(),
        },
    }
}

fn file(path: &str, f: &File) -> wit::CertFile {
    let how = f.how.map(|h| match h {
        "root" => wit::CertLookup::Root,
        "relative" => wit::CertLookup::Relative,
        _ => wit::CertLookup::Name,
    });
    let (certificates, keys, read_errors) = match &f.facts {
        Some(x) => (
            x.certificates.iter().map(certificate).collect(),
            x.keys.iter().map(key).collect(),
            x.errors.clone(),
        ),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    wit::CertFile {
        path: path.to_string(),
        found: f.found,
        location: f.location.clone(),
        how,
        reason: f.reason.clone(),
        candidates: f.candidates.clone(),
        mode: f.mode,
        world_readable: f.world_readable.unwrap_or(false),
        errors: f.errors.iter().chain(&read_errors).cloned().collect(),
        certificates,
        keys,
        chains: f
            .chains
            .iter()
            .flatten()
            .map(|(ca, result)| wit::CertChain {
                ca: ca.clone(),
                error: (result != "ok").then(|| result.clone()),
            })
            .collect(),
    }
}

fn certificate(c: &CertFacts) -> wit::X509Certificate {
    wit::X509Certificate {
        subject: c.subject.clone(),
        subject_cn: c.subject_cn.clone(),
        issuer: c.issuer.clone(),
        serial: c.serial.clone(),
        not_before: c.not_before,
        not_after: c.not_after,
        not_before_text: c.not_before_text.clone(),
        not_after_text: c.not_after_text.clone(),
        dns_names: c.dns_names.clone(),
        ip_addresses: c
            .ip_addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .map(crate::samples::ip_address)
            .collect(),
        is_ca: c.is_ca,
        self_signed: c.self_signed,
        key_type: c.key_type.clone(),
        key_bits: u32::try_from(c.key_bits).unwrap_or(u32::MAX),
        key_id: c.key_id.clone(),
        signature_algorithm: c.signature_algorithm.clone(),
        ext_key_usage: c.ext_key_usage.clone(),
        fingerprint_sha256: c.fingerprint_sha256.clone(),
    }
}

fn key(k: &KeyFacts) -> wit::PrivateKey {
    wit::PrivateKey {
        key_type: k.key_type.clone(),
        encrypted: k.encrypted,
        key_id: k.key_id.clone(),
    }
}
