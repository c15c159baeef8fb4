//! pg_hba matching, exactly as PostgreSQL's `check_hba` and `ClientAuthentication` do it.
//!
//! [`Matcher::new`] compiles the records of a pg_hba.conf once (keywords told apart from
//! names, addresses parsed to bit masks, a first-match [`index`] over the columns) with
//! the facts the file alone does not give: roles and their memberships, stored password
//! types, the server's addresses and TLS settings, name resolution, pg_ident maps. Then
//! [`Matcher::decide`] answers a connection sample: which record it hits, the method the
//! server asks for, or where it fails (TLS handshake, no record, `reject`, a client
//! certificate check). [`Matcher::shadowed`] finds the records no connection can reach.
//!
//! The order of checks follows the server: TLS (a client certificate from an unknown CA
//! fails the handshake when `ssl_ca_file` is set), then the first record whose connection
//! type, database, user and address accept the connection, then `clientcert` (a trusted
//! certificate is required before the method), then the method, then the certificate
//! name for `cert` and `clientcert=verify-full`.

pub mod ident;
pub mod index;
pub mod roles;
pub mod rule;
pub mod shadow;
#[doc(hidden)]
pub mod testing;

use std::net::IpAddr;

use crate::{ClientCertificate, Connection, Context, HbaRule, IdentRule, ReplicationMode, Verdict};
use ident::{IdentMaps, MapResult};
use index::{FxMap as HashMap, Index, Scratch};
use roles::Roles;
use rule::{Address, ClientCert, LOCAL, Method, Net, PLAIN, Rule, SSL};

/// The PostgreSQL major whose behaviour applies when the context names none.
pub const NEWEST_VERSION: u32 = 18;

/// What the server's effective settings say about TLS and passwords. Each fact is
/// `None` when no input gives it: the simulation then answers as if the fact allowed the
/// connection and names it in the outcome's `depends_on`, and nothing is fixed on it.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    /// The effective `ssl`.
    pub ssl: Option<bool>,
    /// `ssl_ca_file` is set: the server asks for and verifies client certificates.
    pub ca: Option<bool>,
    /// `password_encryption = md5` (what a role without a usable password is "tried"
    /// with on an `md5` record).
    pub password_encryption_md5: Option<bool>,
}

impl ServerFacts {
    /// No setting known (no postgresql.conf, no Patroni parameters): nothing assumed.
    pub fn unknown() -> Self {
        ServerFacts::default()
    }

    /// A server known to run TLS with a client CA and SCRAM passwords (for tests and
    /// benchmarks whose samples use TLS).
    pub fn tls_with_ca() -> Self {
        ServerFacts {
            ssl: Some(true),
            ca: Some(true),
            password_encryption_md5: Some(false),
        }
    }
}

/// The stored password of a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordType {
    Scram,
    Md5,
    None,
}

impl PasswordType {
    pub fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "md5" => PasswordType::Md5,
            "none" | "" | "null" => PasswordType::None,
            _ => PasswordType::Scram,
        }
    }
}

/// Where a connection attempt was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Tls,
    Hba,
    Auth,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Tls => "tls",
            Stage::Hba => "hba",
            Stage::Auth => "auth",
        }
    }
}

/// The answer for one connection.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    pub verdict: Verdict,
    pub stage: Stage,
    /// Position of the matched record in the list given to [`Matcher::new`].
    pub rule: Option<usize>,
    /// The method the server asks for (`md5` records ask for SCRAM unless the role's
    /// password is an MD5 hash); None when no record matched or TLS failed.
    pub method: Option<&'a str>,
    pub reason: String,
    /// Facts the answer depends on that the context did not give.
    pub depends_on: Vec<&'static str>,
}

