//! nftables rulesets (`nft list ruleset` output, `/etc/nftables.conf`, `*.nft` files) as
//! typed WIT records (`nft-table`, `nft-chain`, `nft-rule`… in `wit/policy.wit`) with the
//! line of each table, set, chain and rule, so that the topology policy can simulate
//! connections through a host's firewall and patch it by line.
//!
//! Read: `table FAMILY NAME { … }` with its `chain`s (`type T hook H priority P; policy
//! V;`), named `set`s and `map`s (`type`, `flags`, `elements = { … }`); the command forms
//! `add|create table …`, `add chain …`, `add|insert rule FAMILY TABLE CHAIN …`,
//! `add set …`, `add element …`, `flush …`; `define NAME = VALUE` with `$NAME`
//! expanded where it is used; comments `#…`, statements ending at a newline or `;`,
//! anonymous sets `{ … }` spanning lines, quoted strings.
//!
//! Each rule is split into matches and a verdict, the way nft reads them:
//! `ip saddr != { 10.0.0.0/8, 192.168.1.1 }` is the match left `ip saddr`, op `ne`,
//! right `["10.0.0.0/8", "192.168.1.1"]`; `ct state established,related` gives two
//! values; `tcp dport vmap { 22 : accept }` is a `vmap` list of value and verdict;
//! `counter`, `log …`, `comment "…"` and `limit rate …` are statements that do not decide
//! anything; what is left over is kept in `unknown` (the policy treats those rules with
//! care). Values are kept as written (`@set` names, port names, ranges `1-5`, prefixes);
//! the policy gives them meaning.
//!
//! A table's, set's and chain's lines run from its opening line to its closing `}`. A statement nft
//! would refuse is an `invalid-line` diagnostic; `include` is not followed (an
//! `unsupported-include` diagnostic names it).

mod lex;
mod model;
mod rule;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use super::{Parsed, diagnostic};
use crate::wit;
use lex::{Tok, Token, lex, text};
use model::{Table, chain_index, set_index};

/// Parses an nftables ruleset.
pub fn parse(src: &str, file: &str) -> Parsed<Vec<wit::NftTable>> {
    let mut r = Reader {
        toks: lex(src),
        pos: 0,
        file,
        diagnostics: Vec::new(),
        defines: HashMap::new(),
        tables: Vec::new(),
    };
    r.top();
    Parsed {
        value: r.tables.into_iter().map(Table::emit).collect(),
        diagnostics: r.diagnostics,
    }
}

const FAMILIES: &[&str] = &["ip", "ip6", "inet", "arp", "bridge", "netdev"];

struct Reader<'a> {
    toks: Vec<Token>,
    pos: usize,
    file: &'a str,
    diagnostics: Vec<wit::Diagnostic>,
    defines: HashMap<String, Vec<Token>>,
    tables: Vec<Table>,
}

