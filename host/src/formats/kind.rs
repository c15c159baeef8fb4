//! Document kinds, and how a file's kind is recognised: by its name first, then by its
//! content (a Patroni YAML may be called `node1.patroni.yml` or `config.yml`).

use std::path::Path;

/// What a document is: the WIT's `document-kind`, so that the host and the policies
/// name kinds with one type. `--kind` names these with [`Kind::name`].
pub use crate::wit::DocumentKind as Kind;

/// Every kind of file the host reads, for `--kind` and error messages (the kinds the
/// host derives from these, `patroni-pg-hba`, `port-matrix` and `certificates`, are
/// never files).
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
    "pgbouncer-auth-file",
    "consul",
    "gitlab-rb",
    "topology",
    "systemd",
    "nftables",
    "patroni-env",
    "docker-compose",
];

impl Kind {
    /// The kind's name, as patrol prints it and `--kind` takes it (the WIT case name).
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
            Kind::PgbouncerAuthFile => "pgbouncer-auth-file",
            Kind::Consul => "consul",
            Kind::GitlabRb => "gitlab-rb",
            Kind::Topology => "topology",
            Kind::Systemd => "systemd",
            Kind::Nftables => "nftables",
            Kind::PatroniEnv => "patroni-env",
            Kind::DockerCompose => "docker-compose",
            Kind::PatroniPgHba => "patroni-pg-hba",
            Kind::PortMatrix => "port-matrix",
            Kind::Certificates => "certificates",
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
            "pgbouncer-auth-file" => Kind::PgbouncerAuthFile,
            "consul" => Kind::Consul,
            "gitlab-rb" => Kind::GitlabRb,
            "topology" => Kind::Topology,
            "systemd" => Kind::Systemd,
            "nftables" => Kind::Nftables,
            "patroni-env" => Kind::PatroniEnv,
            "docker-compose" => Kind::DockerCompose,
            "patroni-pg-hba" => Kind::PatroniPgHba,
            "port-matrix" => Kind::PortMatrix,
            "certificates" => Kind::Certificates,
            other => Kind::Other(other.to_string()),
        }
    }
}

// The generated type derives only `Clone`. Kinds are equal when their names are: an
// `other` that a guest filled with a known name is that kind.
impl PartialEq for Kind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Kind {}

impl std::hash::Hash for Kind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