/// A compiled pg_hba.conf with the facts needed to decide connections.
#[derive(Debug, Clone)]
pub struct Matcher {
    rules: Vec<Rule>,
    index: Index,
    roles: Roles,
    password_types: HashMap<String, PasswordType>,
    server: ServerFacts,
    ident: IdentMaps,
    /// The server's own addresses and their subnets (`samehost`, `samenet`).
    server_nets: Vec<(Net, Net)>,
    /// Client address → lower-case host names that resolve to it.
    reverse: HashMap<(bool, u128), Vec<String>>,
    /// First TCP record using `samehost`/`samenet`, and host names (for `depends_on`).
    first_same: Option<usize>,
    first_hostname: Option<usize>,
    version: u32,
}

impl Matcher {
    pub fn new(
        rules: &[HbaRule],
        ident: &[IdentRule],
        ctx: &Context,
        server: ServerFacts,
    ) -> Matcher {
        let version = ctx.postgres_version.unwrap_or(NEWEST_VERSION);
        let rules: Vec<Rule> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| Rule::compile(i, r, version))
            .collect();
        let index = Index::new(&rules);
        let server_nets = ctx
            .server_addresses
            .iter()
            .filter_map(|a| {
                let (ip, prefix) = match a.split_once('/') {
                    Some((ip, p)) => (
                        ip.trim().parse::<IpAddr>().ok()?,
                        p.trim().parse::<u8>().ok()?,
                    ),
                    None => {
                        let ip = a.trim().parse::<IpAddr>().ok()?;
                        (ip, if ip.is_ipv4() { 32 } else { 128 })
                    }
                };
                let host = Net::new(
                    ip,
                    rule::prefix_mask(ip, if ip.is_ipv4() { 32 } else { 128 }),
                )?;
                let net = Net::new(ip, rule::prefix_mask(ip, prefix))?;
                Some((host, net))
            })
            .collect();
        let mut reverse: HashMap<(bool, u128), Vec<String>> = HashMap::default();
        for (name, addrs) in &ctx.resolve {
            for a in addrs {
                if let Ok(ip) = a.trim().parse::<IpAddr>() {
                    reverse
                        .entry(rule::bits(ip))
                        .or_default()
                        .push(name.to_ascii_lowercase());
                }
            }
        }
        let tcp = |r: &&Rule| r.classes & !LOCAL != 0;
        let first_same = rules
            .iter()
            .filter(tcp)
            .find(|r| matches!(r.address, Some(Address::SameHost | Address::SameNet)))
            .map(|r| r.index);
        let first_hostname = rules
            .iter()
            .filter(tcp)
            .find(|r| matches!(r.address, Some(Address::Host { .. })))
            .map(|r| r.index);
        Matcher {
            index,
            roles: Roles::new(ctx.roles.as_deref()),
            password_types: ctx
                .password_types
                .iter()
                .map(|(r, t)| (r.clone(), PasswordType::parse(t)))
                .collect(),
            server,
            ident: IdentMaps::new(ident, version),
            server_nets,
            reverse,
            first_same,
            first_hostname,
            version,
            rules,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    pub fn ident(&self) -> &IdentMaps {
        &self.ident
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    /// Working memory for [`Matcher::decide`]; reuse it across connections.
    pub fn scratch(&self) -> Scratch {
        Scratch::new(&self.index)
    }

    /// The stored password type of an existing role; None when the role does not exist.
    /// A role the context's `password_types` does not name is simulated as SCRAM, and
    /// the decision names `password_types` in `depends_on` (see [`Matcher::known_password_type`]).
    pub fn password_type(&self, role: &str) -> Option<PasswordType> {
        if !self.roles.exists(role) {
            return None;
        }
        Some(
            self.password_types
                .get(role)
                .copied()
                .unwrap_or(PasswordType::Scram),
        )
    }

    /// The stored password type the context gives for `role`; None when it says nothing
    /// (unknown: not SCRAM).
    pub fn known_password_type(&self, role: &str) -> Option<PasswordType> {
        self.password_types.get(role).copied()
    }

    /// The records no connection can reach, and the redundant ones (see [`shadow`]).
    /// `same_auth(a, b)`: whether records `a` and `b` authenticate alike.
    pub fn shadowed(&self, same_auth: impl Fn(usize, usize) -> bool) -> Vec<shadow::Unreachable> {
        shadow::analyze(&self.rules, &self.index, same_auth)
    }

    /// Decides one connection.
    pub fn decide(&self, c: &Connection, s: &mut Scratch) -> Outcome<'_> {
        let local = c.source == "local";
        let ip = if local {
            None
        } else {
            match parse_source(&c.source) {
                Some(ip) => Some(rule::bits(ip)),
                None => {
                    return deny(
                        Stage::Hba,
                        None,
                        None,
                        format!("`{}` is neither an IP address nor `local`", c.source),
                    );
                }
            }
        };
        // libpq never negotiates TLS over a Unix socket.
        let ssl = !local && c.ssl;
        if ssl && self.server.ssl == Some(false) {
            return deny(
                Stage::Tls,
                None,
                None,
                "TLS requested but the server has `ssl = off`: it refuses the SSL request".into(),
            );
        }
        let mut cert: Option<&ClientCertificate> = None;
        // Without ssl_ca_file the server never asks for a certificate.
        if ssl
            && let Some(cc) = &c.client_cert
            && self.server.ca != Some(false)
        {
            if !cc.trusted {
                return deny(Stage::Tls, None, None, "client certificate untrusted: the TLS handshake fails (certificate verify failed) before pg_hba.conf is consulted".into());
            }
            cert = Some(cc);
        }
        let user = truncate_name(&c.user);
        let db = if c.database.is_empty() {
            user
        } else {
            truncate_name(&c.database)
        };
        let physical = c.replication == ReplicationMode::Physical;
        let class = if local {
            LOCAL
        } else if ssl {
            SSL
        } else {
            PLAIN
        };

        self.index
            .db_for(s, db, user, physical, self.roles.is_member(user, db));
        self.index
            .user_for(s, user, |f| self.roles.for_each_membership(user, |g| f(g)));
        let mut names: &[String] = &[];
        match ip {
            None => self.index.addr_local(s),
            Some((v6, bits)) => {
                let samehost = self
                    .server_nets
                    .iter()
                    .any(|(h, _)| h.contains_ip(v6, bits));
                let samenet = self
                    .server_nets
                    .iter()
                    .any(|(_, n)| n.contains_ip(v6, bits));
                if let Some(n) = self.reverse.get(&(v6, bits)) {
                    names = n;
                }
                self.index.addr_for(s, v6, bits, samehost, samenet, names);
            }
        }
        let found = self.index.first(class, s, 0);
        let mut depends_on = Vec::new();
        if !local {
            let before = |first: Option<usize>| first.is_some_and(|f| found.is_none_or(|m| f < m));
            if self.server_nets.is_empty() && before(self.first_same) {
                depends_on.push("server_addresses");
            }
            if names.is_empty() && before(self.first_hostname) {
                depends_on.push("resolve");
            }
        }
        let Some(i) = found else {
            let mut o = deny(
                Stage::Hba,
                None,
                None,
                format!(
                    "no matching line: no pg_hba.conf entry for {}",
                    describe(c, user, db, ssl, physical)
                ),
            );
            o.depends_on = depends_on;
            return o;
        };
        let mut o = self.authenticate(&self.rules[i], c, user, db, cert);
        o.depends_on.extend(depends_on);
        // An unknown setting is not assumed: the answer names it.
        if ssl && self.server.ssl.is_none() {
            o.depends_on.push("ssl");
        }
        if ssl
            && self.server.ca.is_none()
            && (c.client_cert.is_some() || self.rules[i].clientcert != ClientCert::Off)
        {
            o.depends_on.push("ssl_ca_file");
        }
        o
    }

    /// What happens once record `r` matched (`ClientAuthentication`).
    fn authenticate<'a>(
        &'a self,
        r: &'a Rule,
        c: &Connection,
        user: &str,
        db: &str,
        cert: Option<&ClientCertificate>,
    ) -> Outcome<'a> {
        let line = r.line;
        let method_name: &str = match r.method {
            Method::Other => &r.method_name,
            m => m.name(),
        };
        if r.clientcert != ClientCert::Off {
            let why = if r.method == Method::Cert {
                "`cert`".to_string()
            } else {
                format!(
                    "`clientcert={}`",
                    if r.clientcert == ClientCert::VerifyFull {
                        "verify-full"
                    } else {
                        "verify-ca"
                    }
                )
            };
            if self.server.ca == Some(false) {
                return deny(
                    Stage::Auth,
                    Some(r.index),
                    Some(method_name),
                    format!(
                        "client certificate required by line {line} ({why}) but the server has no `ssl_ca_file`: client certificates can only be checked if a root certificate store is available"
                    ),
                );
            }
            if cert.is_none() {
                return deny(
                    Stage::Auth,
                    Some(r.index),
                    Some(method_name),
                    format!(
                        "client certificate required by line {line} ({why}): connection requires a valid client certificate"
                    ),
                );
            }
        }
        // `reject` is only looked at after the clientcert check (ClientAuthentication).
        if r.method == Method::Reject {
            let ssl = c.ssl && c.source != "local";
            let physical = c.replication == ReplicationMode::Physical;
            return deny(
                Stage::Hba,
                Some(r.index),
                Some(method_name),
                format!(
                    "rejected by line {line}: pg_hba.conf rejects connection for {}",
                    describe(c, user, db, ssl, physical)
                ),
            );
        }
        let exists = self.roles.exists(user);
        let mut depends_on = Vec::new();
        let mut method = method_name;
        let mut reason = match r.method {
            Method::Trust => format!("line {line} trusts the connection"),
            Method::Scram | Method::Md5 | Method::Password => {
                let pw = self.password_type(user);
                if exists && !self.password_types.contains_key(user) {
                    // How the role's password is stored decides md5 against SCRAM.
                    depends_on.push("password_types");
                }
                let asks_md5 = r.method == Method::Md5
                    && match pw {
                        Some(PasswordType::Md5) => true,
                        // No usable password: the server goes through the motions with
                        // password_encryption's type.
                        Some(PasswordType::None) | None => {
                            if self.server.password_encryption_md5.is_none() {
                                depends_on.push("password_encryption");
                            }
                            self.server.password_encryption_md5 == Some(true)
                        }
                        Some(PasswordType::Scram) => false,
                    };
                method = match r.method {
                    Method::Password => "password",
                    _ if asks_md5 => "md5",
                    _ => "scram-sha-256",
                };
                if !exists {
                    return deny(
                        Stage::Auth,
                        Some(r.index),
                        Some(method),
                        format!(
                            "line {line} asks for {method}, but role \"{user}\" does not exist: authentication always fails"
                        ),
                    );
                }
                if pw == Some(PasswordType::None) {
                    return deny(
                        Stage::Auth,
                        Some(r.index),
                        Some(method),
                        format!(
                            "line {line} asks for {method}, but role \"{user}\" has no password: authentication always fails"
                        ),
                    );
                }
                if method == "scram-sha-256" && pw == Some(PasswordType::Md5) {
                    return deny(
                        Stage::Auth,
                        Some(r.index),
                        Some(method),
                        format!(
                            "line {line} asks for scram-sha-256, but the password of role \"{user}\" is stored as an MD5 hash, which SCRAM cannot verify"
                        ),
                    );
                }
                format!("line {line} asks for {method}")
            }
            Method::Cert => format!("line {line} authenticates with the client certificate"),
            Method::Peer => {
                depends_on.push("os-user");
                format!(
                    "line {line} asks for peer: allowed when the client's OS user is \"{user}\"{}",
                    r.map.as_ref().map_or(String::new(), |m| format!(
                        " or maps to it in pg_ident map \"{m}\""
                    ))
                )
            }
            Method::Ident => {
                depends_on.push("ident-server");
                format!(
                    "line {line} asks for ident: allowed when the client host's ident server vouches for the user"
                )
            }
            _ => {
                depends_on.push("external-auth");
                format!("line {line} asks for {method_name}")
            }
        };
        if r.clientcert == ClientCert::VerifyFull
            && let Some(cc) = cert
        {
            let name = cc.cn.as_str();
            let what = if r.clientname_dn { "DN" } else { "CN" };
            if name.is_empty() {
                return deny(
                    Stage::Auth,
                    Some(r.index),
                    Some(method),
                    format!(
                        "certificate authentication failed: the client certificate has no {what} (line {line})"
                    ),
                );
            }
            match self.ident.check(r.map.as_deref(), user, name, &self.roles) {
                MapResult::Match => {}
                MapResult::NoMatch => {
                    let detail = match &r.map {
                        None => {
                            format!("certificate {what} \"{name}\" does not match user \"{user}\"")
                        }
                        Some(m) if !self.ident.has_map(m) => format!(
                            "certificate {what} \"{name}\" does not map to user \"{user}\": pg_ident.conf has no map \"{m}\""
                        ),
                        Some(m) => format!(
                            "certificate {what} \"{name}\" does not map to user \"{user}\" in pg_ident map \"{m}\""
                        ),
                    };
                    return deny(
                        Stage::Auth,
                        Some(r.index),
                        Some(method),
                        format!("{detail} (line {line})"),
                    );
                }
                MapResult::Error => {
                    return deny(
                        Stage::Auth,
                        Some(r.index),
                        Some(method),
                        format!(
                            "certificate {what} \"{name}\": pg_ident map \"{}\" asks for \\1 of a regular expression without a group (line {line})",
                            r.map.as_deref().unwrap_or("")
                        ),
                    );
                }
            }
            reason.push_str(&format!(
                "; certificate {what} \"{name}\" accepted for user \"{user}\""
            ));
        }
        if !exists {
            return deny(
                Stage::Auth,
                Some(r.index),
                Some(method),
                format!("{reason}, but role \"{user}\" does not exist"),
            );
        }
        Outcome {
            verdict: Verdict::Allow,
            stage: Stage::Auth,
            rule: Some(r.index),
            method: Some(method),
            reason,
            depends_on,
        }
    }
}

