//! Typed access to the documents the host hands over.
//!
//! Structured documents (YAML/JSON) arrive as JSON text plus a pointer→line map;
//! [`Structured`] parses the JSON once and answers "what is at this pointer, and on which
//! line". [`documents`] picks the documents of one kind. The documents the host derives
//! or reads into records of their own are typed: [`nftables`] (kind `nftables`) and
//! [`port_matrix`] (kind `port-matrix`), [`certificates`] (kind `certificates`).

use std::collections::HashMap;

use serde_json::Value;

use crate::{Body, CertificateFacts, Document, Input, Location, NftTable, PortMatrix};

/// The documents of `kind` in the input.
pub fn documents<'a>(input: &'a Input, kind: &'a str) -> impl Iterator<Item = &'a Document> + 'a {
    input.documents.iter().filter(move |d| d.kind == kind)
}

/// The tables of an `nftables` document; `None` for a document of another body.
pub fn nftables(doc: &Document) -> Option<&[NftTable]> {
    match &doc.body {
        Body::Nftables(tables) => Some(tables),
        _ => None,
    }
}

/// The matrix of a `port-matrix` document; `None` for a document of another body.
pub fn port_matrix(doc: &Document) -> Option<&PortMatrix> {
    match &doc.body {
        Body::PortMatrix(m) => Some(m),
        _ => None,
    }
}

/// The facts of a `certificates` document; `None` for a document of another body.
pub fn certificates(doc: &Document) -> Option<&CertificateFacts> {
    match &doc.body {
        Body::Certificates(c) => Some(c),
        _ => None,
    }
}

/// A parsed structured document with line lookups.
#[derive(Debug)]
pub struct Structured<'a> {
    pub doc: &'a Document,
    pub value: Value,
    lines: HashMap<&'a str, (u32, u32)>,
}

impl<'a> Structured<'a> {
    /// Parses a document whose body is `structured`; `None` for any other body or for
    /// JSON the host should never send.
    pub fn new(doc: &'a Document) -> Option<Self> {
        let Body::Structured(s) = &doc.body else {
            return None;
        };
        let value = serde_json::from_str(&s.json).ok()?;
        let lines = s
            .spans
            .iter()
            .map(|sp| (sp.pointer.as_str(), (sp.line, sp.end_line)))
            .collect();
        Some(Structured { doc, value, lines })
    }

    /// The value at a JSON pointer.
    pub fn get(&self, pointer: &str) -> Option<&Value> {
        self.value.pointer(pointer)
    }

    /// The string at a pointer (only if it is a string).
    pub fn str(&self, pointer: &str) -> Option<&str> {
        self.get(pointer).and_then(Value::as_str)
    }

    /// The line of the value at `pointer`, or of its nearest ancestor that has one (so a
    /// finding about a missing key points at the section that should hold it); 0 when
    /// nothing does.
    pub fn line(&self, pointer: &str) -> u32 {
        let mut p = pointer;
        loop {
            if let Some((line, _)) = self.lines.get(p) {
                return *line;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return 0,
            }
        }
    }

    /// The location of `pointer` (nearest existing ancestor's line), with the pointer.
    pub fn loc(&self, pointer: &str) -> Location {
        let line = self.line(pointer);
        let end = self
            .lines
            .get(pointer)
            .map(|(_, e)| *e)
            .filter(|e| *e > line);
        Location {
            file: self.doc.path.clone(),
            line,
            end_line: end,
            pointer: Some(pointer.to_string()),
        }
    }
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
