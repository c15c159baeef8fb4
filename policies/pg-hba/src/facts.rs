//! The deployment facts a pg_hba fix depends on, and whether each fix may be offered.
//!
//! A fix must not assume a fact it cannot see: `host` → `hostssl` needs TLS known on,
//! `md5` → `scram-sha-256` needs every admitted role known to have a SCRAM secret and
//! SCRAM known as the server's `password_encryption`, `trust` → `peer` needs the line's
//! roles to be the OS users that connect. Every fact here is known (with the file:line or
//! default it comes from) or unknown; the decisions ([`hostssl`], [`scram`], [`peer`],
//! [`clientcert`]) are plain functions over them, so the facts can come from
//! postgresql.conf or from the host's deployment model (Patroni parameters, the DCS,
//! `PATRONI_*` variables) alike. A withheld fix comes with its reason and the manual
//! steps ([`Withheld`]).

use policy_guest::DocumentKind;
use policy_guest::Withheld;
use policy_guest::deployment::{self as model, Known as Known2};
use policy_guest::doc::Structured;
use policy_guest::hba::ServerFacts;
use policy_guest::hba::roles::Roles;
use policy_guest::hba::rule::{Rule, UserToken};
use policy_guest::ini::Ini;
use policy_guest::pgbouncer::connstr;
use policy_guest::pgconf::{Effective, parse_bool};
use policy_guest::serde_json::Value;
use policy_guest::{Context, Deployment, EffectiveSetting, FlowCall, Input, SettingOrigin};

/// A known fact and where it comes from (`postgresql.conf:12`, "PostgreSQL's default").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known<T> {
    pub value: T,
    pub source: String,
}

impl<T> Known<T> {
    pub fn new(value: T, source: impl Into<String>) -> Self {
        Known {
            value,
            source: source.into(),
        }
    }
}

/// How the server stores new passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    Md5,
    Scram,
}

/// A login over the Unix socket the deployment itself needs (PgBouncer's `auth_user`,
/// Patroni's replication user with `use_unix_socket_repl`, Patroni's superuser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketLogin {
    pub role: String,
    /// The OS user the client runs as; None: unknown.
    pub os_user: Option<String>,
    /// Who logs in, for messages (`PgBouncer's auth_user`).
    pub what: String,
    /// Where the login comes from (`pgbouncer.ini:7`).
    pub source: String,
}

/// What the fixes of one server's pg_hba.conf may rely on.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The effective `ssl`; None: unknown.
    pub ssl: Option<Known<bool>>,
    /// Whether `ssl_ca_file` is set (client certificates can be checked); None: unknown.
    pub ssl_ca: Option<Known<bool>>,
    /// The effective `password_encryption`; None: unknown.
    pub password_encryption: Option<Known<Encryption>>,
    /// The PostgreSQL major version, given or inferred; None: unknown.
    pub version: Option<Known<u32>>,
    /// The OS user the server runs as: peer accepts it as the role of the same name.
    pub os_user: Option<Known<String>>,
    /// The socket logins the deployment needs.
    pub socket_logins: Vec<SocketLogin>,
}

/// The OS account PostgreSQL's packages (Debian, PGDG RPMs, the official images) and
/// Patroni's documentation run the server as; `local … postgres peer` is what their
/// own default pg_hba.conf says.
pub const DEFAULT_OS_USER: &str = "postgres";

