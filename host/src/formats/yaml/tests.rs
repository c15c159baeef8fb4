//! Tests of the YAML loader: PyYAML scalar rules (checked against PyYAML 6.0.3's
//! `safe_load` + `json.dumps`), keys, aliases and merges, spans, diagnostics, malformed
//! input.

use serde_json::{Value, json};

use super::parse;

fn json_of(src: &str) -> Value {
    let parsed = parse(src, "t.yml");
    serde_json::from_str(&parsed.value.json)
        .unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", parsed.value.json))
}

fn codes(src: &str) -> Vec<(String, u32)> {
    parse(src, "t.yml")
        .diagnostics
        .into_iter()
        .map(|d| (d.code, d.location.line))
        .collect()
}

fn spans(src: &str) -> Vec<(String, u32, u32)> {
    parse(src, "t.yml")
        .value
        .spans
        .into_iter()
        .map(|s| (s.pointer, s.line, s.end_line))
        .collect()
}

#[test]
fn plain_scalars_resolve_as_pyyaml_does() {
    let cases: &[(&str, Value)] = &[
        // booleans: YAML 1.1 words, three cases each; `y`/`n` stay strings
        ("yes", json!(true)),
        ("Yes", json!(true)),
        ("YES", json!(true)),
        ("no", json!(false)),
        ("on", json!(true)),
        ("On", json!(true)),
        ("OFF", json!(false)),
        ("True", json!(true)),
        ("FALSE", json!(false)),
        ("yEs", json!("yEs")),
        ("y", json!("y")),
        ("n", json!("n")),
        // null
        ("~", json!(null)),
        ("null", json!(null)),
        ("Null", json!(null)),
        ("NULL", json!(null)),
        ("nUll", json!("nUll")),
        ("", json!(null)),
        // integers
        ("0", json!(0)),
        ("-0", json!(0)),
        ("00", json!(0)),
        ("017", json!(15)),
        ("0_7", json!(7)),
        ("08", json!("08")),
        ("0o17", json!("0o17")),
        ("0x1F", json!(31)),
        ("0x_1F", json!(31)),
        ("-0x10", json!(-16)),
        ("0X1F", json!("0X1F")),
        ("0b101", json!(5)),
        ("+12", json!(12)),
        ("1_000", json!(1000)),
        ("1:30", json!(90)),
        ("-1:30", json!(-90)),
        ("1:60", json!("1:60")),
        ("190:20:30", json!(685230)),
        ("01:30", json!("01:30")),
        // floats need a dot; an exponent needs a sign
        ("1.0", json!(1.0)),
        ("1.", json!(1.0)),
        (".5", json!(0.5)),
        ("-.5", json!("-.5")),
        ("1.0e+3", json!(1000.0)),
        ("1.0E-3", json!(0.001)),
        ("1.5e3", json!("1.5e3")),
        ("1e3", json!("1e3")),
        ("1_000.5", json!(1000.5)),
        ("190:20:30.15", json!(685230.15)),
        (".inf", json!(".inf")),
        ("-.Inf", json!("-.inf")),
        (".NaN", json!(".nan")),
        ("nan", json!("nan")),
        ("1.2.3", json!("1.2.3")),
        // strings
        ("0.0.0.0:8008", json!("0.0.0.0:8008")),
        ("2001-12-14", json!("2001-12-14")),
        ("a:b", json!("a:b")),
        ("12abc", json!("12abc")),
        ("ünï", json!("ünï")),
    ];
    for (text, want) in cases {
        assert_eq!(
            json_of(&format!("v: {text}\n"))["v"],
            *want,
            "plain `{text}`"
        );
    }
}

#[test]
fn big_integers_keep_every_digit() {
    let cases = [
        ("99999999999999999999999999", "99999999999999999999999999"),
        (
            "0x1ffffffffffffffffffffffffffffffff",
            "680564733841876926926749214863536422911",
        ),
        (
            "-0777777777777777777777777777",
            "-2417851639229258349412351",
        ),
    ];
    for (text, digits) in cases {
        assert_eq!(
            parse(&format!("v: {text}"), "t").value.json,
            format!("{{\"v\":{digits}}}")
        );
    }
}

