//! The access matrix: who may do what, from where.
//!
//! Each row names source networks and what they may do: Patroni REST API calls
//! (`"GET /metrics"`, `"* /cluster"`, `"POST *"`, `"*"`) and PostgreSQL connections
//! (`{user, database}`, `*` for any; `database: replication` for physical replication).
//! A sample is allowed when one row allows it. Pure logic over the settings, tested
//! natively below.

use policy_guest::net::{IpNet, parse_net};
use policy_guest::patroni::route::first_segment;
use policy_guest::{Connection, HttpRequest, ReplicationMode};
use serde::Deserialize;

/// One row of the matrix.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// A name for messages (`admins`, `monitoring`).
    pub name: String,
    /// Source networks (CIDR or single addresses).
    pub from: Vec<String>,
    /// Patroni REST API calls: `"METHOD /segment"`, with `*` for any method or any path.
    #[serde(default)]
    pub patroni: Vec<String>,
    /// PostgreSQL connections.
    #[serde(default)]
    pub postgres: Vec<PgAccess>,
}

/// A PostgreSQL connection a row allows.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PgAccess {
    /// The role, or `*`.
    pub user: String,
    /// The database, `*`, or `replication` for physical replication.
    pub database: String,
}

/// Problems in the rows, each naming the row and entry.
pub fn validate(rows: &[Row]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let at = format!("`matrix[{i}]` (`{}`)", row.name);
        if row.name.trim().is_empty() {
            problems.push(format!("`matrix[{i}].name` must not be empty"));
        }
        if rows[..i].iter().any(|r| r.name == row.name) {
            problems.push(format!("{at}: two rows are named `{}`", row.name));
        }
        if row.from.is_empty() {
            problems.push(format!("{at}: `from` must list at least one network"));
        }
        for (j, net) in row.from.iter().enumerate() {
            if parse_net(net).is_none() {
                problems.push(format!("{at}: `from[{j}]`: `{net}` is not a network such as 10.20.0.0/16"));
            }
        }
        for (j, call) in row.patroni.iter().enumerate() {
            if Call::parse(call).is_none() {
                problems.push(format!("{at}: `patroni[{j}]`: `{call}` is not `METHOD /path`, `METHOD *`, `* /path` or `*`"));
            }
        }
        for (j, pg) in row.postgres.iter().enumerate() {
            if pg.user.trim().is_empty() || pg.database.trim().is_empty() {
                problems.push(format!("{at}: `postgres[{j}]` needs a `user` and a `database` (`*` for any)"));
            }
        }
    }
    problems
}

/// A parsed `patroni` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    /// `None`: any method.
    pub method: Option<&'a str>,
    /// The first path segment; `None`: any path.
    pub segment: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn parse(text: &'a str) -> Option<Call<'a>> {
        let text = text.trim();
        if text == "*" {
            return Some(Call { method: None, segment: None });
        }
        let (method, path) = text.split_once(char::is_whitespace)?;
        let path = path.trim();
        let method = (method != "*").then_some(method);
        if method.is_some_and(|m| !m.bytes().all(|b| b.is_ascii_uppercase())) {
            return None;
        }
        let segment = match path {
            "*" => None,
            p if p.starts_with('/') => Some(first_segment(p)),
            _ => return None,
        };
        Some(Call { method, segment })
    }

    pub fn allows(&self, req: &HttpRequest) -> bool {
        self.method.is_none_or(|m| m == req.method) && self.segment.is_none_or(|s| s == first_segment(&req.path))
    }

    /// Whether the entry can allow a state-changing call (anything but GET, HEAD and
    /// OPTIONS): such rows are the ones `restapi.allowlist` is for.
    pub fn is_unsafe(&self) -> bool {
        self.method.is_none_or(|m| !matches!(m, "GET" | "HEAD" | "OPTIONS"))
    }
}

impl Row {
    pub fn networks(&self) -> Vec<IpNet> {
        self.from.iter().filter_map(|n| parse_net(n)).collect()
    }

    fn admits(&self, source: &str) -> bool {
        let Some(ip) = parse_net(source) else { return false };
        self.networks().iter().any(|n| n.contains(&ip))
    }

    /// Whether this row allows an unsafe Patroni call.
    pub fn allows_unsafe(&self) -> bool {
        self.patroni.iter().filter_map(|c| Call::parse(c)).any(|c| c.is_unsafe())
    }

    pub fn allows_request(&self, req: &HttpRequest) -> bool {
        self.admits(&req.source) && self.patroni.iter().filter_map(|c| Call::parse(c)).any(|c| c.allows(req))
    }

