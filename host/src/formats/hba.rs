//! pg_hba.conf, parsed exactly as the PostgreSQL server parses it.
//!
//! This is a port of `src/backend/libpq/hba.c` of PostgreSQL 15, 16 and 17 (read from
//! the 15.18 and 17.11 sources, checked against real 15.18 and 16.2 servers):
//! [`tokenize`] is `tokenize_auth_file` (fields, quoting, comments, `@file`, backslash
//! continuation from 14, `include*` directives from 16), [`line`] is `parse_hba_line`,
//! [`options`] is `parse_hba_auth_opt`, [`address`] is glibc's numeric `getaddrinfo`,
//! and [`regex`] checks the `/regex` tokens of 16+; [`edit`] renders the record edits
//! policies ask for. The version comes from
//! `ParseContext::postgres_version` (none: 18, the newest).
//!
//! Each valid record becomes a [`wit::HbaRule`] (databases and users after `@file`
//! expansion, the method as the server keeps it: `ident` on a `local` line is `peer`).
//! Each invalid record becomes one `invalid-line` diagnostic with the server's message
//! (its `errmsg`), at the record's first line; a record that comes from an included file
//! is reported in that file at its line, and the message names the top-level line that
//! pulls it in. The server refuses the whole file when any record is invalid, and
//! also when no record is left (`no-entries`); policies decide what to make of that.
//!
//! What was checked against real servers on this machine (PostgreSQL 15.18 from Debian,
//! with SSL, GSSAPI, PAM and LDAP; 16.2 from the `pgserver` wheel, without them), by
//! comparing `pg_hba_file_rules` and the reload log with this parser's output:
//! - 550 generated records (every connection type, keyword, address form, method and
//!   option, valid and not) on 15 and 127 on 16: same rows and the same errors, except
//!   where the server resolves a RADIUS server name (taken as resolvable here) and where
//!   the view shows the shorter `err_msg` instead of the logged message used here
//!   (`clientcert=verify-ca` with `cert`, `include_dir` errors) or nothing at all
//!   (`clientcert=1`, `clientname=cn`, RADIUS lists; the reload log has the message);
//! - 600 random records of quotes, commas, `#`, backslashes, `@file`s (with and without
//!   quotes, nested, empty, missing) and include directives: the same rows on 15 and 16;
//! - the fixtures in `tests/fixtures/pg-hba` (`includes/` on 16);
//! - about 6900 random regular expressions against `regexp_like` on 15 (see [`regex`]);
//! - 15's 10239-byte token limit (gone in 16), continuation on 15 (and on 14: `tests/differential_pg.rs` runs every major 13–18), `include` read as a
//!   connection type on 15.
//!
//! The unit tests hold those answers.

pub(crate) mod address;
pub(crate) mod edit;
pub(crate) mod files;
pub(crate) mod ldap_url;
pub(crate) mod line;
pub(crate) mod options;
pub(crate) mod regex;
#[cfg(test)]
mod tests;
pub(crate) mod tokenize;

use std::path::Path;

use super::{ParseContext, Parsed, diagnostic};
use crate::wit;
use files::{IncludeReader, Source};
use tokenize::{AuthLine, Tokenizer};

/// The major version whose behaviour applies when the context names none.
pub(crate) const NEWEST: u32 = 18;

/// Parses a pg_hba.conf file (`src`, the contents of `path`, shown as `file`).
pub fn parse(src: &str, file: &str, path: &Path, ctx: &ParseContext) -> Parsed<Vec<wit::HbaRule>> {
    let version = ctx.postgres_version.unwrap_or(NEWEST);
    let top = Source {
        shown: file.to_string(),
        path: path.to_path_buf(),
    };
    let reader = IncludeReader::new(ctx.tree.as_ref());
    let lines = Tokenizer {
        version,
        reader: &reader,
    }
    .tokenize(src, &top);
    let mut parsed = rules(lines, &top, version, |line| line);
    // An unrendered template (`@authmethodhost@`) is one note, not a refused file.
    super::template::collapse(src, file, &mut parsed.diagnostics);
    if parsed.value.is_empty() && parsed.diagnostics.is_empty() {
        let message = format!(
            "configuration file \"{}\" contains no entries",
            path.display()
        );
        parsed
            .diagnostics
            .push(diagnostic("no-entries", file, 0, message));
    }
    parsed
}

