//! Seeded random pg_hba.conf files and connection probes for the differential test.
//!
//! Every value comes from a small vocabulary that the test server is set up for (its
//! roles, group roles, password types, certificates, loopback sources), so that each
//! comparison is decidable: the server's first answer names the method, and a variant
//! of the file where every method is `password` (matching does not depend on methods or
//! options) makes the server log the matched line for every probe.

use std::fmt::Write as _;

/// xorshift64*: deterministic per seed, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// One generated line of pg_hba.conf.
#[derive(Debug, Clone)]
pub enum Line {
    Comment(String),
    Blank,
    Rule {
        kind: String,
        db: String,
        user: String,
        addr: Option<String>,
        method: String,
        options: Vec<String>,
        comment: bool,
    },
    /// A line kept as written in the `password` variant too: lines some versions refuse,
    /// directives (`include`), continuations.
    Invalid(String),
}

/// The source addresses probes come from (127.0.0.254 is the sentinel's).
pub const SOURCES: &[&str] = &[
    "local",
    "127.0.0.1",
    "127.0.0.2",
    "127.0.0.5",
    "127.0.1.7",
    "127.1.0.9",
    "127.2.0.3",
    "::1",
];
pub const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "repl", "eve", "admins", "postgres",
];
pub const DATABASES: &[&str] = &[
    "app", "postgres", "alice", "admins", "staff", "all", "App", "bob",
];
/// Client certificates: (name in the test, CN, trusted by the server's CA).
pub const CERTS: &[(&str, &str, bool)] = &[
    ("alice", "alice", true),
    ("bob", "bob", true),
    ("app", "app.example.com", true),
    ("rogue", "alice", false),
];

const DB_TOKENS: &[&str] = &[
    "all",
    "all",
    "sameuser",
    "samerole",
    "samegroup",
    "replication",
    "app",
    "postgres",
    "admins",
    "alice",
    "\"all\"",
    "App",
    "@dbs.txt",
];
const USER_TOKENS: &[&str] = &[
    "all",
    "all",
    "alice",
    "bob",
    "carol",
    "dave",
    "repl",
    "eve",
    "+admins",
    "+staff",
    "\"+admins\"",
    "postgres",
    "admins",
    "@users.txt",
];
const ADDRESSES: &[&str] = &[
    "127.0.0.1/32",
    "127.0.0.2/32",
    "127.0.0.0/24",
    "127.0.0.0/8",
    "127.1.0.0/16",
    "127.0.0.9/24",
    "127.0.0.0 255.255.255.0",
    "127.0.0.0 255.0.255.0",
    "127.0.1.0/24",
    "all",
    "samehost",
    "samenet",
    "::1/128",
    "::/0",
    "0.0.0.0/0",
    "::ffff:127.0.0.0/104",
    "127.0.0.5/32",
];
const INVALID: &[&str] = &[
    "hots all all all trust",
    "host all all 127.0.0.1/33 trust",
    "host all all",
    "local all all",
    "host all all all cert",
    "host all all all peer",
    "hostssl all all all cert clientcert=verify-ca",
    "host all all all trust clientcert=verify-full",
    "host all all all md5 foo=bar",
    "local all all md5 map=certmap",
    "hostssl all all all trust clientcert=1",
    "host all all all bogus",
    "include other.conf",
    "host all all 127.0.0.1 trust",
    "hostssl all all all scram-sha-256 clientname=XX",
    "host all all 127.0.0.0/8 md5 clientcert=verify-ca",
];

fn list(rng: &mut Rng, tokens: &[&str]) -> String {
    let first = rng.pick(tokens).to_string();
    if !rng.chance(25) {
        return first;
    }
    let second = rng.pick(tokens);
    let sep = if rng.chance(50) { "," } else { ", " };
    format!("{first}{sep}{second}")
}

