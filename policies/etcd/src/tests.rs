//! Native tests with documents shaped as the host hands them over.

use policy_guest::testing::context;
use policy_guest::{Body, Document, Edit, Evaluation, Input, Severity, Span, Structured as Body2};
use serde_json::{Map, Value};

use super::*;

/// A two-level YAML (as etcd and Patroni configs here are) to a structured document: the
/// JSON plus a span per key, as the host's YAML parser gives them.
pub fn yaml_doc(kind: policy_guest::DocumentKind, path: &str, text: &str) -> Document {
    let mut root = Map::new();
    let mut spans = vec![Span {
        pointer: String::new(),
        line: 1,
        end_line: text.lines().count() as u32,
    }];
    let mut parent: Option<String> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i as u32 + 1;
        if raw.trim_start().starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        let nested = raw.starts_with(' ');
        let Some((k, v)) = raw.trim().split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim());
        let value = match v {
            "" => Value::Object(Map::new()),
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(v.trim_matches('"').to_string()),
        };
        if nested {
            let p = parent.clone().unwrap_or_default();
            if let Some(Value::Object(m)) = root.get_mut(&p) {
                m.insert(k.clone(), value);
            }
            spans.push(Span {
                pointer: format!("/{p}/{k}"),
                line,
                end_line: line,
            });
        } else {
            if value.is_object() {
                parent = Some(k.clone());
            }
            root.insert(k.clone(), value);
            spans.push(Span {
                pointer: format!("/{k}"),
                line,
                end_line: line,
            });
        }
    }
    Document {
        kind,
        path: path.into(),
        text: text.into(),
        body: Body::Structured(Body2 {
            json: Value::Object(root).to_string(),
            spans,
        }),
        diagnostics: vec![],
    }
}

