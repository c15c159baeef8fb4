use super::*;
use wit::{NftOp, NftRule, NftVerdict};

fn doc(src: &str) -> (Vec<wit::NftTable>, Vec<(String, u32)>) {
    let p = parse(src, "fw.nft");
    let d = p
        .diagnostics
        .into_iter()
        .map(|d| (d.code, d.location.line))
        .collect();
    (p.value, d)
}

/// A match as (left, op, right).
fn m(left: &str, op: NftOp, right: &[&str]) -> (String, NftOp, Vec<String>) {
    (
        left.to_string(),
        op,
        right.iter().map(|r| r.to_string()).collect(),
    )
}

fn matches(r: &NftRule) -> Vec<(String, NftOp, Vec<String>)> {
    r.matches
        .iter()
        .map(|x| (x.left.clone(), x.op, x.right.clone()))
        .collect()
}

/// A verdict as nft writes it.
fn verdict(v: &Option<NftVerdict>) -> String {
    match v {
        None => "-".into(),
        Some(NftVerdict::Accept) => "accept".into(),
        Some(NftVerdict::Drop) => "drop".into(),
        Some(NftVerdict::Reject) => "reject".into(),
        Some(NftVerdict::Queue) => "queue".into(),
        Some(NftVerdict::Continue) => "continue".into(),
        Some(NftVerdict::Return) => "return".into(),
        Some(NftVerdict::Jump(c)) => format!("jump {c}"),
        Some(NftVerdict::Goto(c)) => format!("goto {c}"),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
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
    let (v, diags) = doc(LISTED);
    assert!(diags.is_empty(), "{diags:?}");
    let t = &v[0];
    assert_eq!(t.family, wit::NftFamily::Inet);
    assert_eq!(t.sets[0].elements, strings(&["10.0.1.0/24", "10.0.2.11"]));
    assert_eq!(t.sets[0].flags, strings(&["interval"]));
    assert_eq!(t.sets[0].key_type, "ipv4_addr");
    let c = &t.chains[0];
    assert!(matches!(c.chain_type, Some(wit::NftChainType::Filter)));
    assert!(matches!(c.hook, Some(wit::NftHook::Input)));
    assert_eq!(c.priority.as_deref(), Some("filter"));
    assert_eq!(c.policy, Some(wit::NftPolicy::Drop));
    let r = &c.rules;
    assert_eq!(
        matches(&r[0]),
        vec![m("ct state", NftOp::Eq, &["established", "related"])]
    );
    assert_eq!(verdict(&r[0].verdict), "accept");
    assert_eq!(matches(&r[1]), vec![m("iifname", NftOp::Eq, &["lo"])]);
    assert_eq!(
        matches(&r[2]),
        vec![
            m("ip saddr", NftOp::Eq, &["@cluster"]),
            m("tcp dport", NftOp::Eq, &["5432", "8008"])
        ]
    );
    assert_eq!(
        r[2].text,
        "ip saddr @cluster tcp dport { 5432, 8008 } accept"
    );
    let vmap: Vec<(String, String)> = r[3]
        .vmap
        .iter()
        .flatten()
        .map(|e| (e.value.clone(), verdict(&e.verdict)))
        .collect();
    assert_eq!(
        vmap,
        vec![
            ("22".into(), "accept".into()),
            ("8009".into(), "drop".into())
        ]
    );
    assert_eq!(matches(&r[3]), vec![m("tcp dport", NftOp::Vmap, &[])]);
    assert_eq!(verdict(&r[3].verdict), "-");
    assert_eq!((c.line, c.end_line), (8, 14));
    assert_eq!(r[2].line, 12);
    assert_eq!((t.sets[0].line, t.sets[0].end_line), (2, 6));
    assert_eq!((t.line, t.end_line), (1, 15));
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
    let (v, diags) = doc(src);
    assert_eq!(diags, vec![("unsupported-include".to_string(), 21)]);
    let (nested, _) = doc(
        "define A = { 10.0.0.1, 10.0.0.2 }\ntable t {\n chain c {\n  ip saddr { $A, 10.0.0.3 } accept\n }\n}\n",
    );
    assert_eq!(
        nested[0].chains[0].rules[0].matches[0].right,
        strings(&["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    );
    let f = &v[0];
    let input = &f.chains[0];
    assert_eq!(input.policy, Some(wit::NftPolicy::Accept));
    assert_eq!(input.priority.as_deref(), Some("0"));
    assert_eq!(input.rules[0].matches[0].right, strings(&["invalid"]));
    assert_eq!(input.rules[0].line, 16);
    assert_eq!(verdict(&input.rules[1].verdict), "jump api");
    let api = &f.chains[1].rules;
    assert_eq!(
        matches(&api[0]),
        vec![
            m("ip saddr", NftOp::Eq, &["10.0.1.11", "10.0.1.12"]),
            m("tcp dport", NftOp::Eq, &["8008"])
        ]
    );
    assert_eq!(verdict(&api[0].verdict), "accept");
    assert!(api[0].unknown.is_empty());
    assert_eq!(api[1].matches[0].op, NftOp::Ne);
    assert_eq!(verdict(&api[1].verdict), "drop");
    assert_eq!(
        matches(&api[2])[1],
        m("l4proto", NftOp::Eq, &["tcp", "udp"])
    );
    assert_eq!(verdict(&api[2].verdict), "reject");
    assert_eq!(verdict(&api[3].verdict), "jump other");
    let t6 = &v[1];
    assert_eq!(t6.family, wit::NftFamily::Ip6);
    assert_eq!(t6.chains[0].priority.as_deref(), Some("-10"));
    assert_eq!(t6.sets[0].elements, strings(&["fd00::1", "fd00::2"]));
}

#[test]
fn bad_statements_are_reported_and_skipped() {
    let src = "table inet f {\n  chain c {\n    type filter hook input;\n    policy maybe;\n    tcp dport 22 accept\n  }\n  bogus thing\n}\nnonsense here\n}\ntable inet g {\n  chain d {\n";
    let (v, diags) = doc(src);
    for line in [3, 4, 7, 9, 10, 11, 12] {
        assert!(
            diags.iter().any(|(c, l)| c == "invalid-line" && *l == line),
            "line {line}: {diags:?}"
        );
    }
    assert_eq!(verdict(&v[0].chains[0].rules[0].verdict), "accept");
    assert_eq!(v[0].chains[0].policy, None);
    assert_eq!(v[1].name, "g");
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
        // Every line named is a line of the input (or one past its end).
        let last = src.lines().count() as u32 + 1;
        for t in &p.value {
            assert!(t.line <= last && t.end_line <= last, "{src}");
            for c in &t.chains {
                assert!(c.rules.iter().all(|r| r.line <= last), "{src}");
            }
        }
    }
}
