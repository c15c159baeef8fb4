//! How `patrol check` grows with the deployment: generates deployments at 1×, 10× and
//! 100× (a pg_hba.conf of 100, 1,000 and 10,000 lines with a fixable finding on about
//! every third line, beside 1, 5 and 50 Patroni YAMLs and a postgresql.conf that turns
//! `ssl` on, so that the pg_hba fixes are offered and proven), times `patrol check DIR
//! --format json` on each and prints the seconds, the peak memory of the largest child so
//! far and the time per pg_hba line (flat when nothing is quadratic).
//!
//! ```sh
//! cargo bench -p patrol --bench scale
//! PATROL_SCALE_OUT=/tmp/scale cargo bench -p patrol --bench scale   # keep the deployments
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const PATRONI: &str = include_str!("../../examples/insecure/patroni.yml");

/// A small deterministic generator (xorshift64*), so every run checks the same files.
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

/// A pg_hba.conf of `lines` lines: every connection type, database, user and method
/// mix, some lines the server refuses (`cert` without TLS).
fn pg_hba(lines: usize, rng: &mut Rng) -> String {
    let mut text = format!("# generated: {lines} lines\nlocal all postgres peer\n");
    for i in 0..lines.saturating_sub(2) {
        let kind = rng.pick(&["host", "hostssl", "hostssl", "hostnossl"]);
        let db = match rng.below(4) {
            0 => "all".to_string(),
            1 => format!("app{}", i % 97),
            2 => "replication".to_string(),
            _ => "sameuser".to_string(),
        };
        let user = match rng.below(3) {
            0 => "all".to_string(),
            1 => format!("u{}", i % 211),
            _ => format!("+grp{}", i % 13),
        };
        let (a, b, c) = (1 + rng.below(222), rng.below(256), rng.below(256));
        let addr = match rng.pick(&["8", "16", "24", "32"]) {
            "32" => format!("{a}.{b}.{c}.{}/32", 1 + rng.below(254)),
            bits => format!("{a}.{b}.{c}.0/{bits}"),
        };
        let method = rng.pick(&["scram-sha-256", "scram-sha-256", "cert", "reject", "md5"]);
        text.push_str(&format!("{kind} {db} {user} {addr} {method}\n"));
    }
    text
}

/// Writes the deployment of `scale` (1, 10, 100…) under `dir`.
fn generate(dir: &Path, scale: usize) -> std::io::Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ scale as u64);
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("pg_hba.conf"), pg_hba(100 * scale, &mut rng))?;
    std::fs::write(
        dir.join("postgresql.conf"),
        "listen_addresses = '*'\nssl = on\nssl_cert_file = '/etc/ssl/server.crt'\n\
         ssl_key_file = '/etc/ssl/server.key'\npassword_encryption = scram-sha-256\n",
    )?;
    for n in 0..scale.div_ceil(2) {
        let node = dir.join(format!("node{n:04}"));
        std::fs::create_dir_all(&node)?;
        std::fs::write(
            node.join("patroni.yml"),
            PATRONI.replace("pg-node1", &format!("pg-node{n}")),
        )?;
    }
    Ok(())
}

/// The peak resident memory of the largest child waited for so far, in KiB.
fn children_max_rss() -> i64 {
    // SAFETY: `getrusage` fills the struct it is given; a zeroed one is a valid start.
    #[allow(unsafe_code)]
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    }
}

fn main() {
    let patrol = PathBuf::from(env!("CARGO_BIN_EXE_patrol"));
    let kept = std::env::var_os("PATROL_SCALE_OUT").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let root = kept.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    println!("scale  pg_hba lines  Patroni YAMLs  check (s)  peak (KiB)  µs per line");
    for scale in [1, 10, 100] {
        let dir = root.join(format!("{scale}x"));
        generate(&dir, scale).expect("the deployment is written");
        let run = || {
            let start = Instant::now();
            let status = Command::new(&patrol)
                .args(["check", "--format", "json"])
                .arg(&dir)
                .stdout(Stdio::null())
                .status()
                .expect("patrol runs");
            assert!(
                status.code().is_some_and(|c| c <= 1),
                "patrol failed: {status}"
            );
            start.elapsed().as_secs_f64()
        };
        run(); // the compile cache, warm
        let secs = run();
        let lines = 100 * scale;
        println!(
            "{scale:>4}x  {lines:>12}  {:>13}  {secs:>9.3}  {:>10}  {:>11.1}",
            scale.div_ceil(2),
            children_max_rss(),
            secs * 1e6 / lines as f64
        );
    }
    if let Some(dir) = kept {
        println!("deployments kept in {}", dir.display());
    }
}
