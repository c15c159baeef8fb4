//! The port matrix as the `port-matrix` document the `topology` policy reads: the typed
//! `port-matrix` record of `wit/policy.wit`, filled from [`Matrix`].

use super::{Host, Matrix, Service, Source, derive};
use crate::formats::Kind;
use crate::wit;

/// The `port-matrix` document of every topology among `docs`. Its `text` is the
/// topology's, so that a finding on a host's entry shows the topology line.
pub fn derived_documents(docs: &[wit::Document]) -> Vec<wit::Document> {
    let mut out = Vec::new();
    for topo in docs.iter().filter(|d| d.kind == Kind::Topology) {
        let Some(m) = derive(topo, docs) else {
            continue;
        };
        out.push(wit::Document {
            kind: Kind::PortMatrix,
            path: topo.path.clone(),
            text: topo.text.clone(),
            body: wit::Body::PortMatrix(matrix(m)),
            diagnostics: Vec::new(),
        });
    }
    out
}

fn matrix(m: Matrix) -> wit::PortMatrix {
    let topology = m.topology;
    wit::PortMatrix {
        hosts: m.hosts.into_iter().map(|h| host(h, &topology)).collect(),
        topology,
        outside: m.outside,
    }
}

fn host(h: Host, topology: &str) -> wit::PortHost {
    wit::PortHost {
        name: h.name,
        address: h.address,
        roles: h.roles,
        firewall: h.firewall,
        location: wit::Location {
            file: topology.to_string(),
            line: h.line,
            end_line: None,
            pointer: Some(format!("/hosts/{}", h.entry)),
        },
        services: h.services.into_iter().map(service).collect(),
        admin_networks: h.admin_networks,
        nftables: h.nftables,
    }
}

fn service(s: Service) -> wit::PortService {
    wit::PortService {
        service: s.service,
        port: s.port,
        proto: s.proto,
        from: s.from.into_iter().map(source).collect(),
        why: s.why,
        port_from: s.port_from,
    }
}

fn source(s: Source) -> wit::PortSource {
    wit::PortSource {
        name: s.name,
        address: s.address,
    }
}
