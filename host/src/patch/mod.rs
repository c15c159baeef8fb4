//! Applies the patches policies return, in the files' own text.
//!
//! Line edits replace whole lines and leave every other byte alone; pointer edits on
//! YAML/JSON documents go through [`yaml_edit`], which keeps comments and layout; pg_hba
//! record edits are rendered as line edits by `formats::hba::edit` when the policy's
//! patches are collected ([`render_hba`]), where the document's kind is known; settings
//! edits (`set-setting`, `remove-setting`) go to the owner of the file's format
//! ([`crate::formats::edit_setting`]), and a file whose kind takes none is the patch's
//! error. Patches
//! for one file are applied together (line edits bottom-up so that earlier line numbers
//! stay valid); a patch that overlaps one already taken is skipped and reported. The
//! result is shown as a unified diff (`--diff`, applies with `patch -p1`) or written back
//! atomically (`--fix`: a temporary file in the same directory, renamed over the original,
//! keeping its permissions; only inside the checked tree, through a symlink to its target).

pub mod yaml_edit;

use crate::formats::Kind;
use std::collections::{BTreeMap, HashMap};
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
        // pg_hba edits are rendered as line edits when the policy's patches are collected
        // (`render_hba`, which knows the document's kind); one left here was refused.
        let (hba, patches): (Vec<&Patch>, Vec<&Patch>) = patches.into_iter().partition(|p| {
            p.refused.is_some() || p.edits.iter().any(|e| matches!(e, wit::Edit::Hba(_)))
        });
        for p in hba {
            let why = p
                .refused
                .as_deref()
                .unwrap_or("its pg_hba edits were not rendered for the file");
            skipped.push(format!("{file}: {}: {why}", p.description));
        }
        // Structured edits first (they work on pointers, not line numbers)…
        for p in patches
            .iter()
            .filter(|p| p.edits.iter().all(|e| !matches!(e, wit::Edit::Lines(_))))
        {
            match apply_structured(p, &text) {
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

/// `text` with the structured edits of `p`: its pointer edits together, then its
/// settings edits in order; the first that cannot be written is the patch's error.
fn apply_structured(p: &Patch, text: &str) -> Result<String, String> {
    let pointer: Vec<YamlEdit> = p.edits.iter().filter_map(to_yaml_edit).collect();
    let mut text = if pointer.is_empty() {
        text.to_string()
    } else {
        yaml_edit::apply(text, &pointer).map_err(|e| e.to_string())?
    };
    for e in p.edits.iter().filter(|e| is_setting(e)) {
        let Some(kind) = &p.kind else {
            return Err(
                "its file is not a checked document: no format to write a setting in".into(),
            );
        };
        text = crate::formats::edit_setting(kind, &text, e)?;
    }
    Ok(text)
}

fn is_setting(e: &wit::Edit) -> bool {
    matches!(e, wit::Edit::SetSetting(_) | wit::Edit::RemoveSetting(_))
}

fn to_yaml_edit(e: &wit::Edit) -> Option<YamlEdit> {
    match e {
        wit::Edit::Set(s) => Some(YamlEdit::Set {
            pointer: s.pointer.clone(),
            value: serde_json::from_str(&s.value)
                .unwrap_or(serde_json::Value::String(s.value.clone())),
        }),
        wit::Edit::Remove(p) => Some(YamlEdit::Remove { pointer: p.clone() }),
        wit::Edit::Lines(_)
        | wit::Edit::Hba(_)
        | wit::Edit::SetSetting(_)
        | wit::Edit::RemoveSetting(_) => None,
    }
}

/// Checks the line edits of every patch a policy returned against the text of the file
/// they edit (a file not among the documents is refused later, when the fix is applied).
/// pg_hba edits are rendered, and refused if they cannot be, by [`render_hba`].
pub fn check_patches(patches: &[wit::Patch], documents: &[wit::Document]) -> Result<(), String> {
    for p in patches {
        // Policies see an auth_file with its passwords redacted: a fix written from that
        // text would overwrite them.
        let redacted = documents
            .iter()
            .any(|d| d.path == p.file && d.kind == Kind::PgbouncerAuthFile);
        if redacted {
            return Err(format!(
                "its patch `{}` edits `{}`, a PgBouncer auth_file whose passwords patrol keeps from policies; patrol does not write it",
                p.description, p.file
            ));
        }
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
        let invalid = |why: String| {
            format!(
                "its patch `{}` of `{}` is invalid: {why}",
                p.description, p.file
            )
        };
        // Line numbers and keys do not mix: line edits would shift under the others.
        if !edits.is_empty() && edits.len() != p.edits.len() {
            return Err(invalid(
                "it mixes line edits with pointer or settings edits".to_string(),
            ));
        }
        // A settings edit its document's format cannot write is the policy's error.
        if p.edits.iter().any(is_setting)
            && let Some(doc) = documents.iter().find(|d| d.path == p.file)
        {
            let mut text = doc.text.clone();
            for e in p.edits.iter().filter(|e| is_setting(e)) {
                text = crate::formats::edit_setting(&doc.kind, &text, e).map_err(invalid)?;
            }
        }
        if edits.is_empty() {
            continue;
        }
        if let Some(doc) = documents.iter().find(|d| d.path == p.file) {
            let count = doc.text.split_inclusive('\n').count();
            check_line_edits(&edits, count).map_err(|why| {
                format!(
                    "its patch `{}` of `{}` is invalid: {why}",
                    p.description, p.file
                )
            })?;
        }
    }
    Ok(())
}

/// The edits of a patch with its pg_hba edits rendered as line edits of the document
/// they edit ([`crate::formats::hba::edit`]), or the edits as they were and why they
/// cannot be applied: a file that is not a checked `pg-hba` or `patroni` document, a
/// record the host cannot rewrite safely, pg_hba edits mixed with other edits.
pub fn render_hba(
    edits: Vec<wit::Edit>,
    file: &str,
    documents: &[wit::Document],
) -> (Vec<wit::Edit>, Option<String>) {
    HbaTargets::new(documents).render(edits, file)
}

/// The documents pg_hba edits may target, each split into lines and records once, for
/// the patches of a whole run (per patch, a 10,000-line file with thousands of fixes
/// was split thousands of times).
pub struct HbaTargets<'d> {
    documents: &'d [wit::Document],
    by_file: HashMap<String, Result<Target<'d>, String>>,
}

/// One file's document to render pg_hba edits in.
struct Target<'d> {
    style: crate::formats::hba::edit::Style,
    lines: Vec<&'d str>,
    /// The records as the host parsed them (none for a plain `patroni` document).
    rules: Option<crate::formats::hba::edit::RulesByLine<'d>>,
}

