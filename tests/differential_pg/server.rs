//! A real PostgreSQL of one major version for the differential test (from
//! `support::servers`): its own data directory and port on loopback (IPv4 and ::1), TLS
//! with a test CA (and a second, untrusted CA for rogue client certificates) when the
//! build has SSL, `log_connections`, roles and group roles with SCRAM, MD5 and no
//! passwords. Stopped when dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::servers::{self, Postgres};
use crate::support::{self, Cert, Guard, Pki};

pub struct Server {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub port: u16,
    pub log: PathBuf,
    pub bindir: PathBuf,
    pub psql: PathBuf,
    pub pg: Postgres,
    /// Whether the build has SSL (without, TLS probes and `hostssl` lines are left out).
    pub ssl: bool,
    /// Whether the build has GSSAPI (without, `hostgssenc` and `gss` lines are left out).
    pub gss: bool,
    /// Client certificates by the names of `cases::CERTS`.
    pub certs: Vec<(String, Cert)>,
    _guard: Guard,
}

const SETUP_SQL: &str = "\
CREATE ROLE admins NOLOGIN;
CREATE ROLE staff NOLOGIN IN ROLE admins;
CREATE ROLE alice LOGIN PASSWORD 'alice-pw' IN ROLE admins;
CREATE ROLE dave LOGIN PASSWORD 'dave-pw' IN ROLE staff;
CREATE ROLE carol LOGIN;
CREATE ROLE repl LOGIN REPLICATION PASSWORD 'repl-pw';
SET password_encryption = 'md5';
CREATE ROLE bob LOGIN PASSWORD 'bob-pw';
";

/// The roles as patrol's context lists them (role → roles it is a direct member of).
pub const ROLES: &[(&str, &[&str])] = &[
    ("postgres", &[]),
    ("admins", &[]),
    ("staff", &["admins"]),
    ("alice", &["admins"]),
    ("dave", &["staff"]),
    ("carol", &[]),
    ("repl", &[]),
    ("bob", &[]),
];
pub const PASSWORD_TYPES: &[(&str, &str)] = &[
    ("bob", "md5"),
    ("carol", "none"),
    ("admins", "none"),
    ("staff", "none"),
    ("postgres", "none"),
];

/// The password of a role that has one.
pub fn password(role: &str) -> Option<&'static str> {
    match role {
        "alice" => Some("alice-pw"),
        "dave" => Some("dave-pw"),
        "repl" => Some("repl-pw"),
        "bob" => Some("bob-pw"),
        _ => None,
    }
}

pub const IDENT: &str = "\
# MAPNAME  SYSTEM-USERNAME            PG-USERNAME
certmap    /^(.*)\\.example\\.com$     \\1
certmap    bob                        alice
othermap   root                       alice
";

