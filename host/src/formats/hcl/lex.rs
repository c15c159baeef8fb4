//! The tokens of an HCL file: words, strings (escapes resolved, `${…}` kept), heredocs,
//! numbers, punctuation and line breaks, each with its first and last line. Comments are
//! dropped; a malformed token is a [`Tok::Error`] with the message, so that the parser
//! reports it at its line and goes on.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Number(String),
    Punct(char),
    Newline,
    Error(String),
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub line: u32,
    pub end: u32,
}

pub fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1u32;
    while i < chars.len() {
        let c = chars[i];
        let start = line;
        match c {
            '\n' => {
                out.push(Token {
                    tok: Tok::Newline,
                    line,
                    end: line,
                });
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
                        out.push(Token {
                            tok: Tok::Error("`/*` comment is never closed".into()),
                            line: start,
                            end: line,
                        });
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
                out.push(Token {
                    tok,
                    line: start,
                    end: line,
                });
            }
            '<' if chars.get(i + 1) == Some(&'<') => {
                let (tok, next, lines) = heredoc(&chars, i + 2);
                line += lines;
                i = next;
                out.push(Token {
                    tok,
                    line: start,
                    end: line,
                });
            }
            '{' | '}' | '[' | ']' | '=' | ',' | ':' => {
                out.push(Token {
                    tok: Tok::Punct(c),
                    line,
                    end: line,
                });
                i += 1;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let s = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | '_' | '+' | '-'))
                {
                    if matches!(chars[i], '+' | '-') && !matches!(chars[i - 1], 'e' | 'E') {
                        break;
                    }
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Number(chars[s..i].iter().collect()),
                    line,
                    end: line,
                });
            }
            c if c.is_alphabetic() || c == '_' => {
                let s = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '.'))
                {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(chars[s..i].iter().collect()),
                    line,
                    end: line,
                });
            }
            other => {
                out.push(Token {
                    tok: Tok::Error(format!("unexpected `{other}`")),
                    line,
                    end: line,
                });
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
                            _ => {
                                return (
                                    Tok::Error(format!("invalid escape `\\{next}{hex}`")),
                                    skip_line(chars, i),
                                    lines,
                                );
                            }
                        }
                    }
                    other => {
                        return (
                            Tok::Error(format!("invalid escape `\\{other}`")),
                            skip_line(chars, i),
                            lines,
                        );
                    }
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
        return (
            Tok::Error("`<<` without a heredoc marker".into()),
            skip_line(chars, i),
            0,
        );
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
        let done = if indent {
            bare.trim() == marker
        } else {
            bare == marker
        };
        if done {
            let mut text = String::new();
            let strip = if indent {
                body.iter()
                    .filter(|b| !b.trim().is_empty())
                    .map(|b| b.len() - b.trim_start().len())
                    .min()
                    .unwrap_or(0)
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
    (
        Tok::Error(format!("heredoc `{marker}` is never closed")),
        chars.len(),
        lines - 1,
    )
}
