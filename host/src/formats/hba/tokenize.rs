//! The tokenizer PostgreSQL shares between pg_hba.conf and pg_ident.conf
//! (`tokenize_auth_file`, `next_field_expand` and `next_token` in `src/backend/libpq/hba.c`).
//!
//! A record is a physical line, or from PostgreSQL 15 on several lines joined by a
//! trailing backslash (the backslash is dropped, nothing is inserted). Fields are split
//! by blanks (space, tab, CR); a field is a comma list of tokens; `"…"` quotes (with `""`
//! for a quote) protect blanks, commas and `#`, and a token that starts with a quote is
//! "quoted" (never a keyword); an unquoted `#` starts a comment. An unquoted `@name`
//! token is replaced by every token of the file `name` (relative to the including
//! file's directory); an empty file makes the whole field vanish, so later fields shift.
//! From 16 on, a record of exactly two fields whose first token is `include`,
//! `include_if_exists` or `include_dir` pulls in the records of other files. Up to 15 a
//! token longer than 10239 bytes is an error.
//!
//! Errors stay on the record that met them (an error inside an `@file` is reported on the
//! record that names it), as the server does; each record also remembers the line of the
//! top-level file that pulled it in (its `anchor`), where patrol reports it.

use std::io;

use super::files::{IncludeReader, Source, conf_files_in_dir, strerror};
use crate::confine::ReadError;

/// PostgreSQL's `CONF_FILE_MAX_DEPTH`.
const MAX_DEPTH: u32 = 10;
/// `MAX_TOKEN` (10240) up to 15: a token may hold 10239 bytes.
const TOKEN_LIMIT: usize = 10239;

/// One token of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    /// The token started with a double quote: never a keyword, never an `@file`.
    pub quoted: bool,
}

/// An error met while reading a record, and where it really happened when that is not
/// the record itself (a line of an `@file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineError {
    pub message: String,
    pub site: Option<(String, u32)>,
}

/// One tokenized record (`TokenizedAuthLine`).
#[derive(Debug, Clone)]
pub(crate) struct AuthLine {
    pub fields: Vec<Vec<Token>>,
    pub source: Source,
    /// First physical line of the record in its own file.
    pub line: u32,
    /// Last physical line (differs from `line` for a continued record).
    pub end_line: u32,
    /// Line of the top-level file whose record pulled this one in (itself at top level).
    pub anchor: u32,
    /// The record's text, continuation lines joined.
    pub raw: String,
    pub error: Option<LineError>,
}

impl AuthLine {
    /// `site` of an error as `(file, line)`, or this record's place.
    pub(crate) fn error_site(&self) -> (String, u32) {
        match self.error.as_ref().and_then(|e| e.site.clone()) {
            Some(site) => site,
            None => (self.source.shown.clone(), self.line),
        }
    }
}

/// How a PostgreSQL major version tokenizes, and how it reads included files.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tokenizer<'a> {
    pub version: u32,
    pub reader: &'a IncludeReader<'a>,
}