impl Facts {
    /// The facts the inputs give: the effective postgresql.conf (None: not among the
    /// inputs, so TLS and password settings are unknown) and the samples' context.
    pub fn from_inputs(conf: Option<&Effective<'_>>, ctx: &Context) -> Facts {
        let version = ctx
            .postgres_version
            .map(|v| Known::new(v, "the samples' context (`postgres_version`)"));
        let mut facts = Facts {
            version,
            os_user: Some(Known::new(
                DEFAULT_OS_USER.to_string(),
                "the OS user PostgreSQL's packages run the server as",
            )),
            ..Facts::default()
        };
        let Some(conf) = conf else {
            return facts;
        };
        let at = |s: &policy_guest::Setting| format!("{}:{}", s.location.file, s.location.line);
        // Only fragments among the inputs (`conf.d/*.conf`): what they leave unset is
        // unknown, not the default.
        facts.ssl = match conf.get("ssl") {
            Some(s) => Some(Known::new(parse_bool(&s.value).unwrap_or(false), at(s))),
            None => conf.complete.then(|| {
                Known::new(
                    false,
                    format!(
                        "PostgreSQL's default (`ssl` is not set in {})",
                        conf.main_path
                    ),
                )
            }),
        };
        facts.ssl_ca = match conf.get("ssl_ca_file") {
            Some(s) => Some(Known::new(!s.value.trim().is_empty(), at(s))),
            None => conf.complete.then(|| {
                Known::new(
                    false,
                    format!("`ssl_ca_file` is not set in {}", conf.main_path),
                )
            }),
        };
        facts.password_encryption = match conf.get("password_encryption") {
            Some(s) => {
                let v = s.value.trim().to_ascii_lowercase();
                let md5 = v == "md5" || parse_bool(&v) == Some(true);
                Some(Known::new(
                    if md5 {
                        Encryption::Md5
                    } else {
                        Encryption::Scram
                    },
                    at(s),
                ))
            }
            None if !conf.complete => None,
            None => facts.version.as_ref().map(|v| {
                Known::new(
                    if v.value < 14 {
                        Encryption::Md5
                    } else {
                        Encryption::Scram
                    },
                    format!("PostgreSQL {}'s default", v.value),
                )
            }),
        };
        facts
    }

    /// The facts with Patroni's parameters over them, as Patroni runs the server: its
    /// local `postgresql.parameters` over the dynamic configuration
    /// (`bootstrap.dcs.postgresql.parameters`) over postgresql.conf. An `ssl: 'off'` there
    /// counts exactly as in postgresql.conf.
    pub fn with_patroni(mut self, y: &Structured) -> Facts {
        let param = |name: &str| {
            [
                "/postgresql/parameters",
                "/bootstrap/dcs/postgresql/parameters",
            ]
            .iter()
            .find_map(|base| {
                let p = format!("{base}/{name}");
                let text = match y.get(&p)? {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => if *b { "on" } else { "off" }.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                let l = y.loc(&p);
                Some((
                    text,
                    format!("{}:{} (`{}`)", l.file, l.line, &p[1..].replace('/', ".")),
                ))
            })
        };
        if let Some((v, at)) = param("ssl") {
            self.ssl = Some(Known::new(parse_bool(&v).unwrap_or(false), at));
        }
        if let Some((v, at)) = param("ssl_ca_file") {
            self.ssl_ca = Some(Known::new(!v.trim().is_empty(), at));
        }
        if let Some((v, at)) = param("password_encryption") {
            let v = v.trim().to_ascii_lowercase();
            let md5 = v == "md5" || parse_bool(&v) == Some(true);
            self.password_encryption = Some(Known::new(
                if md5 {
                    Encryption::Md5
                } else {
                    Encryption::Scram
                },
                at,
            ));
        }
        self
    }

    /// The facts with the host's deployment model over them, for the server `file`
    /// configures: its effective settings (wherever they come from: Patroni's
    /// parameters, the DCS, `PATRONI_*` variables, postgresql.conf), the cluster's
    /// PostgreSQL version (given or inferred), and the socket logins its required flows
    /// make with the OS user they run as. What the model does not know leaves the facts
    /// from the files as they are.
    pub fn with_model(mut self, dep: &Deployment, file: &str) -> Facts {
        // The file name says postgresql.conf or postgresql.auto.conf already.
        let at = |s: &EffectiveSetting| match s.origin {
            SettingOrigin::PostgresqlConf | SettingOrigin::AutoConf => {
                format!("{}:{}", s.source.file, s.source.line)
            }
            o => format!("{}:{} ({})", s.source.file, s.source.line, origin(o)),
        };
        if let Known2::Value(s) = model::setting(dep, file, "ssl") {
            self.ssl = Some(Known::new(parse_bool(&s.value).unwrap_or(false), at(s)));
        }
        if let Known2::Value(s) = model::setting(dep, file, "ssl_ca_file") {
            self.ssl_ca = Some(Known::new(!s.value.trim().is_empty(), at(s)));
        }
        if let Some(c) = model::cluster_of(dep, file)
            && let Some(v) = &c.postgres_version
        {
            let how = if v.inferred {
                format!("inferred from {}", v.reason)
            } else {
                v.reason.clone()
            };
            self.version = Some(Known::new(v.major, how));
        }
        if let Known2::Value(s) = model::setting(dep, file, "password_encryption") {
            let v = s.value.trim().to_ascii_lowercase();
            let md5 = v == "md5" || parse_bool(&v) == Some(true);
            self.password_encryption = Some(Known::new(
                if md5 {
                    Encryption::Md5
                } else {
                    Encryption::Scram
                },
                at(s),
            ));
        }
        // Socket logins the deployment needs, with the OS user the model knows.
        if let Some(c) = model::cluster_of(dep, file) {
            for f in dep.flows.iter().filter(|f| f.cluster == c.name) {
                if let FlowCall::Connection(conn) = &f.call
                    && conn.source == "local"
                {
                    self.socket_logins.push(SocketLogin {
                        role: conn.user.clone(),
                        os_user: f.os_user.clone(),
                        what: f.description.clone(),
                        source: format!("{}:{}", f.source.file, f.source.line),
                    });
                }
            }
        }
        self
    }

    /// The facts the connection matcher needs (unknown stays unknown).
    pub fn server(&self) -> ServerFacts {
        ServerFacts {
            ssl: self.ssl.as_ref().map(|k| k.value),
            ca: self.ssl_ca.as_ref().map(|k| k.value),
            password_encryption_md5: self
                .password_encryption
                .as_ref()
                .map(|k| k.value == Encryption::Md5),
        }
    }
}

/// Where an effective setting comes from, in words.
fn origin(o: SettingOrigin) -> &'static str {
    match o {
        SettingOrigin::Environment => "`PATRONI_*` environment",
        SettingOrigin::PatroniLocal => "Patroni's `postgresql.parameters`",
        SettingOrigin::PatroniDcsBootstrap => "`bootstrap.dcs.postgresql.parameters`",
        SettingOrigin::PostgresqlConf => "postgresql.conf",
        SettingOrigin::AutoConf => "postgresql.auto.conf",
        SettingOrigin::Default => "PostgreSQL's default",
    }
}

