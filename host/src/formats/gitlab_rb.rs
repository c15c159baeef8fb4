//! GitLab Omnibus's `/etc/gitlab/gitlab.rb`, read without running Ruby.
//!
//! gitlab.rb is a Ruby file that `gitlab-ctl reconfigure` evaluates; in practice it is a
//! list of assignments to attribute hashes and a few DSL calls. This module reads that
//! subset and nothing more: it never evaluates an expression it does not understand.
//!
//! Understood statements:
//! - `section['key'] = value` and nested keys `section['a']['b'] = value` (symbol keys
//!   `[:key]` are the same key: Chef attributes do not tell them apart);
//! - calls whose arguments are all literals, with or without parentheses:
//!   `roles(['patroni_role', 'pgbouncer_role'])`, `external_url 'https://…'`.
//!
//! Values: strings (`'…'` with `\'` `\\`, `"…"` with the usual escapes, `%q()` `%Q()`,
//! heredocs), integers (`1_048_576`, `0x1f`), floats, `true`/`false`/`nil`, symbols (as
//! strings), arrays `[…]`, `%w()`/`%i()` word lists, hashes `{ 'k' => v, k: v }`, spread
//! over several lines; comments `#…` and `=begin`…`=end`.
//!
//! Each statement becomes one [`wit::Setting`], in file order (Ruby runs them in order,
//! so for a key assigned twice the last one wins; the repeat is a `duplicate-key`
//! diagnostic):
//! - `section`: the attribute hash (`patroni`, `postgresql`, `pgbouncer`, `consul`…), or
//!   none for a call;
//! - `name`: the key path written with single quotes, `patroni['allowlist']`,
//!   `patroni['postgresql']['max_connections']`; for a call, the method name (`roles`);
//! - `value`: the value as JSON text (`["10.0.0.0/8"]`, `"md5"`, `true`, `null`); a call's
//!   value is its only argument, or the JSON array of its arguments;
//! - `args`: empty, or `["unevaluated"]` when the value is Ruby this parser does not
//!   evaluate (a method call, a constant, `ENV[…]`, an operator, a `"#{…}"` string, a
//!   trailing `if`): then `value` is that Ruby source text, not JSON, and an
//!   `unsupported-ruby` diagnostic says so. Policies treat such a key as set to an
//!   unknown value;
//! - `location`: the statement's first line, `end-line` when it spans several, and
//!   `pointer` the JSON pointer of the key in the attribute tree (`/patroni/allowlist`).
//!
//! Any other statement (`if`, `require`, `node.default[…]`, `x << y`, `x += y`) is an
//! `unsupported-ruby` diagnostic and is skipped. A statement Ruby itself would refuse
//! (`a = = b`, an unbalanced bracket, an unterminated string) is an `invalid-line`
//! diagnostic with its line; parsing goes on at the next statement.

pub mod edit;
mod lex;
mod literal;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde_json::Value;

use super::{Parsed, diagnostic};
use crate::wit;
use lex::{Tok, Token};
use literal::{Cursor, value};

/// Parses gitlab.rb text (shown to users as `file`).
pub fn parse(src: &str, file: &str) -> Parsed<Vec<wit::Setting>> {
    let tokens = lex::tokens(src);
    let mut parsed = Parsed::new(Vec::new());
    let mut seen: HashMap<String, u32> = HashMap::new();
    for stmt in statements(&tokens) {
        let stmt = stmt.as_slice();
        let line = stmt.first().map_or(1, |t| t.line);
        let end = stmt.iter().map(|t| t.end).max().unwrap_or(line);
        match statement(stmt) {
            Ok(Some(found)) => {
                if let Some(first) = seen.insert(found.name.clone(), line) {
                    parsed.diagnostics.push(diagnostic(
                        "duplicate-key",
                        file,
                        line,
                        format!("`{}` is assigned again (first on line {first}); the last assignment wins", found.name),
                    ));
                }
                let mut location = super::location(file, line);
                location.end_line = (end > line).then_some(end);
                location.pointer = Some(found.pointer);
                let (value, args) = match found.value {
                    Eval::Known(v) => (v.to_string(), Vec::new()),
                    Eval::Unknown(why) => {
                        parsed.diagnostics.push(diagnostic(
                            "unsupported-ruby",
                            file,
                            line,
                            format!("the value of `{}` is Ruby patrol does not evaluate ({why}); it counts as set to an unknown value", found.name),
                        ));
                        (source_text(stmt, found.value_start), vec!["unevaluated".to_string()])
                    }
                };
                parsed.value.push(wit::Setting { section: found.section, name: found.name, value, args, location });
            }
            Ok(None) => {}
            Err(Problem::Unsupported(why)) => parsed.diagnostics.push(diagnostic(
                "unsupported-ruby",
                file,
                line,
                format!("skipped: {why}; patrol reads only assignments and literal calls and never runs Ruby"),
            )),
            Err(Problem::Syntax(message)) => parsed.diagnostics.push(diagnostic("invalid-line", file, line, message)),
        }
    }
    parsed
}

