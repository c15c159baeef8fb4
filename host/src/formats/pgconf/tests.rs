//! Table-driven tests of the postgresql.conf reader. Expected messages are what
//! PostgreSQL 15.18 logged for the same files on this machine (`postgres -C`).

use std::path::Path;

use super::*;

fn run(src: &str) -> Parsed<Vec<wit::Setting>> {
    scan(
        src,
        "postgresql.conf",
        Path::new("/etc/pg/postgresql.conf"),
        &ParseContext::default(),
    )
}

fn settings(src: &str) -> Vec<(String, String, u32)> {
    let p = run(src);
    assert!(p.diagnostics.is_empty(), "{src:?}: {:?}", p.diagnostics);
    p.value
        .into_iter()
        .map(|s| (s.name, s.value, s.location.line))
        .collect()
}

fn one(src: &str) -> (String, String) {
    let got = settings(src);
    assert_eq!(got.len(), 1, "{src:?}");
    (got[0].0.clone(), got[0].1.clone())
}

fn errors(src: &str) -> Vec<(u32, String)> {
    run(src)
        .diagnostics
        .into_iter()
        .map(|d| (d.location.line, d.message))
        .collect()
}

#[test]
fn values_as_the_server_reads_them() {
    let cases: &[(&str, &str, &str)] = &[
        ("port = 5432", "port", "5432"),
        ("port 5432", "port", "5432"),
        ("port=5432", "port", "5432"),
        ("Shared_Buffers = 128MB", "shared_buffers", "128MB"),
        ("work_mem = 4kB # comment", "work_mem", "4kB"),
        ("ssl = on", "ssl", "on"),
        ("ssl = 'on'", "ssl", "on"),
        ("listen_addresses = '*'", "listen_addresses", "*"),
        (
            "listen_addresses = 'localhost, 10.0.0.1'",
            "listen_addresses",
            "localhost, 10.0.0.1",
        ),
        ("x = 'it''s'", "x", "it's"),
        ("x = 'a\\'b'", "x", "a'b"),
        ("x = 'tab\\there'", "x", "tab\there"),
        ("x = 'oct\\101'", "x", "octA"),
        ("x = 'back\\\\slash'", "x", "back\\slash"),
        ("x = 'a # not a comment'", "x", "a # not a comment"),
        ("x = ''", "x", ""),
        ("x = -1", "x", "-1"),
        ("x = +1.5", "x", "+1.5"),
        ("x = .5", "x", ".5"),
        ("x = 1.", "x", "1."),
        ("x = 1.5e3", "x", "1.5e3"),
        ("x = 0x1F", "x", "0x1F"),
        ("x = 0x1fkB", "x", "0x1fkB"),
        ("x = 1e5", "x", "1e"),
        (
            "ssl_ciphers = HIGH:MEDIUM:+3DES:!aNULL",
            "ssl_ciphers",
            "HIGH:MEDIUM:+3DES:!aNULL",
        ),
        (
            "data_directory = '/var/lib/postgresql/15/main'",
            "data_directory",
            "/var/lib/postgresql/15/main",
        ),
        ("x = a/b", "x", "a/b"),
        (
            "log_line_prefix = '%m [%p] %q%u@%d '",
            "log_line_prefix",
            "%m [%p] %q%u@%d ",
        ),
        (
            "pg_stat_statements.max = 10000",
            "pg_stat_statements.max",
            "10000",
        ),
        (
            "Auto_Explain.Log_Min_Duration = 5s",
            "auto_explain.log_min_duration",
            "5s",
        ),
        ("x = a.b-c:d/e_f", "x", "a.b-c:d/e_f"),
        ("x = é", "x", "é"),
        ("x = on\r", "x", "on"),
    ];
    for (src, name, value) in cases {
        if *value == "1e" {
            // `1e5` scans as the integer `1e` then `5`: a syntax error.
            assert_eq!(
                errors(src),
                [(
                    1,
                    "syntax error in file \"/etc/pg/postgresql.conf\" line 1, near token \"5\""
                        .to_string()
                )]
            );
            continue;
        }
        if *value == "HIGH:MEDIUM:+3DES:!aNULL" {
            // `+` cannot continue an unquoted string.
            assert_eq!(
                errors(src),
                [(
                    1,
                    "syntax error in file \"/etc/pg/postgresql.conf\" line 1, near token \"+3DES\""
                        .to_string()
                )]
            );
            continue;
        }
        assert_eq!(one(src), (name.to_string(), value.to_string()), "{src:?}");
    }
}