/// Parses pg_hba records that come one per item of a list (Patroni's
/// `postgresql.pg_hba`), each with the line of its item in `file`. Patroni writes the
/// items as the lines of pg_hba.conf in the data directory `dir`, which is where
/// `@file` and `include` names are looked up.
pub fn parse_records<'a>(
    records: impl IntoIterator<Item = (u32, &'a str)>,
    file: &str,
    dir: &Path,
    ctx: &ParseContext,
) -> Parsed<Vec<wit::HbaRule>> {
    let version = ctx.postgres_version.unwrap_or(NEWEST);
    let mut text = String::new();
    let mut yaml_lines: Vec<u32> = Vec::new();
    for (line, record) in records {
        for physical in record.split('\n') {
            text.push_str(physical);
            text.push('\n');
            yaml_lines.push(line);
        }
    }
    let top = Source {
        shown: file.to_string(),
        path: dir.join("pg_hba.conf"),
    };
    let reader = IncludeReader::new(ctx.tree.as_ref());
    let lines = Tokenizer {
        version,
        reader: &reader,
    }
    .tokenize(&text, &top);
    let last = yaml_lines.last().copied().unwrap_or(0);
    rules(lines, &top, version, |n| {
        yaml_lines
            .get((n as usize).saturating_sub(1))
            .copied()
            .unwrap_or(last)
    })
}

/// Turns tokenized records into rules and diagnostics; `line_of` maps a line of the
/// top-level text to the line users see.
fn rules(
    lines: Vec<AuthLine>,
    top: &Source,
    version: u32,
    line_of: impl Fn(u32) -> u32,
) -> Parsed<Vec<wit::HbaRule>> {
    let mut parsed = Parsed::new(Vec::new());
    for auth_line in lines {
        let at_top = auth_line.source == *top;
        let result = match &auth_line.error {
            Some(e) => Err(e.message.clone()),
            None => line::parse(&auth_line, version),
        };
        match result {
            Ok(record) => {
                let (start, end) = if at_top {
                    (line_of(auth_line.line), line_of(auth_line.end_line))
                } else {
                    (auth_line.line, auth_line.end_line)
                };
                let mut location = super::location(&auth_line.source.shown, start);
                location.end_line = (end != start).then_some(end);
                parsed.value.push(wit::HbaRule {
                    location,
                    connection_type: record.conn_type,
                    databases: names(record.databases),
                    users: names(record.users),
                    address: record.address,
                    method: record.method,
                    options: record.options,
                    raw: auth_line.raw,
                });
            }
            Err(message) => {
                let (file, line, message) = invalid_at(message, &auth_line, top, &line_of);
                parsed
                    .diagnostics
                    .push(diagnostic("invalid-line", &file, line, message));
            }
        }
    }
    parsed
}

/// Where an invalid record is reported, and its message: at the bad line itself. A
/// record of an included file (or a bad line of an `@file`) is reported in that file, at
/// its line, and the message names the top-level line that pulls it in (the server
/// refuses the whole top-level file); a record of the top-level file is reported at its
/// first line, and the message names the physical line the server blames when that is
/// another one (a continuation line).
pub(crate) fn invalid_at(
    message: String,
    line: &AuthLine,
    top: &Source,
    line_of: &impl Fn(u32) -> u32,
) -> (String, u32, String) {
    let (file, number) = line.error_site();
    let anchor = line_of(line.anchor);
    if file == top.shown {
        let shown = line_of(number);
        if shown == anchor {
            return (file, anchor, message);
        }
        let message = format!("{message} (line {shown} of configuration file \"{file}\")");
        return (top.shown.clone(), anchor, message);
    }
    let message = format!(
        "{message} (in a file included from line {anchor} of \"{}\")",
        top.shown
    );
    (file, number, message)
}

fn names(tokens: Vec<tokenize::Token>) -> Vec<wit::HbaName> {
    tokens
        .into_iter()
        .map(|t| wit::HbaName {
            text: t.text,
            quoted: t.quoted,
        })
        .collect()
}
