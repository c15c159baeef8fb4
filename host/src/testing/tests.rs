use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_full_case_reads_with_defaults_and_files_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "hba.conf", "local all all peer\n");
    write(dir.path(), "settings.yaml", "a: 1\n");
    let path = write(
        dir.path(),
        "t.yaml",
        r#"policy: p
settings: {x: 1}
files:
  shared.yml: "restapi: {}\n"
cases:
  - name: one
    files:
      pg_hba.conf: {from: hba.conf}
      custom.cfg: {kind: haproxy, text: "global\n"}
    samples:
      requests:
        - {name: r, source: 10.0.0.1, path: /restart, method: POST}
    expect:
      findings:
        - {code: c, file: pg_hba.conf, line: 1, severity: high, message_contains: m}
      decisions:
        - {sample: r, verdict: deny, status: 403, line: 2, reason_contains: x}
        - {sample: "requests[0]", verdict: deny}
      patches:
        - {file: pg_hba.conf, after: "x\n"}
  - name: two
    settings: {from: settings.yaml}
    expect:
      error: bad
"#,
    );
    let f = parse(&path).unwrap();
    assert_eq!(f.policy.as_deref(), Some("p"));
    let one = &f.cases[0];
    assert_eq!(one.settings, r#"{"x":1}"#);
    let names: Vec<&str> = one.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["shared.yml", "pg_hba.conf", "custom.cfg"]);
    assert_eq!(one.files[1].text, "local all all peer\n");
    assert_eq!(one.files[2].kind, Some(Kind::Haproxy));
    assert_eq!(one.samples.requests.len(), 1);
    let e = &one.expect;
    assert!(e.no_other_findings);
    assert_eq!(e.findings.as_ref().unwrap()[0].line, Some(1));
    assert_eq!(e.decisions[0].sample, SampleRef::Name("r".into()));
    assert_eq!(
        e.decisions[1].sample,
        SampleRef::Label("requests[0]".into())
    );
    assert_eq!(e.patches.as_ref().unwrap()[0].after, "x\n");
    assert_eq!(f.cases[1].settings, r#"{"a":1}"#);
    assert_eq!(f.cases[1].expect.error.as_deref(), Some("bad"));
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.yaml",
        r#"cases:
  - name: a
    files:
      ../x.yml: "x"
      y.yml: {text: a, from: b}
    samples:
      requests:
        - {source: not-an-ip, path: /x}
    expect:
      findings:
        - {line: 3, severity: urgent}
      decisions:
        - {sample: r, verdict: maybe}
      error: e
      typo: 1
  - name: a
    expect: {}
  - expect: {}
"#,
    );
    let problems: Vec<String> = parse(&path)
        .unwrap_err()
        .iter()
        .map(|p| p.to_string())
        .collect();
    let all = problems.join("\n");
    for expected in [
        ":4: file name `../x.yml` must be a relative path",
        ":5: file `y.yml` needs exactly one of `text` and `from`",
        ":8: `source` must be an IP address, not `not-an-ip`",
        ":11: missing key `code`",
        ":11: `urgent` is not a severity",
        ":13: `maybe` is not a verdict",
        ":15: unknown key `typo` in `cases[0].expect`",
        ":16: two cases are named `a`",
        ":18: missing key `name` in `cases[2]`",
    ] {
        assert!(all.contains(expected), "missing `{expected}` in:\n{all}");
    }
}

#[test]
fn held_back_fixes_are_read_with_their_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.yaml",
        r#"cases:
  - name: a
    expect:
      withheld:
        - {code: c, file: f.conf, reason_contains: "no input names"}
        - {code: d}
"#,
    );
    let f = parse(&path).unwrap();
    let w = &f.cases[0].expect.withheld;
    assert_eq!(w.len(), 2);
    assert_eq!(
        (
            w[0].code.as_str(),
            w[0].file.as_deref(),
            w[0].reason_contains.as_deref(),
            w[0].at
        ),
        ("c", Some("f.conf"), Some("no input names"), 5)
    );
    assert_eq!(
        (w[1].file.as_deref(), w[1].reason_contains.as_deref()),
        (None, None)
    );

    let path = write(
        dir.path(),
        "bad.yaml",
        "cases:\n  - name: a\n    expect:\n      withheld:\n        - {file: f, reason: x}\n",
    );
    let all: Vec<String> = parse(&path)
        .unwrap_err()
        .iter()
        .map(|p| p.to_string())
        .collect();
    let all = all.join("\n");
    assert!(all.contains(":5: unknown key `reason`"), "{all}");
}

#[test]
fn test_files_are_found_in_tests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tests")).unwrap();
    write(&dir.path().join("tests"), "b.yaml", "");
    write(&dir.path().join("tests"), "a.yml", "");
    write(&dir.path().join("tests"), "c.rs", "");
    write(dir.path(), "Cargo.toml", "");
    write(dir.path(), "patrol.yaml", "");
    let found: Vec<String> = discover(dir.path())
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(found, ["a.yml", "b.yaml"]);
    std::fs::remove_dir_all(dir.path().join("tests")).unwrap();
    assert!(
        discover(dir.path()).unwrap().is_empty(),
        "a crate's other YAML files are not cases"
    );
}

#[test]
fn a_file_mode_is_octal_bits_in_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "t.yaml",
        r#"cases:
  - name: keys
    files:
      ssl/server.key: {text: "-----BEGIN PRIVATE KEY-----\n", mode: "0600"}
      ssl/other.key: {text: "-----BEGIN PRIVATE KEY-----\n", mode: "640"}
    expect: {findings: []}
"#,
    );
    let f = parse(&path).unwrap();
    let modes: Vec<Option<u32>> = f.cases[0].files.iter().map(|f| f.mode).collect();
    assert_eq!(modes, [Some(0o600), Some(0o640)]);
    for bad in ["0600x", "9", "\"0800\"", "0600", "\"77777\""] {
        let path = write(
            dir.path(),
            "bad.yaml",
            &format!(
                "cases:\n  - name: k\n    files:\n      k.key: {{text: x, mode: {bad}}}\n    expect: {{findings: []}}\n"
            ),
        );
        let problems = parse(&path).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.line == 4 && p.message.contains("octal permission bits")),
            "{bad}: {problems:?}"
        );
    }
}
