//! Unit tests of the model: grouping, effective settings, links and flows over small
//! synthetic deployments.

use std::path::Path;

use crate::formats::{self, Kind, ParseContext};
use crate::samples::empty_context;
use crate::wit;

fn docs(files: &[(&str, Kind, &str)]) -> Vec<wit::Document> {
    let ctx = ParseContext::default();
    let mut out: Vec<wit::Document> = files
        .iter()
        .map(|(p, k, t)| formats::document(k.clone(), p, Path::new(p), t.to_string(), &ctx))
        .collect();
    out.extend(formats::patroni_hba::derived(&out, &ctx));
    out
}

fn patroni(scope: &str, name: &str, ip: &str, extra: &str) -> String {
    format!(
        "scope: {scope}\nname: {name}\nrestapi:\n  listen: 0.0.0.0:8008\n  connect_address: {ip}:8008\netcd3:\n  hosts: 10.0.1.21:2379\npostgresql:\n  listen: 0.0.0.0:5432\n  connect_address: {ip}:5432\n  data_dir: /var/lib/postgresql/15/main\n  authentication:\n    replication:\n      username: replicator\n    superuser:\n      username: postgres\n{extra}"
    )
}

const HAPROXY: &str = "listen primary\n    bind *:5000\n    option httpchk GET /primary\n    server n1 10.0.1.11:5432 check port 8008\n    server n2 10.0.1.12:5432 check port 8008\n";

#[test]
fn clusters_by_scope_and_directory_never_cross() {
    let a = patroni("alpha", "a1", "10.0.1.11", "");
    let b = patroni("beta", "b1", "10.0.1.11", "");
    let d = docs(&[
        ("a/patroni.yml", Kind::Patroni, &a),
        ("a/haproxy.cfg", Kind::Haproxy, HAPROXY),
        ("b/patroni.yml", Kind::Patroni, &b),
        ("b/pg_hba.conf", Kind::PgHba, "local all all peer\n"),
        ("c/pg_hba.conf", Kind::PgHba, "local all all peer\n"),
    ]);
    let dep = super::build(&d, &empty_context());
    let names: Vec<(&str, &str, Vec<&str>)> = dep
        .clusters
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.grouping.as_str(),
                c.files.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (
                "alpha",
                "patroni-scope",
                vec!["a/patroni.yml", "a/haproxy.cfg"]
            ),
            (
                "beta",
                "patroni-scope",
                vec!["b/patroni.yml", "b/pg_hba.conf"]
            ),
            ("c", "directory", vec!["c/pg_hba.conf"]),
        ]
    );
    // Both Patroni use 10.0.1.11:8008, but HAProxy of alpha links only to alpha.
    let checks: Vec<&wit::Link> = dep
        .links
        .iter()
        .filter(|l| l.kind == wit::LinkKind::HaproxyCheck)
        .collect();
    assert_eq!(checks.len(), 2);
    assert!(checks.iter().all(|l| l.cluster == "alpha"));
    assert_eq!(
        checks[0].to.as_ref().map(|t| t.file.as_str()),
        Some("a/patroni.yml")
    );
    assert!(
        checks[1].to.is_none(),
        "10.0.1.12 is not among the inputs: unknown end"
    );
}

#[test]
fn a_file_above_the_nodes_joins_their_one_cluster() {
    let n1 = patroni("pg", "n1", "10.0.1.11", "");
    let n2 = patroni("pg", "n2", "10.0.1.12", "");
    let d = docs(&[
        ("node1/patroni.yml", Kind::Patroni, &n1),
        ("node2/patroni.yml", Kind::Patroni, &n2),
        ("haproxy.cfg", Kind::Haproxy, HAPROXY),
    ]);
    let dep = super::build(&d, &empty_context());
    assert_eq!(dep.clusters.len(), 1);
    assert_eq!(dep.clusters[0].members.len(), 2);
    assert!(
        dep.links
            .iter()
            .filter(|l| l.kind == wit::LinkKind::HaproxyCheck)
            .all(|l| l.to.is_some())
    );
}

fn setting<'a>(m: &'a wit::Member, name: &str) -> Option<(&'a str, u32, wit::SettingOrigin)> {
    m.settings
        .iter()
        .find(|s| s.name == name)
        .map(|s| (s.value.as_str(), s.source.line, s.origin))
}

