//! Text-preserving edits of YAML (and JSON) documents at JSON pointers.
//!
//! Policies ask for "set `/restapi/authentication/username`" or "remove `/ctl/insecure`";
//! this module turns each request into one change of the file's text ([`text`]) and
//! leaves every other byte as it was: comments, blank lines, `\r\n` line endings, a
//! missing final newline. New values are written in the document's own indentation with
//! PyYAML-safe quoting ([`render`]).
//!
//! Every edit is checked: the edited text is loaded again (with the same loader as
//! `crate::formats::yaml`) and must give exactly the old value with the edit applied.
//! When it would not (anchors, aliases and merge keys can make one piece of text stand
//! for several values), the edit is refused with an error rather than written. Removing
//! a path that is not there, or setting a value that is already there, changes nothing.
//! A set inside a value that comes from a merge key (`<<: *base`) gives the mapping its
//! own copy of that value, edited; an edit inside an anchored value that aliases reuse is
//! refused.

mod lines;
mod render;
#[cfg(test)]
mod tests;
mod text;

use serde_json::Value;

use crate::formats::yaml::{to_json, tree};
use text::{Editor, pointer};

/// One edit of a YAML document at a JSON pointer.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlEdit {
    /// Set the value at the pointer, creating missing parent mappings.
    Set { pointer: String, value: Value },
    /// Remove the key or item at the pointer.
    Remove { pointer: String },
}

/// Applies edits to YAML source text, keeping comments and untouched lines byte for byte.
pub fn apply(src: &str, edits: &[YamlEdit]) -> Result<String, String> {
    let mut text = src.to_string();
    for edit in edits {
        text = apply_one(&text, edit)?;
    }
    Ok(text)
}

fn apply_one(src: &str, edit: &YamlEdit) -> Result<String, String> {
    let (verb, raw) = match edit {
        YamlEdit::Set { pointer, .. } => ("set", pointer),
        YamlEdit::Remove { pointer } => ("remove", pointer),
    };
    // A hostile pointer may be megabytes long: show its start.
    let shown: String = match raw.char_indices().nth(80) {
        Some((end, _)) => format!("{}…", &raw[..end]),
        None => raw.clone(),
    };
    let fail = |why: String| format!("cannot {verb} `{shown}`: {why}");
    let tokens = parse_pointer(raw).map_err(fail)?;
    let (_, before) = load(src).map_err(fail)?;
    let mut expected = before.clone();
    match edit {
        YamlEdit::Set { value, .. } => set_json(&mut expected, &tokens, value.clone()),
        YamlEdit::Remove { .. } => remove_json(&mut expected, &tokens),
    }
    .map_err(fail)?;
    if expected == before {
        return Ok(src.to_string());
    }
    let mut text = src.to_string();
    // A removed key may be there more than once (the last one counts): remove until the
    // value is gone, at most once per line.
    for _ in 0..=src.lines().count() {
        let (tree, _) = load(&text).map_err(fail)?;
        let editor = Editor::new(&text, &tree);
        let change = match edit {
            YamlEdit::Set { value, .. } => Some(editor.set(&tokens, value).map_err(fail)?),
            YamlEdit::Remove { .. } => editor.remove(&tokens).map_err(fail)?,
        };
        let Some(change) = change else { break };
        text.replace_range(change.start..change.end, &change.text);
        let (_, after) =
            load(&text).map_err(|e| fail(format!("the edited document would not parse: {e}")))?;
        if after == expected {
            return Ok(text);
        }
        if matches!(edit, YamlEdit::Set { .. }) || lookup(&after, &tokens).is_none() {
            break;
        }
    }
    Err(fail(
        "the result would change other values too (anchors, aliases or merge keys share this text)"
            .into(),
    ))
}

/// Loads a document and its JSON value.
fn load(src: &str) -> Result<(tree::Tree, Value), String> {
    let tree = tree::load(src).map_err(|e| {
        format!(
            "the document does not parse: {} (line {})",
            e.message, e.line
        )
    })?;
    if tree.reindented {
        return Err("a multi-line quoted string continues on lines not indented past its key; indent them to edit this file".into());
    }
    let json = tree
        .root
        .as_ref()
        .map_or_else(|| "null".to_string(), to_json);
    let value = serde_json::from_str(&json)
        .map_err(|e| format!("internal error: loader wrote bad JSON: {e}"))?;
    Ok((tree, value))
}

