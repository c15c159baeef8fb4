//! What a PEM file holds: certificates (X.509, read with `x509-parser`) and private keys,
//! as plain facts for the `certificates` document.
//!
//! A key "matches" a certificate when both carry the same public key; each side gets a
//! `key_id` to compare: `rsa:`/`ec:`/`ed25519:` and the SHA-256 of the RSA modulus, the
//! EC point or the Ed25519 public key. Private keys give their public half from their
//! own encoding (PKCS#1 and SEC1 hold it, PKCS#8 wraps them; an Ed25519 seed is expanded
//! with `ring`); a key whose public half cannot be had (an encrypted key, a SEC1 key
//! written without it) has no `key_id`. Chains are verified by signature with
//! `X509Certificate::verify_signature` (ring) — see [`verify_chain`].

use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::der_parser::ber::BerObject;
use x509_parser::der_parser::der::parse_der;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_KEY_TYPE_EC_PUBLIC_KEY, OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// The facts of one certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertFacts {
    pub subject: String,
    pub subject_cn: Vec<String>,
    pub issuer: String,
    pub serial: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// RFC 3339.
    pub not_before_text: String,
    pub not_after_text: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub is_ca: bool,
    /// Issuer and subject are the same and the certificate verifies with its own key.
    pub self_signed: bool,
    pub key_type: String,
    pub key_bits: usize,
    pub key_id: Option<String>,
    pub signature_algorithm: String,
    pub ext_key_usage: Vec<String>,
    pub fingerprint_sha256: String,
}

/// The facts of one private key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyFacts {
    /// `rsa`, `ec`, `ed25519`, `unknown`.
    pub key_type: String,
    pub encrypted: bool,
    pub key_id: Option<String>,
}

/// Everything read from one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileFacts {
    pub certificates: Vec<CertFacts>,
    pub keys: Vec<KeyFacts>,
    /// Problems reading the file (not PEM, a block that does not parse).
    pub errors: Vec<String>,
}

/// A parsed certificate kept for chain verification.
pub struct Parsed {
    pub der: Vec<u8>,
}

/// Reads the PEM blocks of `bytes` (each on its own, so that one bad block does not hide
/// the others); returns the facts and the DER of each certificate.
pub fn read(bytes: &[u8]) -> (FileFacts, Vec<Parsed>) {
    let mut facts = FileFacts::default();
    let mut ders = Vec::new();
    let text = String::from_utf8_lossy(bytes);
    if !text.contains("-----BEGIN ") {
        facts
            .errors
            .push("not a PEM file (no `-----BEGIN` line)".into());
        return (facts, ders);
    }
    for block in blocks(&text) {
        // Legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED` headers) holds no readable key.
        if block.contains("Proc-Type:") && block.contains("ENCRYPTED") {
            let key_type = if block.contains("BEGIN RSA") {
                "rsa"
            } else if block.contains("BEGIN EC") {
                "ec"
            } else {
                "unknown"
            };
            facts.keys.push(KeyFacts {
                key_type: key_type.into(),
                encrypted: true,
                key_id: None,
            });
            continue;
        }
        let pem = match Pem::iter_from_buffer(block.as_bytes()).next() {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                facts
                    .errors
                    .push(format!("a PEM block does not decode ({e})"));
                continue;
            }
            None => continue,
        };
        match pem.label.as_str() {
            "CERTIFICATE" | "TRUSTED CERTIFICATE" => match X509Certificate::from_der(&pem.contents)
            {
                Ok((_, cert)) => {
                    facts.certificates.push(cert_facts(&cert, &pem.contents));
                    ders.push(Parsed {
                        der: pem.contents.clone(),
                    });
                }
                Err(e) => facts.errors.push(format!(
                    "certificate {} does not parse: {e}",
                    facts.certificates.len() + 1
                )),
            },
            "PRIVATE KEY" => facts.keys.push(pkcs8(&pem.contents)),
            "ENCRYPTED PRIVATE KEY" => facts.keys.push(KeyFacts {
                key_type: "unknown".into(),
                encrypted: true,
                key_id: None,
            }),
            "RSA PRIVATE KEY" => facts.keys.push(rsa(&pem.contents)),
            "EC PRIVATE KEY" => facts.keys.push(ec(&pem.contents)),
            _ => {}
        }
    }
    if facts.certificates.is_empty() && facts.keys.is_empty() && facts.errors.is_empty() {
        facts
            .errors
            .push("no certificate or private key in the file".into());
    }
    (facts, ders)
}

