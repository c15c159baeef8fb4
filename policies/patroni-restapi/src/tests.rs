//! The policy end to end, natively: findings, patches (applied to the JSON and checked
//! again: a fix is a fixpoint), lockouts, decisions.

#![allow(clippy::unwrap_used)]

use policy_guest::{
    Body, CertPresence, Context, Document, Edit, Evaluation, HttpRequest, Input, RequestAuth, Span,
    Structured, Verdict,
};
use serde_json::{Value, json};

use crate::{CODES, PatroniRestapi};

pub fn doc(kind: policy_guest::DocumentKind, path: &str, config: &Value) -> Document {
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
        kind,
        path: path.into(),
        text: String::new(),
        body: Body::Structured(Structured {
            json: config.to_string(),
            spans,
        }),
        diagnostics: Vec::new(),
    }
}

pub fn context() -> Context {
    Context {
        postgres_version: None,
        patroni_version: Some("4.1.5".into()),
        members: None,
        resolve: Vec::new(),
        dual_stack: None,
        server_addresses: Vec::new(),
        roles: None,
        password_types: Vec::new(),
        extra: "{}".into(),
    }
}

fn input(config: &Value, settings: Value) -> Input {
    Input {
        documents: vec![doc(
            policy_guest::DocumentKind::Patroni,
            "patroni.yml",
            config,
        )],
        context: context(),
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: settings.to_string(),
    }
}

fn run(input: &Input) -> Evaluation {
    policy_guest::run::<PatroniRestapi>(input).unwrap_or_else(|e| panic!("{}", e.message))
}

fn codes(e: &Evaluation) -> Vec<&str> {
    e.findings.iter().map(|f| f.code.as_str()).collect()
}

/// Applies every patch of `e` to `config`, as the host's YAML editor does to the text.
fn apply(config: &Value, e: &Evaluation) -> Value {
    let mut v = config.clone();
    for p in &e.patches {
        for edit in &p.edits {
            match edit {
                Edit::Set(pv) => {
                    let value: Value = serde_json::from_str(&pv.value).unwrap();
                    let mut cur = &mut v;
                    let parts: Vec<&str> = pv.pointer.split('/').skip(1).collect();
                    for (i, part) in parts.iter().enumerate() {
                        if i + 1 == parts.len() {
                            cur[*part] = value.clone();
                        } else {
                            if cur.get(*part).is_none() {
                                cur[*part] = json!({});
                            }
                            cur = cur.get_mut(*part).unwrap();
                        }
                    }
                }
                Edit::Remove(ptr) => {
                    let (parent, key) = ptr.rsplit_once('/').unwrap();
                    if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                        m.remove(key);
                    }
                }
                other => panic!("only pointer edits expected: {other:?}"),
            }
        }
    }
    v
}

#[test]
fn codes_are_unique_and_documented() {
    let readme = include_str!("../README.md");
    for (i, c) in CODES.iter().enumerate() {
        assert!(
            CODES[..i].iter().all(|o| o.code != c.code),
            "duplicate code {}",
            c.code
        );
        assert!(
            readme.contains(&format!("`{}`", c.code)),
            "README.md does not document `{}`",
            c.code
        );
        assert!(
            c.code
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        );
    }
}

