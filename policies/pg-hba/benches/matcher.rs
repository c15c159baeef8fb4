//! The speed targets of the pg_hba matcher, natively: a 10,000-line pg_hba.conf with
//! 100,000 connection samples decided in at most 1 s, and the shadowed/redundant-line
//! analysis of that file in at most 2 s, on one core.
//!
//! `taskset -c 0 cargo bench -p pg-hba` (the numbers in the report were measured so).
//! Each measured iteration includes compiling the rules (`Matcher::new`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use policy_guest::hba::testing::{context, rules};
use policy_guest::hba::{Matcher, ServerFacts};
use policy_guest::{ClientCertificate, Connection, HbaRule, ReplicationMode};

/// A small deterministic generator (xorshift64*), so every run sees the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A pg_hba.conf of `n` lines shaped like large real ones: per-application lines for
/// specific users and networks, some groups, keywords and IPv6, a few catch-alls.
fn big_file(n: usize, rng: &mut Rng) -> String {
    let mut out = String::new();
    for i in 0..n {
        let kind = rng.pick(&["host", "host", "hostssl", "hostssl", "hostnossl", "local"]);
        let db = match rng.below(10) {
            0 => "all".to_string(),
            1 => "replication".to_string(),
            2 => "sameuser".to_string(),
            3 => format!("db{},db{}", rng.below(200), rng.below(200)),
            _ => format!("db{}", rng.below(200)),
        };
        let user = match rng.below(10) {
            0 => "all".to_string(),
            1 => format!("+g{}", rng.below(30)),
            _ => format!("u{}", rng.below(2000)),
        };
        let method = rng.pick(&[
            "scram-sha-256",
            "scram-sha-256",
            "md5",
            "trust",
            "reject",
            "cert",
            "password",
        ]);
        let method = if kind == "local" && method == "cert" {
            "peer"
        } else {
            method
        };
        let method = if kind != "hostssl" && method == "cert" {
            "md5"
        } else {
            method
        };
        if kind == "local" {
            out.push_str(&format!("local {db} {user} {method}\n"));
            continue;
        }
        let addr = match rng.below(20) {
            0 => "all".to_string(),
            1 => "samenet".to_string(),
            2 => format!("fd00:{:x}::/{}", rng.below(0xffff), 32 + rng.below(97)),
            _ => {
                let prefix = 8 + rng.below(25);
                format!(
                    "10.{}.{}.{}/{prefix}",
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                )
            }
        };
        let _ = i;
        out.push_str(&format!("{kind} {db} {user} {addr} {method}\n"));
    }
    out
}

fn connections(n: usize, rng: &mut Rng) -> Vec<Connection> {
    (0..n)
        .map(|_| {
            let local = rng.below(20) == 0;
            let v6 = rng.below(10) == 0;
            let source = if local {
                "local".to_string()
            } else if v6 {
                format!("fd00:{:x}::{:x}", rng.below(0xffff), rng.below(0xffff))
            } else {
                format!(
                    "10.{}.{}.{}",
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                )
            };
            let ssl = rng.below(2) == 0;
            Connection {
                name: None,
                source,
                ssl,
                client_cert: (ssl && rng.below(3) == 0).then(|| ClientCertificate {
                    cn: format!("u{}", rng.below(2000)),
                    trusted: true,
                }),
                user: format!("u{}", rng.below(2000)),
                database: format!("db{}", rng.below(200)),
                replication: match rng.below(20) {
                    0 => ReplicationMode::Physical,
                    1 => ReplicationMode::Logical,
                    _ => ReplicationMode::None,
                },
            }
        })
        .collect()
}

fn fixture() -> (Vec<HbaRule>, Vec<Connection>) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let file = big_file(10_000, &mut rng);
    (rules(&file), connections(100_000, &mut rng))
}

fn roles() -> Vec<(String, Vec<String>)> {
    (0..2000)
        .map(|i| {
            (
                format!("u{i}"),
                vec![format!("g{}", i % 30), format!("g{}", (i * 7) % 30)],
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (rules, conns) = fixture();
    let mut ctx = context(15);
    ctx.roles = Some(roles());
    let mut group = c.benchmark_group("pg_hba 10k lines");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("simulate 100k connections", |b| {
        b.iter(|| {
            let m = Matcher::new(&rules, &[], &ctx, ServerFacts::tls_with_ca());
            let mut s = m.scratch();
            let mut allowed = 0usize;
            for conn in &conns {
                let o = m.decide(conn, &mut s);
                allowed += usize::from(o.verdict == policy_guest::Verdict::Allow);
            }
            black_box(allowed)
        })
    });
    group.bench_function("shadowed and redundant lines", |b| {
        b.iter(|| {
            let m = Matcher::new(&rules, &[], &ctx, ServerFacts::tls_with_ca());
            let same = |a: usize, b: usize| {
                rules[a].method == rules[b].method && rules[a].options == rules[b].options
            };
            black_box(m.shadowed(same).len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
