use std::path::Path;

use super::*;
use crate::formats::{ParseContext, document};

fn doc(kind: Kind, path: &str, text: &str) -> wit::Document {
    document(
        kind,
        path,
        Path::new(path),
        text.to_string(),
        &ParseContext::default(),
    )
}

const TOPOLOGY: &str = "\
clients: [10.0.3.0/24]
admin_networks: [10.0.9.0/24]
ports: {pgbouncer: 6433}
flows:
  - {from: monitoring, to: postgresql, port: 9187, why: postgres_exporter}
hosts:
  - name: pg1
    address: 10.0.1.11
    roles: [patroni, postgresql, pgbouncer, consul-agent]
    firewall: fw/pg1.nft
  - name: pg2
    address: 10.0.1.12
    roles: [patroni, postgresql]
  - name: dcs1
    address: 10.0.1.21
    roles: [etcd, consul-server]
  - name: lb
    address: 10.0.2.5
    roles: [haproxy]
  - name: mon
    address: 10.0.5.10
    roles: [monitoring]
";

fn service<'a>(h: &'a Host, port: u16, proto: &str) -> &'a Service {
    h.services
        .iter()
        .find(|s| s.port == port && s.proto == proto)
        .unwrap_or_else(|| panic!("no {port}/{proto} on {}", h.name))
}

fn from(s: &Service) -> Vec<&str> {
    s.from.iter().map(|f| f.name.as_str()).collect()
}

#[test]
fn matrix_from_roles_configs_and_haproxy() {
    let docs = vec![
        doc(Kind::Topology, "deploy/topology.yaml", TOPOLOGY),
        doc(
            Kind::Patroni,
            "deploy/patroni.yml",
            "scope: x\nrestapi:\n  listen: 10.0.1.11:8009\npostgresql:\n  listen: 0.0.0.0:5433\n",
        ),
        doc(
            Kind::Haproxy,
            "deploy/haproxy.cfg",
            "listen primary\n    bind *:5000\n    default-server inter 3s\n    server pg1 10.0.1.11:6433 check port 8009\n",
        ),
    ];
    let m = derive(&docs[0], &docs).expect("a matrix");
    let pg1 = &m.hosts[0];
    assert_eq!(pg1.firewall.as_deref(), Some("deploy/fw/pg1.nft"));
    assert_eq!(pg1.line, 7);
    // Patroni on the port patroni.yml sets: from the other member, HAProxy's health check
    // (haproxy.cfg), and the admin network (patronictl).
    let api = service(pg1, 8009, "tcp");
    assert_eq!(api.port_from.as_deref(), Some("deploy/patroni.yml:3"));
    assert_eq!(from(api), vec!["pg2", "mon", "admin", "lb"]);
    // PostgreSQL on 5433 from the other member (HAProxy goes to PgBouncer here); no
    // pgBackRest port without a repository host.
    assert!(!pg1.services.iter().any(|s| s.port == 8432));
    assert_eq!(from(service(pg1, 5433, "tcp")), vec!["pg2"]);
    // PgBouncer on the topology's port, from the clients and HAProxy's backend line.
    let bouncer = service(pg1, 6433, "tcp");
    assert_eq!(from(bouncer), vec!["clients", "lb"]);
    assert_eq!(bouncer.port_from.as_deref(), Some("topology `ports`"));
    // Consul: gossip both ways, the HTTP API and DNS for nobody else.
    assert_eq!(from(service(pg1, 8301, "udp")), vec!["dcs1"]);
    assert!(service(pg1, 8500, "tcp").from.is_empty());
    // etcd and the Consul server.
    let dcs = &m.hosts[2];
    assert_eq!(from(service(dcs, 2379, "tcp")), vec!["pg1", "pg2", "mon"]);
    assert!(service(dcs, 2380, "tcp").from.is_empty());
    assert_eq!(from(service(dcs, 8300, "tcp")), vec!["pg1"]);
    assert_eq!(from(service(&m.hosts[3], 5000, "tcp")), vec!["clients"]);
    // The flow the topology adds.
    assert_eq!(from(service(pg1, 9187, "tcp")), vec!["mon"]);
    assert_eq!(m.outside, vec!["203.0.113.10"]);
}

