//! One nftables rule split into matches, a verdict map and a verdict (see the module
//! header of `nftables`).

use super::{Tok, Token, text};
use crate::wit::{self, NftMapEntry, NftMatch, NftOp, NftVerdict};

/// Selectors written as two words (`ip saddr`, `tcp dport`, `ct state`…).
const TWO_WORD: &[&str] = &[
    "ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th", "ct", "meta", "icmp", "icmpv6",
    "ether", "vlan", "arp", "rt", "socket", "ah", "esp", "comp", "ipsec", "frag", "hbh", "dst",
    "mh", "srh", "osf", "exthdr",
];
/// `meta` keys that may be written without `meta`.
const META_SHORT: &[&str] = &[
    "iifname", "oifname", "iif", "oif", "l4proto", "nfproto", "mark", "pkttype", "iiftype",
    "oiftype", "skuid", "skgid", "cpu", "cgroup", "iifgroup", "oifgroup", "priority", "protocol",
];
const OPS: &[&str] = &[
    "==", "eq", "!=", "ne", "<", "lt", ">", "gt", "<=", "le", ">=", "ge",
];
const VERDICTS: &[&str] = &[
    "accept", "drop", "reject", "queue", "continue", "return", "jump", "goto",
];

/// A rule's tokens as matches, a verdict map and a verdict; `line` is the rule's line.
pub fn parse(toks: &[Token], line: u32) -> wit::NftRule {
    let mut matches = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut verdict: Option<NftVerdict> = None;
    let mut vmap: Option<Vec<NftMapEntry>> = None;
    let mut i = 0;
    let word = |i: usize| toks.get(i).map(text).unwrap_or_default();
    while i < toks.len() {
        let w = word(i);
        // Verdicts end the rule.
        if VERDICTS.contains(&w.as_str()) {
            match w.as_str() {
                "jump" | "goto" => {
                    verdict = verdict_of(&format!("{w} {}", word(i + 1)));
                    i += 2;
                }
                _ => {
                    verdict = verdict_of(&w);
                    i += 1;
                    // `reject with tcp reset`, `queue num 1 bypass`: arguments.
                    while i < toks.len() && !VERDICTS.contains(&word(i).as_str()) {
                        i += 1;
                    }
                }
            }
            continue;
        }
        // Statements that decide nothing.
        match w.as_str() {
            "counter" => {
                i += 1;
                while matches!(word(i).as_str(), "packets" | "bytes") {
                    i += 2;
                }
                continue;
            }
            "log" => {
                i += 1;
                while matches!(
                    word(i).as_str(),
                    "prefix" | "level" | "group" | "snaplen" | "queue-threshold" | "flags"
                ) {
                    i += 2;
                    while toks.get(i).is_some_and(|t| t.tok == Tok::Comma) {
                        i += 2;
                    }
                }
                continue;
            }
            "comment" => {
                i += 2;
                continue;
            }
            "limit" => {
                // limit rate [over] N/unit [burst N unit]
                i += 2;
                if word(i) == "over" {
                    i += 1;
                }
                i += 1;
                if word(i) == "bytes" || word(i).starts_with('/') {
                    i += 1;
                }
                if word(i) == "burst" {
                    i += 3;
                }
                continue;
            }
            "notrack" | "masquerade" | "flow" => {
                i += 1;
                continue;
            }
            _ => {}
        }
        // Matches: a selector, an optional operator, a value.
        let selector_len = if TWO_WORD.contains(&w.as_str())
            && toks
                .get(i + 1)
                .is_some_and(|t| matches!(t.tok, Tok::Word(_)))
        {
            2
        } else if META_SHORT.contains(&w.as_str()) {
            1
        } else {
            0
        };
        if selector_len == 0 {
            unknown.push(w);
            i += 1;
            continue;
        }
        let mut left = word(i);
        if selector_len == 2 {
            left = format!("{left} {}", word(i + 1));
        }
        if left.starts_with("meta ") && META_SHORT.contains(&&left[5..]) {
            left = left[5..].to_string();
        }
        i += selector_len;
        // `meta mark set 1`, `ct mark set …`: a statement, not a match.
        if word(i) == "set" {
            i += 2;
            continue;
        }
        if word(i) == "vmap" {
            i += 1;
            let (group, next) = group(toks, i);
            vmap = Some(
                group
                    .iter()
                    .map(|e| {
                        let (value, verdict) = e.split_once(" : ").unwrap_or((e.as_str(), ""));
                        NftMapEntry {
                            value: value.trim().to_string(),
                            verdict: verdict_of(verdict.trim()),
                        }
                    })
                    .collect(),
            );
            matches.push(NftMatch {
                left,
                op: NftOp::Vmap,
                right: Vec::new(),
            });
            i = next;
            continue;
        }
        let op = if OPS.contains(&word(i).as_str()) {
            let op = normalize_op(&word(i));
            i += 1;
            op
        } else {
            NftOp::Eq
        };
        let right = if toks.get(i).is_some_and(|t| t.tok == Tok::Open) {
            let (group, next) = group(toks, i);
            i = next;
            group
        } else if i < toks.len() {
            // `established,related`: commas join words into one list.
            let mut values = vec![word(i)];
            i += 1;
            while toks.get(i).is_some_and(|t| t.tok == Tok::Comma) && i + 1 < toks.len() {
                values.push(word(i + 1));
                i += 2;
            }
            values
        } else {
            unknown.push(left.clone());
            continue;
        };
        // `ip saddr 10.0.0.1 - 10.0.0.9` with spaces: one range.
        let right = if toks.get(i).map(text).as_deref() == Some("-") && right.len() == 1 {
            let joined = format!("{}-{}", right[0], word(i + 1));
            i += 2;
            vec![joined]
        } else {
            right
        };
        matches.push(NftMatch { left, op, right });
    }
    wit::NftRule {
        line,
        text: render(toks),
        matches,
        vmap,
        verdict,
        unknown,
    }
}

