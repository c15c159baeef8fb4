//! HCL files (Consul agent configs such as `consul.hcl`) as JSON text plus a
//! pointer→line map, the shape YAML and JSON documents have.
//!
//! Consul reads HCL with HashiCorp's HCL 1 decoder and then treats the result as it
//! treats a JSON config, so this module produces the JSON Consul would have decoded:
//! - `key = value` attributes; values are strings (`"…"` with `\n \t \" \\ \uXXXX`
//!   escapes, `${…}` kept as written: Consul does not interpolate), heredocs (`<<EOF`,
//!   `<<-EOF`), numbers, `true`/`false`, lists `[…]` and objects `{ k = v, "k": v }`;
//! - blocks `key { … }` become objects; labelled blocks `service "web" { … }` nest under
//!   their labels (`{"service": {"web": {…}}}`) and blocks with the same labels merge;
//!   the same unlabelled block written twice becomes a list of objects, as HCL 1 does;
//! - comments `#…`, `//…` and `/* … */`.
//!
//! Each value gets a [`wit::Span`]: its JSON pointer, the line of its key and its last
//! line. An attribute set twice keeps the last value (`duplicate-key`, like Consul's
//! decoder). A line that is not HCL is an `invalid-line` diagnostic and parsing goes on
//! at the next line of the same block; an unclosed block runs to the end of the file and
//! is reported at the line that opens it.

use serde_json::{Map, Value};

use super::{MAX_NESTING, Parsed, diagnostic};
use crate::wit;
use lex::{Tok, Token, lex};

/// Parses an HCL document.
pub fn parse(src: &str, file: &str) -> Parsed<wit::Structured> {
    let mut p = Parser {
        toks: lex(src),
        pos: 0,
        file,
        diagnostics: Vec::new(),
        depth: 0,
        abandoned: false,
    };
    let root = p.body(None, 1);
    let mut spans = Vec::new();
    let json = emit(&root, String::new(), &mut spans);
    Parsed {
        value: wit::Structured {
            json: json.to_string(),
            spans,
        },
        diagnostics: p.diagnostics,
    }
}

