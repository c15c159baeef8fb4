//! The streamed JSON samples reader: the same samples as the whole-text parse, every kind
//! of bad input refused with file, line and column, and the size bounds.

use std::path::PathBuf;

use super::*;

const GOOD: &str = r#"{"context": {"postgres_version": 15, "members": ["10.0.1.11"],
  "password_types": {"bob": "md5"}},
 "requests": [
  {"name": "lb", "source": "10.0.0.9", "method": "GET", "path": "/primary", "scheme": "https",
   "auth": "none", "client_cert": "trusted"},
  {"source": "::1", "path": "/restart", "method": "POST", "auth": {"username": "u", "password": "p"}},
  {"path": "/config", "source": "192.0.2.1", "scheme": null, "auth": "invalid", "client_cert": "untrusted"},
  {"source": "10.0.0.9", "method": "GET", "path": "/primary", "auth": "valid"},
  {"source": "10.0.0.8", "path": "/x\u00e9", "auth": {"password": "p", "username": "u"}}
 ],
 "connections": [{"name": "app", "source": "10.0.0.5", "ssl": true, "client_cert": "alice",
   "user": "alice", "database": "app", "replication": "database"},
  {"source": "local", "user": "postgres", "database": "postgres"}]}
"#;

fn streamed(text: &str) -> Result<Samples, String> {
    read(text.as_bytes(), "s.json")
}

/// The streamed samples equal the whole-text parse's, column by column.
#[test]
fn streams_what_the_whole_text_parse_reads() {
    let want = crate::samples::parse(GOOD, "s.json").unwrap();
    let got = streamed(GOOD).unwrap();
    assert_eq!(format!("{got:?}"), format!("{want:?}"));
    assert_eq!(got.requests.len(), 5);
    assert_eq!(got.request_names[0].as_deref(), Some("lb"));
    assert_eq!(got.connections.len(), 2);
    // Keys in any order, and absent parts empty.
    for text in [r#"{"requests": []}"#, "{}", r#"{"context": null}"#] {
        let want = crate::samples::parse(text, "s.json").unwrap();
        assert_eq!(
            format!("{:?}", streamed(text).unwrap()),
            format!("{want:?}")
        );
    }
}