pub fn run(docs: Vec<Document>, settings: &str) -> Evaluation {
    let input = Input {
        documents: docs,
        context: context(),
        requests: Default::default(),
        connections: vec![],
        deployment: policy_guest::testing::deployment(),
        settings: settings.into(),
    };
    policy_guest::run::<Etcd>(&input).expect("evaluates")
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

/// Applies the pointer edits of the patches to the documents' JSON (what the host's YAML
/// editor does to the text), for fixpoint checks.
fn apply(docs: &[Document], e: &Evaluation) -> Vec<Document> {
    docs.iter()
        .map(|d| {
            let Body::Structured(s) = &d.body else {
                return d.clone();
            };
            let mut v: Value = serde_json::from_str(&s.json).expect("json");
            for p in e.patches.iter().filter(|p| p.file == d.path) {
                for edit in &p.edits {
                    let Edit::Set(pv) = edit else {
                        panic!("pointer edits for YAML")
                    };
                    let parts: Vec<&str> = pv.pointer.trim_start_matches('/').split('/').collect();
                    let mut cur = &mut v;
                    for part in &parts[..parts.len() - 1] {
                        cur = cur
                            .as_object_mut()
                            .expect("object")
                            .entry(part.to_string())
                            .or_insert_with(|| Value::Object(Map::new()));
                    }
                    cur.as_object_mut().expect("object").insert(
                        parts[parts.len() - 1].to_string(),
                        serde_json::from_str(&pv.value).expect("value"),
                    );
                }
            }
            let mut spans = s.spans.clone();
            for p in e
                .patches
                .iter()
                .filter(|p| p.file == d.path)
                .flat_map(|p| &p.edits)
            {
                if let Edit::Set(pv) = p {
                    spans.push(Span {
                        pointer: pv.pointer.clone(),
                        line: 1,
                        end_line: 1,
                    });
                }
            }
            Document {
                body: Body::Structured(Body2 {
                    json: v.to_string(),
                    spans,
                }),
                ..d.clone()
            }
        })
        .collect()
}

/// Settings naming every certificate file the fixes may write (by default none is named,
/// and fixes that need a file are withheld).
pub const PATHS: &str = r#"{"cert_file": "/etc/etcd/ssl/server.crt", "key_file": "/etc/etcd/ssl/server.key", "trusted_ca_file": "/etc/etcd/ssl/ca.crt", "peer_cert_file": "/etc/etcd/ssl/peer.crt", "peer_key_file": "/etc/etcd/ssl/peer.key", "peer_trusted_ca_file": "/etc/etcd/ssl/ca.crt", "patroni_cacert": "/etc/patroni/ssl/etcd-ca.crt", "patroni_cert": "/etc/patroni/ssl/etcd-client.crt", "patroni_key": "/etc/patroni/ssl/etcd-client.key"}"#;

const INSECURE: &str = "\
name: etcd1
data-dir: /var/lib/etcd
listen-peer-urls: http://0.0.0.0:2380
listen-client-urls: http://0.0.0.0:2379,http://127.0.0.1:2379
initial-advertise-peer-urls: http://10.0.1.21:2380
advertise-client-urls: http://10.0.1.21:2379
initial-cluster: etcd1=http://10.0.1.21:2380,etcd2=http://10.0.1.22:2380
";

const PATRONI_PLAIN: &str = "\
scope: c
etcd3:
  hosts: 10.0.1.21:2379,10.0.1.22:2379
  protocol: http
  username: patroni
  password: secret
";

#[test]
fn insecure_etcd_and_patroni_are_reported_and_fixed_together() {
    let docs = vec![
        yaml_doc(policy_guest::DocumentKind::Etcd, "etcd.conf.yml", INSECURE),
        yaml_doc(
            policy_guest::DocumentKind::Patroni,
            "patroni.yml",
            PATRONI_PLAIN,
        ),
    ];
    let e = run(docs.clone(), PATHS);
    let got = codes(&e);
    let want = [
        ("client-plain-http", Severity::High, "etcd.conf.yml", 4),
        ("client-plain-http", Severity::High, "etcd.conf.yml", 6),
        (
            "client-cert-auth-disabled",
            Severity::High,
            "etcd.conf.yml",
            4,
        ),
        ("peer-plain-http", Severity::High, "etcd.conf.yml", 3),
        ("peer-plain-http", Severity::High, "etcd.conf.yml", 5),
        ("peer-plain-http", Severity::High, "etcd.conf.yml", 7),
        (
            "peer-client-cert-auth-disabled",
            Severity::High,
            "etcd.conf.yml",
            3,
        ),
        ("patroni-plain-http", Severity::High, "patroni.yml", 4),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(c, s, f, l)| (c.to_string(), *s, f.to_string(), *l))
            .collect::<Vec<_>>()
    );
    // The client side and Patroni change together; the peer side waits for the other
    // members (`etcd2` is not among the inputs).
    for f in &e.findings {
        assert_eq!(
            f.patch.is_some(),
            !f.code.starts_with("peer-"),
            "{}: {}",
            f.code,
            f.message
        );
    }
    let peer = e
        .findings
        .iter()
        .find(|f| f.code == "peer-plain-http")
        .unwrap();
    assert!(peer.message.contains("`etcd2`"), "{}", peer.message);
    assert_eq!(e.patches.len(), 2, "one patch per file");
    let etcd_patch = &e.patches[0];
    let set = |p: &str| {
        etcd_patch.edits.iter().find_map(|x| match x {
            Edit::Set(pv) if pv.pointer == p => Some(pv.value.clone()),
            _ => None,
        })
    };
    assert_eq!(
        set("/listen-client-urls").as_deref(),
        Some("\"https://0.0.0.0:2379,http://127.0.0.1:2379\"")
    );
    assert_eq!(set("/initial-cluster"), None);
    assert_eq!(
        set("/client-transport-security/client-cert-auth").as_deref(),
        Some("true")
    );
    assert_eq!(
        set("/client-transport-security/cert-file").as_deref(),
        Some("\"/etc/etcd/ssl/server.crt\"")
    );
    let after = apply(&docs, &e);
    let again = run(after, PATHS);
    assert!(
        again
            .findings
            .iter()
            .all(|f| f.code.starts_with("peer-") && f.patch.is_none()),
        "{:?}",
        codes(&again)
    );
}

#[test]
fn no_certificate_path_is_invented() {
    let docs = vec![
        yaml_doc(policy_guest::DocumentKind::Etcd, "etcd.conf.yml", INSECURE),
        yaml_doc(
            policy_guest::DocumentKind::Patroni,
            "patroni.yml",
            PATRONI_PLAIN,
        ),
    ];
    let e = run(docs, "{}");
    assert!(e.patches.is_empty(), "{:?}", e.patches);
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "client-plain-http")
        .unwrap();
    assert!(
        f.message.contains(
            "no automatic fix: no input names the file(s) for `client-transport-security.cert-file`"
        ),
        "{}",
        f.message
    );
    assert!(
        f.remediation.contains("1. issue a certificate"),
        "{}",
        f.remediation
    );
    // Patroni follows only an etcd that serves TLS after this run.
    let p = e
        .findings
        .iter()
        .find(|f| f.code == "patroni-plain-http")
        .unwrap();
    assert!(
        p.message
            .contains("keeps serving its clients over plain HTTP"),
        "{}",
        p.message
    );
}