/// The socket logins PgBouncer makes (its `auth_user`, and the `user=` of `[databases]`
/// entries without a TCP `host`), from the OS user PgBouncer runs as — which no input
/// gives (Debian runs it as `postgres`, others as `pgbouncer`): unknown.
pub fn pgbouncer_logins(input: &Input) -> Vec<SocketLogin> {
    let mut out = Vec::new();
    for ini in input
        .documents
        .iter()
        .filter(|d| d.kind == DocumentKind::Pgbouncer)
        .filter_map(Ini::new)
    {
        let at = |s: &policy_guest::Setting| format!("{}:{}", s.location.file, s.location.line);
        if let Some(s) = ini.get("pgbouncer", "auth_user") {
            out.push(SocketLogin {
                role: s.value.trim().to_string(),
                os_user: None,
                what: "PgBouncer's `auth_user`".into(),
                source: at(s),
            });
        }
        for s in ini.section("databases") {
            let kv = connstr(&s.value);
            let host = kv
                .iter()
                .find(|(k, _)| k == "host")
                .map(|(_, v)| v.as_str());
            if host.is_some_and(|h| !h.starts_with('/')) {
                continue;
            }
            if let Some((_, user)) = kv.iter().find(|(k, _)| k == "user") {
                out.push(SocketLogin {
                    role: user.clone(),
                    os_user: None,
                    what: format!("PgBouncer's `[databases]` entry `{}`", s.name),
                    source: at(s),
                });
            }
        }
    }
    out
}

