//! Policy tests over hand-built matrices and rulesets, typed as the host hands them over
//! (the host builds both for real; `tests/firewalls.yaml` runs the policy on real files).

use policy_guest::hba::testing::context;
use policy_guest::{
    Body, Document, Edit, Evaluation, Input, NftChain, NftChainType, NftFamily, NftHook, NftMatch,
    NftOp, NftPolicy, NftRule, NftTable, NftVerdict, PortService, PortSource, Span,
    Structured as Body_,
};
use serde_json::{Value, json};

use super::*;

fn structured(
    kind: policy_guest::DocumentKind,
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
    document(
        kind,
        path,
        text,
        Body::Structured(Body_ {
            json: json.to_string(),
            spans,
        }),
    )
}

fn document(kind: policy_guest::DocumentKind, path: &str, text: &str, body: Body) -> Document {
    Document {
        kind,
        path: path.into(),
        text: text.into(),
        body,
        diagnostics: Vec::new(),
    }
}

fn source(name: &str, address: &str) -> PortSource {
    PortSource {
        name: name.into(),
        address: address.into(),
    }
}

fn service(name: &str, port: u16, from: Vec<PortSource>) -> PortService {
    PortService {
        service: name.into(),
        port,
        proto: "tcp".into(),
        from,
        why: String::new(),
        port_from: None,
    }
}

fn host(
    name: &str,
    address: &str,
    line: u32,
    firewall: Option<&str>,
    services: Vec<PortService>,
) -> PortHost {
    PortHost {
        name: name.into(),
        address: address.into(),
        roles: Vec::new(),
        firewall: firewall.map(str::to_string),
        location: Location {
            file: "topology.yaml".into(),
            line,
            end_line: None,
            pointer: None,
        },
        services,
        admin_networks: Vec::new(),
        nftables: if firewall.is_some() {
            "table inet patrol_cluster {}\n".into()
        } else {
            String::new()
        },
    }
}

/// pg1 serves PostgreSQL to pg2 and Patroni to pg2 and lb; pg2 and lb have no firewall.
fn matrix() -> Document {
    let m = PortMatrix {
        topology: "topology.yaml".into(),
        outside: vec!["203.0.113.10".into()],
        hosts: vec![
            host(
                "pg1",
                "10.0.1.11",
                3,
                Some("fw/pg1.nft"),
                vec![
                    service("postgresql", 5432, vec![source("pg2", "10.0.1.12")]),
                    service(
                        "patroni",
                        8008,
                        vec![source("pg2", "10.0.1.12"), source("lb", "10.0.2.5")],
                    ),
                    service("consul-http", 8500, Vec::new()),
                ],
            ),
            host("pg2", "10.0.1.12", 6, None, Vec::new()),
            host("lb", "10.0.2.5", 8, None, Vec::new()),
        ],
    };
    document(
        policy_guest::DocumentKind::PortMatrix,
        "topology.yaml",
        "",
        Body::PortMatrix(m),
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

fn rule(matches: &[(&str, &[&str])]) -> NftRule {
    NftRule {
        line: 0,
        text: String::new(),
        matches: matches
            .iter()
            .map(|(left, right)| NftMatch {
                left: left.to_string(),
                op: NftOp::Eq,
                right: right.iter().map(|r| r.to_string()).collect(),
            })
            .collect(),
        vmap: None,
        verdict: Some(NftVerdict::Accept),
        unknown: Vec::new(),
    }
}

fn firewall(extra_accept_8008_from_pg2: bool) -> Document {
    let mut rules = vec![
        rule(&[("ct state", &["established", "related"])]),
        rule(&[("iifname", &["lo"])]),
        rule(&[
            ("ip saddr", &["10.0.0.0/8"]),
            ("tcp dport", &["5432", "8500"]),
        ]),
        rule(&[("tcp dport", &["8008"])]),
    ];
    if !extra_accept_8008_from_pg2 {
        rules.pop();
    }
    for (i, r) in rules.iter_mut().enumerate() {
        r.line = 4 + i as u32;
    }
    let end = if extra_accept_8008_from_pg2 { 8 } else { 7 };
    let table = NftTable {
        family: NftFamily::Inet,
        name: "filter".into(),
        line: 1,
        end_line: end + 1,
        sets: Vec::new(),
        chains: vec![NftChain {
            name: "input".into(),
            chain_type: Some(NftChainType::Filter),
            hook: Some(NftHook::Input),
            priority: Some("filter".into()),
            policy: Some(NftPolicy::Drop),
            line: 2,
            end_line: end,
            rules,
        }],
    };
    let text = if extra_accept_8008_from_pg2 {
        FW.to_string()
    } else {
        FW.replace("\t\ttcp dport 8008 accept\n", "")
    };
    document(
        policy_guest::DocumentKind::Nftables,
        "fw/pg1.nft",
        &text,
        Body::Nftables(vec![table]),
    )
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
    let empty = document(
        policy_guest::DocumentKind::Nftables,
        "fw/pg1.nft",
        "flush ruleset\n",
        Body::Nftables(Vec::new()),
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
        policy_guest::DocumentKind::Topology,
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
