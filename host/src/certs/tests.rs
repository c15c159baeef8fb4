//! Certificate facts on files made with the `openssl` CLI.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::*;
use crate::formats::{self, Kind, ParseContext};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, an intermediate, and leaves with RSA, EC and Ed25519 keys.
fn pki(dir: &Path) {
    let w = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
    w(
        "ca.ext",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    w(
        "leaf.ext",
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:pg-node1,IP:10.0.1.11\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Root CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Other CA",
            "-keyout",
            "other.key",
            "-out",
            "other.crt",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=Intermediate",
            "-keyout",
            "int.key",
            "-out",
            "int.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "int.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ca.ext",
            "-out",
            "int.crt",
        ],
    );
    for (name, newkey) in [
        ("rsa", vec!["-newkey", "rsa:2048"]),
        (
            "ec",
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        ),
        ("ed", vec!["-newkey", "ed25519"]),
    ] {
        let mut args = vec!["req", "-new"];
        args.extend(newkey);
        args.extend(["-nodes", "-subj", "/CN=pg-node1", "-keyout"]);
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        args.extend([key.as_str(), "-out", csr.as_str()]);
        openssl(dir, &args);
        let crt = format!("{name}.crt");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "int.crt",
                "-CAkey",
                "int.key",
                "-CAcreateserial",
                "-days",
                "10",
                "-extfile",
                "leaf.ext",
                "-out",
                &crt,
            ],
        );
    }
    // Traditional (PKCS#1 / SEC1) encodings and an encrypted key.
    openssl(
        dir,
        &[
            "rsa",
            "-in",
            "rsa.key",
            "-traditional",
            "-out",
            "rsa-trad.key",
        ],
    );
    openssl(dir, &["ec", "-in", "ec.key", "-out", "ec-trad.key"]);
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "ec.key",
            "-passout",
            "pass:x",
            "-out",
            "ec-enc.key",
        ],
    );
    let chain = std::fs::read_to_string(dir.join("ec.crt")).expect("read")
        + &std::fs::read_to_string(dir.join("int.crt")).expect("read");
    w("ec-chain.crt", &chain);
}

fn read(dir: &Path, name: &str) -> (pem::FileFacts, Vec<pem::Parsed>) {
    pem::read(&std::fs::read(dir.join(name)).expect("read"))
}

#[test]
fn reads_certificates_keys_and_chains() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    pki(dir);

    let (ec, ec_der) = read(dir, "ec.crt");
    let c = &ec.certificates[0];
    assert_eq!(c.subject_cn, vec!["pg-node1"]);
    assert_eq!(c.dns_names, vec!["pg-node1"]);
    assert_eq!(c.ip_addresses, vec!["10.0.1.11"]);
    assert_eq!(c.ext_key_usage, vec!["serverAuth", "clientAuth"]);
    assert_eq!(
        (c.key_type.as_str(), c.key_bits, c.is_ca, c.self_signed),
        ("ec", 256, false, false)
    );
    assert!(
        c.not_after > c.not_before && c.not_after_text.ends_with('Z'),
        "{}",
        c.not_after_text
    );

    // Each key matches its certificate, in every encoding.
    for (crt, keys) in [
        ("rsa.crt", vec!["rsa.key", "rsa-trad.key"]),
        ("ec.crt", vec!["ec.key", "ec-trad.key"]),
        ("ed.crt", vec!["ed.key"]),
    ] {
        let (cf, _) = read(dir, crt);
        let id = cf.certificates[0].key_id.clone();
        assert!(id.is_some(), "{crt}");
        for k in keys {
            let (kf, _) = read(dir, k);
            assert_eq!(kf.keys.len(), 1, "{k}");
            assert_eq!(kf.keys[0].key_id, id, "{k}");
        }
    }
    let (rsa, _) = read(dir, "rsa.key");
    assert_ne!(rsa.keys[0].key_id, c.key_id);
    let (enc, _) = read(dir, "ec-enc.key");
    assert!(enc.keys[0].encrypted && enc.keys[0].key_id.is_none());

    // Chains: the leaf needs the intermediate, from the file or the CA bundle.
    let (_, ca) = read(dir, "ca.crt");
    let (_, other) = read(dir, "other.crt");
    let (_, chain) = read(dir, "ec-chain.crt");
    let (_, int) = read(dir, "int.crt");
    assert!(pem::verify_chain(&ec_der, &ca).is_err());
    assert_eq!(pem::verify_chain(&chain, &ca), Ok(()));
    assert_eq!(pem::verify_chain(&ec_der, &int), Ok(()));
    assert!(pem::verify_chain(&chain, &other).is_err());
    assert_eq!(pem::verify_chain(&ca, &ca), Ok(()));
    let (cacert, _) = read(dir, "ca.crt");
    assert!(cacert.certificates[0].is_ca && cacert.certificates[0].self_signed);

    // Not PEM, or a broken block among good ones.
    assert!(!pem::read(b"hello").0.errors.is_empty());
    let mixed = format!(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n{}",
        std::fs::read_to_string(dir.join("ca.crt")).expect("read")
    );
    let (m, _) = pem::read(mixed.as_bytes());
    assert_eq!((m.certificates.len(), m.errors.len()), (1, 1));
}

