//! The REST API decision natively, per sample, on a simulated access log: the physical
//! limit the same policy logic reaches through wasm (target: ≤ 0.4 µs per sample in
//! wasm, wasm ≤ 1.5× native).
//!
//! `taskset -c 0 cargo bench -p patroni-restapi` (the numbers in the report were
//! measured so). Three levels:
//! - `outcome`: [`RestApi::decide`] alone (no allocation);
//! - `decision`: the WIT decision with its reason and location, what `evaluate` returns;
//! - `evaluate`: the whole policy call over a batch (settings, JSON parse, compile,
//!   findings, lockout simulation, every decision), as the wasm export runs it.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use patroni_restapi::PatroniRestapi;
use policy_guest::doc::Structured;
use policy_guest::patroni::{Facts, RestApi, Version};
use policy_guest::{
    Body, CertPresence, Context, Credentials, Document, HttpRequest, Input, RequestAuth, Span,
};
use serde_json::{Value, json};

const BATCH: usize = 10_000;

/// xorshift64*: every run sees the same log.
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
}

fn config() -> Value {
    json!({
        "scope": "main", "name": "db1",
        "restapi": {
            "listen": "10.0.0.11:8008", "connect_address": "10.0.0.11:8008",
            "certfile": "/etc/patroni/rest.crt", "keyfile": "/etc/patroni/rest.key",
            "cafile": "/etc/patroni/ca.crt", "verify_client": "optional",
            "allowlist": ["10.0.0.0/28", "10.0.1.0/24", "10.0.2.17", "192.168.10.0/24", "172.16.0.0/12",
                          "::ffff:10.0.0.0/120", "2001:db8::/48", "10.0.3.0/255.255.255.0", "127.0.0.1", "10.9.0.0/16"],
            "allowlist_include_members": true,
            "authentication": { "username": "patroni", "password": "bench-secret" }
        },
        "ctl": { "certfile": "/etc/patroni/ctl.crt", "keyfile": "/etc/patroni/ctl.key", "cacert": "/etc/patroni/ca.crt" }
    })
}

fn doc(config: &Value) -> Document {
    fn walk(v: &Value, pointer: String, spans: &mut Vec<Span>) {
        let line = spans.len() as u32 + 1;
        spans.push(Span {
            pointer: pointer.clone(),
            line,
            end_line: line,
        });
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| walk(v, format!("{pointer}/{k}"), spans)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| walk(v, format!("{pointer}/{i}"), spans)),
            _ => {}
        }
    }
    let mut spans = Vec::new();
    walk(config, String::new(), &mut spans);
    Document {
        kind: policy_guest::DocumentKind::Patroni,
        path: "/etc/patroni/patroni.yml".into(),
        text: String::new(),
        body: Body::Structured(policy_guest::Structured {
            json: config.to_string(),
            spans,
        }),
        diagnostics: Vec::new(),
    }
}

/// An access log: mostly health checks, some admin calls, from inside and outside.
fn requests(n: usize, rng: &mut Rng) -> Vec<HttpRequest> {
    const PATHS: &[(&str, &str)] = &[
        ("GET", "/primary"),
        ("GET", "/replica"),
        ("GET", "/health"),
        ("GET", "/patroni"),
        ("OPTIONS", "/"),
        ("GET", "/cluster"),
        ("GET", "/read-only?lag=10MB"),
        ("HEAD", "/leader"),
        ("POST", "/restart"),
        ("POST", "/reload"),
        ("PATCH", "/config"),
        ("POST", "/switchover"),
        ("DELETE", "/restart"),
        ("POST", "/failsafe"),
        ("POST", "/mpp"),
        ("PUT", "/reload"),
    ];
    (0..n)
        .map(|_| {
            let (method, path) = PATHS[rng.below(PATHS.len() as u64) as usize];
            let source = match rng.below(5) {
                0 => format!("10.0.0.{}", rng.below(20)),
                1 => format!("10.0.1.{}", rng.below(256)),
                2 => format!("192.0.2.{}", rng.below(256)),
                3 => format!("2001:db8::{:x}", rng.below(4096)),
                _ => format!("10.{}.{}.{}", rng.below(16), rng.below(256), rng.below(256)),
            };
            let auth = match rng.below(4) {
                0 => RequestAuth::None,
                1 => RequestAuth::Invalid,
                2 => RequestAuth::Valid,
                _ => RequestAuth::Basic(Credentials {
                    username: "patroni".into(),
                    password: "bench-secret".into(),
                }),
            };
            let client_cert = match rng.below(3) {
                0 => CertPresence::None,
                1 => CertPresence::Trusted,
                _ => CertPresence::Untrusted,
            };
            HttpRequest {
                name: None,
                source,
                method: method.into(),
                path: path.into(),
                scheme: None,
                auth,
                client_cert,
            }
        })
        .collect()
}

fn context() -> Context {
    Context {
        postgres_version: None,
        patroni_version: Some("4.1.5".into()),
        members: Some(vec![
            "10.0.0.11".into(),
            "10.0.0.12".into(),
            "10.0.0.13".into(),
        ]),
        resolve: Vec::new(),
        dual_stack: None,
        server_addresses: Vec::new(),
        roles: None,
        password_types: Vec::new(),
        extra: "{}".into(),
    }
}

fn bench(c: &mut Criterion) {
    let config = config();
    let d = doc(&config);
    let y = Structured::new(&d).expect("structured");
    let ctx = context();
    let members = ctx.members.clone().unwrap_or_default();
    let facts = Facts {
        version: Some(Version(4, 1, 5)),
        members: Some(&members),
        resolve: &[],
        dual_stack: None,
    };
    let api = RestApi::compile(&y, &facts);
    let reqs = requests(BATCH, &mut Rng(0x9e37_79b9_7f4a_7c15));

    let mut g = c.benchmark_group("patroni-restapi");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("outcome", |b| {
        b.iter(|| {
            let mut allowed = 0usize;
            for r in &reqs {
                allowed += api.decide(black_box(r)).allow as usize;
            }
            black_box(allowed)
        })
    });
    g.bench_function("decision", |b| {
        b.iter(|| {
            let out: Vec<_> = reqs
                .iter()
                .enumerate()
                .map(|(i, r)| api.decide_request(i, black_box(r)))
                .collect();
            black_box(out)
        })
    });
    let requests = policy_guest::RequestBatch::from_requests(&reqs).expect("addresses");
    let input = Input {
        documents: vec![d.clone()],
        context: ctx.clone(),
        requests,
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: "{}".into(),
    };
    g.bench_function("evaluate", |b| {
        b.iter(|| {
            black_box(policy_guest::run::<PatroniRestapi>(black_box(&input)).expect("evaluate"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
