//! Does PostgreSQL's regex compiler accept a pattern, and if not, with which message?
//!
//! pg_ident.conf system users (every version) and, from 16 on, pg_hba.conf database and
//! user tokens that start with `/` are compiled as PostgreSQL "advanced" regular
//! expressions (`pg_regcomp(…, REG_ADVANCED)`); a pattern that does not compile makes
//! the line invalid with `invalid regular expression "…": <reason>`. Rust's `regex`
//! crate accepts another language (no backreferences or lookbehind, different
//! escapes), so this is a port of the error paths of `src/backend/regex/regc_lex.c`
//! and `regcomp.c` (lexer contexts, `parse`, `parsebranch`, `parseqatom`, `brackpart`,
//! `scannum`, and `brenext` for patterns an embedded `(?b)` switches to BRE syntax),
//! without building any automaton.

/// The reason PostgreSQL gives (`pg_regerror`) when `pattern` does not compile.
pub(crate) fn check(pattern: &str) -> Result<(), &'static str> {
    let mut v = Vars::new(pattern);
    v.compile();
    match v.err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

mod lex;
mod names;
#[cfg(test)]
mod tests;

use names::NAMED_CHARS;

const EESCAPE: &str = "invalid escape \\ sequence";
const ESUBREG: &str = "invalid backreference number";
const EBRACK: &str = "brackets [] not balanced";
const EPAREN: &str = "parentheses () not balanced";
const EBRACE: &str = "braces {} not balanced";
const BADBR: &str = "invalid repetition count(s)";
const ERANGE: &str = "invalid character range";
const BADRPT: &str = "quantifier operand invalid";
const BADOPT: &str = "invalid embedded option";
const BADPAT: &str = "invalid regexp (reg version 0.8)";
const ECTYPE: &str = "invalid character class";
const ECOLLATE: &str = "invalid collating element";
const ASSERT: &str = "\"cannot happen\" -- you found a bug";
const DUPMAX: u32 = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// Nothing lexed yet (the C code's `EMPTY`).
    Empty,
    Eos,
    Plain(char),
    Digit(u32),
    Comma,
    CloseBrace,
    OpenBracket,
    CloseBracket,
    Range(char),
    CollEl,
    EClass,
    CClass,
    End,
    Bar,
    Star,
    Plus,
    Quest,
    OpenBrace,
    Open(bool),
    Close,
    Constraint,
    Dot,
    Lacon,
    ClassShort,
    Backref(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Con {
    Ere,
    Bre,
    Bound,
    Brack,
    Cel,
    Ecl,
    Ccl,
}

struct Vars {
    s: Vec<char>,
    now: usize,
    advf: bool,
    extended: bool,
    expanded: bool,
    quote: bool,
    con: Con,
    next: Tok,
    err: Option<&'static str>,
    nsubexp: u32,
    closed: Vec<u32>,
    /// The last BRE token was a `^` anchor (after which `*` is an ordinary character).
    bre_caret: bool,
}

impl Vars {
    fn new(pattern: &str) -> Vars {
        Vars {
            s: pattern.chars().collect(),
            now: 0,
            advf: true,
            extended: true,
            expanded: false,
            quote: false,
            con: Con::Ere,
            next: Tok::Eos,
            err: None,
            nsubexp: 0,
            closed: Vec::new(),
            bre_caret: false,
        }
    }

    fn fail(&mut self, e: &'static str) {
        if self.err.is_none() {
            self.err = Some(e);
        }
        self.next = Tok::Eos;
    }

    fn peek(&self, k: usize) -> Option<char> {
        self.s.get(self.now + k).copied()
    }

    fn at_eos(&self) -> bool {
        self.now >= self.s.len()
    }

    fn compile(&mut self) {
        self.prefixes();
        if self.err.is_some() || self.quote {
            return;
        }
        self.con = if self.extended { Con::Ere } else { Con::Bre };
        self.next = Tok::Empty;
        self.lex();
        self.parse(Tok::Eos, false);
        if self.err.is_none() && self.next != Tok::Eos {
            self.fail(ASSERT);
        }
    }

    /// `prefixes`: `***:`, `***=` and leading embedded options.
    fn prefixes(&mut self) {
        if self.s.len() >= 4 && self.s[..3] == ['*', '*', '*'] {
            match self.s[3] {
                '?' => return self.fail(BADPAT),
                '=' => {
                    self.quote = true;
                    return;
                }
                ':' => self.now = 4,
                _ => return self.fail(BADRPT),
            }
        }
        if self.s.len() >= self.now + 3
            && self.peek(0) == Some('(')
            && self.peek(1) == Some('?')
            && self.peek(2).is_some_and(char::is_alphabetic)
        {
            self.now += 2;
            while let Some(c) = self.peek(0).filter(|c| c.is_alphabetic()) {
                match c {
                    'b' => (self.advf, self.extended, self.quote) = (false, false, false),
                    'e' => (self.extended, self.advf, self.quote) = (true, false, false),
                    'q' => (self.quote, self.advf, self.extended) = (true, false, false),
                    'x' => self.expanded = true,
                    't' => self.expanded = false,
                    'c' | 'i' | 'm' | 'n' | 'p' | 's' | 'w' => {}
                    _ => return self.fail(BADOPT),
                }
                self.now += 1;
            }
            if self.peek(0) != Some(')') {
                return self.fail(BADOPT);
            }
            self.now += 1;
        }
    }

    fn see(&self, t: Tok) -> bool {
        self.next == t
    }

    /// `parse`: branches separated by `|` up to `stopper`.
    fn parse(&mut self, stopper: Tok, lacon: bool) {
        loop {
            while !self.see(Tok::Bar) && !self.see(stopper) && !self.see(Tok::Eos) {
                self.atom(lacon);
                if self.err.is_some() {
                    return;
                }
            }
            if !self.see(Tok::Bar) {
                break;
            }
            self.lex();
        }
        if !self.see(stopper) {
            self.fail(EPAREN);
        }
    }

    /// `parseqatom`: one atom or constraint and its quantifier.
    fn atom(&mut self, lacon: bool) {
        match self.next {
            Tok::Constraint => return self.lex(),
            Tok::Lacon => {
                self.lex();
                self.parse(Tok::Close, true);
                if self.err.is_none() {
                    self.lex();
                }
                return;
            }
            Tok::Star | Tok::Plus | Tok::Quest | Tok::OpenBrace => return self.fail(BADRPT),
            // A stray `)` is an ordinary character only in EREs.
            Tok::Close if !self.extended || self.advf => return self.fail(EPAREN),
            Tok::Close | Tok::Plain(_) | Tok::ClassShort | Tok::Dot => self.lex(),
            Tok::OpenBracket => {
                self.bracket();
                if self.err.is_none() {
                    self.lex();
                }
            }
            Tok::Open(capturing) => {
                let cap = capturing && !lacon;
                let subno = if cap {
                    self.nsubexp += 1;
                    Some(self.nsubexp)
                } else {
                    None
                };
                self.lex();
                self.parse(Tok::Close, lacon);
                if self.err.is_some() {
                    return;
                }
                self.lex();
                if let Some(n) = subno {
                    self.closed.push(n);
                }
            }
            Tok::Backref(n) => {
                if lacon || !self.closed.contains(&n) {
                    return self.fail(ESUBREG);
                }
                self.lex();
            }
            _ => return self.fail(ASSERT),
        }
        if self.err.is_some() {
            return;
        }
        match self.next {
            Tok::Star | Tok::Plus | Tok::Quest => self.lex(),
            Tok::OpenBrace => {
                self.lex();
                // `{m}`, `{m,}` or `{m,n}`; only m > n is an error (the counts are not kept).
                let m = self.scannum();
                if self.see(Tok::Comma) {
                    self.lex();
                    if matches!(self.next, Tok::Digit(_)) {
                        let n = self.scannum();
                        if self.err.is_none() && m > n {
                            return self.fail(BADBR);
                        }
                    }
                }
                if self.err.is_some() {
                    return;
                }
                if !self.see(Tok::CloseBrace) {
                    return self.fail(BADBR);
                }
                self.lex();
            }
            _ => {}
        }
    }

    fn scannum(&mut self) -> u32 {
        let mut n = 0;
        while let Tok::Digit(d) = self.next {
            if n >= DUPMAX {
                break;
            }
            n = n * 10 + d;
            self.lex();
        }
        if matches!(self.next, Tok::Digit(_)) || n > DUPMAX {
            self.fail(BADBR);
            return 0;
        }
        n
    }

    /// `bracket`: the items of `[…]` up to `]`.
    fn bracket(&mut self) {
        self.lex();
        while !self.see(Tok::CloseBracket) && !self.see(Tok::Eos) && self.err.is_none() {
            self.brackpart();
        }
    }

    fn brackpart(&mut self) {
        let start = match self.next {
            Tok::Range(_) => return self.fail(ERANGE),
            Tok::Plain(c) => {
                self.lex();
                if !matches!(self.next, Tok::Range(_)) {
                    return;
                }
                c
            }
            Tok::CollEl => match self.scanplain(ECOLLATE) {
                Some(c) => c,
                None => return,
            },
            Tok::EClass => {
                self.scanplain(ECOLLATE);
                return;
            }
            Tok::CClass => {
                let name = self.scan_name();
                const CLASSES: [&str; 14] = [
                    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower",
                    "print", "punct", "space", "upper", "xdigit", "word",
                ];
                if self.err.is_none() && !CLASSES.contains(&name.as_str()) {
                    self.fail(ECTYPE);
                }
                return;
            }
            Tok::ClassShort => return self.lex(),
            _ => return self.fail(ASSERT),
        };
        let end = if matches!(self.next, Tok::Range(_)) {
            self.lex();
            match self.next {
                Tok::Plain(c) | Tok::Range(c) => {
                    self.lex();
                    c
                }
                Tok::CollEl => match self.scanplain(ECOLLATE) {
                    Some(c) => c,
                    None => return,
                },
                _ => return self.fail(ERANGE),
            }
        } else {
            start
        };
        if self.err.is_none() && start > end {
            self.fail(ERANGE);
        }
    }

    /// The text between `[.`/`[=`/`[:` and its closing `.]`/`=]`/`:]`.
    fn scan_name(&mut self) -> String {
        let mut name = String::new();
        self.lex();
        while let Tok::Plain(c) = self.next {
            name.push(c);
            self.lex();
        }
        if self.err.is_none() {
            self.lex();
        }
        name
    }

    /// `scanplain` + `element`: a collating element's character.
    fn scanplain(&mut self, empty: &'static str) -> Option<char> {
        let name = self.scan_name();
        if self.err.is_some() {
            return None;
        }
        let mut chars = name.chars();
        let c = match (chars.next(), chars.next()) {
            (None, _) => {
                self.fail(empty);
                return None;
            }
            (Some(c), None) => Some(c),
            _ => NAMED_CHARS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| *c),
        };
        if c.is_none() {
            self.fail(ECOLLATE);
        }
        c
    }
}
