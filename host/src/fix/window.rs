//! The static check of a pg_hba.conf patch without parsing the whole file again.
//!
//! A pg_hba.conf is a list of records, each parsed on its own: a record is one line, or
//! lines joined by a final `\`, and nothing in one record changes how another parses —
//! except `include` directives and `@file` names (they read other files, all counted
//! against one budget per file), template placeholders (collapsed into one note per
//! file) and `no-entries` (a file with nothing in it). So in a file with none of those,
//! the diagnostics of the file with one patch applied are the file's own, minus those of
//! the records the patch replaces, plus those of the records it writes. The proof parses
//! the whole file once and each patch's few records, instead of the whole file once per
//! patch: that was quadratic (a 10,000-line file with thousands of fixes took minutes).
//! A file or patch text with any of those constructs, or a patch that reaches the last
//! line of a file without a final newline (whose ending the applier moves), takes the
//! whole-file path: [`Window::Whole`].
//!
//! The window is cut where a record ends (a line not ending in `\`) on both sides, before
//! and after the patch, and is edited exactly as `patch::apply_line_patches` edits the
//! whole file (same line endings, same bottom-up order), so its text is the whole patched
//! file's text between the same cuts.

use crate::patch;
use crate::wit;

/// What a whole-file parse of a pg_hba.conf told, kept for the windows of its patches.
pub(super) struct HbaFile<'a> {
    /// Each line with its ending, as the applier splits the file.
    lines: Vec<&'a str>,
    newline: &'static str,
    final_newline: bool,
    /// The file's rules and diagnostics (other than `no-entries`), before any patch.
    pub rules: usize,
    pub diagnostics: usize,
}

/// The text a patch changes, cut at record ends.
pub(super) enum Window {
    /// The patch leaves the file as it is (or cannot be applied): nothing to check.
    Unchanged,
    /// Check the whole patched file instead.
    Whole,
    Changed {
        before: String,
        after: String,
    },
}

impl<'a> HbaFile<'a> {
    /// The window data of `text`, a pg_hba.conf whose whole-file parse gave `rules` rules
    /// and `diagnostics` diagnostics other than `no-entries`; none when a construct in it
    /// makes records depend on each other.
    pub fn new(text: &'a str, rules: usize, diagnostics: usize) -> Option<HbaFile<'a>> {
        if !record_local(text) {
            return None;
        }
        Some(HbaFile {
            lines: text.split_inclusive('\n').collect(),
            newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
            final_newline: text.is_empty() || text.ends_with('\n'),
            rules,
            diagnostics,
        })
    }

    /// The window of the file that the line edits of one patch change.
    pub fn window(&self, edits: &[&wit::LineEdit]) -> Window {
        let n = self.lines.len();
        // As the applier: edits outside the file or overlapping each other change nothing.
        if edits.is_empty() || patch::check_line_edits(edits, n).is_err() {
            return Window::Unchanged;
        }
        if edits.iter().any(|e| !record_local(&e.text)) {
            return Window::Whole;
        }
        let span = |e: &&wit::LineEdit| {
            let s = (e.start as usize).saturating_sub(1);
            (s, (e.end as usize).max(s))
        };
        let mut lo = edits.iter().map(|e| span(e).0).min().unwrap_or(0);
        let mut hi = edits.iter().map(|e| span(e).1).max().unwrap_or(0);
        while lo > 0 && continues(self.lines[lo - 1]) {
            lo -= 1;
        }
        loop {
            while hi > lo && hi < n && continues(self.lines[hi - 1]) {
                hi += 1;
            }
            if hi == n && !self.final_newline {
                return Window::Whole;
            }
            let after = self.edit(lo, hi, edits);
            // A written last line that goes on joins the next record: take it in too.
            if hi < n && after.last().is_some_and(|l| continues(l)) {
                hi += 1;
                continue;
            }
            let before = self.lines[lo..hi].concat();
            let after = after.concat();
            return if before == after {
                Window::Unchanged
            } else {
                Window::Changed { before, after }
            };
        }
    }

    /// Lines `lo..hi` with the edits applied as `apply_line_patches` applies them.
    fn edit(&self, lo: usize, hi: usize, edits: &[&wit::LineEdit]) -> Vec<String> {
        let mut out: Vec<String> = self.lines[lo..hi].iter().map(|l| l.to_string()).collect();
        let mut taken: Vec<&wit::LineEdit> = edits.to_vec();
        taken.sort_by(|a, b| b.start.cmp(&a.start).then(b.end.cmp(&a.end)));
        for edit in taken {
            let mut new_lines: Vec<String> = Vec::new();
            if !edit.text.is_empty() {
                let body = edit.text.strip_suffix('\n').unwrap_or(&edit.text);
                for l in body.split('\n') {
                    new_lines.push(format!(
                        "{}{}",
                        l.strip_suffix('\r').unwrap_or(l),
                        self.newline
                    ));
                }
            }
            let s = (edit.start as usize).saturating_sub(1);
            let e = (edit.end as usize).max(s);
            // Inside the window by construction; never index past it whatever the edits.
            if lo <= s && e <= hi {
                out.splice(s - lo..e - lo, new_lines);
            }
        }
        out
    }
}

/// Whether a physical line goes on in the next one (PostgreSQL 14+ joins them; earlier
/// versions do not, and a longer window is still exact).
fn continues(line: &str) -> bool {
    line.trim_end_matches(['\n', '\r']).ends_with('\\')
}

/// Whether the records of `text` parse each on its own: no `include` directive, no
/// `@file` name and no template placeholder (`@word@`, `{{ }}`, `{% %}`, `<% %>`, `${ }`)
/// can be in it. Conservative: a comment naming them also says no.
fn record_local(text: &str) -> bool {
    !(text.contains('@')
        || ["{{", "{%", "<%", "${"].iter().any(|m| text.contains(m))
        || text.to_ascii_lowercase().contains("include"))
}
