//! One differential case against one server: the file's refusal and invalid lines, each
//! probe's matched line, method and verdict, compared with `patrol simulate` told the
//! server's major version; the tallies per version.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::cases::{self, CERTS, Line, Probe};
use crate::server::{self, IDENT, PASSWORD_TYPES, ROLES, Server, path};
use crate::support;
use crate::support::servers::Postgres;

/// One pg_hba.conf (with its pg_ident.conf and included files) and its probes.
pub struct Case {
    pub name: String,
    pub lines: Vec<Line>,
    /// pg_ident.conf (default: [`IDENT`]).
    pub ident: Option<String>,
    /// Files beside pg_hba.conf in the data directory (included files, `@` lists).
    pub files: Vec<(String, String)>,
    pub probes: Vec<Probe>,
}

impl Case {
    pub fn random(n: usize, lines: &[Line], probes: Vec<Probe>) -> Case {
        Case {
            name: format!("random file {n}"),
            lines: lines.to_vec(),
            ident: None,
            files: Vec::new(),
            probes,
        }
    }

    /// The case as a build without SSL or GSSAPI can answer it: such a build only logs a
    /// `hostssl`/`hostgssenc` line (it never matches) and refuses a `gss` method, which
    /// says nothing about patrol. Those lines (and TLS probes) are left out; returns how
    /// many lines were.
    fn for_build(&self, ssl: bool, gss: bool) -> (Vec<Line>, Vec<Probe>, usize) {
        let needs = |text: &str| {
            (!ssl && (text.contains("hostssl") || text.contains("clientcert")))
                || (!gss && (text.contains("hostgssenc") || text.contains(" gss")))
        };
        let lines: Vec<Line> = self
            .lines
            .iter()
            .filter(|l| match l {
                Line::Rule { kind, method, .. } => !needs(&format!("{kind} {method}")),
                Line::Invalid(t) => !needs(t),
                _ => true,
            })
            .cloned()
            .collect();
        let dropped = self.lines.len() - lines.len();
        let probes = self
            .probes
            .iter()
            .filter(|p| ssl || !p.ssl)
            .cloned()
            .collect();
        (lines, probes, dropped)
    }
}

/// (agreed, compared).
#[derive(Default, Clone, Copy)]
pub struct Count(pub usize, pub usize);

impl Count {
    fn add(&mut self, ok: bool) {
        self.0 += usize::from(ok);
        self.1 += 1;
    }
}

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        format!("{}/{}", self.0, self.1).fmt(f)
    }
}

pub struct Tally {
    pub major: u32,
    pub version: String,
    pub cases: usize,
    pub line: Count,
    pub method: Count,
    pub verdict: Count,
    /// Per case: refused or not, and the same invalid lines.
    pub invalid: Count,
    /// Per invalid line the server names: patrol's message is the server's.
    pub messages: Count,
    /// Lines and probes left out: the build has no SSL or no GSSAPI.
    pub dropped_lines: usize,
    pub dropped_probes: usize,
    /// Lines patrol reports shadowed (never matched by the server in any probe).
    pub shadowed: usize,
    /// Loaded files `patrol check --fix` changed (each accepted by the server after).
    pub fixed: usize,
    pub notes: Vec<String>,
    pub failures: Vec<String>,
    pub secs: f64,
}

impl Tally {
    pub fn new(pg: &Postgres) -> Tally {
        Tally {
            major: pg.major,
            version: pg.version.clone(),
            cases: 0,
            line: Count::default(),
            method: Count::default(),
            verdict: Count::default(),
            invalid: Count::default(),
            messages: Count::default(),
            dropped_lines: 0,
            dropped_probes: 0,
            shadowed: 0,
            fixed: 0,
            notes: Vec::new(),
            failures: Vec::new(),
            secs: 0.0,
        }
    }

