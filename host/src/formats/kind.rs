//! Document kinds, and how a file's kind is recognised: by its name first, then by its
//! content (a Patroni YAML may be called `node1.patroni.yml` or `config.yml`).

use std::path::Path;

/// What a file is. `--kind` names these with [`Kind::name`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    Patroni,
    PgHba,
    PgIdent,
    PostgresqlConf,
    Haproxy,
    Etcd,
    Pgbackrest,
    PgAutoctl,
    Pgbouncer,
    Consul,
    GitlabRb,
    Topology,
    /// A systemd unit (`patroni.service`), for how services are started and reloaded.
    Systemd,
    /// An nftables ruleset (a host firewall the topology names).
    Nftables,
    /// A kind only an org policy knows; handed over as text.
    Other(String),
}

/// Every kind the host knows, for `--kind` and error messages.
pub const KNOWN: &[&str] = &[
    "patroni",
    "pg-hba",
    "pg-ident",
    "postgresql-conf",
    "haproxy",
    "etcd",
    "pgbackrest",
    "pg-autoctl",
    "pgbouncer",
    "consul",
    "gitlab-rb",
    "topology",
    "systemd",
    "nftables",
];

impl Kind {
    pub fn name(&self) -> &str {
        match self {
            Kind::Patroni => "patroni",
            Kind::PgHba => "pg-hba",
            Kind::PgIdent => "pg-ident",
            Kind::PostgresqlConf => "postgresql-conf",
            Kind::Haproxy => "haproxy",
            Kind::Etcd => "etcd",
            Kind::Pgbackrest => "pgbackrest",
            Kind::PgAutoctl => "pg-autoctl",
            Kind::Pgbouncer => "pgbouncer",
            Kind::Consul => "consul",
            Kind::GitlabRb => "gitlab-rb",
            Kind::Topology => "topology",
            Kind::Systemd => "systemd",
            Kind::Nftables => "nftables",
            Kind::Other(name) => name,
        }
    }

    /// The kind called `name` (`--kind`); unknown names are org kinds.
    pub fn from_name(name: &str) -> Kind {
        match name {
            "patroni" => Kind::Patroni,
            "pg-hba" => Kind::PgHba,
            "pg-ident" => Kind::PgIdent,
            "postgresql-conf" => Kind::PostgresqlConf,
            "haproxy" => Kind::Haproxy,
            "etcd" => Kind::Etcd,
            "pgbackrest" => Kind::Pgbackrest,
            "pg-autoctl" => Kind::PgAutoctl,
            "pgbouncer" => Kind::Pgbouncer,
            "consul" => Kind::Consul,
            "gitlab-rb" => Kind::GitlabRb,
            "topology" => Kind::Topology,
            "systemd" => Kind::Systemd,
            "nftables" => Kind::Nftables,
            other => Kind::Other(other.to_string()),
        }
    }
}

/// What a file looks like, for detection: a config of some kind, a samples file, or
/// nothing patrol reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    Document(Kind),
    Samples,
    Unknown,
}

/// Endings of copies to rename before use; a file is detected as the name without them.
const TEMPLATE_SUFFIXES: &[&str] = &[".sample", ".example", ".template", ".dist"];

