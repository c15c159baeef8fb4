#![allow(clippy::unwrap_used)]

//! Fixes proven against real servers (issue 11): for each deployment of [`CASES`] — the
//! synthetic ones of `tests/fixtures/deployments/` and real-world ones assembled from
//! `tests/realworld/` (provenance in its SOURCES.tsv) — `patrol check --fix` is run as
//! the CLI runs it ([`patrol::fix::converge`] with the proof on), and then:
//!
//! - PostgreSQL: the pg_hba the server reads (a file, or the one Patroni writes from its
//!   `pg_hba` list) before and after the fix is installed in a real PostgreSQL 15 started
//!   with the deployment's effective `ssl`, every role's password stored as MD5 (what
//!   PostgreSQL 10–13 store by default and what the inputs do not rule out), and every
//!   required connection flow is sent by `tests/support/pg_probe.py` from its source
//!   address (first octet mapped onto 127/8, in the rules too), over the Unix socket as
//!   OS user `postgres` for `local` flows. Every flow the server accepted before the fix
//!   it must accept after it.
//! - HAProxy: `haproxy -c` must accept every fixed HAProxy file it accepted before.
//! - For the three class fixtures, the fixes patrol made before the deployment model
//!   (`host` → `hostssl`, `md5` → `scram-sha-256`, `trust` → `peer` on `local` lines,
//!   applied to the same pg_hba) are sent too, and the server must refuse at least one
//!   flow after them: the check can fail, and fails on that behaviour.

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