    /// One row of the per-version table.
    pub fn row(&self) -> String {
        let mut notes = format!(
            "{} cases, {} lines reported shadowed (none matched), {} files fixed (all accepted)",
            self.cases, self.shadowed, self.fixed
        );
        if self.dropped_lines + self.dropped_probes > 0 {
            notes.push_str(&format!(
                ", {} lines and {} probes left out (see below)",
                self.dropped_lines, self.dropped_probes
            ));
        }
        format!(
            "{:<18} {:>13} {:>13} {:>13} {:>13} {:>13} {:>7.1}  {notes}",
            self.version,
            self.line.to_string(),
            self.method.to_string(),
            self.verdict.to_string(),
            self.invalid.to_string(),
            self.messages.to_string(),
            self.secs
        )
    }
}

/// An invalid line as (file name, line number) → message.
type Invalid = BTreeMap<(String, u64), String>;

fn base(name: &str) -> String {
    name.rsplit('/').next().unwrap_or(name).to_string()
}

/// patrol's `invalid-line` / `ident-invalid-line` findings, at their location (a bad line
/// of an included file is reported in that file), or at the site their message names for
/// a continuation or `@file` line ("… (line N of configuration file "F")").
fn patrol_invalid(patrol: &Value) -> Invalid {
    let mut out = Invalid::new();
    for f in patrol["findings"].as_array().into_iter().flatten() {
        if !(f["code"] == "invalid-line" || f["code"] == "ident-invalid-line") {
            continue;
        }
        let message = f["message"].as_str().unwrap_or("").to_string();
        let mut key = (
            base(f["file"].as_str().unwrap_or("")),
            f["line"].as_u64().unwrap_or(0),
        );
        let mut text = message.clone();
        // A bad line of an included file is reported where it stands; the message then
        // names the line that includes it, which the server says in no message (its
        // CONTEXT line names the included file's line, the finding's own location).
        if let Some(at) = message.rfind(" (in a file included from line ")
            && message.ends_with("\")")
        {
            text = message[..at].to_string();
        }
        if let Some(at) = message.rfind(" (line ")
            && message.ends_with("\")")
        {
            let site = &message[at + " (line ".len()..message.len() - 2];
            if let Some((n, file)) = site.split_once(" of configuration file \"")
                && let Ok(n) = n.parse()
            {
                key = (base(file), n);
                text = message[..at].to_string();
            }
        }
        out.insert(key, text);
    }
    out
}

/// The invalid lines the server's log names: each "CONTEXT:  line N of configuration
/// file "F"" with the message of the log line before it.
fn server_invalid(log: &str) -> Invalid {
    let mut out = Invalid::new();
    let mut last_message = String::new();
    for l in log.lines() {
        if let Some(at) = l.find(" LOG:  ") {
            last_message = l[at + " LOG:  ".len()..].to_string();
            continue;
        }
        let Some(at) = l.find("CONTEXT:  line ") else {
            continue;
        };
        let rest = &l[at + "CONTEXT:  line ".len()..];
        let Some((n, file)) = rest.split_once(" of configuration file \"") else {
            continue;
        };
        let file = base(file.trim_end_matches('"'));
        if let Ok(n) = n.parse() {
            out.insert((file, n), last_message.clone());
        }
    }
    out
}

