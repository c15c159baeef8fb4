//! The lexer of PostgreSQL's regex compiler (`src/backend/regex/regc_lex.c`): `next`,
//! `brenext`, `lexescape` and `lexdigits`, one token at a time in the current lexical
//! context (ERE/ARE, BRE, bound, bracket, collating element).

use super::*;

impl Vars {
    /// `skip`: white space and `#` comments in expanded mode.
    pub(super) fn skip(&mut self) {
        loop {
            while self.peek(0).is_some_and(char::is_whitespace) {
                self.now += 1;
            }
            if self.peek(0) != Some('#') {
                break;
            }
            while self.peek(0).is_some_and(|c| c != '\n') {
                self.now += 1;
            }
        }
    }

    /// Sets the token just lexed. While lexing, `self.next` is still the previous token
    /// (the C code's `lasttype`).
    pub(super) fn set(&mut self, t: Tok) {
        self.next = t;
    }

    /// `next`: the next token in the current lexical context.
    pub(super) fn lex(&mut self) {
        if self.err.is_some() {
            self.next = Tok::Eos;
            return;
        }
        if self.expanded && matches!(self.con, Con::Ere | Con::Bre | Con::Bound) {
            self.skip();
        }
        let Some(c) = self.peek(0) else {
            return match self.con {
                Con::Ere | Con::Bre => self.set(Tok::Eos),
                Con::Bound => self.fail(EBRACE),
                _ => self.fail(EBRACK),
            };
        };
        self.now += 1;
        match self.con {
            Con::Ere => self.lex_ere(c),
            Con::Bre => self.lex_bre(c),
            Con::Bound => match c {
                '0'..='9' => self.set(Tok::Digit(c as u32 - '0' as u32)),
                ',' => self.set(Tok::Comma),
                '\\' if !self.extended && self.peek(0) == Some('}') => {
                    self.now += 1;
                    self.con = Con::Bre;
                    self.set(Tok::CloseBrace)
                }
                '}' if self.extended => {
                    self.con = Con::Ere;
                    if self.advf && self.peek(0) == Some('?') {
                        self.now += 1;
                    }
                    self.set(Tok::CloseBrace)
                }
                _ => self.fail(BADBR),
            },
            Con::Brack => self.lex_bracket(c),
            Con::Cel | Con::Ecl | Con::Ccl => {
                let end = match self.con {
                    Con::Cel => '.',
                    Con::Ecl => '=',
                    _ => ':',
                };
                if c == end && self.peek(0) == Some(']') {
                    self.now += 1;
                    self.con = Con::Brack;
                    self.set(Tok::End)
                } else {
                    self.set(Tok::Plain(c))
                }
            }
        }
    }