#[test]
fn quoted_block_and_tagged_scalars() {
    let cases: &[(&str, Value)] = &[
        ("v: 'on'", json!({"v": "on"})),
        ("v: \"123\"", json!({"v": "123"})),
        ("v: ''", json!({"v": ""})),
        ("v: 'it''s'", json!({"v": "it's"})),
        ("v: \"t\\tq\\\"\\u00e9\"", json!({"v": "t\tq\"é"})),
        ("v: |\n  on\n  off\n", json!({"v": "on\noff\n"})),
        ("v: >-\n  a\n  b\n", json!({"v": "a b"})),
        ("v: !!str 123", json!({"v": "123"})),
        ("v: !!str", json!({"v": ""})),
        ("v: !!int '12'", json!({"v": 12})),
        ("v: !!int 0o17", json!({"v": 15})),
        ("v: !!float 1", json!({"v": 1.0})),
        ("v: !!bool 'off'", json!({"v": false})),
        ("v: !!null x", json!({"v": null})),
        // the non-specific tag resolves the text as if it were plain, quoted or not
        ("v: ! 12", json!({"v": 12})),
        ("v: ! '12'", json!({"v": 12})),
        ("v: plain\n  continued", json!({"v": "plain continued"})),
    ];
    for (src, want) in cases {
        assert_eq!(json_of(src), *want, "{src:?}");
    }
}

#[test]
fn keys_become_json_text_like_json_dumps() {
    let cases: &[(&str, Value)] = &[
        (
            "{1: a, null: c, 1.5: d, '2': e}",
            json!({"1": "a", "null": "c", "1.5": "d", "2": "e"}),
        ),
        // `on`, `true` and `1` are one Python key; the first one's text stays
        ("{1: a, true: b, on: c}", json!({"1": "c"})),
        ("{yes: a}", json!({"true": "a"})),
        ("{1.0: a, 1: b}", json!({"1.0": "b"})),
        // distinct Python keys, same JSON text: a JSON reader keeps the last
        ("{1: a, '1': b}", json!({"1": "b"})),
        ("{'1': a, 1: b}", json!({"1": "b"})),
        ("{true: a, 'true': b, 1: c}", json!({"true": "b"})),
        ("0x10: a", json!({"16": "a"})),
        (
            "'quoted: key': 1\nkey with spaces: 2",
            json!({"quoted: key": 1, "key with spaces": 2}),
        ),
        ("a/b: 1\nc~d: 2", json!({"a/b": 1, "c~d": 2})),
    ];
    for (src, want) in cases {
        assert_eq!(json_of(src), *want, "{src:?}");
    }
    let pointers: Vec<String> = spans("a/b: 1\nc~d: 2").into_iter().map(|s| s.0).collect();
    assert_eq!(pointers, ["", "/a~1b", "/c~0d"]);
}

#[test]
fn aliases_and_merge_keys() {
    let cases: &[(&str, Value)] = &[
        (
            "a: &a [1, 2]\nb: *a\nc: [*a, *a]",
            json!({"a": [1, 2], "b": [1, 2], "c": [[1, 2], [1, 2]]}),
        ),
        ("a: &x on\nb: *x", json!({"a": true, "b": true})),
        // own keys win over merged ones, wherever the `<<` is
        (
            "b: &b {x: 1, y: 2}\nc:\n  y: 3\n  <<: *b\n",
            json!({"b": {"x": 1, "y": 2}, "c": {"y": 3, "x": 1}}),
        ),
        // in a list, earlier mappings win
        (
            "a: &a {x: 1}\nb: &b {x: 2, z: 3}\nc:\n  <<: [*a, *b]\n  w: 0\n",
            json!({"a": {"x": 1}, "b": {"x": 2, "z": 3}, "c": {"x": 1, "z": 3, "w": 0}}),
        ),
        (
            "a: &a {x: 1}\nc:\n  <<: *a\n  <<: {x: 5, q: 1}\n",
            json!({"a": {"x": 1}, "c": {"x": 5, "q": 1}}),
        ),
        ("c:\n  '<<': {x: 1}\n", json!({"c": {"<<": {"x": 1}}})),
    ];
    for (src, want) in cases {
        assert_eq!(json_of(src), *want, "{src:?}");
    }
    // a merged or aliased value's spans point at the alias
    let s = spans("base: &b\n  a: 1\n  b:\n    c: 2\nd:\n  <<: *b\ne: *b\n");
    assert!(s.contains(&("/d/a".into(), 6, 6)), "{s:?}");
    assert!(s.contains(&("/d/b/c".into(), 6, 6)), "{s:?}");
    assert!(s.contains(&("/e".into(), 7, 7)), "{s:?}");
    assert!(s.contains(&("/e/b/c".into(), 7, 7)), "{s:?}");
}