/// Runs one case against the server and patrol, adding to the tally.
pub fn run(server: &Server, case: &Case, tally: &mut Tally) {
    let (lines, probes, dropped) = case.for_build(server.ssl, server.gss);
    tally.dropped_lines += dropped;
    tally.dropped_probes += case.probes.len() - probes.len();
    tally.cases += 1;
    let n = tally.cases;
    let name = &case.name;
    for (file, text) in &case.files {
        let at = server.data.join(file);
        if let Some(dir) = at.parent() {
            std::fs::create_dir_all(dir).expect("create a directory for an included file");
            support::chown_postgres(dir);
        }
        support::write_postgres_file(&at, text);
    }
    support::write_postgres_file(
        &server.data.join("pg_ident.conf"),
        case.ident.as_deref().unwrap_or(IDENT),
    );
    let sentinel = format!("sentinel_{n}_a");
    let text = cases::render(&lines, &sentinel, false);
    let patrol = simulate(server, &text, &probes);
    let patrol_invalid = patrol_invalid(&patrol);

    let before = server.log_len();
    server.reload(&text);
    let original = probe(server, &sentinel, &probes, true, Some(before));
    let log = server.log_since(before);
    let mut server_invalid = server_invalid(&log);
    let mut patrol_invalid = patrol_invalid;
    let refused = original.first().is_some_and(|o| o["answer"] == "refused");
    if !refused {
        // A loaded pg_hba.conf has no invalid line: what the log names then is only
        // logged (16+: "could not open file" / "skipping missing authentication file"
        // of an `include_if_exists`).
        server_invalid.retain(|(f, _), _| f == "pg_ident.conf");
    }
    // Up to 15, an invalid regex in pg_ident.conf is logged without the line
    // ("CONTEXT: line N …" came with 16): only the refusal can be compared.
    let ident_refused = log.contains("pg_ident.conf was not reloaded");
    if ident_refused && !server_invalid.keys().any(|(f, _)| f == "pg_ident.conf") {
        let patrol_ident = patrol_invalid.keys().any(|(f, _)| f == "pg_ident.conf");
        tally.invalid.add(patrol_ident);
        if !patrol_ident {
            tally.failures.push(format!(
                "{name}: the server refused pg_ident.conf, patrol reports no invalid line in it"
            ));
        }
        patrol_invalid.retain(|(f, _), _| f != "pg_ident.conf");
        server_invalid.retain(|(f, _), _| f != "pg_ident.conf");
    }
    let same_lines = server_invalid.keys().eq(patrol_invalid.keys());
    let hba_invalid = patrol_invalid.keys().any(|(f, _)| f != "pg_ident.conf");
    tally.invalid.add(same_lines && refused == hba_invalid);
    for (site, message) in &server_invalid {
        let ok = patrol_invalid.get(site) == Some(message);
        tally.messages.add(ok);
        if !ok {
            tally.failures.push(format!(
                "{name}: {}:{}: the server says {message:?}, patrol {:?}\n{text}",
                site.0,
                site.1,
                patrol_invalid.get(site)
            ));
        }
    }
    if !same_lines || refused != hba_invalid {
        tally.failures.push(format!(
            "{name}: the server {} it, invalid lines {:?}; patrol's invalid lines {:?}\n{text}",
            if refused { "refused" } else { "loaded" },
            server_invalid.keys().collect::<Vec<_>>(),
            patrol_invalid.keys().collect::<Vec<_>>()
        ));
    }
    if refused || probes.is_empty() {
        return;
    }

    // The matched lines, from the variant with `password` everywhere (included files too).
    for (file, text) in &case.files {
        let variant: String = text
            .lines()
            .map(|l| cases::password_line(l) + "\n")
            .collect();
        support::write_postgres_file(&server.data.join(file), &variant);
    }
    let variant_sentinel = format!("sentinel_{n}_b");
    server.reload(&cases::render(&lines, &variant_sentinel, true));
    let matched = probe(server, &variant_sentinel, &probes, false, None);

    // A line patrol calls unreachable as written must never be the one the server picks.
    let shadowed: BTreeSet<u64> = patrol["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["code"] == "shadowed-line")
        .filter(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no connection can reach"))
        })
        .filter_map(|f| f["line"].as_u64())
        .collect();
    tally.shadowed += shadowed.len();
    for (i, m) in matched.iter().enumerate() {
        if m["line_file"] != "pg_hba.conf" {
            continue;
        }
        if let Some(line) = m["line"].as_u64().filter(|l| shadowed.contains(l)) {
            tally.failures.push(format!("{name}, probe {i} {:?}: the server matched line {line}, which patrol reports as shadowed\n{text}", probes[i]));
        }
    }

    if case.files.is_empty() {
        check_fix(server, n, &text, tally);
    }

    let decisions = patrol["decisions"].as_array().cloned().unwrap_or_default();
    for (i, p) in probes.iter().enumerate() {
        let d = decisions
            .iter()
            .find(|d| d["sample"] == format!("connections[{i}]"))
            .cloned()
            .unwrap_or(Value::Null);
        let cert_line =
            server.pg.major < 14 && method_at(&text, matched[i]["line"].as_u64()) == Some("cert");
        let (line_ok, method_ok, why) = compare(&original[i], &matched[i], &d, cert_line);
        tally.line.add(line_ok);
        tally.method.add(method_ok);
        // With pg_ident.conf refused the server keeps the maps it had before (an earlier
        // case's): patrol must say its answer depends on them, and is not compared.
        let on_old_maps = ident_refused
            && d["depends_on"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "pg_ident.conf"));
        let expected = if on_old_maps {
            None
        } else {
            expected_verdict(&original[i])
        };
        let verdict_ok = match expected {
            Some(allow) => {
                let ok = (d["verdict"] == "allow") == allow;
                tally.verdict.add(ok);
                ok
            }
            None => true,
        };
        if !(line_ok && method_ok && verdict_ok) {
            tally.failures.push(format!(
                "{name}, probe {i} {p:?}: {why}\n  server: {} / variant {}\n  patrol: file {} line {} method {} stage {} verdict {} ({})\n{text}",
                original[i], matched[i], d["file"], d["line"], d["method"], d["stage"], d["verdict"], d["reason"]
            ));
        }
    }
}

