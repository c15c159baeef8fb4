//! The checks of one pg_hba record, and the parse problems of the files.
//!
//! [`check_rule`] looks at one record and returns what is wrong with it plus the change
//! to its columns that fixes it ([`LineFix`]); rendering that change in the file's text
//! and attaching it to the findings is [`crate::fixes`]' job, because fixes of one line
//! are combined into one patch and the unreachable-line analysis runs on the fixed file.

use policy_guest::hba::ServerFacts;
use policy_guest::hba::roles::Roles;
use policy_guest::hba::rule::{Address, ClientCert, DbToken, Method, Net, PLAIN, Rule, UserToken};
use policy_guest::net::{IpNet, Reach, by_reach, reach};
use policy_guest::pgconf::Effective;
use policy_guest::report::at;
use policy_guest::{Context, Document, HbaRule, IdentRule, Report, Severity, Withheld};

use crate::Settings;
use crate::facts::{self, Facts};

/// Everything the checks of one pg_hba.conf need.
pub struct Env<'a> {
    pub doc: &'a Document,
    pub rules: &'a [HbaRule],
    pub settings: &'a Settings,
    pub ctx: &'a Context,
    pub conf: Option<&'a Effective<'a>>,
    pub server: &'a ServerFacts,
    pub ident: &'a [IdentRule],
    /// Whether a pg_ident.conf is among the inputs (a missing map can only be told then).
    pub ident_given: bool,
    pub version: u32,
    /// Whether the server refuses the file (invalid lines).
    pub refused: bool,
    /// The file's records that name a superuser (settings `superusers`), compiled: an
    /// earlier one of them may take a superuser's connections before an `all` line does.
    pub superuser_lines: &'a [Rule],
    /// The deployment facts the fixes depend on (TLS, password storage, version, OS
    /// user); a fix that needs an unknown one is withheld.
    pub facts: &'a Facts,
}

/// A finding about a record before its patch is known.
#[derive(Debug, Clone)]
pub struct Pending {
    pub code: &'static str,
    pub message: String,
    pub severity: Option<Severity>,
    /// Whether the record's [`LineFix`] fixes it.
    pub fixable: bool,
    /// Why a fix is not offered, and the manual steps.
    pub withheld: Option<Withheld>,
}

/// A change to a record's columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineFix {
    pub connection_type: Option<&'static str>,
    pub method: Option<&'static str>,
    pub remove_options: Vec<&'static str>,
    /// Set (replace or append) `name=value`.
    pub set_options: Vec<(&'static str, &'static str)>,
    /// Replace the address with these networks, one line each.
    pub addresses: Option<Vec<IpNet>>,
}

impl LineFix {
    pub fn is_empty(&self) -> bool {
        *self == LineFix::default()
    }
}

/// How a pg_hba document is named in messages.
fn shown(doc: &Document) -> String {
    if doc.kind == policy_guest::DocumentKind::PatroniPgHba {
        format!(
            "the pg_hba.conf Patroni writes from a `pg_hba` list of {}",
            doc.path
        )
    } else {
        doc.path.clone()
    }
}

