//! Policy tests over hand-built inputs; fixes are applied and the result checked again.

use policy_guest::hba::testing::context;
use policy_guest::testing::apply_line_edits;
use policy_guest::{Body, Document, Evaluation, Input, Span, Structured as Body_};
use serde_json::{Map, json};

use super::*;

/// A deliberately small HCL reader for tests (one `key = value` or `name {` or `}` per
/// line, scalar values only); the real parser is the host's.
fn hcl(path: &str, text: &str) -> Document {
    let mut stack: Vec<(String, Map<String, Value>, u32)> = vec![(String::new(), Map::new(), 1)];
    let mut spans = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u32 + 1;
        let l = raw.split('#').next().unwrap_or("").trim();
        let pointer = |stack: &[(String, Map<String, Value>, u32)], k: &str| {
            let mut p: String = stack
                .iter()
                .skip(1)
                .map(|(n, _, _)| format!("/{n}"))
                .collect();
            p.push('/');
            p.push_str(k);
            p
        };
        if let Some(name) = l.strip_suffix('{') {
            stack.push((name.trim().to_string(), Map::new(), line));
        } else if l == "}" {
            let (name, map, start) = stack.pop().expect("balanced");
            spans.push(Span {
                pointer: pointer(&stack, &name),
                line: start,
                end_line: line,
            });
            stack
                .last_mut()
                .expect("root")
                .1
                .insert(name, Value::Object(map));
        } else if let Some((k, v)) = l.split_once('=') {
            let k = k.trim();
            let v: Value = serde_json::from_str(v.trim()).expect("a JSON scalar");
            spans.push(Span {
                pointer: pointer(&stack, k),
                line,
                end_line: line,
            });
            stack.last_mut().expect("root").1.insert(k.to_string(), v);
        }
    }
    let root = Value::Object(stack.pop().expect("root").1);
    spans.push(Span {
        pointer: String::new(),
        line: 1,
        end_line: text.lines().count() as u32,
    });
    Document {
        kind: policy_guest::DocumentKind::Consul,
        path: path.into(),
        text: text.into(),
        body: Body::Structured(Body_ {
            json: root.to_string(),
            spans,
        }),
        diagnostics: Vec::new(),
    }
}

fn run(docs: Vec<Document>) -> Evaluation {
    let input = Input {
        documents: docs,
        context: context(15),
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: "{}".into(),
    };
    policy_guest::run::<Consul>(&input).expect("the policy runs")
}

fn codes(e: &Evaluation) -> Vec<(String, u32)> {
    e.findings
        .iter()
        .map(|f| (f.code.clone(), f.location.line))
        .collect()
}

const WEAK: &str = "\
datacenter = \"dc1\"
client_addr = \"0.0.0.0\"
ca_file = \"/etc/consul.d/ca.pem\"
verify_outgoing = false
enable_script_checks = true
acl {
  enabled = true
}
";

#[test]
fn weak_agent_and_its_fix() {
    let e = run(vec![hcl("consul.hcl", WEAK)]);
    assert_eq!(
        codes(&e),
        vec![
            ("gossip-unencrypted".into(), 1),
            ("tls-verify-incoming-off".into(), 1),
            ("tls-verify-outgoing-off".into(), 4),
            ("tls-verify-server-hostname-off".into(), 1),
            ("acl-default-allow".into(), 6),
            ("http-api-exposed".into(), 2),
            ("script-checks-enabled".into(), 5),
        ]
    );
    // Two keys go at the end of the file: the host takes one per round, so one round
    // leaves the other for the next (tests/agent.yaml has `check --fix`'s whole result).
    let fixed = apply_line_edits(WEAK, &e, None);
    assert_eq!(
        fixed,
        "datacenter = \"dc1\"\nclient_addr = \"127.0.0.1\"\nca_file = \"/etc/consul.d/ca.pem\"\nverify_outgoing = true\nenable_script_checks = false\nacl {\n  enabled = true\n  default_policy = \"deny\"\n}\n\nverify_incoming = true\n"
    );
    let again = run(vec![hcl("consul.hcl", &fixed)]);
    assert_eq!(
        codes(&again),
        vec![
            ("gossip-unencrypted".into(), 1),
            ("tls-verify-server-hostname-off".into(), 1)
        ]
    );
    assert!(again.findings[1].patch.is_some(), "the next round's fix");
}

#[test]
fn tls_stanza_is_where_new_keys_go() {
    let text = "encrypt = \"k\"\ntls {\n  defaults {\n    ca_file = \"/ca\"\n  }\n}\nacl {\n  enabled = true\n  default_policy = \"deny\"\n}\n";
    let e = run(vec![hcl("consul.hcl", text)]);
    // Both switches go at the end of `tls.defaults`: one per round (the case
    // "a tls.defaults block …" in tests/agent.yaml has the next round).
    let fixed = apply_line_edits(text, &e, None);
    assert_eq!(
        fixed,
        "encrypt = \"k\"\ntls {\n  defaults {\n    ca_file = \"/ca\"\n    verify_incoming = true\n  }\n  internal_rpc {\n    verify_server_hostname = true\n  }\n}\nacl {\n  enabled = true\n  default_policy = \"deny\"\n}\n"
    );
    let again = run(vec![hcl("consul.hcl", &fixed)]);
    assert_eq!(codes(&again), vec![("tls-verify-outgoing-off".into(), 3)]);
    assert!(again.findings[0].patch.is_some(), "the next round's fix");
}

#[test]
fn json_configs_get_pointer_edits() {
    let mut d = hcl("consul.json", "enable_script_checks = true\n");
    d.text = "{\"enable_script_checks\": true}".into();
    let e = run(vec![d]);
    let p = &e.patches[e
        .findings
        .iter()
        .find(|f| f.code == "script-checks-enabled")
        .and_then(|f| f.patch)
        .expect("a fix") as usize];
    assert_eq!(
        p.edits,
        vec![Edit::Set(PointerValue {
            pointer: "/enable_script_checks".into(),
            value: "false".into()
        })]
    );
    let _ = json!(null);
}

#[test]
fn codes_are_unique_and_documented() {
    let readme = include_str!("../README.md");
    let mut seen = std::collections::HashSet::new();
    for c in CODES {
        assert!(seen.insert(c.code), "duplicate code {}", c.code);
        assert!(
            readme.contains(&format!("`{}`", c.code)),
            "README lacks {}",
            c.code
        );
    }
}

/// The `http-api-exposed` fix writes `client_addr`: an address the check flags again
/// would never clear, so such a setting is refused up front.
#[test]
fn client_addr_beyond_loopback_is_refused() {
    let with = |a: &str| {
        Consul::validate(&Settings {
            client_addr: a.into(),
        })
    };
    assert!(with("127.0.0.1").is_empty());
    assert!(with("127.0.0.1 ::1 unix:///run/consul.sock").is_empty());
    assert_eq!(with(" ").len(), 1);
    let problems = with("127.0.0.1 10.0.0.5");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("`10.0.0.5`"), "{problems:?}");
    assert!(with("0.0.0.0")[0].contains("not a loopback address"));
}
