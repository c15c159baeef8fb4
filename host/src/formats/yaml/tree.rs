//! A YAML document as a tree of resolved values that remember where their text is.
//!
//! Built from `saphyr-parser` events in one pass with an explicit stack (no recursion on
//! the input's nesting while building). Each node keeps its byte range and lines
//! ([`super::source`] turns saphyr's char markers into those), so that [`super::parse`]
//! can emit the pointer→line map and the editor in `crate::patch::yaml_edit` can find the
//! text to change. Aliases become copies of the anchored value (marked `alias`, with the
//! alias's position, counted against a budget); merge keys and duplicate keys follow
//! PyYAML's dict semantics ([`super::keys`]).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::keys::{self, KeyId};
use super::scalar::{self, Scalar};
use super::source::{Source, find_dash, opens_flow, quoted_end, reindent_quoted};

/// Deepest nesting accepted; deeper documents are refused rather than risking the stack
/// (and policies could not read their JSON back).
pub(crate) const MAX_DEPTH: usize = crate::formats::MAX_NESTING;

const CORE: &str = "tag:yaml.org,2002:";

/// The first document of a YAML stream.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    /// `None` for an empty stream (no document at all, or only comments).
    pub root: Option<Node>,
    /// Problems that did not stop the load (duplicate keys, tags PyYAML refuses…).
    pub issues: Vec<Issue>,
    /// Anchor ids some alias refers to.
    pub aliased: Vec<usize>,
    /// Whether the source uses `\r\n` line endings.
    pub crlf: bool,
    /// Read from a copy with quoted scalars re-indented (see [`load`]): lines are right,
    /// byte offsets are not.
    pub reindented: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Issue {
    pub code: &'static str,
    pub line: u32,
    pub message: String,
}

/// Why a document could not be loaded at all.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoadError {
    /// Byte offset where the parser stopped (0 for limits this module enforces).
    pub at: usize,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub value: Value,
    /// Byte range of the node's text, anchor and tag included. For block scalars the range
    /// starts at the content, after the `|`/`>` header line.
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub end_line: u32,
    pub style: Style,
    /// saphyr's anchor id, 0 for none.
    pub anchor: usize,
    /// A copy made for an alias or a merge: its text is somewhere else.
    pub alias: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    Quoted,
    /// `|` or `>`.
    Block,
    /// An empty plain scalar: `key:` with nothing after it.
    ImplicitNull,
    Alias,
    BlockMap,
    FlowMap,
    BlockSeq,
    FlowSeq,
}

impl Style {
    pub(crate) fn is_flow_collection(self) -> bool {
        matches!(self, Style::FlowMap | Style::FlowSeq)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    Scalar(Scalar),
    Seq(Vec<Item>),
    Map(Map),
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub node: Node,
    /// Line of the item's `-` (block sequences), else of the item itself.
    pub line: u32,
    /// Byte offset of the `-` in a block sequence.
    pub dash: Option<usize>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Map {
    /// Every pair in PyYAML's order: merged pairs first, then the mapping's own pairs.
    pub entries: Vec<Entry>,
    /// Indices into `entries` of the pairs that count, in the order JSON shows them.
    pub order: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The key as JSON text sees it (`1`, `true`, `null` for non-string keys).
    pub key: String,
    pub key_start: usize,
    pub key_end: usize,
    /// Line of the key (for merged pairs, of the merged value).
    pub line: u32,
    pub node: Node,
    /// The pair came in through a merge key.
    pub merged: bool,
    /// The key as Python compares it.
    pub(super) id: KeyId,
}

impl Map {
    /// The entry that counts for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.order
            .iter()
            .map(|&i| &self.entries[i])
            .find(|e| e.key == key)
    }
}

/// saphyr's message for a quoted scalar whose continuation lines sit left of the block
/// indentation, which PyYAML accepts.
const QUOTED_INDENT: &str = "invalid indentation in quoted scalar";

/// How many such scalars are re-indented before giving up.
const MAX_REINDENTS: usize = 16;

/// Loads the first document of `src`.
///
/// PyYAML accepts a multi-line quoted scalar whose continuation lines are not indented
/// past its key (`key: "a\nb"` with `b` at column 0); saphyr does not. Such a scalar is
/// loaded from a copy with those lines indented further: the value is the same (leading
/// blanks of continuation lines fold away) and so are the lines, but byte offsets are not,
/// so the tree says `reindented` and the editor leaves it alone.
pub(crate) fn load(src: &str) -> Result<Tree, LoadError> {
    let first = match load_exact(src) {
        Ok(tree) => return Ok(tree),
        Err(e) => e,
    };
    let mut text = src.to_string();
    let mut error = first.clone();
    for _ in 0..MAX_REINDENTS {
        if error.message != QUOTED_INDENT {
            break;
        }
        let Some(fixed) = reindent_quoted(&text, error.at) else {
            break;
        };
        text = fixed;
        match load_exact(&text) {
            Ok(mut tree) => {
                tree.reindented = true;
                return Ok(tree);
            }
            Err(e) => error = e,
        }
    }
    Err(first)
}

fn load_exact(src: &str) -> Result<Tree, LoadError> {
    let mut b = Builder::new(src);
    let mut parser = Parser::new_from_str(src);
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| b.pos.error(&e))?;
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    let line = b.pos.line_of(b.pos.byte(span.start.index()));
                    b.issue("multiple-documents", line, "the file holds more than one YAML document; only the first is read (PyYAML's `safe_load` refuses such a file)".into());
                    break;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node = b.scalar(&text, style, anchor, tag.as_deref(), span);
                b.finish(node)?;
            }
            Event::Alias(id) => {
                let node = b.alias(id, span)?;
                b.finish(node)?;
            }
            Event::SequenceStart(anchor, tag) => b.open(false, anchor, tag.as_deref(), span)?,
            Event::MappingStart(anchor, tag) => b.open(true, anchor, tag.as_deref(), span)?,
            Event::SequenceEnd | Event::MappingEnd => {
                let node = b.close(span)?;
                b.finish(node)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    b.tree.crlf = src.contains("\r\n");
    b.tree.aliased.sort_unstable();
    b.tree.aliased.dedup();
    Ok(b.tree)
}