    pub fn allows_connection(&self, c: &Connection) -> bool {
        let database = match c.replication {
            ReplicationMode::Physical => "replication",
            _ => c.database.as_str(),
        };
        self.admits(&c.source)
            && self.postgres.iter().any(|pg| {
                (pg.user == "*" || pg.user == c.user) && (pg.database == "*" && database != "replication" || pg.database == database)
            })
    }
}

/// The row that allows the request, if any.
pub fn request_row<'r>(rows: &'r [Row], req: &HttpRequest) -> Option<&'r Row> {
    rows.iter().find(|r| r.allows_request(req))
}

/// The row that allows the connection, if any.
pub fn connection_row<'r>(rows: &'r [Row], c: &Connection) -> Option<&'r Row> {
    rows.iter().find(|r| r.allows_connection(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_guest::{CertPresence, RequestAuth};

    fn rows() -> Vec<Row> {
        serde_json::from_str(
            r#"[
              {"name": "admins", "from": ["10.20.0.0/16"], "patroni": ["*"], "postgres": [{"user": "*", "database": "*"}]},
              {"name": "monitoring", "from": ["10.30.0.0/24"], "patroni": ["GET /metrics"], "postgres": [{"user": "monitor", "database": "postgres"}]},
              {"name": "replicas", "from": ["10.20.1.0/24"], "postgres": [{"user": "replicator", "database": "replication"}]}
            ]"#,
        )
        .unwrap()
    }

    fn req(source: &str, method: &str, path: &str) -> HttpRequest {
        HttpRequest {
            name: None,
            source: source.into(),
            method: method.into(),
            path: path.into(),
            scheme: None,
            auth: RequestAuth::None,
            client_cert: CertPresence::None,
        }
    }

    fn conn(source: &str, user: &str, database: &str, replication: ReplicationMode) -> Connection {
        Connection { name: None, source: source.into(), ssl: true, client_cert: None, user: user.into(), database: database.into(), replication }
    }

    #[test]
    fn requests_need_a_row_for_their_source_and_call() {
        let rows = rows();
        assert_eq!(request_row(&rows, &req("10.20.3.4", "POST", "/restart")).map(|r| r.name.as_str()), Some("admins"));
        assert_eq!(request_row(&rows, &req("10.30.0.9", "GET", "/metrics?x=1")).map(|r| r.name.as_str()), Some("monitoring"));
        assert!(request_row(&rows, &req("10.30.0.9", "GET", "/cluster")).is_none());
        assert!(request_row(&rows, &req("10.30.0.9", "POST", "/metrics")).is_none());
        assert!(request_row(&rows, &req("192.168.0.1", "GET", "/metrics")).is_none());
    }

    #[test]
    fn replication_is_only_allowed_by_a_replication_entry() {
        let rows = rows();
        let physical = conn("10.20.1.5", "replicator", "x", ReplicationMode::Physical);
        assert_eq!(connection_row(&rows, &physical).map(|r| r.name.as_str()), Some("replicas"));
        let monitor = conn("10.30.0.2", "monitor", "postgres", ReplicationMode::None);
        assert_eq!(connection_row(&rows, &monitor).map(|r| r.name.as_str()), Some("monitoring"));
        assert!(connection_row(&rows, &conn("10.30.0.2", "monitor", "app", ReplicationMode::None)).is_none());
        // `database: *` is every database, not the replication pseudo-database.
        assert!(connection_row(&rows[..1], &conn("10.20.0.9", "x", "x", ReplicationMode::Physical)).is_none());
    }

    #[test]
    fn calls_parse_and_classify() {
        assert_eq!(Call::parse("GET /metrics"), Some(Call { method: Some("GET"), segment: Some("metrics") }));
        assert_eq!(Call::parse("* /cluster"), Some(Call { method: None, segment: Some("cluster") }));
        assert!(Call::parse("get /metrics").is_none());
        assert!(Call::parse("GET metrics").is_none());
        assert!(!Call::parse("GET *").unwrap().is_unsafe());
        assert!(Call::parse("POST /restart").unwrap().is_unsafe());
        assert!(rows()[0].allows_unsafe() && !rows()[1].allows_unsafe());
    }

    #[test]
    fn every_problem_in_the_rows_is_reported() {
        let rows: Vec<Row> = serde_json::from_str(
            r#"[{"name": "a", "from": ["10.0.0.0/33"], "patroni": ["fetch /x"]}, {"name": "a", "from": [], "postgres": [{"user": "", "database": "x"}]}]"#,
        )
        .unwrap();
        let problems = validate(&rows);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].contains("`from[0]`: `10.0.0.0/33`"));
    }
}