fn rule(rng: &mut Rng) -> Line {
    let kind = rng.pick(&[
        "local",
        "local",
        "host",
        "host",
        "host",
        "hostssl",
        "hostssl",
        "hostssl",
        "hostnossl",
        "hostnogssenc",
        "hostgssenc",
    ]);
    let db = list(rng, DB_TOKENS);
    let user = list(rng, USER_TOKENS);
    let addr = (kind != "local").then(|| rng.pick(ADDRESSES).to_string());
    let mut options = Vec::new();
    let method = if kind == "local" {
        rng.pick(&[
            "trust",
            "reject",
            "scram-sha-256",
            "md5",
            "password",
            "peer",
            "ident",
        ])
        .to_string()
    } else {
        let m = rng.pick(&[
            "trust",
            "trust",
            "reject",
            "scram-sha-256",
            "scram-sha-256",
            "md5",
            "md5",
            "password",
            "ident",
            "gss",
            "cert",
            "cert",
        ]);
        let m = if m == "cert" && kind != "hostssl" {
            "md5"
        } else {
            m
        };
        if m == "cert" && rng.chance(50) {
            options.push("map=certmap".to_string());
        }
        if kind == "hostssl" && m != "cert" && rng.chance(40) {
            options.push(
                rng.pick(&["clientcert=verify-ca", "clientcert=verify-full"])
                    .to_string(),
            );
        }
        m.to_string()
    };
    Line::Rule {
        kind: kind.to_string(),
        db,
        user,
        addr,
        method,
        options,
        comment: rng.chance(15),
    }
}

/// A pg_hba.conf body (the sentinel line comes first, added by [`render`]). About a
/// quarter of the files hold invalid lines.
pub fn file(rng: &mut Rng) -> Vec<Line> {
    let n = 6 + rng.below(14);
    let mut lines = Vec::with_capacity(n + 3);
    for _ in 0..n {
        match rng.below(20) {
            0 => lines.push(Line::Comment(format!("# comment {}", rng.below(1000)))),
            1 => lines.push(Line::Blank),
            _ => lines.push(rule(rng)),
        }
    }
    if rng.chance(25) {
        for _ in 0..1 + rng.below(2) {
            let at = rng.below(lines.len() + 1);
            lines.insert(at, Line::Invalid(rng.pick(INVALID).to_string()));
        }
    }
    lines
}

/// The file's text. `password_everywhere` gives the variant used to learn matched lines:
/// every method `password`, no options (matching depends on neither).
pub fn render(lines: &[Line], sentinel: &str, password_everywhere: bool) -> String {
    let mut out = format!("host    all     {sentinel}    127.0.0.254/32    password\n");
    for line in lines {
        match line {
            Line::Comment(c) => out.push_str(c),
            Line::Blank => {}
            Line::Invalid(text) if password_everywhere => out.push_str(&password_line(text)),
            Line::Invalid(text) => out.push_str(text),
            Line::Rule {
                kind,
                db,
                user,
                addr,
                method,
                options,
                comment,
            } => {
                let _ = write!(out, "{kind:<12} {db:<16} {user:<16}");
                if let Some(a) = addr {
                    let _ = write!(out, " {a:<24}");
                }
                if password_everywhere {
                    out.push_str(" password");
                } else {
                    let _ = write!(out, " {method}");
                    for o in options {
                        let _ = write!(out, " {o}");
                    }
                }
                if *comment {
                    out.push_str("   # why not");
                }
            }
        }
        out.push('\n');
    }
    out
}

/// A rule line with its method `password` and no options (a line that some versions
/// accept, such as `clientcert=1` on 13, is then decidable too); other lines as they are.
/// Lines use the one-column address form.
pub fn password_line(line: &str) -> String {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let keep = match tokens.first() {
        Some(&"local") => 3,
        Some(t) if t.starts_with("host") => 4,
        _ => return line.to_string(),
    };
    if tokens.len() <= keep {
        return line.to_string();
    }
    format!("{} password", tokens[..keep].join(" "))
}

/// One connection attempt.
#[derive(Debug, Clone)]
pub struct Probe {
    pub source: &'static str,
    pub ssl: bool,
    /// Index into [`CERTS`].
    pub cert: Option<usize>,
    pub user: &'static str,
    pub database: &'static str,
    /// `false`, `true` (physical) or `database` (logical).
    pub replication: &'static str,
}

pub fn probes(rng: &mut Rng, n: usize) -> Vec<Probe> {
    (0..n)
        .map(|_| {
            let source = SOURCES[rng.below(SOURCES.len())];
            let ssl = source != "local" && rng.chance(50);
            let cert = (ssl && rng.chance(60)).then(|| rng.below(CERTS.len()));
            Probe {
                source,
                ssl,
                cert,
                user: USERS[rng.below(USERS.len())],
                database: DATABASES[rng.below(DATABASES.len())],
                replication: match rng.below(10) {
                    0 => "true",
                    1 => "database",
                    _ => "false",
                },
            }
        })
        .collect()
}
