//! Helpers for the integration tests that start real servers (PostgreSQL, Patroni, etcd).
//!
//! Every server a test starts listens on loopback only, on a port from [`free_port`], with
//! its data in a temporary directory, and is stopped by a [`Guard`] when the test ends —
//! also when it panics. PostgreSQL and Patroni refuse to run as root, so they run as the
//! `postgres` OS user through [`as_postgres`] in a directory from [`postgres_tempdir`].
//! Missing binaries are installed from Debian with [`ensure_packages`] (serialized by a
//! lock file, since several test binaries may ask at once). Certificates come from the
//! `openssl` CLI ([`Pki`]).
//!
//! Each test file includes this module with `mod support;`; not every test uses every
//! helper, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod servers;

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The OS user that runs PostgreSQL and Patroni.
pub const POSTGRES_USER: &str = "postgres";

/// Makes sure every `(binary, debian-package)` pair is available: a binary given as a path
/// (`/usr/lib/postgresql/15/bin/pg_ctl`) must exist, a bare name must be on `PATH`. The
/// packages of the missing ones are installed with apt-get, under a lock file so that
/// parallel test binaries don't run apt at the same time. Panics with a clear message
/// when something is missing and the tests don't run as root.
pub fn ensure_packages(wanted: &[(&str, &str)]) {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(binary, _)| !binary_available(binary))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return;
    }
    if !is_root() {
        panic!(
            "the integration tests need the Debian packages {missing:?} (binaries {:?} not found) \
             and are not running as root, so they cannot install them; install them with \
             `apt-get install -y {}`",
            wanted.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
            missing.join(" ")
        );
    }
    let script = format!(
        "apt-get update && apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    let status = Command::new("flock")
        .args(["/tmp/patrol-apt.lock", "sh", "-c", &script])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .expect("could not run `flock` to install packages with apt-get");
    assert!(status.success(), "`{script}` failed with {status}");
    for (binary, package) in wanted {
        assert!(
            binary_available(binary),
            "`{binary}` is still missing after installing `{package}`"
        );
    }
}

fn binary_available(binary: &str) -> bool {
    if binary.contains('/') {
        return Path::new(binary).exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
        .unwrap_or(false)
}

/// Whether the tests run as root (uid 0).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The `bin` directory of Debian's PostgreSQL `major` (`/usr/lib/postgresql/15/bin`),
/// installing the `postgresql-<major>` package when it is missing.
pub fn pg_bindir(major: u32) -> PathBuf {
    let dir = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    let pg_ctl = dir.join("pg_ctl");
    let package = format!("postgresql-{major}");
    ensure_packages(&[(pg_ctl.to_str().expect("utf-8 path"), &package)]);
    dir
}

/// A TCP port that nothing holds right now on 127.0.0.1 nor on ::1, from below the
/// kernel's ephemeral range (32768-60999 by default): a port the OS hands out for `:0`
/// is one every client socket of the tests (the probes bind `::1` and `127.x` sources)
/// may take at any moment, and a server then fails to bind its `::1` listener and runs
/// on IPv4 only. Ports handed out once are never handed out again by this process, so
/// two threads of one test binary never race for one. Test binaries run one after the
/// other, and each starts from its own offset (its pid).
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::net::{Ipv6Addr, SocketAddrV6};
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    for i in 0..SPAN {
        let port = (LOW + (start + i * 7) % SPAN) as u16;
        if given.contains(&port) {
            continue;
        }
        let v4 = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        let v6 = TcpListener::bind(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0));
        // ::1 may be missing on a host without IPv6; only "in use" rules the port out.
        let v6_free = match &v6 {
            Ok(_) => true,
            Err(e) => e.kind() != std::io::ErrorKind::AddrInUse,
        };
        if v4.is_ok() && v6_free {
            given.insert(port);
            return port;
        }
    }
    panic!(
        "no free TCP port between {LOW} and {} on 127.0.0.1 and ::1",
        LOW + SPAN
    )
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    wait_for_address(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(), timeout)
}

/// Waits until something accepts TCP connections on `address`.
pub fn wait_for_address(address: std::net::SocketAddr, timeout: Duration) -> bool {
    wait_until(timeout, || {
        TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
    })
}

/// Polls `ready` every 50 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A command that runs `program args…` as the `postgres` OS user (through `runuser`
/// when the tests run as root; as the current user otherwise).
pub fn as_postgres<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: impl IntoIterator<Item = S>,
) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", POSTGRES_USER, "--"])
            .arg(program)
            .args(args);
        cmd
    } else {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd
    }
}

/// Runs `program args…` as the `postgres` user, waits, and panics with its output when
/// it fails.
pub fn run_as_postgres<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: impl IntoIterator<Item = S>,
) -> Output {
    let mut cmd = as_postgres(program, args);
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A temporary directory owned by the `postgres` user (mode 0700), removed on drop.
pub fn postgres_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("patrol-test-")
        .tempdir()
        .expect("create a temporary directory");
    chown_postgres(dir.path());
    dir
}

