//! Table-driven tests of the access decision: one row per row of the reference's tables
//! (§1, §2.1, §4.B, §4.D, §4.F and the 4.1.5 addendum).

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;
use crate::doc::Structured;
use crate::{Body, CertPresence, Credentials, Document, HttpRequest, RequestAuth, Span};

/// A patroni document whose every pointer gets its own line.
fn doc(config: Value) -> Document {
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
    walk(&config, String::new(), &mut spans);
    Document {
        kind: crate::DocumentKind::Patroni,
        path: "patroni.yml".into(),
        text: String::new(),
        body: Body::Structured(crate::Structured {
            json: config.to_string(),
            spans,
        }),
        diagnostics: Vec::new(),
    }
}

fn api_with(restapi: Value, facts: &Facts) -> RestApi {
    let d = doc(json!({ "restapi": restapi }));
    let y = Structured::new(&d).unwrap();
    RestApi::compile(&y, facts)
}

fn api(restapi: Value) -> RestApi {
    api_with(
        restapi,
        &Facts {
            version: Some(Version(4, 1, 5)),
            ..Facts::default()
        },
    )
}

fn req(
    source: &str,
    method: &str,
    path: &str,
    scheme: Option<&str>,
    auth: RequestAuth,
    cert: CertPresence,
) -> HttpRequest {
    HttpRequest {
        name: None,
        source: source.into(),
        method: method.into(),
        path: path.into(),
        scheme: scheme.map(str::to_string),
        auth,
        client_cert: cert,
    }
}

