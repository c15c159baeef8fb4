//! pg_hba tests that read files: `@file` lists, `include*` directives, the fixtures.

use std::path::{Path, PathBuf};

use super::{ctx, view_row};
use crate::formats::Parsed;
use crate::formats::hba::parse;
use crate::wit;

/// A directory with files, for `@file` and `include` tests.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new(files: &[(&str, &str)]) -> Dir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, text).expect("write");
        }
        Dir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn parse(&self, name: &str, version: u32) -> Parsed<Vec<wit::HbaRule>> {
        let path = self.path(name);
        let src = std::fs::read_to_string(&path).expect("read");
        parse(&src, name, &path, &ctx(version))
    }
}

#[test]
fn at_file_expansion() {
    let dir = Dir::new(&[
        (
            "pg_hba.conf",
            "local @users.txt all trust\nlocal all @empty.txt trust\nlocal @missing.txt all trust\nlocal all \"@users.txt\" trust\nlocal all @sub/nested.txt trust\n",
        ),
        ("users.txt", "alice, bob\n# comment\n\"carol x\"\n"),
        ("empty.txt", "# nothing\n"),
        ("sub/nested.txt", "@more.txt dave\n"),
        ("sub/more.txt", "erin\n"),
    ]);
    for version in [15, 17] {
        let p = dir.parse("pg_hba.conf", version);
        let rows: Vec<_> = p
            .value
            .iter()
            .map(|r| (r.location.line, view_row(r)))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    1,
                    "local | {alice,bob,\"carol x\"} | {all} |  |  | trust".to_string()
                ),
                // The empty file's field vanishes: `trust` is read as the user column.
                (4, "local | {all} | {@users.txt} |  |  | trust".to_string()),
                (5, "local | {all} | {erin,dave} |  |  | trust".to_string()),
            ],
            "version {version}"
        );
        let errors: Vec<_> = p
            .diagnostics
            .iter()
            .map(|d| (d.location.line, d.message.clone()))
            .collect();
        let missing = dir.path("missing.txt").display().to_string();
        let open = if version == 15 {
            format!(
                "could not open secondary authentication file \"@missing.txt\" as \"{missing}\": No such file or directory"
            )
        } else {
            format!("could not open file \"{missing}\": No such file or directory")
        };
        assert_eq!(
            errors,
            [
                (2, "end-of-line before authentication method".to_string()),
                (3, open)
            ],
            "version {version}"
        );
    }
}

