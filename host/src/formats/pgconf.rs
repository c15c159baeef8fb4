//! postgresql.conf and postgresql.auto.conf, read as PostgreSQL's configuration scanner
//! reads them (`src/backend/utils/misc/guc-file.l`: the flex rules and
//! `ParseConfigFp` / `ParseConfigFile` / `ParseConfigDirectory`, the same in 15 and 17).
//!
//! A line is `name [=] value [# comment]`. The name is an identifier or `ext.name`; the
//! value is an identifier, a number with optional unit letters (`128MB`, `0x10`, `1.5`),
//! an unquoted string of letters, digits and `-._:/`, or a single-quoted string with `''`
//! and backslash escapes. The scanner takes the longest token, so `1.5GB` is the number
//! `1.5` followed by a stray `GB`: a syntax error, as on the server. `include`,
//! `include_if_exists` and `include_dir` (any case) read other files in place, relative
//! to the including file; `include_dir` takes its `*.conf` files in name order and stops
//! at the first that fails, as the server does.
//!
//! Every assignment is returned in file order with includes expanded where they stand,
//! so "the last one wins" is "the last in the list". Names are lowercased (the server
//! compares them case-insensitively); values are unquoted and kept as written. Each
//! syntax error is an `invalid-line` diagnostic with the server's message; an error in
//! an included file is reported in that file at its line (the message names the
//! top-level line that includes it). When the file parses, a parameter name the
//! PostgreSQL version does not know is an `invalid-line` too, as the server refuses to
//! start on it ([`gucs`]); with the version unknown, a name only some majors know is a
//! `parameter-version` note. Bad values are checked by the server and not reported here.

pub mod edit;
pub mod gucs;

use std::path::Path;

use super::hba::files::{IncludeReader, Source, conf_files_in_dir, dir_not_seen, strerror};
use super::{ParseContext, Parsed, diagnostic};
use crate::confine::ReadError;
use crate::wit;

/// PostgreSQL's `CONF_FILE_MAX_DEPTH`.
const MAX_DEPTH: u32 = 10;

/// Parses a postgresql.conf file (`src`, the contents of `path`, shown as `file`) and
/// checks its names against the PostgreSQL version of `ctx`. Included files are read as
/// `ctx.tree` allows (see `hba::files`).
pub fn parse(src: &str, file: &str, path: &Path, ctx: &ParseContext) -> Parsed<Vec<wit::Setting>> {
    let mut parsed = scan(src, file, path, ctx);
    // The server checks the names only once every file parsed.
    if !parsed.diagnostics.iter().any(|d| d.code == "invalid-line") {
        let unknown = unknown_names(&parsed.value, ctx.postgres_version);
        parsed.diagnostics.extend(unknown);
    }
    parsed
}

/// The scanner alone: the assignments, includes expanded, and the syntax errors.
pub(crate) fn scan(
    src: &str,
    file: &str,
    path: &Path,
    ctx: &ParseContext,
) -> Parsed<Vec<wit::Setting>> {
    let top = Source {
        shown: file.to_string(),
        path: path.to_path_buf(),
    };
    let mut reader = Reader {
        top: top.clone(),
        parsed: Parsed::new(Vec::new()),
        includes: IncludeReader::new(ctx.tree.as_ref()),
    };
    reader.parse_fp(src, &top, 0, None);
    reader.parsed
}

/// `ProcessConfigFileInternal`'s name check: a name the server does not know (and no
/// extension's dotted placeholder) makes the whole file refused.
fn unknown_names(settings: &[wit::Setting], major: Option<u32>) -> Vec<wit::Diagnostic> {
    let mut out = Vec::new();
    for s in settings {
        let file = &s.location.file;
        let line = s.location.line;
        let server = format!(
            "unrecognized configuration parameter \"{}\" in file \"{file}\" line {line}",
            s.name
        );
        match (gucs::known(&s.name, major), major) {
            (gucs::Known::Yes, _) => {}
            (gucs::Known::Never, Some(m)) => out.push(diagnostic(
                "invalid-line",
                file,
                line,
                format!("{server} (PostgreSQL {m} refuses to start, and a reload applies nothing)"),
            )),
            (gucs::Known::Never, None) => out.push(diagnostic(
                "invalid-line",
                file,
                line,
                format!("{server} (no PostgreSQL 13–18 knows it: the server refuses to start, and a reload applies nothing)"),
            )),
            (gucs::Known::Only(majors), Some(m)) => out.push(diagnostic(
                "invalid-line",
                file,
                line,
                format!(
                    "{server} (PostgreSQL {m} does not know it, only {}: the server refuses to start, and a reload applies nothing)",
                    gucs::span(&majors)
                ),
            )),
            (gucs::Known::Only(majors), None) => out.push(diagnostic(
                "parameter-version",
                file,
                line,
                format!(
                    "`{}` is a parameter of PostgreSQL {} only: a server of another major refuses to start on it; the version is unknown (set `postgres_version` in the samples context)",
                    s.name,
                    gucs::span(&majors)
                ),
            )),
        }
    }
    out
}

