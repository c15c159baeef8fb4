//! Patroni's configuration as Patroni runs it: the YAML with the `PATRONI_*` environment
//! variables of its systemd unit applied over it (Patroni's `Config._build_environment_
//! configuration`: an environment variable wins over the YAML key it names).
//!
//! Every value keeps where it is written: the YAML key, or the `Environment=` line.

use crate::formats::Kind;
use crate::wit;

use super::{Tree, compose, dir_of, loc};

/// A value and where it is written.
#[derive(Debug, Clone)]
pub struct Valued {
    pub value: String,
    pub at: wit::Location,
    /// From the environment rather than the YAML.
    pub from_env: bool,
}

/// One Patroni node's configuration.
#[derive(Debug, Clone)]
pub struct Node {
    /// The patroni.yml.
    pub file: String,
    pub scope: Option<Valued>,
    pub name: Option<Valued>,
    pub restapi_listen: Option<Valued>,
    pub restapi_connect: Option<Valued>,
    pub pg_listen: Option<Valued>,
    pub pg_connect: Option<Valued>,
    pub data_dir: Option<Valued>,
    pub bin_dir: Option<Valued>,
    pub replication_user: Option<Valued>,
    pub superuser: Option<Valued>,
    pub rewind_user: Option<Valued>,
    /// `postgresql.use_unix_socket`.
    pub use_unix_socket: bool,
    /// `postgresql.use_unix_socket_repl`.
    pub use_unix_socket_repl: bool,
    /// `bootstrap.dcs.postgresql.use_pg_rewind` or `postgresql.use_pg_rewind`.
    pub use_pg_rewind: bool,
    /// `restapi.authentication` is set (username and password).
    pub restapi_auth: bool,
    /// `restapi.certfile`: the REST API speaks https.
    pub restapi_tls: bool,
    /// `restapi.verify_client`: `none`, `optional`, `required`.
    pub verify_client: Option<String>,
    /// `ctl.certfile`: patronictl presents a client certificate.
    pub ctl_cert: bool,
    /// A `postgresql.pg_hba` (or bootstrap DCS) list: Patroni writes pg_hba.conf from it.
    pub writes_hba: bool,
    /// The DCS section (`etcd3`, `etcd`, `consul`) and its hosts, each with its scheme.
    pub dcs: Option<Dcs>,
}

/// Patroni's DCS client configuration.
#[derive(Debug, Clone)]
pub struct Dcs {
    /// `etcd3`, `etcd`, `consul`.
    pub kind: String,
    /// Each host as written (`10.0.1.21:2379`, `https://…`), with where.
    pub hosts: Vec<Valued>,
    /// `protocol` (etcd) or `scheme` (consul); none: Patroni's default `http`.
    pub protocol: Option<Valued>,
}

impl Node {
    /// `protocol` of the DCS section as Patroni uses it: `http` unless set.
    pub fn dcs_scheme(&self) -> Option<(String, Option<wit::Location>)> {
        let dcs = self.dcs.as_ref()?;
        Some(match &dcs.protocol {
            Some(p) => (p.value.to_ascii_lowercase(), Some(p.at.clone())),
            None => ("http".to_string(), None),
        })
    }
}

/// Every Patroni document of the inputs, with the environment of the systemd units in
/// its directory applied.
pub fn read_all(documents: &[wit::Document]) -> Vec<Node> {
    let composed = compose::nodes(documents);
    let mut nodes: Vec<Node> = documents
        .iter()
        .filter(|d| d.kind == Kind::Patroni && !composed.mounted.contains(&d.path))
        .filter_map(|d| {
            let tree = Tree::of(d)?;
            let env = environment(documents, dir_of(&d.path));
            Some(read(&tree, &env))
        })
        .collect();
    nodes.extend(composed.nodes);
    nodes
}

