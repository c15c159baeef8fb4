//! Fixes proven against a real PostgreSQL 15: for each deployment of
//! `tests/fixtures/deployments/` (each modelled on a public one, its first lines say
//! which), `check --fix` as it was before the proof (every policy patch applied, through
//! [`patrol::fix::converge`] with `prove: false`) and as it is now (`prove: true`) are
//! both applied; the resulting pg_hba.conf (a file, or the one Patroni writes from its
//! `pg_hba` list) is installed in a real server started with the deployment's effective
//! `ssl`, with every role's password stored as MD5 (what PostgreSQL 10–13 store by
//! default and what the inputs do not rule out), and every required connection flow
//! that patrol decided as allowed before the fix is sent by `tests/support/pg_probe.py`
//! from its source address (loopback), over the Unix socket as OS user `postgres` for
//! `local` flows. The proven fix must keep every such flow accepted; the unproven one
//! must lose at least one: the `hostssl`, `scram` and `peer` classes of issue 11.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use patrol::deployment::decide::{self, FlowVerdict};
use patrol::fix::{self, Options};
use patrol::run::{self, Plan, PolicyRun, PolicySource, Severity};
use patrol::wit;
use serde_json::{Value, json};

const PASSWORD: &str = "secret-pw";

/// The roles the fixtures use, created with MD5-stored passwords.
const ROLES_SQL: &str = "\
SET password_encryption = 'md5';
ALTER ROLE postgres PASSWORD 'secret-pw';
CREATE ROLE replicator LOGIN REPLICATION PASSWORD 'secret-pw';
CREATE ROLE rewind_user LOGIN PASSWORD 'secret-pw';
CREATE ROLE pgbouncer LOGIN PASSWORD 'secret-pw';
CREATE ROLE app LOGIN PASSWORD 'secret-pw';
CREATE DATABASE app;
";

fn plan(dir: &Path) -> Plan {
    let files = patrol::discover::discover(&[dir.to_path_buf()], &Default::default(), &[])
        .expect("read the fixture");
    Plan {
        files,
        policies: PolicySource::builtins()
            .into_iter()
            .map(|source| PolicyRun {
                source,
                settings: None,
            })
            .collect(),
        settings_by_name: Default::default(),
        samples: Default::default(),
        limits: Default::default(),
        verbose: false,
        bundle: None,
        certs: Default::default(),
        reserve_builtin_names: true,
        skipped: Vec::new(),
        adopt: Default::default(),
    }
}