fn deny<'a>(
    stage: Stage,
    rule: Option<usize>,
    method: Option<&'a str>,
    reason: String,
) -> Outcome<'a> {
    Outcome {
        verdict: Verdict::Deny,
        stage,
        rule,
        method,
        reason,
        depends_on: Vec::new(),
    }
}

/// `host "…", user "…", database "…", SSL encryption`, as the server words it.
fn describe(c: &Connection, user: &str, db: &str, ssl: bool, physical: bool) -> String {
    let host = if c.source == "local" {
        "[local]"
    } else {
        c.source.as_str()
    };
    let enc = if ssl {
        "SSL encryption"
    } else {
        "no encryption"
    };
    if physical {
        format!("replication connection from host \"{host}\", user \"{user}\", {enc}")
    } else {
        format!("host \"{host}\", user \"{user}\", database \"{db}\", {enc}")
    }
}

/// An IP address, also in `[…]` or with a `%zone`.
fn parse_source(source: &str) -> Option<IpAddr> {
    let s = source.trim().trim_start_matches('[').trim_end_matches(']');
    let s = s.split('%').next().unwrap_or(s);
    s.parse().ok()
}

/// The server truncates user and database names to NAMEDATALEN - 1 (63) bytes.
fn truncate_name(name: &str) -> &str {
    if name.len() <= 63 {
        return name;
    }
    let mut end = 63;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

#[cfg(test)]
mod tests;
