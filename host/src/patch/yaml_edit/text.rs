//! Where in the text an edit goes: each set or remove becomes one [`Change`] (replace a
//! byte range), found from the positions the loaded tree keeps.
//!
//! Block style is edited by lines: a scalar is replaced in place on its line (its comment
//! stays), a block value is replaced from the key's `:` to the end of its last line, a new
//! key goes after the last line of its mapping at the mapping's indentation, a removed
//! key takes its value's lines with it. Flow collections (`{a: 1}`, JSON files) are edited
//! between their commas.

use serde_json::{Map as JsonMap, Value as Json};

use super::lines::{column, comment, first_on_line, line_end, line_indent, line_start, next_line};
use super::render::{Layout, layout};
use super::{set_json, shown};
use crate::formats::yaml::scalar::Scalar;
use crate::formats::yaml::to_json;
use crate::formats::yaml::tree::{Entry, Item, Node, Style, Tree, Value};

/// Replace `src[start..end]` with `text`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Change {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// How a node on the path was reached.
#[derive(Clone, Copy)]
enum Via<'a> {
    Root,
    Entry(&'a Node, &'a Entry),
    Item(&'a Node, &'a Item),
}

#[derive(Clone, Copy)]
struct Step<'a> {
    node: &'a Node,
    via: Via<'a>,
}

/// Where a walk down a pointer stopped.
enum Stop {
    Found,
    /// `tokens[i]` is missing (or its parent is null).
    Missing(usize),
    /// `tokens[i]` comes from a merge key (`<<`), and the path goes on inside it.
    Merged(usize),
}

pub(super) struct Editor<'a> {
    src: &'a str,
    tree: &'a Tree,
    layout: Layout,
}

impl<'a> Editor<'a> {
    pub(super) fn new(src: &'a str, tree: &'a Tree) -> Self {
        let layout = layout(src, tree);
        Editor { src, tree, layout }
    }

    /// Sets the value at `tokens`, creating missing parents.
    pub(super) fn set(&self, tokens: &[String], value: &Json) -> Result<Change, String> {
        let Some(root) = self
            .tree
            .root
            .as_ref()
            .filter(|r| r.style != Style::ImplicitNull)
        else {
            return Ok(self.fill_empty(&nest(tokens, value)));
        };
        let (steps, stop) = self.walk(root, tokens, false)?;
        let Some(last) = steps.last() else {
            return Err("empty path".into());
        };
        match stop {
            Stop::Found => {
                self.check_subtree(last.node, tokens)?;
                self.replace(&steps, value)
            }
            // The mapping gets its own copy of the merged value, with the edit applied.
            Stop::Merged(i) => {
                let Value::Map(map) = &last.node.value else {
                    return Err("not a mapping".into());
                };
                let merged = map
                    .get(&tokens[i])
                    .map(|e| to_json(&e.node))
                    .unwrap_or_default();
                let mut own: Json = serde_json::from_str(&merged).unwrap_or(Json::Null);
                set_json(&mut own, &tokens[i + 1..], value.clone())?;
                self.insert_entry(last.node, &tokens[i], &own)
            }
            Stop::Missing(i) => match &last.node.value {
                Value::Map(_) => {
                    self.insert_entry(last.node, &tokens[i], &nest(&tokens[i + 1..], value))
                }
                Value::Seq(_) => self.append_item(last.node, &nest(&tokens[i + 1..], value)),
                Value::Scalar(_) => self.replace(&steps, &nest(&tokens[i..], value)),
            },
        }
    }