#[test]
fn spans_give_the_line_of_the_key_or_dash_and_the_last_line() {
    let src = "\
# patroni
scope: demo
restapi:
  listen: 0.0.0.0:8008   # comment
  authentication:
    username: u
    password: p

  allowlist:
  - 10.0.0.0/8
  -
    nested: 1
  - - x
    - y
  flow: {a: 1,
    b: [x, y]}
  lit: |
    one
    two

  folded: >-
    f1
    f2
  quoted: \"multi
    line\"
  empty:
ctl: {insecure: true}
";
    let want: &[(&str, u32, u32)] = &[
        ("", 2, 27),
        ("/scope", 2, 2),
        ("/restapi", 3, 26),
        ("/restapi/listen", 4, 4),
        ("/restapi/authentication", 5, 7),
        ("/restapi/authentication/password", 7, 7),
        ("/restapi/allowlist", 9, 14),
        ("/restapi/allowlist/0", 10, 10),
        ("/restapi/allowlist/1", 11, 12),
        ("/restapi/allowlist/1/nested", 12, 12),
        ("/restapi/allowlist/2", 13, 14),
        ("/restapi/allowlist/2/0", 13, 13),
        ("/restapi/allowlist/2/1", 14, 14),
        ("/restapi/flow", 15, 16),
        ("/restapi/flow/b", 16, 16),
        ("/restapi/flow/b/1", 16, 16),
        ("/restapi/lit", 17, 19),
        ("/restapi/folded", 21, 23),
        ("/restapi/quoted", 24, 25),
        ("/restapi/empty", 26, 26),
        ("/ctl", 27, 27),
        ("/ctl/insecure", 27, 27),
    ];
    let got = spans(src);
    for (pointer, line, end) in want {
        let found = got.iter().find(|s| s.0 == *pointer);
        assert_eq!(
            found,
            Some(&(pointer.to_string(), *line, *end)),
            "span of `{pointer}`"
        );
    }
    assert_eq!(got.len(), 25, "one span per value: {got:?}");
}

#[test]
fn spans_with_crlf_bom_and_comments_between_dash_and_item() {
    let got = spans("\u{feff}a:\r\n  - # the first\r\n    b: 1\r\n  - é\r\nc: 2");
    assert_eq!(
        got,
        [
            ("".into(), 1, 5),
            ("/a".into(), 1, 4),
            ("/a/0".into(), 2, 3),
            ("/a/0/b".into(), 3, 3),
            ("/a/1".into(), 4, 4),
            ("/c".into(), 5, 5)
        ]
    );
}

#[test]
fn quoted_strings_continued_at_any_indentation_load_as_in_pyyaml() {
    // saphyr refuses continuation lines left of the block indentation; PyYAML does not
    let src = "a:\n  b: \"x\ny\"\n  c: 1\nl:\n- \"p\nq\"\n- 'r\n\ns'\n";
    assert_eq!(
        json_of(src),
        json!({"a": {"b": "x y", "c": 1}, "l": ["p q", "r\ns"]})
    );
    assert!(spans(src).contains(&("/a/b".into(), 2, 3)));
    assert!(spans(src).contains(&("/l/1".into(), 8, 10)));
    assert!(parse(src, "t").diagnostics.is_empty());
}