#[test]
fn rules_render_for_nftables_and_firewalld() {
    let docs = vec![doc(Kind::Topology, "topology.yaml", TOPOLOGY)];
    let m = derive(&docs[0], &docs).expect("a matrix");
    let nft = render::nftables(&m, Some("pg1"));
    assert!(nft.starts_with("#!/usr/sbin/nft -f\n"));
    assert!(
        nft.contains(
            "\t\tip saddr { 10.0.1.12, 10.0.2.5, 10.0.5.10, 10.0.9.0/24 } tcp dport 8008 accept\n"
        ),
        "{nft}"
    );
    assert!(
        nft.contains("\t\ttcp dport { 5432, 6433, 8008, 8301, 8500, 8600, 9187 } drop\n"),
        "{nft}"
    );
    assert!(nft.contains("\t\tudp dport { 8301, 8600 } drop\n"), "{nft}");
    assert!(!nft.contains("pg2 (10.0.1.12)"));
    let fw = render::firewalld(&m, Some("dcs1"));
    assert!(fw.contains("firewall-cmd --permanent --add-rich-rule='rule family=\"ipv4\" source address=\"10.0.1.11\" port port=\"8300\" protocol=\"tcp\" accept'"), "{fw}");
    let table = render::text(&m, None);
    assert!(
        table
            .lines()
            .any(|l| l.contains("consul-http") && l.contains("(this host only)")),
        "{table}"
    );
}

#[test]
fn the_matrix_document_and_paths() {
    let docs = vec![doc(Kind::Topology, "a/topology.yaml", TOPOLOGY)];
    let derived = derived_documents(&docs);
    assert_eq!(derived.len(), 1);
    assert_eq!(derived[0].kind, Kind::PortMatrix);
    let wit::Body::PortMatrix(m) = &derived[0].body else {
        panic!("a port matrix")
    };
    let h = &m.hosts[1];
    assert_eq!(
        (h.location.line, h.location.pointer.as_deref()),
        (11, Some("/hosts/1"))
    );
    assert_eq!(h.location.file, "a/topology.yaml");
    assert_eq!(m.topology, "a/topology.yaml");
    assert_eq!(resolve("a/b/topology.yaml", "../fw/x.nft"), "a/fw/x.nft");
    assert_eq!(resolve("topology.yaml", "./fw/x.nft"), "fw/x.nft");
    assert_eq!(
        resolve("a/topology.yaml", "/etc/nftables.conf"),
        "/etc/nftables.conf"
    );
    assert_eq!(resolve("topology.yaml", "../../x.nft"), "../../x.nft");
}

#[test]
fn firewall_files_are_read_when_the_topology_names_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("fw")).expect("mkdir");
    std::fs::write(dir.path().join("fw/pg1.nft"), "table inet filter {}\n").expect("write");
    let topo = dir.path().join("topology.yaml");
    std::fs::write(&topo, TOPOLOGY).expect("write");
    let mut files = vec![InputFile {
        kind: Kind::Topology,
        path: topo.clone(),
        display: "topology.yaml".into(),
        text: TOPOLOGY.into(),
    }];
    let tree = crate::confine::Tree::new([dir.path()]);
    firewall_files(&mut files, &tree);
    assert_eq!(files.len(), 2);
    assert_eq!(files[1].kind, Kind::Nftables);
    assert_eq!(files[1].display, "fw/pg1.nft");
    // Already there: not added twice; missing: left to the policy to report.
    firewall_files(&mut files, &tree);
    assert_eq!(files.len(), 2);
    // Outside the checked tree: not read.
    let mut files = vec![files[0].clone()];
    let elsewhere = tempfile::tempdir().expect("tempdir");
    firewall_files(&mut files, &crate::confine::Tree::new([elsewhere.path()]));
    assert_eq!(files.len(), 1);
}

#[test]
fn broken_topologies_do_not_panic() {
    for text in [
        "",
        "hosts: 3",
        "hosts: [1, {name: a}, {address: 10.0.0.1}]",
        "hosts:\n- name: a\n  roles: patroni\n  firewall: 7\n",
        "ports: {patroni: -1}\nhosts: []",
    ] {
        let docs = vec![doc(Kind::Topology, "topology.yaml", text)];
        let _ = derive(&docs[0], &docs);
        let _ = derived_documents(&docs);
    }
}