impl Tokenizer<'_> {
    /// Backslash continuation came with 14 (a real 14.23 joins the lines, 13.23 refuses
    /// the `\\` token: `tests/differential_pg`).
    fn continuation(self) -> bool {
        self.version >= 14
    }

    fn token_limit(self) -> Option<usize> {
        (self.version <= 15).then_some(TOKEN_LIMIT)
    }

    fn includes(self) -> bool {
        self.version >= 16
    }

    /// Tokenizes a top-level file.
    pub(crate) fn tokenize(self, text: &str, source: &Source) -> Vec<AuthLine> {
        let mut out = Vec::new();
        self.file(text, source, 0, None, &mut out);
        out
    }

    /// `tokenize_auth_file` for one file, appending its records to `out`.
    fn file(
        self,
        text: &str,
        source: &Source,
        depth: u32,
        anchor: Option<u32>,
        out: &mut Vec<AuthLine>,
    ) {
        let mut physical = text.split_inclusive('\n').peekable();
        let mut line_number: u32 = 1;
        while physical.peek().is_some() {
            let mut buf = String::new();
            let mut last_backslash = 0usize;
            let mut continuations = 0u32;
            for piece in physical.by_ref() {
                buf.push_str(piece);
                let kept = buf.trim_end_matches(['\n', '\r']).len();
                buf.truncate(kept);
                if self.continuation() && buf.len() > last_backslash && buf.ends_with('\\') {
                    buf.pop();
                    last_backslash = buf.len();
                    continuations += 1;
                    continue;
                }
                break;
            }
            // The server works on C strings: a NUL ends the record's text.
            if let Some(nul) = buf.find('\0') {
                buf.truncate(nul);
            }
            let here = anchor.unwrap_or(line_number);
            self.record(&buf, source, depth, line_number, continuations, here, out);
            line_number = line_number.saturating_add(continuations + 1);
        }
    }

    /// Splits one record into fields, then handles include directives (16+).
    #[allow(clippy::too_many_arguments)]
    fn record(
        self,
        buf: &str,
        source: &Source,
        depth: u32,
        line: u32,
        continuations: u32,
        anchor: u32,
        out: &mut Vec<AuthLine>,
    ) {
        let bytes = buf.as_bytes();
        let mut pos = 0usize;
        let mut fields: Vec<Vec<Token>> = Vec::new();
        let mut error: Option<LineError> = None;
        while pos < bytes.len() && error.is_none() {
            let field = self.field(bytes, &mut pos, source, depth, anchor, &mut error);
            if !field.is_empty() {
                fields.push(field);
            }
        }
        if fields.is_empty() && error.is_none() {
            return;
        }
        if error.is_none() && fields.len() == 2 && self.includes() {
            let first = fields[0][0].text.clone();
            let second = fields[1][0].text.clone();
            let handled = match first.as_str() {
                "include" => Some(self.include(source, &second, depth + 1, false, anchor, out)),
                "include_if_exists" => {
                    Some(self.include(source, &second, depth + 1, true, anchor, out))
                }
                "include_dir" => Some(self.include_dir(source, &second, depth + 1, anchor, out)),
                _ => None,
            };
            match handled {
                Some(Ok(())) => return,
                Some(Err(message)) => {
                    error = Some(LineError {
                        message,
                        site: None,
                    })
                }
                None => {}
            }
        }
        out.push(AuthLine {
            fields,
            source: source.clone(),
            line,
            end_line: line.saturating_add(continuations),
            anchor,
            raw: buf.to_string(),
            error,
        });
    }

    /// `next_field_expand`: one field, with `@file` tokens expanded.
    fn field(
        self,
        bytes: &[u8],
        pos: &mut usize,
        source: &Source,
        depth: u32,
        anchor: u32,
        error: &mut Option<LineError>,
    ) -> Vec<Token> {
        let mut tokens = Vec::new();
        loop {
            let (text, initial_quote, comma) = match next_token(bytes, pos, self.token_limit()) {
                Next::End => break,
                Next::TooLong(prefix) => {
                    let message =
                        format!("authentication file token too long, skipping: \"{prefix}\"");
                    *error = Some(LineError {
                        message,
                        site: None,
                    });
                    break;
                }
                Next::Token {
                    text,
                    initial_quote,
                    comma,
                } => (text, initial_quote, comma),
            };
            if !initial_quote && text.len() > 1 && text.starts_with('@') {
                self.expand(&mut tokens, source, &text[1..], depth + 1, anchor, error);
            } else {
                tokens.push(Token {
                    text,
                    quoted: initial_quote,
                });
            }
            if !comma || error.is_some() {
                break;
            }
        }
        tokens
    }

    /// `tokenize_expand_file`: every token of every record of the `@file`.
    fn expand(
        self,
        tokens: &mut Vec<Token>,
        outer: &Source,
        name: &str,
        depth: u32,
        anchor: u32,
        error: &mut Option<LineError>,
    ) {
        let inner = outer.resolve(name);
        let text = match self.open(&inner, depth) {
            Ok(text) => text,
            Err(e) => {
                let message = if self.includes() || matches!(e, OpenError::TooDeep) {
                    e.message(&inner)
                } else {
                    format!(
                        "could not open secondary authentication file \"@{name}\" as \"{}\": {}",
                        inner.path.display(),
                        e.reason()
                    )
                };
                *error = Some(LineError {
                    message,
                    site: None,
                });
                return;
            }
        };
        let mut lines = Vec::new();
        self.file(&text, &inner, depth, Some(anchor), &mut lines);
        for line in lines {
            if line.error.is_some() {
                let (file, number) = line.error_site();
                let message = line.error.map(|e| e.message).unwrap_or_default();
                *error = Some(LineError {
                    message,
                    site: Some((file, number)),
                });
                return;
            }
            tokens.extend(line.fields.into_iter().flatten());
        }
    }

    /// `tokenize_include_file`: the records of another file, in place.
    fn include(
        self,
        outer: &Source,
        name: &str,
        depth: u32,
        missing_ok: bool,
        anchor: u32,
        out: &mut Vec<AuthLine>,
    ) -> Result<(), String> {
        self.include_source(&outer.resolve(name), depth, missing_ok, anchor, out)
    }

    fn include_source(
        self,
        inner: &Source,
        depth: u32,
        missing_ok: bool,
        anchor: u32,
        out: &mut Vec<AuthLine>,
    ) -> Result<(), String> {
        match self.open(inner, depth) {
            Ok(text) => {
                self.file(&text, inner, depth, Some(anchor), out);
                Ok(())
            }
            Err(OpenError::Io(e)) if missing_ok && e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.message(inner)),
        }
    }

    /// `include_dir`: every `*.conf` file of the directory, in name order.
    fn include_dir(
        self,
        outer: &Source,
        name: &str,
        depth: u32,
        anchor: u32,
        out: &mut Vec<AuthLine>,
    ) -> Result<(), String> {
        let files = conf_files_in_dir(outer, name, self.reader)?;
        let errors: Vec<String> = files
            .iter()
            .filter_map(|file| self.include_source(file, depth, false, anchor, out).err())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    /// `open_auth_file` plus reading: a directory reads as empty (fopen succeeds, the
    /// read fails and the server drops the error with the record).
    fn open(self, source: &Source, depth: u32) -> Result<String, OpenError> {
        if depth > MAX_DEPTH {
            return Err(OpenError::TooDeep);
        }
        match self.reader.read(&source.path) {
            Ok(text) => Ok(text),
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::IsADirectory => Ok(String::new()),
            Err(ReadError::Io(e)) => Err(OpenError::Io(e)),
            Err(ReadError::Refused(why)) => Err(OpenError::Refused(why)),
        }
    }
}

