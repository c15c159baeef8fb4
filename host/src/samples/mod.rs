//! The samples file: simulated Patroni REST API requests, PostgreSQL connection attempts,
//! and the context facts the config files don't give.
//!
//! YAML or JSON, read with the same YAML parser as the configs so that every error names
//! its line. Unknown keys are errors (a typo like `sorce:` must not silently become a
//! default). The result is the WIT `context`, `request-sample` and `connection` records.
//! Requests cross the boundary in a compact form (binary addresses, methods and paths as
//! indices into one table of strings), so the samples file's names stay here.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use crate::formats::yaml;
use crate::wit;

pub mod stream;

/// The samples of one file, ready for the policies.
#[derive(Debug, Clone)]
pub struct Samples {
    pub context: wit::Context,
    pub requests: wit::RequestBatch,
    /// The `name` of each request (same index).
    pub request_names: Vec<Option<String>>,
    pub connections: Vec<wit::Connection>,
}

impl Default for Samples {
    fn default() -> Self {
        Samples {
            context: empty_context(),
            requests: wit::RequestBatch::default(),
            request_names: Vec::new(),
            connections: Vec::new(),
        }
    }
}

// The bindings generate the type, so `#[derive(Default)]` cannot be put on it.
#[allow(clippy::derivable_impls)]
impl Default for wit::RequestBatch {
    fn default() -> Self {
        wit::RequestBatch {
            sources: Vec::new(),
            methods: Vec::new(),
            paths: Vec::new(),
            schemes: Vec::new(),
            auths: Vec::new(),
            client_certs: Vec::new(),
            addresses: Vec::new(),
            strings: Vec::new(),
            credentials: Vec::new(),
        }
    }
}

impl wit::RequestBatch {
    /// The number of requests.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

/// Builds a `request-batch`: the columns, and each distinct text, address and pair of
/// credentials once.
#[derive(Debug, Default)]
pub struct Batch {
    batch: wit::RequestBatch,
    strings: HashMap<String, u32>,
    addresses: HashMap<IpAddr, u32>,
    credentials: HashMap<(String, String), u32>,
}

/// One request for [`Batch::push`].
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub source: IpAddr,
    pub method: &'a str,
    pub path: &'a str,
    /// None, `Some(false)` for http, `Some(true)` for https.
    pub https: Option<bool>,
    pub auth: Auth<'a>,
    /// None, `Some(true)` for a trusted certificate, `Some(false)` for an untrusted one.
    pub client_cert: Option<bool>,
}

/// The credentials of a [`Request`].
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    None,
    Valid,
    Invalid,
    Basic {
        username: &'a str,
        password: &'a str,
    },
}

impl Batch {
    fn batch(&mut self) -> &mut wit::RequestBatch {
        &mut self.batch
    }

    fn string(&mut self, text: &str) -> u32 {
        if let Some(&i) = self.strings.get(text) {
            return i;
        }
        let table = &mut self.batch().strings;
        let i = table.len() as u32;
        table.push(text.to_string());
        self.strings.insert(text.to_string(), i);
        i
    }

