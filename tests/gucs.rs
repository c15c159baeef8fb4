#![allow(clippy::unwrap_used)]

//! The parameter tables of `host/src/formats/pgconf/gucs/` against the real servers: for
//! each PostgreSQL major 13–18 (as `tests/differential_pg.rs` installs them), `initdb`, then
//! the names of `pg_settings` read in single-user mode (no socket, no port) must be the
//! table's, and a postgresql.conf that sets a name the major does not know must stop the
//! server from starting with the message patrol gives. `PATROL_BLESS=1` rewrites the
//! tables from the servers.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use support::servers::{self, POSTGRES};

fn table_path(major: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/formats/pgconf/gucs/{major}.txt"))
}

/// The lowercased names of `pg_settings` of a fresh cluster in `data`.
fn server_names(pg: &servers::Postgres, data: &Path) -> String {
    let mut cmd = support::as_postgres(
        pg.bindir.join("postgres"),
        [
            "--single".as_ref(),
            "-D".as_ref(),
            data.as_os_str(),
            "-F".as_ref(),
            "postgres".as_ref(),
        ],
    );
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"select name from pg_settings order by 1;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut names: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("name = \"")?.1;
            Some(rest.split_once('"')?.0.to_ascii_lowercase())
        })
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 250, "too few names read: {text}");
    names.iter().map(|n| format!("{n}\n")).collect()
}

#[test]
fn parameter_tables_are_the_servers() {
    let bless = std::env::var_os("PATROL_BLESS").is_some();
    let mut problems = Vec::new();
    for &(major, _, _) in POSTGRES {
        let pg = servers::postgres(major);
        let dir = support::postgres_tempdir();
        let data = dir.path().join("data");
        support::run_as_postgres(
            pg.bindir.join("initdb"),
            [
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
            ],
        );
        let names = server_names(&pg, &data);
        let path = table_path(major);
        if bless {
            std::fs::write(&path, &names).unwrap();
        } else if std::fs::read_to_string(&path).unwrap_or_default() != names {
            problems.push(format!(
                "PostgreSQL {} ({}): {} differs from the server's pg_settings (PATROL_BLESS=1 rewrites it)",
                major,
                pg.version,
                path.display()
            ));
        }

        // A name of another major that this one does not know: the server refuses to
        // start, as patrol says.
        let table = std::fs::read_to_string(&path).unwrap();
        let other = POSTGRES
            .iter()
            .filter(|(m, _, _)| *m != major)
            .flat_map(|(m, _, _)| {
                std::fs::read_to_string(table_path(*m))
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .find(|n| !table.lines().any(|l| l == n) && n != "extension_destdir")
            .unwrap();
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        let line = text.lines().count() + 1;
        text.push_str(&format!("{other} = 0\n"));
        support::write_postgres_file(&conf, &text);
        let out = support::as_postgres(
            pg.bindir.join("postgres"),
            [
                "-D".as_ref(),
                data.as_os_str(),
                "-C".as_ref(),
                "port".as_ref(),
            ],
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        let expected = format!(
            "unrecognized configuration parameter \"{other}\" in file \"{}\" line {line}",
            conf.display()
        );
        if out.status.success() || !log.contains(&expected) {
            problems.push(format!(
                "PostgreSQL {major}: `{other}` should stop the server with `{expected}`; it said: {log}"
            ));
        }
        let ctx = patrol::formats::ParseContext {
            postgres_version: Some(major),
            tree: None,
        };
        let shown = conf.display().to_string();
        let doc = patrol::formats::document(
            patrol::formats::Kind::PostgresqlConf,
            &shown,
            &conf,
            text.clone(),
            &ctx,
        );
        let said: Vec<&str> = doc.diagnostics.iter().map(|d| d.message.as_str()).collect();
        if !said.iter().any(|m| m.starts_with(&expected)) {
            problems.push(format!(
                "PostgreSQL {major}: patrol should say `{expected}`; it said {said:?}"
            ));
        }
        eprintln!(
            "PostgreSQL {major} ({}): {} parameters; `{other}` refused as patrol says",
            pg.version,
            names.lines().count()
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