/// Reports the pg_hba.conf parse problems; returns whether the server refuses the file.
/// Which lines are invalid depends on the major (`version`), which the messages name.
pub fn hba_diagnostics(doc: &Document, version: u32, report: &mut Report) -> bool {
    // The first bad line: of the file itself, else of a file it includes (the host
    // reports a bad included line where it stands).
    let mut first_bad: Option<policy_guest::Location> = None;
    let mut bad = 0;
    let mut empty = false;
    let text: Vec<&str> = doc.text.lines().collect();
    // Lines with a template placeholder (`@authmethodhost@` of PostgreSQL's own
    // pg_hba.conf.sample, `{{ var }}`): the file is rendered before a server reads it.
    let mut template: Option<(u32, String, usize)> = None;
    for d in &doc.diagnostics {
        let own = d.location.file == doc.path;
        let placeholder = (own && d.location.line > 0)
            .then(|| text.get(d.location.line as usize - 1))
            .flatten()
            .and_then(|l| policy_guest::template::placeholder(l));
        if let (Some(p), "invalid-line") = (placeholder, d.code.as_str()) {
            let t = template.get_or_insert((d.location.line, p.to_string(), 0));
            t.2 += 1;
            continue;
        }
        match d.code.as_str() {
            "no-entries" => empty = true,
            // The host's one note for a template's placeholder lines.
            "template-placeholders" => {
                report.finding(
                    "template-placeholders",
                    d.location.clone(),
                    d.message.clone(),
                );
                empty = false;
                continue;
            }
            _ => {
                report.finding("invalid-line", d.location.clone(), d.message.clone());
                bad += 1;
                let key = |l: &policy_guest::Location| (l.file != doc.path, l.line);
                if first_bad.as_ref().is_none_or(|f| key(&d.location) < key(f)) {
                    first_bad = Some(d.location.clone());
                }
            }
        }
    }
    if let Some((line, p, n)) = &template {
        report.finding(
            "template-placeholders",
            at(&doc.path, *line),
            format!(
                "{} is a template: {n} line(s) hold placeholders such as `{p}` that a tool (initdb, Ansible, …) fills in before PostgreSQL reads the file; those lines are not checked — check the rendered file",
                shown(doc)
            ),
        );
        // A template with no other record renders into the real file: not refused here.
        empty = false;
    }
    if bad > 0 {
        let location = first_bad.unwrap_or_else(|| at(&doc.path, 0));
        report.finding(
            "file-refused",
            location,
            format!("{bad} invalid line(s) in {} on PostgreSQL {version}: the server refuses the whole file (a reload keeps the previous rules, a start fails)", shown(doc)),
        );
    } else if empty {
        report.finding(
            "file-refused",
            at(&doc.path, 0),
            format!("{} has no entries: PostgreSQL refuses it (a reload keeps the previous rules, a start fails)", shown(doc)),
        );
    }
    bad > 0 || empty
}

/// Reports the pg_ident.conf parse problems.
pub fn ident_diagnostics(doc: &Document, report: &mut Report) {
    let bad: Vec<_> = doc
        .diagnostics
        .iter()
        .filter(|d| d.location.line > 0)
        .collect();
    for d in &bad {
        report.finding("ident-invalid-line", d.location.clone(), d.message.clone());
    }
    if let Some(first) = bad.iter().map(|d| d.location.line).min() {
        report.finding(
            "ident-file-refused",
            at(&doc.path, first),
            format!("{} invalid line(s) in {}: PostgreSQL refuses the whole file and keeps its previous maps", bad.len(), doc.path),
        );
    }
}

/// Whether the record only admits the machine itself (loopback networks, `samehost`).
pub fn loopback_only(address: &Option<Address>) -> bool {
    match address {
        Some(Address::SameHost) => true,
        Some(Address::Net(n)) => {
            let lo4 = Net {
                v6: false,
                addr: 0x7f00_0000,
                mask: 0xff00_0000,
            };
            let lo6 = Net {
                v6: true,
                addr: 1,
                mask: u128::MAX,
            };
            let mapped = Net {
                v6: true,
                addr: 0xffff_7f00_0000,
                mask: !0xff_ffff,
            };
            lo4.contains(n) || lo6.contains(n) || mapped.contains(n)
        }
        _ => false,
    }
}

fn to_ipnet(n: &Net) -> Option<IpNet> {
    let prefix = n.prefix()? as u8;
    let ip: std::net::IpAddr = if n.v6 {
        std::net::Ipv6Addr::from(n.addr).into()
    } else {
        std::net::Ipv4Addr::from(n.addr as u32).into()
    };
    IpNet::new(ip, prefix).ok()
}