/// `PATRONI_*` variables of the systemd units next to a Patroni YAML: their
/// `Environment=` lines, then the env files their `EnvironmentFile=` lines name (found
/// among the inputs by file name, the unit's own directory first). As in systemd, a
/// variable from an `EnvironmentFile=` wins over one from `Environment=`, and within
/// each the last assignment wins; an env file no unit names is not applied (Patroni
/// reads none by itself).
fn environment(documents: &[wit::Document], dir: &str) -> Vec<(String, String, wit::Location)> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    for doc in documents
        .iter()
        .filter(|d| d.kind == Kind::Systemd && dir_of(&d.path) == dir)
    {
        let wit::Body::Settings(settings) = &doc.body else {
            continue;
        };
        for s in settings.iter().filter(|s| s.name == "Environment") {
            for word in &s.args {
                if let Some((k, v)) = word.split_once('=')
                    && k.starts_with("PATRONI_")
                {
                    out.push((k.to_string(), v.to_string(), s.location.clone()));
                }
            }
        }
        for s in settings.iter().filter(|s| s.name == "EnvironmentFile") {
            // `-` before the path: a missing file is not an error.
            let named = s.value.trim().trim_start_matches('-');
            if let Some(env) = env_file(documents, named, dir) {
                files.push(env);
            }
        }
    }
    for doc in files {
        let wit::Body::Settings(settings) = &doc.body else {
            continue;
        };
        for s in settings.iter().filter(|s| s.name.starts_with("PATRONI_")) {
            out.push((s.name.clone(), s.value.clone(), s.location.clone()));
        }
    }
    out
}

/// The env file among the inputs that a unit's `EnvironmentFile=` names: the
/// `patroni-env` document with that file name, in the unit's directory when there is one.
fn env_file<'a>(
    documents: &'a [wit::Document],
    named: &str,
    dir: &str,
) -> Option<&'a wit::Document> {
    let name = named.rsplit('/').next().filter(|n| !n.is_empty())?;
    let candidates: Vec<&wit::Document> = documents
        .iter()
        .filter(|d| d.kind == Kind::PatroniEnv && d.path.rsplit('/').next() == Some(name))
        .collect();
    candidates
        .iter()
        .find(|d| dir_of(&d.path) == dir)
        .or_else(|| (candidates.len() == 1).then(|| &candidates[0]))
        .copied()
}