    /// Removes the key or item at `tokens`; `None` when there is nothing to remove.
    pub(super) fn remove(&self, tokens: &[String]) -> Result<Option<Change>, String> {
        let Some(root) = self.tree.root.as_ref() else {
            return Ok(None);
        };
        let (steps, stop) = self.walk(root, tokens, true)?;
        if let Stop::Missing(_) = stop {
            return Ok(None);
        }
        let [.., parent, target] = steps.as_slice() else {
            return Err("cannot remove the whole document".into());
        };
        self.check_subtree(target.node, tokens)?;
        let parent_steps = &steps[..steps.len() - 1];
        let change = match (target.via, &parent.node.value) {
            (Via::Entry(map_node, entry), Value::Map(map)) => {
                let own: Vec<&Entry> = map.entries.iter().filter(|e| !e.merged).collect();
                let (start, end) = (entry.key_start, self.value_end(entry.key_end, &entry.node));
                if map_node.style == Style::FlowMap {
                    let spans: Vec<(usize, usize)> = own
                        .iter()
                        .map(|e| (e.key_start, self.value_end(e.key_end, &e.node)))
                        .collect();
                    self.flow_remove(map_node, &spans, start)
                } else if own.len() == 1 && own.len() == map.entries.len() {
                    self.replace(parent_steps, &Json::Object(JsonMap::new()))?
                } else if let Some(change) =
                    self.remove_lines(start, end, own.iter().map(|e| e.key_start))
                {
                    change
                } else {
                    self.replace(parent_steps, &without(parent.node, tokens))?
                }
            }
            (Via::Item(seq_node, item), Value::Seq(items)) => {
                let start = item.dash.unwrap_or(item.node.start);
                let end = self.value_end(start + 1, &item.node);
                if seq_node.style == Style::FlowSeq {
                    let spans: Vec<(usize, usize)> = items
                        .iter()
                        .map(|i| (i.node.start, self.value_end(i.node.start, &i.node)))
                        .collect();
                    self.flow_remove(seq_node, &spans, item.node.start)
                } else if items.len() == 1 {
                    self.replace(parent_steps, &Json::Array(Vec::new()))?
                } else if let Some(change) = item.dash.and_then(|_| {
                    self.remove_lines(start, end, items.iter().filter_map(|i| i.dash))
                }) {
                    change
                } else {
                    self.replace(parent_steps, &without(parent.node, tokens))?
                }
            }
            _ => return Err("cannot remove the whole document".into()),
        };
        Ok(Some(change))
    }

    /// Follows `tokens` from the root as far as the document goes.
    fn walk(
        &self,
        root: &'a Node,
        tokens: &[String],
        removing: bool,
    ) -> Result<(Vec<Step<'a>>, Stop), String> {
        let mut steps = vec![Step {
            node: root,
            via: Via::Root,
        }];
        for (i, token) in tokens.iter().enumerate() {
            let node = steps[steps.len() - 1].node;
            let here = pointer(&tokens[..i]);
            if node.alias && !matches!(node.value, Value::Scalar(Scalar::Null)) {
                return Err(format!(
                    "{} is an alias (`*`) of another value; edit the anchored value instead",
                    shown(&here)
                ));
            }
            self.check_anchor(node, &tokens[..i])?;
            let next = match &node.value {
                Value::Map(map) => match map.get(token) {
                    Some(entry) if entry.merged && removing => {
                        let at = pointer(&tokens[..=i]);
                        return Err(format!(
                            "`{at}` comes from a merge key (`<<`); edit the mapping it is merged from"
                        ));
                    }
                    Some(entry) if entry.merged && i + 1 < tokens.len() => {
                        return Ok((steps, Stop::Merged(i)));
                    }
                    Some(entry) if !entry.merged => Step {
                        node: &entry.node,
                        via: Via::Entry(node, entry),
                    },
                    _ => return Ok((steps, Stop::Missing(i))),
                },
                Value::Seq(items) => {
                    let index = index(token, items.len(), &here)?;
                    match items.get(index) {
                        Some(item) => Step {
                            node: &item.node,
                            via: Via::Item(node, item),
                        },
                        None => return Ok((steps, Stop::Missing(i))),
                    }
                }
                Value::Scalar(Scalar::Null) => return Ok((steps, Stop::Missing(i))),
                Value::Scalar(_) => {
                    return Err(format!(
                        "{} is a scalar, not a mapping or a sequence",
                        shown(&here)
                    ));
                }
            };
            steps.push(next);
        }
        Ok((steps, Stop::Found))
    }

    fn check_anchor(&self, node: &Node, tokens: &[String]) -> Result<(), String> {
        if node.anchor != 0 && self.tree.aliased.binary_search(&node.anchor).is_ok() {
            return Err(format!(
                "{} has an anchor (`&`) that aliases refer to; edit it by hand",
                shown(&pointer(tokens))
            ));
        }
        Ok(())
    }

