//! Differential test of `patrol simulate` against real Patroni 3.3.11, 4.0.11 and 4.1.5.
//!
//! For each release (`support::servers::PATRONI`, each in its own virtualenv under
//! `target/patrol-servers/`, made on first use and cached; `PATROL_DIFF_JOBS` of them
//! at a time, default 2), `tests/support/patroni_probe.py` starts etcd (Debian) and a
//! single-node Patroni (PyPI) with PostgreSQL 15 (Debian) on loopback, then loads each
//! `restapi` variant below with SIGHUP (on a fresh port) and sends every request of the
//! matrix: sources across 127.0.0.0/8 (sockets bound to them) or ::1, http and https,
//! client certificates none / trusted / from another CA, Authorization none / valid /
//! invalid / exact credentials, safe endpoints, unsafe endpoints that are harmless when
//! accepted (invalid JSON bodies, `/reload`, `/sigterm`, `DELETE /restart`), paths with
//! no handler. Patroni's answer is reduced to what `patrol simulate` predicts: a TLS
//! failure (deny, no status, stage `tls`), 401/403 from `check_access` or 501 (deny with
//! that status, stage `access`), anything else (the handler ran: allow, `passed`).
//!
//! Agreement must be 100%, and the output has one row per release (requests agreed /
//! compared). Every variant is simulated with the YAML the server ran, with context
//! `patroni_version` the release's and `members: [127.0.0.1]` (the member's
//! `connect_address`); `dual_stack` is left to patrol to derive from `restapi.listen`.
//!
//! `PATROL_PATRONI_ONLY` / `PATROL_PATRONI_SKIP` (comma-separated variant names) narrow
//! the matrix when debugging; `PATROL_PATRONI_VERSION` (comma-separated) and
//! `PATROL_PATRONI_VENV` pick other Patroni releases or a venv.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "support/patroni.rs"]
mod patroni;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

const SOURCES: &[&str] = &["127.0.0.1", "127.0.0.2", "127.0.0.3"];

/// Never checked.
const SAFE: &[(&str, &str)] = &[
    ("GET", "/patroni"),
    ("GET", "/health"),
    ("GET", "/cluster"),
    ("GET", "/no/such/path"),
    ("GET", "/config?x=1"),
    ("HEAD", "/"),
    ("OPTIONS", "/reload"),
];

/// No handler: 501 before any check.
const UNROUTED: &[(&str, &str)] = &[
    ("PUT", "/reload"),
    ("TRACE", "/"),
    ("POST", "/Reload"),
    ("DELETE", "/config"),
];

/// Decorated handlers (and `/mpp`), harmless when accepted.
const UNSAFE: &[(&str, &str)] = &[
    ("POST", "/reload"),
    ("POST", "//reload"),
    ("POST", "/reload?force=1"),
    ("POST", "/sigterm"),
    ("DELETE", "/restart"),
    ("DELETE", "/switchover"),
    ("POST", "/failsafe"),
    ("PATCH", "/config"),
    ("PUT", "/config"),
    ("POST", "/restart"),
    ("POST", "/failover"),
    ("POST", "/switchover"),
    ("POST", "/citus"),
    ("POST", "/mpp"),
];

struct Variant {
    name: &'static str,
    restapi: Value,
    sources: &'static [&'static str],
    ipv6: bool,
    /// Extra `{username, password}` credentials to try on the unsafe endpoints.
    basics: Vec<(&'static str, &'static str)>,
    /// Only these endpoints (for variants about credentials).
    only_unsafe: bool,
}

fn v(name: &'static str, restapi: Value) -> Variant {
    Variant {
        name,
        restapi,
        sources: SOURCES,
        ipv6: false,
        basics: Vec::new(),
        only_unsafe: false,
    }
}

fn tls(mut extra: Value) -> Value {
    extra["listen"] = json!("127.0.0.1:$PORT");
    extra["certfile"] = json!("$CERT");
    extra["keyfile"] = json!("$KEY");
    extra
}