/// `(verdict, status, stage)` as the differential test compares them.
type Want = (bool, Option<u16>, &'static str);
const ALLOW: Want = (true, None, "passed");
const TLS: Want = (false, None, "tls");
const D401: Want = (false, Some(401), "access");
const D403: Want = (false, Some(403), "access");
const D501: Want = (false, Some(501), "access");

fn check(api: &RestApi, r: &HttpRequest, want: Want) {
    let out = api.decide(r);
    let got = (out.allow, out.status, out.stage.as_str());
    let d = api.decision(0, r, &out);
    assert_eq!(
        got, want,
        "{} {} from {} ({:?}, {:?}): {}",
        r.method, r.path, r.source, r.auth, r.client_cert, d.reason
    );
}

const N: RequestAuth = RequestAuth::None;
const NO: CertPresence = CertPresence::None;

fn tls_api(verify: &str, cafile: bool) -> RestApi {
    let mut v =
        json!({ "listen": "127.0.0.1:8008", "certfile": "/c.pem", "verify_client": verify });
    if cafile {
        v["cafile"] = json!("/ca.pem");
    }
    api(v)
}

/// §4.B: the transport, for every verify_client mode and certificate.
#[test]
fn transport_rows() {
    let (none, trusted, untrusted) = (
        CertPresence::None,
        CertPresence::Trusted,
        CertPresence::Untrusted,
    );
    let plain = api(json!({ "listen": "127.0.0.1:8008" }));
    let rows: &[(&RestApi, Option<&str>, CertPresence, &str, Want)] = &[
        // B1: plain HTTP to TLS, TLS to plain HTTP.
        (&tls_api("none", true), Some("http"), none, "GET", TLS),
        (&plain, Some("https"), none, "GET", TLS),
        (&plain, Option::None, trusted, "GET", ALLOW),
        // B2: required.
        (&tls_api("required", true), Some("https"), none, "GET", TLS),
        (
            &tls_api("required", true),
            Some("https"),
            untrusted,
            "GET",
            TLS,
        ),
        (
            &tls_api("required", true),
            Some("https"),
            trusted,
            "GET",
            ALLOW,
        ),
        (
            &tls_api("required", false),
            Some("https"),
            trusted,
            "GET",
            TLS,
        ),
        (&tls_api("REQUIRED", true), Some("https"), none, "GET", TLS),
        // B3: optional.
        (
            &tls_api("optional", true),
            Some("https"),
            none,
            "GET",
            ALLOW,
        ),
        (
            &tls_api("optional", true),
            Some("https"),
            untrusted,
            "GET",
            TLS,
        ),
        (
            &tls_api("optional", true),
            Some("https"),
            trusted,
            "GET",
            ALLOW,
        ),
        (
            &tls_api("optional", true),
            Some("https"),
            none,
            "POST",
            D403,
        ),
        (
            &tls_api("optional", true),
            Some("https"),
            trusted,
            "POST",
            ALLOW,
        ),
        (
            &tls_api("optional", false),
            Some("https"),
            trusted,
            "GET",
            TLS,
        ),
        // B4: none, and values without effect.
        (
            &tls_api("none", true),
            Some("https"),
            untrusted,
            "POST",
            ALLOW,
        ),
        (
            &tls_api("true", true),
            Some("https"),
            untrusted,
            "POST",
            ALLOW,
        ),
        (&tls_api("", true), Some("https"), none, "POST", ALLOW),
    ];
    for (i, (api, scheme, cert, method, want)) in rows.iter().enumerate() {
        let path = if *method == "GET" {
            "/patroni"
        } else {
            "/reload"
        };
        let r = req("127.0.0.1", method, path, *scheme, N, *cert);
        eprintln!("row {i}");
        check(api, &r, *want);
    }
    // A YAML boolean is ignored: no check at all.
    let yes = api(
        json!({ "listen": "127.0.0.1:8008", "certfile": "/c.pem", "cafile": "/ca", "verify_client": true }),
    );
    check(
        &yes,
        &req("127.0.0.1", "POST", "/reload", None, N, untrusted),
        ALLOW,
    );
    // Without certfile, verify_client has no effect.
    let nocert =
        api(json!({ "listen": "127.0.0.1:8008", "verify_client": "required", "cafile": "/ca" }));
    check(
        &nocert,
        &req("127.0.0.1", "POST", "/reload", None, N, NO),
        ALLOW,
    );
}

/// §4.D: the order of the checks, and each failure's status.
#[test]
fn check_access_rows() {
    let full = api(json!({
        "listen": "127.0.0.1:8008", "certfile": "/c.pem", "cafile": "/ca.pem", "verify_client": "optional",
        "allowlist": ["127.0.0.1/32"], "authentication": { "username": "u", "password": "p" }
    }));
    let t = CertPresence::Trusted;
    let rows: &[(&str, RequestAuth, CertPresence, Want)] = &[
        // IP first: a wrong IP is 403 whatever the certificate and password.
        ("127.0.0.2", RequestAuth::Valid, t, D403),
        ("127.0.0.2", N, NO, D403),
        // Then the certificate.
        ("127.0.0.1", RequestAuth::Valid, NO, D403),
        // Then basic auth.
        ("127.0.0.1", N, t, D401),
        ("127.0.0.1", RequestAuth::Invalid, t, D401),
        ("127.0.0.1", RequestAuth::Valid, t, ALLOW),
        (
            "127.0.0.1",
            RequestAuth::Basic(Credentials {
                username: "u".into(),
                password: "p".into(),
            }),
            t,
            ALLOW,
        ),
        (
            "127.0.0.1",
            RequestAuth::Basic(Credentials {
                username: "U".into(),
                password: "p".into(),
            }),
            t,
            D401,
        ),
        (
            "127.0.0.1",
            RequestAuth::Basic(Credentials {
                username: "u".into(),
                password: "p ".into(),
            }),
            t,
            D401,
        ),
    ];
    for (source, auth, cert, want) in rows {
        check(
            &full,
            &req(source, "POST", "/restart", None, auth.clone(), *cert),
            *want,
        );
    }
    // Safe endpoints are never checked.
    check(
        &full,
        &req("127.0.0.2", "GET", "/config", None, N, NO),
        ALLOW,
    );
    check(&full, &req("127.0.0.2", "HEAD", "/", None, N, NO), ALLOW);
    check(
        &full,
        &req("127.0.0.2", "OPTIONS", "/reload", None, N, NO),
        ALLOW,
    );
    // 501 before any check.
    check(
        &full,
        &req("127.0.0.2", "PUT", "/reload", None, N, NO),
        D501,
    );
    // POST /switchover goes through the decorated failover handler.
    check(
        &full,
        &req("127.0.0.2", "POST", "/switchover", None, N, NO),
        D403,
    );
    // POST /mpp is not checked on 4.1.5.
    check(&full, &req("127.0.0.2", "POST", "/mpp", None, N, NO), ALLOW);
    check(
        &full,
        &req("127.0.0.2", "POST", "/citus", None, N, NO),
        D403,
    );
}

/// D4 and §1 item 9: no authentication configured accepts any header.
#[test]
fn basic_auth_rows() {
    let open = api(json!({ "listen": "127.0.0.1:8008" }));
    check(
        &open,
        &req(
            "127.0.0.9",
            "POST",
            "/reload",
            None,
            RequestAuth::Invalid,
            NO,
        ),
        ALLOW,
    );
    // The whole `user:password` string is compared: another split at a colon matches.
    let colon = api(
        json!({ "listen": "127.0.0.1:8008", "authentication": { "username": "a", "password": "b:c" } }),
    );
    let split = RequestAuth::Basic(Credentials {
        username: "a:b".into(),
        password: "c".into(),
    });
    check(
        &colon,
        &req("127.0.0.1", "POST", "/reload", None, split, NO),
        ALLOW,
    );
    // `password: null` is the literal `None`; an integer is stringified.
    let none = api(
        json!({ "listen": "127.0.0.1:8008", "authentication": { "username": "u", "password": null } }),
    );
    let lit = RequestAuth::Basic(Credentials {
        username: "u".into(),
        password: "None".into(),
    });
    check(
        &none,
        &req("127.0.0.1", "POST", "/reload", None, lit, NO),
        ALLOW,
    );
    let num = api(
        json!({ "listen": "127.0.0.1:8008", "authentication": { "username": "u", "password": 12345 } }),
    );
    let lit = RequestAuth::Basic(Credentials {
        username: "u".into(),
        password: "12345".into(),
    });
    check(
        &num,
        &req("127.0.0.1", "POST", "/reload", None, lit, NO),
        ALLOW,
    );
    // Legacy `auth`, and `authentication` winning over it.
    let legacy = api(json!({ "listen": "127.0.0.1:8008", "auth": "x:y" }));
    let xy = RequestAuth::Basic(Credentials {
        username: "x".into(),
        password: "y".into(),
    });
    check(
        &legacy,
        &req("127.0.0.1", "POST", "/reload", None, xy.clone(), NO),
        ALLOW,
    );
    let both = api(
        json!({ "listen": "127.0.0.1:8008", "auth": "x:y", "authentication": { "username": "u", "password": "p" } }),
    );
    check(
        &both,
        &req("127.0.0.1", "POST", "/reload", None, xy, NO),
        D401,
    );
    // A missing password stops Patroni.
    let broken = api(json!({ "listen": "127.0.0.1:8008", "authentication": { "username": "u" } }));
    check(&broken, &req("127.0.0.1", "GET", "/", None, N, NO), TLS);
}

/// §1 items 5-7 and the addendum: allowlist parsing, fail-open, members fail-closed,
/// IPv4-mapped peers.
#[test]
fn allowlist_rows() {
    let post = |api: &RestApi, src: &str, want: Want| {
        check(api, &req(src, "POST", "/reload", None, N, NO), want)
    };
    // Invalid entries are dropped; with nothing valid left there is no IP check.
    let invalid =
        api(json!({ "listen": "127.0.0.1:8008", "allowlist": ["10.0.0.0/33", "not an ip"] }));
    assert_eq!(invalid.allowlist.dropped.len(), 2);
    post(&invalid, "192.0.2.1", ALLOW);
    // A string instead of a list: ignored.
    let string = api(json!({ "listen": "127.0.0.1:8008", "allowlist": "127.0.0.2" }));
    post(&string, "192.0.2.1", ALLOW);
    // Non-strict networks, netmasks, hostmasks, inet_aton forms.
    let forms = api(
        json!({ "listen": "127.0.0.1:8008", "allowlist": ["127.0.0.9/24", "10.0.0.0/255.255.0.0", "127.2"] }),
    );
    post(&forms, "127.0.0.200", ALLOW);
    post(&forms, "10.0.44.1", ALLOW);
    post(&forms, "127.0.0.2", ALLOW);
    post(&forms, "127.0.1.1", D403);
    // A non-string scalar entry stops Patroni.
    let int = api(json!({ "listen": "127.0.0.1:8008", "allowlist": [127] }));
    post(&int, "127.0.0.1", TLS);
    // Dual-stack: IPv4 peers are mapped and miss IPv4 entries.
    let dual = api(json!({ "listen": ":8008", "allowlist": ["127.0.0.1/32"] }));
    assert!(dual.dual_stack);
    post(&dual, "127.0.0.1", D403);
    let mapped = api(json!({ "listen": "[::]:8008", "allowlist": ["::ffff:127.0.0.0/104"] }));
    post(&mapped, "127.0.0.1", ALLOW);
    post(&mapped, "::1", D403);
    // A socket bound to one IPv6 address sees no IPv4 peer; a mapped address maps them.
    assert!(!api(json!({ "listen": "[::1]:8008" })).dual_stack);
    assert!(api(json!({ "listen": "[::ffff:127.0.0.1]:8008" })).dual_stack);
    assert!(api(json!({ "listen": "*:8008" })).dual_stack);
    let v4only = api(json!({ "listen": "0.0.0.0:8008", "allowlist": ["127.0.0.1/32"] }));
    assert!(!v4only.dual_stack);
    post(&v4only, "127.0.0.1", ALLOW);
    // The context can say the host has no dual stack.
    let told = api_with(
        json!({ "listen": ":8008", "allowlist": ["127.0.0.1/32"] }),
        &Facts {
            dual_stack: Some(false),
            ..Facts::default()
        },
    );
    post(&told, "127.0.0.1", ALLOW);
    // Host names resolve through the context.
    let resolve = vec![
        ("node2".to_string(), vec!["10.0.0.2".to_string()]),
        ("gone".to_string(), vec![]),
    ];
    let named = api_with(
        json!({ "listen": "127.0.0.1:8008", "allowlist": ["node2", "gone"] }),
        &Facts {
            resolve: &resolve,
            ..Facts::default()
        },
    );
    assert_eq!(named.allowlist.dropped.len(), 1);
    post(&named, "10.0.0.2", ALLOW);
    post(&named, "10.0.0.3", D403);
    let unknown = api(json!({ "listen": "127.0.0.1:8008", "allowlist": ["node9"] }));
    let out = unknown.decide(&req("10.0.0.3", "POST", "/reload", None, N, NO));
    assert!(!out.allow && out.depends.resolve);
}

#[test]
fn members_rows() {
    let members = vec![
        "127.0.0.1".to_string(),
        "https://node2:8008/patroni".to_string(),
    ];
    let resolve = vec![("node2".to_string(), vec!["10.0.0.2".to_string()])];
    let facts = Facts {
        version: Some(Version(4, 1, 5)),
        members: Some(&members),
        resolve: &resolve,
        dual_stack: None,
    };
    let conf = json!({ "listen": "127.0.0.1:8008", "allowlist_include_members": true });
    let known = api_with(conf.clone(), &facts);
    let post = |api: &RestApi, src: &str, path: &str, want: Want| {
        check(api, &req(src, "POST", path, None, N, NO), want)
    };
    post(&known, "127.0.0.1", "/reload", ALLOW);
    post(&known, "10.0.0.2", "/reload", ALLOW);
    post(&known, "127.0.0.2", "/reload", D403);
    // /failsafe ignores members (3.3.3+): with no allowlist there is no IP check at all.
    post(&known, "127.0.0.2", "/failsafe", ALLOW);
    let old = api_with(
        conf.clone(),
        &Facts {
            version: Some(Version(3, 3, 2)),
            ..facts
        },
    );
    post(&old, "127.0.0.2", "/failsafe", D403);
    // No members known in the DCS: fail closed.
    let empty: Vec<String> = vec![];
    let none = api_with(
        conf.clone(),
        &Facts {
            members: Some(&empty),
            ..facts
        },
    );
    post(&none, "127.0.0.1", "/reload", D403);
    // Unknown members: deny, and say so.
    let unknown = api_with(
        conf,
        &Facts {
            members: None,
            ..facts
        },
    );
    let out = unknown.decide(&req("127.0.0.1", "POST", "/reload", None, N, NO));
    assert!(!out.allow && out.depends.members);
    // A string "false" is truthy.
    let string = api_with(
        json!({ "listen": "127.0.0.1:8008", "allowlist_include_members": "false" }),
        &facts,
    );
    assert!(string.include_members);
    post(&string, "127.0.0.2", "/reload", D403);
}

/// §4.F: the versions that change a verdict.
#[test]
fn version_rows() {
    let conf = json!({
        "listen": "127.0.0.1:8008", "certfile": "/c", "cafile": "/ca", "verify_client": "optional",
        "allowlist": ["10.0.0.0/8"], "authentication": { "username": "u", "password": "p" }
    });
    let at = |v: Version| {
        api_with(
            conf.clone(),
            &Facts {
                version: Some(v),
                ..Facts::default()
            },
        )
    };
    let t = CertPresence::Trusted;
    // Before 2.0.0 a valid certificate replaces basic auth; before 2.1.0 no allowlist.
    check(
        &at(Version(1, 6, 5)),
        &req("127.0.0.1", "POST", "/reload", None, N, t),
        ALLOW,
    );
    check(
        &at(Version(2, 0, 0)),
        &req("127.0.0.1", "POST", "/reload", None, N, t),
        D401,
    );
    check(
        &at(Version(2, 0, 2)),
        &req("127.0.0.1", "POST", "/reload", None, RequestAuth::Valid, t),
        ALLOW,
    );
    check(
        &at(Version(2, 1, 0)),
        &req("127.0.0.1", "POST", "/reload", None, RequestAuth::Valid, t),
        D403,
    );
    // HEAD and /sigterm since 2.1.5, /failsafe and /citus since 3.0.0, /mpp 3.3.0.
    check(
        &at(Version(2, 1, 4)),
        &req("127.0.0.1", "HEAD", "/", None, N, NO),
        D501,
    );
    check(
        &at(Version(2, 1, 4)),
        &req("10.0.0.1", "POST", "/sigterm", None, N, NO),
        D501,
    );
    check(
        &at(Version(2, 1, 5)),
        &req("10.0.0.1", "POST", "/sigterm", None, N, NO),
        D403,
    );
    check(
        &at(Version(2, 1, 7)),
        &req("10.0.0.1", "POST", "/citus", None, N, NO),
        D501,
    );
    check(
        &at(Version(3, 2, 2)),
        &req("10.0.0.1", "POST", "/mpp", None, N, NO),
        D501,
    );
    check(
        &at(Version(3, 3, 0)),
        &req("10.0.0.1", "POST", "/mpp", None, N, NO),
        ALLOW,
    );
    check(
        &at(Version(4, 2, 0)),
        &req("10.0.0.1", "POST", "/mpp", None, N, NO),
        D403,
    );
    // No version: the newest checked behaviour (4.1.5), marked as depending on it.
    let newest = api_with(conf.clone(), &Facts::default());
    let out = newest.decide(&req("10.0.0.1", "POST", "/mpp", None, N, NO));
    assert!(out.allow && out.depends.version);
}

#[test]
fn reasons_name_the_key_and_never_the_password() {
    let a = api(json!({
        "listen": "127.0.0.1:8008", "allowlist": ["10.0.0.0/8"],
        "authentication": { "username": "admin", "password": "hunter2" }
    }));
    for auth in [N, RequestAuth::Invalid, RequestAuth::Valid] {
        for src in ["10.0.0.1", "127.0.0.1"] {
            let d = a.decide_request(0, &req(src, "POST", "/reload", None, auth.clone(), NO));
            assert!(!d.reason.contains("hunter2"), "{}", d.reason);
            assert!(d.reason.contains("patroni.yml:"), "{}", d.reason);
            assert!(d.location.is_some());
        }
    }
    let d = a.decide_request(0, &req("127.0.0.1", "POST", "/reload", None, N, NO));
    assert!(
        d.reason.contains("restapi.allowlist (patroni.yml:"),
        "{}",
        d.reason
    );
    assert_eq!(d.location.unwrap().line, a.keys.allowlist.location.line);
}
