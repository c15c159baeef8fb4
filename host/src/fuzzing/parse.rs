//! The `parse` target: every config format, chosen by the first byte.
//!
//! Input: one selector byte, then the file's text. `selector % FORMATS.len()` picks the
//! format (and the file name, which also picks JSON or HCL for Consul);
//! `selector / FORMATS.len()` picks the PostgreSQL version for pg_hba/pg_ident syntax.
//! The last format is PEM (certificates and keys, read as bytes).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::certs;
use crate::formats::{self, Kind, ParseContext, kind, patroni_hba};
use crate::wit;

/// (kind, file name) by selector. Append only: the seeds under `fuzz/seeds/parse` start
/// with these indices.
pub const FORMATS: &[(&str, &str)] = &[
    ("patroni", "patroni.yml"),
    ("etcd", "etcd.conf.yml"),
    ("topology", "topology.yaml"),
    ("systemd", "patroni.service"),
    ("pg-hba", "pg_hba.conf"),
    ("pg-ident", "pg_ident.conf"),
    ("postgresql-conf", "postgresql.conf"),
    ("haproxy", "haproxy.cfg"),
    ("pgbackrest", "pgbackrest.conf"),
    ("pg-autoctl", "pg_autoctl.cfg"),
    ("pgbouncer", "pgbouncer.ini"),
    ("gitlab-rb", "gitlab.rb"),
    ("consul", "consul.hcl"),
    ("consul", "consul.json"),
    ("nftables", "firewall.nft"),
    ("pem", "server.crt"),
];

/// PostgreSQL versions by `selector / FORMATS.len()` (none: the newest syntax).
const VERSIONS: &[Option<u32>] = &[
    None,
    Some(10),
    Some(13),
    Some(15),
    Some(16),
    Some(17),
    Some(18),
];

/// Text of a file outside the checked tree that a symlink in it points to: it must never
/// appear in what a parser returns (includes are confined to the tree).
const OUTSIDE: &str = "PATROL_FUZZ_OUTSIDE_TOKEN";

/// The files in the checked tree (a directory made once per process under the system's
/// temporary directory), for the fuzzed file to include: pg_hba/pg_ident/postgresql.conf
/// lines, a file that includes itself, a directory for `include_dir`, and symlinks that
/// resolve outside the tree (a file, `/dev/zero`) or loop.
const TREE_FILES: &[(&str, &str)] = &[
    (
        "included.conf",
        "host all all 10.0.0.0/8 scram-sha-256\nlisten_addresses = '*'\nmap alice bob\n@users\n",
    ),
    (
        "self.conf",
        "include self.conf\n@self.conf\ninclude 'self.conf'\nhost all +users ::1/128 md5\n",
    ),
    ("users", "alice\nbob, \"carol\" @self.conf\n"),
    ("conf.d/a.conf", "port = 5433\ninclude '../self.conf'\n"),
    ("conf.d/b.conf", "ssl = on\ninclude_dir '..'\n"),
];
const TREE_LINKS: &[(&str, &str)] = &[
    ("outside.conf", "../outside.conf"),
    ("zero", "/dev/zero"),
    ("loop", "."),
];

/// The checked tree's directory, where the fuzzed file claims to live.
fn tree_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = std::env::temp_dir().join("patrol-fuzz-includes-1");
        let dir = base.join("tree");
        make_tree(&base, &dir)
            .unwrap_or_else(|e| panic!("cannot make the include tree {}: {e}", dir.display()));
        dir
    })
}

