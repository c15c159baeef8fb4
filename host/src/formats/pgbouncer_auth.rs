//! PgBouncer's auth_file (`userlist.txt`), read as PgBouncer's `load_auth_file` reads it
//! (`src/loader.c`, checked at pgbouncer 13a344f): blanks and newlines are skipped, a
//! line starting with `;` is a comment (`#` is not: PgBouncer calls such a line a broken
//! auth file), an entry is `"user"` then, after anything, `"password"`, with `""` for a
//! quote inside either, and the rest of the line is ignored. At the first line that is
//! not so PgBouncer logs `broken auth file` and stops: that line and every later one
//! load no user. A user name of 128 bytes or more, a password of 65531 or more, stop it
//! too.
//!
//! Policies get the users and how each password is stored ([`password_kind`], as
//! PgBouncer's `get_password_type` tells them apart), never the password: the document's
//! text has every password replaced by `<redacted>` ([`redacted`]).

use std::ops::Range;

use super::{Parsed, diagnostic, location};
use crate::wit;

/// `MAX_USERNAME` and `MAX_PASSWORD` of `include/bouncer.h`: a field as long is refused.
const MAX_USERNAME: usize = 128;
const MAX_PASSWORD: usize = 65531;

/// One entry as written: the byte ranges inside the quotes, and its first line.
struct Entry {
    user: Range<usize>,
    password: Range<usize>,
    line: u32,
}

/// Where PgBouncer stopped reading, and why.
struct Stop {
    /// Start of the entry that broke (its line is the diagnostic's).
    at: usize,
    why: &'static str,
}

/// `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// `find_quote`: the next `"` from `p`; unless `start`, a `""` pair is skipped as an
/// escaped quote. Returns the end of the buffer when there is none.
fn find_quote(b: &[u8], mut p: usize, start: bool) -> usize {
    loop {
        while p < b.len() && b[p] != b'"' {
            p += 1;
        }
        if !start && p + 1 < b.len() && b[p + 1] == b'"' {
            p += 2;
            continue;
        }
        return p;
    }
}

/// The entries PgBouncer loads, and where it stopped if the file is broken.
fn scan(src: &str) -> (Vec<Entry>, Option<Stop>) {
    // PgBouncer reads the file as a C string: a NUL ends it.
    let b = src.as_bytes();
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    let lines = LineIndex::new(src);
    let mut entries = Vec::new();
    let mut p = 0;
    loop {
        while p < b.len() && is_space(b[p]) {
            p += 1;
        }
        if p >= b.len() {
            return (entries, None);
        }
        if b[p] == b';' {
            while p < b.len() && b[p] != b'\n' {
                p += 1;
            }
            continue;
        }
        let at = p;
        let stop = |why| Some(Stop { at, why });
        if b[p] != b'"' {
            return (entries, stop("the line does not start with `\"`"));
        }
        let user = p + 1;
        p = find_quote(b, user, false);
        if p >= b.len() {
            return (entries, stop("the user name has no closing `\"`"));
        }
        if p - user >= MAX_USERNAME {
            return (entries, stop("the user name is 128 bytes or longer"));
        }
        let user = user..p;
        p = find_quote(b, p + 1, true);
        if p >= b.len() {
            return (entries, stop("no quoted password follows the user name"));
        }
        let password = p + 1;
        p = find_quote(b, password, false);
        if p >= b.len() {
            return (entries, stop("the password has no closing `\"`"));
        }
        if p - password >= MAX_PASSWORD {
            return (entries, stop("the password is 65531 bytes or longer"));
        }
        entries.push(Entry {
            user,
            password: password..p,
            line: lines.line_of(at),
        });
        while p < b.len() && b[p] != b'\n' {
            p += 1;
        }
    }
}