#[test]
fn syntax_errors_as_the_server_words_them() {
    let file = "/etc/pg/postgresql.conf";
    let cases: &[(&str, u32, String)] = &[
        (
            "shared_buffers = 1.5GB\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"GB\""),
        ),
        (
            "port =\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near end of line"),
        ),
        (
            "\n\nport\n",
            3,
            format!("syntax error in file \"{file}\" line 3, near end of line"),
        ),
        (
            "port = 5432 5433\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"5433\""),
        ),
        (
            "1port = 5\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"1port\""),
        ),
        (
            "a.b.c = 1\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"a.b.c\""),
        ),
        (
            "x = 'unterminated\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"'\""),
        ),
        (
            "x = = 1\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"=\""),
        ),
        (
            "x = a b\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"b\""),
        ),
        (
            "x = *\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"*\""),
        ),
        // A path must be quoted: `/` cannot start a value.
        (
            "data_directory = /var/lib/pg\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"/\""),
        ),
        (
            "= 1\n",
            1,
            format!("syntax error in file \"{file}\" line 1, near token \"=\""),
        ),
        // At end of file without a newline, the server's line count is one behind.
        (
            "port =",
            1,
            format!("syntax error in file \"{file}\" line 0, near end of line"),
        ),
    ];
    for (src, line, want) in cases {
        assert_eq!(errors(src), [(*line, want.clone())], "{src:?}");
    }
    // One error per bad line; good lines around them still count.
    let p = run("a = 1\nb = = 2\nc = 3\nd = 4 4\n");
    assert_eq!(p.diagnostics.len(), 2);
    let names: Vec<_> = p.value.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
}

#[test]
fn too_many_errors_abandon_the_file() {
    let src = "x = = 1\n".repeat(150) + "y = 1\n";
    let p = run(&src);
    assert_eq!(p.diagnostics.len(), 101);
    assert_eq!(
        p.diagnostics[100].message,
        "too many syntax errors found, abandoning file \"/etc/pg/postgresql.conf\""
    );
    assert!(p.value.is_empty());
}

#[test]
fn order_and_lines() {
    let got = settings("# c\nport = 1\n\nPORT = 2\nssl = on");
    assert_eq!(
        got,
        [
            ("port".into(), "1".into(), 2),
            ("port".into(), "2".into(), 4),
            ("ssl".into(), "on".into(), 5)
        ]
    );
}