/// RFC 6901: `""` is the root, else `/`-separated tokens with `~1` for `/` and `~0` for `~`.
fn parse_pointer(raw: &str) -> Result<Vec<String>, String> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err("a JSON pointer starts with `/`".into());
    };
    let depth = rest.split('/').count();
    if depth > crate::formats::MAX_NESTING {
        return Err(format!(
            "the pointer is {depth} levels deep; patrol edits at most {} levels",
            crate::formats::MAX_NESTING
        ));
    }
    rest.split('/')
        .map(|token| {
            let bad = token
                .match_indices('~')
                .any(|(i, _)| !matches!(token.as_bytes().get(i + 1), Some(b'0' | b'1')));
            if bad {
                return Err(format!("`{token}` has a `~` that is not `~0` or `~1`"));
            }
            Ok(token.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

/// The value at `tokens`, if any.
fn lookup<'v>(value: &'v Value, tokens: &[String]) -> Option<&'v Value> {
    tokens.iter().try_fold(value, |v, t| match v {
        Value::Object(map) => map.get(t),
        Value::Array(items) => t.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// What `Set` means on the JSON value: missing or null parents become mappings.
fn set_json(root: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = tokens.split_last() else {
        *root = value;
        return Ok(());
    };
    let mut current = root;
    for (i, token) in parents.iter().enumerate() {
        current = child_mut(current, token, &tokens[..i])?;
    }
    let here = pointer(parents);
    if current.is_null() {
        *current = Value::Object(serde_json::Map::new());
    }
    match current {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            let i = text::index(last, items.len(), &here)?;
            if i == items.len() {
                items.push(value)
            } else {
                items[i] = value
            }
        }
        _ => {
            return Err(format!(
                "{} is a scalar, not a mapping or a sequence",
                shown(&here)
            ));
        }
    }
    Ok(())
}

/// One step of `set_json` down to a parent, creating it when missing.
fn child_mut<'v>(
    current: &'v mut Value,
    token: &str,
    at: &[String],
) -> Result<&'v mut Value, String> {
    let here = pointer(at);
    if current.is_null() {
        *current = Value::Object(serde_json::Map::new());
    }
    match current {
        Value::Object(map) => Ok(map.entry(token.to_string()).or_insert(Value::Null)),
        Value::Array(items) => {
            let i = text::index(token, items.len(), &here)?;
            if i == items.len() {
                items.push(Value::Null);
            }
            Ok(&mut items[i])
        }
        _ => Err(format!(
            "{} is a scalar, not a mapping or a sequence",
            shown(&here)
        )),
    }
}

/// What `Remove` means on the JSON value: nothing to do when the path is missing.
fn remove_json(root: &mut Value, tokens: &[String]) -> Result<(), String> {
    let Some((last, parents)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    let mut current = root;
    for (i, token) in parents.iter().enumerate() {
        let here = pointer(&tokens[..i]);
        current = match current {
            Value::Object(map) => match map.get_mut(token) {
                Some(v) => v,
                None => return Ok(()),
            },
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get_mut(i))
            {
                Some(v) => v,
                None => return Ok(()),
            },
            Value::Null => return Ok(()),
            _ => {
                return Err(format!(
                    "{} is a scalar, not a mapping or a sequence",
                    shown(&here)
                ));
            }
        };
    }
    match current {
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(items) => {
            let here = pointer(parents);
            let i = text::index(last, items.len(), &here)?;
            if i < items.len() {
                items.remove(i);
            }
        }
        Value::Null => {}
        _ => {
            return Err(format!(
                "{} is a scalar, not a mapping or a sequence",
                shown(&pointer(parents))
            ));
        }
    }
    Ok(())
}

/// A pointer as messages show it.
fn shown(pointer: &str) -> String {
    if pointer.is_empty() {
        "the document".into()
    } else {
        format!("`{pointer}`")
    }
}
