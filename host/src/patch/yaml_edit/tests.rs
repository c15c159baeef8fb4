//! Tests of the YAML editor: before/after tables for the edits policies ask for, and a
//! sweep that sets and removes every pointer of several documents, checking each time
//! that the result loads to the old value with the edit applied.

use serde_json::{Value, json};

use super::{YamlEdit, apply, parse_pointer, remove_json, set_json};
use crate::formats::yaml::parse;

fn value_of(src: &str) -> Value {
    let parsed = parse(src, "t.yml");
    assert!(
        !parsed.diagnostics.iter().any(|d| d.code == "invalid-yaml"),
        "does not parse: {src}\n{:?}",
        parsed.diagnostics
    );
    serde_json::from_str(&parsed.value.json).unwrap_or(Value::Null)
}

fn set(pointer: &str, value: Value) -> YamlEdit {
    YamlEdit::Set {
        pointer: pointer.into(),
        value,
    }
}

fn remove(pointer: &str) -> YamlEdit {
    YamlEdit::Remove {
        pointer: pointer.into(),
    }
}

/// What the edit means on the JSON value of `src`.
fn expected(src: &str, edit: &YamlEdit) -> Result<Value, String> {
    let mut expected = value_of(src);
    match edit {
        YamlEdit::Set { pointer, value } => {
            set_json(&mut expected, &parse_pointer(pointer)?, value.clone())
        }
        YamlEdit::Remove { pointer } => remove_json(&mut expected, &parse_pointer(pointer)?),
    }?;
    Ok(expected)
}

/// Applies `edit` and checks the property every edit must have: the result loads to the
/// original value with the edit applied, and adds no diagnostics. Returns the new text.
fn check(src: &str, edit: &YamlEdit) -> String {
    let out = apply(src, std::slice::from_ref(edit))
        .unwrap_or_else(|e| panic!("{edit:?} on\n{src}\nfailed: {e}"));
    let expected = expected(src, edit).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(value_of(&out), expected, "{edit:?} on\n{src}\ngave\n{out}");
    let before = parse(src, "t").diagnostics.len();
    assert!(
        parse(&out, "t").diagnostics.len() <= before,
        "{edit:?} added diagnostics:\n{out}"
    );
    out
}

const PATRONI: &str = "\
# Patroni configuration
scope: demo
name: node1

restapi:
  listen: 0.0.0.0:8008   # all interfaces
  connect_address: 10.0.0.1:8008
  # certfile: /etc/ssl/patroni.pem

ctl:
  insecure: true
  certfile: /etc/ssl/ctl.pem

postgresql:
  pg_hba:
  - host all all 0.0.0.0/0 md5
  - local all all peer
  parameters: {ssl: 'off', max_connections: 100}
";