#[test]
fn includes_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    };
    write(
        "postgresql.conf",
        "a = 1\ninclude 'extra.conf'\nINCLUDE_IF_EXISTS = 'nosuch.conf'\ninclude_dir 'conf.d'\nz = 26\ninclude 'missing.conf'\n",
    );
    write("extra.conf", "b = 2\n");
    write("conf.d/02.conf", "d = 4\n");
    write("conf.d/01.conf", "c = 3\nbad = = 1\n");
    write("conf.d/03.conf", "e = 5\n");
    write("conf.d/.04.conf", "f = 6\n");
    write("conf.d/05.txt", "g = 7\n");
    let path = dir.path().join("postgresql.conf");
    let src = std::fs::read_to_string(&path).expect("read");
    let p = scan(&src, "postgresql.conf", &path, &ParseContext::default());
    let got: Vec<_> = p
        .value
        .iter()
        .map(|s| (s.name.as_str(), s.location.file.as_str(), s.location.line))
        .collect();
    // include_dir stops at the first file that fails, as the server does.
    assert_eq!(
        got,
        [
            ("a", "postgresql.conf", 1),
            ("b", "extra.conf", 1),
            ("c", "conf.d/01.conf", 1),
            ("z", "postgresql.conf", 5)
        ]
    );
    let errors: Vec<_> = p
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.location.file.as_str(),
                d.location.line,
                d.message.clone(),
            )
        })
        .collect();
    let inc = dir.path().join("conf.d/01.conf").display().to_string();
    assert_eq!(
        errors,
        [
            // The bad line itself, in the included file.
            (
                "invalid-line",
                "conf.d/01.conf",
                2,
                format!(
                    "syntax error in file \"{inc}\" line 2, near token \"=\" (in a file included from line 4 of \"postgresql.conf\")"
                )
            ),
            // A strict `include` of a file absent from the checked files: its settings
            // are unknown (the server's copy may have it), as for `include_dir`.
            (
                "include-not-seen",
                "postgresql.conf",
                6,
                "the file `missing.conf` that `include` names is not among the checked files: the settings it holds on the server are unknown (PostgreSQL refuses to start if it does not exist there; add it to the checked paths, or use `include_if_exists` if it is optional)".to_string()
            ),
        ]
    );
}

#[test]
fn include_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("postgresql.conf");
    std::fs::write(
        &path,
        "include 'postgresql.conf'\ninclude ''\ninclude_dir ''\n",
    )
    .expect("write");
    let src = std::fs::read_to_string(&path).expect("read");
    let p = scan(&src, "postgresql.conf", &path, &ParseContext::default());
    let got: Vec<_> = p
        .diagnostics
        .iter()
        .map(|d| (d.location.line, d.message.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                1,
                format!("configuration file recursion in \"{}\"", path.display())
            ),
            (2, "empty configuration file name: \"\"".to_string()),
            (3, "empty configuration directory name: \"\"".to_string()),
        ]
    );
}

/// `tests/fixtures/postgresql-conf`: `errors.conf` gets the messages of its `# expect:`
/// comments; `postgresql.conf` reads its `conf.d` drop-ins in name order, so the values
/// the server ends with (checked with `postgres -C`) are the last of each name.
#[test]
fn fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/postgresql-conf");
    let path = dir.join("errors.conf");
    let src = std::fs::read_to_string(&path).expect("errors.conf");
    let p = scan(&src, "errors.conf", &path, &ParseContext::default());
    let expected: Vec<(u32, String)> = src
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let message = l
                .strip_prefix("# expect: ")?
                .replace("FILE", &path.display().to_string());
            Some((i as u32 + 2, message))
        })
        .collect();
    let got: Vec<(u32, String)> = p
        .diagnostics
        .iter()
        .map(|d| (d.location.line, d.message.clone()))
        .collect();
    assert_eq!(got, expected);
    let names: Vec<_> = p.value.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["port", "ssl"]);

    let path = dir.join("postgresql.conf");
    let src = std::fs::read_to_string(&path).expect("postgresql.conf");
    let p = scan(&src, "postgresql.conf", &path, &ParseContext::default());
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let last = |name: &str| {
        p.value
            .iter()
            .rev()
            .find(|s| s.name == name)
            .map(|s| s.value.as_str())
    };
    assert_eq!(last("password_encryption"), Some("md5"));
    assert_eq!(last("log_connections"), Some("off"));
    assert_eq!(last("ssl_ciphers"), Some("HIGH:!aNULL"));
    assert_eq!(last("max_connections"), Some("100"));
    assert_eq!(last("log_line_prefix"), Some("%m [%p] %q%u@%d "));
    assert_eq!(last("pg_stat_statements.track"), Some("all"));
    let drop_in = p
        .value
        .iter()
        .find(|s| s.name == "ssl_ciphers")
        .map(|s| (s.location.file.clone(), s.location.line));
    assert_eq!(drop_in, Some(("conf.d/01-security.conf".to_string(), 2)));
}

