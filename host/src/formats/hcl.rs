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

use super::{Parsed, diagnostic};
use crate::wit;

/// Parses an HCL document.
pub fn parse(src: &str, file: &str) -> Parsed<wit::Structured> {
    let mut p = Parser { toks: lex(src), pos: 0, file, diagnostics: Vec::new() };
    let root = p.body(None, 1);
    let mut spans = Vec::new();
    let json = emit(&root, String::new(), &mut spans);
    Parsed { value: wit::Structured { json: json.to_string(), spans }, diagnostics: p.diagnostics }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Number(String),
    Punct(char),
    Newline,
    Error(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: u32,
    end: u32,
}

fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    while i < chars.len() {
        let c = chars[i];
        let start = line;
        match c {
            '\n' => {
                out.push(Token { tok: Tok::Newline, line, end: line });
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() || c == '\u{feff}' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                loop {
                    if i >= chars.len() {
                        out.push(Token { tok: Tok::Error("`/*` comment is never closed".into()), line: start, end: line });
                        break;
                    }
                    if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        i += 2;
                        break;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
            '"' => {
                let (tok, next, lines) = string(&chars, i + 1);
                line += lines;
                i = next;
                out.push(Token { tok, line: start, end: line });
            }
            '<' if chars.get(i + 1) == Some(&'<') => {
                let (tok, next, lines) = heredoc(&chars, i + 2);
                line += lines;
                i = next;
                out.push(Token { tok, line: start, end: line });
            }
            '{' | '}' | '[' | ']' | '=' | ',' | ':' => {
                out.push(Token { tok: Tok::Punct(c), line, end: line });
                i += 1;
            }
            c if c.is_ascii_digit() || ((c == '-' || c == '+') && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                let s = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '_' | '+' | '-')) {
                    if matches!(chars[i], '+' | '-') && !matches!(chars[i - 1], 'e' | 'E') {
                        break;
                    }
                    i += 1;
                }
                out.push(Token { tok: Tok::Number(chars[s..i].iter().collect()), line, end: line });
            }
            c if c.is_alphabetic() || c == '_' => {
                let s = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '.')) {
                    i += 1;
                }
                out.push(Token { tok: Tok::Ident(chars[s..i].iter().collect()), line, end: line });
            }
            other => {
                out.push(Token { tok: Tok::Error(format!("unexpected `{other}`")), line, end: line });
                i += 1;
            }
        }
    }
    out
}

/// A `"…"` string from after its opening quote: (token, index after it, newlines in it).
/// `${…}` is kept as written, quotes inside it included.
fn string(chars: &[char], mut i: usize) -> (Tok, usize, u32) {
    let mut value = String::new();
    let mut depth = 0usize;
    let mut lines = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' if depth == 0 => return (Tok::Str(value), i + 1, lines),
            '\n' if depth == 0 => {
                // HCL strings do not span lines; end the token here so the next line
                // is read on its own.
                return (Tok::Error("unterminated string".into()), i, lines);
            }
            '\\' if depth == 0 => {
                let next = chars.get(i + 1).copied().unwrap_or('\\');
                i += 2;
                match next {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'r' => value.push('\r'),
                    '"' => value.push('"'),
                    '\\' => value.push('\\'),
                    'u' | 'U' => {
                        let n = if next == 'u' { 4 } else { 8 };
                        let hex: String = chars.iter().skip(i).take(n).collect();
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(ch) if hex.len() == n => {
                                value.push(ch);
                                i += n;
                            }
                            _ => return (Tok::Error(format!("invalid escape `\\{next}{hex}`")), skip_line(chars, i), lines),
                        }
                    }
                    other => return (Tok::Error(format!("invalid escape `\\{other}`")), skip_line(chars, i), lines),
                }
                continue;
            }
            '$' if chars.get(i + 1) == Some(&'{') => {
                depth += 1;
                value.push_str("${");
                i += 2;
                continue;
            }
            '}' if depth > 0 => depth -= 1,
            '\n' => lines += 1,
            _ => {}
        }
        value.push(c);
        i += 1;
    }
    (Tok::Error("unterminated string".into()), i, lines)
}

fn skip_line(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i] != '\n' {
        i += 1;
    }
    i
}