#[test]
fn effective_settings_follow_patroni_over_postgresql_conf() {
    let yml = patroni(
        "pg",
        "n1",
        "10.0.1.11",
        "  parameters:\n    ssl: 'off'\n    max_connections: 200\nbootstrap:\n  dcs:\n    postgresql:\n      parameters:\n        password_encryption: md5\n        max_connections: 100\n        wal_level: replica\n",
    );
    let d = docs(&[
        ("n1/patroni.yml", Kind::Patroni, &yml),
        (
            "n1/postgresql.conf",
            Kind::PostgresqlConf,
            "ssl = on\npassword_encryption = scram-sha-256\nwork_mem = 4MB\nport = 5433\n",
        ),
        (
            "n1/postgresql.auto.conf",
            Kind::PostgresqlConf,
            "work_mem = '8MB'\nmax_connections = 50\n",
        ),
    ]);
    let dep = super::build(&d, &empty_context());
    let m = &dep.clusters[0].members[0];
    use wit::SettingOrigin as O;
    assert_eq!(
        setting(m, "ssl"),
        Some(("off", 18, O::PatroniLocal)),
        "local parameters win over postgresql.conf"
    );
    assert_eq!(
        setting(m, "password_encryption"),
        Some(("md5", 24, O::PatroniDcsBootstrap))
    );
    assert_eq!(
        setting(m, "work_mem"),
        Some(("8MB", 1, O::AutoConf)),
        "ALTER SYSTEM wins over the files"
    );
    assert_eq!(
        setting(m, "max_connections"),
        Some(("200", 19, O::PatroniLocal)),
        "command line wins over auto.conf"
    );
    assert_eq!(
        setting(m, "port"),
        Some(("5432", 9, O::PatroniLocal)),
        "from postgresql.listen"
    );
    assert_eq!(
        setting(m, "listen_addresses"),
        Some(("0.0.0.0", 9, O::PatroniLocal))
    );
    assert_eq!(
        dep.clusters[0]
            .postgres_version
            .as_ref()
            .map(|v| (v.major, v.inferred)),
        Some((15, true))
    );
}

#[test]
fn an_absent_setting_is_unknown_and_the_environment_wins() {
    let yml = patroni("pg", "n1", "10.0.1.11", "");
    let unit = "[Service]\nUser=postgres\nEnvironment=PATRONI_POSTGRESQL_LISTEN=10.9.9.9:6543 PATRONI_SCOPE=envscope\nExecStart=/usr/bin/patroni /etc/patroni.yml\n";
    let d = docs(&[
        ("n1/patroni.yml", Kind::Patroni, &yml),
        ("n1/patroni.service", Kind::Systemd, unit),
    ]);
    let dep = super::build(&d, &empty_context());
    assert_eq!(dep.clusters[0].name, "envscope");
    let m = &dep.clusters[0].members[0];
    assert_eq!(
        setting(m, "ssl"),
        None,
        "no file sets ssl: unknown, not off"
    );
    assert_eq!(
        setting(m, "port"),
        Some(("6543", 3, wit::SettingOrigin::Environment))
    );
}

#[test]
fn an_environment_file_a_unit_names_wins_over_its_environment_lines() {
    let yml = patroni("pg", "n1", "10.0.1.11", "");
    let unit = "[Service]\nUser=postgres\nEnvironment=PATRONI_SCOPE=fromunit PATRONI_POSTGRESQL_LISTEN=10.9.9.9:6543\nEnvironmentFile=-/etc/patroni/patroni.env\nExecStart=/usr/bin/patroni /etc/patroni.yml\n";
    let env = "# set by the deployment\nPATRONI_SCOPE=fromfile\n";
    let d = docs(&[
        ("n1/patroni.yml", Kind::Patroni, &yml),
        ("n1/patroni.service", Kind::Systemd, unit),
        ("n1/patroni.env", Kind::PatroniEnv, env),
    ]);
    let dep = super::build(&d, &empty_context());
    assert_eq!(
        dep.clusters[0].name, "fromfile",
        "EnvironmentFile= wins over Environment="
    );
    let m = &dep.clusters[0].members[0];
    assert_eq!(
        setting(m, "port"),
        Some(("6543", 3, wit::SettingOrigin::Environment))
    );
    // An env file that no unit names is not applied: Patroni reads none by itself.
    let d = docs(&[
        ("n1/patroni.yml", Kind::Patroni, &yml),
        ("n1/patroni.env", Kind::PatroniEnv, env),
    ]);
    let dep = super::build(&d, &empty_context());
    assert_eq!(dep.clusters[0].name, "pg");
}