#[test]
fn patroni_switches_to_https_only_with_its_etcd_among_the_inputs() {
    let e = run(
        vec![yaml_doc(
            policy_guest::DocumentKind::Patroni,
            "patroni.yml",
            PATRONI_PLAIN,
        )],
        PATHS,
    );
    let p = e
        .findings
        .iter()
        .find(|f| f.code == "patroni-plain-http")
        .unwrap();
    assert_eq!(p.patch, None);
    assert!(
        p.message.contains("is not among the inputs"),
        "{}",
        p.message
    );
    // An etcd of another cluster (other address) is not its etcd.
    let other = INSECURE.replace("10.0.1.21", "10.9.9.9");
    let e = run(
        vec![
            yaml_doc(policy_guest::DocumentKind::Etcd, "other-etcd.yml", &other),
            yaml_doc(
                policy_guest::DocumentKind::Patroni,
                "patroni.yml",
                PATRONI_PLAIN,
            ),
        ],
        PATHS,
    );
    let p = e
        .findings
        .iter()
        .find(|f| f.code == "patroni-plain-http")
        .unwrap();
    assert_eq!(p.patch, None, "{}", p.message);
    let c = e
        .findings
        .iter()
        .find(|f| f.code == "client-plain-http")
        .unwrap();
    assert!(
        c.message.contains("none of this etcd's clients"),
        "{}",
        c.message
    );
}

#[test]
fn hardened_example_is_quiet() {
    let docs = vec![
        yaml_doc(
            policy_guest::DocumentKind::Etcd,
            "etcd.conf.yml",
            include_str!("../../../examples/hardened/etcd.conf.yml"),
        ),
        yaml_doc(
            policy_guest::DocumentKind::Patroni,
            "patroni.yml",
            include_str!("../../../examples/hardened/patroni.yml"),
        ),
    ];
    let e = run(docs, "{}");
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
}

#[test]
fn auto_tls_missing_ca_and_certificates() {
    let text = "name: a\nlisten-client-urls: https://10.0.0.1:2379\nlisten-peer-urls: https://10.0.0.1:2380\nclient-transport-security:\n  client-cert-auth: true\npeer-transport-security:\n  auto-tls: true\n  client-cert-auth: true\n  trusted-ca-file: /ca.crt\n";
    let withheld = run(
        vec![yaml_doc(policy_guest::DocumentKind::Etcd, "etcd.yml", text)],
        "{}",
    );
    assert!(withheld.patches.is_empty());
    let e = run(
        vec![yaml_doc(policy_guest::DocumentKind::Etcd, "etcd.yml", text)],
        PATHS,
    );
    let got: Vec<(String, u32)> = e
        .findings
        .iter()
        .map(|f| (f.code.clone(), f.location.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("tls-without-certificate".to_string(), 4),
            ("cert-auth-without-ca".to_string(), 5),
            ("auto-tls".to_string(), 7),
        ]
    );
    assert_eq!(e.findings[0].severity, Severity::High);
    let docs = vec![yaml_doc(policy_guest::DocumentKind::Etcd, "etcd.yml", text)];
    assert!(run(apply(&docs, &e), PATHS).findings.is_empty());
}

#[test]
fn patroni_side_mismatches() {
    let etcd = "name: a\nlisten-client-urls: https://10.0.1.21:2379\nadvertise-client-urls: https://10.0.1.21:2379\nclient-transport-security:\n  cert-file: /s.crt\n  key-file: /s.key\n  trusted-ca-file: /ca.crt\n  client-cert-auth: true\n";
    let cases: &[(&str, &[(&str, Severity)])] = &[
        (
            "scope: c\netcd3:\n  hosts: 10.0.1.21:2379\n",
            &[("patroni-protocol-mismatch", Severity::High)],
        ),
        (
            "scope: c\netcd3:\n  hosts: 10.0.1.21:2379\n  protocol: https\n",
            &[
                ("patroni-no-cacert", Severity::High),
                ("patroni-no-client-cert", Severity::High),
            ],
        ),
        (
            "scope: c\netcd:\n  url: http://10.0.1.21:2379\n  cacert: /ca\n",
            &[("patroni-protocol-mismatch", Severity::High)],
        ),
        (
            "scope: c\netcd3:\n  hosts: 10.0.1.21:2379\n  protocol: https\n  cacert: /c\n  cert: /x\n  key: /y\n",
            &[],
        ),
        ("scope: c\netcd3:\n  hosts: 127.0.0.1:2379\n", &[]),
    ];
    let etcd = &etcd.replace(
        "listen-client-urls: https://10.0.1.21:2379",
        "listen-client-urls: https://10.0.1.21:2379,http://127.0.0.1:2379",
    );
    for (patroni, want) in cases {
        let docs = vec![
            yaml_doc(policy_guest::DocumentKind::Etcd, "etcd.yml", etcd),
            yaml_doc(policy_guest::DocumentKind::Patroni, "patroni.yml", patroni),
        ];
        let e = run(docs.clone(), PATHS);
        let got: Vec<(&str, Severity)> = e
            .findings
            .iter()
            .map(|f| (f.code.as_str(), f.severity))
            .collect();
        assert_eq!(&got, want, "{patroni}");
        if !got.is_empty() {
            assert!(
                run(apply(&docs, &e), PATHS).findings.is_empty(),
                "{patroni}"
            );
        }
    }
    // https Patroni against plain etcd: the etcd side is what to fix.
    let plain_etcd = "name: a\nlisten-client-urls: http://10.0.1.21:2379\n";
    let docs = vec![
        yaml_doc(policy_guest::DocumentKind::Etcd, "etcd.yml", plain_etcd),
        yaml_doc(
            policy_guest::DocumentKind::Patroni,
            "patroni.yml",
            "scope: c\netcd3:\n  hosts: 10.0.1.21:2379\n  protocol: https\n  cacert: /c\n  cert: /x\n  key: /y\n",
        ),
    ];
    let e = run(docs.clone(), PATHS);
    assert!(
        e.findings
            .iter()
            .any(|f| f.code == "patroni-protocol-mismatch" && f.patch.is_none())
    );
    assert!(run(apply(&docs, &e), PATHS).findings.is_empty());
}

