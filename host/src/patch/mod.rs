//! Applies the patches policies return, in the files' own text.
//!
//! Line edits replace whole lines and leave every other byte alone; pointer edits on
//! YAML/JSON documents go through [`yaml_edit`], which keeps comments and layout. Patches
//! for one file are applied together (line edits bottom-up so that earlier line numbers
//! stay valid); a patch that overlaps one already taken is skipped and reported. The
//! result is shown as a unified diff (`--diff`, applies with `patch -p1`) or written back
//! atomically (`--fix`: a temporary file in the same directory, renamed over the original,
//! keeping its permissions).

pub mod yaml_edit;

use std::collections::BTreeMap;
use std::path::Path;

use crate::run::Patch;
use crate::wit;
use yaml_edit::YamlEdit;

/// The new text of one file.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub file: String,
    pub before: String,
    pub after: String,
    /// Descriptions of the patches applied.
    pub applied: Vec<String>,
}

/// Applies every patch to the texts in `files` (display name → text). Returns the changed
/// files and, separately, the patches that could not be applied with the reason.
pub fn apply_all(patches: &[&Patch], files: &[(String, String)]) -> (Vec<FileChange>, Vec<String>) {
    let mut by_file: BTreeMap<&str, Vec<&Patch>> = BTreeMap::new();
    for p in patches {
        by_file.entry(p.file.as_str()).or_default().push(p);
    }
    let mut changes = Vec::new();
    let mut skipped = Vec::new();
    for (file, patches) in by_file {
        let Some((_, before)) = files.iter().find(|(name, _)| name == file) else {
            skipped.push(format!("{file}: not one of the checked files"));
            continue;
        };
        let mut text = before.clone();
        let mut applied = Vec::new();
        // Structured edits first (they work on pointers, not line numbers)…
        for p in patches
            .iter()
            .filter(|p| p.edits.iter().all(|e| !matches!(e, wit::Edit::Lines(_))))
        {
            let edits: Vec<YamlEdit> = p.edits.iter().filter_map(to_yaml_edit).collect();
            match yaml_edit::apply(&text, &edits) {
                Ok(new) => {
                    text = new;
                    applied.push(p.description.clone());
                }
                Err(e) => skipped.push(format!("{file}: {}: {e}", p.description)),
            }
        }
        // …then line edits, on the original line numbers, so only when no structured edit
        // changed the file's lines.
        let line_patches: Vec<&&Patch> = patches
            .iter()
            .filter(|p| p.edits.iter().any(|e| matches!(e, wit::Edit::Lines(_))))
            .collect();
        if !line_patches.is_empty() {
            if text != *before {
                for p in line_patches {
                    skipped.push(format!(
                        "{file}: {}: run --fix again (the file changed under it)",
                        p.description
                    ));
                }
            } else {
                let (new, taken, left) = apply_line_patches(&text, &line_patches);
                text = new;
                applied.extend(taken);
                skipped.extend(left.into_iter().map(|d| format!("{file}: {d}")));
            }
        }
        if text != *before {
            changes.push(FileChange {
                file: file.to_string(),
                before: before.clone(),
                after: text,
                applied,
            });
        }
    }
    (changes, skipped)
}

fn to_yaml_edit(e: &wit::Edit) -> Option<YamlEdit> {
    match e {
        wit::Edit::Set(s) => Some(YamlEdit::Set {
            pointer: s.pointer.clone(),
            value: serde_json::from_str(&s.value)
                .unwrap_or(serde_json::Value::String(s.value.clone())),
        }),
        wit::Edit::Remove(p) => Some(YamlEdit::Remove { pointer: p.clone() }),
        wit::Edit::Lines(_) => None,
    }
}

/// Applies line edits; returns the text, the descriptions applied, and those skipped for
/// overlapping an earlier patch or pointing past the end of the file.
fn apply_line_patches(text: &str, patches: &[&&Patch]) -> (String, Vec<String>, Vec<String>) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut taken: Vec<(u32, u32, String)> = Vec::new();
    let mut applied = Vec::new();
    let mut skipped = Vec::new();
    for p in patches {
        let edits: Vec<&wit::LineEdit> = p
            .edits
            .iter()
            .filter_map(|e| {
                if let wit::Edit::Lines(l) = e {
                    Some(l)
                } else {
                    None
                }
            })
            .collect();
        let fits = edits.iter().all(|e| {
            let in_range = e.start >= 1 && (e.end as usize) <= lines.len() && e.end + 1 >= e.start;
            let overlaps = taken.iter().any(|(s, en, _)| {
                let insert = e.end + 1 == e.start;
                if insert {
                    e.start > *s && e.start <= *en
                } else {
                    e.start <= *en && *s <= e.end
                }
            });
            in_range && !overlaps
        });
        if fits {
            for e in edits {
                taken.push((e.start, e.end, e.text.clone()));
            }
            applied.push(p.description.clone());
        } else {
            skipped.push(format!(
                "{}: overlaps another fix or is outside the file",
                p.description
            ));
        }
    }
    // Bottom-up, inserts before replacements at the same line.
    taken.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    for (start, end, replacement) in taken {
        let mut new_lines: Vec<String> = Vec::new();
        if !replacement.is_empty() {
            let body = replacement.strip_suffix('\n').unwrap_or(&replacement);
            for l in body.split('\n') {
                new_lines.push(format!("{}{newline}", l.strip_suffix('\r').unwrap_or(l)));
            }
        }
        let s = (start - 1) as usize;
        let e = end as usize; // exclusive
        // Keep a missing final newline missing when the last line is replaced.
        if e == out.len()
            && e > s
            && !out[e - 1].ends_with('\n')
            && let Some(last) = new_lines.last_mut()
        {
            let trimmed = last.trim_end_matches(['\r', '\n']).to_string();
            *last = trimmed;
        }
        out.splice(s..e.max(s), new_lines);
    }
    (out.concat(), applied, skipped)
}

