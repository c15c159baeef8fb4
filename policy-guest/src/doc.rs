//! Typed access to the documents the host hands over.
//!
//! Structured documents (YAML/JSON) arrive as JSON text plus a pointer→line map;
//! [`Structured`] parses the JSON once and answers "what is at this pointer, and on which
//! line". [`documents`] picks the documents of one [`DocumentKind`] (the WIT's
//! `document-kind`: a typo in a kind fails to compile). The documents the host derives
//! or reads into records of their own are typed: [`nftables`] (kind `nftables`) and
//! [`port_matrix`] (kind `port-matrix`), [`certificates`] (kind `certificates`).

use std::collections::HashMap;

use serde_json::Value;

use crate::{
    Body, CertificateFacts, Document, DocumentKind, Input, Location, NftTable, PortMatrix,
};

/// The documents of `kind` in the input.
pub fn documents(input: &Input, kind: DocumentKind) -> impl Iterator<Item = &Document> + '_ {
    input.documents.iter().filter(move |d| d.kind == kind)
}

impl DocumentKind {
    /// The kind's name as patrol prints it and `--kind` takes it (the WIT case name).
    pub fn name(&self) -> &str {
        use DocumentKind as K;
        match self {
            K::Patroni => "patroni",
            K::PgHba => "pg-hba",
            K::PgIdent => "pg-ident",
            K::PostgresqlConf => "postgresql-conf",
            K::Haproxy => "haproxy",
            K::Etcd => "etcd",
            K::Pgbackrest => "pgbackrest",
            K::PgAutoctl => "pg-autoctl",
            K::Pgbouncer => "pgbouncer",
            K::PgbouncerAuthFile => "pgbouncer-auth-file",
            K::Consul => "consul",
            K::GitlabRb => "gitlab-rb",
            K::Topology => "topology",
            K::Systemd => "systemd",
            K::Nftables => "nftables",
            K::PatroniEnv => "patroni-env",
            K::DockerCompose => "docker-compose",
            K::PatroniPgHba => "patroni-pg-hba",
            K::PortMatrix => "port-matrix",
            K::Certificates => "certificates",
            K::Other(name) => name,
        }
    }

    /// The kind called `name` (an org policy's settings may name kinds); a name that is
    /// none of the host's kinds is `other`.
    pub fn from_name(name: &str) -> DocumentKind {
        use DocumentKind as K;
        match name {
            "patroni" => K::Patroni,
            "pg-hba" => K::PgHba,
            "pg-ident" => K::PgIdent,
            "postgresql-conf" => K::PostgresqlConf,
            "haproxy" => K::Haproxy,
            "etcd" => K::Etcd,
            "pgbackrest" => K::Pgbackrest,
            "pg-autoctl" => K::PgAutoctl,
            "pgbouncer" => K::Pgbouncer,
            "pgbouncer-auth-file" => K::PgbouncerAuthFile,
            "consul" => K::Consul,
            "gitlab-rb" => K::GitlabRb,
            "topology" => K::Topology,
            "systemd" => K::Systemd,
            "nftables" => K::Nftables,
            "patroni-env" => K::PatroniEnv,
            "docker-compose" => K::DockerCompose,
            "patroni-pg-hba" => K::PatroniPgHba,
            "port-matrix" => K::PortMatrix,
            "certificates" => K::Certificates,
            other => K::Other(other.to_string()),
        }
    }
}

// The generated type derives only `Clone`. Kinds are equal when their names are (the
// host never sends `other` with a known name).
impl PartialEq for DocumentKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for DocumentKind {}

impl std::hash::Hash for DocumentKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl std::fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