/// `host` → `hostssl`: only on a server known to speak TLS.
pub fn hostssl(f: &Facts) -> Result<(), Withheld> {
    let steps = [
        "turn `ssl` on in the server's settings with `ssl_cert_file` and `ssl_key_file` naming its certificate and key",
        "reload PostgreSQL and check that clients connect with TLS (`sslmode=require` or stricter)",
        "then change `host` to `hostssl` on this line",
    ];
    match &f.ssl {
        Some(k) if k.value => Ok(()),
        Some(k) => Err(Withheld::new(
            format!(
                "`ssl` is off ({}), and a `hostssl` line matches no connection until the server speaks TLS",
                k.source
            ),
            &steps,
        )),
        None => Err(Withheld::new(
            "no input says whether the server runs with `ssl` on (no postgresql.conf, or only fragments of it that do not set `ssl`; no `ssl` in Patroni's `postgresql.parameters`), and a `hostssl` line on a server without TLS matches no connection",
            &steps,
        )),
    }
}

/// `clientcert=verify-full` on a TLS line: the server refuses a pg_hba.conf asking for
/// client certificates without a root certificate store (`ssl_ca_file`).
pub fn clientcert(f: &Facts) -> Result<(), Withheld> {
    let steps = [
        "set `ssl_ca_file` to the CA that signs the clients' certificates and reload",
        "give every client of this line a certificate whose CN is its user name (or map it with `map=`)",
        "then add `clientcert=verify-full` to this line",
    ];
    match &f.ssl_ca {
        Some(k) if k.value => Ok(()),
        Some(k) => Err(Withheld::new(
            format!(
                "the server has no client CA ({}): PostgreSQL refuses a pg_hba.conf that asks for client certificates without one",
                k.source
            ),
            &steps,
        )),
        None => Err(Withheld::new(
            "no input says whether the server has a client CA (`ssl_ca_file`); without one PostgreSQL refuses a pg_hba.conf that asks for client certificates",
            &steps,
        )),
    }
}

/// The roles a record's user column admits; Err says why they are unknown.
pub fn admitted_roles(rule: &Rule, roles: &Roles) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    let listed = roles.names();
    for u in &rule.users {
        match u {
            UserToken::Name(n) => out.push(n.clone()),
            UserToken::All => match listed {
                Some(names) => out.extend(names.iter().cloned()),
                None => {
                    return Err(
                        "the line admits every role, and the context lists no roles (`roles`)"
                            .into(),
                    );
                }
            },
            UserToken::Group(g) => match roles.members_of(g) {
                Some(m) => out.extend(m.into_iter().map(str::to_string)),
                None => {
                    return Err(format!(
                        "the line admits the members of `{g}`, and the context lists no roles (`roles`)"
                    ));
                }
            },
            UserToken::Regex(p) => match listed {
                Some(names) => out.extend(names.iter().filter(|n| p.is_match(n)).cloned()),
                None => {
                    return Err(format!(
                        "the line admits the roles matching `/{}`, and the context lists no roles (`roles`)",
                        p.text
                    ));
                }
            },
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `md5`/`password` → `scram-sha-256`: never below PostgreSQL 10, never while the server
/// stores new passwords as MD5 (or may: then `password_encryption` changes in the same
/// run, or later passwords lock their roles out), and only when every admitted role is
/// known to have a SCRAM secret. A role with no password cannot log in with `md5` or
/// `password` either (`passwordless_ok`), but it can with `trust` or `ident`.
pub fn scram(
    f: &Facts,
    admitted: Result<Vec<String>, String>,
    ctx: &Context,
    passwordless_ok: bool,
) -> Result<(), Withheld> {
    let rehash = [
        "set `password_encryption = scram-sha-256` and reload",
        "set the password of every role of this line again (`\\password <role>` in psql, or `ALTER ROLE … PASSWORD`) so that it is stored as SCRAM; `SELECT rolname FROM pg_authid WHERE rolpassword LIKE 'md5%'` must return none of them",
        "then change the method of this line to `scram-sha-256` and reload",
    ];
    if let Some(v) = &f.version
        && v.value < 10
    {
        return Err(Withheld::new(
            format!(
                "PostgreSQL {} ({}) has no `scram-sha-256` method: the server would refuse the whole file",
                v.value, v.source
            ),
            &[
                "upgrade PostgreSQL to version 10 or later",
                "then follow the steps for `md5` → `scram-sha-256` (passwords set again with `password_encryption = scram-sha-256`)",
            ],
        ));
    }
    match &f.password_encryption {
        Some(k) if k.value == Encryption::Scram => {}
        Some(k) => {
            return Err(Withheld::new(
                format!(
                    "the server stores new passwords as MD5 (`password_encryption`, {}): changing `password_encryption` and switching this line in the same run locks out every role whose password is still an MD5 hash",
                    k.source
                ),
                &rehash,
            ));
        }
        None => {
            return Err(Withheld::new(
                "no input gives the server's `password_encryption` (or the PostgreSQL version whose default it is): passwords set later may be stored as MD5, which `scram-sha-256` cannot verify",
                &rehash,
            ));
        }
    }
    let roles = admitted.map_err(|why| {
        Withheld::new(
            format!("{why}: whether each has a SCRAM secret is unknown"),
            &rehash,
        )
    })?;
    let stored = |role: &str| {
        ctx.password_types
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, t)| t.trim().to_ascii_lowercase())
    };
    let mut md5 = Vec::new();
    let mut unknown = Vec::new();
    let mut none = Vec::new();
    for role in &roles {
        match stored(role).as_deref() {
            Some("scram-sha-256") => {}
            Some("none" | "") => {
                if !passwordless_ok {
                    none.push(format!("`{role}`"));
                }
            }
            Some("md5") => md5.push(format!("`{role}`")),
            _ => unknown.push(format!("`{role}`")),
        }
    }
    if !none.is_empty() {
        return Err(Withheld::new(
            format!(
                "role(s) {} have no password, so `scram-sha-256` would lock them out",
                none.join(", ")
            ),
            &[
                "give each role of this line a password (`\\password <role>` with `password_encryption = scram-sha-256`) and hand it to its clients (`.pgpass`, Patroni's `authentication`)",
                "then change the method of this line to `scram-sha-256` and reload",
            ],
        ));
    }
    if !md5.is_empty() {
        return Err(Withheld::new(
            format!(
                "role(s) {} still have MD5 passwords, which `scram-sha-256` cannot verify",
                md5.join(", ")
            ),
            &rehash,
        ));
    }
    if !unknown.is_empty() {
        return Err(Withheld::new(
            format!(
                "how the password of role(s) {} is stored is unknown (the context's `password_types` does not say), and an MD5 hash cannot be verified by `scram-sha-256`",
                unknown.join(", ")
            ),
            &rehash,
        ));
    }
    Ok(())
}