#[test]
fn json_documents_parse_as_yaml() {
    let src = "{\n  \"a\": {\"b\": [1, 2.5, null, true, \"x\"]},\n  \"c\": \"on\"\n}\n";
    assert_eq!(
        json_of(src),
        json!({"a": {"b": [1, 2.5, null, true, "x"]}, "c": "on"})
    );
    assert!(spans(src).contains(&("/c".into(), 3, 3)));
}

#[test]
fn empty_documents_are_null_without_diagnostics() {
    for src in ["", "\n\n", "# only a comment\n", "---\n", "---\n...\n"] {
        let parsed = parse(src, "t.yml");
        assert_eq!(parsed.value.json, "null", "{src:?}");
        assert!(
            parsed.diagnostics.is_empty(),
            "{src:?}: {:?}",
            parsed.diagnostics
        );
    }
    assert_eq!(json_of("--- 12\n"), json!(12));
}

#[test]
fn diagnostics_for_what_pyyaml_would_refuse_or_overrule() {
    let cases: &[(&str, &[(&str, u32)])] = &[
        ("a: 1\nb: 2\na: 3\n", &[("duplicate-key", 3)]),
        ("a:\n  x: 1\n  x: 2\n", &[("duplicate-key", 3)]),
        ("{1: a, '1': b}", &[("duplicate-key", 1)]),
        ("b: &b {x: 1}\nc:\n  <<: *b\n  x: 2\n", &[]),
        ("a: 1\n---\nb: 2\n", &[("multiple-documents", 2)]),
        ("a: 1\n...\n", &[]),
        ("a: !foo bar\n", &[("unsupported-value", 1)]),
        ("a: !!int abc\n", &[("unsupported-value", 1)]),
        ("a: =\n", &[("unsupported-value", 1)]),
        ("? [a]\n: 1\nb: 2\n", &[("unsupported-value", 1)]),
        ("a:\n  <<: 1\n", &[("unsupported-value", 2)]),
    ];
    for (src, want) in cases {
        let got = codes(src);
        let got: Vec<(&str, u32)> = got.iter().map(|(c, l)| (c.as_str(), *l)).collect();
        assert_eq!(got, *want, "{src:?}");
    }
    assert_eq!(json_of("a: 1\na: 3\n"), json!({"a": 3}));
    assert_eq!(json_of("a: 1\n---\nb: 2\n"), json!({"a": 1}));
}

#[test]
fn malformed_input_gives_null_and_one_invalid_yaml_diagnostic() {
    let cases: &[(&str, u32)] = &[
        ("a: 1\n b: 2\n", 2),
        ("a: [1, 2\nb: 1\n", 2),
        ("a: \"x\n", 1),
        ("a: 1\n\t- x\n", 2),
        ("a: *nope\n", 1),
        ("a:\n  - 1\n  b: 2\n", 3),
        ("key: value\n- item\n", 2),
        ("a: &x [*x]\n", 1),
        ("{", 1),
        ("]", 1),
        // zalando/patroni docs/dynamic_configuration.rst: an example with `...` left in
        // a mapping; PyYAML says "while scanning a simple key" on the `...` line.
        (
            "slots:\n  s1:\n    type: physical\n  ...\nignore_slots:\n  - name: x\n",
            4,
        ),
        ("a: 1\n# c\nb\n\nc: 2\n", 3),
        ("a: 1\nb\n", 2),
    ];
    for (src, line) in cases {
        let parsed = parse(src, "conf/patroni.yml");
        assert_eq!(parsed.value.json, "null", "{src:?}");
        assert!(parsed.value.spans.is_empty(), "{src:?}");
        assert_eq!(parsed.diagnostics.len(), 1, "{src:?}");
        let d = &parsed.diagnostics[0];
        assert_eq!(
            (d.code.as_str(), d.location.line, d.location.file.as_str()),
            ("invalid-yaml", *line, "conf/patroni.yml"),
            "{src:?}: {}",
            d.message
        );
        assert!(
            d.message.starts_with("cannot parse YAML: "),
            "{}",
            d.message
        );
    }
}