fn variants() -> Vec<Variant> {
    let auth = json!({ "username": "patrol", "password": "s3cret-pw" });
    let listen = "127.0.0.1:$PORT";
    let mut out = vec![
        v("plain-open", json!({ "listen": listen })),
        v(
            "plain-auth",
            json!({ "listen": listen, "authentication": auth }),
        ),
        v(
            "plain-allowlist",
            json!({ "listen": listen, "allowlist": ["127.0.0.1/32", "127.0.0.3"], "authentication": auth }),
        ),
        v(
            "allowlist-all-invalid",
            json!({ "listen": listen, "allowlist": ["127.0.0.0/33", "not a host", "127.0.0.300", "127.0.0.1 "] }),
        ),
        v(
            "allowlist-not-a-list",
            json!({ "listen": listen, "allowlist": "127.0.0.2" }),
        ),
        v(
            "allowlist-forms",
            json!({ "listen": listen, "allowlist": ["127.0.0.2/255.255.255.255", "127.3", "10.0.0.0/0.255.255.255"] }),
        ),
        v(
            "allowlist-netmask-wide",
            json!({ "listen": listen, "allowlist": ["127.0.0.1/32", "127.0.0.0/255.255.255.252"], "authentication": auth }),
        ),
        v(
            "members",
            json!({ "listen": listen, "allowlist_include_members": true, "allowlist": ["127.0.0.2/32"] }),
        ),
        v(
            "members-only",
            json!({ "listen": listen, "allowlist_include_members": true, "authentication": auth }),
        ),
        v(
            "members-string-false",
            json!({ "listen": listen, "allowlist_include_members": "false" }),
        ),
        v(
            "tls-none",
            tls(json!({ "cafile": "$CA", "verify_client": "none", "authentication": auth })),
        ),
        v(
            "tls-optional",
            tls(
                json!({ "cafile": "$CA", "verify_client": "optional", "authentication": auth, "allowlist": ["127.0.0.0/31"] }),
            ),
        ),
        v(
            "tls-required",
            tls(json!({ "cafile": "$CA", "verify_client": "required", "authentication": auth })),
        ),
        v(
            "tls-required-no-cafile",
            tls(json!({ "verify_client": "required" })),
        ),
        v(
            "tls-optional-no-cafile",
            tls(json!({ "verify_client": "optional", "authentication": auth })),
        ),
        v(
            "tls-optional-uppercase",
            tls(json!({ "cafile": "$CA", "verify_client": "OPTIONAL" })),
        ),
        v(
            "tls-verify-boolean",
            tls(json!({ "cafile": "$CA", "verify_client": true })),
        ),
        v(
            "tls-verify-bad-string",
            tls(json!({ "cafile": "$CA", "verify_client": "yes", "authentication": auth })),
        ),
        v(
            "verify-without-certfile",
            json!({ "listen": listen, "cafile": "$CA", "verify_client": "required" }),
        ),
        v(
            "dual-stack-ipv4-allowlist",
            json!({ "listen": "[::ffff:127.0.0.1]:$PORT", "allowlist": ["127.0.0.1/32"], "allowlist_include_members": true }),
        ),
        v(
            "dual-stack-mapped-allowlist",
            json!({ "listen": "[::ffff:127.0.0.1]:$PORT", "allowlist": ["::ffff:127.0.0.0/127", "127.0.0.3"] }),
        ),
        Variant {
            sources: &["::1"],
            ipv6: true,
            ..v(
                "ipv6-loopback",
                json!({ "listen": "[::1]:$PORT", "allowlist": ["::1/128"], "authentication": auth }),
            )
        },
        Variant {
            sources: &["::1"],
            ipv6: true,
            ..v(
                "ipv6-loopback-v4-allowlist",
                json!({ "listen": "[::1]:$PORT", "allowlist": ["127.0.0.1"] }),
            )
        },
    ];
    let creds = |name, restapi, basics| Variant {
        basics,
        only_unsafe: true,
        sources: &["127.0.0.1"],
        ..v(name, restapi)
    };
    out.push(creds(
        "auth-colon-in-password",
        json!({ "listen": listen, "authentication": { "username": "a", "password": "b:c" } }),
        vec![
            ("a", "b:c"),
            ("a:b", "c"),
            ("A", "b:c"),
            ("a", "b:c "),
            ("a", "b"),
        ],
    ));
    out.push(creds(
        "auth-legacy",
        json!({ "listen": listen, "auth": "x:y" }),
        vec![("x", "y"), ("x", "z")],
    ));
    out.push(creds(
        "auth-both",
        json!({ "listen": listen, "auth": "x:y", "authentication": { "username": "u", "password": "p-1" } }),
        vec![("x", "y"), ("u", "p-1")],
    ));
    out.push(creds(
        "auth-integer-password",
        json!({ "listen": listen, "authentication": { "username": "u", "password": 12345 } }),
        vec![("u", "12345"), ("u", "12346")],
    ));
    out.push(creds(
        "auth-null-password",
        json!({ "listen": listen, "authentication": { "username": "u", "password": null } }),
        vec![("u", "None"), ("u", "null"), ("u", "")],
    ));
    out
}