struct Reader<'a> {
    top: Source,
    parsed: Parsed<Vec<wit::Setting>>,
    includes: IncludeReader<'a>,
}

impl Reader<'_> {
    /// A diagnostic at the top-level line `anchor` (or `line` for the top-level file);
    /// the message says which file when the problem is in an included one.
    fn report(&mut self, source: &Source, line: u32, anchor: Option<u32>, message: String) {
        self.report_as("invalid-line", source, line, anchor, message);
    }

    /// [`Reader::report`] with another diagnostic code.
    fn report_as(
        &mut self,
        code: &str,
        source: &Source,
        line: u32,
        anchor: Option<u32>,
        message: String,
    ) {
        let (file, message) = if *source == self.top {
            (&self.top.shown, message)
        } else {
            let from = anchor.unwrap_or(line);
            (
                &source.shown,
                format!(
                    "{message} (in a file included from line {from} of \"{}\")",
                    self.top.shown
                ),
            )
        };
        let diagnostic = diagnostic(code, file, line.max(1), message);
        self.parsed.diagnostics.push(diagnostic);
    }

    /// `ParseConfigFp`: one file's assignments and directives. False if anything failed.
    fn parse_fp(&mut self, text: &str, source: &Source, depth: u32, anchor: Option<u32>) -> bool {
        let mut lexer = Lexer {
            s: text.as_bytes(),
            pos: 0,
            line: 1,
        };
        let shown_path = source.path.display().to_string();
        let mut ok = true;
        let mut errors = 0;
        loop {
            let (mut tok, mut text) = lexer.next();
            match tok {
                Tok::Eof => break,
                Tok::Eol => continue,
                _ => {}
            }
            let failed = 'line: {
                if !matches!(tok, Tok::Id | Tok::QualifiedId) {
                    break 'line true;
                }
                let name = text.to_ascii_lowercase();
                (tok, text) = lexer.next();
                if tok == Tok::Equals {
                    (tok, text) = lexer.next();
                }
                if !matches!(
                    tok,
                    Tok::Id | Tok::Str | Tok::Integer | Tok::Real | Tok::Unquoted
                ) {
                    break 'line true;
                }
                let value = if tok == Tok::Str {
                    deescape(&text)
                } else {
                    text.clone()
                };
                (tok, text) = lexer.next();
                if tok != Tok::Eol {
                    if tok != Tok::Eof {
                        break 'line true;
                    }
                    lexer.line += 1;
                }
                let line = lexer.line - 1;
                let here = Some(anchor.unwrap_or(line));
                ok &= match name.as_str() {
                    "include_dir" => self.include_dir(&value, source, line, depth + 1, here),
                    "include_if_exists" => {
                        self.include(&value, false, source, line, depth + 1, here)
                    }
                    "include" => self.include(&value, true, source, line, depth + 1, here),
                    _ => {
                        self.parsed.value.push(wit::Setting {
                            section: None,
                            name,
                            value,
                            args: Vec::new(),
                            location: super::location(&source.shown, line),
                        });
                        true
                    }
                };
                false
            };
            if !failed {
                if tok == Tok::Eof {
                    break;
                }
                continue;
            }
            let (message, line) = if matches!(tok, Tok::Eol | Tok::Eof) {
                // At end of file the server's count is one behind: "line 0" for line 1.
                let at = if tok == Tok::Eol {
                    lexer.line - 1
                } else {
                    lexer.line
                };
                (
                    format!(
                        "syntax error in file \"{shown_path}\" line {}, near end of line",
                        lexer.line - 1
                    ),
                    at,
                )
            } else {
                (
                    format!(
                        "syntax error in file \"{shown_path}\" line {}, near token \"{text}\"",
                        lexer.line
                    ),
                    lexer.line,
                )
            };
            self.report(source, line, anchor, message);
            ok = false;
            errors += 1;
            if errors >= 100 {
                let message =
                    format!("too many syntax errors found, abandoning file \"{shown_path}\"");
                self.report(source, line, anchor, message);
                break;
            }
            while !matches!(tok, Tok::Eol | Tok::Eof) {
                (tok, _) = lexer.next();
            }
            if tok == Tok::Eof {
                break;
            }
        }
        ok
    }

    /// `ParseConfigFile`: an `include` (strict) or `include_if_exists` directive.
    fn include(
        &mut self,
        name: &str,
        strict: bool,
        calling: &Source,
        line: u32,
        depth: u32,
        anchor: Option<u32>,
    ) -> bool {
        if name.trim_matches([' ', '\t', '\r', '\n']).is_empty() {
            self.report(
                calling,
                line,
                anchor,
                format!("empty configuration file name: \"{name}\""),
            );
            return false;
        }
        if depth > MAX_DEPTH {
            let message = format!(
                "could not open configuration file \"{name}\": maximum nesting depth exceeded"
            );
            self.report(calling, line, anchor, message);
            return false;
        }
        self.include_source(&calling.resolve(name), strict, calling, line, depth, anchor)
    }

    fn include_source(
        &mut self,
        file: &Source,
        strict: bool,
        calling: &Source,
        line: u32,
        depth: u32,
        anchor: Option<u32>,
    ) -> bool {
        if file.path == calling.path {
            let message = format!(
                "configuration file recursion in \"{}\"",
                calling.path.display()
            );
            self.report(calling, line, anchor, message);
            return false;
        }
        match self.includes.read(&file.path) {
            Ok(text) => self.parse_fp(&text, file, depth, anchor),
            // patrol's own refusals are never skipped, not even by `include_if_exists`.
            Err(ReadError::Refused(why)) => {
                let message = format!(
                    "could not open configuration file \"{}\": {why}",
                    file.path.display()
                );
                self.report(calling, line, anchor, message);
                false
            }
            Err(ReadError::Io(_)) if !strict => true,
            // Absent from the checked files: unknown, not broken, as for `include_dir`
            // (a repository often keeps only the main file; the server's copy may have
            // it). patrol's refusals above stay errors.
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                let message = format!(
                    "the file `{}` that `include` names is not among the checked files: the settings it holds on the server are unknown (PostgreSQL refuses to start if it does not exist there; add it to the checked paths, or use `include_if_exists` if it is optional)",
                    file.shown
                );
                self.report_as("include-not-seen", calling, line, anchor, message);
                true
            }
            Err(ReadError::Io(e)) => {
                let message = if e.kind() == std::io::ErrorKind::IsADirectory {
                    // fopen succeeds on a directory; flex then fails to read it.
                    format!(
                        "input in flex scanner failed at file \"{}\" line 1",
                        file.path.display()
                    )
                } else {
                    format!(
                        "could not open configuration file \"{}\": {}",
                        file.path.display(),
                        strerror(&e)
                    )
                };
                self.report(calling, line, anchor, message);
                false
            }
        }
    }

    /// `ParseConfigDirectory`.
    fn include_dir(
        &mut self,
        name: &str,
        calling: &Source,
        line: u32,
        depth: u32,
        anchor: Option<u32>,
    ) -> bool {
        // Absent from the checked files: unknown, not broken (a repository cannot keep
        // the empty `conf.d` Debian's stock file names). The rest of the file is read.
        if dir_not_seen(calling, name, &self.includes) {
            let dir = calling.resolve(name);
            let message = format!(
                "the directory `{}` that `include_dir` names is not among the checked files: the settings it holds on the server are unknown (PostgreSQL refuses to start if it does not exist there; Debian creates it empty)",
                dir.shown
            );
            self.report_as("include-not-seen", calling, line, anchor, message);
            return true;
        }
        let files = match conf_files_in_dir(calling, name, &self.includes) {
            Ok(files) => files,
            Err(message) => {
                self.report(calling, line, anchor, message);
                return false;
            }
        };
        for file in &files {
            if depth > MAX_DEPTH {
                let message = format!(
                    "could not open configuration file \"{}\": maximum nesting depth exceeded",
                    file.path.display()
                );
                self.report(calling, line, anchor, message);
                return false;
            }
            if !self.include_source(file, true, calling, line, depth, anchor) {
                return false;
            }
        }
        true
    }
}