/// `<<EOF` / `<<-EOF` from after `<<`: the lines up to the one holding only the marker.
fn heredoc(chars: &[char], mut i: usize) -> (Tok, usize, u32) {
    let indent = chars.get(i) == Some(&'-');
    if indent {
        i += 1;
    }
    let s = i;
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
        i += 1;
    }
    let marker: String = chars[s..i].iter().collect();
    if marker.is_empty() {
        return (Tok::Error("`<<` without a heredoc marker".into()), skip_line(chars, i), 0);
    }
    // The rest of the opening line must be blank.
    let i = skip_line(chars, i) + 1;
    let rest: String = chars.get(i..).unwrap_or(&[]).iter().collect();
    let mut lines = 1;
    let mut body: Vec<&str> = Vec::new();
    let mut consumed = 0;
    for l in rest.split_inclusive('\n') {
        consumed += l.chars().count();
        let bare = l.trim_end_matches(['\n', '\r']);
        let done = if indent { bare.trim() == marker } else { bare == marker };
        if done {
            let mut text = String::new();
            let strip = if indent {
                body.iter().filter(|b| !b.trim().is_empty()).map(|b| b.len() - b.trim_start().len()).min().unwrap_or(0)
            } else {
                0
            };
            for b in &body {
                text.push_str(b.get(strip..).unwrap_or("").trim_end_matches('\r'));
                text.push('\n');
            }
            // The token ends before the newline after the marker.
            let end = i + consumed - usize::from(l.ends_with('\n'));
            return (Tok::Str(text), end, lines);
        }
        body.push(bare);
        lines += 1;
    }
    (Tok::Error(format!("heredoc `{marker}` is never closed")), chars.len(), lines - 1)
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
    Object { items: Vec<(String, Node)>, form: Form },
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
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn line(&self) -> u32 {
        self.toks.get(self.pos).or(self.toks.last()).map_or(1, |t| t.line)
    }

    fn skip_newlines(&mut self) {
        while matches!(self.peek(), Some(Tok::Newline) | Some(Tok::Punct(','))) {
            self.pos += 1;
        }
    }

    fn error(&mut self, line: u32, message: String) {
        self.diagnostics.push(diagnostic("invalid-line", self.file, line, message));
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

    /// The items of the file or of a block, up to `}` (`close`) or the end.
    fn body(&mut self, close: Option<u32>, line: u32) -> Node {
        let mut items: Vec<(String, Node)> = Vec::new();
        loop {
            self.skip_newlines();
            match self.peek() {
                None => {
                    if let Some(open) = close {
                        self.error(open, format!("the block opened on line {open} is never closed"));
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
        let end = self.toks.get(self.pos.saturating_sub(1)).map_or(line, |t| t.end);
        Node { line, end: end.max(line), kind: Kind::Object { items, form: Form::Block } }
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
                let mut node = self.body(Some(line), line);
                for label in labels.into_iter().rev() {
                    node = Node { line, end: node.end, kind: Kind::Object { items: vec![(label, node)], form: Form::Labels } };
                }
                Ok((key, node))
            }
            Some(other) => Err(format!("expected `=` after `{key}`, found {}", describe(&other))),
            None => Err(format!("expected `=` after `{key}`")),
        }
    }

    fn value(&mut self) -> Result<Node, String> {
        let line = self.line();
        let Some(tok) = self.peek().cloned() else { return Err("missing value".into()) };
        let end = self.toks.get(self.pos).map_or(line, |t| t.end);
        self.pos += 1;
        let scalar = |v: Value| Ok(Node { line, end, kind: Kind::Scalar(v) });
        match tok {
            Tok::Str(s) => scalar(Value::String(s)),
            Tok::Ident(w) if w == "true" => scalar(Value::Bool(true)),
            Tok::Ident(w) if w == "false" => scalar(Value::Bool(false)),
            Tok::Number(n) => number(&n).map_or_else(|| Err(format!("`{n}` is not a number")), scalar),
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
                        Some(other) => return Err(format!("expected `,` or `]` in a list, found {}", describe(other))),
                        None => return Err(format!("the list opened on line {line} is never closed")),
                    }
                }
                let end = self.toks.get(self.pos - 1).map_or(line, |t| t.end);
                Ok(Node { line, end, kind: Kind::List(items) })
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
                        None => return Err(format!("the object opened on line {line} is never closed")),
                        _ => {}
                    }
                    let (k, v) = self.item()?;
                    self.insert(&mut items, k, v);
                }
                let end = self.toks.get(self.pos - 1).map_or(line, |t| t.end);
                Ok(Node { line, end, kind: Kind::Object { items, form: Form::Literal } })
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
            (Kind::Object { items: a, form: Form::Labels }, Kind::Object { items: b, form: Form::Labels }) => {
                let mut merged = std::mem::take(a);
                for (k, v) in b {
                    self.insert(&mut merged, k, v);
                }
                if let Kind::Object { items: a, .. } = &mut items[i].1.kind {
                    *a = merged;
                }
                items[i].1.end = items[i].1.end.max(node.end);
            }
            (Kind::Object { form: Form::Block, .. }, new @ Kind::Object { form: Form::Block, .. }) => {
                let first = std::mem::replace(old, Node { line: 0, end: 0, kind: Kind::Scalar(Value::Null) });
                let line = first.line;
                *old = Node { line, end: node.end, kind: Kind::List(vec![first, Node { line: node.line, end: node.end, kind: new }]) };
            }
            (Kind::List(list), new @ Kind::Object { form: Form::Block, .. })
                if list.iter().all(|n| matches!(n.kind, Kind::Object { form: Form::Block, .. })) =>
            {
                list.push(Node { line: node.line, end: node.end, kind: new });
                old.end = node.end;
            }
            (_, new) => {
                let first = old.line;
                *old = Node { line: node.line, end: node.end, kind: new };
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
    text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)
}

fn emit(node: &Node, pointer: String, spans: &mut Vec<wit::Span>) -> Value {
    spans.push(wit::Span { pointer: pointer.clone(), line: node.line, end_line: node.end.max(node.line) });
    match &node.kind {
        Kind::Scalar(v) => v.clone(),
        Kind::List(items) => Value::Array(
            items.iter().enumerate().map(|(i, n)| emit(n, format!("{pointer}/{i}"), spans)).collect(),
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

#[cfg(test)]
mod tests;