#[test]
fn builds_the_certificates_document() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("ssl/patroni")).expect("mkdir");
    pki(&dir.join("ssl/patroni"));
    std::fs::rename(dir.join("ssl/patroni/ca.crt"), dir.join("ssl/ca.crt")).expect("move");
    std::fs::set_permissions(
        dir.join("ssl/patroni/ec.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let yml = "restapi:\n  listen: 10.0.1.11:8008\n  certfile: /etc/patroni/ssl/ec-chain.crt\n  keyfile: /etc/patroni/ssl/ec.key\n  cafile: /etc/patroni/ssl/ca.crt\nctl:\n  certfile: /etc/patroni/ssl/missing.crt\n";
    let path = dir.join("patroni.yml");
    std::fs::write(&path, yml).expect("write");
    let file = InputFile {
        kind: Kind::Patroni,
        path: path.clone(),
        display: "patroni.yml".into(),
        text: yml.into(),
    };
    let docs = vec![formats::document(
        Kind::Patroni,
        "patroni.yml",
        &path,
        yml.into(),
        &ParseContext::default(),
    )];
    let search = Search {
        root: None,
        trees: vec![dir.to_path_buf()],
    };
    let doc =
        document(&docs, &[file], &search, SystemTime::now()).expect("a certificates document");
    assert_eq!(doc.kind, crate::formats::Kind::Certificates);
    let wit::Body::Certificates(c) = &doc.body else {
        panic!("certificate facts")
    };
    let file = |p: &str| c.files.iter().find(|f| f.path == p).expect(p);
    let f = file("/etc/patroni/ssl/ec-chain.crt");
    assert!(f.found);
    assert_eq!(f.how, Some(wit::CertLookup::Name));
    let chain = f.chains.iter().find(|x| x.ca == "/etc/patroni/ssl/ca.crt");
    assert_eq!(chain.map(|x| x.error.clone()), Some(None));
    let key = file("/etc/patroni/ssl/ec.key");
    assert!(key.world_readable);
    assert!(key.keys[0].key_id.is_some());
    assert_eq!(key.keys[0].key_id, f.certificates[0].key_id);
    assert!(!file("/etc/patroni/ssl/missing.crt").found);
    assert_eq!(c.references[0].key, "restapi.certfile");
    assert_eq!(c.references[0].role, wit::CertRole::Cert);
    assert_eq!(c.references[0].location.line, 3);
    assert!(c.now > 1_700_000_000);
    // The text shows the same facts as JSON.
    let v: Value = serde_json::from_str(&doc.text).expect("json");
    assert_eq!(v["files"]["/etc/patroni/ssl/ec-chain.crt"]["how"], "name");

    // No references: no document.
    let plain = vec![formats::document(
        Kind::Patroni,
        "p.yml",
        &path,
        "restapi:\n  listen: :8008\n".into(),
        &ParseContext::default(),
    )];
    assert!(document(&plain, &[], &search, SystemTime::now()).is_none());
}