fn make_tree(base: &Path, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("conf.d"))?;
    let write = |path: PathBuf, text: &str| {
        // Several fuzzing processes may make it at once: write aside, then rename.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    };
    write(
        base.join("outside.conf"),
        &format!("host all all 0.0.0.0/0 trust {OUTSIDE}\n"),
    )?;
    for (name, text) in TREE_FILES {
        write(dir.join(name), text)?;
    }
    #[cfg(unix)]
    for (name, target) in TREE_LINKS {
        match std::os::unix::fs::symlink(target, dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Parses `data` as the format its first byte selects and checks the result.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (kind_name, file) = FORMATS[selector as usize % FORMATS.len()];
    let version = VERSIONS[selector as usize / FORMATS.len() % VERSIONS.len()];
    let dir = tree_dir();
    let path = dir.join(file);
    if kind_name == "pem" {
        let (_facts, parsed) = certs::pem::read(rest);
        let _ = certs::pem::verify_chain(&parsed, &parsed);
        return;
    }
    let text = super::text(rest);
    let _ = kind::detect(&path, &text);
    // As a check builds it: includes are read only inside the checked tree.
    let ctx = ParseContext {
        postgres_version: version,
        tree: Some(crate::confine::Tree::new([dir])),
    };
    let check_outside = !text.contains(OUTSIDE);
    let doc = formats::document(Kind::from_name(kind_name), file, &path, text, &ctx);
    check_document(&doc, file);
    if check_outside {
        assert!(
            !format!("{doc:?}").contains(OUTSIDE),
            "text of a file outside the checked tree in the document: {doc:?}"
        );
    }
    let _ = certs::refs::collect(std::slice::from_ref(&doc));
    if kind_name == "patroni" {
        for derived in patroni_hba::derived(std::slice::from_ref(&doc), &ctx) {
            // A derived pg_hba names the lines of the Patroni file it came from.
            check_locations(&derived, file, super::line_count(&doc.text));
        }
    }
}

/// Checks what a parser promises about its document.
fn check_document(doc: &wit::Document, file: &str) {
    let lines = super::line_count(&doc.text);
    check_locations(doc, file, lines);
    if let wit::Body::Structured(s) = &doc.body {
        check_structured(s, lines);
    }
}

/// Every line named in `file` is a line of it (or 0, the whole file; or one past the end,
/// for "missing at the end").
fn check_locations(doc: &wit::Document, file: &str, lines: usize) {
    let check = |loc: &wit::Location, what: &str| {
        if loc.file != file {
            return; // an included file
        }
        assert!(
            loc.line as usize <= lines + 1,
            "{what} at line {} of a {lines}-line file: {loc:?}",
            loc.line
        );
        if let Some(end) = loc.end_line {
            assert!(
                end >= loc.line && end as usize <= lines + 1,
                "{what} ends at line {end}: {loc:?}"
            );
        }
    };
    for d in &doc.diagnostics {
        check(&d.location, "diagnostic");
    }
    match &doc.body {
        wit::Body::Hba(rules) => rules.iter().for_each(|r| check(&r.location, "pg_hba rule")),
        wit::Body::Ident(rules) => rules
            .iter()
            .for_each(|r| check(&r.location, "pg_ident rule")),
        wit::Body::Settings(settings) => {
            settings.iter().for_each(|s| check(&s.location, "setting"))
        }
        wit::Body::Nftables(tables) => {
            let at = |line: u32, end: u32| wit::Location {
                file: file.to_string(),
                line,
                end_line: Some(end),
                pointer: None,
            };
            for t in tables {
                check(&at(t.line, t.end_line), "nftables table");
                for s in &t.sets {
                    check(&at(s.line, s.end_line), "nftables set");
                }
                for c in &t.chains {
                    check(&at(c.line, c.end_line), "nftables chain");
                    for r in &c.rules {
                        check(&at(r.line, r.line), "nftables rule");
                    }
                }
            }
        }
        wit::Body::PortMatrix(m) => m
            .hosts
            .iter()
            .for_each(|h| check(&h.location, "port matrix host")),
        wit::Body::PgbouncerUsers(users) => users
            .iter()
            .for_each(|u| check(&u.location, "auth_file user")),
        wit::Body::Structured(_) | wit::Body::Certificates(_) | wit::Body::Text => {}
    }
}

/// The JSON is JSON, and every span's pointer is in it and its lines are in the file.
fn check_structured(s: &wit::Structured, lines: usize) {
    let value: Value = match serde_json::from_str(&s.json) {
        Ok(v) => v,
        // serde_json stops at 128 levels; the policies read it the same way and fail.
        Err(e) if e.to_string().contains("recursion limit") => return,
        Err(e) => panic!("the parser wrote invalid JSON ({e}): {}", s.json),
    };
    for span in &s.spans {
        assert!(
            span.line >= 1 && span.line <= span.end_line && span.end_line as usize <= lines + 1,
            "span out of the file's {lines} lines: {span:?}"
        );
        assert!(
            value.pointer(&span.pointer).is_some(),
            "span pointer `{}` not in the JSON {}",
            span.pointer,
            s.json
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The confinement check can fail: unconfined, an include of the tree's symlink to a
    /// file outside it echoes that file; confined (as `run` parses), nothing of it shows.
    #[test]
    fn an_include_outside_the_tree_would_be_caught() {
        let dir = tree_dir();
        let text = "include outside.conf\n@outside.conf\ninclude loop/loop/included.conf\n";
        let parse = |tree| {
            let ctx = ParseContext {
                postgres_version: None,
                tree,
            };
            let doc = formats::document(
                Kind::from_name("pg-hba"),
                "pg_hba.conf",
                &dir.join("pg_hba.conf"),
                text.into(),
                &ctx,
            );
            format!("{doc:?}")
        };
        assert!(parse(None).contains(OUTSIDE));
        let confined = parse(Some(crate::confine::Tree::new([dir])));
        assert!(!confined.contains(OUTSIDE), "{confined}");
        assert!(confined.contains("included.conf"), "{confined}");
        let mut data = vec![4];
        data.extend_from_slice(text.as_bytes());
        run(&data);
    }
}