/// Recognises a file by name, then by content.
pub fn detect(path: &Path, text: &str) -> Detected {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    // Upstream ships its configs as `postgresql.conf.sample`, `etcd.conf.yml.sample`,
    // `gitlab.rb.template`, `pgbouncer.ini.example`…: the same kind as the name they
    // are copied to.
    let base = TEMPLATE_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s).filter(|base| base.contains('.')))
        .map(str::to_string);
    let name = base.unwrap_or(name);
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    let by_name = match name.as_str() {
        "pg_hba.conf" => Some(Kind::PgHba),
        "pg_ident.conf" => Some(Kind::PgIdent),
        "postgresql.conf" | "postgresql.auto.conf" | "postgresql.base.conf" => {
            Some(Kind::PostgresqlConf)
        }
        "haproxy.cfg" => Some(Kind::Haproxy),
        "pgbackrest.conf" => Some(Kind::Pgbackrest),
        "pgbouncer.ini" => Some(Kind::Pgbouncer),
        "pg_autoctl.cfg" => Some(Kind::PgAutoctl),
        "gitlab.rb" => Some(Kind::GitlabRb),
        "topology.yaml" | "topology.yml" => Some(Kind::Topology),
        "nftables.conf" | "nftables.rules" => Some(Kind::Nftables),
        _ if name.ends_with(".nft") => Some(Kind::Nftables),
        _ if name.ends_with("hba.conf") => Some(Kind::PgHba),
        _ if name.ends_with("ident.conf") => Some(Kind::PgIdent),
        _ if name.ends_with(".rb") && name.contains("gitlab") => Some(Kind::GitlabRb),
        _ => None,
    };
    if let Some(kind) = by_name {
        return Detected::Document(kind);
    }
    // etcd configured by `ETCD_*` variables or `etcd --flags` (an environment file such
    // as /etc/default/etcd or RHEL's /etc/etcd/etcd.conf, or a unit), before the INI and
    // unit guesses below claim it.
    let env_like = matches!(ext, "" | "env" | "conf" | "service") || name.starts_with("etcd");
    if env_like && !matches!(ext, "yml" | "yaml" | "json") && super::etcd_env::looks_like(text) {
        return Detected::Document(Kind::Etcd);
    }
    if ext == "service" || (ext == "conf" && text.lines().any(|l| l.trim() == "[Service]")) {
        return Detected::Document(Kind::Systemd);
    }
    match ext {
        "yml" | "yaml" | "json" => detect_structured(&name, text),
        "hcl" => Detected::Document(Kind::Consul),
        "cfg"
            if text.lines().any(|l| {
                ["backend ", "frontend ", "listen "]
                    .iter()
                    .any(|k| l.trim_start().starts_with(k))
            }) =>
        {
            Detected::Document(Kind::Haproxy)
        }
        "conf" | "cfg" | "ini" => detect_ini(text),
        _ => Detected::Unknown,
    }
}

/// The top-level keys of a YAML or JSON file, read cheaply (no full parse).
fn top_keys(text: &str) -> Vec<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) =
            serde_json::from_str::<serde_json::Value>(trimmed)
        {
            return map.keys().cloned().collect();
        }
        return Vec::new();
    }
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']) && !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, _)| k.trim().trim_matches(['"', '\'']).to_string())
        })
        .collect()
}

fn detect_structured(name: &str, text: &str) -> Detected {
    let keys = top_keys(text);
    let has = |k: &str| keys.iter().any(|x| x == k);
    if has("requests") || has("connections") || (has("context") && keys.len() <= 3) {
        return Detected::Samples;
    }
    let dcs = [
        "etcd",
        "etcd3",
        "consul",
        "zookeeper",
        "kubernetes",
        "raft",
        "exhibitor",
    ];
    if has("restapi") || (has("scope") && (has("postgresql") || dcs.iter().any(|d| has(d)))) {
        return Detected::Document(Kind::Patroni);
    }
    if has("hosts") && text.contains("roles") {
        return Detected::Document(Kind::Topology);
    }
    let etcd_keys = [
        "listen-client-urls",
        "advertise-client-urls",
        "initial-cluster",
        "client-transport-security",
        "data-dir",
    ];
    if etcd_keys.iter().filter(|k| has(k)).count() >= 2
        || (name.contains("etcd") && etcd_keys.iter().any(|k| has(k)))
    {
        return Detected::Document(Kind::Etcd);
    }
    let consul_keys = [
        "datacenter",
        "encrypt",
        "verify_incoming",
        "verify_outgoing",
        "acl",
        "server",
        "retry_join",
    ];
    if name.ends_with(".json") && consul_keys.iter().filter(|k| has(k)).count() >= 2 {
        return Detected::Document(Kind::Consul);
    }
    Detected::Unknown
}

