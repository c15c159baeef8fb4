//! Inline suppressions: a `patrol:ignore` comment in a config file, in the file's own
//! comment syntax, that accepts one finding on its line or on the line below.
//!
//! ```text
//! host all all 10.0.0.0/8 md5  # patrol:ignore pg-hba/md5-method reason="legacy app, SEC-12" until=2027-03-31
//! # patrol:ignore pg-hba/trust-local reason="socket only, peer breaks pgbouncer"
//! local all all trust
//! ```
//!
//! - a trailing comment covers findings on its own line; a comment alone on its line
//!   covers the next line that is not itself such a comment (so several can be stacked);
//! - `reason="…"` is required, `until=YYYY-MM-DD` optional (the last day it holds);
//! - only a comment counts, as the format defines one: outside quotes, after whitespace in
//!   YAML, and only at the start of a line where the format has no trailing comments (INI
//!   files, systemd units, etcd environment files); inside a YAML block scalar (`|`, `>`)
//!   it is text. JSON has no comments: use a `patrol.yaml` exception there;
//! - a suppression without a reason, with a bad date or code is
//!   `patrol/invalid-suppression`; an expired one is `patrol/expired-suppression` (and the
//!   finding counts again); one that covers nothing is `patrol/unused-suppression`.
//!
//! Applied after the `patrol.yaml` bundle (a finding an exception waived leaves the
//! suppression used, not unused); `--no-suppressions` turns them all off.

use serde::Serialize;

use crate::bundle::Date;
use crate::formats::{Kind, etcd_env};
use crate::run::{Finding, HOST_POLICY, Outcome, Severity};
use crate::wit;

pub const INVALID: &str = "invalid-suppression";
pub const EXPIRED: &str = "expired-suppression";
pub const UNUSED: &str = "unused-suppression";

/// The comment word that starts a suppression.
const MARK: &str = "patrol:ignore";

/// A suppression read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub file: String,
    /// The comment's line.
    pub line: u32,
    /// The line whose findings it covers (0: none, at the end of the file).
    pub target: u32,
    pub policy: String,
    pub code: String,
    pub reason: String,
    pub until: Option<Date>,
}

/// A finding an inline suppression covers, as `--format json` lists it under
/// `suppressed`.
#[derive(Debug, Clone, Serialize)]
pub struct Suppressed {
    #[serde(flatten)]
    pub finding: Finding,
    pub suppression: SuppressedBy,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuppressedBy {
    /// `pg_hba.conf:4`.
    pub at: String,
    pub reason: String,
    pub until: Option<String>,
}

/// How a format writes comments.
#[derive(Debug, Clone, Copy)]
struct Style {
    markers: &'static [&'static str],
    /// Comments may follow a value on the same line.
    trailing: bool,
    /// Characters that open and close a quoted string.
    quotes: &'static [char],
    /// A backslash escapes the next character inside quotes (in YAML, double quotes only).
    escapes: bool,
    /// YAML: `#` starts a comment only at the line start or after whitespace, and block
    /// scalars hold text.
    yaml: bool,
}

const HASH: &[&str] = &["#"];

fn style(kind: &Kind, file: &str, text: &str) -> Option<Style> {
    const fn s(
        markers: &'static [&'static str],
        trailing: bool,
        quotes: &'static [char],
        escapes: bool,
        yaml: bool,
    ) -> Option<Style> {
        Some(Style {
            markers,
            trailing,
            quotes,
            escapes,
            yaml,
        })
    }
    match kind {
        Kind::Etcd if etcd_env::looks_like(text) => s(HASH, false, &[], false, false),
        // KEY=VALUE lines, as etcd's environment file: whole-line comments only.
        Kind::PatroniEnv => s(HASH, false, &[], false, false),
        Kind::Consul if file.ends_with(".json") => None,
        Kind::Patroni | Kind::Etcd | Kind::Topology | Kind::DockerCompose => {
            s(HASH, true, &['"', '\''], true, true)
        }
        Kind::PgHba | Kind::PgIdent => s(HASH, true, &['"'], false, false),
        Kind::PostgresqlConf => s(HASH, true, &['\''], true, false),
        Kind::Haproxy | Kind::GitlabRb => s(HASH, true, &['"', '\''], true, false),
        Kind::Consul => s(&["#", "//"], true, &['"'], true, false),
        Kind::Nftables => s(HASH, true, &['"'], false, false),
        Kind::Pgbackrest | Kind::PgAutoctl | Kind::Pgbouncer | Kind::Systemd => {
            s(&["#", ";"], false, &[], false, false)
        }
        // PgBouncer's auth_file: whole `;` lines only (`#` breaks the file).
        Kind::PgbouncerAuthFile => s(&[";"], false, &[], false, false),
        // Derived documents share their source's path; org kinds have no known syntax.
        Kind::PatroniPgHba | Kind::PortMatrix | Kind::Certificates | Kind::Other(_) => None,
    }
}