impl Reader<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn line(&self) -> u32 {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.line)
    }

    fn error(&mut self, line: u32, message: String) {
        self.diagnostics
            .push(diagnostic("invalid-line", self.file, line, message));
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(Tok::Newline | Tok::Semi)) {
            self.pos += 1;
        }
    }

    /// One statement's tokens, up to a newline or `;` outside braces; a `{` that ends
    /// the statement's head (a block) is left for the caller. Returns (tokens, opens a
    /// block).
    fn statement(&mut self, block_heads: bool) -> (Vec<Token>, bool) {
        let mut out = Vec::new();
        let mut depth = 0usize;
        while let Some(t) = self.toks.get(self.pos) {
            match &t.tok {
                Tok::Newline | Tok::Semi if depth == 0 => break,
                Tok::Newline => {}
                Tok::Close if depth == 0 => break,
                Tok::Open if depth == 0 && block_heads && opens_block(&out) => {
                    self.pos += 1;
                    return (out, true);
                }
                Tok::Open => {
                    depth += 1;
                    out.push(t.clone());
                }
                Tok::Close => {
                    depth -= 1;
                    out.push(t.clone());
                }
                _ => out.push(t.clone()),
            }
            self.pos += 1;
        }
        (self.expand(out), false)
    }

    /// Replaces `$NAME` with its definition.
    fn expand(&mut self, toks: Vec<Token>) -> Vec<Token> {
        let mut out = Vec::with_capacity(toks.len());
        for t in toks {
            match &t.tok {
                Tok::Word(w) if w.starts_with('$') => match self.defines.get(&w[1..]) {
                    Some(def) => out.extend(def.iter().cloned().map(|mut d| {
                        d.line = t.line;
                        d
                    })),
                    None => {
                        let message = format!("`{w}` is not defined");
                        self.error(t.line, message);
                        out.push(t);
                    }
                },
                _ => out.push(t),
            }
        }
        out
    }

    /// Skips a block whose `{` was just read.
    fn skip_block(&mut self) -> u32 {
        let mut depth = 1;
        while let Some(t) = self.toks.get(self.pos) {
            self.pos += 1;
            match t.tok {
                Tok::Open => depth += 1,
                Tok::Close => {
                    depth -= 1;
                    if depth == 0 {
                        return t.line;
                    }
                }
                _ => {}
            }
        }
        self.line()
    }

    /// Reads up to the `}` closing the current block; false at the end of input.
    fn close(&mut self, open_line: u32, what: &str) -> u32 {
        if self.peek() == Some(&Tok::Close) {
            let line = self.line();
            self.pos += 1;
            line
        } else {
            self.error(
                open_line,
                format!("{what} opened on line {open_line} is never closed"),
            );
            self.line()
        }
    }

    fn top(&mut self) {
        loop {
            self.skip_separators();
            let Some(tok) = self.peek() else { break };
            if *tok == Tok::Close {
                let line = self.line();
                self.error(line, "`}` closes nothing".into());
                self.pos += 1;
                continue;
            }
            let line = self.line();
            let (stmt, block) = self.statement(true);
            let words: Vec<String> = stmt.iter().map(text).collect();
            let w: Vec<&str> = words.iter().map(String::as_str).collect();
            match w.as_slice() {
                ["table", rest @ ..] | ["add" | "create", "table", rest @ ..] => {
                    let Some((family, name)) = family_and_name(rest) else {
                        self.error(line, format!("`{}` needs a table name", w.join(" ")));
                        if block {
                            self.skip_block();
                        }
                        continue;
                    };
                    let t = self.table_index(&family, &name, line);
                    if block {
                        self.table_body(t);
                        let end = self.close(line, "the table");
                        self.tables[t].end = end;
                    }
                }
                ["add" | "create", "chain", rest @ ..] => {
                    let Some((family, table, name)) = family_table_name(rest) else {
                        self.error(
                            line,
                            format!("`{}` needs a table and a chain name", w.join(" ")),
                        );
                        if block {
                            self.skip_block();
                        }
                        continue;
                    };
                    let t = self.table_index(&family, &table, line);
                    let c = chain_index(&mut self.tables[t], &name, line);
                    if block {
                        self.chain_body(t, c);
                        let end = self.close(line, "the chain");
                        self.tables[t].chains[c].end = end;
                    }
                }
                ["add" | "insert", "rule", rest @ ..] => {
                    let insert = w[0] == "insert";
                    let (family, rest) = match rest.first() {
                        Some(f) if FAMILIES.contains(f) => (f.to_string(), &rest[1..]),
                        _ => ("ip".to_string(), rest),
                    };
                    if rest.len() < 2 {
                        self.error(line, format!("`{}` needs a table and a chain", w.join(" ")));
                        continue;
                    }
                    let t = self.table_index(&family, rest[0], line);
                    let c = chain_index(&mut self.tables[t], rest[1], line);
                    let skip = 2 + if FAMILIES.contains(&w[2]) { 3 } else { 2 };
                    let value = rule::parse(&stmt[skip.min(stmt.len())..], line);
                    let chain = &mut self.tables[t].chains[c];
                    if insert {
                        chain.rules.insert(0, value);
                    } else {
                        chain.rules.push(value);
                    }
                }
                ["add" | "create", "set" | "map", rest @ ..] => {
                    let Some((family, table, name)) = family_table_name(rest) else {
                        self.error(
                            line,
                            format!("`{}` needs a table and a set name", w.join(" ")),
                        );
                        if block {
                            self.skip_block();
                        }
                        continue;
                    };
                    let t = self.table_index(&family, &table, line);
                    let s = set_index(&mut self.tables[t], &name, line);
                    if block {
                        self.set_body(t, s);
                        let end = self.close(line, "the set");
                        self.tables[t].sets[s].end = end;
                    }
                }
                ["add" | "create", "element", rest @ ..] => {
                    let Some((family, table, name)) = family_table_name(rest) else {
                        self.error(
                            line,
                            format!("`{}` needs a table and a set name", w.join(" ")),
                        );
                        continue;
                    };
                    let t = self.table_index(&family, &table, line);
                    let s = set_index(&mut self.tables[t], &name, line);
                    let elements = rule::set_elements(&stmt);
                    self.tables[t].sets[s].elements.extend(elements);
                }
                ["define", name, "=", ..] | ["redefine", name, "=", ..] => {
                    let name = name.to_string();
                    self.defines.insert(name, stmt[3..].to_vec());
                }
                ["undefine", name] => {
                    let name = name.to_string();
                    self.defines.remove(&name);
                }
                ["include", ..] => {
                    self.diagnostics.push(diagnostic(
                        "unsupported-include",
                        self.file,
                        line,
                        format!(
                            "`{}` is not followed: check the included files too",
                            w.join(" ")
                        ),
                    ));
                }
                ["flush" | "delete" | "destroy" | "reset", ..] | ["list", ..] => {
                    if block {
                        self.skip_block();
                    }
                }
                _ => {
                    self.error(
                        line,
                        format!("`{}` is not an nftables statement", w.join(" ")),
                    );
                    if block {
                        self.skip_block();
                    }
                }
            }
        }
    }

    fn table_index(&mut self, family: &str, name: &str, line: u32) -> usize {
        if let Some(i) = self
            .tables
            .iter()
            .position(|t| t.family == family && t.name == name)
        {
            return i;
        }
        self.tables.push(Table {
            family: family.to_string(),
            name: name.to_string(),
            line,
            end: line,
            ..Table::default()
        });
        self.tables.len() - 1
    }

    fn table_body(&mut self, t: usize) {
        loop {
            self.skip_separators();
            match self.peek() {
                None | Some(Tok::Close) => return,
                _ => {}
            }
            let line = self.line();
            let (stmt, block) = self.statement(true);
            let words: Vec<String> = stmt.iter().map(text).collect();
            match words
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .as_slice()
            {
                ["chain", name, ..] => {
                    let c = chain_index(&mut self.tables[t], name, line);
                    if block {
                        self.chain_body(t, c);
                        let end = self.close(line, "the chain");
                        self.tables[t].chains[c].end = end;
                    }
                }
                ["set" | "map", name, ..] => {
                    let s = set_index(&mut self.tables[t], name, line);
                    if block {
                        self.set_body(t, s);
                        let end = self.close(line, "the set");
                        self.tables[t].sets[s].end = end;
                    }
                }
                ["flags" | "comment", ..] => {}
                [_, ..] if block => {
                    // Objects patrol does not need (flowtable, counter, quota, ct helper…).
                    self.skip_block();
                }
                [
                    "counter" | "quota" | "limit" | "secmark" | "synproxy" | "ct",
                    ..,
                ] => {}
                _ => self.error(
                    line,
                    format!("`{}` does not belong in a table", words.join(" ")),
                ),
            }
        }
    }

    fn chain_body(&mut self, t: usize, c: usize) {
        loop {
            self.skip_separators();
            match self.peek() {
                None | Some(Tok::Close) => return,
                _ => {}
            }
            let line = self.line();
            let (stmt, _) = self.statement(false);
            let words: Vec<String> = stmt.iter().map(text).collect();
            let chain = &mut self.tables[t].chains[c];
            match words.first().map(String::as_str) {
                Some("type") => {
                    // type T hook H [device D] priority P
                    chain.kind = words.get(1).cloned();
                    let at = |k: &str| words.iter().position(|w| w == k);
                    chain.hook = at("hook").and_then(|i| words.get(i + 1)).cloned();
                    chain.priority = at("priority")
                        .map(|i| words[i + 1..].join(" "))
                        .filter(|p| !p.is_empty());
                    if chain.hook.is_none() || chain.priority.is_none() {
                        self.error(
                            line,
                            format!("`{}` needs `hook` and `priority`", words.join(" ")),
                        );
                    }
                }
                Some("policy") => match words.get(1).map(String::as_str) {
                    Some("accept") => chain.policy = Some(wit::NftPolicy::Accept),
                    Some("drop") => chain.policy = Some(wit::NftPolicy::Drop),
                    _ => self.error(
                        line,
                        format!("`{}`: the policy is `accept` or `drop`", words.join(" ")),
                    ),
                },
                Some("comment" | "devices" | "device" | "flags") => {}
                Some(_) => {
                    chain.rules.push(rule::parse(&stmt, line));
                }
                None => {}
            }
        }
    }

    fn set_body(&mut self, t: usize, s: usize) {
        loop {
            self.skip_separators();
            match self.peek() {
                None | Some(Tok::Close) => return,
                _ => {}
            }
            let (stmt, _) = self.statement(false);
            let words: Vec<String> = stmt.iter().map(text).collect();
            let set = &mut self.tables[t].sets[s];
            match words.first().map(String::as_str) {
                Some("type") | Some("typeof") => set.kind = words[1..].join(" "),
                Some("flags") => {
                    set.flags = words[1..].iter().filter(|w| *w != ",").cloned().collect()
                }
                Some("elements") => set.elements.extend(rule::set_elements(&stmt)),
                _ => {}
            }
        }
    }
}