/// Who a TCP line's address admits (docs/severity.md): loopback and `samehost` the host,
/// private ranges the cluster's networks; `all`, public networks, host names and
/// `samenet` (whose subnets the file does not say) anyone.
fn address_reach(address: &Option<Address>) -> Reach {
    match address {
        Some(Address::SameHost) | None => Reach::Host,
        Some(Address::Net(n)) => to_ipnet(n).map_or(Reach::Anyone, |n| reach(&n)),
        _ => Reach::Anyone,
    }
}

/// The organisation's networks.
pub fn org_nets(settings: &Settings) -> Vec<IpNet> {
    settings
        .org_cidrs
        .iter()
        .filter_map(|c| policy_guest::net::parse_net(c))
        .map(|n| n.trunc())
        .collect()
}

/// Checks one record; `compiled` is its matcher form.
pub fn check_rule(
    env: &Env<'_>,
    r: &HbaRule,
    compiled: &Rule,
    roles: &Roles,
) -> (Vec<Pending>, LineFix) {
    let mut out = Vec::new();
    let mut fix = LineFix::default();
    let s = env.settings;
    let tcp = r.connection_type != "local";
    let reject = compiled.method == Method::Reject;
    let local_only = !tcp || loopback_only(&compiled.address);
    let mut withheld: Vec<(usize, Withheld)> = Vec::new();
    let mut push = |code, message: String, severity, fixable| {
        out.push(Pending {
            code,
            message,
            severity,
            fixable,
            withheld: None,
        });
        out.len() - 1
    };

    // What the line's TLS type will be after the fix decides which TLS checks apply.
    let plain = tcp && compiled.classes & PLAIN != 0;
    if s.require_tls && plain && !reject && !local_only {
        let message = format!(
            "`{}` accepts TCP connections without TLS from {}: passwords and data cross the network in clear",
            r.connection_type,
            describe_address(&compiled.address)
        );
        // `hostssl` on a server without TLS matches nothing: the fix would lock every
        // client of this line out. TLS on the server comes first.
        match facts::hostssl(env.facts) {
            Ok(()) => {
                fix.connection_type = Some("hostssl");
                push("plain-tcp-allowed", message, None, true);
            }
            Err(w) => withheld.push((push("plain-tcp-allowed", message, None, false), w)),
        }
    }
    let will_be_ssl = r.connection_type == "hostssl" || fix.connection_type == Some("hostssl");

    // A method fix to `scram-sha-256` only when no role of the line is locked out.
    let to_scram = |passwordless_ok: bool| {
        facts::scram(
            env.facts,
            facts::admitted_roles(compiled, roles),
            env.ctx,
            passwordless_ok,
        )
    };
    match compiled.method {
        Method::Trust if tcp && compiled.clientcert != ClientCert::VerifyFull => {
            // Loopback only: the same exposure as `trust` on a `local` line (every user and
            // process of the machine), not the network's.
            // On private networks the reach is the cluster's networks, not anyone's
            // (docs/severity.md: critical for anyone, high for private ranges).
            let (sev, who) = if local_only {
                (
                    Some(Severity::Medium),
                    "every user and process of the machine (loopback only)".to_string(),
                )
            } else {
                let reach = address_reach(&compiled.address);
                let sev = by_reach(reach, Severity::Critical);
                (
                    (sev != Severity::Critical).then_some(sev),
                    format!("anyone who reaches {}", describe_address(&compiled.address)),
                )
            };
            let message = format!(
                "`trust` on a `{}` line: {who} can connect as any of its users without a password",
                r.connection_type,
            );
            match to_scram(false) {
                Ok(()) => {
                    fix.method = Some("scram-sha-256");
                    push("trust-over-tcp", message, sev, true);
                }
                Err(w) => withheld.push((push("trust-over-tcp", message, sev, false), w)),
            }
        }
        Method::Trust if !tcp => {
            let message = "`trust` on a `local` line: every OS user of the machine can connect as any of its roles, superusers included".to_string();
            match facts::peer(env.facts, compiled) {
                Ok(()) => {
                    fix.method = Some("peer");
                    push("trust-local", message, None, true);
                }
                Err(w) => withheld.push((push("trust-local", message, None, false), w)),
            }
        }
        Method::Password => {
            let message =
                "`password` asks the client to send its password in clear text".to_string();
            match to_scram(true) {
                Ok(()) => {
                    fix.method = Some("scram-sha-256");
                    push("password-cleartext", message, None, true);
                }
                Err(w) => withheld.push((push("password-cleartext", message, None, false), w)),
            }
        }
        Method::Md5 if env.version >= 10 => {
            let scram_conf = scram_required(env);
            let code = if scram_conf.is_some() || s.require_scram {
                "scram-required-weak-method"
            } else {
                "md5-auth"
            };
            let mut message = match &scram_conf {
                Some(where_) => format!("`md5` on this line while {where_} stores passwords as SCRAM"),
                None => "`md5` where `scram-sha-256` is possible: MD5 password hashes are weak and replayable within a server".to_string(),
            };
            if env.version >= 18 {
                message.push_str(&format!(
                    " (on PostgreSQL {}, MD5 passwords are deprecated: setting one warns, and a later release removes them)",
                    env.version
                ));
            }
            match to_scram(true) {
                Ok(()) => {
                    fix.method = Some("scram-sha-256");
                    push(code, message, None, true);
                }
                Err(w) => withheld.push((push(code, message, None, false), w)),
            }
        }
        Method::Ident if tcp => {
            let message =
                "`ident` over TCP believes whatever the client machine's ident server says"
                    .to_string();
            match to_scram(false) {
                Ok(()) => {
                    fix.method = Some("scram-sha-256");
                    fix.remove_options.push("map");
                    push("ident-over-tcp", message, None, true);
                }
                Err(w) => withheld.push((push("ident-over-tcp", message, None, false), w)),
            }
        }
        _ => {}
    }

    if tcp && !reject {
        let orgs = org_nets(s);
        match &compiled.address {
            Some(Address::Any) => broad(&mut push, &mut fix, &orgs, None, "`all`", None),
            Some(Address::Net(n)) if n.mask == 0 => broad(
                &mut push,
                &mut fix,
                &orgs,
                Some(n.v6),
                if n.v6 { "`::/0`" } else { "`0.0.0.0/0`" },
                host_under_zero_mask(r),
            ),
            Some(Address::Net(n)) if !orgs.is_empty() && !local_only => {
                if let Some(net) = to_ipnet(n) {
                    if !orgs.iter().any(|o| o.contains(&net)) {
                        let inside: Vec<IpNet> =
                            orgs.iter().filter(|o| net.contains(*o)).copied().collect();
                        let fixable = !inside.is_empty();
                        if fixable {
                            fix.addresses = Some(inside);
                        }
                        push(
                            "broad-address",
                            format!(
                                "`{net}` is wider than the organisation's networks ({})",
                                s.org_cidrs.join(", ")
                            ),
                            Some(Severity::Medium),
                            fixable,
                        );
                    }
                } else if !orgs.is_empty() {
                    push(
                        "broad-address",
                        "a non-contiguous network mask outside the organisation's networks".into(),
                        Some(Severity::Medium),
                        false,
                    );
                }
            }
            _ => {}
        }
        if !local_only {
            let named: Vec<&str> = compiled
                .users
                .iter()
                .filter_map(|u| match u {
                    UserToken::Name(n) | UserToken::Group(n)
                        if s.superusers.iter().any(|su| su == n) =>
                    {
                        Some(n.as_str())
                    }
                    _ => None,
                })
                .collect();
            if !named.is_empty() {
                push(
                    "superuser-remote",
                    format!(
                        "superuser {} can log in from {}",
                        named.join(", "),
                        describe_address(&compiled.address)
                    ),
                    None,
                    false,
                );
            } else if let Some(via) = superusers_through(env, compiled, roles) {
                push(
                    "superuser-remote",
                    format!(
                        "superuser {via} can log in from {}: the user column `{}` includes it and no earlier line takes its connections",
                        describe_address(&compiled.address),
                        users_text(compiled)
                    ),
                    None,
                    false,
                );
            }
            let replication = compiled
                .databases
                .iter()
                .any(|d| matches!(d, DbToken::Replication));
            let wide = matches!(compiled.address, Some(Address::Any | Address::SameNet))
                || matches!(&compiled.address, Some(Address::Net(n)) if n.prefix().is_some_and(|p| p < if n.v6 { 64 } else { 24 }) || n.prefix().is_none());
            if replication && (wide || compiled.users.iter().any(|u| matches!(u, UserToken::All))) {
                push(
                    "replication-remote",
                    format!(
                        "replication connections accepted for {} from {}",
                        users_text(compiled),
                        describe_address(&compiled.address)
                    ),
                    None,
                    false,
                );
            }
        }
    }

    if s.require_clientcert_verify_full
        && !reject
        && tcp
        && compiled.clientcert != ClientCert::VerifyFull
    {
        let message = "the client certificate's name is not checked (`clientcert=verify-full` or `cert` needed)".to_string();
        if will_be_ssl {
            match facts::clientcert(env.facts) {
                Ok(()) => {
                    fix.set_options.push(("clientcert", "verify-full"));
                    push("clientcert-not-verify-full", message, None, true);
                }
                Err(w) => {
                    withheld.push((push("clientcert-not-verify-full", message, None, false), w))
                }
            }
        } else {
            push(
                "clientcert-not-verify-full",
                "a non-TLS line cannot check client certificates".into(),
                None,
                false,
            );
        }
    }

    if let Some(map) = &compiled.map
        && env.ident_given
        && !env.ident.iter().any(|l| &l.map_name == map)
        && !fix.remove_options.contains(&"map")
    {
        push(
            "ident-map-missing",
            format!(
                "`map={map}`: pg_ident.conf has no map `{map}`, so every login on this line fails"
            ),
            None,
            false,
        );
    }

    // Reasoned from the effective `ssl`, wherever it was set (postgresql.conf, Patroni's
    // parameters, the DCS, the environment).
    if r.connection_type == "hostssl"
        && let Some(k) = &env.facts.ssl
        && !k.value
    {
        push(
            "hostssl-without-ssl",
            format!(
                "this `hostssl` line can never match: the server runs with `ssl` off ({})",
                k.source
            ),
            None,
            false,
        );
    }
    for (i, w) in withheld {
        out[i].withheld = Some(w);
    }
    (out, fix)
}

