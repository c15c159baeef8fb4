//! Native tests over hand-made `certificates` documents (the host's tests check that real
//! files produce them).

use policy_guest::{
    Body, CertChain, CertFile, CertReference, CertRole, CertificateFacts, Context, Document, Edit,
    Evaluation, Input, IpAddress, Location, PrivateKey, Setting, Severity, Span, Structured,
    X509Certificate,
};
use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn structured(kind: policy_guest::DocumentKind, path: &str, v: Value) -> Document {
    let mut spans = Vec::new();
    fn walk(v: &Value, p: String, spans: &mut Vec<Span>) {
        spans.push(Span {
            pointer: p.clone(),
            line: 1,
            end_line: 1,
        });
        if let Value::Object(m) = v {
            for (k, v) in m {
                walk(v, format!("{p}/{k}"), spans);
            }
        }
    }
    walk(&v, String::new(), &mut spans);
    Document {
        kind,
        path: path.into(),
        text: String::new(),
        body: Body::Structured(Structured {
            json: v.to_string(),
            spans,
        }),
        diagnostics: vec![],
    }
}

fn cert(cn: &str, sans_dns: &[&str], sans_ip: &[&str], key_id: &str, not_after: i64) -> Value {
    json!({
        "subject": format!("CN={cn}"), "subject_cn": [cn], "issuer": "CN=Root CA",
        "not_before": NOW - 10 * DAY, "not_after": not_after, "not_before_text": "t0", "not_after_text": "t1",
        "dns_names": sans_dns, "ip_addresses": sans_ip, "is_ca": false, "self_signed": false,
        "key_type": "ec", "key_bits": 256, "key_id": key_id, "signature_algorithm": "ecdsa-with-SHA256"
    })
}

fn reference(
    path: &str,
    role: &str,
    kind: &str,
    key: &str,
    group: &str,
    file: &str,
    line: u32,
) -> Value {
    json!({"path": path, "role": role, "kind": kind, "key": key, "group": group, "file": file, "line": line, "pointer": null})
}

fn run(docs: Vec<Document>, patroni_version: Option<&str>) -> Evaluation {
    let context = Context {
        postgres_version: None,
        patroni_version: patroni_version.map(str::to_string),
        members: None,
        resolve: vec![],
        dual_stack: None,
        server_addresses: vec![],
        roles: None,
        password_types: vec![],
        extra: "{}".into(),
    };
    let input = Input {
        documents: docs,
        context,
        requests: Default::default(),
        connections: vec![],
        deployment: policy_guest::testing::deployment(),
        settings: "{}".into(),
    };
    policy_guest::run::<Certificates>(&input).expect("evaluates")
}

fn codes(e: &Evaluation) -> Vec<(String, Severity, String, u32)> {
    e.findings
        .iter()
        .map(|f| {
            (
                f.code.clone(),
                f.severity,
                f.location.file.clone(),
                f.location.line,
            )
        })
        .collect()
}

fn patroni() -> Document {
    structured(
        policy_guest::DocumentKind::Patroni,
        "patroni.yml",
        json!({
            "scope": "c",
            "restapi": {"listen": "10.0.1.11:8008", "connect_address": "10.0.1.11:8008", "certfile": "/p/server.crt", "keyfile": "/p/server.key", "cafile": "/p/ca.crt", "verify_client": "required"},
            "ctl": {"certfile": "/p/ctl.crt", "keyfile": "/p/ctl.key"}
        }),
    )
}

fn facts(files: Value) -> Document {
    let refs = json!([
        reference(
            "/p/server.crt",
            "cert",
            "patroni",
            "restapi.certfile",
            "restapi",
            "patroni.yml",
            12
        ),
        reference(
            "/p/server.key",
            "key",
            "patroni",
            "restapi.keyfile",
            "restapi",
            "patroni.yml",
            13
        ),
        reference(
            "/p/ca.crt",
            "ca",
            "patroni",
            "restapi.cafile",
            "restapi",
            "patroni.yml",
            14
        ),
        reference(
            "/p/ctl.crt",
            "cert",
            "patroni",
            "ctl.certfile",
            "ctl",
            "patroni.yml",
            20
        ),
        reference(
            "/p/ctl.key",
            "key",
            "patroni",
            "ctl.keyfile",
            "ctl",
            "patroni.yml",
            21
        ),
    ]);
    Document {
        kind: policy_guest::DocumentKind::Certificates,
        path: "<certificates>".into(),
        text: String::new(),
        body: Body::Certificates(record(
            json!({"now": NOW, "references": refs, "files": files}),
        )),
        diagnostics: vec![],
    }
}

