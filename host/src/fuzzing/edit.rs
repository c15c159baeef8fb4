//! The `edit` target: a file plus the edits of policies' patches, applied as `--fix` does.
//!
//! Input: one mode byte, then the file's text up to the first NUL byte, then the edits.
//! - An even mode byte: line edits, each `start`, `len`, `patch`, `n` (one byte each) and
//!   `n` bytes of replacement text; it replaces lines `start..start+len-1` (`len` 0
//!   inserts; the arithmetic wraps as a policy's u32 would), in patch `patch % 4`.
//! - An odd mode byte: pointer edits, all in one patch, separated by NUL bytes:
//!   `r/pointer` (remove) or `s/pointer=json` (set; text that is not JSON is set as a
//!   string, as the host does).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::formats::yaml;
use crate::patch::{self, yaml_edit, yaml_edit::YamlEdit};
use crate::report::redact::Secrets;
use crate::run::Patch;
use crate::wit;

const FILE: &str = "file.conf";

/// Applies the edits `data` encodes and checks the result.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (text, edits) = match rest.iter().position(|&b| b == 0) {
        Some(nul) => (&rest[..nul], &rest[nul + 1..]),
        None => (rest, &[][..]),
    };
    let text = super::text(text);
    if mode % 2 == 0 {
        lines(&text, line_edits(edits));
    } else {
        pointers(
            &text,
            edits
                .split(|&b| b == 0)
                .map(|p| pointer_edit(&super::text(p)))
                .collect(),
        );
    }
}

/// The line edits and the number of the patch of each.
fn line_edits(mut bytes: &[u8]) -> Vec<(usize, wit::LineEdit)> {
    let mut edits = Vec::new();
    while let [start, len, patch, n, rest @ ..] = bytes {
        let (text, next) = rest.split_at(usize::from(*n).min(rest.len()));
        let start = u32::from(*start);
        let end = start.wrapping_add(u32::from(*len)).wrapping_sub(1);
        edits.push((
            usize::from(*patch % 4),
            wit::LineEdit {
                start,
                end,
                text: super::text(text),
            },
        ));
        bytes = next;
    }
    edits
}

fn pointer_edit(part: &str) -> wit::Edit {
    match part.strip_prefix('r') {
        Some(pointer) => wit::Edit::Remove(pointer.to_string()),
        None => {
            let rest = part.strip_prefix('s').unwrap_or(part);
            let (pointer, value) = rest.split_once('=').unwrap_or((rest, "null"));
            wit::Edit::Set(wit::PointerValue {
                pointer: pointer.to_string(),
                value: value.to_string(),
            })
        }
    }
}

fn patch(n: usize, edits: Vec<wit::Edit>) -> Patch {
    Patch {
        policy: "fuzz".into(),
        file: FILE.into(),
        description: format!("patch {n}"),
        edits,
        refused: None,
        kind: None,
    }
}