    /// Adds a request.
    pub fn push(&mut self, r: &Request<'_>) {
        let method = self.string(r.method);
        let path = self.string(r.path);
        let source = match self.addresses.get(&r.source) {
            Some(&i) => i,
            None => {
                let table = &mut self.batch().addresses;
                let i = table.len() as u32;
                table.push(ip_address(r.source));
                self.addresses.insert(r.source, i);
                i
            }
        };
        let auth = match r.auth {
            Auth::None => 0,
            Auth::Valid => 1,
            Auth::Invalid => 2,
            Auth::Basic { username, password } => {
                let key = (username.to_string(), password.to_string());
                match self.credentials.get(&key) {
                    Some(&i) => i,
                    None => {
                        let table = &mut self.batch().credentials;
                        let i = table.len() as u32 + 3;
                        table.push(wit::Credentials {
                            username: key.0.clone(),
                            password: key.1.clone(),
                        });
                        self.credentials.insert(key, i);
                        i
                    }
                }
            }
        };
        let b = self.batch();
        b.sources.push(source);
        b.methods.push(method);
        b.paths.push(path);
        b.schemes.push(match r.https {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
        b.auths.push(auth);
        b.client_certs.push(match r.client_cert {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        });
    }

    /// The columns, without the room their growth left (a million requests held until
    /// the policies are done).
    pub fn finish(mut self) -> wit::RequestBatch {
        let b = &mut self.batch;
        for column in [&mut b.sources, &mut b.methods, &mut b.paths, &mut b.auths] {
            column.shrink_to_fit();
        }
        b.schemes.shrink_to_fit();
        b.client_certs.shrink_to_fit();
        self.batch
    }
}

/// An address as the WIT `ip-address`.
pub fn ip_address(ip: IpAddr) -> wit::IpAddress {
    match ip {
        IpAddr::V4(v4) => wit::IpAddress::V4(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            wit::IpAddress::V6(((bits >> 64) as u64, bits as u64))
        }
    }
}

/// The context used when no samples file gives one.
pub fn empty_context() -> wit::Context {
    wit::Context {
        postgres_version: None,
        patroni_version: None,
        members: None,
        resolve: Vec::new(),
        dual_stack: None,
        server_addresses: Vec::new(),
        roles: None,
        password_types: Vec::new(),
        extra: "{}".to_string(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    context: Option<ContextIn>,
    #[serde(default)]
    requests: Vec<RequestIn>,
    #[serde(default)]
    connections: Vec<ConnectionIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextIn {
    postgres_version: Option<Value>,
    patroni_version: Option<Value>,
    members: Option<Vec<String>>,
    #[serde(default)]
    resolve: BTreeMap<String, OneOrMany>,
    dual_stack: Option<bool>,
    #[serde(default)]
    server_addresses: Vec<String>,
    roles: Option<BTreeMap<String, Option<Vec<String>>>>,
    #[serde(default)]
    password_types: BTreeMap<String, PasswordType>,
    #[serde(default)]
    extra: serde_json::Map<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum PasswordType {
    #[serde(rename = "scram-sha-256")]
    Scram,
    #[serde(rename = "md5")]
    Md5,
    #[serde(rename = "none")]
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestIn {
    name: Option<String>,
    source: String,
    #[serde(default = "default_method")]
    method: String,
    path: String,
    scheme: Option<Scheme>,
    #[serde(default)]
    auth: AuthIn,
    #[serde(default)]
    client_cert: CertIn,
}

fn default_method() -> String {
    "GET".to_string()
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Scheme {
    Http,
    Https,
}

#[derive(Debug, Default, Deserialize)]
#[serde(try_from = "Value")]
enum AuthIn {
    #[default]
    Absent,
    Keyword(AuthKeyword),
    Basic(CredentialsIn),
}

impl TryFrom<Value> for AuthIn {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        const WANTED: &str = "must be `none`, `valid`, `invalid` or `{username: …, password: …}`";
        match v {
            Value::String(_) => serde_json::from_value(v)
                .map(AuthIn::Keyword)
                .map_err(|_| WANTED.to_string()),
            Value::Object(_) => serde_json::from_value(v)
                .map(AuthIn::Basic)
                .map_err(|e| format!("{WANTED}: {e}")),
            other => Err(format!("{WANTED}, not `{other}`")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AuthKeyword {
    None,
    Valid,
    Invalid,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsIn {
    username: String,
    password: String,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum CertIn {
    #[default]
    None,
    Trusted,
    Untrusted,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionIn {
    name: Option<String>,
    source: String,
    #[serde(default)]
    ssl: bool,
    #[serde(default)]
    client_cert: Option<ClientCertIn>,
    user: String,
    database: String,
    #[serde(default)]
    replication: ReplicationIn,
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "Value")]
enum ClientCertIn {
    Name(String),
    Full(ClientCertFull),
}

impl TryFrom<Value> for ClientCertIn {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        const WANTED: &str = "must be null, a certificate CN, or `{cn: …, trusted: true|false}`";
        match v {
            Value::String(cn) => Ok(ClientCertIn::Name(cn)),
            Value::Object(_) => serde_json::from_value(v)
                .map(ClientCertIn::Full)
                .map_err(|e| format!("{WANTED}: {e}")),
            other => Err(format!("{WANTED}, not `{other}`")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientCertFull {
    cn: String,
    #[serde(default = "yes")]
    trusted: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(try_from = "Value")]
enum ReplicationIn {
    #[default]
    Off,
    Flag(bool),
    Mode(ReplicationWord),
}

#[derive(Debug)]
enum ReplicationWord {
    Database,
}

impl TryFrom<Value> for ReplicationIn {
    type Error = String;

    fn try_from(v: Value) -> Result<Self, String> {
        match v {
            Value::Bool(b) => Ok(ReplicationIn::Flag(b)),
            Value::String(w) if w == "database" => {
                Ok(ReplicationIn::Mode(ReplicationWord::Database))
            }
            other => Err(format!(
                "must be `false`, `true` (physical) or `database` (logical), not `{other}`"
            )),
        }
    }
}

/// Parses a samples file. Errors name the file and line: `samples.yaml:7: unknown field …`.
pub fn parse(src: &str, file: &str) -> Result<Samples, String> {
    // A JSON file (a generated matrix, an access log turned into samples) is read with
    // serde_json, many times faster than the positioned YAML reader; positions are only
    // needed for a message, so a file with a problem is read again the slow way. Straight
    // into the typed samples, with no tree of values in between.
    if src.trim_start().starts_with('{')
        && let Ok(file_in) = serde_json::from_str::<File>(src)
        && let Ok(samples) = from_file(file_in, file, &|_| 1)
    {
        return Ok(samples);
    }
    let parsed = yaml::parse(src, file);
    if let Some(d) = parsed.diagnostics.iter().find(|d| d.code == "invalid-yaml") {
        return Err(format!("{}:{}: {}", file, d.location.line, d.message));
    }
    let value: Value =
        serde_json::from_str(&parsed.value.json).map_err(|e| format!("{file}: {e}"))?;
    let line_of = |pointer: &str| -> u32 {
        let mut p = pointer.to_string();
        loop {
            if let Some(span) = parsed.value.spans.iter().find(|s| s.pointer == p) {
                return span.line;
            }
            match p.rfind('/') {
                Some(i) => p.truncate(i),
                None => return 1,
            }
        }
    };
    from_value(&value, file, &line_of)
}

/// Reads samples from an already parsed value (the `samples:` of a `patrol test` case);
/// `line_of` maps a JSON pointer within `value` to its line in `file`.
pub fn from_value(
    value: &Value,
    file: &str,
    line_of: &dyn Fn(&str) -> u32,
) -> Result<Samples, String> {
    if value.is_null() {
        return Ok(Samples::default());
    }
    let file_in: File = serde_path_to_error::deserialize(value).map_err(|e| {
        let pointer = path_to_pointer(e.path());
        let line = line_of(&pointer);
        format!("{file}:{line}: {}{}", at_key(e.path()), e.inner())
    })?;
    from_file(file_in, file, line_of)
}

/// The samples of a deserialized file: addresses, methods and credentials checked and
/// put into the columns that cross the boundary.
fn from_file(file_in: File, file: &str, line_of: &dyn Fn(&str) -> u32) -> Result<Samples, String> {
    let check =
        |pointer: String, message: String| format!("{file}:{}: {message}", line_of(&pointer));

    let context = match file_in.context {
        Some(c) => {
            convert_context(c).map_err(|(key, msg)| check(format!("/context/{key}"), msg))?
        }
        None => empty_context(),
    };
    let mut requests = Batch::default();
    let mut request_names = Vec::with_capacity(file_in.requests.len());
    for (i, r) in file_in.requests.into_iter().enumerate() {
        add_request(&r, &mut requests)
            .map_err(|(key, msg)| check(format!("/requests/{i}/{key}"), msg))?;
        request_names.push(r.name);
    }
    let mut connections = Vec::with_capacity(file_in.connections.len());
    for (i, c) in file_in.connections.into_iter().enumerate() {
        connections.push(
            convert_connection(c)
                .map_err(|(key, msg)| check(format!("/connections/{i}/{key}"), msg))?,
        );
    }
    Ok(Samples {
        context,
        requests: requests.finish(),
        request_names,
        connections,
    })
}

fn at_key(path: &serde_path_to_error::Path) -> String {
    let s = path.to_string();
    if s == "." || s.is_empty() {
        String::new()
    } else {
        format!("`{s}`: ")
    }
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    pointer
}

type Problem = (&'static str, String);

fn convert_context(c: ContextIn) -> Result<wit::Context, Problem> {
    let postgres_version = match c.postgres_version {
        None => None,
        Some(v) => Some(postgres_major(&v).ok_or((
            "postgres_version",
            format!(
                "`postgres_version` must be a PostgreSQL version such as 15 or \"16.4\", not `{v}`"
            ),
        ))?),
    };
    let patroni_version = match c.patroni_version {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(v) => {
            return Err((
                "patroni_version",
                format!("`patroni_version` must be a version such as \"4.1.5\", not `{v}`"),
            ));
        }
    };
    for addr in &c.server_addresses {
        if addr.parse::<ipnet::IpNet>().is_err() && addr.parse::<IpAddr>().is_err() {
            return Err((
                "server_addresses",
                format!(
                    "`{addr}` in `server_addresses` is not an address with prefix such as 10.0.0.5/24"
                ),
            ));
        }
    }
    let resolve = c
        .resolve
        .into_iter()
        .map(|(host, ips)| {
            let ips = match ips {
                OneOrMany::One(ip) => vec![ip],
                OneOrMany::Many(ips) => ips,
            };
            for ip in &ips {
                if ip.parse::<IpAddr>().is_err() {
                    return Err((
                        "resolve",
                        format!("`{ip}` (for `{host}` in `resolve`) is not an IP address"),
                    ));
                }
            }
            Ok((host, ips))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let roles = c.roles.map(|roles| {
        roles
            .into_iter()
            .map(|(role, member_of)| (role, member_of.unwrap_or_default()))
            .collect()
    });
    let password_types = c
        .password_types
        .into_iter()
        .map(|(role, t)| {
            let t = match t {
                PasswordType::Scram => "scram-sha-256",
                PasswordType::Md5 => "md5",
                PasswordType::None => "none",
            };
            (role, t.to_string())
        })
        .collect();
    Ok(wit::Context {
        postgres_version,
        patroni_version,
        members: c.members,
        resolve,
        dual_stack: c.dual_stack,
        server_addresses: c.server_addresses,
        roles,
        password_types,
        extra: Value::Object(c.extra).to_string(),
    })
}

/// The major version in `15`, `"15"`, `"15.4"`, `"9.6"` (→ 9… counted as 9), `150004`.
fn postgres_major(v: &Value) -> Option<u32> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    let major: u32 = text.split('.').next()?.parse().ok()?;
    match major {
        9..=99 => Some(major),
        90000..=999999 => Some(major / 10000),
        _ => None,
    }
}

fn add_request(r: &RequestIn, batch: &mut Batch) -> Result<(), Problem> {
    let source = parse_ip(&r.source).map_err(|m| ("source", m))?;
    if r.path.is_empty() {
        return Err(("path", "`path` must not be empty".to_string()));
    }
    let auth = match &r.auth {
        AuthIn::Absent | AuthIn::Keyword(AuthKeyword::None) => Auth::None,
        AuthIn::Keyword(AuthKeyword::Valid) => Auth::Valid,
        AuthIn::Keyword(AuthKeyword::Invalid) => Auth::Invalid,
        AuthIn::Basic(c) => Auth::Basic {
            username: &c.username,
            password: &c.password,
        },
    };
    batch.push(&Request {
        source,
        method: &r.method,
        path: &r.path,
        https: r.scheme.map(|s| matches!(s, Scheme::Https)),
        auth,
        client_cert: match r.client_cert {
            CertIn::None => None,
            CertIn::Trusted => Some(true),
            CertIn::Untrusted => Some(false),
        },
    });
    Ok(())
}

fn convert_connection(c: ConnectionIn) -> Result<wit::Connection, Problem> {
    if c.source != "local" {
        parse_ip(&c.source)
            .map_err(|m| ("source", format!("{m}, or `local` for the Unix socket")))?;
    }
    let client_cert = c.client_cert.map(|cert| match cert {
        ClientCertIn::Name(cn) => wit::ClientCertificate { cn, trusted: true },
        ClientCertIn::Full(f) => wit::ClientCertificate {
            cn: f.cn,
            trusted: f.trusted,
        },
    });
    if client_cert.is_some() && !c.ssl {
        return Err((
            "client_cert",
            "a `client_cert` needs `ssl: true` (certificates are sent only over TLS)".to_string(),
        ));
    }
    if c.source == "local" && c.ssl {
        return Err((
            "ssl",
            "`ssl: true` is impossible on the Unix socket (`source: local`)".to_string(),
        ));
    }
    Ok(wit::Connection {
        name: c.name,
        source: c.source,
        ssl: c.ssl,
        client_cert,
        user: c.user,
        database: c.database,
        replication: match c.replication {
            ReplicationIn::Off | ReplicationIn::Flag(false) => wit::ReplicationMode::None,
            ReplicationIn::Flag(true) => wit::ReplicationMode::Physical,
            ReplicationIn::Mode(ReplicationWord::Database) => wit::ReplicationMode::Logical,
        },
    })
}

fn parse_ip(source: &str) -> Result<IpAddr, String> {
    source
        .parse::<IpAddr>()
        .map_err(|_| format!("`source` must be an IP address, not `{source}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_versions() {
        assert_eq!(postgres_major(&serde_json::json!(15)), Some(15));
        assert_eq!(postgres_major(&serde_json::json!("16.4")), Some(16));
        assert_eq!(postgres_major(&serde_json::json!(150004)), Some(15));
        assert_eq!(postgres_major(&serde_json::json!("x")), None);
    }

    /// An error names a line of the file as editors count them, also when bare `\r`
    /// break its YAML lines (fuzz seed `yaml-bare-cr-error-past-last-line`).
    #[test]
    fn errors_name_a_line_of_the_file_with_bare_cr() {
        let e = parse("\r\rM", "s.yaml").expect_err("not samples");
        assert!(e.starts_with("s.yaml:1: "), "{e}");
        let e = parse("requests:\n- {}\r\r\r- bogus: 1\n", "s.yaml").expect_err("bad key");
        assert!(e.starts_with("s.yaml:2: "), "{e}");
    }
}
