//! Helpers for a policy's native tests: an input context with no facts, an empty
//! deployment model, and the line edits of an evaluation applied to a file's text as one
//! round of the host's fixer applies them, so that a test can check the fixed text and
//! evaluate it again. The rounds of `check --fix` are the host's: `patrol test` case
//! files show them.

use crate::{Context, Deployment, Edit, Evaluation};

/// A deployment model with nothing in it (no clusters, links or flows).
pub fn deployment() -> Deployment {
    Deployment {
        clusters: Vec::new(),
        links: Vec::new(),
        flows: Vec::new(),
    }
}

/// A context that gives no facts: every version the newest, members unknown, no names
/// resolved, no server addresses, every role existing.
pub fn context() -> Context {
    Context {
        postgres_version: None,
        patroni_version: None,
        members: None,
        resolve: Vec::new(),
        dual_stack: None,
        server_addresses: Vec::new(),
        roles: None,
        password_types: Vec::new(),
        extra: "{}".into(),
    }
}

/// `text` with the line edits of `e` applied as one round of the host's fixer applies
/// them (an insert has `end = start - 1`; an empty text deletes). Only the patches of
/// `file`, when given, in the order the policy returned them. As on the host, a patch
/// whose edits touch the lines of a patch taken before it, or insert at the same place,
/// is left out of this round: `check --fix` and `patrol test` run the policy again on the
/// fixed text and take it then, if it is still needed (a `patrol test` case file shows
/// that whole result, through the host's own fix loop). Line endings are kept (CRLF stays
/// CRLF, a missing final newline stays missing). An edit outside the text panics: the
/// host refuses such a patch as the policy's error.
pub fn apply_line_edits(text: &str, e: &Evaluation, file: Option<&str>) -> String {
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let final_newline = text.is_empty() || text.ends_with('\n');
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_string).collect();
    if let Some(last) = lines.last_mut().filter(|l| !l.ends_with('\n')) {
        last.push_str(newline);
    }
    let mut taken: Vec<(u32, u32, &str)> = Vec::new();
    for p in e
        .patches
        .iter()
        .filter(|p| file.is_none_or(|f| p.file == f))
    {
        let edits: Vec<(u32, u32, &str)> = p
            .edits
            .iter()
            .filter_map(|ed| match ed {
                Edit::Lines(l) => Some((l.start, l.end, l.text.as_str())),
                _ => None,
            })
            .collect();
        for (i, &(start, end, _)) in edits.iter().enumerate() {
            assert!(
                start >= 1 && u64::from(end) + 1 >= u64::from(start) && end as usize <= lines.len(),
                "patch `{}`: line edit {start}..{end} is outside the file ({} lines)",
                p.description,
                lines.len()
            );
            assert!(
                !edits[..i]
                    .iter()
                    .any(|o| conflict((o.0, o.1), (start, end))),
                "patch `{}`: its line edits overlap",
                p.description
            );
        }
        let overlaps = edits
            .iter()
            .any(|e| taken.iter().any(|t| conflict((t.0, t.1), (e.0, e.1))));
        if !overlaps {
            taken.extend(edits);
        }
    }
    // Bottom-up, inserts before replacements at the same line.
    taken.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    for (start, end, new) in taken {
        let new_lines: Vec<String> = if new.is_empty() {
            Vec::new()
        } else {
            let body = new.strip_suffix('\n').unwrap_or(new);
            body.split('\n')
                .map(|l| format!("{}{newline}", l.strip_suffix('\r').unwrap_or(l)))
                .collect()
        };
        let s = start as usize - 1;
        let e = (end as usize).max(s);
        lines.splice(s..e, new_lines);
    }
    if !final_newline && let Some(last) = lines.last_mut() {
        let kept = last.trim_end_matches(['\r', '\n']).len();
        last.truncate(kept);
    }
    lines.concat()
}

/// Whether two line edits (`start..=end`, an insert when `end` = `start - 1`) touch the
/// same lines or insert at the same place: the host's rule for patches of one round.
fn conflict(a: (u32, u32), b: (u32, u32)) -> bool {
    let insert = |(s, e): (u32, u32)| u64::from(e) + 1 == u64::from(s);
    match (insert(a), insert(b)) {
        (true, true) => a.0 == b.0,
        (true, false) => a.0 > b.0 && a.0 <= b.1,
        (false, true) => b.0 > a.0 && b.0 <= a.1,
        (false, false) => a.0 <= b.1 && b.0 <= a.1,
    }
}

