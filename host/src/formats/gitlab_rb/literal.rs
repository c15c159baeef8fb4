//! Ruby literals of gitlab.rb (strings, numbers, symbols, arrays, hashes, word lists),
//! read from the statement's tokens by a [`Cursor`]; anything else is Ruby this parser
//! does not evaluate, and the `Err` says what it was.

use serde_json::{Map, Value};

use super::describe;
use super::lex::Tok;
use super::lex::Token;

/// One literal value; `Err` says why it is not one.
pub(super) fn value(p: &mut Cursor) -> Result<Value, String> {
    let Some(tok) = p.next() else {
        return Err("no value".into());
    };
    match tok {
        Tok::Str {
            value,
            interpolated: false,
        }
        | Tok::Symbol(value) => Ok(Value::String(value.clone())),
        Tok::Str { .. } => Err("a string with `#{…}` interpolation".into()),
        Tok::Words {
            interpolated: true, ..
        } => Err("a word list with `#{…}` interpolation".into()),
        Tok::Words { words, .. } => Ok(Value::Array(
            words.iter().cloned().map(Value::String).collect(),
        )),
        Tok::Int(i) => Ok(Value::from(*i)),
        Tok::Float(f) => Ok(serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)),
        Tok::Ident(w) if w == "true" => Ok(Value::Bool(true)),
        Tok::Ident(w) if w == "false" => Ok(Value::Bool(false)),
        Tok::Ident(w) if w == "nil" => Ok(Value::Null),
        Tok::Ident(w) => Err(format!("`{w}`")),
        Tok::Punct("[") => {
            let mut items = Vec::new();
            loop {
                if p.eat_punct("]") {
                    return Ok(Value::Array(items));
                }
                // `['targets' => […]]`, `[a: 1, b: 2]`: trailing pairs in an array are
                // one hash without braces (the prometheus examples of gitlab.rb).
                if p.at_hash_key() {
                    items.push(hash_entries(p, "]")?);
                    return Ok(Value::Array(items));
                }
                items.push(value(p)?);
                if !p.eat_punct(",") {
                    return if p.eat_punct("]") {
                        Ok(Value::Array(items))
                    } else {
                        Err("an array with more than literals".into())
                    };
                }
            }
        }
        Tok::Punct("{") => hash_entries(p, "}"),
        other => Err(describe(other)),
    }
}

/// The `key => value` / `key: value` pairs of a hash up to and including `close` (`}`
/// for a hash literal, `]` for the pairs that end an array).
fn hash_entries(p: &mut Cursor, close: &str) -> Result<Value, String> {
    let mut map = Map::new();
    loop {
        if p.eat_punct(close) {
            return Ok(Value::Object(map));
        }
        let key = match p.next() {
            Some(Tok::Label(k)) => k.clone(),
            Some(Tok::Str {
                value,
                interpolated: false,
            }) if p.eat_punct(":") => value.clone(),
            Some(Tok::Str {
                value,
                interpolated: false,
            })
            | Some(Tok::Symbol(value))
                if p.eat_punct("=>") =>
            {
                value.clone()
            }
            Some(Tok::Int(i)) if p.eat_punct("=>") => i.to_string(),
            _ => return Err("a hash with more than literal keys".into()),
        };
        map.insert(key, value(p)?);
        if !p.eat_punct(",") {
            return if p.eat_punct(close) {
                Ok(Value::Object(map))
            } else {
                Err("a hash with more than literals".into())
            };
        }
    }
}

pub(super) struct Cursor<'a> {
    pub(super) toks: &'a [Token],
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }
    pub(super) fn next(&mut self) -> Option<&'a Tok> {
        let t = self.peek();
        self.pos += 1;
        t
    }
    pub(super) fn at_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }
    /// Whether a hash key starts here: `key:`, `'key':` or `'key' =>` / `:key =>`.
    pub(super) fn at_hash_key(&self) -> bool {
        let next = self.toks.get(self.pos + 1).map(|t| &t.tok);
        match self.peek() {
            Some(Tok::Label(_)) => true,
            Some(Tok::Str {
                interpolated: false,
                ..
            }) => matches!(next, Some(Tok::Punct(":" | "=>"))),
            Some(Tok::Symbol(_) | Tok::Int(_)) => matches!(next, Some(Tok::Punct("=>"))),
            _ => false,
        }
    }
    pub(super) fn eat_punct(&mut self, p: &str) -> bool {
        let at = self.at_punct(p);
        if at {
            self.pos += 1;
        }
        at
    }
    /// Skips to the next `,` or closing bracket at this depth.
    pub(super) fn skip_value(&mut self) {
        let mut depth = 0;
        while let Some(t) = self.peek() {
            match t {
                Tok::Punct("(" | "[" | "{") => depth += 1,
                Tok::Punct(")" | "]" | "}") if depth == 0 => return,
                Tok::Punct(")" | "]" | "}") => depth -= 1,
                Tok::Punct(",") if depth == 0 => return,
                _ => {}
            }
            self.pos += 1;
        }
    }
}