impl<'d> HbaTargets<'d> {
    pub fn new(documents: &'d [wit::Document]) -> Self {
        HbaTargets {
            documents,
            by_file: HashMap::new(),
        }
    }

    /// [`render_hba`] with this run's documents.
    pub fn render(
        &mut self,
        edits: Vec<wit::Edit>,
        file: &str,
    ) -> (Vec<wit::Edit>, Option<String>) {
        match self.lower(&edits, file) {
            Ok(Some(lines)) => (lines, None),
            Ok(None) => (edits, None),
            Err(why) => (edits, Some(why)),
        }
    }

    fn lower(&mut self, edits: &[wit::Edit], file: &str) -> Result<Option<Vec<wit::Edit>>, String> {
        use crate::formats::hba::edit::lower;
        let hba: Vec<&wit::HbaEdit> = edits
            .iter()
            .filter_map(|e| match e {
                wit::Edit::Hba(h) => Some(h),
                wit::Edit::Lines(_)
                | wit::Edit::Set(_)
                | wit::Edit::Remove(_)
                | wit::Edit::SetSetting(_)
                | wit::Edit::RemoveSetting(_) => None,
            })
            .collect();
        if hba.is_empty() {
            return Ok(None);
        }
        if hba.len() != edits.len() {
            return Err("it mixes pg_hba edits with other edits; a patch holds one kind".into());
        }
        let documents = self.documents;
        let target = self
            .by_file
            .entry(file.to_string())
            .or_insert_with(|| Target::of(file, documents))
            .as_ref()
            .map_err(Clone::clone)?;
        let lines = lower(&hba, &target.lines, target.style, target.rules.as_ref())?;
        Ok(Some(lines.into_iter().map(wit::Edit::Lines).collect()))
    }
}