/// Why a file could not be read.
enum OpenError {
    TooDeep,
    Io(io::Error),
    /// patrol does not read it (outside the checked tree, not a regular file, too much).
    Refused(String),
}

impl OpenError {
    fn reason(&self) -> String {
        match self {
            OpenError::TooDeep => "maximum nesting depth exceeded".to_string(),
            OpenError::Io(e) => strerror(e),
            OpenError::Refused(why) => why.clone(),
        }
    }

    fn message(&self, source: &Source) -> String {
        format!(
            "could not open file \"{}\": {}",
            source.path.display(),
            self.reason()
        )
    }
}

/// What `next_token` found.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    End,
    Token {
        text: String,
        initial_quote: bool,
        comma: bool,
    },
    /// Up to 15: the token outgrew `MAX_TOKEN`; the rest of the record is dropped.
    TooLong(String),
}

/// `next_token`: one token from `bytes[*pos..]`, stopping before the blank, comma or end
/// that ends it.
fn next_token(bytes: &[u8], pos: &mut usize, limit: Option<usize>) -> Next {
    let blank = |c: u8| c == b' ' || c == b'\t' || c == b'\r';
    while *pos < bytes.len() && (blank(bytes[*pos]) || bytes[*pos] == b',') {
        *pos += 1;
    }
    let mut buf: Vec<u8> = Vec::new();
    let (mut in_quote, mut was_quote, mut saw_quote) = (false, false, false);
    let mut initial_quote = false;
    let mut comma = false;
    while *pos < bytes.len() && (!blank(bytes[*pos]) || in_quote) {
        let c = bytes[*pos];
        if c == b'#' && !in_quote {
            *pos = bytes.len();
            break;
        }
        if limit.is_some_and(|limit| buf.len() >= limit) {
            *pos = bytes.len();
            return Next::TooLong(String::from_utf8_lossy(&buf).into_owned());
        }
        if c == b',' && !in_quote {
            comma = true;
            break;
        }
        if c != b'"' || was_quote {
            buf.push(c);
        }
        was_quote = in_quote && c == b'"' && !was_quote;
        if c == b'"' {
            in_quote = !in_quote;
            saw_quote = true;
            if buf.is_empty() {
                initial_quote = true;
            }
        }
        *pos += 1;
    }
    if saw_quote || !buf.is_empty() {
        Next::Token {
            text: String::from_utf8_lossy(&buf).into_owned(),
            initial_quote,
            comma,
        }
    } else {
        Next::End
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text, starts with a quote, ends with a comma.
    type Lexed = (String, bool, bool);

    fn tokens(line: &str) -> Vec<Lexed> {
        let mut pos = 0;
        let mut out = Vec::new();
        loop {
            match next_token(line.as_bytes(), &mut pos, Some(TOKEN_LIMIT)) {
                Next::End => return out,
                Next::Token {
                    text,
                    initial_quote,
                    comma,
                } => out.push((text, initial_quote, comma)),
                Next::TooLong(_) => panic!("too long"),
            }
        }
    }

    #[test]
    fn next_token_as_the_server() {
        let t = |s: &str, q: bool, c: bool| (s.to_string(), q, c);
        let cases: &[(&str, Vec<Lexed>)] = &[
            ("a b", vec![t("a", false, false), t("b", false, false)]),
            (
                "a,b c",
                vec![
                    t("a", false, true),
                    t("b", false, false),
                    t("c", false, false),
                ],
            ),
            ("a, b", vec![t("a", false, true), t("b", false, false)]),
            (
                "\"a b\" c",
                vec![t("a b", true, false), t("c", false, false)],
            ),
            ("\"a\"\"b\"", vec![t("a\"b", true, false)]),
            ("\"\"", vec![t("", true, false)]),
            ("a\"b c\"d", vec![t("ab cd", false, false)]),
            ("@\"x y\"", vec![t("@x y", false, false)]),
            ("a#b c", vec![t("a", false, false)]),
            (
                "\"a#b\" c",
                vec![t("a#b", true, false), t("c", false, false)],
            ),
            ("\"a,b\"", vec![t("a,b", true, false)]),
            (",,a,,", vec![t("a", false, true)]),
            ("\"unterminated", vec![t("unterminated", true, false)]),
            ("\t a\r", vec![t("a", false, false)]),
            ("# only", vec![]),
        ];
        for (line, want) in cases {
            assert_eq!(&tokens(line), want, "{line:?}");
        }
    }

    #[test]
    fn token_limit() {
        let long = "x".repeat(TOKEN_LIMIT);
        let mut pos = 0;
        assert!(matches!(
            next_token(long.as_bytes(), &mut pos, Some(TOKEN_LIMIT)),
            Next::Token { .. }
        ));
        let longer = format!("{long},y");
        let mut pos = 0;
        assert!(matches!(
            next_token(longer.as_bytes(), &mut pos, Some(TOKEN_LIMIT)),
            Next::TooLong(_)
        ));
        let mut pos = 0;
        assert!(matches!(
            next_token(longer.as_bytes(), &mut pos, None),
            Next::Token { .. }
        ));
    }
}