/// The method written on line `line` of pg_hba.conf (`cert` or `trust` for a login the
/// server let in): PostgreSQL 13 does not log which method authenticated a connection.
fn method_at(text: &str, line: Option<u64>) -> Option<&str> {
    let l = text.lines().nth(line? as usize - 1)?;
    let tokens: Vec<&str> = l.split('#').next()?.split_whitespace().collect();
    let at = if tokens.first() == Some(&"local") {
        3
    } else if tokens
        .get(4)
        .is_some_and(|t| t.contains('.') && t.chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        5
    } else {
        4
    };
    tokens.get(at).copied()
}

/// `patrol check --fix` on a copy of the server's files: PostgreSQL must accept the fixed
/// pg_hba.conf (`pg_hba_file_rules` shows no error), and a second check must find nothing
/// left to patch.
fn check_fix(server: &Server, n: usize, text: &str, tally: &mut Tally) {
    let dir = server.root().join(format!("fix-{n}"));
    std::fs::create_dir_all(&dir).expect("fix dir");
    std::fs::write(dir.join("pg_hba.conf"), text).expect("write pg_hba.conf");
    for name in ["pg_ident.conf", "postgresql.conf", "dbs.txt", "users.txt"] {
        std::fs::copy(server.data.join(name), dir.join(name)).expect("copy a server file");
    }
    let samples = dir.join("samples.json");
    std::fs::write(
        &samples,
        json!({"context": {"postgres_version": server.pg.major}}).to_string(),
    )
    .expect("write samples");
    let files = ["pg_hba.conf", "pg_ident.conf", "postgresql.conf"].map(|f| dir.join(f));
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_patrol"))
            .arg("check")
            .args(extra)
            .arg("--samples")
            .arg(&samples)
            .args(&files)
            .output()
            .expect("run patrol check")
    };
    let fixed = run(&["--fix"]);
    let fixed_text =
        std::fs::read_to_string(dir.join("pg_hba.conf")).expect("read the fixed pg_hba.conf");
    let again = run(&["--format", "json"]);
    let again: Value = serde_json::from_slice(&again.stdout).unwrap_or(Value::Null);
    let left: Vec<String> = again["findings"]
        .as_array()
        .into_iter()
        .flatten()
        // `--fix` takes the fixes of findings at or above `--fail-on` (default `low`).
        .filter(|f| !f["patch"].is_null() && f["severity"] != "info")
        .map(|f| format!("{}:{} {}", f["file"], f["line"], f["code"]))
        .collect();
    if fixed_text == text {
        return;
    }
    tally.fixed += 1;
    let errors = server.hba_errors(&fixed_text);
    if !errors.is_empty() || !left.is_empty() {
        tally.failures.push(format!(
            "file {n}: after `patrol check --fix` ({}), the server says {errors:?} and fixes are left: {left:?}\n{text}\n--- fixed:\n{fixed_text}",
            String::from_utf8_lossy(&fixed.stderr).lines().last().unwrap_or("")
        ));
    }
}