#[test]
fn edits_policies_ask_for() {
    let cases: &[(&str, YamlEdit, &str)] = &[
        // a new block inside a section followed by comments and other sections
        (
            PATRONI,
            set(
                "/restapi/authentication",
                json!({"username": "patroni", "password": "s3cret"}),
            ),
            "restapi:\n  listen: 0.0.0.0:8008   # all interfaces\n  connect_address: 10.0.0.1:8008\n  authentication:\n    password: s3cret\n    username: patroni\n  # certfile: /etc/ssl/patroni.pem\n\nctl:\n",
        ),
        // a scalar changed in place, its comment kept
        (
            PATRONI,
            set("/restapi/listen", json!("127.0.0.1:8008")),
            "  listen: 127.0.0.1:8008   # all interfaces\n",
        ),
        // a list added
        (
            PATRONI,
            set("/restapi/allowlist", json!(["10.0.0.0/8", "127.0.0.1"])),
            "  connect_address: 10.0.0.1:8008\n  allowlist:\n  - 10.0.0.0/8\n  - 127.0.0.1\n  # certfile",
        ),
        // a key removed, the lines around it untouched
        (
            PATRONI,
            remove("/ctl/insecure"),
            "\nctl:\n  certfile: /etc/ssl/ctl.pem\n\npostgresql:\n",
        ),
        // inside a flow mapping
        (
            PATRONI,
            set("/postgresql/parameters/ssl", json!("on")),
            "  parameters: {ssl: 'on', max_connections: 100}\n",
        ),
        (
            PATRONI,
            set(
                "/postgresql/parameters/ssl_cert_file",
                json!("/etc/ssl/s.crt"),
            ),
            "  parameters: {ssl: 'off', max_connections: 100, ssl_cert_file: /etc/ssl/s.crt}\n",
        ),
        (
            PATRONI,
            remove("/postgresql/parameters/ssl"),
            "  parameters: {max_connections: 100}\n",
        ),
        // a missing section created with its parents
        (
            PATRONI,
            set("/etcd3/protocol", json!("https")),
            "  parameters: {ssl: 'off', max_connections: 100}\netcd3:\n  protocol: https\n",
        ),
        (
            PATRONI,
            set("/ctl/cacert", json!("/etc/ssl/ca.pem")),
            "ctl:\n  insecure: true\n  certfile: /etc/ssl/ctl.pem\n  cacert: /etc/ssl/ca.pem\n\npostgresql:",
        ),
        // sequences
        (
            PATRONI,
            set(
                "/postgresql/pg_hba/-",
                json!("hostssl all all 0.0.0.0/0 scram-sha-256"),
            ),
            "  - local all all peer\n  - hostssl all all 0.0.0.0/0 scram-sha-256\n  parameters",
        ),
        (
            PATRONI,
            set(
                "/postgresql/pg_hba/0",
                json!("hostssl all all 0.0.0.0/0 scram-sha-256"),
            ),
            "  pg_hba:\n  - hostssl all all 0.0.0.0/0 scram-sha-256\n  - local",
        ),
        (
            PATRONI,
            remove("/postgresql/pg_hba/0"),
            "  pg_hba:\n  - local all all peer\n  parameters",
        ),
        // keys and values that need quoting
        (
            PATRONI,
            set("/restapi/on", json!("yes")),
            "  connect_address: 10.0.0.1:8008\n  'on': 'yes'\n",
        ),
        (
            PATRONI,
            set("/restapi/verify_client", json!("required")),
            "  verify_client: required\n",
        ),
        (
            PATRONI,
            set(
                "/x",
                json!({"a: b": "c #d", "123": "", "t": "1:30", "n": 1.0e20, "m": null}),
            ),
            "x:\n  '123': ''\n  'a: b': 'c #d'\n  m: null\n  n: 1.0e+20\n  t: '1:30'\n",
        ),
        (
            PATRONI,
            set("/y", json!("line\nbreak\ttab")),
            "y: \"line\\nbreak\\ttab\"\n",
        ),
        // replacing a scalar with a block and back
        (
            PATRONI,
            set("/restapi/listen", json!({"host": "::", "port": 8008})),
            "restapi:\n  listen: # all interfaces\n    host: '::'\n    port: 8008\n  connect_address",
        ),
        (
            PATRONI,
            set("/ctl", json!("off")),
            "\nctl: 'off'\n\npostgresql:\n",
        ),
        (
            PATRONI,
            set("/ctl", json!({})),
            "\nctl: {}\n\npostgresql:\n",
        ),
    ];
    for (src, edit, want) in cases {
        let out = check(src, edit);
        assert!(
            out.contains(want),
            "{edit:?} gave\n{out}\nwhich lacks\n{want}"
        );
    }
}