/// Applies the line edits as up to four patches; checks that the patches applied give
/// exactly the lines they promise and leave every other line as it was.
fn lines(text: &str, edits: Vec<(usize, wit::LineEdit)>) {
    let mut patches: Vec<Patch> = Vec::new();
    for n in 0..4 {
        let mine: Vec<wit::Edit> = edits
            .iter()
            .filter(|(p, _)| *p == n)
            .map(|(_, e)| wit::Edit::Lines(e.clone()))
            .collect();
        if !mine.is_empty() {
            patches.push(patch(n, mine));
        }
    }
    let (after, skipped) = apply(text, &patches);
    // A patch not reported as skipped was applied.
    let taken: Vec<&wit::LineEdit> = patches
        .iter()
        .filter(|p| {
            !skipped
                .iter()
                .any(|s| s.starts_with(&format!("{FILE}: {}:", p.description)))
        })
        .flat_map(|p| p.edits.iter())
        .filter_map(|e| {
            if let wit::Edit::Lines(l) = e {
                Some(l)
            } else {
                None
            }
        })
        .collect();
    // No two edits taken touch the same line (nor an insert the inside of a replacement).
    for (i, a) in taken.iter().enumerate() {
        for b in &taken[..i] {
            let inside =
                |ins: &wit::LineEdit, r: &wit::LineEdit| ins.start > r.start && ins.start <= r.end;
            let clash = match (a.end < a.start, b.end < b.start) {
                (true, true) => false,
                (true, false) => inside(a, b),
                (false, true) => inside(b, a),
                (false, false) => a.start <= b.end && b.start <= a.end,
            };
            assert!(!clash, "overlapping edits {a:?} and {b:?} both applied");
        }
    }
    let before: Vec<&str> = text.split_inclusive('\n').collect();
    let out: Vec<&str> = after.split_inclusive('\n').collect();

    // The count: every replaced line gone, every new line there (none glued to another).
    // A file without a final newline whose new last line is empty cannot show that line:
    // the line before it shows its newline, or, when it was the only line left, the file
    // is empty.
    let replaced: usize = taken
        .iter()
        .map(|e| (e.end + 1).saturating_sub(e.start) as usize)
        .sum();
    let added: usize = taken.iter().map(|e| new_lines(&e.text)).sum();
    let left = (before.len() + added).saturating_sub(replaced);
    let unseen = usize::from(
        !text.is_empty()
            && !text.ends_with('\n')
            && (after.ends_with('\n') || (after.is_empty() && left > 0)),
    );
    assert_eq!(
        out.len() + unseen + replaced,
        before.len() + added,
        "edits {taken:?} on {} lines gave {} lines: {after:?}",
        before.len(),
        out.len()
    );
    // The lines no edit replaces, in order and byte for byte (a last line without a
    // newline may gain one when something is added after it).
    let touched: BTreeSet<usize> = taken
        .iter()
        .flat_map(|e| e.start as usize..=(e.end as usize).min(before.len()))
        .collect();
    // When the last line lacked a newline and an edit removes it, the line that becomes
    // last loses its newline: the file keeps lacking a final one.
    let last_out = out.last().copied().filter(|_| !after.ends_with('\n'));
    let mut rest = out.iter();
    for (i, line) in before
        .iter()
        .enumerate()
        .filter(|(i, _)| !touched.contains(&(i + 1)))
    {
        // An empty line that becomes the last one that way is gone with its newline.
        if !text.ends_with('\n')
            && line.trim_end_matches(['\r', '\n']).is_empty()
            && rest.clone().next().is_none()
        {
            continue;
        }
        let last_without_newline = i + 1 == before.len() && !line.ends_with('\n');
        // Such a line loses exactly one line ending, `\n` or `\r\n`.
        let without_ending = line
            .strip_suffix('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l));
        let kept = |o: &&&str| {
            **o == *line
                || (last_out == Some(**o) && !text.ends_with('\n') && without_ending == Some(**o))
                || (last_without_newline
                    && o.strip_prefix(*line)
                        .is_some_and(|n| n == "\n" || n == "\r\n"))
        };
        assert!(
            rest.any(|o| kept(&o)),
            "line {} ({line:?}) not kept by edits {taken:?}: {after:?}",
            i + 1
        );
    }
    check_newlines(text, &after);
}

/// The number of lines `text` puts in a file.
fn new_lines(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        text.strip_suffix('\n').unwrap_or(text).split('\n').count()
    }
}

