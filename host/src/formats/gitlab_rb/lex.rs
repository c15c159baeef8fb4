//! The tokens of gitlab.rb's Ruby subset, each with the line it starts on.
//!
//! Only what the assignment subset needs is told apart (identifiers, strings with their
//! escapes resolved, `%w()` word lists, symbols, numbers, punctuation); anything else is
//! an [`Tok::Other`] the parser treats as Ruby it does not evaluate. Comments (`#` to the
//! end of the line, `=begin`…`=end`) are dropped. Heredocs become strings. Nothing here
//! can fail: an unterminated string is a [`Tok::Error`] with the line it started on.

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier or a constant (`patroni`, `roles`, `ENV`, `nil?`).
    Ident(String),
    /// A string literal. `interpolated`: a `"…"` string holding `#{…}` (or `#@x`), whose
    /// value is only known by running Ruby.
    Str {
        value: String,
        interpolated: bool,
    },
    /// `%w(…)`, `%W(…)`, `%i(…)`, `%I(…)`.
    Words {
        words: Vec<String>,
        interpolated: bool,
    },
    /// `:name` or `:"name"`.
    Symbol(String),
    /// `name:` inside a hash (`{ enable: true }`).
    Label(String),
    Int(i64),
    Float(f64),
    /// Punctuation and operators: `[ ] ( ) { } , ; = => == += << || && . :: & ? ! - + * …`.
    Punct(&'static str),
    /// A line break (statements end at one when brackets are balanced).
    Newline,
    /// A character the subset has no use for (`$`, `@`, a backtick…).
    Other(char),
    /// Malformed input (an unterminated string); the message is for the diagnostic.
    Error(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    /// The line the token ends on (a string or `%w()` can span several).
    pub end: u32,
    /// White space right before the token: `roles ['a']` is a call, `roles['a']` an index.
    pub spaced: bool,
}

/// Splits `src` into tokens.
pub fn tokens(src: &str) -> Vec<Token> {
    let mut lx = Lexer {
        s: src.as_bytes(),
        src,
        pos: 0,
        start: 0,
        line: 1,
        out: Vec::new(),
        heredocs: Vec::new(),
    };
    lx.run();
    lx.out
}

struct Lexer<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
    /// Where the token being read starts.
    start: usize,
    line: u32,
    out: Vec<Token>,
    /// Heredocs opened on the current line, read when it ends: (index of their token,
    /// terminator, form (`~` strips the indentation, `-` or `~` allow an indented
    /// terminator), interpolating).
    heredocs: Vec<(usize, String, u8, bool)>,
}

const PUNCTS: &[&str] = &[
    "||=", "&&=", "**=", "<=>", "===", "...", "=>", "==", "!=", "=~", "!~", "+=", "-=", "*=", "/=",
    "%=", "|=", "&=", "<<", ">>", "<=", ">=", "||", "&&", "::", "&.", "..", "**", "[", "]", "(",
    ")", "{", "}", ",", ";", "=", ".", "+", "-", "*", "/", "%", "<", ">", "!", "?", "|", "&", "^",
    "~", ":",
];