    /// Refuses to rewrite text that defines an anchor some alias uses (the alias would
    /// dangle or change). Copies made for aliases have no text of their own.
    fn check_subtree(&self, node: &Node, tokens: &[String]) -> Result<(), String> {
        fn used(node: &Node, aliased: &[usize]) -> bool {
            !node.alias
                && (node.anchor != 0 && aliased.binary_search(&node.anchor).is_ok()
                    || match &node.value {
                        Value::Scalar(_) => false,
                        Value::Seq(items) => items.iter().any(|i| used(&i.node, aliased)),
                        Value::Map(map) => map.entries.iter().any(|e| used(&e.node, aliased)),
                    })
        }
        if used(node, &self.tree.aliased) {
            return Err(format!(
                "{} holds an anchor (`&`) that aliases refer to; edit it by hand",
                shown(&pointer(tokens))
            ));
        }
        Ok(())
    }

    /// Replaces the value of the last step with `value`.
    fn replace(&self, steps: &[Step<'_>], value: &Json) -> Result<Change, String> {
        let Some(step) = steps.last() else {
            return Err("empty path".into());
        };
        let node = step.node;
        match step.via {
            Via::Root => Ok(self.replace_root(node, value)),
            Via::Entry(parent, _) | Via::Item(parent, _) if parent.style.is_flow_collection() => {
                let indent = line_indent(self.src, node.start);
                Ok(Change {
                    start: node.start,
                    end: node.end,
                    text: self.layout.flow_at(value, indent),
                })
            }
            Via::Entry(_, entry) => {
                let colon = self.colon(entry)?;
                let col = column(self.src, entry.key_start);
                let child = col
                    + if value.is_array() {
                        self.layout.seq_indent
                    } else {
                        self.layout.step
                    };
                Ok(self.replace_block(colon, node, value, child, false))
            }
            Via::Item(_, item) => {
                let Some(dash) = item.dash else {
                    return Err("cannot find the `-` of a sequence item".into());
                };
                Ok(self.replace_block(dash, node, value, column(self.src, dash) + 2, true))
            }
        }
    }

    /// Replaces a value in block context introduced by the `:` or `-` at `at`.
    fn replace_block(
        &self,
        at: usize,
        node: &Node,
        value: &Json,
        child: usize,
        item: bool,
    ) -> Change {
        let src = self.src;
        let at_line_end = line_end(src, at);
        let inline = self.layout.inline(value);
        let collection = matches!(node.style, Style::BlockMap | Style::BlockSeq);
        let one_line = !collection
            && !matches!(node.style, Style::Block | Style::ImplicitNull)
            && node.start > at
            && node.end <= at_line_end;
        if let (Some(text), true) = (&inline, one_line) {
            return Change {
                start: node.start,
                end: node.end,
                text: text.clone(),
            };
        }
        let end = line_end(src, self.value_end(at + 1, node).saturating_sub(1).max(at));
        let comment = if node.start > at_line_end || node.style == Style::ImplicitNull {
            comment(&src[at + 1..at_line_end])
        } else if !collection && node.style != Style::Block {
            comment(&src[node.end.min(end)..end])
        } else {
            None
        };
        let suffix = comment.map(|c| format!(" {c}")).unwrap_or_default();
        let nl = self.layout.nl;
        let text = match inline {
            Some(text) => format!(" {text}{suffix}"),
            None if item => {
                let lines = self.layout.block_lines(value, child);
                let (first, rest) = lines
                    .split_first()
                    .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
                let rest: String = rest.iter().map(|l| format!("{nl}{l}")).collect();
                format!(" {}{suffix}{rest}", first.trim_start())
            }
            None => {
                let lines: String = self
                    .layout
                    .block_lines(value, child)
                    .iter()
                    .map(|l| format!("{nl}{l}"))
                    .collect();
                format!("{suffix}{lines}")
            }
        };
        Change {
            start: at + 1,
            end,
            text,
        }
    }

    fn replace_root(&self, node: &Node, value: &Json) -> Change {
        if node.style == Style::ImplicitNull {
            return self.fill_empty(value);
        }
        let end = line_end(self.src, node.end.saturating_sub(1).max(node.start));
        let text = if self.layout.json || node.style.is_flow_collection() {
            self.layout.flow_at(value, "")
        } else if let Some(text) = self.layout.inline(value) {
            text
        } else {
            let lines = self.layout.block_lines(value, 0).join(self.layout.nl);
            if column(self.src, node.start) > 0 {
                format!("{}{lines}", self.layout.nl)
            } else {
                lines
            }
        };
        Change {
            start: node.start,
            end,
            text,
        }
    }

    /// Writes a value into a document that has none (empty, comments only, bare `---`).
    fn fill_empty(&self, value: &Json) -> Change {
        let nl = self.layout.nl;
        let text = match self.layout.inline(value) {
            Some(text) => text,
            None => self.layout.block_lines(value, 0).join(nl),
        };
        let len = self.src.len();
        // After the last line; a file without a final newline stays without one.
        let text = if self.src.is_empty() || self.src.ends_with('\n') {
            format!("{text}{nl}")
        } else {
            format!("{nl}{text}")
        };
        Change {
            start: len,
            end: len,
            text,
        }
    }

    fn insert_entry(&self, map: &Node, key: &str, value: &Json) -> Result<Change, String> {
        let Value::Map(entries) = &map.value else {
            return Err("not a mapping".into());
        };
        let own: Vec<&Entry> = entries.entries.iter().filter(|e| !e.merged).collect();
        if map.style == Style::FlowMap {
            let last = own
                .last()
                .map(|e| (e.key_start, self.value_end(e.key_end, &e.node)));
            let indent = last.map_or("", |(start, _)| line_indent(self.src, start));
            let text = format!(
                "{}: {}",
                self.layout.key(key, true),
                self.layout.flow_at(value, indent)
            );
            return Ok(self.flow_insert(map, last, text));
        }
        let col = column(self.src, own.first().map_or(map.start, |e| e.key_start));
        Ok(self.insert_after_line(
            map.end.saturating_sub(1).max(map.start),
            &self.layout.entry_lines(key, value, col),
        ))
    }

    fn append_item(&self, seq: &Node, value: &Json) -> Result<Change, String> {
        let Value::Seq(items) = &seq.value else {
            return Err("not a sequence".into());
        };
        if seq.style == Style::FlowSeq {
            let last = items
                .last()
                .map(|i| (i.node.start, self.value_end(i.node.start, &i.node)));
            let indent = last.map_or("", |(start, _)| line_indent(self.src, start));
            return Ok(self.flow_insert(seq, last, self.layout.flow_at(value, indent)));
        }
        let Some(dash) = items.first().and_then(|i| i.dash) else {
            return Err("cannot find the `-` of a sequence item".into());
        };
        Ok(self.insert_after_line(
            seq.end.saturating_sub(1).max(seq.start),
            &self.layout.item_lines(value, column(self.src, dash)),
        ))
    }

    /// Adds `text` as the last entry of a flow collection whose last entry spans `last`.
    fn flow_insert(&self, node: &Node, last: Option<(usize, usize)>, text: String) -> Change {
        let Some((start, end)) = last else {
            let close = node.end.saturating_sub(1);
            return Change {
                start: close,
                end: close,
                text,
            };
        };
        let text = if node.line != node.end_line && first_on_line(self.src, start) {
            format!(",{}{}{text}", self.layout.nl, line_indent(self.src, start))
        } else {
            format!(", {text}")
        };
        Change {
            start: end,
            end,
            text,
        }
    }

    /// Removes the flow entry starting at `start` together with one comma.
    fn flow_remove(&self, node: &Node, spans: &[(usize, usize)], start: usize) -> Change {
        let i = spans.iter().position(|s| s.0 == start).unwrap_or(0);
        match (i.checked_sub(1).map(|p| spans[p]), spans.get(i + 1)) {
            (Some(prev), _) => Change {
                start: prev.1,
                end: spans[i].1,
                text: String::new(),
            },
            (None, Some(next)) => Change {
                start: spans[i].0,
                end: next.0,
                text: String::new(),
            },
            (None, None) => {
                let open = self.src[node.start..]
                    .find(['{', '['])
                    .map_or(node.start, |o| node.start + o + 1);
                Change {
                    start: open,
                    end: node.end.saturating_sub(1).max(open),
                    text: String::new(),
                }
            }
        }
    }

    /// Deletes the lines from the one holding `start` to the one holding `end - 1`, when
    /// `start` begins its line; else joins the next sibling (one of `siblings`) up to it
    /// (`- a: 1\n  b: 2` without `a` is `- b: 2`). `None` when neither works.
    fn remove_lines(
        &self,
        start: usize,
        end: usize,
        siblings: impl Iterator<Item = usize>,
    ) -> Option<Change> {
        let src = self.src;
        let ls = line_start(src, start);
        if first_on_line(src, start) {
            let end = line_end(src, end.saturating_sub(1).max(start));
            let after = next_line(src, end);
            if after == src.len() && end == src.len() && ls > 0 {
                let before = if src[..ls].ends_with("\r\n") { 2 } else { 1 };
                return Some(Change {
                    start: ls - before,
                    end,
                    text: String::new(),
                });
            }
            return Some(Change {
                start: ls,
                end: after,
                text: String::new(),
            });
        }
        let next = siblings.filter(|&s| s > start).min()?;
        Some(Change {
            start,
            end: next,
            text: String::new(),
        })
    }

    fn insert_after_line(&self, pos: usize, lines: &[String]) -> Change {
        let nl = self.layout.nl;
        let end = line_end(self.src, pos);
        let text = lines.join(nl);
        if end == self.src.len() {
            return Change {
                start: end,
                end,
                text: format!("{nl}{text}"),
            };
        }
        let after = next_line(self.src, end);
        Change {
            start: after,
            end: after,
            text: format!("{text}{nl}"),
        }
    }

    /// Where a value's text ends; an implicit null ends where its key or dash does.
    fn value_end(&self, fallback: usize, node: &Node) -> usize {
        if node.style == Style::ImplicitNull {
            fallback
        } else {
            node.end.max(fallback)
        }
    }

    /// The `:` after a block mapping key.
    fn colon(&self, entry: &Entry) -> Result<usize, String> {
        let rest = &self.src[entry.key_end..];
        let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        match rest[skipped..].starts_with(':') {
            true => Ok(entry.key_end + skipped),
            false => Err(format!("cannot find the `:` after the key `{}`", entry.key)),
        }
    }
}

/// `{t1: {t2: … value}}` for the tokens still missing.
fn nest(tokens: &[String], value: &Json) -> Json {
    tokens.iter().rev().fold(value.clone(), |inner, token| {
        let mut map = JsonMap::new();
        map.insert(token.clone(), inner);
        Json::Object(map)
    })
}

/// The JSON of a collection without its child at the end of `tokens`.
fn without(node: &Node, tokens: &[String]) -> Json {
    let json: Json = serde_json::from_str(&to_json(node)).unwrap_or(Json::Null);
    let last = tokens.last().map(String::as_str).unwrap_or_default();
    match json {
        Json::Object(mut map) => {
            map.remove(last);
            Json::Object(map)
        }
        Json::Array(mut items) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
            Json::Array(items)
        }
        other => other,
    }
}

/// A sequence index token: digits without a leading zero, or `-` (one past the end).
pub(super) fn index(token: &str, len: usize, here: &str) -> Result<usize, String> {
    if token == "-" {
        return Ok(len);
    }
    let digits_ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    match token.parse::<usize>() {
        Ok(i) if digits_ok && i <= len => Ok(i),
        Ok(i) if digits_ok => Err(format!(
            "index {i} is past the end of the sequence at `{here}` ({len} items)"
        )),
        _ => Err(format!(
            "`{token}` is not an index of the sequence at `{here}`"
        )),
    }
}

/// The pointer of `tokens`, escaped.
pub(super) fn pointer(tokens: &[String]) -> String {
    tokens
        .iter()
        .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
        .collect()
}