#[test]
fn gitlab_default_is_open_and_its_allowlist_never_matches() {
    // What omnibus-gitlab renders with `patroni['allowlist'] = %w(10.0.0.0/24 127.0.0.1/32)`.
    let config = json!({
        "scope": "gitlab", "name": "db1",
        "restapi": { "listen": ":8008", "connect_address": "10.0.0.11:8008",
                     "allowlist": ["10.0.0.0/24", "127.0.0.1/32"], "allowlist_include_members": false },
    });
    let mut inp = input(&config, json!({}));
    inp.context.members = Some(vec!["10.0.0.11".into(), "10.0.0.12".into()]);
    let e = run(&inp);
    let c = codes(&e);
    for want in [
        "unsafe-endpoints-unauthenticated",
        "no-tls",
        "allowlist-ipv4-on-dual-stack",
        "lockout-patronictl",
    ] {
        assert!(c.contains(&want), "{want} missing from {c:?}");
    }
    // The leader race is a GET: never refused.
    assert!(!c.contains(&"lockout-member-calls"), "{c:?}");
    // The fix adds the mapped entries; a second check finds neither finding.
    let fixed = apply(&config, &e);
    assert_eq!(
        fixed["restapi"]["allowlist"],
        json!([
            "10.0.0.0/24",
            "127.0.0.1/32",
            "::ffff:10.0.0.0/120",
            "::ffff:127.0.0.1/128"
        ])
    );
    let mut again = input(&fixed, json!({}));
    again.context.members = inp.context.members.clone();
    let c2 = codes(&run(&again))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    assert!(
        !c2.iter()
            .any(|c| c == "allowlist-ipv4-on-dual-stack" || c == "lockout-patronictl"),
        "{c2:?}"
    );
}

#[test]
fn hardened_config_is_clean() {
    let config = json!({
        "restapi": {
            "listen": "10.0.0.11:8008", "connect_address": "10.0.0.11:8008",
            "certfile": "/etc/patroni/rest.crt", "keyfile": "/etc/patroni/rest.key",
            "cafile": "/etc/patroni/ca.crt", "verify_client": "required",
            "allowlist": ["10.0.0.0/24"], "allowlist_include_members": true,
            "authentication": { "username": "patroni", "password": "s3cret-x" }
        },
        "ctl": { "certfile": "/etc/patroni/ctl.crt", "keyfile": "/etc/patroni/ctl.key", "cacert": "/etc/patroni/ca.crt" },
    });
    let mut inp = input(
        &config,
        json!({ "allowed_cidrs": ["10.0.0.0/16"], "require_client_certificates": true }),
    );
    inp.context.members = Some(vec!["10.0.0.11".into(), "10.0.0.12".into()]);
    let e = run(&inp);
    // `POST /mpp` is open on 4.1.5, but without Citus it does nothing: info only.
    let serious: Vec<_> = e
        .findings
        .iter()
        .filter(|f| f.severity != policy_guest::Severity::Info)
        .collect();
    assert!(serious.is_empty(), "{serious:#?}");
}

#[test]
fn dropped_entries_fail_open_and_the_fix_is_a_fixpoint() {
    let config = json!({ "restapi": { "listen": "10.0.0.11:8008",
        "authentication": { "username": "u", "password": "p-secret" },
        "allowlist": ["10.0.0.0/33", "10.0.0.256"] } });
    let e = run(&input(&config, json!({ "allowed_cidrs": ["10.0.0.0/24"] })));
    let dropped: Vec<_> = e
        .findings
        .iter()
        .filter(|f| f.code == "allowlist-entry-dropped")
        .collect();
    assert_eq!(dropped.len(), 2, "{:#?}", e.findings);
    assert!(dropped[0].message.contains("fail open"));
    assert_eq!(
        dropped[0].location.pointer.as_deref(),
        Some("/restapi/allowlist/0")
    );
    assert!(dropped[0].location.line > 0);
    let fixed = apply(&config, &e);
    assert_eq!(fixed["restapi"]["allowlist"], json!(["10.0.0.0/24"]));
    let again = run(&input(&fixed, json!({ "allowed_cidrs": ["10.0.0.0/24"] })));
    assert!(
        !codes(&again).contains(&"allowlist-entry-dropped"),
        "{:#?}",
        again.findings
    );
    // Without org networks there is no safe list to write: no patch.
    let e = run(&input(&config, json!({})));
    assert!(e.patches.is_empty());
}