impl<'d> Target<'d> {
    fn of(file: &str, documents: &'d [wit::Document]) -> Result<Target<'d>, String> {
        use crate::formats::hba::edit::{Style, lines, rules_by_line};
        // A patroni.yml is both a `patroni` document and, for its `pg_hba` lists, a
        // `patroni-pg-hba` one, with the same path and text.
        let mut kinds = documents.iter().filter(|d| d.path == file).peekable();
        if kinds.peek().is_none() {
            return Err(
                "pg_hba edits apply to a checked `pg-hba` or `patroni` document only".into(),
            );
        }
        let (doc, style) = [
            (Kind::PgHba, Style::File),
            (Kind::PatroniPgHba, Style::PatroniYaml),
            (Kind::Patroni, Style::PatroniYaml),
        ]
        .into_iter()
        .find_map(|(kind, style)| kinds.clone().find(|d| d.kind == kind).map(|d| (d, style)))
        .ok_or_else(|| {
            let names: Vec<String> = kinds.map(|d| format!("`{}`", d.kind)).collect();
            format!(
                "it is a {} document; pg_hba edits apply to `pg-hba` and `patroni` documents",
                names.join(", ")
            )
        })?;
        // The records as the host parsed them: an edit must name a line where one
        // starts, and its fields must stand where written.
        let rules = match &doc.body {
            wit::Body::Hba(rules) => Some(rules_by_line(
                rules.iter().filter(|r| r.location.file == doc.path),
            )),
            _ => None,
        };
        Ok(Target {
            style,
            lines: lines(&doc.text),
            rules,
        })
    }
}

/// Why the line edits of one patch cannot be applied to a text of `line_count` lines:
/// an edit outside the file (`start` is 1-based; `end` = `start - 1` inserts before line
/// `start`), or two edits of the patch that touch the same lines. The host checks every
/// patch a policy returns with this (an invalid one is the policy's error) and the
/// applier checks again, so that no edit can make it index past the text.
pub fn check_line_edits(edits: &[&wit::LineEdit], line_count: usize) -> Result<(), String> {
    for (i, e) in edits.iter().enumerate() {
        let (start, end) = (u64::from(e.start), u64::from(e.end));
        if start == 0 || end + 1 < start || end > line_count as u64 {
            return Err(format!(
                "line edit {}..{} is outside the file ({line_count} lines)",
                e.start, e.end
            ));
        }
        if let Some(other) = edits[..i]
            .iter()
            .find(|o| conflict((o.start, o.end), (e.start, e.end)))
        {
            return Err(format!(
                "line edits {}..{} and {}..{} overlap",
                other.start, other.end, e.start, e.end
            ));
        }
    }
    Ok(())
}

/// Whether two line edits (`start..=end`, an insert when `end` = `start - 1`) touch the
/// same lines, or would insert at the same place (in no defined order).
fn conflict(a: (u32, u32), b: (u32, u32)) -> bool {
    let insert = |(s, e): (u32, u32)| u64::from(e) + 1 == u64::from(s);
    match (insert(a), insert(b)) {
        (true, true) => a.0 == b.0,
        (true, false) => a.0 > b.0 && a.0 <= b.1,
        (false, true) => b.0 > a.0 && b.0 <= a.1,
        (false, false) => a.0 <= b.1 && b.0 <= a.1,
    }
}

/// Applies line edits; returns the text, the descriptions applied, and those skipped for
/// overlapping an earlier patch, overlapping themselves or pointing past the end of the
/// file. Every line keeps its ending (a CRLF file gets CRLF lines), and a file without a
/// final newline keeps lacking it, without gluing a new line onto the old last one.
fn apply_line_patches(text: &str, patches: &[&&Patch]) -> (String, Vec<String>, Vec<String>) {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let final_newline = text.is_empty() || text.ends_with('\n');
    // Every line with its ending while editing; the last one's is dropped again at the end.
    let mut out: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    if let Some(last) = out.last_mut().filter(|l| !l.ends_with('\n')) {
        last.push_str(newline);
    }
    let mut taken: Vec<&wit::LineEdit> = Vec::new();
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
        let fits = check_line_edits(&edits, out.len()).and_then(|()| {
            match edits.iter().any(|e| {
                taken
                    .iter()
                    .any(|t| conflict((t.start, t.end), (e.start, e.end)))
            }) {
                true => Err("overlaps another fix".to_string()),
                false => Ok(()),
            }
        });
        match fits {
            Ok(()) => {
                taken.extend(edits);
                applied.push(p.description.clone());
            }
            Err(why) => skipped.push(format!("{}: {why}", p.description)),
        }
    }
    // Bottom-up, inserts before replacements at the same line.
    taken.sort_by(|a, b| b.start.cmp(&a.start).then(b.end.cmp(&a.end)));
    for edit in taken {
        let mut new_lines: Vec<String> = Vec::new();
        if !edit.text.is_empty() {
            let body = edit.text.strip_suffix('\n').unwrap_or(&edit.text);
            for l in body.split('\n') {
                new_lines.push(format!("{}{newline}", l.strip_suffix('\r').unwrap_or(l)));
            }
        }
        let s = (edit.start as usize).saturating_sub(1);
        let e = (edit.end as usize).max(s); // exclusive
        // Checked above; never index past the text whatever the edits.
        if e <= out.len() {
            out.splice(s..e, new_lines);
        }
    }
    // Exactly one line ending goes: a last line ending in a bare `\r` keeps it.
    if !final_newline && let Some(last) = out.last_mut() {
        let ending = if last.ends_with(newline) {
            newline.len()
        } else {
            usize::from(last.ends_with('\n'))
        };
        last.truncate(last.len() - ending);
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

/// The file a fix of `path` writes: `path` with symlinks and `..` resolved, when that is
/// a regular file inside `tree`; else why not, naming `path`.
pub fn write_target(
    path: &Path,
    tree: &crate::confine::Tree,
) -> Result<std::path::PathBuf, String> {
    let shown = path.display();
    let target = tree.resolve(path).map_err(|e| format!("`{shown}`: {e}"))?;
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_file() => Ok(target),
        Ok(_) => Err(format!("`{shown}` is not a regular file")),
        Err(e) => Err(format!("`{shown}`: {}", crate::discover::io_reason(&e))),
    }
}

/// Writes `text` to `path` atomically, keeping the file's permissions, when `path`
/// resolves (symlinks and `..` followed) to a regular file inside `tree`. A symlink stays
/// a symlink: its target is what gets written. Returns the file written.
pub fn write_atomic(
    path: &Path,
    text: &str,
    tree: &crate::confine::Tree,
) -> Result<std::path::PathBuf, String> {
    use std::io::Write;
    let target = write_target(path, tree)?;
    let meta = std::fs::metadata(&target).map_err(|e| {
        format!(
            "cannot write `{}`: {}",
            target.display(),
            crate::discover::io_reason(&e)
        )
    })?;
    let io = |e: std::io::Error| {
        format!(
            "cannot write `{}`: {}",
            target.display(),
            crate::discover::io_reason(&e)
        )
    };
    let dir = target.parent().unwrap_or(Path::new("/"));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.as_file()
        .set_permissions(meta.permissions())
        .map_err(io)?;
    tmp.persist(&target).map_err(|e| io(e.error))?;
    Ok(target)
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
            refused: None,
            kind: None,
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
    fn an_auth_file_is_never_patched() {
        let doc = crate::formats::document(
            crate::formats::Kind::PgbouncerAuthFile,
            "f",
            std::path::Path::new("f"),
            "\"app\" \"pw-1\"\n".into(),
            &crate::formats::ParseContext::default(),
        );
        assert_eq!(doc.text, "\"app\" \"<redacted>\"\n");
        let p = wit::Patch {
            file: "f".into(),
            description: "d".into(),
            edits: vec![lines(1, 1, "x\n")],
        };
        let err = check_patches(&[p], &[doc]).unwrap_err();
        assert!(err.contains("patrol does not write it"), "{err}");
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
        // The file had no final newline and still has none.
        assert_eq!(changes[0].after, "a\nx\nb");
        assert_eq!(skipped.len(), 1, "{skipped:?}");
    }

    #[test]
    fn overlapping_edits_in_one_patch_are_skipped_not_a_panic() {
        let src = "a\nb\nc\nd\n";
        for edits in [
            vec![lines(1, 3, "x"), lines(2, 4, "y")],
            vec![lines(2, 2, "x"), lines(2, 2, "y")],
            vec![lines(1, 4, ""), lines(3, 2, "ins")],
            vec![lines(3, 2, "i"), lines(3, 2, "j")],
            vec![lines(1, 1, "x"), lines(9, 9, "y")],
            vec![lines(0, 0, "x")],
            vec![lines(u32::MAX, u32::MAX, "x")],
            vec![lines(4, 1, "x")],
        ] {
            let p = patch(edits.clone());
            let (changes, skipped) = apply_all(&[&p], &[("f".into(), src.into())]);
            assert!(changes.is_empty(), "{edits:?}: {changes:?}");
            assert_eq!(skipped.len(), 1, "{edits:?}: {skipped:?}");
        }
        // Adjacent edits and an insert right before a replaced line do not overlap.
        let p = patch(vec![
            lines(1, 1, "A"),
            lines(2, 2, "B"),
            lines(3, 2, "i"),
            lines(3, 3, "C"),
        ]);
        let (changes, skipped) = apply_all(&[&p], &[("f".into(), src.into())]);
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(changes[0].after, "A\nB\ni\nC\nd\n");
    }

    #[test]
    fn appended_line_is_not_glued_onto_a_last_line_without_newline() {
        // `}consul[...]` was the bug: the new line must start a line of its own.
        let src = "a = 1\nb = 2";
        let (changes, _) = apply_all(
            &[&patch(vec![lines(3, 2, "c = 3")])],
            &[("f".into(), src.into())],
        );
        assert_eq!(changes[0].after, "a = 1\nb = 2\nc = 3");
        let (changes, _) = apply_all(
            &[&patch(vec![lines(2, 1, "x")])],
            &[("f".into(), src.into())],
        );
        assert_eq!(changes[0].after, "a = 1\nx\nb = 2");
        let (changes, _) = apply_all(
            &[&patch(vec![lines(2, 2, "")])],
            &[("f".into(), src.into())],
        );
        assert_eq!(changes[0].after, "a = 1");
        let (changes, _) = apply_all(
            &[&patch(vec![lines(3, 2, "c\nd\n")])],
            &[("f".into(), "a\nb\n".into())],
        );
        assert_eq!(changes[0].after, "a\nb\nc\nd\n");
    }

    #[test]
    fn crlf_files_stay_crlf_without_final_newline() {
        let src = "a\r\nb";
        let (changes, _) = apply_all(
            &[&patch(vec![lines(3, 2, "c\nd")])],
            &[("f".into(), src.into())],
        );
        assert_eq!(changes[0].after, "a\r\nb\r\nc\r\nd");
        let (changes, _) = apply_all(
            &[&patch(vec![lines(1, 0, "z")])],
            &[("f".into(), "a\r\nb\r\n".into())],
        );
        assert_eq!(changes[0].after, "z\r\na\r\nb\r\n");
    }

    #[test]
    fn a_last_line_ending_in_a_bare_cr_keeps_it() {
        // Found by the `edit` fuzz target: the final `\r` went with the newline added
        // while editing, so even a run whose patches were all skipped rewrote the file.
        let (changes, skipped) = apply_all(
            &[&patch(vec![lines(5, 5, "x")])],
            &[("f".into(), "\r".into())],
        );
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(skipped.len(), 1);
        let (changes, _) = apply_all(
            &[&patch(vec![lines(1, 1, "A")])],
            &[("f".into(), "a\nb\r".into())],
        );
        assert_eq!(changes[0].after, "A\nb\r");
        let (changes, _) = apply_all(
            &[&patch(vec![lines(1, 1, "A")])],
            &[("f".into(), "a\r\nb\r".into())],
        );
        assert_eq!(changes[0].after, "A\r\nb\r");
        // The line that becomes last loses exactly its own ending.
        let (changes, _) = apply_all(
            &[&patch(vec![lines(2, 2, "")])],
            &[("f".into(), "a\r\r\nb".into())],
        );
        assert_eq!(changes[0].after, "a\r");
    }

    fn setting(section: Option<&str>, key: &str, value: &str) -> wit::Edit {
        wit::Edit::SetSetting(wit::SettingValue {
            section: section.map(str::to_string),
            key: key.into(),
            value: value.into(),
        })
    }

    #[test]
    fn settings_edits_are_written_by_the_files_format() {
        use crate::formats::Kind;
        let conf = "ssl = off # no\nport = 5432\n";
        let mut p = patch(vec![
            setting(None, "ssl", "on"),
            setting(None, "listen_addresses", "10.0.0.1"),
        ]);
        p.kind = Some(Kind::PostgresqlConf);
        let (changes, skipped) = apply_all(&[&p], &[("f".into(), conf.into())]);
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(
            changes[0].after,
            "ssl = on # no\nport = 5432\nlisten_addresses = '10.0.0.1'\n"
        );
        // Two patches setting keys of one INI file both apply in one round.
        let mut a = patch(vec![setting(
            Some("pgbouncer"),
            "auth_type",
            "scram-sha-256",
        )]);
        let mut b = patch(vec![setting(
            Some("pgbouncer"),
            "client_tls_sslmode",
            "require",
        )]);
        a.kind = Some(Kind::Pgbouncer);
        b.kind = Some(Kind::Pgbouncer);
        let ini = "[pgbouncer]\nauth_type = md5\n";
        let (changes, skipped) = apply_all(&[&a, &b], &[("f".into(), ini.into())]);
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(
            changes[0].after,
            "[pgbouncer]\nauth_type = scram-sha-256\nclient_tls_sslmode = require\n"
        );
    }

    #[test]
    fn a_settings_edit_a_format_cannot_take_is_the_patchs_error() {
        use crate::formats::Kind;
        for (kind, edit) in [
            (Some(Kind::Patroni), setting(None, "ssl", "on")),
            (None, setting(None, "ssl", "on")),
            (
                Some(Kind::PostgresqlConf),
                setting(Some("main"), "ssl", "on"),
            ),
            (Some(Kind::Pgbouncer), setting(None, "auth_type", "md5")),
        ] {
            let mut p = patch(vec![edit]);
            p.kind = kind.clone();
            let (changes, skipped) = apply_all(&[&p], &[("f".into(), "a: 1\n".into())]);
            assert!(changes.is_empty(), "{kind:?}: {changes:?}");
            assert_eq!(skipped.len(), 1, "{kind:?}");
        }
        // The host refuses it as the policy's error as soon as the policy returns it.
        let doc = crate::formats::document(
            Kind::Patroni,
            "f",
            std::path::Path::new("f"),
            "a: 1\n".into(),
            &crate::formats::ParseContext::default(),
        );
        let p = |edits| wit::Patch {
            file: "f".into(),
            description: "d".into(),
            edits,
        };
        let docs = std::slice::from_ref(&doc);
        let err = check_patches(&[p(vec![setting(None, "ssl", "on")])], docs).unwrap_err();
        assert!(err.contains("takes no settings edits"), "{err}");
        let mixed = vec![lines(1, 1, "a: 2"), wit::Edit::Remove("/a".into())];
        let err = check_patches(&[p(mixed)], docs).unwrap_err();
        assert!(err.contains("mixes line edits"), "{err}");
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
