//! The performance claims, reproducible: generates a Patroni REST API workload, then times
//! in interleaved rounds (one process each, output to /dev/null) `patrol check` of one
//! patroni.yml, `patrol simulate --format json` of the whole batch, and an I/O floor (this
//! same binary, re-run as `floor`: it reads the samples with serde_json and writes one
//! decision per request in the contract's JSON shape, deciding nothing), and prints the
//! medians and the ratio of `simulate` to the floor.
//!
//! ```sh
//! cargo bench -p patrol --bench ratios                          # both cores
//! taskset -c 0 cargo bench -p patrol --bench ratios             # one core pinned
//! PATROL_BENCH_REQUESTS=1000000 PATROL_BENCH_ROUNDS=3 cargo bench -p patrol --bench ratios
//! ```
//!
//! `../shared/peers` has the reference floor (`io-floor`) and the Cedar and regorus
//! peers; this target needs none of them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = include_str!("../../examples/hardened/patroni.yml");

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift64*), so every run times the same batch.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// `n` requests in the samples file's shape: safe and unsafe handlers, sources inside and
/// outside the allowlist, every auth and client-certificate case.
fn samples(n: usize) -> String {
    let routes = [
        "GET /patroni",
        "GET /primary",
        "GET /replica",
        "GET /health",
        "HEAD /read-only",
        "OPTIONS /leader",
        "GET /metrics",
        "POST /restart",
        "POST /reload",
        "PATCH /config",
        "PUT /config",
        "POST /failover",
        "POST /switchover",
        "DELETE /switchover",
        "POST /reinitialize",
    ];
    let sources = [
        "10.0.1.11",
        "10.0.1.12",
        "10.0.2.7",
        "203.0.113.9",
        "127.0.0.1",
    ];
    let schemes = ["https", "http"];
    let auths = ["valid", "invalid", "none"];
    let certs = ["trusted", "untrusted", "none"];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = String::from("{\"context\": {}, \"connections\": [], \"requests\": [\n");
    for i in 0..n {
        let (method, path) = rng.pick(&routes).split_once(' ').unwrap_or(("GET", "/"));
        let (source, scheme) = (rng.pick(&sources), rng.pick(&schemes));
        let (auth, cert) = (rng.pick(&auths), rng.pick(&certs));
        let sep = if i + 1 == n { "" } else { "," };
        out.push_str(&format!(
            "{{\"source\": \"{source}\", \"method\": \"{method}\", \"path\": \"{path}\", \"scheme\": \"{scheme}\", \"auth\": \"{auth}\", \"client_cert\": \"{cert}\"}}{sep}\n"
        ));
    }
    out.push_str("]}\n");
    out
}

#[derive(serde::Deserialize)]
struct FloorSample {
    name: Option<String>,
    method: String,
}

#[derive(serde::Deserialize)]
struct FloorSamples {
    requests: Vec<FloorSample>,
}

#[derive(serde::Serialize)]
struct FloorDecision<'a> {
    sample: String,
    name: Option<&'a str>,
    verdict: &'static str,
    status: Option<u16>,
    stage: &'static str,
    file: &'static str,
    line: u32,
    method: &'a str,
    reason: &'static str,
    policy: &'static str,
}

#[derive(serde::Serialize)]
struct FloorOutput<'a> {
    decisions: Vec<FloorDecision<'a>>,
    findings: [(); 0],
    errors: [(); 0],
}

/// The I/O floor, as `../shared/peers/io-floor` does it: read the samples into structs
/// with serde_json, write a decision per request, decide nothing.
fn floor(samples: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(samples)?;
    let doc: FloorSamples = serde_json::from_str(&text)?;
    let decisions = doc
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let allow = r.method == "GET";
            FloorDecision {
                sample: format!("requests[{i}]"),
                name: r.name.as_deref(),
                verdict: if allow { "allow" } else { "deny" },
                status: if allow { None } else { Some(403) },
                stage: if allow { "passed" } else { "access" },
                file: "patroni.yml",
                line: 12,
                method: &r.method,
                reason: "restapi.allowlist (patroni.yml:12): source not in the allowlist",
                policy: "patroni-restapi",
            }
        })
        .collect();
    let out = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer(
        &mut out,
        &FloorOutput {
            decisions,
            findings: [],
            errors: [],
        },
    )?;
    out.write_all(b"\n")
}

/// The wall time of one run of `cmd`, output discarded; none if it could not start or
/// exited with a code other than 0 (clean) or 1 (findings).
fn time(cmd: &[&str]) -> Option<Duration> {
    let start = Instant::now();
    let status = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    let took = start.elapsed();
    matches!(status.code(), Some(0 | 1)).then_some(took)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("floor") {
        let path = args.get(2).map(PathBuf::from).unwrap_or_default();
        if let Err(e) = floor(&path) {
            eprintln!("floor: {e}");
            std::process::exit(3);
        }
        return;
    }
    // `cargo bench` passes `--bench`; a filter or other flag is not ours to refuse.
    let n = env_or("PATROL_BENCH_REQUESTS", 100_000);
    let rounds = env_or("PATROL_BENCH_ROUNDS", 5).max(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("patroni.yml");
    let samples_path = dir.path().join("samples.json");
    std::fs::write(&config, CONFIG).expect("writing patroni.yml");
    std::fs::write(&samples_path, samples(n)).expect("writing the samples");
    let patrol = env!("CARGO_BIN_EXE_patrol");
    let me = args[0].as_str();
    let (config, samples_path) = (
        config.to_str().expect("a UTF-8 path"),
        samples_path.to_str().expect("a UTF-8 path"),
    );
    let work: [(&str, Vec<&str>); 3] = [
        ("patrol check patroni.yml", vec![patrol, "check", config]),
        (
            "patrol simulate --format json",
            vec![
                patrol,
                "simulate",
                "--format",
                "json",
                "--samples",
                samples_path,
                config,
            ],
        ),
        ("I/O floor", vec![me, "floor", samples_path]),
    ];
    // Warm up: fills the compile cache and the page cache.
    for (name, cmd) in &work {
        if time(cmd).is_none() {
            eprintln!("`{name}` failed: {}", cmd.join(" "));
            std::process::exit(1);
        }
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); work.len()];
    for _ in 0..rounds {
        for (i, (_, cmd)) in work.iter().enumerate() {
            times[i].extend(time(cmd));
        }
    }
    let medians: Vec<Duration> = times.into_iter().map(median).collect();
    println!("{n} requests, {rounds} interleaved rounds, medians:");
    for ((name, _), m) in work.iter().zip(&medians) {
        println!("  {name:<32} {}", ms(*m));
    }
    println!(
        "  simulate / floor                 {:.2}x",
        medians[1].as_secs_f64() / medians[2].as_secs_f64()
    );
}