/// The superuser's password, stored as MD5; [`Server::ensure_roles`] creates the other
/// roles and databases each deployment's flows name.
const ROLES_SQL: &str = "SET password_encryption = 'md5'; ALTER ROLE postgres PASSWORD 'secret-pw'";

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
        .find(|d| d.kind == patrol::formats::Kind::PatroniPgHba)
        .or_else(|| docs.iter().find(|d| d.kind == patrol::formats::Kind::PgHba))
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

    /// Creates every role and database the connections name that the server lacks, the
    /// passwords stored as MD5 (with a trust-only pg_hba while doing so).
    fn ensure_roles(&self, connections: &[wit::Connection]) {
        self.install("local all all trust\n");
        let psql = |sql: &str| -> String {
            let out = support::as_postgres(
                self.bindir.join("psql"),
                [
                    "-X",
                    "-q",
                    "-At",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    s(&self.root),
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-c",
                    sql,
                ],
            )
            .output()
            .expect("run psql");
            assert!(
                out.status.success(),
                "psql {sql}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
        let roles: Vec<String> = psql("SELECT rolname FROM pg_roles")
            .lines()
            .map(str::to_string)
            .collect();
        let dbs: Vec<String> = psql("SELECT datname FROM pg_database")
            .lines()
            .map(str::to_string)
            .collect();
        let mut made = std::collections::BTreeSet::new();
        for c in connections {
            if !roles.contains(&c.user) && made.insert(("r", c.user.clone())) {
                psql(&format!(
                    "SET password_encryption = 'md5'; CREATE ROLE {} LOGIN REPLICATION PASSWORD '{PASSWORD}'",
                    quote(&c.user)
                ));
            }
            let db = &c.database;
            if c.replication != wit::ReplicationMode::Physical
                && !["all", "replication", "sameuser", "samerole", "samegroup"]
                    .contains(&db.as_str())
                && !dbs.contains(db)
                && made.insert(("d", db.clone()))
            {
                psql(&format!("CREATE DATABASE {}", quote(db)));
            }
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

/// One deployment to prove: its inputs (repository-relative files or directories),
/// where it comes from, and the pre-model fix class that breaks it, if it is one of the
/// class fixtures.
struct Case {
    name: &'static str,
    inputs: &'static [&'static str],
    from: &'static str,
    naive: Option<Naive>,
}

/// The blanket pg_hba rewrites patrol made before the deployment model.
#[derive(Clone, Copy, Debug)]
enum Naive {
    /// `host` → `hostssl`.
    HostSsl,
    /// `md5`/`password` → `scram-sha-256`.
    Scram,
    /// `trust` → `peer` on `local` lines.
    Peer,
}

const CASES: &[Case] = &[
    Case {
        name: "ssl-off-patroni",
        inputs: &["tests/fixtures/deployments/ssl-off-patroni"],
        from: "Patroni's postgres0.yml with ssl off (synthetic)",
        naive: Some(Naive::HostSsl),
    },
    Case {
        name: "md5-storage-unknown",
        inputs: &["tests/fixtures/deployments/md5-storage-unknown"],
        from: "an autobase node on PostgreSQL 13 (synthetic)",
        naive: Some(Naive::Scram),
    },
    Case {
        name: "pgbouncer-peer",
        inputs: &["tests/fixtures/deployments/pgbouncer-peer"],
        from: "PgBouncer auth_user over the socket (synthetic)",
        naive: Some(Naive::Peer),
    },
    Case {
        name: "patroni-examples",
        inputs: &[
            "tests/realworld/zalando-patroni/postgres0.yml",
            "tests/realworld/zalando-patroni/postgres1.yml",
            "tests/realworld/zalando-patroni/postgres2.yml",
            "tests/realworld/zalando-patroni/haproxy.cfg",
        ],
        from: "zalando/patroni example set",
        naive: None,
    },
    Case {
        name: "patroni-1.6.5",
        inputs: &["tests/realworld/zalando-patroni-v1.6.5"],
        from: "zalando/patroni v1.6.5 postgres0.yml + haproxy.cfg",
        naive: None,
    },
    Case {
        name: "patroni-docker",
        inputs: &[
            "tests/realworld/zalando-patroni/docker-compose.yml",
            "tests/realworld/zalando-patroni/docker/patroni.env",
            "tests/realworld/zalando-patroni/haproxy.cfg",
        ],
        from: "zalando/patroni docker-compose with its env file",
        naive: None,
    },
    Case {
        name: "spg-controls",
        inputs: &["tests/realworld/spg-controls"],
        from: "SPG-Controls/patroni-etcd-docker",
        naive: None,
    },
    Case {
        name: "seocahill-ha-stack",
        inputs: &["tests/realworld/seocahill-ha-stack"],
        from: "seocahill/ha-postgres-docker-stack",
        naive: None,
    },
    Case {
        name: "autobase-console",
        inputs: &["tests/realworld/postgresql-cluster-console"],
        from: "vitabaks/postgresql_cluster (autobase) console",
        naive: None,
    },
    Case {
        name: "crunchy-ssl",
        inputs: &["tests/realworld/crunchy-containers/custom-config-ssl"],
        from: "CrunchyData/crunchy-containers custom-config-ssl",
        naive: None,
    },
    Case {
        name: "crunchy-primary",
        inputs: &[
            "tests/realworld/crunchy-containers/postgres-common",
            "tests/realworld/crunchy-containers/pgbouncer",
        ],
        from: "CrunchyData/crunchy-containers postgres-common + pgbouncer",
        naive: None,
    },
    Case {
        name: "debian-15",
        inputs: &["tests/realworld/debian-postgresql-15"],
        from: "Debian's PostgreSQL 15 cluster files",
        naive: None,
    },
    Case {
        name: "gitlab-omnibus",
        inputs: &["tests/realworld/omnibus-gitlab-docker"],
        from: "gitlabhq/omnibus-gitlab docker gitlab.rb",
        naive: None,
    },
    Case {
        name: "pg-auto-failover",
        inputs: &["tests/realworld/pg-auto-failover/tutorial"],
        from: "hapostgres/pg_auto_failover tutorial",
        naive: None,
    },
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies a case's inputs to a scratch directory (a directory's files at the top, a
/// file by its name).
fn scratch(case: &Case) -> PathBuf {
    let to = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("deployments-{}", case.name));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).expect("mkdir");
    for input in case.inputs {
        let from = repo().join(input);
        copy(&from, &to.join(from.file_name().expect("a name")));
    }
    to
}

fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read dir") {
            let e = e.expect("entry");
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
}

/// Every IPv4 literal with its first octet replaced by 127, so that rules and sources
/// keep their relation (for every mask of /8 or longer) and live on loopback.
fn to_loopback(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if boundary && bytes[i].is_ascii_digit() {
            let end = text[i..]
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .map_or(text.len(), |n| i + n);
            let word = &text[i..end];
            let parts: Vec<&str> = word.split('.').collect();
            if parts.len() == 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()) {
                out.push_str("127.");
                out.push_str(&parts[1..].join("."));
                i = end;
                continue;
            }
            out.push_str(word);
            i = end;
            continue;
        }
        let c = text[i..].chars().next().expect("a char");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The pre-model rewrite of a pg_hba text.
fn naive(hba: &str, class: Naive) -> String {
    hba.lines()
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.is_empty() || words[0].starts_with('#') {
                return line.to_string();
            }
            let mut words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            match class {
                Naive::HostSsl if words[0] == "host" => words[0] = "hostssl".into(),
                Naive::Scram => {
                    for w in words.iter_mut().skip(3) {
                        if w == "md5" || w == "password" {
                            *w = "scram-sha-256".into();
                        }
                    }
                }
                Naive::Peer if words[0] == "local" => {
                    if let Some(w) = words.iter_mut().skip(3).find(|w| *w == "trust") {
                        *w = "peer".into();
                    }
                }
                _ => {}
            }
            words.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The effective `ssl` of the deployment: on only when a member's effective settings say
/// so (unknown counts as off, the server then refuses `hostssl`).
fn ssl_on(dep: &wit::Deployment) -> bool {
    dep.clusters
        .iter()
        .flat_map(|c| &c.members)
        .flat_map(|m| &m.settings)
        .any(|s| {
            s.name == "ssl"
                && matches!(
                    s.value.to_ascii_lowercase().as_str(),
                    "on" | "true" | "yes" | "1"
                )
        })
}

/// Whether `haproxy -c` accepts the file.
fn haproxy_accepts(path: &Path) -> (bool, String) {
    support::ensure_packages(&[("haproxy", "haproxy")]);
    let out = std::process::Command::new("haproxy")
        .args(["-c", "-f"])
        .arg(path)
        .output()
        .expect("run haproxy -c");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join(" | "),
    )
}

/// What one case gave.
#[derive(Default)]
struct Tally {
    fixes: usize,
    withheld: usize,
    flows: usize,
    probed: usize,
    accepted_before: usize,
    haproxy: usize,
    failures: Vec<String>,
    notes: Vec<String>,
}

fn prove_case(case: &Case, servers: &mut [Option<Server>; 2]) -> Tally {
    let mut t = Tally::default();
    let dir = scratch(case);
    let plan = plan(&dir);
    let outcome = run::run(&plan).expect("run");
    assert!(
        outcome.errors.is_empty(),
        "{}: {:?}",
        case.name,
        outcome.errors
    );
    let dep = outcome.deployment.clone().expect("a model");
    let decided = decide::decide(&plan, &outcome, &dep).expect("decide");
    t.flows = dep.flows.len();
    let required: Vec<wit::Connection> = dep
        .flows
        .iter()
        .zip(&decided)
        .filter(|(_, d)| d.verdict == FlowVerdict::Allow)
        .filter_map(|(f, _)| match &f.call {
            wit::FlowCall::Connection(c) => Some(c.clone()),
            _ => None,
        })
        .filter(|c| c.source == "local" || c.source.parse::<std::net::IpAddr>().is_ok())
        .collect();
    let converged = fix::converge(
        plan.clone(),
        outcome.clone(),
        Options {
            fail_on: Some(Severity::Low),
            max_rounds: fix::MAX_ROUNDS,
            prove: true,
        },
    )
    .expect("converge");
    t.fixes = converged.changes.len();
    t.withheld = converged.withheld.len();

    // PostgreSQL: the flows the server accepts before, after the fix.
    let docs = run::documents(&plan);
    let has_hba = docs.iter().any(|d| {
        d.kind == patrol::formats::Kind::PatroniPgHba || d.kind == patrol::formats::Kind::PgHba
    });
    if has_hba && !required.is_empty() {
        let ssl = ssl_on(&dep);
        let server = servers[usize::from(ssl)].get_or_insert_with(|| Server::start(ssl));
        server.ensure_roles(&required);
        let required: Vec<wit::Connection> = required
            .iter()
            .map(|c| wit::Connection {
                source: to_loopback(&c.source),
                ..c.clone()
            })
            .collect();
        let ok = |hba: &str| -> Vec<bool> {
            server.install(&to_loopback(hba));
            server
                .accepts(&required)
                .into_iter()
                .map(|(ok, _)| ok)
                .collect()
        };
        let before_text = hba_text(&plan);
        let before = ok(&before_text);
        t.probed = required.len();
        t.accepted_before = before.iter().filter(|b| **b).count();
        let after = ok(&hba_text(&converged.plan));
        for ((b, a), c) in before.iter().zip(&after).zip(&required) {
            if *b && !*a {
                t.failures.push(format!(
                    "{}: the fix made the server refuse {} as `{}` to `{}`",
                    case.name, c.source, c.user, c.database
                ));
            }
        }
        if let Some(class) = case.naive {
            let old = ok(&naive(&before_text, class));
            let lost = before.iter().zip(&old).filter(|(b, o)| **b && !**o).count();
            if lost == 0 {
                t.failures.push(format!(
                    "{}: the pre-model {class:?} rewrite broke none of {} flows: the check cannot fail",
                    case.name, t.accepted_before
                ));
            } else {
                t.notes.push(format!(
                    "pre-model {class:?} rewrite: server refused {lost} flows"
                ));
            }
        }
    } else {
        t.notes.push(if has_hba {
            "no allowed connection flow from an address".to_string()
        } else {
            "no pg_hba among the inputs".to_string()
        });
    }

    // HAProxy: `haproxy -c` on each fixed file it accepted before.
    for change in converged.changes.iter() {
        let Some(file) = plan.files.iter().find(|f| f.display == change.file) else {
            continue;
        };
        if file.kind != patrol::formats::Kind::Haproxy {
            continue;
        }
        let check = |text: &str| {
            let p = dir.join(format!("{}.check.cfg", case.name));
            std::fs::write(&p, text).expect("write");
            haproxy_accepts(&p)
        };
        let (before, why) = check(&change.before);
        if !before {
            t.notes.push(format!(
                "haproxy -c refuses {} before the fix: {why}",
                change.file
            ));
            continue;
        }
        t.haproxy += 1;
        let (after, why) = check(&change.after);
        if !after {
            t.failures.push(format!(
                "{}: haproxy -c refuses the fixed {}: {why}",
                case.name, change.file
            ));
        }
    }
    t
}

#[test]
fn fixes_keep_every_flow_the_real_servers_accepted() {
    let mut servers: [Option<Server>; 2] = [None, None];
    let mut failures = Vec::new();
    println!(
        "deployment | from | files fixed | fixes withheld | required flows | probed | accepted before → kept | haproxy -c"
    );
    for case in CASES {
        let t = prove_case(case, &mut servers);
        println!(
            "{} | {} | {} | {} | {} | {} | {} → {} | {} {}",
            case.name,
            case.from,
            t.fixes,
            t.withheld,
            t.flows,
            t.probed,
            t.accepted_before,
            t.accepted_before - t.failures.iter().filter(|f| f.contains("refuse ")).count(),
            t.haproxy,
            if t.notes.is_empty() {
                String::new()
            } else {
                format!("({})", t.notes.join("; "))
            }
        );
        failures.extend(t.failures);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn loopback_mapping_keeps_cidr_relations() {
    assert_eq!(
        to_loopback("host all all 10.0.1.0/24 md5\nhost all all 0.0.0.0/0 md5 # 192.168.1.5"),
        "host all all 127.0.1.0/24 md5\nhost all all 127.0.0.0/0 md5 # 127.168.1.5"
    );
    assert_eq!(
        to_loopback("v1.2.3.4.5 local ::1/128"),
        "v1.2.3.4.5 local ::1/128"
    );
}
