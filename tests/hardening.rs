//! patrol on hostile config trees: nothing is written or read outside the checked tree
//! (through symlinks, `..` or the include directives of pg_hba.conf, pg_ident.conf and
//! postgresql.conf), nothing of a refused file is echoed, devices, FIFOs and symlink loops
//! neither hang nor exhaust the run, and fixes keep line endings and final newlines.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn patrol(dir: &Path) -> Command {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hardening-cache");
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    c.env("NO_COLOR", "1")
        .env("PATROL_CACHE_DIR", cache)
        .current_dir(dir);
    c
}

/// A fresh directory with `tree/` (what is checked) and `outside/` (what is not).
fn workdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hardening-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("tree")).unwrap();
    std::fs::create_dir_all(d.join("outside")).unwrap();
    d
}

/// Compiles every built-in policy into the cache once, before any test times a run.
fn warm_cache() {
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        let out = patrol(Path::new(env!("CARGO_TARGET_TMPDIR")))
            .args(["policy", "list"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

fn run(dir: &Path, args: &[&str]) -> (Output, String, String) {
    warm_cache();
    let start = Instant::now();
    let out = patrol(dir).args(args).output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{args:?} took {:?}",
        start.elapsed()
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out, stdout, stderr)
}

const SECRET: &str = "TOKEN-8c1f0e5d2b";
/// A pg_hba.conf with a fix that needs no fact of the deployment (the deletion of a line
/// that no connection can reach); the others are withheld while TLS and password
/// storage are unknown.
const MD5_HBA: &str =
    "local all all peer\nhost all all 10.0.0.0/8 md5\nhost all all 10.1.0.0/16 md5\n";

// ---- writes ------------------------------------------------------------------------

#[test]
fn fix_does_not_write_through_a_symlinked_directory_to_outside() {
    let d = workdir("fix-symlinked-dir");
    std::fs::write(d.join("outside/pg_hba.conf"), MD5_HBA).unwrap();
    symlink(d.join("outside"), d.join("tree/conf")).unwrap();
    let (out, _, stderr) = run(
        &d,
        &[
            "check",
            "--fix",
            "--kind",
            "pg-hba=tree/conf/pg_hba.conf",
            "tree",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(d.join("outside/pg_hba.conf")).unwrap(),
        MD5_HBA,
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("tree/conf/pg_hba.conf") && stderr.contains("outside the checked tree"),
        "{stderr}"
    );
}

#[test]
fn fix_writes_through_a_symlinked_file_inside_the_tree_and_keeps_the_link() {
    let d = workdir("fix-symlinked-file");
    std::fs::create_dir(d.join("tree/real")).unwrap();
    std::fs::write(d.join("tree/real/hba.txt"), MD5_HBA).unwrap();
    symlink("real/hba.txt", d.join("tree/pg_hba.conf")).unwrap();
    let (out, _, stderr) = run(&d, &["check", "--fix", "tree/pg_hba.conf"]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{stderr}"
    );
    assert!(
        std::fs::symlink_metadata(d.join("tree/pg_hba.conf"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced"
    );
    let fixed = std::fs::read_to_string(d.join("tree/real/hba.txt")).unwrap();
    assert!(
        !fixed.contains("10.1.0.0/16"),
        "the target was not fixed: {fixed}\n{stderr}"
    );
}

#[test]
fn fix_refuses_a_symlinked_file_whose_target_is_outside() {
    let d = workdir("fix-symlink-out");
    std::fs::write(d.join("outside/hba"), MD5_HBA).unwrap();
    symlink(d.join("outside/hba"), d.join("tree/pg_hba.conf")).unwrap();
    let (out, _, stderr) = run(&d, &["check", "--fix", "tree/pg_hba.conf"]);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("`tree/pg_hba.conf`") && stderr.contains("outside the checked tree"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("outside/hba")).unwrap(),
        MD5_HBA
    );
    assert!(
        std::fs::symlink_metadata(d.join("tree/pg_hba.conf"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

// ---- fixes keep the file's shape ---------------------------------------------------

/// The insecure example's `name`, without its final newline (and with CRLF endings when
/// asked), fixed by the built-in policies.
fn fix_without_final_newline(name: &str, kind: &str, crlf: bool) -> (String, String) {
    let d = workdir(&format!("fix-eol-{name}-{crlf}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/insecure")
        .join(name);
    let mut text = std::fs::read_to_string(src).unwrap().trim_end().to_string();
    if kind == "pg-hba" {
        // A last line no connection reaches: its deletion is a fix that needs no fact of
        // the deployment (the file's others wait for TLS and password storage).
        text.push_str("\nhost    all             all             10.1.0.0/16             md5");
    }
    if crlf {
        text = text.replace('\n', "\r\n");
    }
    let file = d.join("tree").join(name);
    std::fs::write(&file, &text).unwrap();
    let kind = format!("{kind}=tree/{name}");
    let (out, _, stderr) = run(&d, &["check", "--fix", "--kind", &kind, "tree"]);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{stderr}"
    );
    assert!(stderr.contains("patrol: fixed"), "nothing fixed: {stderr}");
    (std::fs::read_to_string(file).unwrap(), stderr)
}

#[test]
fn fixes_never_glue_a_new_line_onto_a_last_line_without_newline() {
    for (name, kind) in [
        ("consul.hcl", "consul"),
        ("pg_hba.conf", "pg-hba"),
        ("postgresql.conf", "postgresql-conf"),
    ] {
        for crlf in [false, true] {
            let (after, stderr) = fix_without_final_newline(name, kind, crlf);
            assert!(
                !after.ends_with('\n'),
                "{name}: a final newline was added:\n{after}"
            );
            for line in after.split('\n') {
                let t = line.trim();
                assert!(
                    !(t.starts_with('}')
                        && t.len() > 1
                        && t[1..].trim_start().starts_with(char::is_alphabetic)),
                    "{name}: glued line `{line}`\n{stderr}"
                );
            }
            if crlf {
                assert_eq!(
                    after.matches('\n').count(),
                    after.matches("\r\n").count(),
                    "{name}: mixed line endings:\n{after:?}"
                );
            }
        }
    }
}

// ---- includes ----------------------------------------------------------------------

/// Checks `tree/` (JSON) and asserts nothing of the secret file is in the output.
fn check_tree(d: &Path, extra: &[&str]) -> (Output, serde_json::Value, String) {
    std::fs::write(
        d.join("outside/secret.conf"),
        format!("{SECRET} all all trust\nshared_buffers = '{SECRET}'\n"),
    )
    .unwrap();
    let mut args = vec!["check", "--format", "json"];
    args.extend_from_slice(extra);
    args.push("tree");
    let (out, stdout, stderr) = run(d, &args);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret leaked:\n{stdout}\n{stderr}"
    );
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    (out, json, stderr)
}

fn finding_at<'a>(
    json: &'a serde_json::Value,
    file: &str,
    line: u64,
    needle: &str,
) -> &'a serde_json::Value {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["file"] == file
                && f["line"] == line
                && f["message"].as_str().unwrap().contains(needle)
        })
        .unwrap_or_else(|| panic!("no finding at {file}:{line} with `{needle}`: {json:#}"))
}

#[test]
fn includes_outside_the_tree_are_refused_and_not_echoed() {
    let d = workdir("includes-out");
    let secret = d.join("outside/secret.conf");
    let s = secret.display();
    std::fs::write(
        d.join("tree/pg_hba.conf"),
        format!("local all all peer\ninclude {s}\nhost all @{s} 10.0.0.0/8 scram-sha-256\ninclude_if_exists {s}\ninclude_dir {}\n", d.join("outside").display()),
    )
    .unwrap();
    std::fs::write(
        d.join("tree/pg_ident.conf"),
        format!("m a b\ninclude {s}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("tree/postgresql.conf"),
        format!(
            "port = 5432\ninclude '{s}'\ninclude_if_exists '{s}'\ninclude_dir '{}'\n",
            d.join("outside").display()
        ),
    )
    .unwrap();
    let (_, json, _) = check_tree(&d, &[]);
    for line in [2, 3, 4, 5] {
        finding_at(&json, "tree/pg_hba.conf", line, "outside the checked tree");
    }
    finding_at(&json, "tree/pg_ident.conf", 2, "outside the checked tree");
    for line in [2, 3, 4] {
        finding_at(
            &json,
            "tree/postgresql.conf",
            line,
            "outside the checked tree",
        );
    }
    // `--root` widens the tree for reads: the same include is then read.
    let (_, json, _) = {
        std::fs::write(
            d.join("outside/inside.conf"),
            "host all all 10.0.0.0/8 md5\n",
        )
        .unwrap();
        std::fs::write(
            d.join("tree/pg_hba.conf"),
            format!(
                "local all all peer\ninclude {}\n",
                d.join("outside/inside.conf").display()
            ),
        )
        .unwrap();
        std::fs::remove_file(d.join("tree/pg_ident.conf")).unwrap();
        std::fs::remove_file(d.join("tree/postgresql.conf")).unwrap();
        let root = d.join("outside");
        check_tree(&d, &["--root", root.to_str().unwrap()])
    };
    assert!(
        !json.to_string().contains("outside the checked tree"),
        "{json:#}"
    );
    let md5 = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "md5-auth");
    assert!(
        md5.is_some_and(|f| f["file"].as_str().unwrap().ends_with("outside/inside.conf")),
        "{json:#}"
    );
}

#[test]
fn includes_of_devices_fifos_symlinks_out_and_themselves_end() {
    let d = workdir("includes-special");
    symlink("/dev/zero", d.join("tree/zero.conf")).unwrap();
    symlink(d.join("outside/secret.conf"), d.join("tree/link.conf")).unwrap();
    let fifo = d.join("tree/fifo.conf");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Ten lines including the file itself: 10^10 reads unbounded.
    let selfish = "include pg_hba.conf\n".repeat(10);
    std::fs::write(d.join("tree/pg_hba.conf"), format!("local all all peer\ninclude /dev/zero\ninclude zero.conf\ninclude link.conf\ninclude fifo.conf\n{selfish}")).unwrap();
    std::fs::write(d.join("tree/postgresql.conf"), "port = 5432\ninclude '/dev/zero'\ninclude 'zero.conf'\ninclude 'fifo.conf'\ninclude 'link.conf'\n").unwrap();
    let start = Instant::now();
    let (_, json, stderr) = check_tree(
        &d,
        &[
            "--kind",
            "pg-hba=tree/pg_hba.conf",
            "--kind",
            "postgresql-conf=tree/postgresql.conf",
        ],
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    finding_at(&json, "tree/pg_hba.conf", 2, "outside the checked tree");
    finding_at(&json, "tree/pg_hba.conf", 3, "outside the checked tree");
    finding_at(&json, "tree/pg_hba.conf", 4, "outside the checked tree");
    finding_at(&json, "tree/pg_hba.conf", 5, "FIFO");
    finding_at(&json, "tree/pg_hba.conf", 6, "files included from one file");
    finding_at(&json, "tree/postgresql.conf", 2, "outside the checked tree");
    finding_at(&json, "tree/postgresql.conf", 4, "FIFO");
    // The walk says what it skipped.
    assert!(
        stderr.contains("skipped `tree/fifo.conf`: a FIFO"),
        "{stderr}"
    );
    assert!(
        stderr.contains("skipped `tree/zero.conf`: a symlink to `/dev/zero`"),
        "{stderr}"
    );
}

// ---- walks and named files ---------------------------------------------------------

#[test]
fn walks_skip_loops_devices_and_fifos_and_say_so() {
    let d = workdir("walk");
    std::fs::write(d.join("tree/pg_hba.conf"), MD5_HBA).unwrap();
    symlink(".", d.join("tree/a")).unwrap();
    symlink(".", d.join("tree/b")).unwrap();
    symlink("/dev/zero", d.join("tree/postgresql.conf")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(d.join("tree/patroni.yml"))
            .status()
            .unwrap()
            .success()
    );
    symlink(d.join("outside"), d.join("tree/out")).unwrap();
    std::fs::write(
        d.join("outside/pg_hba.conf"),
        format!("{SECRET} all all trust\n"),
    )
    .unwrap();
    let (out, json, stderr) = check_tree(&d, &[]);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (path, why) in [
        ("tree/a", "symlink loop"),
        ("tree/b", "symlink loop"),
        (
            "tree/postgresql.conf",
            "a symlink to `/dev/zero`, outside the checked tree",
        ),
        ("tree/patroni.yml", "a FIFO, not a regular file"),
        ("tree/out", "outside the checked tree"),
    ] {
        assert!(
            stderr.contains(&format!("patrol: skipped `{path}`: ")) && stderr.contains(why),
            "{path}: {stderr}"
        );
    }
    let files: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["file"].as_str())
        .collect();
    assert!(files.contains(&"tree/pg_hba.conf"), "{json:#}");
}

#[test]
fn fifos_and_devices_named_on_the_command_line_are_input_errors() {
    let d = workdir("named");
    let fifo = d.join("tree/pg_hba.conf");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, why) in [
        ("tree/pg_hba.conf", "a FIFO, not a regular file"),
        ("/dev/zero", "a character device, not a regular file"),
    ] {
        let (out, _, stderr) = run(&d, &["check", "--kind", "pg-hba", path]);
        assert_eq!(out.status.code(), Some(3), "{path}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot read `{path}`: {why}")),
            "{path}: {stderr}"
        );
    }
    let big = d.join("tree/big.conf");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((16 << 20) + 1)
        .unwrap();
    let (out, _, stderr) = run(&d, &["check", "--kind", "pg-hba", "tree/big.conf"]);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("larger than 16 MiB"), "{stderr}");
}