#[test]
fn compose_services_run_patroni_nodes_from_their_environment() {
    let compose = "services:\n  etcd1:\n    image: patroni\n    environment:\n      ETCD_LISTEN_CLIENT_URLS: http://0.0.0.0:2379\n  haproxy:\n    image: patroni\n    environment: &env\n      PATRONI_ETCD3_HOSTS: \"'etcd1:2379','etcd2:2379'\"\n      PATRONI_SCOPE: demo\n    command: haproxy\n  patroni1:\n    image: patroni\n    env_file: docker/patroni.env\n    environment:\n      <<: *env\n      PATRONI_NAME: patroni1\n  patroni2:\n    image: patroni\n    env_file: docker/patroni.env\n    environment:\n      - PATRONI_SCOPE=demo\n      - PATRONI_NAME=patroni2\n      - PATRONI_REPLICATION_USERNAME=fromlist\n";
    let env = "PATRONI_REPLICATION_USERNAME=replicator\nPATRONI_SUPERUSER_USERNAME=postgres\n";
    let d = docs(&[
        ("site/docker-compose.yml", Kind::DockerCompose, compose),
        ("site/docker/patroni.env", Kind::PatroniEnv, env),
    ]);
    let nodes = super::patroni::read_all(&d);
    let names: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.name.as_ref().map(|v| v.value.clone()))
        .collect();
    // The HAProxy service sets PATRONI_* too (for its templates) but runs `haproxy`.
    assert_eq!(nodes.len(), 2, "{nodes:#?}");
    assert_eq!(names, ["patroni1", "patroni2"]);
    let p1 = &nodes[0];
    assert_eq!(
        p1.scope.as_ref().unwrap().value,
        "demo",
        "from the merge key"
    );
    assert_eq!(p1.replication_user.as_ref().unwrap().value, "replicator");
    assert_eq!(
        p1.replication_user.as_ref().unwrap().at.file,
        "site/docker/patroni.env"
    );
    let hosts: Vec<&str> = p1
        .dcs
        .as_ref()
        .unwrap()
        .hosts
        .iter()
        .map(|h| h.value.as_str())
        .collect();
    assert_eq!(
        hosts,
        ["etcd1:2379", "etcd2:2379"],
        "Patroni's list, quotes removed"
    );
    let p2 = &nodes[1];
    assert_eq!(
        p2.replication_user.as_ref().unwrap().value,
        "fromlist",
        "`environment` wins over `env_file`"
    );
    assert_eq!(p2.replication_user.as_ref().unwrap().at.line, 24);
    let dep = super::build(&d, &empty_context());
    let demo = dep
        .clusters
        .iter()
        .find(|c| c.name == "demo")
        .expect("cluster demo");
    assert!(
        demo.members.iter().any(|m| m.name == "patroni1"),
        "{demo:#?}"
    );
}

#[test]
fn dcs_links_match_the_etcd_that_listens_there() {
    let yml = patroni("pg", "n1", "10.0.1.11", "");
    let etcd = "name: e1\nlisten-client-urls: http://0.0.0.0:2379\nadvertise-client-urls: http://10.0.1.21:2379\n";
    let d = docs(&[
        ("patroni.yml", Kind::Patroni, &yml),
        ("etcd.conf.yml", Kind::Etcd, etcd),
    ]);
    let dep = super::build(&d, &empty_context());
    let dcs: Vec<&wit::Link> = dep
        .links
        .iter()
        .filter(|l| l.kind == wit::LinkKind::PatroniDcs)
        .collect();
    assert_eq!(dcs.len(), 1);
    assert_eq!(
        dcs[0].to.as_ref().map(|t| (t.file.as_str(), t.line)),
        Some(("etcd.conf.yml", 3))
    );
    assert_eq!(dcs[0].target.scheme.as_deref(), Some("http"));
    // Without the etcd config, the other end is unknown.
    let d = docs(&[("patroni.yml", Kind::Patroni, &yml)]);
    let dep = super::build(&d, &empty_context());
    assert!(dep.links.iter().all(|l| l.to.is_none()));
}

#[test]
fn replication_flows_from_every_member_address() {
    let yml = patroni("pg", "n1", "10.0.1.11", "  use_unix_socket_repl: true\n");
    let d = docs(&[
        ("patroni.yml", Kind::Patroni, &yml),
        ("haproxy.cfg", Kind::Haproxy, HAPROXY),
    ]);
    let dep = super::build(&d, &empty_context());
    let repl: Vec<String> = dep
        .flows
        .iter()
        .filter(|f| f.kind == wit::FlowKind::Replication)
        .map(|f| f.description.clone())
        .collect();
    assert_eq!(
        repl,
        vec![
            "replication from 10.0.1.11 (n1) as `replicator`",
            "replication from 10.0.1.12 (n2) as `replicator`",
            "replication over the Unix socket as `replicator` (use_unix_socket_repl)",
        ]
    );
    let f = dep
        .flows
        .iter()
        .find(|f| f.kind == wit::FlowKind::Replication)
        .expect("a flow");
    assert_eq!((f.source.file.as_str(), f.source.line), ("patroni.yml", 14));
    let wit::FlowCall::Connection(c) = &f.call else {
        panic!("a connection")
    };
    assert!(!c.ssl, "ssl unknown: decided without TLS");
}

#[test]
fn roles_keep_unknown_password_storage() {
    let yml = patroni("pg", "n1", "10.0.1.11", "");
    let d = docs(&[
        ("patroni.yml", Kind::Patroni, &yml),
        (
            "pgbouncer.ini",
            Kind::Pgbouncer,
            "[databases]\napp = host=10.0.1.11 dbname=app user=app\n[pgbouncer]\nauth_user = pgbouncer\n",
        ),
    ]);
    let mut ctx = empty_context();
    ctx.password_types = vec![("replicator".into(), "scram-sha-256".into())];
    let dep = super::build(&d, &ctx);
    let roles: Vec<(&str, wit::PasswordStorage)> = dep.clusters[0]
        .roles
        .iter()
        .map(|r| (r.name.as_str(), r.password_storage))
        .collect();
    use wit::PasswordStorage as P;
    assert_eq!(
        roles,
        vec![
            ("replicator", P::Scram),
            ("postgres", P::Unknown),
            ("app", P::Unknown),
            ("pgbouncer", P::Unknown)
        ]
    );
}
