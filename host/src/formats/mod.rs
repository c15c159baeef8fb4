//! One module per input format. Each has the same shape: `parse(src, file, …)` returns a
//! [`Parsed`] value (every item carrying its line) and the diagnostics met on the way,
//! going past bad lines rather than stopping at the first. [`document`] turns a file of a
//! known [`Kind`] into the `document` record the policies receive, and [`edit_setting`]
//! hands a policy's settings edit to the owner of the file's format.

pub mod env_file;
pub mod etcd_env;
pub mod gitlab_rb;
pub mod haproxy;
pub mod hba;
pub mod hcl;
pub mod ident;
pub mod ini;
pub mod kind;
mod lines;
pub mod nftables;
pub mod patroni_hba;
pub mod pgbouncer_auth;
pub mod pgconf;
pub mod systemd;
pub mod template;
pub mod yaml;

use std::path::Path;

pub use kind::Kind;

use crate::wit;

/// How deep values may nest in any document patrol parses or edits (mappings, lists,
/// blocks, JSON pointers): far beyond any real configuration, far below what would
/// overflow the host's stack in the recursive parts of the parsers, editors and
/// renderers, and below `serde_json`'s limit of 128, with which the policies read the
/// documents back.
pub const MAX_NESTING: usize = 100;

/// A parsed value plus what went wrong on the way.
#[derive(Debug, Clone)]
pub struct Parsed<T> {
    pub value: T,
    pub diagnostics: Vec<wit::Diagnostic>,
}

impl<T> Parsed<T> {
    pub fn new(value: T) -> Self {
        Parsed {
            value,
            diagnostics: Vec::new(),
        }
    }
}

/// Facts a parser needs beyond the file's text.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// PostgreSQL major version whose syntax applies (none: the newest).
    pub postgres_version: Option<u32>,
    /// Where files a config includes may be read (`include`, `@file` of pg_hba.conf,
    /// pg_ident.conf and postgresql.conf): the checked paths and `--root`. None reads
    /// anywhere: only for the parsers' own tests; a check always sets it.
    pub tree: Option<crate::confine::Tree>,
}

/// A diagnostic at `file:line`.
pub fn diagnostic(
    code: &str,
    file: &str,
    line: u32,
    message: impl Into<String>,
) -> wit::Diagnostic {
    wit::Diagnostic {
        code: code.to_string(),
        message: message.into(),
        location: location(file, line),
    }
}

/// A location at `file:line`.
pub fn location(file: &str, line: u32) -> wit::Location {
    wit::Location {
        file: file.to_string(),
        line,
        end_line: None,
        pointer: None,
    }
}

/// Parses `text` (the contents of `path`, shown to users as `file`) as a document of `kind`.
pub fn document(
    kind: Kind,
    file: &str,
    path: &Path,
    text: String,
    ctx: &ParseContext,
) -> wit::Document {
    let parsed: Parsed<wit::Body> = match &kind {
        // etcd also comes as `ETCD_*` variables or `etcd --flags`: the same document.
        Kind::Etcd if etcd_env::looks_like(&text) => {
            map(etcd_env::parse(&text, file), wit::Body::Structured)
        }
        Kind::Patroni | Kind::Etcd | Kind::Topology | Kind::DockerCompose => {
            map(yaml::parse(&text, file), wit::Body::Structured)
        }
        Kind::Systemd => map(systemd::parse(&text, file), wit::Body::Settings),
        Kind::PatroniEnv => map(env_file::parse(&text, file), wit::Body::Settings),
        Kind::PgHba => map(hba::parse(&text, file, path, ctx), wit::Body::Hba),
        Kind::PgIdent => map(ident::parse(&text, file, path, ctx), wit::Body::Ident),
        Kind::PostgresqlConf => map(pgconf::parse(&text, file, path, ctx), wit::Body::Settings),
        Kind::Haproxy => map(haproxy::parse(&text, file), wit::Body::Settings),
        Kind::Pgbackrest | Kind::PgAutoctl | Kind::Pgbouncer => {
            map(ini::parse(&text, file), wit::Body::Settings)
        }
        // The passwords stay with the host: policies see how each is stored.
        Kind::PgbouncerAuthFile => {
            let parsed = map(
                pgbouncer_auth::parse(&text, file),
                wit::Body::PgbouncerUsers,
            );
            return wit::Document {
                kind,
                path: file.to_string(),
                text: pgbouncer_auth::redacted(&text),
                body: parsed.value,
                diagnostics: parsed.diagnostics,
            };
        }
        Kind::GitlabRb => map(gitlab_rb::parse(&text, file), wit::Body::Settings),
        // Consul agent configs are HCL or JSON; both become a structured document.
        Kind::Consul if file.ends_with(".json") => {
            map(yaml::parse(&text, file), wit::Body::Structured)
        }
        Kind::Consul => map(hcl::parse(&text, file), wit::Body::Structured),
        Kind::Nftables => map(nftables::parse(&text, file), wit::Body::Nftables),
        // A kind only an org policy knows reaches it as text; so does a file forced to
        // a kind the host derives (`--kind port-matrix=FILE`), which has no parser.
        Kind::Other(_) | Kind::PatroniPgHba | Kind::PortMatrix | Kind::Certificates => {
            Parsed::new(wit::Body::Text)
        }
    };
    wit::Document {
        kind,
        path: file.to_string(),
        text,
        body: parsed.value,
        diagnostics: parsed.diagnostics,
    }
}

/// `text`, a document of `kind`, with a `set-setting` or `remove-setting` edit applied
/// by the owner of its format (see `edit.set-setting` in the WIT for what section and
/// value mean per kind); why not, for a kind that takes no settings edits or an edit it
/// cannot write. Other edits are not settings edits: an error.
pub fn edit_setting(kind: &Kind, text: &str, edit: &wit::Edit) -> Result<String, String> {
    let (section, key, value) = match edit {
        wit::Edit::SetSetting(s) => (s.section.as_deref(), s.key.as_str(), Some(&s.value)),
        wit::Edit::RemoveSetting(s) => (s.section.as_deref(), s.key.as_str(), None),
        _ => return Err("not a settings edit".to_string()),
    };
    match kind {
        Kind::PostgresqlConf => match (section, value) {
            (Some(section), _) => Err(format!(
                "postgresql.conf has no sections, so no `[{section}]` to set `{key}` in"
            )),
            (None, Some(value)) => pgconf::edit::set(text, key, value),
            (None, None) => pgconf::edit::remove(text, key),
        },
        Kind::Pgbackrest | Kind::PgAutoctl | Kind::Pgbouncer => match (section, value) {
            (None, _) => Err(format!(
                "a `{}` setting needs a section: `{key}` has none",
                kind.name()
            )),
            (Some(section), Some(value)) => ini::edit::set(text, section, key, value),
            (Some(section), None) => ini::edit::remove(text, section, key),
        },
        Kind::GitlabRb => match (section, value) {
            (Some(section), _) => Err(format!(
                "a gitlab.rb key is its JSON pointer, with no section (`[{section}]`, `{key}`)"
            )),
            (None, Some(value)) => gitlab_rb::edit::set(text, key, value),
            (None, None) => gitlab_rb::edit::remove(text, key),
        },
        other => Err(format!(
            "a `{}` document takes no settings edits (`{key}`)",
            other.name()
        )),
    }
}

fn map<T>(parsed: Parsed<T>, f: impl FnOnce(T) -> wit::Body) -> Parsed<wit::Body> {
    Parsed {
        value: f(parsed.value),
        diagnostics: parsed.diagnostics,
    }
}