/// The requests of one variant.
fn requests(var: &Variant) -> Vec<Value> {
    let listener_https = var.restapi.get("certfile").is_some();
    let mut out = Vec::new();
    for src in var.sources {
        for scheme in ["http", "https"] {
            let certs: &[&str] = if scheme == "https" {
                &["none", "trusted", "untrusted"]
            } else {
                &["none"]
            };
            // A scheme the listener does not speak fails whatever else: a few requests do.
            let mismatch = (scheme == "https") != listener_https;
            for cert in certs {
                let mut push = |method: &str, path: &str, auth: Value| {
                    out.push(json!({ "source": src, "method": method, "path": path, "scheme": scheme, "auth": auth, "client_cert": cert }));
                };
                let take = if mismatch { 2 } else { usize::MAX };
                if !var.only_unsafe {
                    SAFE.iter()
                        .chain(UNROUTED)
                        .take(take)
                        .for_each(|(m, p)| push(m, p, json!("none")));
                }
                for (m, p) in UNSAFE.iter().take(if var.only_unsafe { 2 } else { take }) {
                    for auth in ["none", "valid", "invalid"] {
                        push(m, p, json!(auth));
                    }
                    for (u, pw) in &var.basics {
                        push(m, p, json!({ "username": u, "password": pw }));
                    }
                }
            }
        }
    }
    out
}

/// `(verdict, status, stage)` from Patroni's answer.
fn real(answer: &Value) -> Result<(String, Option<u64>, String), String> {
    match answer["outcome"].as_str() {
        Some("tls-error") => Ok(("deny".into(), None, "tls".into())),
        Some("response") => {
            let status = answer["status"].as_u64().unwrap_or(0);
            let body = answer["body"].as_str().unwrap_or("");
            let access = match status {
                401 => {
                    body.contains("no auth header received") || body.contains("not authenticated")
                }
                403 => {
                    body.contains("Access is denied")
                        || body.contains("client certificate required")
                }
                _ => false,
            };
            if access || status == 501 {
                Ok(("deny".into(), Some(status), "access".into()))
            } else {
                Ok(("allow".into(), None, "passed".into()))
            }
        }
        _ => Err(format!("no answer from Patroni: {}", answer["error"])),
    }
}

/// What one Patroni release answered.
struct Outcome {
    version: String,
    python: String,
    agree: usize,
    total: usize,
    variants: Vec<String>,
    failures: Vec<String>,
    secs: f64,
}

#[test]
fn simulate_agrees_with_every_patroni() {
    let versions: Vec<String> = match std::env::var("PATROL_PATRONI_VERSION") {
        Ok(list) => list.split(',').map(|v| v.trim().to_string()).collect(),
        Err(_) => support::servers::PATRONI
            .iter()
            .map(|v| v.to_string())
            .collect(),
    };
    let jobs: usize = std::env::var("PATROL_DIFF_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(2)
        .max(1);
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(versions.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(version) = versions.get(i) else {
                        break;
                    };
                    let outcome = one_version(version);
                    outcomes.lock().unwrap().push(outcome);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|o| versions.iter().position(|v| *v == o.version));
    println!("\nPatroni REST API differential: requests agreed / compared");
    println!("{:<10} {:>13} {:>7}  python", "Patroni", "requests", "secs");
    for o in &outcomes {
        println!(
            "{:<10} {:>13} {:>7.1}  {}",
            o.version,
            format!("{}/{}", o.agree, o.total),
            o.secs,
            o.python
        );
    }
    for o in &outcomes {
        println!(
            "Patroni {} per restapi variant:\n{}",
            o.version,
            o.variants.join("\n")
        );
    }
    let failures: Vec<String> = outcomes
        .iter()
        .flat_map(|o| {
            o.failures
                .iter()
                .map(move |f| format!("[Patroni {}] {f}", o.version))
        })
        .collect();
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(40).map(String::as_str).collect();
        panic!(
            "{} disagreements with the real Patroni:\n{}",
            failures.len(),
            shown.join("\n")
        );
    }
}