/// A collection being built.
struct Frame {
    node: Node,
    items: Vec<Item>,
    own: Vec<Entry>,
    merges: Vec<Entry>,
    /// A mapping's key waiting for its value: the key node, or `None` when the next node
    /// is a key.
    key: Option<Node>,
}

struct Builder<'a> {
    src: &'a str,
    pos: Source<'a>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    /// Nodes copied for anchors and aliases so far, and the most allowed (alias bombs).
    copies: usize,
    max_copies: usize,
    tree: Tree,
}

impl Builder<'_> {
    fn issue(&mut self, code: &'static str, line: u32, message: String) {
        self.tree.issues.push(Issue {
            code,
            line,
            message,
        });
    }

    fn node(&self, value: Value, style: Style, anchor: usize, span: Span) -> Node {
        let start = self.pos.byte(span.start.index());
        let end = self.pos.byte(span.end.index()).max(start);
        Node {
            value,
            start,
            end,
            line: self.pos.line_of(self.pos.byte(span.start.index())),
            end_line: self.pos.line_of(end.saturating_sub(1).max(start)),
            style,
            anchor,
            alias: false,
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        span: Span,
    ) -> Node {
        let line = self.pos.line_of(self.pos.byte(span.start.index()));
        let plain = style == ScalarStyle::Plain;
        let (value, node_style) = match tag.map(|t| format!("{}{}", t.handle, t.suffix)) {
            None if plain && text.is_empty() => (Scalar::Null, Style::ImplicitNull),
            None if plain => (scalar::resolve_plain(text), Style::Plain),
            None => (Scalar::Str(text.to_string()), Style::Quoted),
            // The non-specific tag `!` makes PyYAML resolve the text as if it were plain.
            Some(tag) if tag == "!" => (scalar::resolve_plain(text), Style::Quoted),
            Some(tag) => {
                let resolved = match tag.strip_prefix(CORE) {
                    Some("merge") if text == "<<" => return self.merge_key(span),
                    Some(suffix) => scalar::construct_tagged(suffix, text),
                    None => Err(format!("PyYAML's safe loader refuses the tag `{tag}`")),
                };
                let value = resolved.unwrap_or_else(|message| {
                    self.issue("unsupported-value", line, message);
                    if plain {
                        scalar::resolve_plain(text)
                    } else {
                        Scalar::Str(text.to_string())
                    }
                });
                (value, Style::Quoted)
            }
        };
        let node_style = match style {
            ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
            _ => node_style,
        };
        let mut node = self.node(Value::Scalar(value), node_style, anchor, span);
        if node_style == Style::Block {
            // The span runs to the next token; the value ends at its last non-blank char.
            // An empty one ends right after its header.
            let trimmed = self.src[..node.end]
                .trim_end_matches([' ', '\t', '\r', '\n'])
                .len();
            node.end = trimmed;
            if trimmed < node.start {
                node.start = trimmed;
                node.line = self.pos.line_of(trimmed.saturating_sub(1));
            }
            node.end_line = self.pos.line_of(node.end.saturating_sub(1));
        }
        if node_style == Style::ImplicitNull {
            node.end_line = node.line;
        }
        if matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted) {
            // saphyr's span runs on over the spaces and comment after the closing quote.
            node.end = quoted_end(
                self.src,
                node.start,
                node.end,
                style == ScalarStyle::DoubleQuoted,
            );
            node.end_line = self.pos.line_of(node.end.saturating_sub(1));
        }
        node
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<Node, LoadError> {
        let line = self.pos.line_of(self.pos.byte(span.start.index()));
        let Some(target) = self.anchors.get(&id) else {
            return Err(LoadError {
                at: 0, line, column: 1, message: "alias refers to an anchor whose value is not complete (recursive aliases are not supported)".into() });
        };
        let mut copy = target.clone();
        let copied = count_nodes(&copy);
        self.copies += copied;
        if self.copies > self.max_copies {
            return Err(LoadError {
                at: 0,
                line,
                column: 1,
                message: format!("aliases expand to more than {} values", self.max_copies),
            });
        }
        let start = self.pos.byte(span.start.index());
        let end = self.pos.byte(span.end.index()).max(start);
        relabel(&mut copy, line, start, end);
        copy.style = match copy.style {
            Style::BlockMap | Style::BlockSeq | Style::FlowMap | Style::FlowSeq => copy.style,
            _ => Style::Alias,
        };
        copy.anchor = 0;
        self.tree.aliased.push(id);
        Ok(copy)
    }

    fn open(
        &mut self,
        map: bool,
        anchor: usize,
        tag: Option<&Tag>,
        span: Span,
    ) -> Result<(), LoadError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(LoadError {
                at: 0,
                line: self.pos.line_of(self.pos.byte(span.start.index())),
                column: 1,
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        let mut node = self.node(
            if map {
                Value::Map(Map::default())
            } else {
                Value::Seq(Vec::new())
            },
            Style::BlockMap,
            anchor,
            span,
        );
        let flow = opens_flow(&self.src[node.start..node.end]);
        node.style = match (map, flow) {
            (true, true) => Style::FlowMap,
            (true, false) => Style::BlockMap,
            (false, true) => Style::FlowSeq,
            (false, false) => Style::BlockSeq,
        };
        if !flow {
            // A block collection's span is empty or covers only its anchor and tag.
            node.end = node.start;
        }
        if let Some(tag) = tag.map(|t| format!("{}{}", t.handle, t.suffix)) {
            let known = [
                "!",
                "tag:yaml.org,2002:map",
                "tag:yaml.org,2002:omap",
                "tag:yaml.org,2002:set",
                "tag:yaml.org,2002:seq",
                "tag:yaml.org,2002:pairs",
            ];
            if !known.contains(&tag.as_str()) {
                self.issue(
                    "unsupported-value",
                    node.line,
                    format!("PyYAML's safe loader refuses the tag `{tag}`"),
                );
            }
        }
        self.stack.push(Frame {
            node,
            items: Vec::new(),
            own: Vec::new(),
            merges: Vec::new(),
            key: None,
        });
        Ok(())
    }

    fn close(&mut self, span: Span) -> Result<Node, LoadError> {
        let Some(frame) = self.stack.pop() else {
            return Err(LoadError {
                at: 0,
                line: self.pos.line_of(self.pos.byte(span.start.index())),
                column: 1,
                message: "unbalanced collection end".into(),
            });
        };
        let mut node = frame.node;
        let mut end = node.end;
        let mut end_line = node.line;
        match &mut node.value {
            Value::Seq(items) => {
                for item in &frame.items {
                    end = end.max(item.node.end);
                    end_line = end_line.max(item.node.end_line);
                }
                *items = frame.items;
            }
            Value::Map(map) => {
                for entry in &frame.own {
                    end = end.max(entry.node.end).max(entry.key_end);
                    end_line = end_line.max(entry.node.end_line).max(entry.line);
                }
                *map = keys::dedup(frame.merges, frame.own, &mut self.tree.issues);
            }
            Value::Scalar(_) => {}
        }
        if node.style.is_flow_collection() {
            // The span of the closing `}` or `]` runs on over what follows; the bracket
            // itself is one byte.
            end = (self.pos.byte(span.start.index()) + 1).max(end);
            end_line = end_line.max(self.pos.line_of(end.saturating_sub(1)));
        }
        node.end = end;
        node.end_line = end_line;
        Ok(node)
    }

    /// Attaches a finished node to the collection being built, or makes it the root.
    fn finish(&mut self, node: Node) -> Result<(), LoadError> {
        if node.anchor != 0 {
            self.copies += count_nodes(&node);
            if self.copies > self.max_copies {
                return Err(LoadError {
                    at: 0,
                    line: node.line,
                    column: 1,
                    message: format!(
                        "anchors and aliases copy more than {} values",
                        self.max_copies
                    ),
                });
            }
            self.anchors.insert(node.anchor, node.clone());
        }
        let is_value = self
            .stack
            .last()
            .is_none_or(|f| matches!(f.node.value, Value::Seq(_)) || f.key.is_some());
        if is_value
            && node.style == Style::Plain
            && matches!(&node.value, Value::Scalar(Scalar::Str(s)) if s == "=" || s == "<<")
        {
            // PyYAML resolves these to the `value` and `merge` tags, which `safe_load`
            // cannot construct outside a key.
            self.issue(
                "unsupported-value",
                node.line,
                "a plain `=` or `<<` value: PyYAML's safe loader refuses it; quote it".into(),
            );
        }
        let Some(frame) = self.stack.last_mut() else {
            if self.tree.root.is_none() {
                self.tree.root = Some(node);
            }
            return Ok(());
        };
        if matches!(frame.node.value, Value::Seq(_)) {
            let dash = if frame.node.style == Style::FlowSeq {
                None
            } else {
                find_dash(self.src, node.start)
            };
            let line = dash.map_or(node.line, |d| self.pos.line_of(d));
            if let Some(frame) = self.stack.last_mut() {
                frame.items.push(Item { node, line, dash });
            }
            return Ok(());
        }
        let Some(key) = frame.key.take() else {
            frame.key = Some(node);
            return Ok(());
        };
        if key.style == Style::Plain
            && matches!(&key.value, Value::Scalar(Scalar::Str(s)) if s == "<<")
        {
            let pairs = keys::merged_pairs(key.line, node, &mut self.tree.issues);
            if let Some(frame) = self.stack.last_mut() {
                frame.merges.extend(pairs);
            }
            return Ok(());
        }
        let Value::Scalar(key_value) = &key.value else {
            self.issue("unsupported-value", key.line, "a mapping key is a mapping or a sequence; PyYAML refuses such keys (`found unhashable key`)".into());
            return Ok(());
        };
        let (text, id) = keys::key_of(key_value);
        let entry = Entry {
            key: text,
            id,
            key_start: key.start,
            key_end: key.end,
            line: key.line,
            node,
            merged: false,
        };
        if let Some(frame) = self.stack.last_mut() {
            frame.own.push(entry);
        }
        Ok(())
    }
}

impl<'a> Builder<'a> {
    fn new(src: &'a str) -> Self {
        Builder {
            src,
            pos: Source::new(src),
            stack: Vec::new(),
            anchors: HashMap::new(),
            copies: 0,
            max_copies: src.len().max(100_000),
            tree: Tree::default(),
        }
    }

    /// An explicit `!!merge <<` key.
    fn merge_key(&self, span: Span) -> Node {
        self.node(
            Value::Scalar(Scalar::Str("<<".into())),
            Style::Plain,
            0,
            span,
        )
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar(_) => 0,
        Value::Seq(items) => items.iter().map(|i| count_nodes(&i.node)).sum(),
        Value::Map(map) => map.entries.iter().map(|e| count_nodes(&e.node)).sum(),
    }
}

/// Marks a copy made for an alias: every line is the alias's line, every range its text.
fn relabel(node: &mut Node, line: u32, start: usize, end: usize) {
    node.line = line;
    node.end_line = line;
    node.start = start;
    node.end = end;
    node.alias = true;
    match &mut node.value {
        Value::Scalar(_) => {}
        Value::Seq(items) => {
            for item in items {
                item.line = line;
                item.dash = None;
                relabel(&mut item.node, line, start, end);
            }
        }
        Value::Map(map) => {
            for entry in &mut map.entries {
                entry.line = line;
                entry.key_start = start;
                entry.key_end = end;
                relabel(&mut entry.node, line, start, end);
            }
        }
    }
}