/// Where the comment on `line` starts (its marker), if it has one.
fn comment_start(line: &str, style: &Style) -> Option<usize> {
    if !style.trailing {
        let body = line.trim_start();
        return style
            .markers
            .iter()
            .any(|m| body.starts_with(m))
            .then(|| line.len() - body.len());
    }
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut prev: Option<char> = None;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if style.escapes && c == '\\' && (q == '"' || !style.yaml) {
                    escaped = true;
                } else if c == '\'' && q == '\'' && line[i + 1..].starts_with('\'') {
                    escaped = true; // `''` is a quote inside single quotes
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                let spaced = !style.yaml || prev.is_none_or(char::is_whitespace);
                if spaced && style.markers.iter().any(|m| line[i..].starts_with(m)) {
                    return Some(i);
                }
                // A YAML quote opens a string only where a scalar starts; `it's` is plain.
                let opens = !style.yaml
                    || prev.is_none_or(|p| {
                        p.is_whitespace() || matches!(p, ':' | '[' | '{' | ',' | '-')
                    });
                if style.quotes.contains(&c) && opens {
                    quote = Some(c);
                }
            }
        }
        prev = Some(c);
    }
    None
}

/// The indentation of a YAML line that starts a block scalar (`key: |`, `- >-`), if it does.
fn block_scalar_start(code: &str) -> Option<usize> {
    let body = code.trim_end();
    let header = body.rsplit([' ', '\t']).next()?;
    let starts = header.starts_with(['|', '>'])
        && header[1..]
            .chars()
            .all(|c| c == '-' || c == '+' || c.is_ascii_digit())
        && (body.len() == header.len()
            || body[..body.len() - header.len()]
                .trim_end()
                .ends_with([':', '-']));
    starts.then(|| code.len() - code.trim_start().len())
}

/// Reads the suppressions of one file. Bad ones come back as `invalid-suppression`
/// findings.
pub fn scan(kind: &Kind, file: &str, text: &str) -> (Vec<Suppression>, Vec<Finding>) {
    let (mut found, mut invalid) = (Vec::new(), Vec::new());
    let Some(style) = style(kind, file, text) else {
        return (found, invalid);
    };
    // (line, comment text, alone on its line)
    let mut comments: Vec<(u32, &str, bool)> = Vec::new();
    let mut block: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if let Some(b) = block {
            if line.trim().is_empty() || indent > b {
                continue;
            }
            block = None;
        }
        let start = comment_start(line, &style);
        let code = start.map_or(line, |s| &line[..s]);
        if style.yaml {
            block = block_scalar_start(code);
        }
        if let Some(s) = start {
            let marker = style
                .markers
                .iter()
                .find(|m| line[s..].starts_with(**m))
                .map_or(1, |m| m.len());
            comments.push((
                i as u32 + 1,
                line[s + marker..].trim(),
                code.trim().is_empty(),
            ));
        }
    }
    let alone_mark = |l: u32| {
        comments
            .iter()
            .any(|&(n, t, alone)| n == l && alone && t.starts_with(MARK))
    };
    for &(line, comment, alone) in &comments {
        let Some(rest) = comment.strip_prefix(MARK) else {
            continue;
        };
        if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
            continue; // `patrol:ignored…`: another word
        }
        let target = if alone {
            let lines = text.lines().count() as u32;
            (line + 1..=lines).find(|&l| !alone_mark(l)).unwrap_or(0)
        } else {
            line
        };
        match parse(rest) {
            Ok((policy, code, reason, until)) => found.push(Suppression {
                file: file.to_string(),
                line,
                target,
                policy,
                code,
                reason,
                until,
            }),
            Err(why) => invalid.push(host_finding(
                INVALID,
                file,
                line,
                format!("this `patrol:ignore` is not used: {why}"),
            )),
        }
    }
    (found, invalid)
}

type Directive = (String, String, String, Option<Date>);