#[test]
fn hostile_input_is_refused_not_expanded() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8u8 {
        let (name, prev) = ((b'b' + i) as char, (b'a' + i) as char);
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 10].join(", ")
        ));
    }
    let parsed = parse(&bomb, "t");
    assert_eq!(parsed.value.json, "null");
    assert_eq!(parsed.diagnostics[0].code, "invalid-yaml");

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parse(&deep, "t").diagnostics[0].code, "invalid-yaml");
    let deep_block: String = (0..2000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    assert_eq!(parse(&deep_block, "t").diagnostics[0].code, "invalid-yaml");
}

#[test]
fn large_documents_load() {
    let src: String = (0..20_000)
        .map(|i| format!("k{i}:\n  listen: 0.0.0.0:{i}  # c\n  list: [a, {{b: {i}}}]\n"))
        .collect();
    let parsed = parse(&src, "t");
    assert!(parsed.diagnostics.is_empty());
    assert_eq!(parsed.value.spans.len(), 1 + 20_000 * 6);
    let v: Value = serde_json::from_str(&parsed.value.json).unwrap_or_default();
    assert_eq!(v["k19999"]["list"][1]["b"], json!(19999));
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_stack_overflow() {
    let n = 12_000;
    let block: String = (0..1000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    let flow = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    for src in [
        flow(n),
        flow(150),
        format!("{}{}", "{\"a\": ".repeat(n), "}".repeat(n)),
        block,
    ] {
        let p = parse(&src, "deep.yml");
        assert_eq!(p.diagnostics.len(), 1, "{:?}", p.diagnostics);
        // saphyr-parser itself stops flow collections at 256 levels.
        let m = &p.diagnostics[0].message;
        assert!(
            m.contains("deeper than 100 levels") || m.contains("recursion limit exceeded"),
            "{m}"
        );
        assert!(p.diagnostics[0].location.line <= 101, "{:?}", p.diagnostics);
    }
    let p = parse(&flow(150), "deep.yml");
    assert!(
        p.diagnostics[0].message.contains("deeper than 100 levels"),
        "{:?}",
        p.diagnostics
    );
    // What is accepted, policies can read back with serde_json.
    let p = parse(&flow(99), "ok.yml");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert!(serde_json::from_str::<Value>(&p.value.json).is_ok());
}

/// Lines are the file's `\n` lines, as reports, edits and diffs count them: a bare `\r`
/// breaks a YAML line (saphyr reads `b` as a key of its own) but starts no line of the
/// file (fuzz seed `yaml-bare-cr-*`).
#[test]
fn a_bare_cr_starts_no_line() {
    let src = "a: 1\rb: 2\nc: 3\r\r\rd: 4\n";
    assert_eq!(json_of(src), json!({"a": 1, "b": 2, "c": 3, "d": 4}));
    let s = spans(src);
    for want in [("", 1, 2), ("/b", 1, 1), ("/c", 2, 2), ("/d", 2, 2)] {
        let want = (want.0.to_string(), want.1, want.2);
        assert!(s.contains(&want), "{want:?} not in {s:?}");
    }
    // Errors: on a line of the file, even when saphyr stops past many bare `\r`.
    assert_eq!(
        codes("a: 1\r\r\r\rb: [x\r\r\r\r"),
        [("invalid-yaml".into(), 1)]
    );
    assert_eq!(
        codes("a: 1\nb: 2\r\r\r\r\r\rb: 3\n"),
        [("duplicate-key".into(), 2)]
    );
    let d = &parse("x: 1\ny: [\r\r\r", "t.yml").diagnostics[0];
    assert_eq!(d.location.line, 2, "{d:?}");
    assert!(d.message.contains("(line 2, column"), "{d:?}");
}
