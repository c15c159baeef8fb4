//! The deployment model: one picture of the deployment, built once per run from every
//! input, that every policy reads as typed records (`input.deployment`, see
//! `wit/policy.wit`).
//!
//! [`build`] groups the documents into clusters ([`cluster`]), finds each cluster's
//! members and their effective PostgreSQL settings ([`settings`]), its PostgreSQL
//! version ([`version`]), the roles it uses ([`roles`]), the links between components
//! ([`links`]) and the connections and calls the deployment itself needs ([`flows`]).
//! Patroni's configuration is read once, with `PATRONI_*` environment variables applied
//! ([`patroni`]). What the inputs do not say stays unknown: no value here is a guess.

pub mod cluster;
pub mod compose;
pub mod decide;
pub mod endpoint;
pub mod flows;
pub mod links;
pub mod patroni;
pub mod roles;
pub mod settings;
pub mod version;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::wit;

/// Builds the model of the deployment that `documents` (parsed and derived) describe.
pub fn build(documents: &[wit::Document], context: &wit::Context) -> wit::Deployment {
    let nodes = patroni::read_all(documents);
    let groups = cluster::group(documents, &nodes);
    let mut clusters = Vec::new();
    for g in &groups {
        let members = cluster::members(g, documents, &nodes, context);
        let version = version::infer(g, documents, &nodes, context);
        let roles = roles::collect(g, documents, &nodes, context);
        clusters.push(wit::Cluster {
            name: g.name.clone(),
            grouping: g.grouping.to_string(),
            files: g.files.clone(),
            members,
            postgres_version: version,
            roles,
        });
    }
    let links = links::collect(&groups, &clusters, documents, &nodes, context);
    let mut deployment = wit::Deployment {
        clusters,
        links,
        flows: Vec::new(),
    };
    deployment.flows = flows::required(&deployment, &groups, documents, &nodes, context);
    deployment
}

/// An empty model (no inputs).
pub fn empty() -> wit::Deployment {
    wit::Deployment {
        clusters: Vec::new(),
        links: Vec::new(),
        flows: Vec::new(),
    }
}

/// A structured document's JSON root and its pointer→line map.
pub(crate) struct Tree<'a> {
    pub root: Value,
    pub doc: &'a wit::Document,
    spans: &'a [wit::Span],
}

impl<'a> Tree<'a> {
    pub fn of(doc: &'a wit::Document) -> Option<Tree<'a>> {
        let wit::Body::Structured(s) = &doc.body else {
            return None;
        };
        let root = serde_json::from_str(&s.json).ok()?;
        Some(Tree {
            root,
            doc,
            spans: &s.spans,
        })
    }

    /// The line of the value at `pointer` (0: not in the file).
    pub fn line(&self, pointer: &str) -> u32 {
        self.spans
            .iter()
            .find(|s| s.pointer == pointer)
            .map_or(0, |s| s.line)
    }

    /// The location of the value at `pointer`.
    pub fn at(&self, pointer: &str) -> wit::Location {
        wit::Location {
            file: self.doc.path.clone(),
            line: self.line(pointer),
            end_line: None,
            pointer: Some(pointer.to_string()),
        }
    }

    /// The value at `pointer` as text (strings as they are, numbers and booleans as
    /// Patroni's Python would print them into a config: `on`/`off` for YAML booleans).
    pub fn text(&self, pointer: &str) -> Option<String> {
        self.root.pointer(pointer).and_then(scalar_text)
    }
}

/// A scalar as text; none for null, lists and mappings.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        // Patroni writes Python booleans as `on`/`off` into postgresql.conf.
        Value::Bool(b) => Some(if *b { "on" } else { "off" }.to_string()),
        _ => None,
    }
}

/// The directory part of a document path (`""` for a bare name).
pub(crate) fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// A location at `file:line`.
pub(crate) fn loc(file: &str, line: u32) -> wit::Location {
    wit::Location {
        file: file.to_string(),
        line,
        end_line: None,
        pointer: None,
    }
}