#[test]
fn untouched_bytes_survive() {
    // CRLF line endings, no final newline, a BOM, blank lines and comments
    let src = "\u{feff}# top\r\na: 1 # one\r\n\r\nb:\r\n  c: 2\r\n  # inside\r\nd: [1, 2]";
    let cases: &[(YamlEdit, &str)] = &[
        (
            set("/a", json!(5)),
            "\u{feff}# top\r\na: 5 # one\r\n\r\nb:\r\n  c: 2\r\n  # inside\r\nd: [1, 2]",
        ),
        (
            set("/b/e", json!("x")),
            "\u{feff}# top\r\na: 1 # one\r\n\r\nb:\r\n  c: 2\r\n  e: x\r\n  # inside\r\nd: [1, 2]",
        ),
        (
            set("/f", json!(["x"])),
            "\u{feff}# top\r\na: 1 # one\r\n\r\nb:\r\n  c: 2\r\n  # inside\r\nd: [1, 2]\r\nf:\r\n  - x",
        ),
        (
            remove("/d"),
            "\u{feff}# top\r\na: 1 # one\r\n\r\nb:\r\n  c: 2\r\n  # inside",
        ),
        (
            remove("/b/c"),
            "\u{feff}# top\r\na: 1 # one\r\n\r\nb: {}\r\n  # inside\r\nd: [1, 2]",
        ),
        (
            set("/d/-", json!(3)),
            "\u{feff}# top\r\na: 1 # one\r\n\r\nb:\r\n  c: 2\r\n  # inside\r\nd: [1, 2, 3]",
        ),
        (
            remove("/d/0"),
            "\u{feff}# top\r\na: 1 # one\r\n\r\nb:\r\n  c: 2\r\n  # inside\r\nd: [2]",
        ),
    ];
    for (edit, want) in cases {
        assert_eq!(check(src, edit), *want, "{edit:?}");
    }
}

#[test]
fn layouts_the_document_already_uses() {
    let cases: &[(&str, YamlEdit, &str)] = &[
        // four-space indentation, indented sequences
        (
            "a:\n    b: 1\n    l:\n        - x\n",
            set("/a/c", json!({"d": [1]})),
            "a:\n    b: 1\n    l:\n        - x\n    c:\n        d:\n            - 1\n",
        ),
        // a mapping inside a sequence item
        (
            "l:\n- name: a\n  port: 1\n",
            set("/l/0/host", json!("h")),
            "l:\n- name: a\n  port: 1\n  host: h\n",
        ),
        (
            "l:\n- name: a\n  port: 1\n",
            remove("/l/0/name"),
            "l:\n- port: 1\n",
        ),
        (
            "l:\n- name: a\n  port: 1\n",
            set("/l/-", json!({"name": "b", "port": 2})),
            "l:\n- name: a\n  port: 1\n- name: b\n  port: 2\n",
        ),
        ("l:\n- - x\n  - y\n", remove("/l/0/0"), "l:\n- - y\n"),
        // an empty document, a comment-only one, a null value
        ("", set("/a/b", json!(true)), "a:\n  b: true\n"),
        (
            "# nothing yet\n",
            set("/a", json!(1)),
            "# nothing yet\na: 1\n",
        ),
        ("a:\nb: 2\n", set("/a/c", json!(1)), "a:\n  c: 1\nb: 2\n"),
        (
            "a: ~  # unset\nb: 2\n",
            set("/a/c", json!(1)),
            "a: # unset\n  c: 1\nb: 2\n",
        ),
        // the last key, with and without a final newline
        ("a: 1\nb: 2", remove("/b"), "a: 1"),
        (
            "a: 1\nb:\n  c: 2",
            set("/b/d", json!(3)),
            "a: 1\nb:\n  c: 2\n  d: 3",
        ),
        ("a: 1\nb: 2\n", remove("/a"), "b: 2\n"),
        ("a: 1\n", remove("/a"), "{}\n"),
        // block scalars and multi-line values
        (
            "a: |\n  x\n  y\nb: 1\n",
            set("/a", json!("z")),
            "a: z\nb: 1\n",
        ),
        ("a: |\n  x\n  y\nb: 1\n", remove("/a"), "b: 1\n"),
        (
            "a: \"x\n  y\"  # c\nb: 1\n",
            set("/a", json!(["q"])),
            "a: # c\n  - q\nb: 1\n",
        ),
        // multi-line flow (a JSON file)
        (
            "{\n  \"a\": 1,\n  \"b\": {\"c\": true}\n}\n",
            set("/d", json!({"e": [1]})),
            "{\n  \"a\": 1,\n  \"b\": {\"c\": true},\n  \"d\": {\n    \"e\": [\n      1\n    ]\n  }\n}\n",
        ),
        (
            "{\n  \"a\": 1,\n  \"b\": {\"c\": true}\n}\n",
            set("/b/c", json!(false)),
            "{\n  \"a\": 1,\n  \"b\": {\"c\": false}\n}\n",
        ),
        (
            "{\n  \"a\": 1,\n  \"b\": {\"c\": true}\n}\n",
            remove("/a"),
            "{\n  \"b\": {\"c\": true}\n}\n",
        ),
        (
            "{\n  \"a\": 1,\n  \"b\": {\"c\": true}\n}\n",
            remove("/b/c"),
            "{\n  \"a\": 1,\n  \"b\": {}\n}\n",
        ),
        ("{}\n", set("/a", json!("on")), "{\"a\": \"on\"}\n"),
        // flow collections with blanks inside the brackets
        ("n: [ demo ]\n", set("/n/-", json!("x")), "n: [ demo, x ]\n"),
        ("n: [ demo ]\n", set("/n/0", json!("y z")), "n: [ y z ]\n"),
        ("n: { a: 1 }  # c\n", remove("/n/a"), "n: {}  # c\n"),
        // duplicate keys: set changes the one that counts, remove takes them all
        (
            "a: 1\na: 2\nb: 3\n",
            set("/a", json!(5)),
            "a: 1\na: 5\nb: 3\n",
        ),
        ("a: 1\na: 2\nb: 3\n", remove("/a"), "b: 3\n"),
    ];
    for (src, edit, want) in cases {
        assert_eq!(check(src, edit), *want, "{edit:?} on {src:?}");
    }
}