/// 1-based line numbers of byte offsets.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(src: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex(starts)
    }

    fn line_of(&self, offset: usize) -> u32 {
        let n = self.0.partition_point(|&s| s <= offset);
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// `copy_quoted`: `""` is one quote.
fn unquote(raw: &str) -> String {
    raw.replace("\"\"", "\"")
}

/// How PgBouncer's `get_password_type` classes a password (an empty one apart).
pub fn password_kind(password: &str) -> wit::PgbouncerPasswordKind {
    let md5 = password.len() == 35
        && password.starts_with("md5")
        && password[3..]
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if password.is_empty() {
        wit::PgbouncerPasswordKind::Empty
    } else if md5 {
        wit::PgbouncerPasswordKind::Md5
    } else if is_scram_secret(password) {
        wit::PgbouncerPasswordKind::Scram
    } else {
        wit::PgbouncerPasswordKind::Plain
    }
}

/// Why `password` of `user` is weak by the SDK's rule: as written when PgBouncer keeps
/// it in clear; for an MD5 hash (`md5` + hex MD5 of password then user name, as
/// `pg_md5_encrypt` makes it), the guess whose hash it is. A SCRAM secret is salted and
/// costs thousands of hashes per guess by design: not judged.
fn weak(user: &str, password: &str, kind: wit::PgbouncerPasswordKind) -> Option<String> {
    use md5::{Digest, Md5};
    match kind {
        wit::PgbouncerPasswordKind::Plain => policy_guest::credentials::weak(Some(user), password),
        wit::PgbouncerPasswordKind::Md5 => policy_guest::credentials::guesses(user)
            .find(|(guess, _)| {
                let digest = Md5::new()
                    .chain_update(guess.as_bytes())
                    .chain_update(user.as_bytes())
                    .finalize();
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                password[3..] == hex
            })
            .map(|(_, why)| format!("{why} (found by its MD5 hash)")),
        wit::PgbouncerPasswordKind::Scram | wit::PgbouncerPasswordKind::Empty => None,
    }
}

/// `parse_scram_secret`: `SCRAM-SHA-256$<iterations>:<salt>$<storedkey>:<serverkey>`
/// split as its `strtok` calls split it, the iterations a number, the salt base64 and
/// both keys base64 of 32 bytes.
fn is_scram_secret(secret: &str) -> bool {
    // `strtok` skips leading delimiters and never yields an empty token.
    let mut rest = secret;
    let mut token = |delims: &[char]| -> Option<&str> {
        let s = rest.trim_start_matches(delims);
        if s.is_empty() {
            return None;
        }
        let (tok, after) = match s.find(delims) {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        rest = after;
        Some(tok)
    };
    let (Some(scheme), Some(iterations), Some(salt), Some(stored)) =
        (token(&['$']), token(&[':']), token(&['$']), token(&[':']))
    else {
        return false;
    };
    // The last `strtok(NULL, "")` takes the rest as it is.
    let server = rest;
    scheme == "SCRAM-SHA-256"
        && strtol_whole(iterations)
        && b64_len(salt).is_some()
        && b64_len(stored) == Some(32)
        && !server.is_empty()
        && b64_len(server) == Some(32)
}

/// `strtol(s, &end, 10)` with `*end == 0`: blanks, a sign, then digits to the end.
fn strtol_whole(s: &str) -> bool {
    let s = s.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

/// The decoded length of PostgreSQL's `pg_b64_decode` (PgBouncer's copy in
/// `src/common/base64.c`), None where it fails. Its rules are its own (an `=` may be
/// followed by more data), so a base64 crate would class some secrets differently.
fn b64_len(s: &str) -> Option<usize> {
    let (mut n, mut pos, mut end) = (0usize, 0u8, 0u8);
    for c in s.bytes() {
        if c == b'=' {
            if end == 0 {
                end = match pos {
                    2 => 1,
                    3 => 2,
                    _ => return None,
                };
            }
        } else if !(c.is_ascii_alphanumeric() || c == b'+' || c == b'/') {
            return None;
        }
        pos += 1;
        if pos == 4 {
            n += match end {
                0 => 3,
                1 => 1,
                _ => 2,
            };
            pos = 0;
        }
    }
    (pos == 0).then_some(n)
}

/// Parses an auth_file (`src`, shown as `file`): the users PgBouncer loads, and a
/// `auth-file-broken` diagnostic where it stops reading.
pub fn parse(src: &str, file: &str) -> Parsed<Vec<wit::PgbouncerUser>> {
    let (entries, stop) = scan(src);
    let mut parsed = Parsed::new(
        entries
            .iter()
            .map(|e| {
                let user = unquote(&src[e.user.clone()]);
                let password = unquote(&src[e.password.clone()]);
                let kind = password_kind(&password);
                wit::PgbouncerUser {
                    weak: weak(&user, &password, kind),
                    user,
                    password_kind: kind,
                    location: location(file, e.line),
                }
            })
            .collect(),
    );
    if let Some(stop) = stop {
        let line = LineIndex::new(src).line_of(stop.at);
        parsed.diagnostics.push(diagnostic(
            "auth-file-broken",
            file,
            line,
            format!(
                "PgBouncer logs `broken auth file` and stops reading here: {}; this line and every line after it load no user (only `;` starts a comment)",
                stop.why
            ),
        ));
    }
    parsed
}

/// `src` with every password replaced by `<redacted>` (an empty one kept), line for
/// line: what the policies and the output see. From the line where PgBouncer stops on,
/// everything after a line's first quoted field is replaced too (a `#` line that holds
/// `"user" "password"` is still a password).
pub fn redacted(src: &str) -> String {
    let (entries, stop) = scan(src);
    // PgBouncer reads no further than a NUL either; what follows is redacted the same way.
    let cut = stop
        .map_or(src.len(), |s| s.at)
        .min(src.find('\0').unwrap_or(src.len()));
    let end = if cut == src.len() {
        cut
    } else {
        src[..cut].rfind('\n').map_or(0, |i| i + 1)
    };
    let mut out = String::with_capacity(src.len());
    let mut p = 0;
    for e in entries.iter().filter(|e| e.password.end <= end) {
        out.push_str(&src[p..e.password.start]);
        let secret = &src[e.password.clone()];
        if !secret.is_empty() {
            out.push_str("<redacted>");
            // A password that spans lines keeps the line count.
            out.extend(secret.matches('\n').map(|_| '\n'));
        }
        p = e.password.end;
    }
    out.push_str(&src[p..end.max(p)]);
    for l in src[end.max(p)..].split_inclusive('\n') {
        let body = l.trim_end_matches(['\n', '\r']);
        let keep = if body.trim_start().starts_with(';') {
            body.len()
        } else {
            first_quoted_end(body)
        };
        out.push_str(&body[..keep]);
        if !body[keep..].trim().is_empty() {
            out.push_str(if keep == 0 {
                "<redacted>"
            } else {
                " <redacted>"
            });
        }
        out.push_str(&l[body.len()..]);
    }
    out
}

/// The end of a line's leading quoted field (blanks before it allowed), 0 if none.
fn first_quoted_end(line: &str) -> usize {
    let b = line.as_bytes();
    let start = b.iter().take_while(|c| is_space(**c)).count();
    if b.get(start) != Some(&b'"') {
        return 0;
    }
    let close = find_quote(b, start + 1, false);
    if close < b.len() { close + 1 } else { 0 }
}

#[cfg(test)]
#[path = "pgbouncer_auth_tests.rs"]
mod tests;