/// Prints patrol's diagnostics for the file named by `PATROL_CONF_FILE`, for comparing
/// with the server's log (`postgres --config-file=… -C port`).
#[test]
#[ignore]
fn dump_conf() {
    let Ok(file) = std::env::var("PATROL_CONF_FILE") else {
        return;
    };
    let src = std::fs::read_to_string(&file).unwrap_or_default();
    let p = scan(&src, &file, Path::new(&file), &ParseContext::default());
    for d in p.diagnostics {
        println!("DIAG {}", d.message);
    }
    for s in p.value {
        println!("SET {} = {}", s.name, s.value);
    }
}

/// Names the PostgreSQL version does not know: the server refuses to start on them
/// (checked on a real 15: `unrecognized configuration parameter "wal_keep_segments" in
/// file … line 816`, then FATAL; `tests/gucs.rs` checks the tables on every major).
#[test]
fn names_the_version_does_not_know() {
    let on = |src: &str, major: Option<u32>| -> Vec<(String, u32, String)> {
        let ctx = ParseContext {
            postgres_version: major,
            tree: None,
        };
        parse(
            src,
            "postgresql.conf",
            Path::new("/etc/pg/postgresql.conf"),
            &ctx,
        )
        .diagnostics
        .into_iter()
        .map(|d| (d.code, d.location.line, d.message))
        .collect()
    };
    let src =
        "shared_buffers = 128MB\nvacuum_defer_cleanup_age = 0\npg_stat_statements.max = 100\n";
    assert!(on(src, Some(15)).is_empty());
    assert_eq!(
        on(src, Some(16)),
        [(
            "invalid-line".to_string(),
            2,
            "unrecognized configuration parameter \"vacuum_defer_cleanup_age\" in file \"postgresql.conf\" line 2 (PostgreSQL 16 does not know it, only 15 and earlier: the server refuses to start, and a reload applies nothing)".to_string()
        )]
    );
    // The version unknown: a note, not an error.
    let unknown = on(src, None);
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].0, "parameter-version");
    assert!(
        unknown[0].2.contains("PostgreSQL 15 and earlier only"),
        "{unknown:?}"
    );
    // Known to no major: an error whatever the version.
    let typo = on("Shared_Buffer = 1\n", None);
    assert_eq!(typo[0].0, "invalid-line");
    assert!(
        typo[0].2.contains("no PostgreSQL 13–18 knows it"),
        "{typo:?}"
    );
    // A syntax error first: the server stops before it checks names.
    assert_eq!(on("wal_keep_segments = = 1\n", Some(15)).len(), 1);
}

#[test]
fn an_include_dir_not_in_the_checked_files_is_unknown_not_broken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("postgresql.conf");
    // Debian's stock file: `include_dir = 'conf.d'`, the directory absent from the
    // repository; the settings after it are still read and the names still checked.
    let src = "ssl = on\ninclude_dir = 'conf.d'\nnot_a_parameter = 1\n";
    std::fs::write(&path, src).expect("write");
    let p = parse(src, "postgresql.conf", &path, &ParseContext::default());
    let got: Vec<_> = p
        .diagnostics
        .iter()
        .map(|d| (d.code.as_str(), d.location.line))
        .collect();
    assert_eq!(got, [("include-not-seen", 2), ("invalid-line", 3)]);
    assert!(
        p.diagnostics[0]
            .message
            .contains("`conf.d` that `include_dir` names"),
        "{}",
        p.diagnostics[0].message
    );
    assert_eq!(p.value.len(), 2);
    // An empty directory is what Debian ships: nothing to say.
    std::fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
    let p = parse(src, "postgresql.conf", &path, &ParseContext::default());
    let got: Vec<_> = p.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(got, ["invalid-line"]);
}
