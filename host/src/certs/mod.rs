//! Certificate facts, gathered by the host because policies have no filesystem.
//!
//! The configs name PEM files by their deployment paths; [`refs`] collects every such
//! reference (Patroni, PostgreSQL, etcd, HAProxy, pgBackRest, pgbouncer, pg_autoctl),
//! [`locate`] finds each file in the tree being checked (`--root DIR`, else by name, with
//! a directory to tell apart files of the same name),
//! [`pem`] reads it with `x509-parser`. The result is one more document, of kind
//! `certificates`, whose body is the typed `certificate-facts` record of
//! `wit/policy.wit` (built from [`facts::Facts`]; its `text` is the same facts as JSON,
//! for people): every reference (path, role, config key, where it is written), and per
//! named file whether and how it was found, its mode, the certificates and keys it
//! holds, and the chains.
//!
//! `chains` holds, for a file with certificates, the verification of its first
//! certificate (with the file's other certificates as intermediates) against every file
//! the configs name as a CA. A key matches a certificate when their `key_id`s are equal.
//! Policies have no clock, so `now` is the time of the run.

pub mod facts;
pub mod locate;
pub mod pem;
pub mod refs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use facts::{Facts, File};
pub use locate::Search;

use crate::discover::InputFile;
use crate::wit;

/// The largest PEM file read.
const MAX_BYTES: u64 = 4 << 20;

/// `documents` plus their `certificates` document, when any config names a PEM file.
/// The search trees default to the directories of `files`.
pub fn with_facts(
    mut documents: Vec<wit::Document>,
    files: &[InputFile],
    search: &Search,
) -> Vec<wit::Document> {
    let mut search = search.clone();
    if search.trees.is_empty() {
        search.trees = files
            .iter()
            .filter_map(|f| f.path.parent().map(Path::to_path_buf))
            .collect();
    }
    if let Some(doc) = document(&documents, files, &search, SystemTime::now()) {
        documents.push(doc);
    }
    documents
}

/// The `certificates` document for `documents` (read from `files`), or `None` when no
/// config names a PEM file.
pub fn document(
    documents: &[wit::Document],
    files: &[InputFile],
    search: &Search,
    now: SystemTime,
) -> Option<wit::Document> {
    let references = refs::collect(documents);
    if references.is_empty() {
        return None;
    }
    let index = if search.root.is_none() {
        locate::Index::build(&search.trees)
    } else {
        locate::Index::default()
    };
    let dir_of = |display: &str| {
        files
            .iter()
            .find(|f| f.display == display)
            .and_then(|f| f.path.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."))
    };

    // File names that several different paths share (`server.crt`).
    let mut names: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for r in &references {
        let name = r.path.rsplit('/').next().unwrap_or(&r.path);
        names.entry(name).or_default().insert(r.path.as_str());
    }
    let shared = |path: &str| {
        names
            .get(path.rsplit('/').next().unwrap_or(path))
            .is_some_and(|s| s.len() > 1)
    };

    let mut facts: BTreeMap<String, File> = BTreeMap::new();
    let mut ders: BTreeMap<String, Vec<pem::Parsed>> = BTreeMap::new();
    for r in &references {
        if facts.contains_key(&r.path) {
            continue;
        }
        let (value, parsed) =
            file_facts(&r.path, &dir_of(&r.file), search, &index, shared(&r.path));
        facts.insert(r.path.clone(), value);
        ders.insert(r.path.clone(), parsed);
    }

    // Each certificate file against each CA the configs name.
    let cas: Vec<&String> = {
        let mut v: Vec<&String> = references
            .iter()
            .filter(|r| r.role == "ca")
            .map(|r| &r.path)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    for (path, chain) in &ders {
        if chain.is_empty() {
            continue;
        }
        let mut chains = BTreeMap::new();
        for ca in &cas {
            let Some(anchors) = ders.get(*ca).filter(|a| !a.is_empty()) else {
                continue;
            };
            let result = match pem::verify_chain(chain, anchors) {
                Ok(()) => "ok".to_string(),
                Err(e) => e,
            };
            chains.insert((*ca).clone(), result);
        }
        if let Some(f) = facts.get_mut(path) {
            f.chains = Some(chains);
        }
    }

    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let now_text = rfc3339(secs);
    let facts = Facts {
        now: secs,
        now_text,
        root: search.root.as_ref().map(|r| locate::display(r)),
        references,
        files: facts,
    };
    let text = serde_json::to_string_pretty(&facts).unwrap_or_default();
    Some(wit::Document {
        kind: crate::formats::Kind::Certificates,
        path: "<certificates>".to_string(),
        body: wit::Body::Certificates(facts.to_wit()),
        text,
        diagnostics: Vec::new(),
    })
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The facts of one named file, and its certificates for chain checks.
fn file_facts(
    named: &str,
    config_dir: &Path,
    search: &Search,
    index: &locate::Index,
    shared: bool,
) -> (File, Vec<pem::Parsed>) {
    let (path, how) = match locate::find(named, config_dir, search, index, shared) {
        locate::Found::At { path, how } => (path, how),
        locate::Found::Missing { reason, candidates } => {
            let candidates = candidates.iter().map(|c| locate::display(c)).collect();
            let file = File {
                reason: Some(reason),
                candidates,
                ..File::default()
            };
            return (file, Vec::new());
        }
    };
    let mut file = File {
        found: true,
        location: Some(locate::display(&path)),
        how: Some(how),
        ..File::default()
    };
    let meta = std::fs::metadata(&path);
    if let Ok(m) = &meta {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = m.permissions().mode() & 0o7777;
        file.mode = Some(mode);
        file.world_readable = Some(mode & 0o004 != 0);
    }
    let bytes = match meta {
        Ok(m) if m.len() > MAX_BYTES => Err(format!("larger than {MAX_BYTES} bytes")),
        // Only regular files inside the checked paths and `--root` (a config may name
        // `../../../home/ci/.ssh/id_rsa` or a FIFO).
        Ok(_) => {
            let tree = crate::confine::Tree::new(
                search
                    .trees
                    .iter()
                    .chain(search.root.iter())
                    .map(PathBuf::as_path),
            );
            tree.resolve(&path)
                .and_then(|real| crate::confine::read_regular(&real))
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(crate::discover::io_reason(&e)),
    };
    match bytes {
        Ok(bytes) => {
            let (facts, parsed) = pem::read(&bytes);
            file.facts = Some(facts);
            (file, parsed)
        }
        Err(e) => {
            file.errors = vec![format!("cannot read `{}`: {e}", locate::display(&path))];
            (file, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests;