// ---- files named outside the walk ----------------------------------------------------

/// The samples, settings, `patrol.yaml`, baseline, test case and policy files a user
/// names are bounded and refused when not regular files, as walked files are, with an
/// error naming the file (before: read whole, a 16 MiB file of NULs parsed as YAML, a
/// device read as empty): 16 MiB for all but a JSON samples file, streamed up to 1 GiB.
#[test]
fn files_named_outside_the_walk_are_bounded_and_regular() {
    let d = workdir("named-outside");
    std::fs::write(d.join("tree/pg_hba.conf"), MD5_HBA).unwrap();
    let sparse = |name: &str, len: u64| {
        std::fs::File::create(d.join(name))
            .unwrap()
            .set_len(len)
            .unwrap();
        name.to_string()
    };
    let big = sparse("big.yaml", (16 << 20) + 1);
    let big_wasm = sparse("big.wasm", (64 << 20) + 1);
    let cases: &[(&[&str], &str)] = &[
        (&["simulate", "--samples", "F", "tree"], "cannot read `F`"),
        (
            &["check", "--settings", "pg-hba=F", "tree"],
            "cannot read `F`",
        ),
        (&["check", "--settings", "F", "tree"], "cannot read `F`"),
        (&["check", "--config", "F", "tree"], "F"),
        (
            &["check", "--baseline", "F", "tree"],
            "cannot read baseline `F`",
        ),
        (&["test", "F"], "F"),
    ];
    for (args, names) in cases {
        for (file, why) in [
            (big.as_str(), "larger than 16 MiB, the most patrol reads"),
            ("/dev/null", "a character device, not a regular file"),
        ] {
            let owned: Vec<String> = args.iter().map(|a| a.replace('F', file)).collect();
            let args: Vec<&str> = owned.iter().map(String::as_str).collect();
            let (out, _, stderr) = run(&d, &args);
            assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
            assert!(
                stderr.contains(&names.replace('F', file)) && stderr.contains(why),
                "{args:?}: {stderr}"
            );
        }
    }
    // A JSON samples file is streamed into the columns and has its own, larger bound
    // (1 GiB); a YAML one is read whole and keeps 16 MiB.
    let huge = sparse("huge.json", (1 << 30) + 1);
    let (out, _, stderr) = run(&d, &["simulate", "--samples", &huge, "tree"]);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot read `huge.json`: larger than 1024 MiB, the most patrol reads"),
        "{stderr}"
    );
    let mut json = String::from("{\"requests\": [");
    let one = "{\"source\": \"10.0.0.1\", \"method\": \"GET\", \"path\": \"/patroni\"},\n";
    while json.len() < (16 << 20) + 4096 {
        json.push_str(one);
    }
    json.push_str("{\"source\": \"10.0.0.2\", \"path\": \"/patroni\"}]}\n");
    std::fs::write(d.join("big-ok.json"), &json).unwrap();
    let (out, stdout, stderr) = run(
        &d,
        &[
            "simulate",
            "--format",
            "json",
            "--samples",
            "big-ok.json",
            "tree",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let n = json.matches("\"source\"").count();
    assert_eq!(doc["summary"]["decisions"], n, "{stderr}");
    let yaml = json.replace("{\"requests\": [", "requests: [");
    std::fs::write(d.join("big.yml"), yaml).unwrap();
    let (out, _, stderr) = run(&d, &["simulate", "--samples", "big.yml", "tree"]);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot read `big.yml`: larger than 16 MiB, the most patrol reads")
            && stderr.contains("must be JSON"),
        "{stderr}"
    );
    for args in [
        ["check", "--policy", big_wasm.as_str(), "tree"],
        ["policy", "inspect", big_wasm.as_str(), ""],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let (out, _, stderr) = run(&d, &args);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot read policy `big.wasm`: larger than 64 MiB"),
            "{args:?}: {stderr}"
        );
    }
}