#[test]
fn broad_and_missing_allowlists() {
    let wide = json!({ "restapi": { "listen": "10.0.0.11:8008", "allowlist": ["0.0.0.0/0", "10.0.0.0/24"] } });
    let e = run(&input(&wide, json!({})));
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "allowlist-too-broad")
        .unwrap();
    assert_eq!(f.severity, policy_guest::Severity::Critical);
    // An allowlist with a /0 entry restricts no one: no credential is as open as no
    // allowlist (critical), while a narrow allowlist makes it high.
    let severity_of_unauthenticated = |config: &serde_json::Value| {
        run(&input(config, json!({})))
            .findings
            .iter()
            .find(|f| f.code == "unsafe-endpoints-unauthenticated")
            .map(|f| (f.severity, f.message.clone()))
            .unwrap()
    };
    let (severity, message) = severity_of_unauthenticated(&wide);
    assert_eq!(severity, policy_guest::Severity::Critical, "{message}");
    assert!(message.contains("every address"), "{message}");
    // On a dual-stack listener IPv4 clients arrive mapped: the mapped /96 admits them
    // all, while `0.0.0.0/0` matches no client (high, as any restricting list).
    let mapped = json!({ "restapi": { "listen": "[::]:8008", "allowlist": ["::ffff:0:0/96"] } });
    assert_eq!(
        severity_of_unauthenticated(&mapped).0,
        policy_guest::Severity::Critical
    );
    let v4_on_dual = json!({ "restapi": { "listen": "[::]:8008", "allowlist": ["0.0.0.0/0"] } });
    assert_eq!(
        severity_of_unauthenticated(&v4_on_dual).0,
        policy_guest::Severity::High
    );
    let narrow = json!({ "restapi": { "listen": "10.0.0.11:8008", "allowlist": ["10.0.0.0/24"] } });
    assert_eq!(
        severity_of_unauthenticated(&narrow).0,
        policy_guest::Severity::High
    );
    let e = run(&input(&wide, json!({ "allowed_cidrs": ["10.0.0.0/16"] })));
    assert_eq!(
        apply(&wide, &e)["restapi"]["allowlist"],
        json!(["10.0.0.0/24", "10.0.0.0/16"])
    );
    let none = json!({ "restapi": { "listen": "10.0.0.11:8008" } });
    let e = run(&input(&none, json!({ "allowed_cidrs": ["10.0.0.0/24"] })));
    assert!(codes(&e).contains(&"no-allowlist"));
    let fixed = apply(&none, &e);
    assert!(
        !codes(&run(&input(
            &fixed,
            json!({ "allowed_cidrs": ["10.0.0.0/24"] })
        )))
        .contains(&"no-allowlist")
    );
    let string = json!({ "restapi": { "listen": "10.0.0.11:8008", "allowlist": "10.0.0.5" } });
    let e = run(&input(&string, json!({})));
    assert!(codes(&e).contains(&"allowlist-not-a-list"));
    assert_eq!(
        apply(&string, &e)["restapi"]["allowlist"],
        json!(["10.0.0.5"])
    );
}

#[test]
fn verify_client_values() {
    let cases = [
        (json!("yes"), true, true, Some("verify-client-ineffective")),
        (json!(true), true, true, Some("verify-client-ineffective")),
        (json!("Required"), true, true, None),
        (
            json!("required"),
            false,
            true,
            Some("verify-client-ineffective"),
        ),
        (
            json!("optional"),
            true,
            false,
            Some("verify-client-without-cafile"),
        ),
        (json!("none"), true, false, None),
    ];
    for (value, certfile, cafile, want) in cases {
        let mut r = json!({ "listen": "10.0.0.1:8008", "verify_client": value,
                            "authentication": { "username": "u", "password": "pw-1" } });
        if certfile {
            r["certfile"] = json!("/c.pem");
        }
        if cafile {
            r["cafile"] = json!("/ca.pem");
        }
        let e = run(&input(
            &json!({ "restapi": r, "ctl": { "cacert": "/ca.pem" } }),
            json!({}),
        ));
        let c = codes(&e);
        let got = c.iter().find(|c| c.starts_with("verify-client")).copied();
        assert_eq!(
            got, want,
            "{value} certfile={certfile} cafile={cafile}: {c:?}"
        );
    }
}