/// The host's record for facts written as JSON in the policy's own field names (the
/// shape the tests mutate), as the host would hand it over.
fn record(v: Value) -> CertificateFacts {
    let f: Facts = serde_json::from_value(v).expect("test facts");
    let ip = |a: &String| -> IpAddress {
        match a.parse::<std::net::IpAddr>().expect("an IP address") {
            std::net::IpAddr::V4(a) => IpAddress::V4(a.into()),
            std::net::IpAddr::V6(a) => {
                let bits = u128::from(a);
                IpAddress::V6(((bits >> 64) as u64, bits as u64))
            }
        }
    };
    let role = |r: &str| match r {
        "key" => CertRole::Key,
        "ca" => CertRole::Ca,
        "cert-key" => CertRole::CertKey,
        _ => CertRole::Cert,
    };
    CertificateFacts {
        now: f.now,
        now_text: String::new(),
        root: None,
        references: f
            .references
            .iter()
            .map(|r| CertReference {
                path: r.path.clone(),
                role: role(&r.role),
                kind: r.kind.clone(),
                key: r.key.clone(),
                group: r.group.clone(),
                location: r.loc(),
            })
            .collect(),
        files: f
            .files
            .iter()
            .map(|(path, x)| CertFile {
                path: path.clone(),
                found: x.found,
                location: x.location.clone(),
                how: None,
                reason: x.reason.clone(),
                candidates: x.candidates.clone(),
                mode: x.mode,
                world_readable: x.world_readable,
                errors: x.errors.clone(),
                certificates: x
                    .certificates
                    .iter()
                    .map(|c| X509Certificate {
                        subject: c.subject.clone(),
                        subject_cn: c.subject_cn.clone(),
                        issuer: c.issuer.clone(),
                        serial: String::new(),
                        not_before: c.not_before,
                        not_after: c.not_after,
                        not_before_text: c.not_before_text.clone(),
                        not_after_text: c.not_after_text.clone(),
                        dns_names: c.dns_names.clone(),
                        ip_addresses: c.ip_addresses.iter().map(ip).collect(),
                        is_ca: c.is_ca,
                        self_signed: c.self_signed,
                        key_type: c.key_type.clone(),
                        key_bits: c.key_bits as u32,
                        key_id: c.key_id.clone(),
                        signature_algorithm: c.signature_algorithm.clone(),
                        ext_key_usage: Vec::new(),
                        fingerprint_sha256: String::new(),
                    })
                    .collect(),
                keys: x
                    .keys
                    .iter()
                    .map(|k| PrivateKey {
                        key_type: k.key_type.clone(),
                        encrypted: k.encrypted,
                        key_id: k.key_id.clone(),
                    })
                    .collect(),
                chains: x
                    .chains
                    .iter()
                    .map(|(ca, result)| CertChain {
                        ca: ca.clone(),
                        error: (result != "ok").then(|| result.clone()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn good_files() -> Value {
    json!({
        "/p/server.crt": {"found": true, "location": "ssl/server.crt", "mode": 0o644, "world_readable": true,
            "certificates": [cert("pg-node1", &["pg-node1"], &["10.0.1.11"], "ec:1", NOW + 365 * DAY)],
            "chains": {"/p/ca.crt": "ok"}},
        "/p/server.key": {"found": true, "location": "ssl/server.key", "mode": 0o600, "world_readable": false,
            "keys": [{"key_type": "ec", "encrypted": false, "key_id": "ec:1"}]},
        "/p/ca.crt": {"found": true, "location": "ssl/ca.crt", "mode": 0o644, "world_readable": true,
            "certificates": [cert("Root CA", &[], &[], "ec:0", NOW + 3650 * DAY)], "chains": {"/p/ca.crt": "ok"}},
        "/p/ctl.crt": {"found": true, "location": "ssl/ctl.crt", "mode": 0o644, "world_readable": true,
            "certificates": [cert("patronictl", &[], &[], "ec:2", NOW + 365 * DAY)], "chains": {"/p/ca.crt": "ok"}},
        "/p/ctl.key": {"found": true, "location": "ssl/ctl.key", "mode": 0o600, "world_readable": false,
            "keys": [{"key_type": "ec", "encrypted": false, "key_id": "ec:2"}]}
    })
}

#[test]
fn a_good_set_is_clean() {
    let e = run(vec![patroni(), facts(good_files())], None);
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
}

#[test]
fn every_file_problem() {
    let mut files = good_files();
    files["/p/server.crt"]["certificates"][0]["not_after"] = json!(NOW - DAY);
    files["/p/server.crt"]["certificates"][0]["ip_addresses"] = json!([]);
    files["/p/server.crt"]["chains"]["/p/ca.crt"] = json!("the signature does not verify");
    files["/p/server.key"]["keys"][0]["key_id"] = json!("ec:9");
    files["/p/server.key"]["world_readable"] = json!(true);
    files["/p/server.key"]["mode"] = json!(0o644);
    files["/p/ca.crt"]["certificates"][0]["not_after"] = json!(NOW + 5 * DAY);
    files["/p/ctl.crt"] = json!({"found": false, "reason": "no file named `ctl.crt` in the checked tree", "candidates": []});
    files["/p/ctl.key"]["errors"] = json!(["not a PEM file"]);
    files["/p/ctl.key"]["keys"] = json!([]);
    let e = run(vec![patroni(), facts(files)], None);
    let got = codes(&e);
    let want: Vec<(&str, Severity, u32)> = vec![
        ("expired", Severity::High, 12),
        ("key-world-readable", Severity::High, 13),
        ("expiring-soon", Severity::Medium, 14),
        ("file-not-found", Severity::Info, 20),
        ("unreadable", Severity::High, 21),
        ("key-mismatch", Severity::High, 13),
        ("chain-untrusted", Severity::High, 14),
        ("name-mismatch", Severity::High, 12),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(c, s, l)| (c.to_string(), *s, "patroni.yml".to_string(), *l))
            .collect::<Vec<_>>()
    );
}

#[test]
fn name_matching() {
    let c: facts::Cert = serde_json::from_value(cert(
        "db",
        &["*.db.example.com", "pg1"],
        &["10.0.0.5"],
        "x",
        NOW,
    ))
    .expect("cert");
    assert!(facts::covers(&c, "a.db.example.com", false));
    assert!(!facts::covers(&c, "a.b.db.example.com", false));
    assert!(facts::covers(&c, "PG1", false));
    assert!(facts::covers(&c, "10.0.0.5", false));
    assert!(!facts::covers(&c, "10.0.0.6", false));
    let cn_only: facts::Cert =
        serde_json::from_value(cert("pg1", &[], &[], "x", NOW)).expect("cert");
    assert!(facts::covers(&cn_only, "pg1", true));
    assert!(!facts::covers(&cn_only, "pg1", false), "Go ignores the CN");
}

fn unit(text: &str) -> Document {
    let mut settings = Vec::new();
    let mut section = None;
    for (i, l) in text.lines().enumerate() {
        if let Some(s) = l.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = Some(s.to_string());
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            continue;
        };
        settings.push(Setting {
            section: section.clone(),
            name: k.into(),
            value: v.into(),
            args: v.split_whitespace().map(str::to_string).collect(),
            location: Location {
                file: "patroni.service".into(),
                line: i as u32 + 1,
                end_line: None,
                pointer: None,
            },
        });
    }
    Document {
        kind: policy_guest::DocumentKind::Systemd,
        path: "patroni.service".into(),
        text: text.into(),
        body: Body::Settings(settings),
        diagnostics: vec![],
    }
}

#[test]
fn patroni_reload_readiness() {
    let without = "[Unit]\nDescription=Patroni\n[Service]\nUser=postgres\nExecStart=/usr/bin/patroni /etc/patroni/patroni.yml\nKillMode=process\n";
    let e = run(vec![patroni(), facts(good_files()), unit(without)], None);
    assert_eq!(
        codes(&e),
        vec![(
            "no-reload".to_string(),
            Severity::Low,
            "patroni.service".to_string(),
            5
        )]
    );
    let Edit::Lines(l) = &e.patches[0].edits[0] else {
        panic!("line edit")
    };
    assert_eq!(
        (l.start, l.end, l.text.as_str()),
        (6, 5, reload::RELOAD_LINE)
    );
    let with = without.replace("KillMode", "ExecReload=/bin/kill -s HUP $MAINPID\nKillMode");
    assert!(
        run(vec![patroni(), facts(good_files()), unit(&with)], None)
            .findings
            .is_empty()
    );
    // Not Patroni's unit, or no TLS: nothing to say.
    let etcd_unit = without.replace("/usr/bin/patroni /etc/patroni/patroni.yml", "/usr/bin/etcd");
    assert!(
        run(vec![patroni(), unit(&etcd_unit)], None)
            .findings
            .is_empty()
    );
    let plain = structured(
        policy_guest::DocumentKind::Patroni,
        "patroni.yml",
        json!({"restapi": {"listen": ":8008"}}),
    );
    assert_eq!(
        run(vec![plain.clone(), unit(without)], None).findings.len(),
        1
    );
    assert!(
        run(vec![plain, unit(&with)], Some("2.0.2"))
            .findings
            .is_empty(),
        "no TLS: nothing to reload"
    );
    let old = run(
        vec![patroni(), facts(good_files()), unit(&with)],
        Some("2.0.2"),
    );
    assert_eq!(
        old.findings
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>(),
        vec!["reload-needs-restart"]
    );
}

#[test]
fn codes_are_unique_and_documented() {
    let readme = include_str!("../README.md");
    for (i, c) in CODES.iter().enumerate() {
        assert!(
            CODES[..i].iter().all(|o| o.code != c.code),
            "duplicate {}",
            c.code
        );
        assert!(
            readme.contains(&format!("`{}`", c.code)),
            "README lacks {}",
            c.code
        );
    }
}