impl Server {
    pub fn start(pg: &Postgres) -> Server {
        support::ensure_packages(&[("openssl", "openssl"), ("python3", "python3")]);
        let bindir = pg.bindir.clone();
        let dir = support::postgres_tempdir();
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        let log = root.join("server.log");

        let pki = Pki::new(&root, "test");
        let rogue = Pki::new(&root, "rogue");
        let server_cert = pki.server(
            "server",
            "localhost",
            &["IP:127.0.0.1", "IP:::1", "DNS:localhost"],
        );
        let certs = crate::cases::CERTS
            .iter()
            .map(|(name, cn, trusted)| {
                let ca = if *trusted { &pki } else { &rogue };
                (name.to_string(), ca.client(&format!("client-{name}"), cn))
            })
            .collect();

        let initdb = bindir.join("initdb");
        let mut args = vec![
            "-D",
            path(&data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ];
        // `--no-instructions` is 14+.
        if pg.major >= 14 {
            args.push("--no-instructions");
        }
        support::run_as_postgres(&initdb, args);
        let ssl = servers::has_ssl(pg, &data);
        let tls = if ssl {
            format!(
                "ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\nssl_ca_file = '{ca}'\n",
                cert = server_cert.cert.display(),
                key = server_cert.key.display(),
                ca = pki.ca.cert.display(),
            )
        } else {
            String::new()
        };
        let conf_path = data.join("postgresql.conf");
        let initial = std::fs::read_to_string(&conf_path).expect("read postgresql.conf");
        support::write_postgres_file(&data.join("pg_ident.conf"), IDENT);
        support::write_postgres_file(&data.join("dbs.txt"), "app\nadmins\n");
        support::write_postgres_file(&data.join("users.txt"), "alice bob\n");

        let pg_ctl = bindir.join("pg_ctl");
        let stop = {
            let (pg_ctl, data) = (pg_ctl.clone(), data.clone());
            move || {
                let _ = support::as_postgres(
                    &pg_ctl,
                    ["-D", path(&data), "-m", "immediate", "-w", "stop"],
                )
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            }
        };
        // The probes come from ::1 as well as 127.x: a server that could not bind one of
        // its listeners (the port taken there meanwhile) would answer "connection
        // refused" to every probe of that family, which is no verdict on pg_hba. Such a
        // start is stopped and retried on another port.
        let mut attempt = 0;
        let (port, guard) = loop {
            attempt += 1;
            let port = support::free_port();
            let conf = format!(
                "\n# patrol differential test\nlisten_addresses = '127.0.0.1,::1'\nport = {port}\n\
                 unix_socket_directories = '{root}'\n{tls}log_connections = on\nlog_line_prefix = '%m [%p] '\n\
                 password_encryption = 'scram-sha-256'\nfsync = off\nmax_connections = 20\nshared_buffers = 16MB\n",
                root = root.display(),
            );
            support::write_postgres_file(&conf_path, &format!("{initial}{conf}"));
            support::run_as_postgres(
                &pg_ctl,
                [
                    "-D",
                    path(&data),
                    "-l",
                    path(&log),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            let guard = Guard::new(stop.clone());
            let v4 = support::wait_for_port(port, Duration::from_secs(30));
            let v6 = v4
                && support::wait_for_address(
                    (std::net::Ipv6Addr::LOCALHOST, port).into(),
                    Duration::from_secs(5),
                );
            if v4 && v6 {
                break (port, guard);
            }
            drop(guard);
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(
                attempt < 3,
                "PostgreSQL {} did not listen on 127.0.0.1:{port} and [::1]:{port} after {attempt} \
                 starts on fresh ports; its log {}:\n{log_text}",
                pg.version,
                log.display()
            );
        };
        let psql = pg.psql.clone();
        support::run_as_postgres(
            &psql,
            [
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                path(&root),
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                SETUP_SQL,
            ],
        );
        let mut server = Server {
            dir,
            data,
            port,
            log,
            bindir,
            psql,
            pg: pg.clone(),
            ssl,
            gss: true,
            certs,
            _guard: guard,
        };
        // A build without GSSAPI logs "hostgssenc record cannot match because GSSAPI is
        // not supported by this build" for such a line (and refuses the `gss` method).
        server.gss = !server
            .hba_errors("hostgssenc all all 127.0.0.1/32 trust\n")
            .contains("not supported by this build");
        server
    }

    /// Installs a new pg_hba.conf and signals the server to reload it.
    pub fn reload(&self, text: &str) {
        support::write_postgres_file(&self.data.join("pg_hba.conf"), text);
        support::run_as_postgres(
            self.bindir.join("pg_ctl"),
            ["-D", path(&self.data), "reload"],
        );
    }

    pub fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0)
    }

    /// The log written since `offset`.
    pub fn log_since(&self, offset: u64) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&bytes[(offset as usize).min(bytes.len())..]).into_owned()
    }

    /// What the server says about `text` as a pg_hba.conf: `pg_hba_file_rules` parses the
    /// file on disk as a reload would; one `LINE: ERROR` row per invalid line (empty:
    /// accepted). The rules in force meanwhile let the `postgres` user in over the socket.
    pub fn hba_errors(&self, text: &str) -> String {
        self.reload("local all postgres trust\n");
        let query = |sql: &str| {
            support::as_postgres(
                &self.psql,
                [
                    "-X",
                    "-q",
                    "-At",
                    "-F",
                    ": ",
                    "-h",
                    path(self.dir.path()),
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
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run psql")
        };
        assert!(
            support::wait_until(Duration::from_secs(10), || query("select 1")
                .status
                .success()),
            "the server did not let the postgres user in after a reload"
        );
        // On disk only: `pg_hba_file_rules` reads the file, the rules in force stay.
        support::write_postgres_file(&self.data.join("pg_hba.conf"), text);
        let out = query("select line_number, error from pg_hba_file_rules where error is not null");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn hba_path(&self) -> PathBuf {
        self.data.join("pg_hba.conf")
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}