/// A unified diff of a change, with `a/` and `b/` prefixes so that `patch -p1` applies it
/// from the directory patrol ran in, with its secrets scrubbed, and whether a changed line
/// had to be scrubbed (then `patch` cannot apply that hunk). Only the lines of the hunks
/// are scrubbed: the `---`/`+++` headers name files and stay as they are. Hunks whose
/// context would show a secret are emitted without context lines.
pub fn unified_diff(
    change: &FileChange,
    secrets: &crate::report::redact::Secrets,
) -> (String, bool) {
    let diff = similar::TextDiff::from_lines(&change.before, &change.after);
    let render = |radius: usize| {
        diff.unified_diff()
            .context_radius(radius)
            .header(&format!("a/{}", change.file), &format!("b/{}", change.file))
            .to_string()
    };
    let full = render(3);
    let is_header = |l: &str| {
        l.starts_with("--- a/")
            || l.starts_with("+++ b/")
            || l.starts_with("@@ ")
            || l.starts_with('\\')
    };
    // A secret in a context line is redacted, and a redacted context line no longer
    // matches the file: such hunks go without context (`patch` places them by line number).
    let text = if full
        .lines()
        .any(|l| l.starts_with(' ') && secrets.found_in(&l[1..]))
    {
        render(0)
    } else {
        full
    };
    let mut out = String::with_capacity(text.len());
    let mut hidden = false;
    for piece in text.split_inclusive('\n') {
        let line = piece.trim_end_matches('\n');
        match line.chars().next() {
            Some(sign @ (' ' | '+' | '-')) if !is_header(line) && secrets.found_in(&line[1..]) => {
                hidden = true;
                out.push(sign);
                out.push_str(&secrets.scrub(&line[1..]));
                out.push_str(&piece[line.len()..]);
            }
            _ => out.push_str(piece),
        }
    }
    (out, hidden)
}

/// Writes `text` to `path` atomically, keeping the file's permissions.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path)?.permissions();
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.as_file().set_permissions(permissions)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(edits: Vec<wit::Edit>) -> Patch {
        Patch {
            policy: "p".into(),
            file: "f".into(),
            description: "d".into(),
            edits,
        }
    }

    fn lines(start: u32, end: u32, text: &str) -> wit::Edit {
        wit::Edit::Lines(wit::LineEdit {
            start,
            end,
            text: text.into(),
        })
    }

    #[test]
    fn line_edits_keep_other_bytes() {
        let src = "# c\r\nhost all all 0.0.0.0/0 md5\r\nlocal all all peer\r\n";
        let p = patch(vec![lines(2, 2, "hostssl all all 0.0.0.0/0 scram-sha-256")]);
        let (changes, skipped) = apply_all(&[&p], &[("f".into(), src.into())]);
        assert!(skipped.is_empty());
        assert_eq!(
            changes[0].after,
            "# c\r\nhostssl all all 0.0.0.0/0 scram-sha-256\r\nlocal all all peer\r\n"
        );
    }

    #[test]
    fn inserts_deletes_and_overlaps() {
        let src = "a\nb\nc";
        let insert = patch(vec![lines(2, 1, "x")]);
        let delete = patch(vec![lines(3, 3, "")]);
        let overlap = patch(vec![lines(3, 3, "z")]);
        let (changes, skipped) =
            apply_all(&[&insert, &delete, &overlap], &[("f".into(), src.into())]);
        assert_eq!(changes[0].after, "a\nx\nb\n");
        assert_eq!(skipped.len(), 1, "{skipped:?}");
    }

    #[test]
    fn last_line_without_newline_stays_without() {
        let (changes, _) = apply_all(
            &[&patch(vec![lines(2, 2, "B")])],
            &[("f".into(), "a\nb".into())],
        );
        assert_eq!(changes[0].after, "a\nB");
    }
}