#[test]
fn ctl_insecure_patch_only_with_a_ca() {
    let base = json!({ "restapi": { "listen": "10.0.0.1:8008", "certfile": "/c", "authentication": { "username": "u", "password": "pw-2" } },
                       "ctl": { "insecure": true } });
    let e = run(&input(&base, json!({})));
    let f = e
        .findings
        .iter()
        .find(|f| f.code == "ctl-insecure")
        .unwrap();
    assert!(f.patch.is_none());
    let mut with_ca = base.clone();
    with_ca["ctl"]["cacert"] = json!("/ca.pem");
    let e = run(&input(&with_ca, json!({})));
    let fixed = apply(&with_ca, &e);
    assert!(fixed["ctl"].get("insecure").is_none());
    assert!(!codes(&run(&input(&fixed, json!({})))).contains(&"ctl-insecure"));
}

#[test]
fn haproxy_checks_that_the_config_refuses() {
    let config = json!({ "restapi": { "listen": "10.0.0.11:8008", "connect_address": "10.0.0.11:8008",
        "certfile": "/c", "cafile": "/ca", "verify_client": "required",
        "authentication": { "username": "u", "password": "pw-3" } },
        "ctl": { "certfile": "/ctl.crt", "keyfile": "/ctl.key" } });
    let cfg = "\
listen primary
    option httpchk OPTIONS /primary
    server pg1 10.0.0.11:5432 check port 8008
    server pg2 10.0.0.12:5432 check port 8008 check-ssl verify none
    server pg3 10.0.0.13:5432 check port 8008 check-ssl verify none crt /etc/haproxy/c.pem
";
    let mut inp = input(&config, json!({}));
    inp.documents.push(Document {
        kind: policy_guest::DocumentKind::Haproxy,
        path: "haproxy.cfg".into(),
        text: cfg.into(),
        body: Body::Text,
        diagnostics: vec![],
    });
    let e = run(&inp);
    let hc: Vec<_> = e
        .findings
        .iter()
        .filter(|f| f.code == "lockout-haproxy-check")
        .collect();
    assert_eq!(hc.len(), 2, "{:#?}", e.findings);
    assert_eq!(
        (hc[0].location.file.as_str(), hc[0].location.line),
        ("haproxy.cfg", 3)
    );
    assert!(
        hc[0].message.contains("plain HTTP to a TLS listener"),
        "{}",
        hc[0].message
    );
    assert_eq!(hc[1].location.line, 4);
    assert!(hc[1].message.contains("required"), "{}", hc[1].message);
}

#[test]
fn member_calls_need_the_same_credentials() {
    let config = json!({ "restapi": { "listen": "10.0.0.11:8008", "authentication": { "username": "u", "password": "pw-4" } },
        "ctl": { "authentication": { "username": "u", "password": "other-5" } },
        "bootstrap": { "dcs": { "failsafe_mode": true } } });
    let e = run(&input(&config, json!({})));
    let c = codes(&e);
    assert!(
        c.contains(&"lockout-patronictl") && c.contains(&"lockout-member-calls"),
        "{c:?}"
    );
    for f in &e.findings {
        assert!(
            !f.message.contains("pw-4") && !f.message.contains("other-5"),
            "{}",
            f.message
        );
    }
}