/// `trust` → `peer` on a `local` line: peer accepts a login only when the client's OS
/// user is the role, so the line must name only the OS user the server runs as, and no
/// login the deployment needs may come from another OS user.
pub fn peer(f: &Facts, rule: &Rule) -> Result<(), Withheld> {
    let steps = [
        "find which OS users connect over the socket as the roles of this line (PgBouncer's `auth_user`, Patroni's replication user with `use_unix_socket_repl`, cron jobs)",
        "map each OS user to its role in pg_ident.conf (`<map> <os user> <role>`) and reload",
        "then change `trust` to `peer map=<map>` (or `scram-sha-256`) on this line",
    ];
    let Some(os) = &f.os_user else {
        return Err(Withheld::new(
            "the OS user the server runs as is unknown, so which logins `peer` accepts is unknown",
            &steps,
        ));
    };
    let only_os_user = !rule.users.is_empty()
        && rule
            .users
            .iter()
            .all(|u| matches!(u, UserToken::Name(n) if *n == os.value));
    if !only_os_user {
        return Err(Withheld::new(
            format!(
                "`peer` admits a role only for the OS user of the same name, and this line admits roles other than the OS user `{}` ({}): their socket logins (PgBouncer's `auth_user`, Patroni's replication over the socket) would fail",
                os.value, os.source
            ),
            &steps,
        ));
    }
    if let Some(l) = f
        .socket_logins
        .iter()
        .find(|l| l.role == os.value && l.os_user.as_deref() != Some(os.value.as_str()))
    {
        return Err(Withheld::new(
            format!(
                "{} ({}) logs in over the socket as `{}` from OS user {}: `peer` would refuse it",
                l.what,
                l.source,
                l.role,
                l.os_user
                    .as_deref()
                    .map_or("unknown".to_string(), |u| format!("`{u}`"))
            ),
            &steps,
        ));
    }
    Ok(())
}