/// Each kind of bad input is an error naming the file, line and column of the problem.
#[test]
fn bad_input_names_file_line_and_column() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "{\"requests\": [\n {\"source\": \"10.0.0.1\", \"path\": \"/\", \"sorce\": 1}]}",
            "s.json:2:",
            "unknown field `sorce`",
        ),
        (
            "{\"requests\": [\n\n {\"source\": \"10.0.0.300\", \"path\": \"/\"}]}",
            "s.json:3:",
            "`source` must be an IP address, not `10.0.0.300`",
        ),
        (
            "{\"requests\": [{\"source\": \"10.0.0.1\",\n \"path\": \"\"}]}",
            "s.json:2:",
            "`path` must not be empty",
        ),
        (
            "{\"requests\": [{\"source\": \"10.0.0.1\"}\n]}",
            "s.json:1:",
            "missing field `path`",
        ),
        (
            "{\"requests\": [{\"path\": \"/\",\n \"path\": \"/x\", \"source\": \"10.0.0.1\"}]}",
            "s.json:2:",
            "duplicate field `path`",
        ),
        (
            "{\"requests\": [{\"source\": \"10.0.0.1\", \"path\": \"/\",\n \"auth\": \"maybe\"}]}",
            "s.json:2:",
            "must be `none`, `valid`, `invalid`",
        ),
        (
            "{\"requests\": [{\"source\": \"10.0.0.1\", \"path\": \"/\",\n \"auth\": {\"username\": \"u\"}}]}",
            "s.json:2:",
            "missing field `password`",
        ),
        (
            "{\"requests\": [{\"source\": \"10.0.0.1\", \"path\": \"/\", \"scheme\": \"ftp\"}]}",
            "s.json:1:",
            "unknown variant `ftp`",
        ),
        (
            "{\"requests\": [{\"source\": 7, \"path\": \"/\"}]}",
            "s.json:1:",
            "invalid type: integer `7`",
        ),
        (
            "{\"requests\": [], \"requests\": []}",
            "s.json:1:",
            "duplicate field `requests`",
        ),
        ("{\"bogus\": 1}", "s.json:1:", "unknown field `bogus`"),
        (
            "{\"requests\": [\n{\"source\": \"10.0.0.1\", \"path\": \"/\"}",
            "s.json:2:",
            "EOF while parsing",
        ),
        ("{}\n{}", "s.json:2:1:", "trailing characters"),
        (
            "{\"connections\": [\n{\"source\": \"local\", \"ssl\": true, \"user\": \"u\", \"database\": \"d\"}]}",
            "s.json:2:",
            "impossible on the Unix socket",
        ),
        (
            "{\"context\": {\"postgres_version\":\n \"x\"}}",
            "s.json:2:",
            "`postgres_version` must be a PostgreSQL version",
        ),
    ];
    for (text, at, message) in cases {
        let e = streamed(text).expect_err(text);
        assert!(e.starts_with(at), "{text}: {e}");
        assert!(e.contains(message), "{text}: {e}");
        // file:line:column: message
        let mut parts = e.splitn(4, ':');
        parts.next();
        for _ in 0..2 {
            let n = parts.next().unwrap_or_default();
            assert!(n.parse::<u32>().is_ok_and(|n| n > 0), "{text}: {e}");
        }
    }
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("patrol-samples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A JSON file is streamed up to its own bound, past the bound for a file read whole; a
/// YAML one keeps that bound; past either the error names the file and the bound.
#[test]
fn bounds_of_a_samples_file() {
    const MIB: u64 = 1 << 20;
    // 1.5 MiB of JSON: over the (test) whole-file bound of 1 MiB, under the 2 MiB one.
    let mut big = b"{\"requests\": [".to_vec();
    let one = b"{\"source\": \"10.0.0.1\", \"path\": \"/\"},";
    while (big.len() as u64) < MIB + MIB / 2 {
        big.extend_from_slice(one);
    }
    big.extend_from_slice(b"{\"source\": \"10.0.0.1\", \"path\": \"/\"}]}");
    let json = temp_file("big.json", &big);
    let s = read_file_up_to(&json, 2 * MIB, MIB).unwrap();
    assert!(s.requests.len() > 40_000, "{}", s.requests.len());
    let e = read_file_up_to(&json, MIB, MIB / 2).unwrap_err();
    assert!(
        e.starts_with(&format!(
            "cannot read `{}`: larger than 1 MiB",
            json.display()
        )),
        "{e}"
    );
    // A large JSON file that fails is not read whole again: its error is the stream's.
    let mut bad = big.clone();
    bad.truncate(bad.len() - 2);
    let bad = temp_file("bad.json", &bad);
    let e = read_file_up_to(&bad, 2 * MIB, MIB).unwrap_err();
    assert!(
        e.starts_with(&format!("{}:1:", bad.display())) && e.contains("EOF"),
        "{e}"
    );
    // YAML over the whole-file bound.
    let yaml = temp_file("big.yaml", &vec![b'#'; (MIB + 1) as usize]);
    let e = read_file_up_to(&yaml, 2 * MIB, MIB).unwrap_err();
    assert!(
        e.starts_with(&format!(
            "cannot read `{}`: larger than 1 MiB",
            yaml.display()
        )) && e.contains("must be JSON"),
        "{e}"
    );
    // A small bad JSON file gets the whole-text parse's message (line, key path).
    let small = temp_file(
        "small.json",
        b"{\"requests\": [\n {\"source\": \"10.0.0.1\", \"path\": \"/\", \"sorce\": 1}]}",
    );
    let e = read_file(&small).unwrap_err();
    assert!(
        e.starts_with(&format!("{}:2: ", small.display())) && e.contains("sorce"),
        "{e}"
    );
    // A YAML file is read as before.
    let yaml = temp_file("ok.yaml", b"requests:\n  - {source: 10.0.0.1, path: /}\n");
    assert_eq!(read_file(&yaml).unwrap().requests.len(), 1);
    std::fs::remove_dir_all(json.parent().unwrap()).unwrap();
}
