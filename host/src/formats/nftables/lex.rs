//! The tokens of an nftables file: words, quoted strings, braces, `;`, `,` and line
//! ends, each with its line; comments dropped and `\` continuations joined.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Word(String),
    /// A quoted string (quotes removed).
    Quoted(String),
    Open,
    Close,
    Semi,
    Comma,
    Newline,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: u32,
}

pub(crate) fn lex(src: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for (n, raw) in src.split('\n').enumerate() {
        let line = n as u32 + 1;
        let mut chars = raw.char_indices().peekable();
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut Vec<Token>| {
            if !word.is_empty() {
                out.push(Token {
                    tok: Tok::Word(std::mem::take(word)),
                    line,
                });
            }
        };
        let mut continued = false;
        while let Some((i, c)) = chars.next() {
            match c {
                '#' => break,
                '"' => {
                    flush(&mut word, &mut out);
                    let mut s = String::new();
                    for (_, c) in chars.by_ref() {
                        if c == '"' {
                            break;
                        }
                        s.push(c);
                    }
                    out.push(Token {
                        tok: Tok::Quoted(s),
                        line,
                    });
                }
                '\\' if raw[i + 1..].trim().is_empty() => {
                    continued = true;
                    break;
                }
                '{' | '}' | ';' | ',' => {
                    flush(&mut word, &mut out);
                    let tok = match c {
                        '{' => Tok::Open,
                        '}' => Tok::Close,
                        ';' => Tok::Semi,
                        _ => Tok::Comma,
                    };
                    out.push(Token { tok, line });
                }
                c if c.is_whitespace() || c == '\u{feff}' => flush(&mut word, &mut out),
                c => word.push(c),
            }
        }
        flush(&mut word, &mut out);
        if !continued {
            out.push(Token {
                tok: Tok::Newline,
                line,
            });
        }
    }
    out
}

pub(crate) fn text(t: &Token) -> String {
    match &t.tok {
        Tok::Word(w) => w.clone(),
        Tok::Quoted(q) => q.clone(),
        Tok::Open => "{".into(),
        Tok::Close => "}".into(),
        Tok::Semi => ";".into(),
        Tok::Comma => ",".into(),
        Tok::Newline => "\n".into(),
    }
}