/// The superusers (settings `superusers`) a line that does not name them still admits:
/// through `all`, or a `+group` they are members of (per the context's roles) — unless an
/// earlier line naming the superuser takes every such connection first (`host all
/// postgres 0.0.0.0/0 reject` before `host all all 0.0.0.0/0 md5`). None when none is.
fn superusers_through(env: &Env<'_>, line: &Rule, roles: &Roles) -> Option<String> {
    let reached: Vec<String> = env
        .settings
        .superusers
        .iter()
        .filter(|su| {
            line.users.iter().any(|u| match u {
                UserToken::All => true,
                UserToken::Group(g) => roles.is_member(su, g),
                UserToken::Regex(p) => p.is_match(su),
                UserToken::Name(_) => false,
            })
        })
        .filter(|su| {
            !env.superuser_lines
                .iter()
                .filter(|e| e.index < line.index)
                .any(|e| takes_user_connections(e, line, su))
        })
        .map(|su| format!("`{su}`"))
        .collect();
    (!reached.is_empty()).then(|| reached.join(", "))
}

/// Whether the earlier line `e` takes every connection of user `su` that `line` would
/// take: it names `su` (or `all`), and covers the line's classes, databases and address.
/// Conservative: several earlier lines that only together cover it are not seen, so the
/// superuser is reported reachable then.
fn takes_user_connections(e: &Rule, line: &Rule, su: &str) -> bool {
    let user = e.users.iter().any(|u| match u {
        UserToken::All => true,
        UserToken::Name(n) => n == su,
        _ => false,
    });
    let classes = line.classes & !e.classes == 0;
    let databases = line.databases.iter().all(|d| {
        e.databases.iter().any(|x| match (x, d) {
            (DbToken::Replication, DbToken::Replication) => true,
            (DbToken::All, DbToken::Replication) => false,
            (DbToken::All, _) => true,
            (DbToken::Name(a), DbToken::Name(b)) => a == b,
            _ => false,
        })
    });
    let address = match (&e.address, &line.address) {
        (Some(Address::Any), Some(_)) => true,
        (Some(Address::Net(a)), Some(Address::Net(b))) => a.contains(b),
        _ => false,
    };
    user && classes && databases && address
}