/// The pg_hba edits of the patches of `file` in `e`, one line each as a test reads them
/// (`set 4: type=hostssl method=scram-sha-256 +clientcert=verify-full -map`, `delete 6`,
/// `insert after 4: copy of 4 address=10.2.0.0/16`). The host renders them in the file's
/// text (`patrol test` case files show that result); a native test checks what the
/// policy asked for.
pub fn hba_edits(e: &Evaluation, file: &str) -> Vec<String> {
    use crate::{HbaChange, HbaEdit, HbaName, HbaNew, HbaPlace};
    let names = |l: &[HbaName]| {
        l.iter()
            .map(|n| {
                if n.quoted {
                    format!("\"{}\"", n.text)
                } else {
                    n.text.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let change = |c: &HbaChange| {
        let mut out: Vec<String> = Vec::new();
        let mut field = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push(format!("{k}={v}"));
            }
        };
        field("type", c.connection_type.clone());
        field("databases", c.databases.as_deref().map(names));
        field("users", c.users.as_deref().map(names));
        field("address", c.address.clone());
        field("method", c.method.clone());
        out.extend(c.set_options.iter().map(|(k, v)| format!("+{k}={v}")));
        out.extend(c.remove_options.iter().map(|k| format!("-{k}")));
        out.join(" ")
    };
    let mut out = Vec::new();
    for p in e.patches.iter().filter(|p| p.file == file) {
        for ed in &p.edits {
            let Edit::Hba(h) = ed else { continue };
            out.push(match h {
                HbaEdit::Delete(l) => format!("delete {l}"),
                HbaEdit::Set(c) => format!("set {}: {}", c.line, change(c)),
                HbaEdit::Insert(i) => {
                    let place = match i.place {
                        HbaPlace::Before(l) => format!("before {l}"),
                        HbaPlace::After(l) => format!("after {l}"),
                        HbaPlace::End => "at the end".into(),
                    };
                    let new = match &i.new {
                        HbaNew::Copy(c) => format!("copy of {} {}", c.line, change(c)),
                        HbaNew::Fields(r) => {
                            let mut f = vec![
                                r.connection_type.clone(),
                                names(&r.databases),
                                names(&r.users),
                            ];
                            f.extend(r.address.clone());
                            f.push(r.method.clone());
                            f.extend(r.options.iter().map(|(k, v)| format!("{k}={v}")));
                            f.join(" ")
                        }
                    };
                    format!("insert {place}: {new}")
                }
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LineEdit, Patch};

    fn eval(edits: &[(u32, u32, &str)]) -> Evaluation {
        let mut e = crate::Report::new(&[]).finish();
        e.patches.push(Patch {
            file: "f".into(),
            description: "d".into(),
            edits: edits
                .iter()
                .map(|(start, end, text)| {
                    Edit::Lines(LineEdit {
                        start: *start,
                        end: *end,
                        text: text.to_string(),
                    })
                })
                .collect(),
        });
        e
    }

    fn eval_of(patches: &[&[(u32, u32, &str)]]) -> Evaluation {
        let mut e = eval(&[]);
        e.patches.clear();
        for edits in patches {
            e.patches.extend(eval(edits).patches);
        }
        e
    }

    /// Two fixes inserting at the same place: the host takes the first in this round and
    /// leaves the second to the next one (the policy asks again if it is still needed).
    #[test]
    fn a_second_insert_at_the_same_place_waits_for_the_next_round() {
        let e = eval_of(&[&[(2, 1, "x")], &[(2, 1, "y")], &[(1, 1, "A")]]);
        assert_eq!(apply_line_edits("a\nb\n", &e, Some("f")), "A\nx\nb\n");
        // Overlapping replacements: the first patch wins, as on the host.
        let e = eval_of(&[&[(1, 2, "one")], &[(2, 2, "two")]]);
        assert_eq!(apply_line_edits("a\nb\n", &e, Some("f")), "one\n");
    }

    #[test]
    fn line_endings_are_kept() {
        let e = eval(&[(2, 1, "new"), (2, 2, "B")]);
        assert_eq!(apply_line_edits("a\r\nb", &e, Some("f")), "a\r\nnew\r\nB");
    }

    #[test]
    #[should_panic(expected = "outside the file")]
    fn an_edit_past_the_end_is_the_policy_s_error() {
        apply_line_edits("a\n", &eval(&[(3, 3, "x")]), Some("f"));
    }

    #[test]
    fn replaces_inserts_and_deletes_bottom_up() {
        let e = eval(&[(1, 1, "A"), (3, 2, "new"), (4, 4, "")]);
        assert_eq!(
            apply_line_edits("a\nb\nc\nd\n", &e, Some("f")),
            "A\nb\nnew\nc\n"
        );
        assert_eq!(apply_line_edits("a\n", &e, Some("other")), "a\n");
    }
}