/// The `-----BEGIN …-----` … `-----END …-----` blocks of a text.
fn blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(l);
            block.push('\n');
        }
        if l.starts_with("-----END ") {
            out.extend(current.take());
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn id(kind: &str, bytes: &[u8]) -> String {
    format!("{kind}:{}", hex(&Sha256::digest(bytes)))
}

/// An RSA modulus without its sign byte.
fn modulus_id(modulus: &[u8]) -> String {
    let start = modulus
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(modulus.len());
    id("rsa", &modulus[start..])
}

fn cert_facts(cert: &X509Certificate, der: &[u8]) -> CertFacts {
    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    let mut ext_key_usage = Vec::new();
    let mut is_ca = false;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    match name {
                        GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                        GeneralName::IPAddress(ip) => ip_addresses.extend(ip_text(ip)),
                        _ => {}
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) => is_ca = bc.ca,
            ParsedExtension::ExtendedKeyUsage(eku) => {
                for (on, name) in [
                    (eku.any, "any"),
                    (eku.server_auth, "serverAuth"),
                    (eku.client_auth, "clientAuth"),
                    (eku.code_signing, "codeSigning"),
                    (eku.email_protection, "emailProtection"),
                    (eku.time_stamping, "timeStamping"),
                    (eku.ocsp_signing, "ocspSigning"),
                ] {
                    if on {
                        ext_key_usage.push(name.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    let spki = cert.public_key();
    let (key_type, key_id) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("rsa".to_string(), Some(modulus_id(rsa.modulus))),
        Ok(PublicKey::EC(point)) => ("ec".to_string(), Some(id("ec", point.data()))),
        _ if spki.algorithm.algorithm == OID_SIG_ED25519 => (
            "ed25519".to_string(),
            Some(id("ed25519", &spki.subject_public_key.data)),
        ),
        _ => (spki.algorithm.algorithm.to_id_string(), None),
    };
    let key_bits = spki.parsed().map(|k| k.key_size()).unwrap_or(0);
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    let not_after = cert.validity().not_after;
    CertFacts {
        subject: cert.subject().to_string(),
        subject_cn: cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: not_after.timestamp(),
        not_before_text: super::rfc3339(cert.validity().not_before.timestamp()),
        not_after_text: super::rfc3339(not_after.timestamp()),
        dns_names,
        ip_addresses,
        is_ca,
        self_signed: self_issued && cert.verify_signature(None).is_ok(),
        key_type,
        key_bits,
        key_id,
        signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
        ext_key_usage,
        fingerprint_sha256: hex(&Sha256::digest(der)),
    }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            Some(std::net::Ipv6Addr::from(a).to_string())
        }
        _ => None,
    }
}

/// Common signature algorithm OIDs by name (the rest stay dotted).
fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ed25519",
        other => other,
    }
    .to_string()
}

fn seq<'a>(obj: &'a BerObject<'a>) -> Option<&'a Vec<BerObject<'a>>> {
    obj.as_sequence().ok()
}

/// PKCS#1 `RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, … }`.
fn rsa(der: &[u8]) -> KeyFacts {
    let key_id = parse_der(der).ok().and_then(|(_, obj)| {
        let items = seq(&obj)?;
        items.get(1)?.as_slice().ok().map(modulus_id)
    });
    KeyFacts {
        key_type: "rsa".into(),
        encrypted: false,
        key_id,
    }
}

/// SEC1 `ECPrivateKey ::= SEQUENCE { version, privateKey, [0] parameters, [1] publicKey }`.
fn ec(der: &[u8]) -> KeyFacts {
    let key_id = parse_der(der).ok().and_then(|(_, obj)| {
        let items = seq(&obj)?;
        items.iter().skip(2).find_map(|item| {
            // `[1] EXPLICIT BIT STRING`: the inner TLV is the tagged object's content.
            if item.tag().0 != 1 {
                return None;
            }
            let inner = item.as_slice().ok()?;
            let (_, bits) = parse_der(inner).ok()?;
            bits.as_slice().ok().map(|point| id("ec", point))
        })
    });
    KeyFacts {
        key_type: "ec".into(),
        encrypted: false,
        key_id,
    }
}