fn broad(
    push: &mut impl FnMut(&'static str, String, Option<Severity>, bool) -> usize,
    fix: &mut LineFix,
    orgs: &[IpNet],
    v6: Option<bool>,
    what: &str,
    host_address: Option<(String, String)>,
) {
    let wanted: Vec<IpNet> = orgs
        .iter()
        .filter(|o| v6.is_none_or(|v6| matches!(o, IpNet::V6(_)) == v6))
        .copied()
        .collect();
    let fixable = !wanted.is_empty();
    if fixable {
        fix.addresses = Some(wanted);
    }
    match host_address {
        // `192.0.2.11/0` reads as one host but the mask keeps no bit of it: PostgreSQL
        // masks the address and the line admits every client. Said as its own mistake,
        // since the writer meant the host (`/32`, `/128`), not the whole network.
        Some((written, meant)) => push(
            "zero-mask-address",
            format!(
                "address `{written}` has a zero-length mask: PostgreSQL ignores the address and the line accepts clients from anywhere ({what}); probably meant as the single host `{meant}`"
            ),
            None,
            fixable,
        ),
        None => push(
            "broad-address",
            format!("address {what} accepts clients from anywhere"),
            None,
            fixable,
        ),
    };
}

/// The address as written when it has host bits under a zero-length mask
/// (`192.0.2.11/0`, or `192.0.2.11 0.0.0.0` in two columns), and the single host it
/// probably means (`192.0.2.11/32`).
fn host_under_zero_mask(r: &HbaRule) -> Option<(String, String)> {
    let Some(policy_guest::HbaAddress::Network(n)) = &r.address else {
        return None;
    };
    let ip: std::net::IpAddr = n.address.parse().ok()?;
    if ip.is_unspecified() {
        return None;
    }
    let written = match n.prefix {
        Some(p) => format!("{}/{p}", n.address),
        None => format!("{} {}", n.address, n.mask),
    };
    let host = if ip.is_ipv4() { 32 } else { 128 };
    Some((written, format!("{}/{host}", n.address)))
}

/// Where postgresql.conf asks for SCRAM passwords, if it does explicitly.
fn scram_required(env: &Env<'_>) -> Option<String> {
    let s = env.conf?.get("password_encryption")?;
    (s.value.eq_ignore_ascii_case("scram-sha-256"))
        .then(|| format!("{}:{}", s.location.file, s.location.line))
}

pub fn describe_address(a: &Option<Address>) -> String {
    match a {
        None => "the Unix socket".into(),
        Some(Address::Any) => "any address".into(),
        Some(Address::SameHost) => "the server's own addresses".into(),
        Some(Address::SameNet) => "the server's subnets".into(),
        Some(Address::Net(n)) => {
            to_ipnet(n).map_or("a masked network".into(), |n| format!("`{n}`"))
        }
        Some(Address::Host { name, .. }) => format!("`{name}`"),
        Some(Address::Unusable) => "an unusable address".into(),
    }
}

fn users_text(r: &Rule) -> String {
    let names: Vec<String> = r
        .users
        .iter()
        .map(|u| match u {
            UserToken::All => "all users".to_string(),
            UserToken::Name(n) => format!("`{n}`"),
            UserToken::Group(g) => format!("members of `{g}`"),
            UserToken::Regex(p) => format!("`/{}`", p.text),
        })
        .collect();
    names.join(", ")
}
