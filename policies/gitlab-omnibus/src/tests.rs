//! Policy tests over hand-built gitlab.rb inputs; fixes are checked as the settings
//! edits they ask for (the host writes them as Ruby: `tests/*.yaml` show the fixed text
//! and that a second check is clean).

use policy_guest::hba::testing::context;
use policy_guest::{Body, Document, Edit, Evaluation, Input, Location, Setting};
use serde_json::{Value, json};

use super::*;

/// Every settings edit of the patches: (JSON pointer, value).
fn sets(e: &Evaluation) -> Vec<(String, Value)> {
    e.patches
        .iter()
        .flat_map(|p| p.edits.iter())
        .map(|ed| match ed {
            Edit::SetSetting(s) => {
                assert_eq!(s.section, None);
                (s.key.clone(), serde_json::from_str(&s.value).unwrap())
            }
            other => panic!("not a settings edit: {other:?}"),
        })
        .collect()
}

/// A one-line-per-statement gitlab.rb reader for tests (the real one is the host's).
fn gitlab_rb(text: &str) -> Document {
    let mut settings = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let location = Location {
            file: "gitlab.rb".into(),
            line: i as u32 + 1,
            end_line: None,
            pointer: None,
        };
        if let Some(arg) = l.strip_prefix("roles(").and_then(|r| r.strip_suffix(')')) {
            settings.push(Setting {
                section: None,
                name: "roles".into(),
                value: literal(arg).to_string(),
                args: Vec::new(),
                location,
            });
            continue;
        }
        let (name, value) = l.split_once(" = ").expect("an assignment");
        let section = name.split('[').next().map(str::to_string);
        let (value, args) = if value.starts_with("ENV") {
            (value.to_string(), vec!["unevaluated".to_string()])
        } else {
            (literal(value).to_string(), Vec::new())
        };
        settings.push(Setting {
            section,
            name: name.into(),
            value,
            args,
            location,
        });
    }
    Document {
        kind: policy_guest::DocumentKind::GitlabRb,
        path: "gitlab.rb".into(),
        text: text.into(),
        body: Body::Settings(settings),
        diagnostics: Vec::new(),
    }
}

fn literal(v: &str) -> Value {
    let v = v.trim();
    if let Some(words) = v.strip_prefix("%w(").and_then(|w| w.strip_suffix(')')) {
        return json!(words.split_whitespace().collect::<Vec<_>>());
    }
    if let Some(s) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return json!(s);
    }
    if v == "nil" {
        return Value::Null;
    }
    serde_json::from_str(&v.replace('\'', "\"")).expect("a JSON-like literal")
}

fn run(text: &str, settings: &str) -> Evaluation {
    let input = Input {
        documents: vec![gitlab_rb(text)],
        context: context(15),
        requests: Default::default(),
        connections: Vec::new(),
        deployment: policy_guest::testing::deployment(),
        settings: settings.into(),
    };
    policy_guest::run::<GitlabOmnibus>(&input).expect("the policy runs")
}

fn codes(e: &Evaluation) -> Vec<(String, u32)> {
    let mut v: Vec<_> = e
        .findings
        .iter()
        .map(|f| (f.code.clone(), f.location.line))
        .collect();
    v.sort();
    v
}

const NODE: &str = "\
roles(['patroni_role', 'pgbouncer_role'])
postgresql['md5_auth_cidr_addresses'] = %w(10.6.0.0/24 0.0.0.0/0)
patroni['username'] = 'patroni-api'
patroni['tls_verify'] = false
pgbouncer['admin_users'] = %w(pgbouncer postgres)
consul['configuration'] = {'client_addr': '0.0.0.0', 'retry_join': ['10.6.0.11']}
";

#[test]
fn database_node_findings() {
    let e = run(
        NODE,
        r#"{"pgbouncer": {"allowed_admin_users": ["pgbouncer"]}}"#,
    );
    assert_eq!(
        codes(&e),
        vec![
            ("consul-acl-disabled".into(), 6),
            ("consul-gossip-unencrypted".into(), 1),
            ("consul-http-api-exposed".into(), 6),
            ("consul-tls-verify-incoming-off".into(), 1),
            ("consul-tls-verify-outgoing-off".into(), 1),
            ("consul-tls-verify-server-hostname-off".into(), 6),
            ("patroni-authentication-password-empty".into(), 3),
            ("patroni-ctl-insecure".into(), 4),
            ("patroni-no-allowlist".into(), 1),
            ("patroni-no-tls".into(), 1),
            ("pgbouncer-admin-user-not-allowed".into(), 5),
            ("pgbouncer-auth-type-weak".into(), 1),
            ("pgbouncer-client-tls-weak".into(), 1),
            ("pgbouncer-listen-all-interfaces".into(), 1),
            ("pgbouncer-server-tls-weak".into(), 1),
            ("pgbouncer-tls-protocols-legacy".into(), 1),
            ("pgbouncer-tls-protocols-legacy".into(), 1),
        ]
    );
    let sets = sets(&e);
    // The allowlist with the trusted network, loopback and their IPv4-mapped forms (the
    // listener is `:8008`, dual-stack).
    let allowlist = json!([
        "10.6.0.0/24",
        "127.0.0.1/32",
        "::ffff:10.6.0.0/120",
        "::ffff:127.0.0.1/128"
    ]);
    assert!(
        sets.contains(&("/patroni/allowlist".into(), allowlist)),
        "{sets:?}"
    );
    assert!(
        sets.contains(&("/pgbouncer/admin_users".into(), json!(["pgbouncer"]))),
        "{sets:?}"
    );
    // No `pgbouncer['users']` secrets: whether they can do SCRAM is unknown, no switch.
    assert!(
        !sets.iter().any(|(k, _)| k == "/pgbouncer/auth_type"),
        "{sets:?}"
    );
    let auth = e
        .findings
        .iter()
        .find(|f| f.code == "pgbouncer-auth-type-weak")
        .unwrap();
    assert_eq!(auth.patch, None);
    assert!(
        auth.message
            .contains("no automatic fix: `pgbouncer['users']` is not set"),
        "{}",
        auth.message
    );
    assert!(
        sets.contains(&(
            "/consul/configuration/client_addr".into(),
            json!("127.0.0.1")
        )),
        "{sets:?}"
    );
}