fn detect_ini(text: &str) -> Detected {
    let sections: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| &l[1..l.len() - 1])
        .collect();
    if sections
        .iter()
        .any(|s| *s == "pgbouncer" || *s == "databases")
    {
        return Detected::Document(Kind::Pgbouncer);
    }
    if sections.contains(&"pg_autoctl") {
        return Detected::Document(Kind::PgAutoctl);
    }
    if sections
        .iter()
        .any(|s| *s == "global" || s.starts_with("global:"))
        || text.contains("pg1-path")
    {
        return Detected::Document(Kind::Pgbackrest);
    }
    let guc = [
        "listen_addresses",
        "shared_buffers",
        "ssl",
        "password_encryption",
        "max_connections",
        "port",
    ];
    let settings = text
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| guc.contains(k))
        .count();
    if sections.is_empty() && settings >= 1 {
        return Detected::Document(Kind::PostgresqlConf);
    }
    let hba = text.lines().map(str::trim).filter(|l| {
        let first = l.split_whitespace().next().unwrap_or("");
        matches!(
            first,
            "local" | "host" | "hostssl" | "hostnossl" | "hostgssenc" | "hostnogssenc"
        )
    });
    if hba.count() >= 1 && sections.is_empty() {
        return Detected::Document(Kind::PgHba);
    }
    Detected::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_name_and_content() {
        let cases: &[(&str, &str, Detected)] = &[
            ("pg_hba.conf", "", Detected::Document(Kind::PgHba)),
            (
                "node1.patroni.yml",
                "scope: x\nrestapi:\n  listen: :8008\n",
                Detected::Document(Kind::Patroni),
            ),
            (
                "config.yml",
                "scope: x\netcd3:\n  hosts: a\npostgresql: {}\n",
                Detected::Document(Kind::Patroni),
            ),
            ("samples.yaml", "requests:\n- path: /\n", Detected::Samples),
            (
                "etcd.conf.yml",
                "name: a\nlisten-client-urls: http://x\ndata-dir: /d\n",
                Detected::Document(Kind::Etcd),
            ),
            (
                "custom.conf",
                "ssl = on\nport = 5433\n",
                Detected::Document(Kind::PostgresqlConf),
            ),
            (
                "lb.cfg",
                "global\nbackend pg\n",
                Detected::Document(Kind::Haproxy),
            ),
            (
                "pg-node1.nft",
                "table inet filter {}\n",
                Detected::Document(Kind::Nftables),
            ),
            (
                "nftables.conf",
                "flush ruleset\n",
                Detected::Document(Kind::Nftables),
            ),
            ("notes.txt", "hello", Detected::Unknown),
            (
                "etcd",
                "ETCD_NAME=a\nETCD_LISTEN_CLIENT_URLS=http://x:2379\n",
                Detected::Document(Kind::Etcd),
            ),
            (
                "etcd.conf",
                "ETCD_NAME=\"a\"\n",
                Detected::Document(Kind::Etcd),
            ),
            (
                "etcd.service",
                "[Service]\nExecStart=/usr/bin/etcd --name a\n",
                Detected::Document(Kind::Etcd),
            ),
            (
                "patroni.service",
                "[Service]\nExecStart=/usr/bin/patroni /etc/patroni.yml\n",
                Detected::Document(Kind::Systemd),
            ),
            (
                "override.conf",
                "[Service]\nExecReload=/bin/kill -HUP $MAINPID\n",
                Detected::Document(Kind::Systemd),
            ),
            // Upstream samples (postgres/postgres, etcd-io/etcd, gitlabhq/omnibus-gitlab,
            // pgbouncer/pgbouncer) keep their kind under the shipped name.
            ("pg_hba.conf.sample", "", Detected::Document(Kind::PgHba)),
            (
                "postgresql.conf.sample",
                "#port = 5432\n",
                Detected::Document(Kind::PostgresqlConf),
            ),
            (
                "etcd.conf.yml.sample",
                "name: 'default'\ndata-dir:\nlisten-client-urls: http://localhost:2379\n",
                Detected::Document(Kind::Etcd),
            ),
            (
                "gitlab.rb.template",
                "# external_url 'x'\n",
                Detected::Document(Kind::GitlabRb),
            ),
            (
                "pgbouncer.ini.example",
                "[databases]\n",
                Detected::Document(Kind::Pgbouncer),
            ),
            (
                "haproxy.cfg.dist",
                "global\n",
                Detected::Document(Kind::Haproxy),
            ),
            // A bare `.sample` file is nothing by itself.
            ("x.sample", "a = b\n", Detected::Unknown),
        ];
        for (name, text, want) in cases {
            assert_eq!(&detect(Path::new(name), text), want, "{name}");
        }
    }
}