/// Whether a statement's head introduces a block (`table x`, `chain y`, `set z`…) rather
/// than a rule with an anonymous set.
fn opens_block(head: &[Token]) -> bool {
    let words: Vec<String> = head.iter().map(text).collect();
    let first = words.first().map(String::as_str);
    let second = words.get(1).map(String::as_str);
    match first {
        Some(
            "table" | "chain" | "set" | "map" | "flowtable" | "counter" | "quota" | "secmark"
            | "synproxy",
        ) => true,
        Some("ct") => matches!(second, Some("helper" | "timeout" | "expectation")),
        Some("add" | "create" | "delete" | "destroy" | "flush") => {
            matches!(
                second,
                Some("table" | "chain" | "set" | "map" | "flowtable")
            )
        }
        _ => false,
    }
}

fn family_and_name(rest: &[&str]) -> Option<(String, String)> {
    match rest {
        [f, name, ..] if FAMILIES.contains(f) => Some((f.to_string(), name.to_string())),
        [name, ..] if !FAMILIES.contains(name) => Some(("ip".to_string(), name.to_string())),
        _ => None,
    }
}

fn family_table_name(rest: &[&str]) -> Option<(String, String, String)> {
    match rest {
        [f, table, name, ..] if FAMILIES.contains(f) => {
            Some((f.to_string(), table.to_string(), name.to_string()))
        }
        [table, name, ..] if !FAMILIES.contains(table) => {
            Some(("ip".to_string(), table.to_string(), name.to_string()))
        }
        _ => None,
    }
}
