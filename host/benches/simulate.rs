//! Patroni request simulation: time per sample through wasm (one `evaluate` call with a
//! batch of requests, as `patrol simulate` makes it) and the same policy logic called
//! natively, side by side. Run with `taskset -c 0 cargo bench -p patrol --bench simulate`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use patrol::engine::{Engine, Limits};
use patrol::formats::yaml;
use patrol::run::PolicySource;
use patrol::wit;

const BATCH: usize = 100_000;
const CONFIG: &str = include_str!("../../examples/hardened/patroni.yml");

/// One request of the generated matrix: (source, method, path, auth, cert).
fn matrix(n: usize) -> Vec<(String, &'static str, &'static str, u8, u8)> {
    let methods = [
        ("GET", "/primary"),
        ("POST", "/restart"),
        ("PATCH", "/config"),
        ("OPTIONS", "/replica"),
        ("POST", "/failover"),
        ("DELETE", "/switchover"),
        ("GET", "/patroni"),
        ("POST", "/mpp"),
    ];
    (0..n)
        .map(|i| {
            let source = match i % 4 {
                0 => format!("10.0.1.{}", 11 + i % 3),
                1 => format!("10.0.2.{}", i % 250),
                2 => format!("203.0.113.{}", i % 250),
                _ => "127.0.0.1".to_string(),
            };
            let (m, p) = methods[i % methods.len()];
            (source, m, p, (i / 7 % 3) as u8, (i / 11 % 3) as u8)
        })
        .collect()
}

fn requests(n: usize) -> wit::RequestBatch {
    use patrol::samples::{Auth, Batch, Request};
    let mut batch = Batch::default();
    for (source, method, path, auth, cert) in matrix(n) {
        batch.push(&Request {
            source: source.parse().expect("an address"),
            method,
            path,
            https: None,
            auth: match auth {
                0 => Auth::None,
                1 => Auth::Valid,
                _ => Auth::Invalid,
            },
            client_cert: match cert {
                0 => None,
                1 => Some(true),
                _ => Some(false),
            },
        });
    }
    batch.finish()
}

fn host_input(n: usize) -> wit::Input {
    let parsed = yaml::parse(CONFIG, "patroni.yml");
    let doc = wit::Document {
        kind: wit::DocumentKind::Patroni,
        path: "patroni.yml".into(),
        text: CONFIG.into(),
        body: wit::Body::Structured(parsed.value),
        diagnostics: Vec::new(),
    };
    let mut context = patrol::samples::empty_context();
    context.members = Some(vec![
        "10.0.1.11".into(),
        "10.0.1.12".into(),
        "10.0.1.13".into(),
    ]);
    wit::Input {
        documents: vec![doc],
        context,
        requests: requests(n),
        connections: Vec::new(),
        deployment: patrol::deployment::empty(),
        settings: "{}".into(),
    }
}

/// The same input as the policy receives it: the host's, converted type by type.
fn guest_input(n: usize) -> policy_guest::Input {
    let parsed = yaml::parse(CONFIG, "patroni.yml");
    let spans = parsed
        .value
        .spans
        .iter()
        .map(|s| policy_guest::Span {
            pointer: s.pointer.clone(),
            line: s.line,
            end_line: s.end_line,
        })
        .collect();
    let doc = policy_guest::Document {
        kind: policy_guest::DocumentKind::Patroni,
        path: "patroni.yml".into(),
        text: CONFIG.into(),
        body: policy_guest::Body::Structured(policy_guest::Structured {
            json: parsed.value.json.clone(),
            spans,
        }),
        diagnostics: Vec::new(),
    };
    let r = requests(n);
    let requests = policy_guest::RequestBatch {
        sources: r.sources,
        methods: r.methods,
        paths: r.paths,
        schemes: r.schemes,
        auths: r.auths,
        client_certs: r.client_certs,
        addresses: r
            .addresses
            .into_iter()
            .map(|a| match a {
                wit::IpAddress::V4(bits) => policy_guest::IpAddress::V4(bits),
                wit::IpAddress::V6(halves) => policy_guest::IpAddress::V6(halves),
            })
            .collect(),
        strings: r.strings,
        credentials: Vec::new(),
    };
    let context = policy_guest::Context {
        postgres_version: None,
        patroni_version: None,
        members: Some(vec![
            "10.0.1.11".into(),
            "10.0.1.12".into(),
            "10.0.1.13".into(),
        ]),
        resolve: Vec::new(),
        dual_stack: None,
        server_addresses: Vec::new(),
        roles: None,
        password_types: Vec::new(),
        extra: "{}".into(),
    };
    policy_guest::Input {
        documents: vec![doc],
        context,
        requests,
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: "{}".into(),
    }
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new(Limits::default(), false).expect("engine");
    let source = PolicySource::builtins()
        .into_iter()
        .find(|s| s.label() == "builtin:patroni-restapi")
        .expect("the patroni-restapi policy is built in");
    let PolicySource::Builtin(_, bytes) = source else {
        unreachable!()
    };
    let policy = engine.load("builtin:patroni-restapi", bytes).expect("load");
    let host = host_input(BATCH);
    let guest = guest_input(BATCH);

    // The native run is the same logic on the same input: check that it gives the same
    // answers before timing either.
    {
        let wasm = engine.session(&policy).evaluate(&host).expect("evaluate");
        let native =
            policy_guest::run::<patroni_restapi::PatroniRestapi>(&guest).expect("evaluate");
        assert_eq!(wasm.requests.samples.len(), BATCH);
        assert_eq!(wasm.requests.samples, native.requests.samples);
        for (w, n) in wasm.requests.details.iter().zip(&native.requests.details) {
            let (wd, nd) = (
                &wasm.decision_details[*w as usize],
                &native.decision_details[*n as usize],
            );
            assert_eq!(
                (wd.status, &wd.stage, &wd.reason),
                (nd.status, &nd.stage, &nd.reason)
            );
        }
    }

    let mut group = c.benchmark_group("patroni-simulate");
    group.throughput(Throughput::Elements(BATCH as u64));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("wasm", |b| {
        b.iter(|| {
            // A fresh sandbox per batch, as `patrol simulate` has.
            let mut session = engine.session(&policy);
            let e = session.evaluate(black_box(&host)).expect("evaluate");
            assert_eq!(e.requests.samples.len(), BATCH);
            e
        })
    });
    // The floor: a policy that answers every request with a fixed allow, so what is left
    // is moving the batch in and the decisions out.
    let echo_bytes = std::fs::read(concat!(env!("PATROL_TEST_POLICY_DIR"), "/hostile.wasm"))
        .expect("hostile.wasm");
    let echo = engine.load("hostile", &echo_bytes).expect("load hostile");
    let mut echo_input = host.clone();
    echo_input.settings = r#"{"mode": "allow-all"}"#.into();
    group.bench_function("wasm-echo", |b| {
        b.iter(|| {
            let mut session = engine.session(&echo);
            let e = session.evaluate(black_box(&echo_input)).expect("evaluate");
            assert_eq!(e.requests.samples.len(), BATCH);
            e
        })
    });
    group.bench_function("native", |b| {
        b.iter(|| {
            let e = policy_guest::run::<patroni_restapi::PatroniRestapi>(black_box(&guest))
                .expect("evaluate");
            assert_eq!(e.requests.samples.len(), BATCH);
            e
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