#[test]
fn pgbouncer_scram_only_with_scram_secrets() {
    let node = "roles(['pgbouncer_role'])\npgbouncer['users'] = {'gitlab-consul': {'password': 'md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}}\n";
    let e = run(node, "{}");
    let auth = e
        .findings
        .iter()
        .find(|f| f.code == "pgbouncer-auth-type-weak")
        .unwrap();
    assert_eq!(auth.patch, None);
    assert!(
        auth.message.contains("no SCRAM secret for `gitlab-consul`"),
        "{}",
        auth.message
    );
    let node = "roles(['pgbouncer_role'])\npgbouncer['users'] = {'gitlab-consul': {'password': 'SCRAM-SHA-256$4096:c2FsdA==$a:b'}}\n";
    let e = run(node, "{}");
    let auth = e
        .findings
        .iter()
        .find(|f| f.code == "pgbouncer-auth-type-weak")
        .unwrap();
    assert!(auth.patch.is_some(), "{}", auth.message);
}

#[test]
fn hardened_node_is_clean() {
    let text = "\
roles(['patroni_role', 'pgbouncer_role'])
patroni['listen_address'] = '10.6.0.21'
patroni['connect_address'] = '10.6.0.21'
patroni['username'] = 'patroni-api'
patroni['password'] = ENV['PATRONI_API_PASSWORD']
patroni['allowlist'] = %w(10.6.0.0/24 127.0.0.1/32)
patroni['allowlist_include_members'] = true
patroni['tls_certificate_file'] = '/etc/gitlab/ssl/patroni.crt'
patroni['tls_key_file'] = '/etc/gitlab/ssl/patroni.key'
patroni['tls_ca_file'] = '/etc/gitlab/ssl/ca.crt'
patroni['tls_client_mode'] = 'optional'
patroni['tls_client_certificate_file'] = '/etc/gitlab/ssl/patroni-client.crt'
patroni['tls_client_key_file'] = '/etc/gitlab/ssl/patroni-client.key'
pgbouncer['listen_addr'] = '10.6.0.21'
pgbouncer['auth_type'] = 'scram-sha-256'
pgbouncer['client_tls_sslmode'] = 'require'
pgbouncer['client_tls_key_file'] = '/etc/gitlab/ssl/pgbouncer.key'
pgbouncer['client_tls_cert_file'] = '/etc/gitlab/ssl/pgbouncer.crt'
pgbouncer['client_tls_protocols'] = 'secure'
pgbouncer['server_tls_sslmode'] = 'verify-full'
pgbouncer['server_tls_ca_file'] = '/etc/gitlab/ssl/ca.crt'
pgbouncer['server_tls_protocols'] = 'secure'
consul['encryption_key'] = ENV['CONSUL_GOSSIP_KEY']
consul['use_tls'] = true
consul['tls_ca_file'] = '/etc/gitlab/ssl/ca.crt'
consul['tls_certificate_file'] = '/etc/gitlab/ssl/consul.crt'
consul['tls_key_file'] = '/etc/gitlab/ssl/consul.key'
consul['tls_verify_client'] = true
consul['configuration'] = {'acl': {'enabled': true, 'default_policy': 'deny'}, 'tls': {'internal_rpc': {'verify_server_hostname': true}}}
";
    let e = run(text, "{}");
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
}

#[test]
fn client_certificates_and_the_listener() {
    let text = "\
patroni['enable'] = true
patroni['connect_address'] = '10.6.0.22'
patroni['username'] = 'api'
patroni['password'] = 'Vx3-api-secret-8q'
patroni['allowlist'] = %w(10.6.0.0/24 ::ffff:10.6.0.0/120)
patroni['tls_certificate_file'] = '/c'
patroni['tls_key_file'] = '/k'
patroni['tls_client_mode'] = 'optional'
";
    let strict =
        r#"{"patroni": {"require_client_certificates": true, "forbid_wildcard_listen": true}}"#;
    let e = run(text, strict);
    assert_eq!(
        codes(&e),
        vec![
            ("patroni-listen-all-interfaces".into(), 1),
            ("patroni-safe-endpoints-unauthenticated".into(), 8),
            ("patroni-verify-client-without-cafile".into(), 8),
        ]
    );
    assert!(
        sets(&e).contains(&("/patroni/listen_address".into(), json!("10.6.0.22"))),
        "{:?}",
        sets(&e)
    );
}

