//! Policy tests over hand-built matrices and rulesets (the host builds both for real; the
//! integration tests run them through the binary).

use policy_guest::hba::testing::context;
use policy_guest::{Body, Document, Edit, Evaluation, Input, Span, Structured as Body_};
use serde_json::{Value, json};

use super::*;

fn structured(
    kind: &str,
    path: &str,
    text: &str,
    json: Value,
    spans: Vec<(&str, u32, u32)>,
) -> Document {
    let spans = spans
        .into_iter()
        .map(|(p, l, e)| Span {
            pointer: p.into(),
            line: l,
            end_line: e,
        })
        .collect();
    Document {
        kind: kind.into(),
        path: path.into(),
        text: text.into(),
        body: Body::Structured(Body_ {
            json: json.to_string(),
            spans,
        }),
        diagnostics: Vec::new(),
    }
}

fn source(name: &str, address: &str) -> Value {
    json!({"name": name, "address": address})
}

/// pg1 serves PostgreSQL to pg2 and Patroni to pg2 and lb; pg2 and lb have no firewall.
fn matrix() -> Document {
    let m = json!({
        "topology": "topology.yaml",
        "outside": ["203.0.113.10"],
        "hosts": [
            {"name": "pg1", "address": "10.0.1.11", "firewall": "fw/pg1.nft", "nftables": "table inet patrol_cluster {}\n", "services": [
                {"service": "postgresql", "port": 5432, "proto": "tcp", "from": [source("pg2", "10.0.1.12")]},
                {"service": "patroni", "port": 8008, "proto": "tcp", "from": [source("pg2", "10.0.1.12"), source("lb", "10.0.2.5")]},
                {"service": "consul-http", "port": 8500, "proto": "tcp", "from": []},
            ]},
            {"name": "pg2", "address": "10.0.1.12", "firewall": null, "nftables": "", "services": []},
            {"name": "lb", "address": "10.0.2.5", "firewall": null, "nftables": "", "services": []},
        ]
    });
    structured(
        "port-matrix",
        "topology.yaml",
        "",
        m,
        vec![
            ("", 1, 9),
            ("/hosts/0", 3, 3),
            ("/hosts/1", 6, 6),
            ("/hosts/2", 8, 8),
        ],
    )
}

const FW: &str = "table inet filter {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiifname \"lo\" accept
\t\tip saddr 10.0.0.0/8 tcp dport { 5432, 8500 } accept
\t\ttcp dport 8008 accept
\t}
}
";

fn rule(m: Value, verdict: &str) -> Value {
    json!({"text": "", "matches": m, "vmap": null, "verdict": verdict, "unknown": []})
}

fn firewall(extra_accept_8008_from_pg2: bool) -> Document {
    let mut rules = vec![
        rule(
            json!([{"left": "ct state", "op": "==", "right": ["established", "related"]}]),
            "accept",
        ),
        rule(
            json!([{"left": "iifname", "op": "==", "right": ["lo"]}]),
            "accept",
        ),
        rule(
            json!([{"left": "ip saddr", "op": "==", "right": ["10.0.0.0/8"]}, {"left": "tcp dport", "op": "==", "right": ["5432", "8500"]}]),
            "accept",
        ),
        rule(
            json!([{"left": "tcp dport", "op": "==", "right": ["8008"]}]),
            "accept",
        ),
    ];
    if !extra_accept_8008_from_pg2 {
        rules.pop();
    }
    let n = rules.len();
    let json = json!({"tables": [{"family": "inet", "name": "filter", "sets": [], "chains": [
        {"name": "input", "type": "filter", "hook": "input", "priority": "filter", "policy": "drop", "rules": rules}
    ]}]});
    let end = if extra_accept_8008_from_pg2 { 8 } else { 7 };
    let mut spans = vec![
        ("", 1, end + 1),
        ("/tables/0", 1, end + 1),
        ("/tables/0/chains/0", 2, end),
    ];
    let ptrs: Vec<String> = (0..n)
        .map(|i| format!("/tables/0/chains/0/rules/{i}"))
        .collect();
    for (i, p) in ptrs.iter().enumerate() {
        spans.push((p.as_str(), 4 + i as u32, 4 + i as u32));
    }
    let text = if extra_accept_8008_from_pg2 {
        FW.to_string()
    } else {
        FW.replace("\t\ttcp dport 8008 accept\n", "")
    };
    let spans: Vec<(&str, u32, u32)> = spans.iter().map(|(p, l, e)| (*p, *l, *e)).collect();
    structured("nftables", "fw/pg1.nft", &text, json, spans)
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
    policy_guest::run::<Topology>(&input).expect("the policy runs")
}