/// A parsed value with its lines.
#[derive(Debug, Clone)]
struct Node {
    line: u32,
    end: u32,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Scalar(Value),
    List(Vec<Node>),
    /// Keys in order, and how the object was written (which decides how a repeat of its
    /// key combines with it).
    Object {
        items: Vec<(String, Node)>,
        form: Form,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    /// `{ … }` as a value.
    Literal,
    /// `key { … }`.
    Block,
    /// The level a block label adds: `service "web" { … }` is `service` → `web` → block.
    Labels,
}

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    file: &'a str,
    diagnostics: Vec<wit::Diagnostic>,
    /// How many blocks, labels, lists and objects enclose the position.
    depth: usize,
    /// The nesting limit was hit: the rest of the file is not read.
    abandoned: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn line(&self) -> u32 {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek(), Some(Tok::Newline) | Some(Tok::Punct(','))) {
            self.pos += 1;
        }
    }

    fn error(&mut self, line: u32, message: String) {
        self.diagnostics
            .push(diagnostic("invalid-line", self.file, line, message));
    }

    /// Skips to the end of the line, or to a `}` that may close the enclosing block.
    fn recover(&mut self) {
        while let Some(t) = self.peek() {
            if matches!(t, Tok::Newline | Tok::Punct('}')) {
                break;
            }
            self.pos += 1;
        }
    }

    /// Enters `levels` more levels of nesting; past [`MAX_NESTING`] the rest of the file
    /// is abandoned with one diagnostic at this line (the parser and the emitter recurse
    /// once per level).
    fn enter(&mut self, levels: usize) -> Result<(), String> {
        self.depth += levels;
        if self.depth <= MAX_NESTING {
            return Ok(());
        }
        self.depth -= levels;
        if !self.abandoned {
            let line = self.line();
            self.error(
                line,
                format!("values nest deeper than {MAX_NESTING} levels here; the rest of the file is not read"),
            );
            self.abandoned = true;
        }
        self.pos = self.toks.len();
        Err(String::new())
    }

    /// The items of the file or of a block, up to `}` (`close`) or the end.
    fn body(&mut self, close: Option<u32>, line: u32) -> Node {
        let mut items: Vec<(String, Node)> = Vec::new();
        loop {
            self.skip_newlines();
            match self.peek() {
                None => {
                    if let Some(open) = close.filter(|_| !self.abandoned) {
                        self.error(
                            open,
                            format!("the block opened on line {open} is never closed"),
                        );
                    }
                    break;
                }
                Some(Tok::Punct('}')) if close.is_some() => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            let at = self.line();
            let start = self.pos;
            match self.item() {
                Ok((key, node)) => self.insert(&mut items, key, node),
                Err(_) if self.abandoned => break,
                Err(message) => {
                    self.error(at, message);
                    if self.line() > at {
                        // A list or object that ran past its line: read on from the
                        // line after the one it starts on.
                        self.pos = start;
                    }
                    let before = self.pos;
                    self.recover();
                    // A stray closer (or nothing skipped) must still move on.
                    let stray = matches!(self.peek(), Some(Tok::Punct(']')))
                        || (close.is_none() && matches!(self.peek(), Some(Tok::Punct('}'))));
                    if stray || self.pos == before {
                        self.pos += 1;
                    }
                }
            }
        }
        let end = self
            .toks
            .get(self.pos.saturating_sub(1))
            .map_or(line, |t| t.end);
        Node {
            line,
            end: end.max(line),
            kind: Kind::Object {
                items,
                form: Form::Block,
            },
        }
    }

    /// One `key = value`, `key { … }` or `key "label"… { … }`.
    fn item(&mut self) -> Result<(String, Node), String> {
        let line = self.line();
        let key = match self.peek().cloned() {
            Some(Tok::Ident(k)) | Some(Tok::Str(k)) => k,
            Some(Tok::Error(e)) => return Err(e),
            Some(other) => return Err(format!("expected a key, found {}", describe(&other))),
            None => return Err("unexpected end of file".into()),
        };
        self.pos += 1;
        match self.peek().cloned() {
            Some(Tok::Punct('=' | ':')) => {
                self.pos += 1;
                let mut node = self.value()?;
                node.line = line;
                Ok((key, node))
            }
            Some(Tok::Punct('{')) | Some(Tok::Str(_)) | Some(Tok::Ident(_)) => {
                let mut labels = Vec::new();
                while let Some(Tok::Str(l) | Tok::Ident(l)) = self.peek().cloned() {
                    labels.push(l);
                    self.pos += 1;
                }
                if self.peek() != Some(&Tok::Punct('{')) {
                    return Err(format!("expected `=` or `{{` after `{key}`"));
                }
                self.pos += 1;
                self.enter(1 + labels.len())?;
                let mut node = self.body(Some(line), line);
                self.depth -= 1 + labels.len();
                for label in labels.into_iter().rev() {
                    node = Node {
                        line,
                        end: node.end,
                        kind: Kind::Object {
                            items: vec![(label, node)],
                            form: Form::Labels,
                        },
                    };
                }
                Ok((key, node))
            }
            Some(other) => Err(format!(
                "expected `=` after `{key}`, found {}",
                describe(&other)
            )),
            None => Err(format!("expected `=` after `{key}`")),
        }
    }

    fn value(&mut self) -> Result<Node, String> {
        self.enter(1)?;
        let value = self.value_here();
        self.depth -= 1;
        value
    }

    fn value_here(&mut self) -> Result<Node, String> {
        let line = self.line();
        let Some(tok) = self.peek().cloned() else {
            return Err("missing value".into());
        };
        let end = self.toks.get(self.pos).map_or(line, |t| t.end);
        self.pos += 1;
        let scalar = |v: Value| {
            Ok(Node {
                line,
                end,
                kind: Kind::Scalar(v),
            })
        };
        match tok {
            Tok::Str(s) => scalar(Value::String(s)),
            Tok::Ident(w) if w == "true" => scalar(Value::Bool(true)),
            Tok::Ident(w) if w == "false" => scalar(Value::Bool(false)),
            Tok::Number(n) => {
                number(&n).map_or_else(|| Err(format!("`{n}` is not a number")), scalar)
            }
            Tok::Punct('[') => {
                let mut items = Vec::new();
                loop {
                    while matches!(self.peek(), Some(Tok::Newline)) {
                        self.pos += 1;
                    }
                    if self.peek() == Some(&Tok::Punct(']')) {
                        self.pos += 1;
                        break;
                    }
                    items.push(self.value()?);
                    while matches!(self.peek(), Some(Tok::Newline)) {
                        self.pos += 1;
                    }
                    match self.peek() {
                        Some(Tok::Punct(',')) => self.pos += 1,
                        Some(Tok::Punct(']')) => {}
                        Some(other) => {
                            return Err(format!(
                                "expected `,` or `]` in a list, found {}",
                                describe(other)
                            ));
                        }
                        None => {
                            return Err(format!("the list opened on line {line} is never closed"));
                        }
                    }
                }
                let end = self.toks.get(self.pos - 1).map_or(line, |t| t.end);
                Ok(Node {
                    line,
                    end,
                    kind: Kind::List(items),
                })
            }
            Tok::Punct('{') => {
                let mut items = Vec::new();
                loop {
                    self.skip_newlines();
                    match self.peek() {
                        Some(Tok::Punct('}')) => {
                            self.pos += 1;
                            break;
                        }
                        None => {
                            return Err(format!(
                                "the object opened on line {line} is never closed"
                            ));
                        }
                        _ => {}
                    }
                    let (k, v) = self.item()?;
                    self.insert(&mut items, k, v);
                }
                let end = self.toks.get(self.pos - 1).map_or(line, |t| t.end);
                Ok(Node {
                    line,
                    end,
                    kind: Kind::Object {
                        items,
                        form: Form::Literal,
                    },
                })
            }
            Tok::Error(e) => Err(e),
            other => Err(format!("expected a value, found {}", describe(&other))),
        }
    }

    /// Adds `key` to an object: labelled blocks merge by label, the same unlabelled
    /// block written again makes a list, an attribute written again replaces the earlier.
    fn insert(&mut self, items: &mut Vec<(String, Node)>, key: String, node: Node) {
        let Some(i) = items.iter().position(|(k, _)| *k == key) else {
            items.push((key, node));
            return;
        };
        let old = &mut items[i].1;
        match (&mut old.kind, node.kind) {
            (
                Kind::Object {
                    items: a,
                    form: Form::Labels,
                },
                Kind::Object {
                    items: b,
                    form: Form::Labels,
                },
            ) => {
                let mut merged = std::mem::take(a);
                for (k, v) in b {
                    self.insert(&mut merged, k, v);
                }
                if let Kind::Object { items: a, .. } = &mut items[i].1.kind {
                    *a = merged;
                }
                items[i].1.end = items[i].1.end.max(node.end);
            }
            (
                Kind::Object {
                    form: Form::Block, ..
                },
                new @ Kind::Object {
                    form: Form::Block, ..
                },
            ) => {
                let first = std::mem::replace(
                    old,
                    Node {
                        line: 0,
                        end: 0,
                        kind: Kind::Scalar(Value::Null),
                    },
                );
                let line = first.line;
                *old = Node {
                    line,
                    end: node.end,
                    kind: Kind::List(vec![
                        first,
                        Node {
                            line: node.line,
                            end: node.end,
                            kind: new,
                        },
                    ]),
                };
            }
            (
                Kind::List(list),
                new @ Kind::Object {
                    form: Form::Block, ..
                },
            ) if list.iter().all(|n| {
                matches!(
                    n.kind,
                    Kind::Object {
                        form: Form::Block,
                        ..
                    }
                )
            }) =>
            {
                list.push(Node {
                    line: node.line,
                    end: node.end,
                    kind: new,
                });
                old.end = node.end;
            }
            (_, new) => {
                let first = old.line;
                *old = Node {
                    line: node.line,
                    end: node.end,
                    kind: new,
                };
                self.diagnostics.push(diagnostic(
                    "duplicate-key",
                    self.file,
                    node.line,
                    format!("`{key}` is set again (first on line {first}); the last value wins"),
                ));
            }
        }
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(w) => format!("`{w}`"),
        Tok::Str(_) => "a string".into(),
        Tok::Number(n) => format!("`{n}`"),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::Newline => "the end of the line".into(),
        Tok::Error(e) => e.clone(),
    }
}

fn number(text: &str) -> Option<Value> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

fn emit(node: &Node, pointer: String, spans: &mut Vec<wit::Span>) -> Value {
    spans.push(wit::Span {
        pointer: pointer.clone(),
        line: node.line,
        end_line: node.end.max(node.line),
    });
    match &node.kind {
        Kind::Scalar(v) => v.clone(),
        Kind::List(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| emit(n, format!("{pointer}/{i}"), spans))
                .collect(),
        ),
        Kind::Object { items, .. } => {
            let mut map = Map::new();
            for (k, n) in items {
                let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                map.insert(k.clone(), emit(n, p, spans));
            }
            Value::Object(map)
        }
    }
}

mod lex;
#[cfg(test)]
mod tests;