#[test]
fn unknown_values_are_not_missing_ones() {
    let text = "roles(['patroni_role'])\npatroni['username'] = ENV['U']\npatroni['password'] = ENV['P']\npatroni['allowlist'] = ENV['A']\n";
    let e = run(text, "{}");
    let found: Vec<String> = codes(&e).into_iter().map(|(c, _)| c).collect();
    assert!(
        !found.iter().any(|c| c.contains("unauthenticated")
            || c.contains("password-empty")
            || c.contains("allowlist")),
        "{found:?}"
    );
}

#[test]
fn components_that_are_off_are_not_checked() {
    let e = run("external_url = 'https://gitlab.example.com'\n", "{}");
    assert!(e.findings.is_empty(), "{:?}", codes(&e));
}

#[test]
fn codes_are_unique_and_documented() {
    let readme = include_str!("../README.md");
    let mut seen = std::collections::HashSet::new();
    for c in CODES {
        assert!(seen.insert(c.code), "duplicate code {}", c.code);
        assert!(
            readme.contains(&format!("`{}`", c.code)),
            "README lacks {}",
            c.code
        );
    }
}

#[test]
fn trust_auth_networks_are_passwordless_logins() {
    // docs.gitlab.com's Patroni database-node example puts the nodes' subnet in
    // `trust_auth_cidr_addresses`; Omnibus renders `host all all <cidr> trust`.
    let node = "roles(['patroni_role'])\npostgresql['trust_auth_cidr_addresses'] = %w(10.6.0.0/24 127.0.0.1/32)\n";
    let e = run(node, "{}");
    let f: Vec<_> = e
        .findings
        .iter()
        .filter(|f| f.code == "postgresql-trust-auth-network")
        .collect();
    assert_eq!(f.len(), 1, "{:?}", codes(&e));
    assert_eq!(f[0].location.line, 2);
    assert!(f[0].message.contains("`10.6.0.0/24`"), "{}", f[0].message);
    // Private ranges: the cluster's networks, as `pg-hba` rates `host all all 10.6.0.0/24 trust`.
    assert_eq!(f[0].severity, Severity::High);
    let open = run(
        "postgresql['trust_auth_cidr_addresses'] = %w(0.0.0.0/0)\n",
        "{}",
    );
    let f = open
        .findings
        .iter()
        .find(|f| f.code == "postgresql-trust-auth-network");
    assert_eq!(f.map(|f| f.severity), Some(Severity::Critical));
    let public = run(
        "postgresql['trust_auth_cidr_addresses'] = %w(203.0.113.0/24)\n",
        "{}",
    );
    let f = public
        .findings
        .iter()
        .find(|f| f.code == "postgresql-trust-auth-network");
    assert_eq!(f.map(|f| f.severity), Some(Severity::Critical));
    // Loopback only: every local user as any role, medium as `pg-hba`'s `trust-over-tcp`
    // on loopback (issue 13: one mistake, one severity).
    let local = run(
        "postgresql['trust_auth_cidr_addresses'] = %w(127.0.0.1/32 ::1/128)\n",
        "{}",
    );
    let f = local
        .findings
        .iter()
        .find(|f| f.code == "postgresql-trust-auth-network");
    assert_eq!(f.map(|f| f.severity), Some(Severity::Medium));
    // A node that runs no PostgreSQL: nothing to say.
    let app = run(
        "roles(['application_role'])\npostgresql['trust_auth_cidr_addresses'] = %w(10.6.0.0/24)\n",
        "{}",
    );
    assert!(
        app.findings
            .iter()
            .all(|f| f.code != "postgresql-trust-auth-network")
    );
}

#[test]
fn weak_passwords_in_gitlab_rb() {
    // The docs' Patroni example copied with its placeholder filled in lazily.
    let rb = "roles(['patroni_role'])\npatroni['username'] = 'gitlab-patroni'\npatroni['password'] = 'gitlab-patroni'\ngitlab_rails['db_password'] = 'gitlab'\n";
    let e = run(rb, "{}");
    let weak: Vec<_> = e
        .findings
        .iter()
        .filter(|f| f.code == "weak-credentials")
        .map(|f| (f.location.line, f.severity))
        .collect();
    assert_eq!(
        weak,
        [(3, Severity::High), (4, Severity::High)],
        "{:?}",
        codes(&e)
    );
    let strong = run(
        "roles(['patroni_role'])\npatroni['username'] = 'p'\npatroni['password'] = 'v9Q-2xLm-77Rt-Kq0z'\n",
        "{}",
    );
    assert!(strong.findings.iter().all(|f| f.code != "weak-credentials"));
}
