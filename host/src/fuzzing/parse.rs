//! The `parse` target: every config format, chosen by the first byte.
//!
//! Input: one selector byte, then the file's text. `selector % FORMATS.len()` picks the
//! format (and the file name, which also picks JSON or HCL for Consul);
//! `selector / FORMATS.len()` picks the PostgreSQL version for pg_hba/pg_ident syntax.
//! The last format is PEM (certificates and keys, read as bytes).

use std::path::Path;

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

/// Where the fuzzed file claims to live: a directory that does not exist, so that a
/// relative include names nothing.
const DIR: &str = "/nonexistent/patrol-fuzz";

/// Parses `data` as the format its first byte selects and checks the result.
pub fn run(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (kind_name, file) = FORMATS[selector as usize % FORMATS.len()];
    let version = VERSIONS[selector as usize / FORMATS.len() % VERSIONS.len()];
    let path = Path::new(DIR).join(file);
    if kind_name == "pem" {
        let (_facts, parsed) = certs::pem::read(rest);
        let _ = certs::pem::verify_chain(&parsed, &parsed);
        return;
    }
    let text = super::text(rest);
    let _ = kind::detect(&path, &text);
    let ctx = ParseContext {
        postgres_version: version,
        ..ParseContext::default()
    };
    let doc = formats::document(Kind::from_name(kind_name), file, &path, text, &ctx);
    check_document(&doc, file);
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
        wit::Body::Structured(_) | wit::Body::Text => {}
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