/// Gives `path` to the `postgres` user (when running as root; a no-op otherwise).
pub fn chown_postgres(path: &Path) {
    if !is_root() {
        return;
    }
    let status = Command::new("chown")
        .args(["-R", &format!("{POSTGRES_USER}:{POSTGRES_USER}")])
        .arg(path)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown of {} failed", path.display());
}

/// Writes `text` to `path` and gives the file to the `postgres` user.
pub fn write_postgres_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    chown_postgres(path);
}

/// Runs its action once when dropped: stops a server at the end of a test, also when the
/// test panics.
pub struct Guard {
    action: Option<Box<dyn FnOnce()>>,
}

impl Guard {
    /// A guard that runs `action` on drop.
    pub fn new(action: impl FnOnce() + 'static) -> Self {
        Guard {
            action: Some(Box::new(action)),
        }
    }

    /// A guard that terminates `child` and its whole process group on drop. Spawn the
    /// child with [`spawn_in_group`] so that processes it starts (runuser → patroni →
    /// postgres) are stopped too.
    pub fn child(child: Child) -> Self {
        Guard::new(move || stop_group(child))
    }

    /// Forgets the action (the test stopped the server itself).
    pub fn disarm(mut self) {
        self.action = None;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(action) = self.action.take() {
            action();
        }
    }
}

/// Spawns `cmd` as the leader of a new process group, so that [`Guard::child`] can stop
/// it with everything it started.
pub fn spawn_in_group(cmd: &mut Command) -> Child {
    cmd.process_group(0);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("could not start {cmd:?}: {e}"))
}

/// Sends SIGTERM to the process group of `child`, waits up to 10 s, then SIGKILL.
pub fn stop_group(mut child: Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill")
        .args(["-TERM", "--", &group])
        .stderr(Stdio::null())
        .status();
    let stopped = wait_until(Duration::from_secs(10), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !stopped {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }
}

/// A certificate and its private key.
#[derive(Debug, Clone)]
pub struct Cert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A throw-away certificate authority made with the `openssl` CLI (EC P-256 keys, valid
/// for two days). Files live in `dir` and belong to the `postgres` user.
#[derive(Debug, Clone)]
pub struct Pki {
    pub dir: PathBuf,
    pub ca: Cert,
}

impl Pki {
    /// Creates a CA named `name` (files `<name>-ca.crt`, `<name>-ca.key`) with subject CN
    /// `<name> test CA`.
    pub fn new(dir: &Path, name: &str) -> Self {
        ensure_packages(&[("openssl", "openssl")]);
        let ca = Cert {
            cert: dir.join(format!("{name}-ca.crt")),
            key: dir.join(format!("{name}-ca.key")),
        };
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-keyout",
            path_str(&ca.key),
            "-out",
            path_str(&ca.cert),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        let pki = Pki {
            dir: dir.to_path_buf(),
            ca,
        };
        pki.finish(&pki.ca);
        pki
    }

    /// A server certificate for `cn` with subject alternative names `sans` (`IP:127.0.0.1`,
    /// `DNS:localhost`), usable for TLS servers.
    pub fn server(&self, file_stem: &str, cn: &str, sans: &[&str]) -> Cert {
        let mut ext = String::from(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
        );
        if !sans.is_empty() {
            ext.push_str(&format!("subjectAltName={}\n", sans.join(",")));
        }
        self.issue(file_stem, &format!("/CN={cn}"), &ext)
    }

    /// A client certificate whose subject is `/CN=<cn>`.
    pub fn client(&self, file_stem: &str, cn: &str) -> Cert {
        self.client_subject(file_stem, &format!("/CN={cn}"))
    }

    /// A client certificate with a full subject (`/O=patrol/CN=alice`), for `clientname=DN`.
    pub fn client_subject(&self, file_stem: &str, subject: &str) -> Cert {
        self.issue(
            file_stem,
            subject,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )
    }

    fn issue(&self, file_stem: &str, subject: &str, extensions: &str) -> Cert {
        let out = Cert {
            cert: self.dir.join(format!("{file_stem}.crt")),
            key: self.dir.join(format!("{file_stem}.key")),
        };
        let csr = self.dir.join(format!("{file_stem}.csr"));
        let ext = self.dir.join(format!("{file_stem}.ext"));
        std::fs::write(&ext, extensions).expect("write certificate extensions");
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            path_str(&out.key),
            "-out",
            path_str(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            path_str(&csr),
            "-CA",
            path_str(&self.ca.cert),
            "-CAkey",
            path_str(&self.ca.key),
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            path_str(&ext),
            "-out",
            path_str(&out.cert),
        ]);
        self.finish(&out);
        out
    }

    /// Keys readable by their owner only (PostgreSQL refuses a group- or world-readable
    /// key), everything owned by `postgres`.
    fn finish(&self, cert: &Cert) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&cert.key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod key");
        chown_postgres(&cert.key);
        chown_postgres(&cert.cert);
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