/// A kind is written by its name (the certificates facts in a document's text).
impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
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
        // The name PgBouncer's docs and packages give the auth_file; another name is
        // found through the `auth_file` of a pgbouncer.ini beside it (discover.rs).
        "userlist.txt" => Some(Kind::PgbouncerAuthFile),
        "pg_autoctl.cfg" => Some(Kind::PgAutoctl),
        "gitlab.rb" => Some(Kind::GitlabRb),
        "topology.yaml" | "topology.yml" => Some(Kind::Topology),
        "nftables.conf" | "nftables.rules" => Some(Kind::Nftables),
        "docker-compose.yml" | "docker-compose.yaml" | "compose.yml" | "compose.yaml" => {
            Some(Kind::DockerCompose)
        }
        _ if name.starts_with("docker-compose.") && matches!(ext, "yml" | "yaml") => {
            Some(Kind::DockerCompose)
        }
        _ if name.ends_with(".nft") => Some(Kind::Nftables),
        _ if name.ends_with("hba.conf") => Some(Kind::PgHba),
        _ if name.ends_with("ident.conf") => Some(Kind::PgIdent),
        _ if name.ends_with(".rb") && name.contains("gitlab") => Some(Kind::GitlabRb),
        _ => None,
    };
    if let Some(kind) = by_name {
        return Detected::Document(kind);
    }
    // Patroni's env files (`patroni.env`, a Docker `--env-file`): `PATRONI_*` variables.
    if !matches!(ext, "yml" | "yaml" | "json" | "service")
        && super::env_file::looks_like_patroni(text)
    {
        return Detected::Document(Kind::PatroniEnv);
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
    // A drop-in ruleset (`/etc/nftables.d/10-firewall.conf`, `rules.v4`-style names):
    // nft's own first statement says so.
    if matches!(ext, "" | "conf" | "rules") && looks_like_nftables(text) {
        return Detected::Document(Kind::Nftables);
    }
    match ext {
        "yml" | "yaml" if name.starts_with("patroni") && !is_other_yaml(text) => {
            Detected::Document(Kind::Patroni)
        }
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

/// A YAML file named `patroni*` that is something else: a samples file, a Compose file,
/// a Kubernetes manifest, an Ansible playbook (a list at the top).
fn is_other_yaml(text: &str) -> bool {
    let keys = top_keys(text);
    let has = |k: &str| keys.iter().any(|x| x == k);
    has("requests")
        || has("connections")
        || has("services")
        || has("apiVersion")
        || has("kind")
        || text.lines().any(|l| l.starts_with("- "))
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
    // A postgresql.conf fragment (`conf.d/*.conf`, an `include`d file): settings that are
    // PostgreSQL's, and nothing that is not `name = value`. pgpool-II's pgpool.conf has
    // the same syntax and shares names (`listen_addresses`, `port`, `ssl`), not meanings.
    if sections.is_empty() && is_postgresql_conf(text) && !is_pgpool_conf(text) {
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

/// PostgreSQL settings that are in most postgresql.conf files and fragments (a key of
/// another server's config is rarely one of these).
const GUCS: &[&str] = &[
    "listen_addresses",
    "port",
    "max_connections",
    "superuser_reserved_connections",
    "unix_socket_directories",
    "ssl",
    "ssl_cert_file",
    "ssl_key_file",
    "ssl_ca_file",
    "ssl_crl_file",
    "ssl_ciphers",
    "ssl_min_protocol_version",
    "password_encryption",
    "authentication_timeout",
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "wal_level",
    "max_wal_senders",
    "max_replication_slots",
    "wal_keep_size",
    "wal_keep_segments",
    "hot_standby",
    "archive_mode",
    "archive_command",
    "restore_command",
    "primary_conninfo",
    "synchronous_commit",
    "synchronous_standby_names",
    "checkpoint_timeout",
    "max_wal_size",
    "min_wal_size",
    "log_destination",
    "logging_collector",
    "log_directory",
    "log_filename",
    "log_connections",
    "log_disconnections",
    "log_line_prefix",
    "log_statement",
    "log_min_duration_statement",
    "shared_preload_libraries",
    "hba_file",
    "ident_file",
    "data_directory",
    "include_dir",
    "include",
    "include_if_exists",
    "timezone",
    "datestyle",
    "lc_messages",
    "default_text_search_config",
    "random_page_cost",
    "effective_io_concurrency",
    "max_worker_processes",
    "max_parallel_workers",
    "wal_log_hints",
    "cluster_name",
    "row_security",
];

/// Whether `text` reads as postgresql.conf: at least one known setting, and every line a
/// comment, blank, or `name = value` / `name value` with a lowercase name.
fn is_postgresql_conf(text: &str) -> bool {
    let mut known = 0;
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let name = l.split(['=', ' ', '\t']).next().unwrap_or("").trim();
        let is_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !is_name {
            return false;
        }
        known += usize::from(GUCS.contains(&name));
    }
    known >= 1
}

/// Whether `text` reads as an nftables ruleset: the `nft -f` shebang, or a first
/// statement (after comments and blank lines) that only nft writes: `flush ruleset`,
/// `table FAMILY NAME {`, or `add|create table|chain|set|map|rule|element FAMILY …`.
fn looks_like_nftables(text: &str) -> bool {
    const FAMILIES: &[&str] = &["ip", "ip6", "inet", "arp", "bridge", "netdev"];
    if let Some(first) = text.lines().next()
        && first.starts_with("#!")
        && first.contains("nft")
        && first.contains("-f")
    {
        return true;
    }
    let Some(first) = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return false;
    };
    let words: Vec<&str> = first.split_whitespace().collect();
    match words.as_slice() {
        ["flush", "ruleset", ..] => true,
        ["table", family, _, ..] => FAMILIES.contains(family) && first.contains('{'),
        ["add" | "create", object, family, ..] => {
            matches!(
                *object,
                "table" | "chain" | "set" | "map" | "rule" | "element"
            ) && FAMILIES.contains(family)
        }
        _ => false,
    }
}

/// Settings only pgpool-II has.
fn is_pgpool_conf(text: &str) -> bool {
    const PGPOOL: &[&str] = &[
        "backend_hostname0",
        "num_init_children",
        "pcp_listen_addresses",
        "pool_passwd",
        "enable_pool_hba",
    ];
    text.lines()
        .any(|l| PGPOOL.contains(&l.split(['=', ' ', '\t']).next().unwrap_or("").trim()))
}

/// Why a file that is none of the kinds is skipped, for the run's summary.
pub fn unknown_reason(path: &Path, text: &str) -> &'static str {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    if matches!(
        ext,
        "j2" | "jinja" | "jinja2" | "erb" | "tmpl" | "tpl" | "mustache" | "gotmpl"
    ) {
        "a template: check the rendered file"
    } else if text.trim().is_empty() {
        "empty"
    } else if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with(['#', ';']))
    {
        "only comments"
    } else if is_pgpool_conf(text) {
        "a pgpool-II config, which patrol does not check"
    } else if matches!(ext, "yml" | "yaml" | "json") {
        "structured data that is not a config patrol reads"
    } else {
        "not a config patrol reads"
    }
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
            (
                "10-firewall.conf",
                "#\n# Ansible managed\n#\n\nadd table inet host\nadd chain inet host INPUT\n",
                Detected::Document(Kind::Nftables),
            ),
            (
                "filter.conf",
                "#!/usr/sbin/nft -f\n",
                Detected::Document(Kind::Nftables),
            ),
            (
                "firewall.rules",
                "# host firewall\ntable inet filter {\n}\n",
                Detected::Document(Kind::Nftables),
            ),
            // `table` alone is no proof: an INI or a postgresql.conf never starts so, but
            // a word list might.
            ("words.conf", "table of contents\n", Detected::Unknown),
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
            // Patroni by name even with only a `bootstrap:` section; not a Compose file.
            (
                "patroni.yml",
                "bootstrap:\n  dcs:\n    ttl: 30\n",
                Detected::Document(Kind::Patroni),
            ),
            (
                "patroni-node1.yaml",
                "name: pg1\n",
                Detected::Document(Kind::Patroni),
            ),
            ("patroni.yml", "services:\n  pg: {}\n", Detected::Unknown),
            // Patroni's env files, before etcd's.
            (
                "patroni.env",
                "PATRONI_RESTAPI_USERNAME=admin\nPATRONI_RESTAPI_PASSWORD=x\n",
                Detected::Document(Kind::PatroniEnv),
            ),
            (
                ".env",
                "PATRONI_NAME=pg1\nPATRONI_ETCD3_HOSTS=a:2379\n",
                Detected::Document(Kind::PatroniEnv),
            ),
            // postgresql.conf fragments by their settings.
            (
                "10-tls.conf",
                "ssl_cert_file = '/etc/x.pem'\nssl_min_protocol_version = 'TLSv1.2'\n",
                Detected::Document(Kind::PostgresqlConf),
            ),
            (
                "tuning.conf",
                "# tuned\nwork_mem = 64MB\nrandom_page_cost = 1.1\n",
                Detected::Document(Kind::PostgresqlConf),
            ),
            // …but not another server's config that shares a name (`port`).
            ("other.conf", "Port 22\nport = 1\n", Detected::Unknown),
            (
                "pgpool.conf",
                "listen_addresses = '*'\nport = 9999\nbackend_hostname0 = 'pg'\n",
                Detected::Unknown,
            ),
        ];
        for (name, text, want) in cases {
            assert_eq!(&detect(Path::new(name), text), want, "{name}");
        }
    }
}