/// The pg_hba text the server of `plan` reads: Patroni's list when it has one, else the
/// pg_hba.conf file.
fn hba_text(plan: &Plan) -> String {
    let docs = run::documents(plan);
    let rules = docs
        .iter()
        .find(|d| d.kind == patrol::formats::patroni_hba::KIND)
        .or_else(|| docs.iter().find(|d| d.kind == "pg-hba"))
        .map(|d| match &d.body {
            wit::Body::Hba(rules) => rules.iter().map(|r| r.raw.clone()).collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .expect("a pg_hba");
    rules.join("\n") + "\n"
}

struct Server {
    root: PathBuf,
    data: PathBuf,
    port: u16,
    bindir: PathBuf,
    _dir: tempfile::TempDir,
    _guard: support::Guard,
}

impl Server {
    fn start(ssl: bool) -> Server {
        let bindir = support::pg_bindir(15);
        let dir = support::postgres_tempdir();
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        let port = support::free_port();
        support::run_as_postgres(
            bindir.join("initdb"),
            [
                "-D",
                s(&data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "--no-instructions",
            ],
        );
        let mut ssl_conf = "ssl = off\n".to_string();
        if ssl {
            let pki = support::Pki::new(&root, "test");
            let cert = pki.server("server", "localhost", &["IP:127.0.0.1"]);
            ssl_conf = format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                cert.cert.display(),
                cert.key.display()
            );
            support::chown_postgres(&root);
        }
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n{ssl_conf}fsync = off\nmax_connections = 20\nshared_buffers = 16MB\nmax_wal_senders = 5\n",
            root.display()
        );
        let conf_path = data.join("postgresql.conf");
        let text = std::fs::read_to_string(&conf_path).expect("read postgresql.conf") + &conf;
        support::write_postgres_file(&conf_path, &text);
        let log = root.join("server.log");
        support::run_as_postgres(
            bindir.join("pg_ctl"),
            ["-D", s(&data), "-l", s(&log), "-w", "-t", "60", "start"],
        );
        let (stop, stop_data) = (bindir.join("pg_ctl"), data.clone());
        let guard = support::Guard::new(move || {
            let _ = support::as_postgres(
                &stop,
                ["-D", s(&stop_data), "-m", "immediate", "-w", "stop"],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        });
        assert!(
            support::wait_for_port(port, Duration::from_secs(30)),
            "PostgreSQL did not listen on {port}"
        );
        let psql = bindir.join("psql");
        support::run_as_postgres(
            &psql,
            [
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                s(&root),
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                ROLES_SQL,
            ],
        );
        Server {
            root,
            data,
            port,
            bindir,
            _dir: dir,
            _guard: guard,
        }
    }

    /// Installs a pg_hba.conf; panics when the server refuses it.
    fn install(&self, hba: &str) {
        support::write_postgres_file(&self.data.join("pg_hba.conf"), hba);
        support::run_as_postgres(self.bindir.join("pg_ctl"), ["-D", s(&self.data), "reload"]);
        std::thread::sleep(Duration::from_millis(300));
    }

    /// Whether the server lets each connection in (with the right password).
    fn accepts(&self, connections: &[wit::Connection]) -> Vec<(bool, String)> {
        let job = json!({
            "port": self.port,
            "socket_dir": self.root,
            "log": self.root.join("server.log"),
            "probes": connections.iter().map(|c| json!({
                "source": c.source.replacen("10.0.", "127.0.", 1), "ssl": c.ssl, "cert": null, "user": c.user,
                "database": if c.replication == wit::ReplicationMode::Physical { "postgres" } else { c.database.as_str() },
                "replication": if c.replication == wit::ReplicationMode::Physical { "true" } else { "false" },
                "password": PASSWORD,
            })).collect::<Vec<_>>(),
        });
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/pg_probe.py");
        // As OS user postgres: what `peer` sees for the `local` flows.
        let mut child = support::as_postgres("python3", [script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the prober");
        {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(job.to_string().as_bytes())
                .expect("write the job");
        }
        let out = child.wait_with_output().expect("wait for the prober");
        assert!(out.status.success(), "the prober failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("prober output is JSON");
                let ok = v["answer"] == "ok" || v["auth"] == "ok";
                (ok, l.to_string())
            })
            .collect()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Copies a fixture to a scratch directory.
fn scratch(name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/deployments")
        .join(name);
    let to = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deployments-{name}"));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).expect("mkdir");
    for e in std::fs::read_dir(&from).expect("fixture dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
    to
}

/// Runs one deployment: the connection flows allowed today, the pg_hba after the
/// unproven and the proven fixes, and what the real server says to each flow.
fn one(name: &str, ssl: bool) -> (usize, Vec<String>, Vec<String>) {
    let dir = scratch(name);
    let plan = plan(&dir);
    let outcome = run::run(&plan).expect("run");
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    let dep = outcome.deployment.clone().expect("a model");
    let decided = decide::decide(&plan, &outcome, &dep).expect("decide");
    let required: Vec<wit::Connection> = dep
        .flows
        .iter()
        .zip(&decided)
        .filter(|(_, d)| d.verdict == FlowVerdict::Allow)
        .filter_map(|(f, _)| match &f.call {
            wit::FlowCall::Connection(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    assert!(!required.is_empty(), "{name}: no allowed connection flow");
    let options = |prove| Options {
        fail_on: Some(Severity::Low),
        max_rounds: fix::MAX_ROUNDS,
        prove,
    };
    let unproven = fix::converge(plan.clone(), outcome.clone(), options(false)).expect("converge");
    let proven = fix::converge(plan.clone(), outcome.clone(), options(true)).expect("converge");
    assert!(!proven.withheld.is_empty(), "{name}: nothing withheld");
    let server = Server::start(ssl);
    let refused = |p: &Plan| -> Vec<String> {
        // The fixtures' 10.x addresses map onto loopback, in the rules and the sources.
        server.install(&hba_text(p).replace("10.0.", "127.0."));
        server
            .accepts(&required)
            .into_iter()
            .zip(&required)
            .filter(|((ok, _), _)| !ok)
            .map(|((_, why), c)| format!("{} as {}: {why}", c.source, c.user))
            .collect()
    };
    // Today's files: the server accepts every flow patrol says it allows.
    let before = refused(&plan);
    assert!(
        before.is_empty(),
        "{name}: the real server refuses flows patrol allows: {before:#?}"
    );
    (
        required.len(),
        refused(&unproven.plan),
        refused(&proven.plan),
    )
}

#[test]
#[ignore = "starts a real PostgreSQL 15; written but not yet run green (see the h/model report)"]
fn hostssl_while_ssl_is_off_is_withheld() {
    let (n, unproven, proven) = one("ssl-off-patroni", false);
    assert!(proven.is_empty(), "the proven fix broke flows: {proven:#?}");
    assert!(
        !unproven.is_empty(),
        "the unproven fix broke none of {n} flows"
    );
    println!(
        "ssl-off-patroni: {n} flows; unproven fix refused {}, proven fix refused 0",
        unproven.len()
    );
}

#[test]
#[ignore = "starts a real PostgreSQL 15; written but not yet run green (see the h/model report)"]
fn scram_with_md5_secrets_is_withheld() {
    let (n, unproven, proven) = one("md5-storage-unknown", false);
    assert!(proven.is_empty(), "the proven fix broke flows: {proven:#?}");
    assert!(
        !unproven.is_empty(),
        "the unproven fix broke none of {n} flows"
    );
    println!(
        "md5-storage-unknown: {n} flows; unproven fix refused {}, proven fix refused 0",
        unproven.len()
    );
}

#[test]
#[ignore = "starts a real PostgreSQL 15; written but not yet run green (see the h/model report)"]
fn peer_for_another_os_user_is_withheld() {
    let (n, unproven, proven) = one("pgbouncer-peer", false);
    assert!(proven.is_empty(), "the proven fix broke flows: {proven:#?}");
    assert!(
        !unproven.is_empty(),
        "the unproven fix broke none of {n} flows"
    );
    println!(
        "pgbouncer-peer: {n} flows; unproven fix refused {}, proven fix refused 0",
        unproven.len()
    );
}