/// Applies the pointer edits as one patch, then each on its own, checking each result.
fn pointers(text: &str, edits: Vec<wit::Edit>) {
    let _ = apply(text, &[patch(0, edits.clone())]);
    let mut current = text.to_string();
    for edit in &edits {
        let (edit, pointer) = match edit {
            wit::Edit::Set(s) => {
                let value = serde_json::from_str(&s.value)
                    .unwrap_or_else(|_| Value::String(s.value.clone()));
                (
                    YamlEdit::Set {
                        pointer: s.pointer.clone(),
                        value,
                    },
                    &s.pointer,
                )
            }
            wit::Edit::Remove(p) => (YamlEdit::Remove { pointer: p.clone() }, p),
            // Only pointer edits are generated here; pg_hba and settings edits have
            // their own tests (`formats::hba::edit`, `formats::*::edit`).
            wit::Edit::Lines(_)
            | wit::Edit::Hba(_)
            | wit::Edit::SetSetting(_)
            | wit::Edit::RemoveSetting(_) => continue,
        };
        let Ok(after) = yaml_edit::apply(&current, std::slice::from_ref(&edit)) else {
            continue;
        };
        if after != current {
            check_pointer_edit(&after, &edit, pointer);
            check_newlines(&current, &after);
            // Setting what is there, or removing what is not, changes nothing (but `-`
            // appends once more, and removing an item moves the next one up).
            let last = pointer.rsplit('/').next().unwrap_or("");
            let remove = matches!(edit, YamlEdit::Remove { .. });
            if last == "-" || (remove && last.parse::<usize>().is_ok()) {
                current = after;
                continue;
            }
            let again = yaml_edit::apply(&after, std::slice::from_ref(&edit));
            assert!(
                again.as_deref() == Ok(after.as_str()),
                "{edit:?} again on {after:?} gave {again:?}"
            );
        }
        current = after;
    }
}

/// The edited document parses and holds the value set, or no longer the value removed.
fn check_pointer_edit(after: &str, edit: &YamlEdit, pointer: &str) {
    let parsed = yaml::parse(after, FILE);
    assert!(
        !parsed.diagnostics.iter().any(|d| d.code == "invalid-yaml"),
        "{edit:?} gave a document that does not parse: {after:?}: {:?}",
        parsed.diagnostics
    );
    let Ok(value) = serde_json::from_str::<Value>(&parsed.value.json) else {
        return;
    };
    let last = pointer.rsplit('/').next().unwrap_or("");
    let parent = value.pointer(pointer[..pointer.len() - last.len()].trim_end_matches('/'));
    match edit {
        // `-` appends: there is no pointer to look at.
        YamlEdit::Set { value: set, .. } if last != "-" => {
            assert_eq!(
                value.pointer(pointer),
                Some(set),
                "{edit:?} did not set it: {after:?}"
            )
        }
        // Removing an item of a sequence moves the next one up to its place.
        YamlEdit::Remove { .. } if !pointer.is_empty() && parent.is_some_and(Value::is_object) => {
            assert!(
                value.pointer(pointer).is_none(),
                "{edit:?} did not remove it: {after:?}"
            )
        }
        _ => {}
    }
}

/// A final newline stays, and `\r\n` endings stay `\r\n`. (A missing one stays missing
/// too, unless the new last line is empty: the line counts and the reparse check that.)
fn check_newlines(before: &str, after: &str) {
    if after.is_empty() || before.is_empty() {
        return;
    }
    assert!(
        !before.ends_with('\n') || after.ends_with('\n'),
        "final newline lost: {before:?} → {after:?}"
    );
    let crlf = |t: &str| {
        t.split_inclusive('\n')
            .all(|l| !l.ends_with('\n') || l.ends_with("\r\n"))
    };
    if before.contains('\n') && crlf(before) {
        assert!(
            crlf(after),
            "`\\r\\n` endings changed: {before:?} → {after:?}"
        );
    }
}

/// Applies the patches as `--fix` does, renders the diff as `--diff` does; returns the
/// new text and the patches skipped.
fn apply(text: &str, patches: &[Patch]) -> (String, Vec<String>) {
    let refs: Vec<&Patch> = patches.iter().collect();
    let (changes, skipped) = patch::apply_all(&refs, &[(FILE.into(), text.into())]);
    let secrets = Secrets::collect([text]);
    let mut after = text.to_string();
    for change in changes {
        assert_eq!(change.before, text);
        assert_ne!(change.after, change.before, "a change that changes nothing");
        let _ = patch::unified_diff(&change, &secrets);
        after = change.after;
    }
    (after, skipped)
}