/// Whether the server lets the probe in, when that does not depend on facts outside
/// the server (the OS user for peer, an ident server, Kerberos): authentication
/// succeeded (with the role's right password, when it has one) and the start-up did not
/// fail for a missing role. (Start-up failures patrol does not model — NOLOGIN roles, no
/// such database, no REPLICATION attribute — come after pg_hba and authentication.)
fn expected_verdict(original: &Value) -> Option<bool> {
    let answer = original["answer"].as_str().unwrap_or("");
    let message = original["message"]
        .as_str()
        .unwrap_or("")
        .to_ascii_lowercase();
    match answer {
        "tls-failed" => Some(false),
        "error" if message.starts_with("peer ") || message.starts_with("ident ") => None,
        "error" => Some(false),
        "ok" | "cleartext" | "md5" | "sasl" => {
            let after = original["after"].as_str().unwrap_or("");
            let role_missing = after.starts_with("role \"") && after.ends_with("does not exist");
            Some(original["auth"] == "ok" && !role_missing)
        }
        _ => None,
    }
}

/// (line agrees, method agrees, explanation).
/// `cert_line`: the server let the probe in on a line whose method is `cert` (13 does not
/// log it).
fn compare(original: &Value, variant: &Value, d: &Value, cert_line: bool) -> (bool, bool, String) {
    let answer = original["answer"].as_str().unwrap_or("");
    let message = original["message"]
        .as_str()
        .unwrap_or("")
        .to_ascii_lowercase();
    let patrol_line = d["line"].as_u64();
    let patrol_method = d["method"].as_str();
    let stage = d["stage"].as_str().unwrap_or("");
    let reason = d["reason"].as_str().unwrap_or("");

    if answer == "tls-failed" {
        let ok = stage == "tls" && patrol_line.is_none() && reason.contains("certificate");
        return (ok, ok, "the TLS handshake failed on the server".into());
    }
    // The variant tells the line: a password request (line logged) or no entry.
    let expected_line = match variant["answer"].as_str() {
        Some("cleartext") => variant["line"]
            .as_u64()
            .map(|l| (variant["line_file"].as_str().unwrap_or("?").to_string(), l)),
        Some("error")
            if variant["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no pg_hba.conf entry")) =>
        {
            None
        }
        other => {
            return (
                false,
                false,
                format!("undecidable variant answer {other:?}"),
            );
        }
    };
    let patrol_file = d["file"].as_str().map_or("pg_hba.conf".to_string(), base);
    let line_ok = patrol_line.map(|l| (patrol_file, l)) == expected_line;
    let method_ok = match answer {
        "ok" => {
            let want = if original["cert_method"] == true || cert_line {
                "cert"
            } else {
                "trust"
            };
            patrol_method == Some(want)
        }
        "cleartext" => patrol_method == Some("password"),
        "md5" => patrol_method == Some("md5"),
        "sasl" => patrol_method == Some("scram-sha-256"),
        "gss" => patrol_method == Some("gss"),
        "error" => {
            let denied = d["verdict"] == "deny";
            if message.starts_with("no pg_hba.conf entry") {
                patrol_line.is_none()
                    && patrol_method.is_none()
                    && denied
                    && reason.contains("no matching line")
            } else if message.starts_with("pg_hba.conf rejects") {
                patrol_method == Some("reject") && denied && reason.contains("rejected by line")
            } else if message.contains("requires a valid client certificate") {
                stage == "auth" && denied && reason.contains("client certificate required")
            } else if message.starts_with("certificate authentication failed") {
                patrol_method == Some("cert") && denied && reason.contains("certificate")
            } else if message.starts_with("\"trust\" authentication failed") {
                patrol_method == Some("trust") && denied && reason.contains("certificate")
            } else if message.starts_with("peer authentication failed") {
                patrol_method == Some("peer")
            } else if message.starts_with("ident authentication failed") {
                patrol_method == Some("ident")
            } else {
                false
            }
        }
        _ => false,
    };
    (
        line_ok,
        method_ok,
        format!("server answered {answer} {message:?}, matched line {expected_line:?}"),
    )
}

