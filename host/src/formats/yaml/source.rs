//! Positions in the source text: saphyr's markers count chars, the tree keeps byte
//! offsets and 1-based lines. Also the few places where saphyr's spans need help: the
//! `-` of a block sequence item, the end of a quoted scalar, the line of a tab error.

use saphyr_parser::ScanError;

use super::tree::LoadError;

pub(super) struct Source<'a> {
    src: &'a str,
    /// Byte offset of each char index, when the source is not ASCII.
    char_bytes: Option<Vec<usize>>,
    /// Byte offset of each line's start.
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        let char_bytes = (!src.is_ascii()).then(|| {
            src.char_indices()
                .map(|(i, _)| i)
                .chain([src.len()])
                .collect()
        });
        // Lines as patrol counts them everywhere (reports, edits, diffs, the editors'
        // "line N"): ended by `\n` only. YAML also breaks a line at a bare `\r` (saphyr's
        // markers count it), but no editor or diff shows it as a line of its own, and
        // PostgreSQL's own files take it for a blank; so saphyr's line numbers are never
        // used, only its char index, mapped onto these lines.
        let line_starts = std::iter::once(0).chain(newline_ends(src)).collect();
        Source {
            src,
            char_bytes,
            line_starts,
        }
    }

    /// The byte offset of a saphyr char index.
    pub(super) fn byte(&self, char_index: usize) -> usize {
        match &self.char_bytes {
            None => char_index.min(self.src.len()),
            Some(table) => table.get(char_index).copied().unwrap_or(self.src.len()),
        }
    }

    /// 1-based line of a byte offset.
    pub(super) fn line_of(&self, byte: usize) -> u32 {
        u32::try_from(self.line_starts.partition_point(|&s| s <= byte)).unwrap_or(u32::MAX)
    }

    /// 1-based column (in chars) of a byte offset, on the line `line_of` gives it.
    fn column_of(&self, byte: usize) -> u32 {
        let line = self.line_of(byte) as usize;
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let chars = self
            .src
            .get(start..byte.min(self.src.len()))
            .map_or(0, |s| s.chars().count());
        u32::try_from(chars + 1).unwrap_or(u32::MAX)
    }

    /// A load error at the line (1-based, within the file) where saphyr stopped.
    pub(super) fn error(&self, e: &ScanError) -> LoadError {
        let mark = e.marker();
        let mut error = LoadError {
            at: self.byte(mark.index()),
            line: self.line_of(self.byte(mark.index())),
            column: self.column_of(self.byte(mark.index())),
            message: e.info().to_string(),
        };
        // An error at the end of the input is reported past the last line; keep it on a
        // line the file has.
        let last_line = self.line_starts.len() - usize::from(self.src.ends_with('\n'));
        error.line = error
            .line
            .min(u32::try_from(last_line.max(1)).unwrap_or(u32::MAX));
        if e.info().contains("found a tab") {
            // saphyr marks where the scalar started; the tab that broke it is in the
            // indentation of a later line.
            let from = self
                .line_starts
                .get(error.line as usize - 1)
                .copied()
                .unwrap_or(0);
            let mut line = error.line;
            for text in self.src[from..].split('\n').skip(1) {
                line += 1;
                let indent = text.len() - text.trim_start_matches([' ', '\t']).len();
                if let Some(tab) = text[..indent].find('\t') {
                    error.line = line;
                    error.column = u32::try_from(tab + 1).unwrap_or(u32::MAX);
                    break;
                }
            }
        }
        error
    }
}

/// The byte offsets just after each `\n` of `src`.
fn newline_ends(src: &str) -> impl Iterator<Item = usize> + '_ {
    src.bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .map(|(i, _)| i + 1)
}

/// The `-` that introduces a block sequence item starting at byte `start`: on the item's
/// line before it (`- - x`, `- &a x`), or on an earlier line when only blank and comment
/// lines come between (`- # note` then the item).
pub(super) fn find_dash(src: &str, start: usize) -> Option<usize> {
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &src[line_start..start];
    if !prefix.trim().is_empty() {
        return last_dash(prefix).map(|i| line_start + i);
    }
    let mut end = line_start;
    while end > 0 {
        let break_at = end - 1;
        let prev_start = src[..break_at].rfind('\n').map_or(0, |i| i + 1);
        let line = &src[prev_start..break_at];
        let trimmed = line.trim();
        if !trimmed.is_empty() && !trimmed.starts_with('#') {
            return last_dash(line).map(|i| prev_start + i);
        }
        end = prev_start;
    }
    None
}

/// The position of a `-` indicator ending the code part (before any comment) of a line.
fn last_dash(line: &str) -> Option<usize> {
    let code = line
        .find(" #")
        .or_else(|| line.find("\t#"))
        .map_or(line, |i| &line[..i]);
    let code = code.trim_end();
    let at = code.len().checked_sub(1)?;
    let before = code.as_bytes().get(at.wrapping_sub(1)).copied();
    (code.ends_with('-') && (at == 0 || matches!(before, Some(b' ' | b'\t')))).then_some(at)
}

/// The byte after the closing quote of the quoted scalar whose text (anchor and tag
/// first) starts at `start`; `limit` when it cannot be found.
pub(super) fn quoted_end(src: &str, start: usize, limit: usize, double: bool) -> usize {
    let quote = if double { b'"' } else { b'\'' };
    let bytes = &src.as_bytes()[..limit];
    let Some(open) = bytes[start..].iter().position(|&b| b == quote) else {
        return limit;
    };
    let mut i = start + open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if double => i += 2,
            b'\'' if !double && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    limit
}

/// `src` with the continuation lines of the quoted scalar opening at or after `at`
/// indented one column past the line the scalar starts on; `None` when there is no
/// complete quoted scalar there.
pub(super) fn reindent_quoted(src: &str, at: usize) -> Option<String> {
    let open = at + src.get(at..)?.find(['"', '\''])?;
    let quote = src.as_bytes()[open];
    let end = quoted_end(src, open, src.len(), quote == b'"');
    if end <= open + 1 || src.as_bytes()[end - 1] != quote {
        return None;
    }
    let line = &src[src[..open].rfind('\n').map_or(0, |i| i + 1)..];
    let pad = " ".repeat(line.len() - line.trim_start_matches(' ').len() + 1);
    let mut out = String::with_capacity(src.len() + pad.len() * 8);
    out.push_str(&src[..open]);
    out.push_str(&src[open..end].replace('\n', &format!("\n{pad}")));
    out.push_str(&src[end..]);
    Some(out)
}

/// Whether the text of a collection-start token (anchor, tag, blanks, comments, then
/// maybe a bracket) opens a flow collection. The span runs on over what follows the
/// bracket, so its last char says nothing.
pub(super) fn opens_flow(token: &str) -> bool {
    let mut rest = token;
    loop {
        rest = rest.trim_start();
        match rest.chars().next() {
            Some('[' | '{') => return true,
            Some('&' | '!') => rest = rest.find(char::is_whitespace).map_or("", |i| &rest[i..]),
            Some('#') => rest = rest.find('\n').map_or("", |i| &rest[i..]),
            _ => return false,
        }
    }
}