impl Lexer<'_> {
    fn peek(&self, off: usize) -> u8 {
        self.s.get(self.pos + off).copied().unwrap_or(0)
    }

    fn push(&mut self, tok: Tok, line: u32) {
        let spaced = self.start > 0 && matches!(self.s[self.start - 1], b' ' | b'\t');
        let end = self.line.max(line);
        self.out.push(Token {
            tok,
            line,
            end,
            spaced,
        });
    }

    /// The previous significant token, to tell `x -1` from `x - 1` and `%w(` from `%`.
    fn value_expected(&self) -> bool {
        match self.out.last().map(|t| &t.tok) {
            None | Some(Tok::Newline) | Some(Tok::Label(_)) => true,
            Some(Tok::Punct(p)) => !matches!(*p, ")" | "]" | "}"),
            Some(Tok::Ident(_)) => true,
            _ => false,
        }
    }

    fn at_line_start(&self) -> bool {
        self.pos == 0 || self.s[self.pos - 1] == b'\n'
    }

    fn run(&mut self) {
        while self.pos < self.s.len() {
            let c = self.s[self.pos];
            self.start = self.pos;
            if self.at_line_start() && self.src[self.pos..].starts_with("=begin") {
                self.block_comment();
                continue;
            }
            match c {
                b'\n' => {
                    self.push(Tok::Newline, self.line);
                    self.pos += 1;
                    self.line += 1;
                    self.read_heredocs();
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\\' if self.peek(1) == b'\n' => {
                    // Line continuation: no Newline token.
                    self.pos += 2;
                    self.line += 1;
                }
                b'#' => {
                    while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                b'\'' | b'"' => {
                    let line = self.line;
                    self.pos += 1;
                    let tok = self.string(c, c, c == b'"');
                    self.push(tok, line);
                }
                b'%' if self.value_expected() && self.percent_literal() => {}
                b'<' if self.peek(1) == b'<' && self.value_expected() && self.heredoc_start() => {}
                b':' if self.peek(1) == b'"' || self.peek(1) == b'\'' => {
                    let line = self.line;
                    let quote = self.peek(1);
                    self.pos += 2;
                    let tok = match self.string(quote, quote, quote == b'"') {
                        Tok::Str {
                            value,
                            interpolated: false,
                        } => Tok::Symbol(value),
                        Tok::Str { .. } => Tok::Other(':'),
                        other => other,
                    };
                    self.push(tok, line);
                }
                b':' if is_ident_start(self.peek(1)) && self.peek(1) != b':' => {
                    self.pos += 1;
                    let name = self.ident();
                    self.push(Tok::Symbol(name), self.line);
                }
                b'0'..=b'9' => self.number(false),
                b'-' | b'+' if self.peek(1).is_ascii_digit() && self.value_expected() => {
                    let negative = c == b'-';
                    self.pos += 1;
                    self.number(negative);
                }
                _ if is_ident_start(c) => {
                    let name = self.ident();
                    // `name:` (not `name::`) is a hash label.
                    if self.peek(0) == b':' && self.peek(1) != b':' {
                        self.pos += 1;
                        self.push(Tok::Label(name), self.line);
                    } else {
                        self.push(Tok::Ident(name), self.line);
                    }
                }
                _ => {
                    let rest = &self.src[self.pos..];
                    if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) {
                        self.pos += p.len();
                        self.push(Tok::Punct(p), self.line);
                    } else {
                        let ch = rest.chars().next().unwrap_or('\0');
                        self.pos += ch.len_utf8().max(1);
                        self.push(Tok::Other(ch), self.line);
                    }
                }
            }
        }
        if !self.heredocs.is_empty() {
            self.read_heredocs();
        }
    }

    fn block_comment(&mut self) {
        let start = self.line;
        loop {
            let Some(end) = self.src[self.pos..].find('\n') else {
                self.pos = self.s.len();
                self.push(Tok::Error("`=begin` without `=end`".into()), start);
                return;
            };
            let line = &self.src[self.pos..self.pos + end];
            self.pos += end + 1;
            self.line += 1;
            if line.starts_with("=end") {
                return;
            }
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while is_ident_char(self.peek(0)) {
            self.pos += 1;
        }
        if matches!(self.peek(0), b'?' | b'!') && self.peek(1) != b'=' {
            self.pos += 1;
        }
        self.src[start..self.pos].to_string()
    }

    fn number(&mut self, negative: bool) {
        let start = self.pos;
        let mut float = false;
        while self.peek(0).is_ascii_alphanumeric()
            || self.peek(0) == b'_'
            || (self.peek(0) == b'.' && self.peek(1).is_ascii_digit())
        {
            if self.peek(0) == b'.' {
                float = true;
            }
            self.pos += 1;
        }
        let text: String = self.src[start..self.pos]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let sign = if negative { -1.0 } else { 1.0 };
        let tok = if float || (text.contains(['e', 'E']) && !text.starts_with("0x")) {
            match text.parse::<f64>() {
                Ok(f) => Tok::Float(sign * f),
                Err(_) => Tok::Error(format!("`{text}` is not a number")),
            }
        } else {
            let parsed = if let Some(hex) =
                text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
            {
                i64::from_str_radix(hex, 16)
            } else if let Some(bin) = text.strip_prefix("0b").or_else(|| text.strip_prefix("0B")) {
                i64::from_str_radix(bin, 2)
            } else if let Some(oct) = text.strip_prefix("0o") {
                i64::from_str_radix(oct, 8)
            } else if text.len() > 1 && text.starts_with('0') {
                i64::from_str_radix(&text[1..], 8)
            } else {
                text.parse::<i64>()
            };
            match parsed {
                Ok(i) => Tok::Int(if negative { -i } else { i }),
                Err(_) => Tok::Error(format!("`{text}` is not a number")),
            }
        };
        self.push(tok, self.line);
    }

    /// Reads a string body up to `close` (the opening delimiter is consumed). Nested
    /// `open`/`close` pairs count, as in `%q(a (b) c)`.
    fn string(&mut self, open: u8, close: u8, double: bool) -> Tok {
        let start_line = self.line;
        let start_pos = self.pos;
        let mut value = String::new();
        let mut interpolated = false;
        let mut depth = 0usize;
        loop {
            let Some(ch) = self.src[self.pos..].chars().next() else {
                // Ruby would refuse the whole file; go on after the line the string
                // starts on, so that the other lines are still read.
                self.pos = self.src[start_pos..]
                    .find('\n')
                    .map_or(self.s.len(), |e| start_pos + e);
                self.line = start_line;
                return Tok::Error(format!("unterminated string starting on line {start_line}"));
            };
            let b = ch as u32;
            self.pos += ch.len_utf8();
            if ch == '\n' {
                self.line += 1;
            }
            if b == u32::from(close) && depth == 0 {
                return Tok::Str {
                    value,
                    interpolated,
                };
            }
            if open != close && b == u32::from(open) {
                depth += 1;
            } else if open != close && b == u32::from(close) {
                depth -= 1;
            }
            match ch {
                '\\' => {
                    let Some(next) = self.src[self.pos..].chars().next() else {
                        continue;
                    };
                    self.pos += next.len_utf8();
                    if next == '\n' {
                        self.line += 1;
                        if double {
                            continue;
                        }
                    }
                    if double {
                        self.escape(next, &mut value);
                    } else if next == '\\'
                        || u32::from(next) == u32::from(close)
                        || u32::from(next) == u32::from(open)
                    {
                        value.push(next);
                    } else {
                        value.push('\\');
                        value.push(next);
                    }
                }
                '#' if double && matches!(self.peek(0), b'{' | b'@' | b'$') => {
                    interpolated = true;
                    value.push('#');
                }
                _ => value.push(ch),
            }
        }
    }

    fn escape(&mut self, next: char, value: &mut String) {
        match next {
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            's' => value.push(' '),
            '0' => value.push('\0'),
            'e' => value.push('\u{1b}'),
            'a' => value.push('\u{7}'),
            'b' => value.push('\u{8}'),
            'f' => value.push('\u{c}'),
            'v' => value.push('\u{b}'),
            'u' => {
                let rest = &self.src[self.pos..];
                let (digits, used) = if let Some(braced) = rest.strip_prefix('{') {
                    let end = braced.find('}').unwrap_or(0);
                    (&braced[..end], end + 2)
                } else {
                    let n = rest
                        .bytes()
                        .take(4)
                        .take_while(u8::is_ascii_hexdigit)
                        .count();
                    (&rest[..n], n)
                };
                match u32::from_str_radix(digits, 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    Some(c) => {
                        value.push(c);
                        self.pos += used;
                    }
                    None => value.push('u'),
                }
            }
            'x' => {
                let rest = &self.src[self.pos..];
                let n = rest
                    .bytes()
                    .take(2)
                    .take_while(u8::is_ascii_hexdigit)
                    .count();
                match u8::from_str_radix(&rest[..n], 16) {
                    Ok(b) if n > 0 => {
                        value.push(char::from(b));
                        self.pos += n;
                    }
                    _ => value.push('x'),
                }
            }
            other => value.push(other),
        }
    }

    /// `%w(…)`, `%i[…]`, `%q{…}`, `%Q<…>`, `%(…)`; false if `%` is not one (an operator).
    fn percent_literal(&mut self) -> bool {
        let (kind, delim_at) = match self.peek(1) {
            k @ (b'w' | b'W' | b'i' | b'I' | b'q' | b'Q') => (k, 2),
            b'(' | b'[' | b'{' | b'<' | b'|' | b'!' => (b'Q', 1),
            _ => return false,
        };
        let open = self.peek(delim_at);
        let close = match open {
            b'(' => b')',
            b'[' => b']',
            b'{' => b'}',
            b'<' => b'>',
            b'|' | b'!' | b'/' | b'-' | b'^' => open,
            _ => return false,
        };
        let line = self.line;
        self.pos += delim_at + 1;
        let double = matches!(kind, b'W' | b'I' | b'Q');
        let tok = match self.string(open, close, double) {
            Tok::Str {
                value,
                interpolated,
            } if matches!(kind, b'w' | b'W' | b'i' | b'I') => Tok::Words {
                words: value.split_whitespace().map(str::to_string).collect(),
                interpolated,
            },
            other => other,
        };
        self.push(tok, line);
        true
    }

    /// `<<~ID`, `<<-ID`, `<<ID`, with `'ID'` or `"ID"`; the body is read at the end of
    /// the line. False if `<<` is the append operator.
    fn heredoc_start(&mut self) -> bool {
        let rest = &self.src[self.pos + 2..];
        let (form, rest, skip) = match rest.as_bytes().first() {
            Some(f @ (b'~' | b'-')) => (*f, &rest[1..], 3),
            _ => (b' ', rest, 2),
        };
        let (quote, body) = match rest.as_bytes().first() {
            Some(q @ (b'\'' | b'"')) => (Some(*q), &rest[1..]),
            _ => (None, rest),
        };
        let id_len = body
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if id_len == 0 || !body.as_bytes()[0].is_ascii_alphabetic() && body.as_bytes()[0] != b'_' {
            return false;
        }
        if quote.is_some() && body.as_bytes().get(id_len) != quote.as_ref() {
            return false;
        }
        let id = body[..id_len].to_string();
        self.pos += skip + id_len + if quote.is_some() { 2 } else { 0 };
        let index = self.out.len();
        self.push(
            Tok::Str {
                value: String::new(),
                interpolated: false,
            },
            self.line,
        );
        self.heredocs.push((index, id, form, quote != Some(b'\'')));
        true
    }

    /// Reads the bodies of the heredocs opened on the line just ended.
    fn read_heredocs(&mut self) {
        for (index, id, form, double) in std::mem::take(&mut self.heredocs) {
            let mut body = Vec::new();
            let mut closed = false;
            while self.pos < self.s.len() {
                let end = self.src[self.pos..]
                    .find('\n')
                    .map_or(self.s.len(), |e| self.pos + e);
                let line = &self.src[self.pos..end];
                self.pos = (end + 1).min(self.s.len());
                self.line += 1;
                let matches = if form != b' ' {
                    line.trim() == id
                } else {
                    line.trim_end() == id
                };
                if matches {
                    closed = true;
                    break;
                }
                body.push(line.to_string());
            }
            let indent = if form == b'~' {
                body.iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.len() - l.trim_start().len())
                    .min()
                    .unwrap_or(0)
            } else {
                0
            };
            let mut value = String::new();
            for l in &body {
                value.push_str(l.get(indent..).unwrap_or(""));
                value.push('\n');
            }
            let interpolated = double && (value.contains("#{") || value.contains("#@"));
            if let Some(t) = self.out.get_mut(index) {
                t.tok = if closed {
                    Tok::Str {
                        value,
                        interpolated,
                    }
                } else {
                    Tok::Error(format!("heredoc `{id}` has no terminator"))
                };
            }
        }
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

#[cfg(test)]
mod tests;