#[test]
fn edits_that_change_nothing_keep_the_text() {
    let cases = [
        set("/restapi/listen", json!("0.0.0.0:8008")),
        remove("/restapi/missing"),
        remove("/nothing/here"),
        set("/ctl/insecure", json!(true)),
    ];
    for edit in &cases {
        assert_eq!(
            apply(PATRONI, std::slice::from_ref(edit)).as_deref(),
            Ok(PATRONI),
            "{edit:?}"
        );
    }
}

#[test]
fn refused_edits_say_why() {
    let cases: &[(&str, YamlEdit, &str)] = &[
        (
            PATRONI,
            set("/scope/x", json!(1)),
            "cannot set `/scope/x`: `/scope` is a scalar, not a mapping or a sequence",
        ),
        (
            PATRONI,
            remove("/name/x"),
            "cannot remove `/name/x`: `/name` is a scalar, not a mapping or a sequence",
        ),
        (
            PATRONI,
            set("/postgresql/pg_hba/5", json!("x")),
            "cannot set `/postgresql/pg_hba/5`: index 5 is past the end of the sequence at `/postgresql/pg_hba` (2 items)",
        ),
        (
            PATRONI,
            set("/postgresql/pg_hba/x", json!("x")),
            "cannot set `/postgresql/pg_hba/x`: `x` is not an index of the sequence at `/postgresql/pg_hba`",
        ),
        (
            PATRONI,
            set("restapi", json!(1)),
            "cannot set `restapi`: a JSON pointer starts with `/`",
        ),
        (
            "a: 1\n b: 2\n",
            set("/a", json!(1)),
            "cannot set `/a`: the document does not parse: mapping values are not allowed in this context (line 2)",
        ),
        (
            "a: 1\n",
            remove(""),
            "cannot remove ``: cannot remove the whole document",
        ),
        (
            "x: 1\n",
            set("/x/y", json!(1)),
            "cannot set `/x/y`: `/x` is a scalar, not a mapping or a sequence",
        ),
        (
            "b: &b {x: 1}\nc: *b\n",
            set("/c/x", json!(2)),
            "cannot set `/c/x`: `/c` is an alias (`*`) of another value; edit the anchored value instead",
        ),
        (
            "b: &b {x: 1}\nc: *b\n",
            set("/b/x", json!(2)),
            "cannot set `/b/x`: `/b` has an anchor (`&`) that aliases refer to; edit it by hand",
        ),
        (
            "a:\n  b: &b {x: 1}\nc: *b\n",
            set("/a", json!(1)),
            "cannot set `/a`: `/a` holds an anchor (`&`) that aliases refer to; edit it by hand",
        ),
        (
            "b: &b {x: 1}\nc:\n  <<: *b\n",
            remove("/c/x"),
            "cannot remove `/c/x`: `/c/x` comes from a merge key (`<<`); edit the mapping it is merged from",
        ),
        (
            "5",
            set("/a", json!(1)),
            "cannot set `/a`: the document is a scalar, not a mapping or a sequence",
        ),
        (
            "a: \"x\ny\"\n",
            set("/b", json!(1)),
            "cannot set `/b`: a multi-line quoted string continues on lines not indented past its key; indent them to edit this file",
        ),
    ];
    for (src, edit, want) in cases {
        assert_eq!(
            apply(src, std::slice::from_ref(edit)),
            Err(want.to_string()),
            "{edit:?} on {src:?}"
        );
    }
}

