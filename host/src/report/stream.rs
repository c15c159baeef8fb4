//! Writes a rendered report straight to its destination, line by line, with the guard
//! against CI workflow commands applied as it goes ([`super::escape`]'s `*_commands`):
//! a 100,000-decision simulation is not built in memory as one string first.
//!
//! Every guard works on whole lines (none of the patterns it rewrites holds a newline),
//! so applying it to each line as it is completed gives the bytes that applying it to the
//! whole text gives; and invalid UTF-8 is replaced line by line, as it would be in the
//! whole text (a newline byte is never part of a multi-byte character).

use std::borrow::Cow;
use std::io::{self, Write};

use super::escape;

/// Which rewriting a format's lines need.
#[derive(Clone, Copy)]
pub enum Guard {
    /// JSON and SARIF: `[` after `##` or `##vso` escaped.
    Json,
    /// JUnit XML: the same with character references, and a line starting with `::`.
    Xml,
    /// Text and GitHub commands: a line starting with `::` unless `ours` says it is one of
    /// patrol's own commands.
    Workflow(fn(&str) -> bool),
}

impl Guard {
    /// Whether `line` may need rewriting (false: it is written as it is).
    fn suspect(self, line: &str) -> bool {
        line.contains("##") || (!matches!(self, Guard::Json) && line.trim_start().starts_with("::"))
    }

    fn apply(self, line: &str) -> Cow<'_, str> {
        if !self.suspect(line) {
            return Cow::Borrowed(line);
        }
        let line = line.to_owned();
        Cow::Owned(match self {
            Guard::Json => escape::json_commands(line),
            Guard::Xml => escape::xml_commands(line),
            Guard::Workflow(ours) => escape::workflow_commands(line, ours),
        })
    }
}

/// A writer that passes complete lines through a [`Guard`] to `inner`; the last,
/// unterminated line goes out with [`Lines::finish`].
pub struct Lines<W: Write> {
    inner: W,
    guard: Guard,
    /// The start of a line whose end has not been written yet.
    pending: Vec<u8>,
}

impl<W: Write> Lines<W> {
    pub fn new(inner: W, guard: Guard) -> Self {
        Lines {
            inner,
            guard,
            pending: Vec::new(),
        }
    }

    /// Complete lines (`bytes` ends with a newline, or is the end of the output).
    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Valid UTF-8 (the rule) is checked by the fast validator and borrowed.
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(bytes),
        };
        // The common case: nothing to rewrite anywhere in the block.
        if !text.contains("##") && (matches!(self.guard, Guard::Json) || !text.contains("::")) {
            return self.inner.write_all(text.as_bytes());
        }
        for line in text.split_inclusive('\n') {
            self.inner.write_all(self.guard.apply(line).as_bytes())?;
        }
        Ok(())
    }

    /// Writes the last line and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.emit(&rest)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Write for Lines<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(last) = buf.iter().rposition(|&b| b == b'\n') else {
            self.pending.extend_from_slice(buf);
            return Ok(buf.len());
        };
        let (complete, rest) = buf.split_at(last + 1);
        if self.pending.is_empty() {
            self.emit(complete)?;
        } else {
            let mut head = std::mem::take(&mut self.pending);
            head.extend_from_slice(complete);
            self.emit(&head)?;
            head.clear();
            self.pending = head;
        }
        self.pending.extend_from_slice(rest);
        Ok(buf.len())
    }

    /// Flushes what is complete; a partial line waits for its end (or `finish`).
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed bytes, written in chunks of every size, equal the whole-text guard's.
    #[test]
    fn streaming_equals_the_whole_text() {
        let text = "{\n  \"a\": \"x ##[error] y\",\n  \"b\": \"##vso[task]\"\n}\n::warning::hi\n  ::x\nplain ## line\n::error file=a::ours\nend without newline ##[z";
        type Whole = fn(String) -> String;
        let cases: [(Guard, Whole); 4] = [
            (Guard::Json, escape::json_commands),
            (Guard::Xml, escape::xml_commands),
            (Guard::Workflow(|_| false), |t| {
                escape::workflow_commands(t, |_| false)
            }),
            (Guard::Workflow(|l| l.starts_with("::error")), |t| {
                escape::workflow_commands(t, |l| l.starts_with("::error"))
            }),
        ];
        for (guard, whole) in cases {
            let want = whole(text.to_string());
            for chunk in 1..=text.len() {
                let mut out = Vec::new();
                let mut lines = Lines::new(&mut out, guard);
                for piece in text.as_bytes().chunks(chunk) {
                    lines.write_all(piece).unwrap();
                }
                lines.finish().unwrap();
                assert_eq!(String::from_utf8(out).unwrap(), want, "chunk {chunk}");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_as_in_the_whole_text() {
        let bytes = b"ok \xff\xfe line\n\xe2\x82 cut\nlast \xe2";
        let want = String::from_utf8_lossy(bytes).into_owned();
        for chunk in 1..=bytes.len() {
            let mut out = Vec::new();
            let mut lines = Lines::new(&mut out, Guard::Json);
            for piece in bytes.chunks(chunk) {
                lines.write_all(piece).unwrap();
            }
            lines.finish().unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "chunk {chunk}");
        }
    }
}
