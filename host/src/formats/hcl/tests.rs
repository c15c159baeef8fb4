use super::*;

fn parsed(src: &str) -> (Value, Vec<wit::Span>, Vec<(String, u32)>) {
    let p = parse(src, "consul.hcl");
    let v: Value = serde_json::from_str(&p.value.json).expect("valid JSON");
    let d = p
        .diagnostics
        .into_iter()
        .map(|d| (d.code, d.location.line))
        .collect();
    (v, p.value.spans, d)
}

fn line_of(spans: &[wit::Span], pointer: &str) -> Option<(u32, u32)> {
    spans
        .iter()
        .find(|s| s.pointer == pointer)
        .map(|s| (s.line, s.end_line))
}

#[test]
fn consul_agent_config() {
    let src = r#"# Consul agent on pg-node1
datacenter = "dc1"
data_dir   = "/opt/consul"
encrypt    = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
retry_join = ["10.0.1.31", "10.0.1.32",
              "10.0.1.33"]
ports {
  http  = -1
  https = 8501   // TLS only
}
/* ACLs: deny
   by default */
acl {
  enabled        = true
  default_policy = "deny"
  tokens { agent = "x" }
}
tls {
  defaults {
    ca_file = "/etc/consul.d/ca.pem"
    verify_incoming = true
  }
  internal_rpc { verify_server_hostname = true }
}
server = false
ratio = 0.5
"#;
    let (v, spans, diags) = parsed(src);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(v["datacenter"], "dc1");
    assert_eq!(
        v["retry_join"],
        serde_json::json!(["10.0.1.31", "10.0.1.32", "10.0.1.33"])
    );
    assert_eq!(v["ports"]["http"], -1);
    assert_eq!(v["acl"]["default_policy"], "deny");
    assert_eq!(v["acl"]["tokens"]["agent"], "x");
    assert_eq!(v["tls"]["defaults"]["verify_incoming"], true);
    assert_eq!(v["tls"]["internal_rpc"]["verify_server_hostname"], true);
    assert_eq!(v["server"], false);
    assert_eq!(v["ratio"], 0.5);
    assert_eq!(line_of(&spans, "/encrypt"), Some((4, 4)));
    assert_eq!(line_of(&spans, "/retry_join"), Some((5, 6)));
    assert_eq!(line_of(&spans, "/ports"), Some((7, 10)));
    assert_eq!(line_of(&spans, "/ports/https"), Some((9, 9)));
    assert_eq!(line_of(&spans, "/acl/default_policy"), Some((15, 15)));
    assert_eq!(
        line_of(&spans, "/tls/defaults/verify_incoming"),
        Some((21, 21))
    );
    assert_eq!(line_of(&spans, ""), Some((1, 26)));
}

#[test]
fn labels_repeats_heredocs_and_strings() {
    let src = "service \"web\" {\n  port = 80\n}\nservice \"db\" {\n  port = 5432\n}\ncheck {\n  id = \"a\"\n}\ncheck {\n  id = \"b\"\n}\nnote = <<EOF\nline one\n  two\nEOF\nname = \"a\\\"b\\u00e9${node.name}\"\nobj = { a = 1, \"b\": [true, false] }\n";
    let (v, spans, diags) = parsed(src);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(v["service"]["web"]["port"], 80);
    assert_eq!(v["service"]["db"]["port"], 5432);
    assert_eq!(v["check"][0]["id"], "a");
    assert_eq!(v["check"][1]["id"], "b");
    assert_eq!(v["note"], "line one\n  two\n");
    assert_eq!(v["name"], "a\"bé${node.name}");
    assert_eq!(v["obj"]["b"], serde_json::json!([true, false]));
    assert_eq!(line_of(&spans, "/check/1/id"), Some((11, 11)));
    assert_eq!(line_of(&spans, "/note"), Some((13, 16)));
    assert_eq!(line_of(&spans, "/name"), Some((17, 17)));
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let src =
        "a = 1\nb = \nc = \"unterminated\nd {\n  e = = 2\n  f = 3\n}\ng = [1, 2\nh = true\na = 2\n";
    let (v, _, diags) = parsed(src);
    assert_eq!(v["a"], 2);
    assert_eq!(v["d"]["f"], 3);
    assert_eq!(v["h"], true);
    for line in [2, 3, 5, 8] {
        assert!(
            diags.contains(&("invalid-line".to_string(), line)),
            "line {line}: {diags:?}"
        );
    }
    assert!(
        diags.contains(&("duplicate-key".to_string(), 10)),
        "{diags:?}"
    );
}

#[test]
fn unclosed_block_is_reported_at_its_line() {
    let (v, _, diags) = parsed("acl {\n  enabled = true\n");
    assert_eq!(v["acl"]["enabled"], true);
    assert_eq!(diags, vec![("invalid-line".to_string(), 1)]);
}

#[test]
fn never_panics() {
    let inputs = [
        "",
        "{",
        "}",
        "a",
        "a =",
        "a = [",
        "a = {",
        "\"",
        "<<",
        "<<EOF",
        "a = <<EOF\nx",
        "/*",
        "a = \"\\u12\"",
        "a b c",
        "a = 1 2",
        "= 1",
        "a { b { c {",
        "]]]",
        "a = -",
        "a = 1e",
        "a = 0x",
        "\u{feff}a = 1",
        "a = \"${\"",
        "a = [1,,2]",
    ];
    for src in inputs {
        let p = parse(src, "x.hcl");
        assert!(
            serde_json::from_str::<Value>(&p.value.json).is_ok(),
            "{src}"
        );
    }
    let file = include_str!("../../../../examples/insecure/consul.hcl");
    for end in (0..file.len()).filter(|i| file.is_char_boundary(*i)) {
        let p = parse(&file[..end], "consul.hcl");
        assert!(serde_json::from_str::<Value>(&p.value.json).is_ok());
    }
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_stack_overflow() {
    let n = 12_000;
    for (src, line) in [
        (format!("{}\n{}", "a {\n".repeat(n), "}\n".repeat(n)), 100),
        (format!("x = {}{}\n", "[".repeat(n), "]".repeat(n)), 1),
        (format!("x = {}{}\n", "{a = ".repeat(n), "}".repeat(n)), 1),
        (format!("a {} {{\n}}\n", "\"l\" ".repeat(n)), 1),
    ] {
        let p = parse(&src, "consul.hcl");
        let d: Vec<_> = p
            .diagnostics
            .iter()
            .map(|d| (d.message.as_str(), d.location.line))
            .collect();
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].0.contains("deeper than 100 levels"), "{d:?}");
        assert!(d[0].1.abs_diff(line) <= 1, "{d:?}");
        assert!(serde_json::from_str::<Value>(&p.value.json).is_ok());
    }
    // 90 levels are fine, and policies can read them back.
    let (_, _, diags) = parsed(&format!("{}{}", "a {\n".repeat(90), "}\n".repeat(90)));
    assert!(diags.is_empty(), "{diags:?}");
}