/// Runs the probes through the prober once the server has loaded the file whose
/// sentinel line admits `sentinel`; `with_passwords`: log in with the roles' right
/// passwords (otherwise wrong ones, so that the server logs the matched line).
/// `refused_since`: a log offset after which "pg_hba.conf was not reloaded" ends the wait
/// (the answer is then one `{"answer": "refused"}`).
fn probe(
    server: &Server,
    sentinel: &str,
    probes: &[Probe],
    with_passwords: bool,
    refused_since: Option<u64>,
) -> Vec<Value> {
    let cert = |i: Option<usize>| {
        i.map(|i| {
            let (_, c) = &server.certs[i];
            json!({"cert": c.cert, "key": c.key})
        })
    };
    let job = json!({
        "port": server.port,
        "socket_dir": server.root(),
        "log": server.log,
        "await": {"source": "127.0.0.254", "ssl": false, "cert": null, "user": sentinel, "database": "x", "replication": "false"},
        "refused_since": refused_since,
        "probes": probes.iter().map(|p| json!({
            "source": p.source, "ssl": p.ssl, "cert": cert(p.cert),
            "user": p.user, "database": p.database, "replication": p.replication,
            "password": if with_passwords { server::password(p.user) } else { None },
        })).collect::<Vec<_>>(),
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/support/pg_probe.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3 tests/support/pg_probe.py");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(job.to_string().as_bytes())
            .expect("write the probe job");
    }
    let out = child.wait_with_output().expect("wait for the prober");
    assert!(out.status.success(), "the prober failed");
    let results: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("prober output is JSON"))
        .collect();
    if results.len() == 1 && results[0]["answer"] == "refused" {
        return results;
    }
    assert_eq!(
        results.len(),
        probes.len(),
        "prober answered {:?}",
        results.first()
    );
    results
}

/// `patrol simulate --format json` over the file, the server's pg_ident.conf and
/// postgresql.conf, with the probes as connection samples.
fn simulate(server: &Server, text: &str, probes: &[Probe]) -> Value {
    // Written where the server's @file names resolve (the test server reads it later).
    support::write_postgres_file(&server.hba_path(), text);
    let roles: serde_json::Map<String, Value> = ROLES
        .iter()
        .map(|(r, m)| (r.to_string(), json!(m)))
        .collect();
    let types: serde_json::Map<String, Value> = PASSWORD_TYPES
        .iter()
        .map(|(r, t)| (r.to_string(), json!(t)))
        .collect();
    let connections: Vec<Value> = probes
        .iter()
        .map(|p| {
            let mut c =
                json!({"source": p.source, "ssl": p.ssl, "user": p.user, "database": p.database});
            if let Some(i) = p.cert {
                let (_, cn, trusted) = CERTS[i];
                c["client_cert"] = json!({"cn": cn, "trusted": trusted});
            }
            c["replication"] = match p.replication {
                "true" => json!(true),
                "database" => json!("database"),
                _ => json!(false),
            };
            c
        })
        .collect();
    let samples = json!({
        "context": {
            "postgres_version": server.pg.major,
            "server_addresses": ["127.0.0.1/8", "::1/128"],
            "roles": roles,
            "password_types": types,
        },
        "connections": connections,
    });
    let samples_path = server.root().join("samples.json");
    std::fs::write(&samples_path, samples.to_string()).expect("write samples");
    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .args([
            "simulate",
            "--format",
            "json",
            "--samples",
            path(&samples_path),
        ])
        .arg(server.hba_path())
        .arg(server.data.join("pg_ident.conf"))
        .arg(server.data.join("postgresql.conf"))
        .output()
        .expect("run patrol simulate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "patrol simulate did not print JSON ({e}); exit {}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