fn one_version(version: &str) -> Outcome {
    let started = std::time::Instant::now();
    let version = version.to_string();
    let pg_bindir = patroni::packages();
    let work = support::postgres_tempdir();
    let scratch = tempfile::Builder::new()
        .prefix("patrol-patroni-diff-")
        .tempdir()
        .expect("scratch dir");
    // Under the postgres-owned work directory: Patroni (as postgres) reads the server key.
    let certs = patroni::certs(&work.path().join("certs").tap_mkdir());
    let list = |name: &str| -> Option<Vec<String>> {
        std::env::var(name)
            .ok()
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
    };
    let (only, skip) = (
        list("PATROL_PATRONI_ONLY"),
        list("PATROL_PATRONI_SKIP").unwrap_or_default(),
    );
    let variants: Vec<Variant> = variants()
        .into_iter()
        .filter(|v| {
            only.as_ref().is_none_or(|o| o.iter().any(|n| n == v.name))
                && !skip.iter().any(|n| n == v.name)
        })
        .collect();
    let plan = json!({
        "workdir": work.path(),
        "venv": std::env::var("PATROL_PATRONI_VENV").map(std::path::PathBuf::from).unwrap_or_else(|_| support::servers::patroni_venv(&version)),
        "patroni_version": version,
        "pg_bindir": pg_bindir,
        "certs": certs.json,
        "variants": variants.iter().map(|var| json!({
            "name": var.name, "restapi": var.restapi, "ipv6": var.ipv6, "requests": requests(var),
        })).collect::<Vec<_>>(),
    });
    let answers = patroni::probe(&plan, scratch.path());
    assert_eq!(
        answers["patroni_version"].as_str(),
        Some(version.as_str()),
        "the probe ran another Patroni"
    );

    let mut total = 0;
    let mut agree = 0;
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    for (var, (planned, answered)) in variants.iter().zip(
        plan["variants"]
            .as_array()
            .expect("planned")
            .iter()
            .zip(answers["variants"].as_array().expect("answered")),
    ) {
        let reqs = planned["requests"].as_array().expect("requests");
        let dir = scratch.path().join(var.name).tap_mkdir();
        let samples = json!({
            "context": { "patroni_version": version, "members": ["127.0.0.1"] },
            "requests": reqs.iter().enumerate().map(|(i, r)| {
                let mut r = r.clone();
                r["name"] = json!(format!("{}#{i}", var.name));
                r
            }).collect::<Vec<_>>(),
        });
        let cache = scratch.path().join("cache");
        let sim = patroni::simulate(
            &dir,
            &cache,
            answered["config_text"].as_str().expect("config text"),
            &samples,
        );
        let decisions = sim["decisions"].as_array().expect("decisions");
        let mut ok = 0;
        for (i, (req, answer)) in reqs
            .iter()
            .zip(answered["results"].as_array().expect("results"))
            .enumerate()
        {
            let want =
                real(answer).unwrap_or_else(|e| panic!("variant {}: request {req}: {e}", var.name));
            let sample = format!("requests[{i}]");
            let d = decisions.iter().find(|d| d["sample"] == sample.as_str());
            let got = d.map(|d| {
                (
                    d["verdict"].as_str().unwrap_or("").to_string(),
                    d["status"].as_u64(),
                    d["stage"].as_str().unwrap_or("").to_string(),
                )
            });
            if got.as_ref() == Some(&want) {
                ok += 1;
            } else {
                failures.push(format!(
                    "{}: {} {} from {} over {} (auth {}, cert {}): Patroni {:?} [{} {}], patrol {:?}: {}",
                    var.name, req["method"], req["path"], req["source"], req["scheme"], req["auth"], req["client_cert"],
                    want, answer["status"], answer["body"].as_str().or(answer["error"].as_str()).unwrap_or("").trim(),
                    got, d.map_or("no decision".into(), |d| d["reason"].to_string()),
                ));
            }
        }
        total += reqs.len();
        agree += ok;
        lines.push(format!("  {:<32} {ok}/{}", var.name, reqs.len()));
    }
    Outcome {
        python: answers["python"].as_str().unwrap_or("python ?").to_string(),
        version,
        agree,
        total,
        variants: lines,
        failures,
        secs: started.elapsed().as_secs_f64(),
    }
}

trait TapMkdir {
    fn tap_mkdir(self) -> Self;
}

impl TapMkdir for std::path::PathBuf {
    fn tap_mkdir(self) -> Self {
        std::fs::create_dir_all(&self).expect("create a directory");
        self
    }
}