/// PKCS#8 `PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING, … }`.
fn pkcs8(der: &[u8]) -> KeyFacts {
    let unknown = KeyFacts {
        key_type: "unknown".into(),
        encrypted: false,
        key_id: None,
    };
    let Ok((_, obj)) = parse_der(der) else {
        return unknown;
    };
    let Some(items) = seq(&obj) else {
        return unknown;
    };
    let Some(alg) = items
        .get(1)
        .and_then(seq)
        .and_then(|a| a.first())
        .and_then(|o| o.as_oid().ok())
    else {
        return unknown;
    };
    let Some(inner) = items.get(2).and_then(|o| o.as_slice().ok()) else {
        return unknown;
    };
    if *alg == OID_PKCS1_RSAENCRYPTION {
        rsa(inner)
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        ec(inner)
    } else if *alg == OID_SIG_ED25519 {
        // `CurvePrivateKey ::= OCTET STRING` (the 32-byte seed).
        let key_id = parse_der(inner).ok().and_then(|(_, o)| {
            let seed = o.as_slice().ok()?;
            let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed).ok()?;
            Some(id(
                "ed25519",
                ring::signature::KeyPair::public_key(&pair).as_ref(),
            ))
        });
        KeyFacts {
            key_type: "ed25519".into(),
            encrypted: false,
            key_id,
        }
    } else {
        KeyFacts {
            key_type: alg.to_id_string(),
            encrypted: false,
            key_id: None,
        }
    }
}

/// Verifies that the first certificate of `chain` (the leaf; the others are
/// intermediates sent with it) leads by signatures to a certificate of `anchors`. A leaf
/// that is itself one of the anchors verifies. Intermediates must be CAs.
pub fn verify_chain(chain: &[Parsed], anchors: &[Parsed]) -> Result<(), String> {
    fn parse(p: &Parsed) -> Option<X509Certificate<'_>> {
        X509Certificate::from_der(&p.der).ok().map(|(_, c)| c)
    }
    let Some(leaf) = chain.first().and_then(parse) else {
        return Err("no certificate to verify".into());
    };
    let anchors: Vec<X509Certificate> = anchors.iter().filter_map(parse).collect();
    if anchors.is_empty() {
        return Err("the CA file holds no certificate".into());
    }
    let intermediates: Vec<X509Certificate> = chain[1..].iter().filter_map(parse).collect();
    let mut current = leaf;
    for _ in 0..8 {
        if anchors.iter().any(|a| a.as_raw() == current.as_raw()) {
            return Ok(());
        }
        let issuer = current.issuer().as_raw();
        let by_anchor = anchors.iter().filter(|a| a.subject().as_raw() == issuer);
        let mut tried = false;
        for a in by_anchor {
            tried = true;
            if current.verify_signature(Some(a.public_key())).is_ok() {
                return Ok(());
            }
        }
        let next = intermediates.iter().find(|i| {
            i.subject().as_raw() == issuer && current.verify_signature(Some(i.public_key())).is_ok()
        });
        match next {
            Some(i) if is_ca(i) => current = i.clone(),
            Some(i) => return Err(format!("intermediate `{}` is not a CA", i.subject())),
            None if tried => {
                return Err(format!(
                    "the signature of `{}` does not verify with the CA named `{}`",
                    current.subject(),
                    current.issuer()
                ));
            }
            None => {
                return Err(format!(
                    "no certificate in the CA file is `{}`, the issuer of `{}`",
                    current.issuer(),
                    current.subject()
                ));
            }
        }
    }
    Err("the chain is longer than 8 certificates".into())
}

fn is_ca(cert: &X509Certificate) -> bool {
    match cert.basic_constraints() {
        Ok(Some(bc)) => bc.value.ca,
        _ => false,
    }
}
