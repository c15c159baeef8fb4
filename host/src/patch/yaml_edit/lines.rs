//! Line arithmetic on the source text (byte offsets; `\n` or `\r\n` line breaks).
//!
//! A position may be any byte offset, also one inside a multi-byte character (`end - 1`
//! for "the line of the last byte"): lines are found by searching bytes for `\n`, which is
//! never part of another character, so what they return is always a character boundary.

/// The comment in `text`, when `text` is only whitespace and a comment.
pub(super) fn comment(text: &str) -> Option<&str> {
    let text = text.trim();
    text.starts_with('#').then_some(text)
}

pub(super) fn line_start(src: &str, pos: usize) -> usize {
    let pos = pos.min(src.len());
    src.as_bytes()[..pos]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

/// The end of the line holding `pos`, before its `\n` or `\r\n`.
pub(super) fn line_end(src: &str, pos: usize) -> usize {
    let pos = pos.min(src.len());
    let end = src.as_bytes()[pos..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(src.len(), |i| pos + i);
    if end > pos && src.as_bytes()[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

/// The start of the line after the line end `end`.
pub(super) fn next_line(src: &str, end: usize) -> usize {
    let rest = &src[end..];
    end + if rest.starts_with("\r\n") {
        2
    } else {
        usize::from(rest.starts_with('\n'))
    }
}

/// The column (in characters) of `pos`.
pub(super) fn column(src: &str, pos: usize) -> usize {
    src[line_start(src, pos)..pos].chars().count()
}

/// The leading whitespace of the line holding `pos`.
pub(super) fn line_indent(src: &str, pos: usize) -> &str {
    let line = &src[line_start(src, pos)..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// Whether only whitespace precedes `pos` on its line.
pub(super) fn first_on_line(src: &str, pos: usize) -> bool {
    src[line_start(src, pos)..pos].trim().is_empty()
}