#[test]
fn aliases_and_merges_that_can_be_edited() {
    let src = "b: &b {x: 1, y: 2}\nc:\n  <<: *b\n  z: 3\nd: *b\n";
    // an own key shadows the merged one; an alias is replaced by a value
    assert!(check(src, &set("/c/x", json!(9))).contains("  z: 3\n  x: 9\n"));
    assert!(check(src, &set("/d", json!("plain"))).ends_with("d: plain\n"));
    assert!(check(src, &remove("/d")).ends_with("  z: 3\n"));
    // a set inside a merged value gives the mapping its own copy of it
    let src = "b: &b\n  env: {x: 1}\n  img: i\nc:\n  <<: *b\n  z: 3\n";
    assert_eq!(
        check(src, &set("/c/env/y", json!(2))),
        "b: &b\n  env: {x: 1}\n  img: i\nc:\n  <<: *b\n  z: 3\n  env:\n    x: 1\n    y: 2\n"
    );
}

const SWEEP_DOCS: &[&str] = &[
    PATRONI,
    "a:\n  b:\n    c: 1\n    d: [1, {e: f}]\n  g: |\n    text\n  h:\n  - 1\n  - k: v\n    l: w\n  -\n  - - x\n    - y\ni: 'q' # c\n",
    "{\"a\": {\"b\": [1, 2, {\"c\": null}]}, \"d\": \"e\"}",
    "{\n  \"a\": {\n    \"b\": [\n      1,\n      {\"c\": null}\n    ]\n  },\n  \"d\": \"e\"\n}\n",
    "x:\r\n    y: 1\r\n    z:\r\n        - a\r\n        - b\r\nw: {p: [1, 2], q: {}}",
    "top:\n  list: []\n  map: {}\n  nil: ~\n  empty:\n  str: \"s\"\n  multi: a\n    b\n",
    "- a\n- b: 1\n  c: [x]\n- - 1\n",
];

fn sweep_values() -> Vec<Value> {
    vec![
        json!("plain"),
        json!("on"),
        json!("123"),
        json!(""),
        json!("a: b # c"),
        json!("it's \"q\""),
        json!("multi\nline"),
        json!("- dash"),
        json!("[x]"),
        json!(7),
        json!(-1.5),
        json!(true),
        json!(null),
        json!({}),
        json!([]),
        json!({"k": "v", "on": [1, {"n": "yes"}]}),
        json!([{"a": 1, "b": [2, 3]}, [4], "x"]),
    ]
}