/// `POLICY/CODE reason="…" until=YYYY-MM-DD`.
fn parse(rest: &str) -> Result<Directive, String> {
    let rest = rest.trim_start();
    let (code, mut rest) = rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len()));
    let (policy, code) = match code.split_once('/') {
        Some((p, c)) if !p.is_empty() && !c.is_empty() && !c.contains('/') => (p, c),
        _ if code.is_empty() => {
            return Err(
                "it names no finding; write `patrol:ignore POLICY/CODE reason=\"…\"`".into(),
            );
        }
        _ => {
            return Err(format!(
                "`{code}` must be `policy/code`, e.g. `pg-hba/trust-local`"
            ));
        }
    };
    let (mut reason, mut until) = (None, None);
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let Some((key, after)) = rest.split_once('=') else {
            return Err(format!(
                "`{rest}` is not `key=value`; a suppression takes `reason=\"…\"` and `until=YYYY-MM-DD`"
            ));
        };
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| format!("the quote after `{key}=` is not closed"))?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_at(after.find(char::is_whitespace).unwrap_or(after.len())),
        };
        match key {
            "reason" => reason = Some(value.trim().to_string()),
            "until" => {
                until =
                    Some(Date::parse(value).ok_or_else(|| {
                        format!("`{value}` is not a date; write `until=YYYY-MM-DD`")
                    })?)
            }
            other => {
                return Err(format!(
                    "unknown key `{other}`; a suppression takes `reason=\"…\"` and `until=YYYY-MM-DD`"
                ));
            }
        }
        rest = next;
    }
    match reason {
        Some(r) if !r.is_empty() => Ok((policy.to_string(), code.to_string(), r, until)),
        _ => Err("it has no reason; say why the finding is accepted: `reason=\"…\"`".into()),
    }
}

fn host_finding(code: &str, file: &str, line: u32, message: String) -> Finding {
    let (severity, remediation) = crate::run::HOST_CODES
        .iter()
        .find(|c| c.code == code)
        .map_or((Severity::Medium, String::new()), |c| {
            (c.severity, c.help.to_string())
        });
    Finding {
        policy: HOST_POLICY.to_string(),
        code: code.to_string(),
        severity,
        message,
        file: file.to_string(),
        line,
        end_line: None,
        pointer: None,
        remediation,
        patch: None,
        fix_withheld: None,
    }
}

/// Moves the findings a suppression in `documents` covers to `suppressed`, and adds a
/// finding for each invalid, expired or unused suppression.
pub fn apply(documents: &[wit::Document], outcome: &mut Outcome, today: Date) -> Vec<Suppressed> {
    let mut all = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in documents.iter().filter(|d| seen.insert(d.path.as_str())) {
        let (found, invalid) = scan(&d.kind, &d.path, &d.text);
        all.extend(found);
        outcome.findings.extend(invalid);
    }
    if all.is_empty() {
        return Vec::new();
    }
    let covers = |s: &Suppression, f: &Finding| {
        s.file == f.file && s.target == f.line && s.policy == f.policy && s.code == f.code
    };
    let live = |s: &Suppression| s.until.is_none_or(|u| u >= today);
    let mut used = vec![false; all.len()];
    // A finding a patrol.yaml exception already waived uses the suppression too.
    for w in &outcome.waived {
        for (i, s) in all.iter().enumerate() {
            used[i] |= covers(s, &w.finding);
        }
    }
    let mut suppressed = Vec::new();
    let mut kept = Vec::with_capacity(outcome.findings.len());
    for f in std::mem::take(&mut outcome.findings) {
        match all.iter().position(|s| live(s) && covers(s, &f)) {
            Some(i) => {
                used[i] = true;
                let s = &all[i];
                suppressed.push(Suppressed {
                    finding: f,
                    suppression: SuppressedBy {
                        at: format!("{}:{}", s.file, s.line),
                        reason: s.reason.clone(),
                        until: s.until.map(|d| d.to_string()),
                    },
                });
            }
            None => kept.push(f),
        }
    }
    // A policy that failed may have had the finding: its suppressions are not unused.
    let unsure = !outcome.errors.is_empty();
    for (s, used) in all.iter().zip(used) {
        let name = format!("{}/{}", s.policy, s.code);
        if let Some(until) = s.until.filter(|&u| u < today) {
            let message = format!(
                "the suppression of `{name}` expired on {until}; what it covered is reported again (reason given: {})",
                s.reason
            );
            kept.push(host_finding(EXPIRED, &s.file, s.line, message));
        } else if !used && !unsure {
            let place = if s.target == 0 {
                "the end of the file".to_string()
            } else {
                format!("line {}", s.target)
            };
            let message = format!(
                "no `{name}` finding on {place}: the suppression covers nothing (remove it)"
            );
            kept.push(host_finding(UNUSED, &s.file, s.line, message));
        }
    }
    outcome.findings = kept;
    suppressed
}

#[cfg(test)]
#[path = "suppress_tests.rs"]
mod tests;