fn found(e: &Evaluation) -> Vec<(String, String, u32)> {
    e.findings
        .iter()
        .map(|f| (f.code.clone(), f.location.file.clone(), f.location.line))
        .collect()
}

fn inserted(e: &Evaluation) -> Vec<(u32, String)> {
    e.patches
        .iter()
        .flat_map(|p| p.edits.iter())
        .filter_map(|ed| {
            if let Edit::Lines(l) = ed {
                Some((l.start, l.text.clone()))
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn too_open_and_blocked() {
    // 8008 open to everyone (line 7); 5432 and 8500 open to all of 10/8 (line 6).
    let e = run(vec![matrix(), firewall(true)]);
    assert_eq!(
        found(&e),
        vec![
            ("port-too-open".into(), "fw/pg1.nft".into(), 6),
            ("port-too-open".into(), "fw/pg1.nft".into(), 7),
            ("no-firewall".into(), "topology.yaml".into(), 6),
            ("no-firewall".into(), "topology.yaml".into(), 8),
        ]
    );
    assert!(
        e.findings[0]
            .message
            .contains("tcp/5432 (postgresql) from lb 10.0.2.5"),
        "{}",
        e.findings[0].message
    );
    assert!(
        e.findings[0]
            .message
            .contains("tcp/8500 (consul-http) from pg2 10.0.1.12, lb 10.0.2.5"),
        "{}",
        e.findings[0].message
    );
    assert_eq!(e.findings[0].severity, Severity::Medium);
    assert_eq!(e.findings[1].severity, Severity::High);
    assert_eq!(
        inserted(&e),
        vec![
            (6, "\t\tip saddr 10.0.1.12 tcp dport 5432 accept\n\t\ttcp dport { 5432, 8500 } drop".to_string()),
            (7, "\t\tip saddr { 10.0.1.12, 10.0.2.5 } tcp dport 8008 accept\n\t\ttcp dport 8008 drop".to_string()),
        ]
    );

    // Without line 7, 8008 falls to the policy: blocked for pg2 and lb.
    let e = run(vec![matrix(), firewall(false)]);
    let blocked = e
        .findings
        .iter()
        .find(|f| f.code == "port-blocked")
        .expect("blocked");
    assert_eq!(blocked.location.line, 2);
    assert!(
        blocked
            .message
            .contains("tcp/8008 (patroni) from pg2 10.0.1.12, lb 10.0.2.5"),
        "{}",
        blocked.message
    );
    assert!(
        inserted(&e).contains(&(
            7,
            "\t\tip saddr { 10.0.1.12, 10.0.2.5 } tcp dport 8008 accept".to_string()
        )),
        "{:?}",
        inserted(&e)
    );
}

#[test]
fn no_input_chain_and_missing_files() {
    let empty = structured(
        "nftables",
        "fw/pg1.nft",
        "flush ruleset\n",
        json!({"tables": []}),
        vec![("", 1, 1)],
    );
    let e = run(vec![matrix(), empty]);
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "no-input-filter")
        .expect("no-input-filter");
    assert_eq!(
        e.patches[f.patch.expect("a fix") as usize].edits,
        vec![Edit::Lines(policy_guest::LineEdit {
            start: 2,
            end: 1,
            text: "\ntable inet patrol_cluster {}".into()
        })]
    );
    let e = run(vec![matrix()]);
    assert!(found(&e).contains(&("firewall-missing".into(), "topology.yaml".into(), 3)));
}

#[test]
fn topology_entries_are_validated() {
    let t = json!({"hosts": [{"name": "a", "address": "db.example", "roles": ["patroni", "ldap"]}, {"name": "a", "address": "10.0.0.1"}]});
    let doc = structured(
        "topology",
        "topology.yaml",
        "",
        t,
        vec![
            ("", 1, 5),
            ("/hosts/0", 2, 2),
            ("/hosts/0/roles/1", 3, 3),
            ("/hosts/1", 4, 4),
        ],
    );
    let e = run(vec![doc]);
    assert_eq!(
        found(&e),
        vec![
            ("topology-invalid".into(), "topology.yaml".into(), 2),
            ("unknown-role".into(), "topology.yaml".into(), 3),
            ("topology-invalid".into(), "topology.yaml".into(), 4),
        ]
    );
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
