//! A YAML document as a tree of resolved values that remember where their text is.
//!
//! Built from `saphyr-parser` events in one pass with an explicit stack (no recursion on
//! the input's nesting while building). Each node keeps its byte range and lines, so that
//! [`super::parse`] can emit the pointer→line map and the editor in `crate::patch::yaml_edit`
//! can find the text to change. Aliases become copies of the anchored value (marked
//! `alias`, with the alias's position); merge keys (`<<`) are flattened as PyYAML's
//! `flatten_mapping` does; duplicate keys are kept in `Map::entries` but only the last one
//! counts, again as in PyYAML.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use super::scalar::{self, Scalar};

/// Deepest nesting accepted; deeper documents are refused rather than risking the stack.
pub(crate) const MAX_DEPTH: usize = 512;

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
}

impl Map {
    /// The entry that counts for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.order.iter().map(|&i| &self.entries[i]).find(|e| e.key == key)
    }
}

/// Loads the first document of `src`.
pub(crate) fn load(src: &str) -> Result<Tree, LoadError> {
    let mut b = Builder::new(src);
    let mut parser = Parser::new_from_str(src);
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| b.scan_error(&e))?;
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    let line = marker_line(span.start.line());
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
    /// Byte offset of each char index, when the source is not ASCII.
    char_bytes: Option<Vec<usize>>,
    /// Byte offset of each line's start.
    line_starts: Vec<usize>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    /// Nodes copied for anchors and aliases so far, and the most allowed (alias bombs).
    copies: usize,
    max_copies: usize,
    tree: Tree,
}