#[test]
fn default_ports_only_when_forbidden() {
    let text = "name: a\nlisten-client-urls: https://10.0.0.1:2379\nclient-transport-security:\n  cert-file: /a\n  key-file: /b\n  trusted-ca-file: /c\n  client-cert-auth: true\n";
    assert!(
        run(
            vec![yaml_doc(policy_guest::DocumentKind::Etcd, "e.yml", text)],
            "{}"
        )
        .findings
        .is_empty()
    );
    let e = run(
        vec![yaml_doc(policy_guest::DocumentKind::Etcd, "e.yml", text)],
        r#"{"forbid_default_ports": true}"#,
    );
    assert_eq!(
        codes(&e),
        vec![(
            "default-port".to_string(),
            Severity::Low,
            "e.yml".to_string(),
            2
        )]
    );
}

#[test]
fn environment_files_get_line_patches() {
    // As the host parses /etc/default/etcd: keys at their lines.
    let text = "# etcd\nETCD_NAME=etcd1\nETCD_LISTEN_CLIENT_URLS=\"http://10.0.1.21:2379\"\nETCD_ADVERTISE_CLIENT_URLS=http://10.0.1.21:2379\n";
    let json = serde_json::json!({"name": "etcd1", "listen-client-urls": "http://10.0.1.21:2379", "advertise-client-urls": "http://10.0.1.21:2379"});
    let spans = vec![
        Span {
            pointer: String::new(),
            line: 1,
            end_line: 4,
        },
        Span {
            pointer: "/name".into(),
            line: 2,
            end_line: 2,
        },
        Span {
            pointer: "/listen-client-urls".into(),
            line: 3,
            end_line: 3,
        },
        Span {
            pointer: "/advertise-client-urls".into(),
            line: 4,
            end_line: 4,
        },
    ];
    let doc = Document {
        kind: policy_guest::DocumentKind::Etcd,
        path: "etcd".into(),
        text: text.into(),
        body: Body::Structured(Body2 {
            json: json.to_string(),
            spans,
        }),
        diagnostics: vec![],
    };
    let patroni = yaml_doc(
        policy_guest::DocumentKind::Patroni,
        "patroni.yml",
        "scope: c\netcd3:\n  hosts: 10.0.1.21:2379\n",
    );
    let e = run(vec![doc, patroni], PATHS);
    let e = Evaluation {
        patches: e.patches.into_iter().filter(|p| p.file == "etcd").collect(),
        ..e
    };
    assert_eq!(e.patches.len(), 1);
    let lines: Vec<(u32, u32, String)> = e.patches[0]
        .edits
        .iter()
        .map(|x| match x {
            Edit::Lines(l) => (l.start, l.end, l.text.clone()),
            _ => panic!("line edits for environment files"),
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (3, 3, "ETCD_LISTEN_CLIENT_URLS=\"https://10.0.1.21:2379\"".to_string()),
            (4, 4, "ETCD_ADVERTISE_CLIENT_URLS=https://10.0.1.21:2379".to_string()),
            (5, 4, "ETCD_CERT_FILE=/etc/etcd/ssl/server.crt\nETCD_CLIENT_CERT_AUTH=true\nETCD_KEY_FILE=/etc/etcd/ssl/server.key\nETCD_TRUSTED_CA_FILE=/etc/etcd/ssl/ca.crt".to_string()),
        ]
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