#[test]
fn decisions_answer_every_request_in_order() {
    let config = json!({ "restapi": { "listen": "127.0.0.1:8008", "allowlist": ["127.0.0.1"],
        "authentication": { "username": "u", "password": "pw-6" } } });
    let mut inp = input(&config, json!({}));
    let req = |source: &str, method: &str, path: &str, auth: RequestAuth| HttpRequest {
        name: None,
        source: source.into(),
        method: method.into(),
        path: path.into(),
        scheme: None,
        auth,
        client_cert: CertPresence::None,
    };
    inp.requests = policy_guest::RequestBatch::from_requests(&[
        req("127.0.0.1", "POST", "/restart", RequestAuth::Valid),
        req("127.0.0.2", "POST", "/restart", RequestAuth::Valid),
        req("127.0.0.1", "POST", "/restart", RequestAuth::None),
        req("127.0.0.2", "GET", "/cluster", RequestAuth::None),
        req("127.0.0.2", "POST", "/mpp", RequestAuth::None),
    ])
    .unwrap();
    let e = run(&inp);
    let decisions = e.full_decisions();
    let got: Vec<_> = decisions
        .iter()
        .map(|d| (d.index, d.verdict, d.status, d.stage.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, Verdict::Allow, None, "passed"),
            (1, Verdict::Deny, Some(403), "access"),
            (2, Verdict::Deny, Some(401), "access"),
            (3, Verdict::Allow, None, "passed"),
            (4, Verdict::Allow, None, "passed"),
        ]
    );
    let loc = decisions[1].location.as_ref().unwrap();
    assert_eq!(loc.file.as_str(), "patroni.yml");
    assert!(
        decisions[1]
            .reason
            .contains("restapi.allowlist (patroni.yml:"),
        "{}",
        decisions[1].reason
    );
    assert!(decisions.iter().all(|d| !d.reason.contains("pw-6")));
}

#[test]
fn settings_are_validated() {
    let inp = input(
        &json!({ "restapi": { "listen": ":8008" } }),
        json!({ "allowed_cidrs": ["10.0.0.0/33"] }),
    );
    let err = policy_guest::run::<PatroniRestapi>(&inp).unwrap_err();
    assert!(err.message.contains("10.0.0.0/33"), "{}", err.message);
    let inp = input(
        &json!({ "restapi": { "listen": ":8008" } }),
        json!({ "nope": 1 }),
    );
    assert!(policy_guest::run::<PatroniRestapi>(&inp).is_err());
}

#[test]
fn keys_patroni_never_reads() {
    let config = json!({ "restapi": { "listen": "10.0.0.1:8008", "crlfile": "/etc/patroni/crl.pem",
        "authentication": { "username": "u", "password": "pw-7" } },
        "ctl": { "cafile": "/etc/patroni/ca.crt" }, "bootstrap": { "dcs": { "restapi": { "listen": ":8008" } } } });
    let e = run(&input(&config, json!({})));
    let ignored: Vec<_> = e
        .findings
        .iter()
        .filter(|f| f.code == "ignored-key")
        .map(|f| f.location.pointer.clone())
        .collect();
    assert_eq!(ignored.len(), 3, "{:#?}", e.findings);
}

#[test]
fn another_clusters_haproxy_is_not_judged_against_this_node() {
    let config = json!({ "restapi": { "listen": "10.0.0.11:8008", "connect_address": "10.0.0.11:8008",
        "certfile": "/c", "cafile": "/ca", "verify_client": "required",
        "authentication": { "username": "u", "password": "pw-3" } },
        "ctl": { "certfile": "/ctl.crt", "keyfile": "/ctl.key" } });
    // Cluster B's HAProxy: plain checks that would fail against this TLS API, but they
    // go to B's nodes.
    let cfg = "listen b\n    option httpchk OPTIONS /primary\n    server b1 10.9.0.11:5432 check port 8008\n    server b2 10.9.0.12:5432 check port 8008\n";
    let mut inp = input(&config, json!({}));
    inp.documents.push(Document {
        kind: policy_guest::DocumentKind::Haproxy,
        path: "b/haproxy.cfg".into(),
        text: cfg.into(),
        body: Body::Text,
        diagnostics: vec![],
    });
    let e = run(&inp);
    assert!(
        e.findings.iter().all(|f| f.code != "lockout-haproxy-check"),
        "{:#?}",
        e.findings
    );
}

/// Regression tests from real-world Patroni files (issue 13).
#[path = "tests_realworld.rs"]
mod realworld;