pub(super) fn read(t: &Tree<'_>, env: &[(String, String, wit::Location)]) -> Node {
    let yaml = |pointer: &str| {
        t.text(pointer).map(|value| Valued {
            value,
            at: t.at(pointer),
            from_env: false,
        })
    };
    // The last assignment of a variable wins, as in systemd.
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _, _)| k == name)
            .map(|(_, v, at)| Valued {
                value: v.clone(),
                at: at.clone(),
                from_env: true,
            })
    };
    let both = |name: &str, pointer: &str| var(name).or_else(|| yaml(pointer));
    let truthy = |pointer: &str| t.root.pointer(pointer).is_some_and(python_truthy);
    let empty = serde_json::Value::Object(Default::default());
    let dcs = ["etcd3", "etcd", "consul"].iter().find_map(|kind| {
        let upper = kind.to_ascii_uppercase();
        // Patroni builds the section from `PATRONI_<DCS>_*` variables alone, too.
        let from_env = ["HOSTS", "HOST", "URL", "URLS", "PROTOCOL"]
            .iter()
            .any(|k| var(&format!("PATRONI_{upper}_{k}")).is_some());
        let section = t.root.get(*kind).or(from_env.then_some(&empty))?;
        let mut hosts = Vec::new();
        if let Some(v) =
            var(&format!("PATRONI_{upper}_HOSTS")).or_else(|| var(&format!("PATRONI_{upper}_HOST")))
        {
            hosts.extend(split_hosts(&v.value).into_iter().map(|h| Valued {
                value: h,
                ..v.clone()
            }));
        } else {
            for key in ["hosts", "host", "url", "urls"] {
                let pointer = format!("/{kind}/{key}");
                match section.get(key) {
                    Some(serde_json::Value::Array(items)) => {
                        for (i, item) in items.iter().enumerate() {
                            if let Some(h) = item.as_str() {
                                let p = format!("{pointer}/{i}");
                                hosts.push(Valued {
                                    value: h.to_string(),
                                    at: t.at(&p),
                                    from_env: false,
                                });
                            }
                        }
                    }
                    Some(serde_json::Value::String(s)) => {
                        hosts.extend(split_hosts(s).into_iter().map(|h| Valued {
                            value: h,
                            at: t.at(&pointer),
                            from_env: false,
                        }));
                    }
                    _ => {}
                }
            }
        }
        let protocol = if *kind == "consul" {
            both("PATRONI_CONSUL_SCHEME", "/consul/scheme")
        } else {
            both(
                &format!("PATRONI_{upper}_PROTOCOL"),
                &format!("/{kind}/protocol"),
            )
        };
        Some(Dcs {
            kind: kind.to_string(),
            hosts,
            protocol,
        })
    });
    Node {
        file: t.doc.path.clone(),
        scope: both("PATRONI_SCOPE", "/scope"),
        name: both("PATRONI_NAME", "/name"),
        restapi_listen: both("PATRONI_RESTAPI_LISTEN", "/restapi/listen"),
        restapi_connect: both(
            "PATRONI_RESTAPI_CONNECT_ADDRESS",
            "/restapi/connect_address",
        ),
        pg_listen: both("PATRONI_POSTGRESQL_LISTEN", "/postgresql/listen"),
        pg_connect: both(
            "PATRONI_POSTGRESQL_CONNECT_ADDRESS",
            "/postgresql/connect_address",
        ),
        data_dir: both("PATRONI_POSTGRESQL_DATA_DIR", "/postgresql/data_dir"),
        bin_dir: both("PATRONI_POSTGRESQL_BIN_DIR", "/postgresql/bin_dir"),
        replication_user: both(
            "PATRONI_REPLICATION_USERNAME",
            "/postgresql/authentication/replication/username",
        ),
        superuser: both(
            "PATRONI_SUPERUSER_USERNAME",
            "/postgresql/authentication/superuser/username",
        ),
        rewind_user: both(
            "PATRONI_REWIND_USERNAME",
            "/postgresql/authentication/rewind/username",
        ),
        use_unix_socket: truthy("/postgresql/use_unix_socket"),
        use_unix_socket_repl: truthy("/postgresql/use_unix_socket_repl"),
        use_pg_rewind: truthy("/bootstrap/dcs/postgresql/use_pg_rewind")
            || truthy("/postgresql/use_pg_rewind"),
        restapi_auth: t.root.pointer("/restapi/authentication/username").is_some()
            || var("PATRONI_RESTAPI_USERNAME").is_some(),
        restapi_tls: t
            .root
            .pointer("/restapi/certfile")
            .is_some_and(python_truthy)
            || var("PATRONI_RESTAPI_CERTFILE").is_some(),
        verify_client: both("PATRONI_RESTAPI_VERIFY_CLIENT", "/restapi/verify_client")
            .map(|v| v.value.to_ascii_lowercase()),
        ctl_cert: t.root.pointer("/ctl/certfile").is_some_and(python_truthy)
            || var("PATRONI_CTL_CERTFILE").is_some(),
        writes_hba: ["/postgresql/pg_hba", "/bootstrap/dcs/postgresql/pg_hba"]
            .iter()
            .any(|p| {
                t.root
                    .pointer(p)
                    .and_then(|v| v.as_array())
                    .is_some_and(|a| !a.is_empty())
            }),
        dcs,
    }
}

/// `10.0.1.21:2379,10.0.1.22:2379` (Patroni splits on commas).
fn split_hosts(text: &str) -> Vec<String> {
    // Patroni reads a `PATRONI_*_HOSTS` value as a YAML list without its brackets:
    // `'etcd1:2379','etcd2:2379'` names two hosts, without the quotes.
    text.split(',')
        .map(|h| h.trim().trim_matches(['\'', '"']).trim())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect()
}

/// Python's truthiness of a YAML value (Patroni tests `if config.get(...)`).
pub fn python_truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => false,
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
    }
}

/// The location of a node's file as a whole.
pub fn file_location(node: &Node) -> wit::Location {
    loc(&node.file, 0)
}
