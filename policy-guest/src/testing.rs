//! Helpers for a policy's native tests: an input context with no facts, an empty
//! deployment model, and the line
//! edits of an evaluation applied to a file's text (as the host applies them), so that a
//! test can check the fixed text and evaluate it again.

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

/// `text` with every line edit of `e` applied, bottom-up (an insert has `end = start -
/// 1`; an empty text deletes). Only the patches of `file`, when given; the same edit from
/// two patches is applied once.
pub fn apply_line_edits(text: &str, e: &Evaluation, file: Option<&str>) -> String {
    let mut edits: Vec<(u32, u32, &str)> = e
        .patches
        .iter()
        .filter(|p| file.is_none_or(|f| p.file == f))
        .flat_map(|p| p.edits.iter())
        .filter_map(|ed| match ed {
            Edit::Lines(l) => Some((l.start, l.end, l.text.as_str())),
            _ => None,
        })
        .collect();
    edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    edits.dedup();
    let mut lines: Vec<&str> = text.lines().collect();
    for (start, end, new) in edits {
        let s = start as usize - 1;
        let e = (end as usize).max(s);
        lines.splice(s..e, new.lines());
    }
    lines.join("\n") + "\n"
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
