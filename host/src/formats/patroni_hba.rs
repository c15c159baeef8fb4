//! The pg_hba.conf that Patroni writes: its `pg_hba` lists, as documents of kind
//! `patroni-pg-hba`.
//!
//! Patroni writes the items of `postgresql.pg_hba` as the lines of pg_hba.conf in the
//! data directory; without a local list it takes `postgresql.pg_hba` of the dynamic
//! configuration (`bootstrap.dcs` seeds it), and `bootstrap.pg_hba` is what a new
//! cluster starts with. Each list present becomes one document whose records carry the
//! line of their list item in patroni.yml, so the pg-hba policy checks it like a
//! pg_hba.conf and its findings point into patroni.yml. The document's text is the YAML's
//! own, so that a fix is a line edit of the list item (see the pg-hba policy).

use crate::formats::Kind;
use std::path::Path;

use serde_json::Value;

use super::{ParseContext, hba};
use crate::wit;

/// The lists, in the order Patroni prefers them.
const LISTS: &[&str] = &[
    "/postgresql/pg_hba",
    "/bootstrap/dcs/postgresql/pg_hba",
    "/bootstrap/pg_hba",
];

/// One document per `pg_hba` list of each Patroni document.
pub fn derived(documents: &[wit::Document], ctx: &ParseContext) -> Vec<wit::Document> {
    let mut out = Vec::new();
    for doc in documents.iter().filter(|d| d.kind == Kind::Patroni) {
        let wit::Body::Structured(s) = &doc.body else {
            continue;
        };
        let Ok(root) = serde_json::from_str::<Value>(&s.json) else {
            continue;
        };
        // `@file` and `include` names are relative to the data directory.
        let dir = root
            .pointer("/postgresql/data_dir")
            .and_then(Value::as_str)
            .map_or_else(
                || {
                    Path::new(&doc.path)
                        .parent()
                        .unwrap_or(Path::new("."))
                        .to_path_buf()
                },
                Into::into,
            );
        let line_of = |pointer: &str| {
            s.spans
                .iter()
                .find(|sp| sp.pointer == pointer)
                .map_or(0, |sp| sp.line)
        };
        for list in LISTS {
            // An empty list is as good as none: Patroni then leaves pg_hba.conf alone.
            let Some(value) = root
                .pointer(list)
                .filter(|v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
            else {
                continue;
            };
            let name = list.trim_start_matches('/').replace('/', ".");
            let Some(items) = value.as_array() else {
                // Patroni joins the items with newlines: anything but a list is no pg_hba.conf.
                let d = super::diagnostic(
                    "invalid-line",
                    &doc.path,
                    line_of(list),
                    format!("`{name}` must be a list of pg_hba lines"),
                );
                out.push(document(doc, Vec::new(), vec![d]));
                continue;
            };
            let mut records: Vec<(u32, String)> = Vec::new();
            let mut problems = Vec::new();
            for (i, v) in items.iter().enumerate() {
                let line = line_of(&format!("{list}/{i}"));
                match v {
                    Value::String(t) => records.push((line, t.clone())),
                    // PyYAML reads `- 5` as a number; Patroni writes its text.
                    Value::Number(n) => records.push((line, n.to_string())),
                    _ => problems.push(super::diagnostic(
                        "invalid-line",
                        &doc.path,
                        line,
                        format!("item {i} of `{name}` is not a pg_hba line (a string)"),
                    )),
                }
            }
            let mut parsed = hba::parse_records(
                records.iter().map(|(l, t)| (*l, t.as_str())),
                &doc.path,
                &dir,
                ctx,
            );
            parsed.diagnostics.extend(problems);
            out.push(document(doc, parsed.value, parsed.diagnostics));
        }
    }
    out
}

/// A derived document of `doc`.
fn document(
    doc: &wit::Document,
    rules: Vec<wit::HbaRule>,
    diagnostics: Vec<wit::Diagnostic>,
) -> wit::Document {
    wit::Document {
        kind: Kind::PatroniPgHba,
        path: doc.path.clone(),
        text: doc.text.clone(),
        body: wit::Body::Hba(rules),
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{Kind, document};

    fn derive(yaml: &str) -> Vec<wit::Document> {
        let doc = document(
            Kind::Patroni,
            "patroni.yml",
            Path::new("patroni.yml"),
            yaml.to_string(),
            &ParseContext::default(),
        );
        derived(&[doc], &ParseContext::default())
    }

    #[test]
    fn every_list_becomes_a_document_with_yaml_lines() {
        let docs = derive(
            "bootstrap:\n  dcs:\n    postgresql:\n      pg_hba:\n        - host all all 0.0.0.0/0 md5\n  pg_hba:\n  - local all all trust\npostgresql:\n  pg_hba:\n    - local all all peer\n    - hostssl replication replicator 10.0.0.0/24 scram-sha-256\n",
        );
        assert_eq!(docs.len(), 3);
        let lines = |d: &wit::Document| match &d.body {
            wit::Body::Hba(rules) => rules.iter().map(|r| r.location.line).collect::<Vec<_>>(),
            _ => panic!("not hba"),
        };
        assert_eq!(lines(&docs[0]), vec![10, 11], "postgresql.pg_hba first");
        assert_eq!(lines(&docs[1]), vec![5]);
        assert_eq!(lines(&docs[2]), vec![7]);
        assert!(
            docs.iter()
                .all(|d| d.kind == Kind::PatroniPgHba && d.path == "patroni.yml")
        );
    }

    #[test]
    fn an_invalid_item_is_a_diagnostic_at_its_line() {
        let docs = derive(
            "postgresql:\n  pg_hba:\n    - local all all peer\n    - host all all 10.0.0.0/99 trust\n",
        );
        assert_eq!(docs[0].diagnostics.len(), 1);
        assert_eq!(docs[0].diagnostics[0].location.line, 4);
        assert_eq!(docs[0].diagnostics[0].location.file, "patroni.yml");
    }

    #[test]
    fn what_is_no_pg_hba_line_is_a_diagnostic_at_its_line() {
        let docs = derive("postgresql:\n  pg_hba:\n    - local all all peer\n    - {host: all}\n");
        assert_eq!(docs[0].diagnostics.len(), 1);
        assert_eq!(docs[0].diagnostics[0].location.line, 4);
        assert!(
            docs[0].diagnostics[0].message.contains("postgresql.pg_hba"),
            "{:?}",
            docs[0].diagnostics
        );
        let docs = derive("postgresql:\n  pg_hba: host all all 0.0.0.0/0 trust\n");
        assert_eq!(
            (
                docs[0].diagnostics.len(),
                docs[0].diagnostics[0].location.line
            ),
            (1, 2)
        );
    }

    #[test]
    fn no_list_no_document() {
        assert!(derive("restapi:\n  listen: 0.0.0.0:8008\n").is_empty());
        assert!(
            derive("postgresql:\n  pg_hba: []\n").is_empty(),
            "Patroni leaves pg_hba.conf alone"
        );
    }
}