    fn lex_ere(&mut self, c: char) {
        let lazy = |v: &mut Vars| {
            if v.advf && v.peek(0) == Some('?') {
                v.now += 1;
            }
        };
        match c {
            '|' => self.set(Tok::Bar),
            '*' => {
                lazy(self);
                self.set(Tok::Star)
            }
            '+' => {
                lazy(self);
                self.set(Tok::Plus)
            }
            '?' => {
                lazy(self);
                self.set(Tok::Quest)
            }
            '{' => {
                if self.expanded {
                    self.skip();
                }
                if self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                    self.con = Con::Bound;
                    self.set(Tok::OpenBrace)
                } else {
                    self.set(Tok::Plain(c))
                }
            }
            '(' if self.advf && self.peek(0) == Some('?') => {
                self.now += 1;
                let Some(k) = self.peek(0) else {
                    return self.fail(BADRPT);
                };
                self.now += 1;
                match k {
                    ':' => self.set(Tok::Open(false)),
                    '#' => {
                        while self.peek(0).is_some_and(|c| c != ')') {
                            self.now += 1;
                        }
                        if !self.at_eos() {
                            self.now += 1;
                        }
                        // A comment is not a token: lex the one after it.
                        self.lex();
                    }
                    '=' | '!' => self.set(Tok::Lacon),
                    '<' => match self.peek(0) {
                        Some('=' | '!') => {
                            self.now += 1;
                            self.set(Tok::Lacon)
                        }
                        _ => self.fail(BADRPT),
                    },
                    _ => self.fail(BADRPT),
                }
            }
            '(' => self.set(Tok::Open(true)),
            ')' => self.set(Tok::Close),
            '[' => {
                let word_edge = self.s.get(self.now..self.now + 6).is_some_and(|w| {
                    w[0] == '['
                        && w[1] == ':'
                        && (w[2] == '<' || w[2] == '>')
                        && w[3] == ':'
                        && w[4] == ']'
                        && w[5] == ']'
                });
                if word_edge {
                    self.now += 6;
                    return self.set(Tok::Constraint);
                }
                self.con = Con::Brack;
                if self.peek(0) == Some('^') {
                    self.now += 1;
                }
                self.set(Tok::OpenBracket)
            }
            '.' => self.set(Tok::Dot),
            '^' | '$' => self.set(Tok::Constraint),
            '\\' => {
                if self.at_eos() {
                    return self.fail(EESCAPE);
                }
                if !self.advf {
                    let c = self.s[self.now];
                    self.now += 1;
                    return self.set(Tok::Plain(c));
                }
                self.lex_escape()
            }
            _ => self.set(Tok::Plain(c)),
        }
    }

    /// `brenext`: a token of a BRE.
    fn lex_bre(&mut self, c: char) {
        let after_start = matches!(self.next, Tok::Empty | Tok::Open(_));
        match c {
            '*' if after_start || self.next == Tok::Constraint && self.bre_caret => {
                self.set(Tok::Plain(c))
            }
            '*' => self.set(Tok::Star),
            '[' => self.lex_ere(c),
            '.' => self.set(Tok::Dot),
            '^' if after_start => {
                self.bre_caret = true;
                return self.set(Tok::Constraint);
            }
            '$' => {
                if self.expanded {
                    self.skip();
                }
                if self.at_eos() || (self.peek(0) == Some('\\') && self.peek(1) == Some(')')) {
                    self.set(Tok::Constraint)
                } else {
                    self.set(Tok::Plain(c))
                }
            }
            '\\' => {
                let Some(k) = self.peek(0) else {
                    return self.fail(EESCAPE);
                };
                self.now += 1;
                match k {
                    '{' => {
                        self.con = Con::Bound;
                        self.set(Tok::OpenBrace)
                    }
                    '(' => self.set(Tok::Open(true)),
                    ')' => self.set(Tok::Close),
                    '<' | '>' => self.set(Tok::Constraint),
                    '1'..='9' => self.set(Tok::Backref(k as u32 - '0' as u32)),
                    _ => self.set(Tok::Plain(k)),
                }
            }
            _ => self.set(Tok::Plain(c)),
        }
        self.bre_caret = false;
    }

    fn lex_bracket(&mut self, c: char) {
        match c {
            ']' if self.next == Tok::OpenBracket => self.set(Tok::Plain(c)),
            ']' => {
                self.con = if self.extended { Con::Ere } else { Con::Bre };
                self.set(Tok::CloseBracket)
            }
            '\\' => {
                if !self.advf {
                    return self.set(Tok::Plain(c));
                }
                if self.at_eos() {
                    return self.fail(EESCAPE);
                }
                self.lex_escape();
                if self.err.is_none() && !matches!(self.next, Tok::Plain(_) | Tok::ClassShort) {
                    self.fail(EESCAPE);
                }
            }
            '-' => {
                if self.next == Tok::OpenBracket || self.peek(0) == Some(']') {
                    self.set(Tok::Plain(c))
                } else {
                    self.set(Tok::Range(c))
                }
            }
            '[' => {
                let Some(k) = self.peek(0) else {
                    return self.fail(EBRACK);
                };
                self.now += 1;
                match k {
                    '.' => {
                        self.con = Con::Cel;
                        self.set(Tok::CollEl)
                    }
                    '=' => {
                        self.con = Con::Ecl;
                        self.set(Tok::EClass)
                    }
                    ':' => {
                        self.con = Con::Ccl;
                        self.set(Tok::CClass)
                    }
                    _ => {
                        self.now -= 1;
                        self.set(Tok::Plain(c))
                    }
                }
            }
            _ => self.set(Tok::Plain(c)),
        }
    }

    /// `lexescape`: an ARE backslash escape (backslash already eaten).
    fn lex_escape(&mut self) {
        let c = self.s[self.now];
        self.now += 1;
        if !c.is_ascii_alphanumeric() {
            return self.set(Tok::Plain(c));
        }
        match c {
            'a' => self.set(Tok::Plain('\x07')),
            'b' => self.set(Tok::Plain('\x08')),
            'B' => self.set(Tok::Plain('\\')),
            'e' => self.set(Tok::Plain('\x1b')),
            'f' => self.set(Tok::Plain('\x0c')),
            'n' => self.set(Tok::Plain('\n')),
            'r' => self.set(Tok::Plain('\r')),
            't' => self.set(Tok::Plain('\t')),
            'v' => self.set(Tok::Plain('\x0b')),
            'A' | 'Z' | 'm' | 'M' | 'y' | 'Y' => self.set(Tok::Constraint),
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => self.set(Tok::ClassShort),
            'c' => {
                let Some(k) = self.peek(0) else {
                    return self.fail(EESCAPE);
                };
                self.now += 1;
                self.set(Tok::Plain(char::from_u32(k as u32 & 0o37).unwrap_or('\0')))
            }
            'u' | 'U' | 'x' => {
                let (min, max) = match c {
                    'u' => (4, 4),
                    'U' => (8, 8),
                    _ => (1, 255),
                };
                match self.digits(16, min, max) {
                    Some(n) if n <= 0x7fff_fffe => {
                        self.set(Tok::Plain(char::from_u32(n as u32).unwrap_or('\u{fffd}')))
                    }
                    _ => self.fail(EESCAPE),
                }
            }
            '1'..='9' => {
                let save = self.now;
                self.now -= 1;
                let Some(n) = self.digits(10, 1, 255) else {
                    return self.fail(EESCAPE);
                };
                if self.now == save || (n > 0 && n <= u64::from(self.nsubexp)) {
                    return self.set(Tok::Backref(u32::try_from(n).unwrap_or(u32::MAX)));
                }
                self.now = save;
                self.octal()
            }
            '0' => self.octal(),
            _ => self.fail(EESCAPE),
        }
    }

    fn octal(&mut self) {
        self.now -= 1;
        let Some(mut n) = self.digits(8, 1, 3) else {
            return self.fail(EESCAPE);
        };
        if n > 0xff {
            self.now -= 1;
            n >>= 3;
        }
        self.set(Tok::Plain(char::from_u32(n as u32).unwrap_or('\0')))
    }

    /// `lexdigits`: at least `min`, at most `max` digits of `base`.
    fn digits(&mut self, base: u32, min: usize, max: usize) -> Option<u64> {
        let mut n: u64 = 0;
        let mut len = 0;
        while len < max {
            let Some(d) = self
                .peek(0)
                .and_then(|c| c.to_digit(16))
                .filter(|d| *d < base)
            else {
                break;
            };
            n = n.wrapping_mul(u64::from(base)).wrapping_add(u64::from(d)) & 0xffff_ffff;
            self.now += 1;
            len += 1;
        }
        (len >= min).then_some(n)
    }
}