#[test]
fn every_pointer_can_be_set_and_removed() {
    let values = sweep_values();
    let mut edits = 0;
    for src in SWEEP_DOCS {
        let spans = parse(src, "t").value.spans;
        for span in &spans {
            let p = &span.pointer;
            for value in &values {
                for edit in [
                    set(p, value.clone()),
                    set(&format!("{p}/new key"), value.clone()),
                    set(&format!("{p}/-/a~1b"), value.clone()),
                ] {
                    match expected(src, &edit) {
                        Ok(_) => _ = check(src, &edit),
                        Err(_) => assert!(
                            apply(src, std::slice::from_ref(&edit)).is_err(),
                            "{edit:?} on\n{src}"
                        ),
                    }
                    edits += 1;
                }
            }
            if !p.is_empty() {
                check(src, &remove(p));
                edits += 1;
            }
        }
    }
    assert!(edits > 3000, "{edits}");
}

#[test]
fn sequences_of_edits() {
    let edits = [
        set("/restapi/authentication/username", json!("patroni")),
        set("/restapi/authentication/password", json!("s3cret")),
        set("/restapi/certfile", json!("/etc/ssl/p.pem")),
        remove("/ctl/insecure"),
        set("/ctl/cacert", json!("/etc/ssl/ca.pem")),
        set("/postgresql/parameters/ssl", json!("on")),
    ];
    let out = apply(PATRONI, &edits).unwrap_or_else(|e| panic!("{e}"));
    let want = "\
# Patroni configuration
scope: demo
name: node1

restapi:
  listen: 0.0.0.0:8008   # all interfaces
  connect_address: 10.0.0.1:8008
  authentication:
    username: patroni
    password: s3cret
  certfile: /etc/ssl/p.pem
  # certfile: /etc/ssl/patroni.pem

ctl:
  certfile: /etc/ssl/ctl.pem
  cacert: /etc/ssl/ca.pem

postgresql:
  pg_hba:
  - host all all 0.0.0.0/0 md5
  - local all all peer
  parameters: {ssl: 'on', max_connections: 100}
";
    assert_eq!(out, want);
    // the fix is a fixpoint
    assert_eq!(apply(&out, &edits).as_deref(), Ok(want));
}

#[test]
fn pointers_deeper_than_the_nesting_limit_are_refused() {
    let deep = "/a".repeat(10_000);
    for edit in [set(&deep, json!(1)), remove(&deep)] {
        let err = apply("a: 1\n", &[edit]).unwrap_err();
        assert!(err.contains("10000 levels deep"), "{err}");
        assert!(
            err.len() < 300,
            "the pointer is not echoed whole: {} bytes",
            err.len()
        );
    }
    let ok = "/a".repeat(crate::formats::MAX_NESTING - 1);
    assert!(apply("b: 1\n", &[set(&ok, json!(1))]).is_ok());
}

/// A value ending in a multi-byte character: the editor finds "the line of the last byte"
/// one byte before the end, inside that character (fuzz seed
/// `pointer-set-after-multibyte-value`; it panicked on a char boundary).
#[test]
fn values_ending_in_multibyte_characters() {
    let deep = json!({"x": {"y": [1, 2]}});
    for src in [
        "a: \u{e9}\u{e9}\n",
        "a: \u{fffd}\u{fffd}",
        "a: |\n  \u{e9}\nb: 1\n",
        "- \u{e9}\u{e9}\n- b\n",
        "a:\n  b: \u{1f600}\r\n",
    ] {
        let pointer = if src.starts_with('-') { "/0" } else { "/a" };
        check(src, &set(pointer, deep.clone()));
        check(src, &set(pointer, json!("plain")));
        check(src, &remove(pointer));
    }
}