#[test]
fn include_directives_from_16() {
    let dir = Dir::new(&[
        (
            "pg_hba.conf",
            "local all all trust\ninclude extra.conf\ninclude_if_exists nosuch.conf\ninclude_dir conf.d\ninclude missing.conf\nhost all all all md5\n",
        ),
        ("extra.conf", "local db1 all peer\nbad line here\n"),
        (
            "conf.d/10-a.conf",
            "host db2 all 10.0.0.0/8 scram-sha-256\n",
        ),
        (
            "conf.d/05-b.conf",
            "host db3 all 10.0.0.0/8 scram-sha-256\n",
        ),
        (
            "conf.d/.hidden.conf",
            "host db4 all 10.0.0.0/8 scram-sha-256\n",
        ),
        ("conf.d/c.txt", "host db5 all 10.0.0.0/8 scram-sha-256\n"),
    ]);
    let p = dir.parse("pg_hba.conf", 16);
    let rules: Vec<_> = p
        .value
        .iter()
        .map(|r| {
            (
                r.location.file.clone(),
                r.location.line,
                r.databases[0].text.clone(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("pg_hba.conf".to_string(), 1, "all".to_string()),
            ("extra.conf".to_string(), 1, "db1".to_string()),
            ("conf.d/05-b.conf".to_string(), 1, "db3".to_string()),
            ("conf.d/10-a.conf".to_string(), 1, "db2".to_string()),
            ("pg_hba.conf".to_string(), 6, "all".to_string()),
        ]
    );
    let errors: Vec<_> = p
        .diagnostics
        .iter()
        .map(|d| (d.location.file.clone(), d.location.line, d.message.clone()))
        .collect();
    let missing = dir.path("missing.conf").display().to_string();
    assert_eq!(
        errors,
        [
            // The bad line itself, in the included file; the message names the line
            // of pg_hba.conf that includes it.
            (
                "extra.conf".to_string(),
                2,
                "invalid connection type \"bad\" (in a file included from line 2 of \"pg_hba.conf\")"
                    .to_string()
            ),
            (
                "pg_hba.conf".to_string(),
                5,
                format!("could not open file \"{missing}\": No such file or directory")
            ),
        ]
    );
    // 15 does not know the directives.
    let p = dir.parse("pg_hba.conf", 15);
    assert_eq!(p.value.len(), 2);
    assert_eq!(p.diagnostics.len(), 4);
}

#[test]
fn include_loops_stop() {
    let dir = Dir::new(&[
        ("pg_hba.conf", "include pg_hba.conf\n"),
        ("a.txt", "@a.txt\n"),
        ("b.conf", "local @a.txt all trust\n"),
    ]);
    let p = dir.parse("pg_hba.conf", 17);
    assert!(p.value.is_empty());
    assert!(
        p.diagnostics
            .iter()
            .any(|d| d.message.contains("maximum nesting depth exceeded")),
        "{:?}",
        p.diagnostics
    );
    let p = dir.parse("b.conf", 15);
    assert_eq!(p.diagnostics.len(), 1);
    assert!(
        p.diagnostics[0]
            .message
            .contains("maximum nesting depth exceeded")
    );
}

/// The fixtures in `tests/fixtures/pg-hba`: every invalid record of `errors.conf` gets
/// the message its `# expect:` comment gives; the other files are valid.
#[test]
fn fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pg-hba");
    let errors = std::fs::read_to_string(dir.join("errors.conf")).expect("errors.conf");
    let p = parse(&errors, "errors.conf", &dir.join("errors.conf"), &ctx(15));
    let lines: Vec<&str> = errors.lines().collect();
    let expected: Vec<(u32, String)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            l.strip_prefix("# expect: ")
                .map(|m| (i as u32 + 2, m.to_string()))
        })
        .collect();
    let got: Vec<(u32, String)> = p
        .diagnostics
        .iter()
        .map(|d| (d.location.line, d.message.clone()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(p.value.len(), 1);
    for (file, rules) in [
        ("debian-default.conf", 7),
        ("patroni-hardened.conf", 7),
        ("insecure.conf", 5),
        ("continuation.conf", 3),
    ] {
        let src = std::fs::read_to_string(dir.join(file)).expect(file);
        let p = parse(&src, file, &dir.join(file), &ctx(15));
        assert!(p.diagnostics.is_empty(), "{file}: {:?}", p.diagnostics);
        assert_eq!(p.value.len(), rules, "{file}");
    }
    let inc = dir.join("includes/pg_hba.conf");
    let src = std::fs::read_to_string(&inc).expect("includes");
    let p = parse(&src, "includes/pg_hba.conf", &inc, &ctx(16));
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let got: Vec<_> = p
        .value
        .iter()
        .map(|r| (r.location.file.as_str(), r.location.line))
        .collect();
    assert_eq!(
        got,
        [
            ("includes/pg_hba.conf", 2),
            ("includes/pg_hba.conf", 3),
            ("includes/conf.d/10-app.conf", 2),
            ("includes/conf.d/20-monitoring.conf", 2),
            ("includes/replication.conf", 2),
        ]
    );
    let names: Vec<_> = p.value[1]
        .databases
        .iter()
        .map(|n| n.text.as_str())
        .collect();
    assert_eq!(names, ["app", "reports", "billing db"]);
}

#[test]
fn includes_are_confined_to_the_tree_and_bounded() {
    let outside = Dir::new(&[("secret.conf", "TOKEN-1234 all all trust\n")]);
    let secret = outside.path("secret.conf");
    let s = secret.display();
    let dir = Dir::new(&[
        (
            "pg_hba.conf",
            &format!(
                "local all all peer\ninclude {s}\nhost all @{s} 10.0.0.0/8 scram-sha-256\ninclude inner.conf\n"
            ),
        ),
        ("inner.conf", "host all all 10.0.0.0/8 scram-sha-256\n"),
        ("self.conf", &"include self.conf\n".repeat(10)),
    ]);
    let tree = crate::confine::Tree::new([dir.0.path()]);
    let ctx = crate::formats::ParseContext {
        postgres_version: Some(16),
        tree: Some(tree),
    };
    let path = dir.path("pg_hba.conf");
    let p = parse(
        &std::fs::read_to_string(&path).unwrap(),
        "pg_hba.conf",
        &path,
        &ctx,
    );
    let diags: Vec<_> = p
        .diagnostics
        .iter()
        .map(|d| (d.location.line, d.message.as_str()))
        .collect();
    assert_eq!(diags.len(), 2, "{diags:?}");
    for (d, line) in diags.iter().zip([2, 3]) {
        assert_eq!(d.0, line, "{diags:?}");
        assert!(
            d.1.contains("outside the checked tree") && !d.1.contains("TOKEN"),
            "{diags:?}"
        );
    }
    assert_eq!(p.value.len(), 2, "the rules inside the tree are read");
    // Ten lines that include their own file: 10^10 reads unbounded; at most 1000 here.
    let start = std::time::Instant::now();
    let p = dir.parse("self.conf", 16);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(
        p.diagnostics
            .iter()
            .any(|d| d.message.contains("more than 1000 files included")),
        "{:?}",
        &p.diagnostics[..3.min(p.diagnostics.len())]
    );
}