/// Splits the tokens into statements: a newline or `;` ends one when brackets are
/// balanced and the line does not end in an operator or a comma. The newlines inside a
/// statement are dropped.
fn statements(tokens: &[Token]) -> Vec<Vec<Token>> {
    split(tokens)
        .into_iter()
        .map(|s| {
            s.iter()
                .filter(|t| t.tok != Tok::Newline)
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn split(tokens: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut depth: i32 = 0;
    for (i, t) in tokens.iter().enumerate() {
        match &t.tok {
            Tok::Punct("(" | "[" | "{") => depth += 1,
            Tok::Punct(")" | "]" | "}") => depth -= 1,
            Tok::Newline | Tok::Punct(";") => {
                let last = tokens[start..i]
                    .iter()
                    .rev()
                    .find(|t| t.tok != Tok::Newline);
                let continues = matches!(t.tok, Tok::Newline)
                    && matches!(last.map(|t| &t.tok), Some(Tok::Punct(p)) if !matches!(*p, ")" | "]" | "}" | ";"));
                let unbalanced = depth > 0 && matches!(t.tok, Tok::Newline);
                if continues || unbalanced {
                    continue;
                }
                if i > start {
                    out.push(&tokens[start..i]);
                }
                start = i + 1;
                depth = 0;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        if depth > 0 {
            // A bracket never closed: the statement is its first line (reported as a
            // syntax error), and reading goes on after it.
            if let Some(nl) = tokens[start..].iter().position(|t| t.tok == Tok::Newline) {
                out.push(&tokens[start..start + nl]);
                out.extend(split(&tokens[start + nl + 1..]));
                return out;
            }
        }
        out.push(&tokens[start..]);
    }
    out
}

enum Problem {
    Unsupported(String),
    Syntax(String),
}

enum Eval {
    Known(Value),
    Unknown(String),
}

struct Found {
    section: Option<String>,
    name: String,
    pointer: String,
    value: Eval,
    /// Index of the value's first token in the statement.
    value_start: usize,
}

fn statement(stmt: &[Token]) -> Result<Option<Found>, Problem> {
    if let Some(Token {
        tok: Tok::Error(message),
        ..
    }) = stmt.iter().find(|t| matches!(t.tok, Tok::Error(_)))
    {
        return Err(Problem::Syntax(message.clone()));
    }
    check_brackets(stmt)?;
    let Some(Tok::Ident(head)) = stmt.first().map(|t| &t.tok) else {
        return Err(Problem::Unsupported(format!(
            "a statement starting with {}",
            describe(&stmt[0].tok)
        )));
    };
    if is_keyword(head) {
        return Err(Problem::Unsupported(format!("`{head}` statement")));
    }
    let mut p = Cursor { toks: stmt, pos: 1 };
    // section['key']['sub'] = value; `roles ['a']` (a space, no `=`) is a call.
    let assigns = stmt.iter().any(|t| t.tok == Tok::Punct("="));
    if p.at_punct("[") && (!stmt[1].spaced || assigns) {
        let mut keys = Vec::new();
        while p.eat_punct("[") {
            let key = match p.next() {
                Some(Tok::Str {
                    value,
                    interpolated: false,
                }) => value.clone(),
                Some(Tok::Symbol(s)) => s.clone(),
                Some(other) => {
                    return Err(Problem::Unsupported(format!(
                        "a key that is {}",
                        describe(other)
                    )));
                }
                None => {
                    return Err(Problem::Syntax(
                        "unexpected end of statement after `[`".into(),
                    ));
                }
            };
            if !p.eat_punct("]") {
                return Err(Problem::Unsupported(
                    "an index that is not one literal key".into(),
                ));
            }
            keys.push(key);
        }
        let name = format!(
            "{head}{}",
            keys.iter()
                .map(|k| format!("['{}']", k.replace('\\', "\\\\").replace('\'', "\\'")))
                .collect::<String>()
        );
        match p.peek() {
            Some(Tok::Punct("=")) => p.pos += 1,
            Some(Tok::Punct(op @ ("+=" | "-=" | "<<" | "||=" | "&&=" | "*=" | "|="))) => {
                return Err(Problem::Unsupported(format!(
                    "`{name} {op} …` changes a value in place"
                )));
            }
            Some(Tok::Punct(".")) => {
                return Err(Problem::Unsupported(format!("a method call on `{name}`")));
            }
            Some(other) => {
                return Err(Problem::Syntax(format!(
                    "expected `=` after `{name}`, found {}",
                    describe(other)
                )));
            }
            None => return Err(Problem::Unsupported(format!("`{name}` alone does nothing"))),
        }
        if p.peek().is_none() {
            return Err(Problem::Syntax(format!("`{name} =` has no value")));
        }
        if let Some(Tok::Punct(op @ ("=" | "==" | "=>"))) = p.peek() {
            return Err(Problem::Syntax(format!(
                "unexpected `{op}` after `{name} =`"
            )));
        }
        let value_start = p.pos;
        let value = whole_value(&mut p);
        let mut pointer = format!("/{}", escape(head));
        for k in &keys {
            pointer.push('/');
            pointer.push_str(&escape(k));
        }
        return Ok(Some(Found {
            section: Some(head.clone()),
            name,
            pointer,
            value,
            value_start,
        }));
    }
    // A call: `name(args)` or `name args`.
    match p.peek() {
        Some(Tok::Punct("=")) => {
            return Err(Problem::Unsupported(format!(
                "`{head} = …` sets a local variable"
            )));
        }
        Some(Tok::Punct(".")) | Some(Tok::Punct("::")) | Some(Tok::Punct("&.")) => {
            return Err(Problem::Unsupported(format!("a method call on `{head}`")));
        }
        Some(Tok::Punct(op)) if !matches!(*op, "(" | "[" | "{" | "-" | ":") => {
            return Err(Problem::Unsupported(format!("`{head} {op} …`")));
        }
        _ => {}
    }
    let value_start = p.pos;
    let paren = p.eat_punct("(");
    let mut args = Vec::new();
    let mut unknown = None;
    loop {
        if paren && p.eat_punct(")") {
            break;
        }
        if !paren && p.peek().is_none() {
            break;
        }
        match value(&mut p) {
            Ok(v) => args.push(v),
            Err(why) => {
                unknown.get_or_insert(why);
                p.skip_value();
            }
        }
        if p.eat_punct(",") {
            continue;
        }
        if paren {
            if !p.eat_punct(")") {
                unknown.get_or_insert("more than literal arguments".into());
                p.pos = p.toks.len();
            }
            break;
        }
        if p.peek().is_some() {
            unknown.get_or_insert("more than literal arguments".into());
            p.pos = p.toks.len();
        }
        break;
    }
    if p.peek().is_some() {
        unknown.get_or_insert("more after the call".into());
    }
    let value = match unknown {
        Some(why) => Eval::Unknown(why),
        None if args.len() == 1 => Eval::Known(args.remove(0)),
        None => Eval::Known(Value::Array(args)),
    };
    Ok(Some(Found {
        section: None,
        name: head.clone(),
        pointer: format!("/{}", escape(head)),
        value,
        value_start,
    }))
}

/// The value of an assignment: a literal that must end the statement.
fn whole_value(p: &mut Cursor) -> Eval {
    match value(p) {
        Ok(v) if p.peek().is_none() => Eval::Known(v),
        Ok(_) => Eval::Unknown(match p.peek() {
            Some(Tok::Ident(k)) if k == "if" || k == "unless" => format!("a trailing `{k}`"),
            Some(other) => format!("{} after the value", describe(other)),
            None => String::new(),
        }),
        Err(why) => Eval::Unknown(why),
    }
}

/// Unbalanced brackets are a syntax error for Ruby too.
fn check_brackets(stmt: &[Token]) -> Result<(), Problem> {
    let mut stack: Vec<(&str, u32)> = Vec::new();
    for t in stmt {
        match t.tok {
            Tok::Punct(open @ ("(" | "[" | "{")) => {
                stack.push((open, t.line));
                // The literal reader recurses once per bracket.
                if stack.len() > super::MAX_NESTING {
                    return Err(Problem::Syntax(format!(
                        "brackets nest deeper than {} levels on line {}",
                        super::MAX_NESTING,
                        t.line
                    )));
                }
            }
            Tok::Punct(close @ (")" | "]" | "}")) => {
                let want = match close {
                    ")" => "(",
                    "]" => "[",
                    _ => "{",
                };
                match stack.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, line)) => {
                        return Err(Problem::Syntax(format!(
                            "`{close}` on line {} does not close `{open}` from line {line}",
                            t.line
                        )));
                    }
                    None => {
                        return Err(Problem::Syntax(format!(
                            "`{close}` on line {} closes nothing",
                            t.line
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    match stack.pop() {
        Some((open, line)) => Err(Problem::Syntax(format!(
            "`{open}` on line {line} is never closed"
        ))),
        None => Ok(()),
    }
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "if" | "unless"
            | "else"
            | "elsif"
            | "end"
            | "case"
            | "when"
            | "while"
            | "until"
            | "for"
            | "do"
            | "def"
            | "class"
            | "module"
            | "begin"
            | "rescue"
            | "ensure"
            | "return"
            | "require"
            | "require_relative"
            | "load"
            | "eval"
            | "puts"
            | "print"
            | "p"
            | "raise"
            | "yield"
            | "then"
            | "and"
            | "or"
            | "not"
    )
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(w) => format!("`{w}`"),
        Tok::Str { .. } => "a string".into(),
        Tok::Words { .. } => "a word list".into(),
        Tok::Symbol(s) => format!("`:{s}`"),
        Tok::Label(l) => format!("`{l}:`"),
        Tok::Int(i) => format!("`{i}`"),
        Tok::Float(f) => format!("`{f}`"),
        Tok::Punct(p) => format!("`{p}`"),
        Tok::Newline => "a line break".into(),
        Tok::Other(c) => format!("`{c}`"),
        Tok::Error(e) => e.clone(),
    }
}

/// The statement's text from token `start`, rebuilt from tokens (comments dropped).
fn source_text(stmt: &[Token], start: usize) -> String {
    let mut out = String::new();
    for t in stmt.iter().skip(start) {
        let piece = match &t.tok {
            Tok::Ident(w) => w.clone(),
            Tok::Str { value, .. } => format!("{value:?}"),
            Tok::Words { words, .. } => format!("%w({})", words.join(" ")),
            Tok::Symbol(s) => format!(":{s}"),
            Tok::Label(l) => format!("{l}:"),
            Tok::Int(i) => i.to_string(),
            Tok::Float(f) => f.to_string(),
            Tok::Punct(p) => (*p).to_string(),
            Tok::Newline => continue,
            Tok::Other(c) => c.to_string(),
            Tok::Error(_) => continue,
        };
        let glue = matches!(&t.tok, Tok::Punct("." | "::" | "(" | ")" | "[" | "]" | ","))
            || out.ends_with(['.', '(', '[', ':'])
            || out.is_empty();
        if !glue {
            out.push(' ');
        }
        out.push_str(&piece);
    }
    out
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
