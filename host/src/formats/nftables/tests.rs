use super::*;
use serde_json::Value;

fn doc(src: &str) -> (Value, Vec<wit::Span>, Vec<(String, u32)>) {
    let p = parse(src, "fw.nft");
    let v: Value = serde_json::from_str(&p.value.json).expect("valid JSON");
    let d = p
        .diagnostics
        .into_iter()
        .map(|d| (d.code, d.location.line))
        .collect();
    (v, p.value.spans, d)
}

fn span(spans: &[wit::Span], pointer: &str) -> Option<(u32, u32)> {
    spans
        .iter()
        .find(|s| s.pointer == pointer)
        .map(|s| (s.line, s.end_line))
}

/// `nft list ruleset` output of a real nft 1.0.6 (loaded in a network namespace).
const LISTED: &str = "table inet filter {
\tset cluster {
\t\ttype ipv4_addr
\t\tflags interval
\t\telements = { 10.0.1.0/24, 10.0.2.11 }
\t}

\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiifname \"lo\" accept
\t\tip saddr @cluster tcp dport { 5432, 8008 } accept
\t\ttcp dport vmap { 22 : accept, 8009 : drop }
\t}
}
";

#[test]
fn listed_ruleset() {
    let (v, spans, diags) = doc(LISTED);
    assert!(diags.is_empty(), "{diags:?}");
    let t = &v["tables"][0];
    assert_eq!(t["family"], "inet");
    assert_eq!(
        t["sets"][0]["elements"],
        json!(["10.0.1.0/24", "10.0.2.11"])
    );
    assert_eq!(t["sets"][0]["flags"], json!(["interval"]));
    let c = &t["chains"][0];
    assert_eq!(
        (
            c["type"].as_str(),
            c["hook"].as_str(),
            c["priority"].as_str(),
            c["policy"].as_str()
        ),
        (Some("filter"), Some("input"), Some("filter"), Some("drop"))
    );
    let r = &c["rules"];
    assert_eq!(
        r[0]["matches"][0],
        json!({"left": "ct state", "op": "==", "right": ["established", "related"]})
    );
    assert_eq!(r[0]["verdict"], "accept");
    assert_eq!(
        r[1]["matches"][0],
        json!({"left": "iifname", "op": "==", "right": ["lo"]})
    );
    assert_eq!(
        r[2]["matches"],
        json!([
            {"left": "ip saddr", "op": "==", "right": ["@cluster"]},
            {"left": "tcp dport", "op": "==", "right": ["5432", "8008"]}
        ])
    );
    assert_eq!(r[3]["vmap"], json!([["22", "accept"], ["8009", "drop"]]));
    assert_eq!(r[3]["verdict"], Value::Null);
    assert_eq!(span(&spans, "/tables/0/chains/0"), Some((8, 14)));
    assert_eq!(span(&spans, "/tables/0/chains/0/rules/2"), Some((12, 12)));
    assert_eq!(span(&spans, "/tables/0/sets/0"), Some((2, 6)));
    assert_eq!(span(&spans, "/tables/0"), Some((1, 15)));
}

#[test]
fn config_file_forms() {
    let src = "#!/usr/sbin/nft -f
flush ruleset
define CLUSTER = { 10.0.1.11, 10.0.1.12 }
define API = 8008

table ip filter {
  chain input { type filter hook input priority 0; policy accept; }
  chain api {
    ip saddr $CLUSTER tcp dport $API counter accept comment \"peers\"
    ip saddr != 10.0.0.0/8 log prefix \"api: \" drop
    tcp dport 8300-8302 meta l4proto { tcp, udp } reject with tcp reset
    meta mark set 1 jump other
  }
}
add rule ip filter input tcp dport 8008 jump api
insert rule ip filter input ct state invalid drop
add table ip6 t6
add chain ip6 t6 in { type filter hook input priority -10 ; policy drop ; }
add set ip6 t6 peers { type ipv6_addr ; }
add element ip6 t6 peers { fd00::1, fd00::2 }
include \"/etc/nftables.d/*.nft\"
";
    let (v, _, diags) = doc(src);
    assert_eq!(diags, vec![("unsupported-include".to_string(), 21)]);
    let (nested, _, _) = doc(
        "define A = { 10.0.0.1, 10.0.0.2 }\ntable t {\n chain c {\n  ip saddr { $A, 10.0.0.3 } accept\n }\n}\n",
    );
    assert_eq!(
        nested["tables"][0]["chains"][0]["rules"][0]["matches"][0]["right"],
        json!(["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    );
    let f = &v["tables"][0];
    let input = &f["chains"][0];
    assert_eq!(input["policy"], "accept");
    assert_eq!(input["priority"], "0");
    assert_eq!(input["rules"][0]["matches"][0]["right"], json!(["invalid"]));
    assert_eq!(input["rules"][1]["verdict"], "jump api");
    let api = &f["chains"][1]["rules"];
    assert_eq!(
        api[0]["matches"],
        json!([
            {"left": "ip saddr", "op": "==", "right": ["10.0.1.11", "10.0.1.12"]},
            {"left": "tcp dport", "op": "==", "right": ["8008"]}
        ])
    );
    assert_eq!(api[0]["verdict"], "accept");
    assert_eq!(api[0]["unknown"], json!([]));
    assert_eq!(api[1]["matches"][0]["op"], "!=");
    assert_eq!(api[1]["verdict"], "drop");
    assert_eq!(
        api[2]["matches"][1],
        json!({"left": "l4proto", "op": "==", "right": ["tcp", "udp"]})
    );
    assert_eq!(api[2]["verdict"], "reject");
    assert_eq!(api[3]["verdict"], "jump other");
    let t6 = &v["tables"][1];
    assert_eq!(t6["family"], "ip6");
    assert_eq!(t6["chains"][0]["priority"], "-10");
    assert_eq!(t6["sets"][0]["elements"], json!(["fd00::1", "fd00::2"]));
}

#[test]
fn bad_statements_are_reported_and_skipped() {
    let src = "table inet f {\n  chain c {\n    type filter hook input;\n    policy maybe;\n    tcp dport 22 accept\n  }\n  bogus thing\n}\nnonsense here\n}\ntable inet g {\n  chain d {\n";
    let (v, _, diags) = doc(src);
    for line in [3, 4, 7, 9, 10, 11, 12] {
        assert!(
            diags.iter().any(|(c, l)| c == "invalid-line" && *l == line),
            "line {line}: {diags:?}"
        );
    }
    assert_eq!(v["tables"][0]["chains"][0]["rules"][0]["verdict"], "accept");
    assert_eq!(v["tables"][1]["name"], "g");
}

#[test]
fn never_panics() {
    let inputs = [
        "",
        "{",
        "}",
        "table",
        "table inet",
        "add rule",
        "add rule inet",
        "add rule inet t",
        "add chain",
        "define",
        "define X =",
        "table t { chain c { tcp dport",
        "table t { chain c { tcp dport {",
        "x $Y",
        "\"",
        "add element t s",
        "table t { set s { elements = { 1,",
        "table t { chain c { type",
        "limit rate",
        "table t { chain c { log prefix",
        "table t { chain c { tcp dport vmap",
        "a \\\nb",
    ];
    for src in inputs {
        let p = parse(src, "x.nft");
        assert!(
            serde_json::from_str::<Value>(&p.value.json).is_ok(),
            "{src}"
        );
    }
}