/// `DeescapeQuotedString`: strips the quotes, folds `''` and backslash escapes.
fn deescape(quoted: &str) -> String {
    let s = quoted.as_bytes();
    let inner = if s.len() >= 2 {
        &s[1..s.len() - 1]
    } else {
        &[][..]
    };
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let c = inner[i];
        if c == b'\\' && i + 1 < inner.len() {
            i += 1;
            match inner[i] {
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'0'..=b'7' => {
                    let mut value: u32 = 0;
                    let mut k = 0;
                    while k < 3 && i + k < inner.len() && (b'0'..=b'7').contains(&inner[i + k]) {
                        value = (value << 3) + u32::from(inner[i + k] - b'0');
                        k += 1;
                    }
                    i += k - 1;
                    out.push(value as u8);
                }
                other => out.push(other),
            }
        } else if c == b'\'' && inner.get(i + 1) == Some(&b'\'') {
            out.push(b'\'');
            i += 1;
        } else {
            out.push(c);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The scanner's token kinds (`GUC_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Id,
    QualifiedId,
    Str,
    Unquoted,
    Integer,
    Real,
    Equals,
    Error,
    Eol,
    Eof,
}

/// The flex scanner: longest match, earlier rule on ties.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    line: u32,
}

fn letter(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn letter_or_digit(c: u8) -> bool {
    letter(c) || c.is_ascii_digit()
}

impl Lexer<'_> {
    fn next(&mut self) -> (Tok, String) {
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return (Tok::Eof, String::new());
            };
            match c {
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    return (Tok::Eol, "\n".into());
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'#' => {
                    while self.s.get(self.pos).is_some_and(|c| *c != b'\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let at = self.pos;
        let candidates = [
            (Tok::Id, self.id(at)),
            (Tok::QualifiedId, self.qualified_id(at)),
            (Tok::Str, self.string(at)),
            (Tok::Unquoted, self.unquoted(at)),
            (Tok::Integer, self.integer(at)),
            (Tok::Real, self.real(at)),
            (Tok::Equals, usize::from(self.s[at] == b'=')),
        ];
        let (mut tok, mut len) = (Tok::Error, 1);
        for (kind, n) in candidates {
            if n > 0 && (n > len || (tok == Tok::Error && n >= len)) {
                (tok, len) = (kind, n);
            }
        }
        self.pos = at + len;
        (
            tok,
            String::from_utf8_lossy(&self.s[at..at + len]).into_owned(),
        )
    }

    fn run(&self, at: usize, pred: impl Fn(u8) -> bool) -> usize {
        self.s
            .get(at..)
            .map_or(0, |rest| rest.iter().take_while(|c| pred(**c)).count())
    }

    fn id(&self, at: usize) -> usize {
        if self.s.get(at).is_some_and(|c| letter(*c)) {
            1 + self.run(at + 1, letter_or_digit)
        } else {
            0
        }
    }

    fn qualified_id(&self, at: usize) -> usize {
        let first = self.id(at);
        if first == 0 || self.s.get(at + first) != Some(&b'.') {
            return 0;
        }
        let second = self.id(at + first + 1);
        if second == 0 { 0 } else { first + 1 + second }
    }

    fn unquoted(&self, at: usize) -> usize {
        if !self.s.get(at).is_some_and(|c| letter(*c)) {
            return 0;
        }
        1 + self.run(at + 1, |c| {
            letter_or_digit(c) || matches!(c, b'-' | b'.' | b'_' | b':' | b'/')
        })
    }

    /// `'([^'\\\n]|\\.|'')*'`, longest match.
    fn string(&self, at: usize) -> usize {
        if self.s.get(at) != Some(&b'\'') {
            return 0;
        }
        let mut i = at + 1;
        let mut best = 0;
        while let Some(&c) = self.s.get(i) {
            match c {
                b'\n' => break,
                b'\\' => match self.s.get(i + 1) {
                    Some(&n) if n != b'\n' => i += 2,
                    _ => break,
                },
                b'\'' => {
                    best = i + 1 - at;
                    if self.s.get(i + 1) == Some(&b'\'') {
                        i += 2;
                    } else {
                        break;
                    }
                }
                _ => i += 1,
            }
        }
        best
    }

    fn sign(&self, at: usize) -> usize {
        usize::from(matches!(self.s.get(at), Some(b'-' | b'+')))
    }

    /// `{SIGN}?({DIGIT}+|0x{HEXDIGIT}+){UNIT_LETTER}*`
    fn integer(&self, at: usize) -> usize {
        let start = at + self.sign(at);
        let decimal = self.run(start, |c| c.is_ascii_digit());
        let mut best = if decimal > 0 {
            decimal + self.run(start + decimal, |c| c.is_ascii_alphabetic())
        } else {
            0
        };
        if self.s.get(start) == Some(&b'0') && self.s.get(start + 1) == Some(&b'x') {
            let hex = self.run(start + 2, |c| c.is_ascii_hexdigit());
            if hex > 0 {
                best = best.max(2 + hex + self.run(start + 2 + hex, |c| c.is_ascii_alphabetic()));
            }
        }
        if best == 0 { 0 } else { start - at + best }
    }

    /// `{SIGN}?{DIGIT}*"."{DIGIT}*{EXPONENT}?` with `[Ee]{SIGN}?{DIGIT}+`
    fn real(&self, at: usize) -> usize {
        let mut i = at + self.sign(at);
        i += self.run(i, |c| c.is_ascii_digit());
        if self.s.get(i) != Some(&b'.') {
            return 0;
        }
        i += 1;
        i += self.run(i, |c| c.is_ascii_digit());
        if matches!(self.s.get(i), Some(b'e' | b'E')) {
            let j = i + 1 + self.sign(i + 1);
            let digits = self.run(j, |c| c.is_ascii_digit());
            if digits > 0 {
                i = j + digits;
            }
        }
        i - at
    }
}

#[cfg(test)]
mod tests;