fn normalize_op(op: &str) -> NftOp {
    match op {
        "==" | "eq" => NftOp::Eq,
        "!=" | "ne" => NftOp::Ne,
        "<" | "lt" => NftOp::Lt,
        ">" | "gt" => NftOp::Gt,
        "<=" | "le" => NftOp::Le,
        _ => NftOp::Ge,
    }
}

/// `accept`, `jump NAME`…; `None` for words that are not a verdict.
fn verdict_of(words: &str) -> Option<NftVerdict> {
    let mut w = words.split_whitespace();
    let verb = w.next()?;
    let target = || w.clone().next().unwrap_or("").to_string();
    Some(match verb {
        "accept" => NftVerdict::Accept,
        "drop" => NftVerdict::Drop,
        "reject" => NftVerdict::Reject,
        "queue" => NftVerdict::Queue,
        "continue" => NftVerdict::Continue,
        "return" => NftVerdict::Return,
        "jump" => NftVerdict::Jump(target()),
        "goto" => NftVerdict::Goto(target()),
        _ => return None,
    })
}

/// The elements of the `{ … }` starting at `i`: each element's words joined by spaces
/// (`22 : accept`); returns the elements and the index after `}`.
fn group(toks: &[Token], i: usize) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut depth = 0;
    let mut j = i;
    while j < toks.len() {
        match &toks[j].tok {
            // A set inside a set (`{ $PEERS, 10.0.2.5 }` with PEERS a set) is flattened,
            // as nft does.
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    if !current.is_empty() {
                        out.push(current.join(" "));
                    }
                    return (out, j + 1);
                }
            }
            Tok::Comma => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current).join(" "));
                }
            }
            Tok::Newline | Tok::Semi => {}
            _ => current.push(text(&toks[j])),
        }
        j += 1;
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    (out, j)
}

/// The elements of the first `{ … }` of a statement (`elements = { … }`,
/// `add element … { … }`).
pub fn set_elements(stmt: &[Token]) -> Vec<String> {
    match stmt.iter().position(|t| t.tok == Tok::Open) {
        Some(i) => group(stmt, i).0,
        None => Vec::new(),
    }
}

/// The rule as text, on one line.
fn render(toks: &[Token]) -> String {
    let mut out = String::new();
    for t in toks {
        let piece = match &t.tok {
            Tok::Quoted(q) => format!("\"{q}\""),
            Tok::Newline => continue,
            other => text(&Token {
                tok: other.clone(),
                line: t.line,
            }),
        };
        if !out.is_empty() && piece != "," && piece != ";" {
            out.push(' ');
        }
        out.push_str(&piece);
    }
    out
}