impl<'a> Builder<'a> {
    fn new(src: &'a str) -> Self {
        let char_bytes = (!src.is_ascii()).then(|| src.char_indices().map(|(i, _)| i).chain([src.len()]).collect());
        let bytes = src.as_bytes();
        let mut line_starts = vec![0];
        for (i, &c) in bytes.iter().enumerate() {
            if c == b'\n' || (c == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                line_starts.push(i + 1);
            }
        }
        Builder {
            src,
            char_bytes,
            line_starts,
            stack: Vec::new(),
            anchors: HashMap::new(),
            copies: 0,
            max_copies: src.len().max(100_000),
            tree: Tree::default(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.char_bytes {
            None => char_index.min(self.src.len()),
            Some(table) => table.get(char_index).copied().unwrap_or(self.src.len()),
        }
    }

    /// 1-based line of a byte offset.
    fn line_of(&self, byte: usize) -> u32 {
        u32::try_from(self.line_starts.partition_point(|&s| s <= byte)).unwrap_or(u32::MAX)
    }

    fn issue(&mut self, code: &'static str, line: u32, message: String) {
        self.tree.issues.push(Issue { code, line, message });
    }

    fn scan_error(&self, e: &ScanError) -> LoadError {
        let mark = e.marker();
        LoadError {
            line: marker_line(mark.line()),
            column: u32::try_from(mark.col() + 1).unwrap_or(u32::MAX),
            message: e.info().to_string(),
        }
    }

    fn node(&self, value: Value, style: Style, anchor: usize, span: Span) -> Node {
        let start = self.byte(span.start.index());
        let end = self.byte(span.end.index()).max(start);
        Node { value, start, end, line: marker_line(span.start.line()), end_line: self.line_of(end.saturating_sub(1).max(start)), style, anchor, alias: false }
    }

    fn scalar(&mut self, text: &str, style: ScalarStyle, anchor: usize, tag: Option<&Tag>, span: Span) -> Node {
        let line = marker_line(span.start.line());
        let plain = style == ScalarStyle::Plain;
        let (value, node_style) = match tag.map(|t| format!("{}{}", t.handle, t.suffix)) {
            None if plain && text.is_empty() => (Scalar::Null, Style::ImplicitNull),
            None if plain => (scalar::resolve_plain(text), Style::Plain),
            None => (Scalar::Str(text.to_string()), Style::Quoted),
            // The non-specific tag `!` makes PyYAML resolve the text as if it were plain.
            Some(tag) if tag == "!" => (scalar::resolve_plain(text), Style::Quoted),
            Some(tag) => {
                let resolved = match tag.strip_prefix(CORE) {
                    Some("merge") if text == "<<" => Ok(Scalar::Str(text.to_string())),
                    Some(suffix) => scalar::construct_tagged(suffix, text),
                    None => Err(format!("PyYAML's safe loader refuses the tag `{tag}`")),
                };
                let value = resolved.unwrap_or_else(|message| {
                    self.issue("unsupported-value", line, message);
                    if plain { scalar::resolve_plain(text) } else { Scalar::Str(text.to_string()) }
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
            let trimmed = self.src[..node.end].trim_end_matches([' ', '\t', '\r', '\n']).len();
            node.end = trimmed.max(node.start.min(trimmed));
            node.end_line = self.line_of(node.end.saturating_sub(1));
        }
        if node_style == Style::ImplicitNull {
            node.end_line = node.line;
        }
        node
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<Node, LoadError> {
        let line = marker_line(span.start.line());
        let Some(target) = self.anchors.get(&id) else {
            return Err(LoadError { line, column: 1, message: "alias refers to an anchor whose value is not complete (recursive aliases are not supported)".into() });
        };
        let mut copy = target.clone();
        let copied = count_nodes(&copy);
        self.copies += copied;
        if self.copies > self.max_copies {
            return Err(LoadError { line, column: 1, message: format!("aliases expand to more than {} values", self.max_copies) });
        }
        let start = self.byte(span.start.index());
        let end = self.byte(span.end.index()).max(start);
        relabel(&mut copy, line, start, end);
        copy.style = match copy.style {
            Style::BlockMap | Style::BlockSeq | Style::FlowMap | Style::FlowSeq => copy.style,
            _ => Style::Alias,
        };
        copy.anchor = 0;
        self.tree.aliased.push(id);
        Ok(copy)
    }

    fn open(&mut self, map: bool, anchor: usize, tag: Option<&Tag>, span: Span) -> Result<(), LoadError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(LoadError { line: marker_line(span.start.line()), column: 1, message: format!("nesting deeper than {MAX_DEPTH} levels") });
        }
        let mut node = self.node(if map { Value::Map(Map::default()) } else { Value::Seq(Vec::new()) }, Style::BlockMap, anchor, span);
        let flow = node.end > node.start && matches!(self.src.as_bytes()[node.end - 1], b'{' | b'[');
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
            let known = ["!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:omap", "tag:yaml.org,2002:set", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:pairs"];
            if !known.contains(&tag.as_str()) {
                self.issue("unsupported-value", node.line, format!("PyYAML's safe loader refuses the tag `{tag}`"));
            }
        }
        self.stack.push(Frame { node, items: Vec::new(), own: Vec::new(), merges: Vec::new(), key: None });
        Ok(())
    }

    fn close(&mut self, span: Span) -> Result<Node, LoadError> {
        let Some(frame) = self.stack.pop() else {
            return Err(LoadError { line: marker_line(span.start.line()), column: 1, message: "unbalanced collection end".into() });
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
                *map = self.dedup(frame.merges, frame.own);
            }
            Value::Scalar(_) => {}
        }
        if node.style.is_flow_collection() {
            end = self.byte(span.end.index()).max(end);
            end_line = end_line.max(self.line_of(end.saturating_sub(1)));
        }
        node.end = end;
        node.end_line = end_line;
        Ok(node)
    }

    /// PyYAML's dict semantics: a key seen again keeps its first position and takes the
    /// last value. Python keys `1`, `1.0` and `True` are one key; then `json.dumps` may
    /// still write two keys with the same text (`1` and `"1"`), of which a JSON reader
    /// keeps the last.
    fn dedup(&mut self, merges: Vec<Entry>, own: Vec<Entry>) -> Map {
        let merged = merges.len();
        let entries: Vec<Entry> = merges.into_iter().chain(own).collect();
        let mut by_id: HashMap<KeyId, usize> = HashMap::new();
        let mut order: Vec<usize> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let id = key_id(entry);
            match by_id.get(&id) {
                Some(&slot) => {
                    if i >= merged && order[slot] >= merged {
                        let first = entries[order[slot]].line;
                        self.issue("duplicate-key", entry.line, format!("duplicate key `{}` (first at line {first}); the last one counts", entry.key));
                    }
                    // The first key object stays (its JSON text too); the value is the last.
                    let keep_key = entries[order[slot]].key.clone();
                    order[slot] = i;
                    if entries[i].key != keep_key {
                        // Recorded below by re-keying; rare (`1` vs `true`).
                        self.rekey.push((i, keep_key));
                    }
                }
                None => {
                    by_id.insert(id, order.len());
                    order.push(i);
                }
            }
        }
        let mut entries = entries;
        for (i, key) in self.rekey.drain(..) {
            entries[i].key = key;
        }
        // Distinct Python keys with the same JSON text: a JSON reader keeps the last.
        let mut by_text: HashMap<&str, usize> = HashMap::new();
        let mut drop = vec![false; order.len()];
        for (slot, &i) in order.iter().enumerate() {
            if let Some(prev) = by_text.insert(entries[i].key.as_str(), slot) {
                drop[prev] = true;
                self.tree.issues.push(Issue { code: "duplicate-key", line: entries[i].line, message: format!("keys of different types both read as `{}` in JSON; the last one counts", entries[i].key) });
            }
        }
        let order = order.into_iter().zip(drop).filter(|(_, d)| !d).map(|(i, _)| i).collect();
        Map { entries, order }
    }

    /// Attaches a finished node to the collection being built, or makes it the root.
    fn finish(&mut self, node: Node) -> Result<(), LoadError> {
        if node.anchor != 0 {
            self.copies += count_nodes(&node);
            if self.copies > self.max_copies {
                return Err(LoadError { line: node.line, column: 1, message: format!("anchors and aliases copy more than {} values", self.max_copies) });
            }
            self.anchors.insert(node.anchor, node.clone());
        }
        let Some(frame) = self.stack.last_mut() else {
            if self.tree.root.is_none() {
                self.tree.root = Some(node);
            }
            return Ok(());
        };
        if matches!(frame.node.value, Value::Seq(_)) {
            let flow = frame.node.style == Style::FlowSeq;
            let dash = if flow || node.alias && node.style != Style::Alias { None } else { find_dash(self.src, node.start) };
            let dash = if flow { None } else { dash };
            let line = dash.map_or(node.line, |d| self.line_of(d));
            frame.items.push(Item { node, line, dash });
            return Ok(());
        }
        let Some(key) = frame.key.take() else {
            frame.key = Some(node);
            return Ok(());
        };
        let is_merge = key.style == Style::Plain && matches!(&key.value, Value::Scalar(Scalar::Str(s)) if s == "<<")
            || key.style == Style::Quoted && matches!(&key.value, Value::Scalar(Scalar::Str(s)) if s == "<<") && false;
        if is_merge {
            self.merge(key.line, node);
            return Ok(());
        }
        let Some(text) = key_text(&key) else {
            self.issue("unsupported-value", key.line, "a mapping key is a mapping or a sequence; PyYAML refuses such keys (`found unhashable key`)".into());
            return Ok(());
        };
        let entry = Entry { key: text, key_start: key.start, key_end: key.end, line: key.line, node, merged: false };
        if let Some(frame) = self.stack.last_mut() {
            frame.own.push(entry);
        }
        Ok(())
    }

    /// `<<: *base` or `<<: [*a, *b]`: the pairs of the merged mappings come before the
    /// mapping's own pairs; with a list, earlier mappings win (PyYAML reverses the list).
    fn merge(&mut self, line: u32, value: Node) {
        let mut pairs = Vec::new();
        match value.value {
            Value::Map(map) => pairs.extend(effective(map)),
            Value::Seq(items) => {
                for item in items.into_iter().rev() {
                    match item.node.value {
                        Value::Map(map) => pairs.extend(effective(map)),
                        _ => self.issue("unsupported-value", item.line, "a merge key (`<<`) lists something that is not a mapping; PyYAML refuses it".into()),
                    }
                }
            }
            Value::Scalar(_) => self.issue("unsupported-value", line, "a merge key (`<<`) needs a mapping or a list of mappings; PyYAML refuses this one".into()),
        }
        if let Some(frame) = self.stack.last_mut() {
            frame.merges.extend(pairs.into_iter().map(|mut e| {
                e.merged = true;
                e.line = line;
                e
            }));
        }
    }
}
