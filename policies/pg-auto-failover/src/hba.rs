//! The pg_hba rules of pg_auto_failover's own users, and the ident maps they name.
//!
//! pg_autoctl writes (`pghba.c`): on the monitor, `host(ssl) "pg_auto_failover"
//! "autoctl_node" <node> <auth>`; on each node, for every other node, `host(ssl)
//! replication "pgautofailover_replicator" <node> <auth>` and the same for the node's
//! database, and `host(ssl) … "pgautofailover_monitor" <monitor> trust` for the health
//! checks (that one is `trust` by design). With `cert`, the replication rules carry
//! `map=pgautofailover`, since the client certificate is not named after the replication
//! user. All fixes of one rule are one change of its record (rendered by the host), so
//! that they do not collide.

use policy_guest::DocumentKind;
use policy_guest::doc::documents;
use policy_guest::report::{hba_change, hba_patch};
use policy_guest::{
    Body, Document, Edit, HbaEdit, HbaRule, IdentRule, Input, LineEdit, Location, Patch, Report,
};
use regex::Regex;

use super::Settings;
use super::conf::{Node, dir_of};

const USERS: &[&str] = &[
    "autoctl_node",
    "pgautofailover_replicator",
    "pgautofailover_monitor",
];

/// Whether the rule is one of pg_auto_failover's (by user, or by the monitor database).
fn ours(rule: &HbaRule) -> Option<String> {
    rule.users
        .iter()
        .find(|u| USERS.contains(&u.text.as_str()))
        .map(|u| u.text.clone())
        .or_else(|| {
            rule.databases
                .iter()
                .any(|d| d.text == "pg_auto_failover")
                .then(|| "autoctl_node".to_string())
        })
}

pub fn check(input: &Input, settings: &Settings, nodes: &[Node], report: &mut Report) {
    let idents: Vec<&Document> = documents(input, DocumentKind::PgIdent).collect();
    let mut reported: Vec<(String, u32)> = Vec::new();
    for doc in documents(input, DocumentKind::PgHba) {
        let Body::Hba(rules) = &doc.body else {
            continue;
        };
        let dir = dir_of(&doc.path);
        // SSL is known to be on when the pg_autoctl config next to this file (or the only
        // one) says so; only then can `hostssl` be written without locking the node out.
        let node = nodes.iter().find(|n| n.dir == dir).or(if nodes.len() == 1 {
            nodes.first()
        } else {
            None
        });
        let ssl_on = node.is_some_and(|n| n.ssl_active);
        let ident = idents
            .iter()
            .find(|d| dir_of(&d.path) == dir)
            .or(if idents.len() == 1 {
                idents.first()
            } else {
                None
            })
            .copied();
        for rule in rules {
            let Some(user) = ours(rule) else { continue };
            if rule.connection_type == "local" {
                continue;
            }
            let mut new_type = None;
            let mut new_method: Option<String> = None;
            let mut found = Vec::new();
            let at = Location {
                pointer: None,
                ..rule.location.clone()
            };
            let raw = rule.raw.trim();
            if matches!(rule.connection_type.as_str(), "host" | "hostnossl") {
                let i = report.finding(
                    "hba-not-hostssl",
                    at.clone(),
                    format!(
                        "`{raw}` also matches `{user}` connections without TLS{}",
                        if ssl_on {
                            ""
                        } else {
                            " (and SSL is not known to be on for this node, so no fix is offered)"
                        }
                    ),
                );
                if ssl_on {
                    new_type = Some("hostssl");
                    found.push(i);
                }
            }
            let method = rule.method.to_ascii_lowercase();
            if method == "trust" && user != "pgautofailover_monitor" {
                let i = report.finding(
                    "hba-trust",
                    at.clone(),
                    format!("`{raw}` lets `{user}` in with no password or certificate"),
                );
                new_method = Some("scram-sha-256".into());
                found.push(i);
            }
            let map = rule
                .options
                .iter()
                .find(|(k, _)| k == "map")
                .map(|(_, v)| v.clone());
            if method == "cert" && map.is_none() && user == "pgautofailover_replicator" {
                let i = report.finding(
                    "hba-cert-without-map",
                    at.clone(),
                    format!("`{raw}`: pg_autoctl's client certificate is not named `{user}`, so `cert` needs `map={}`", settings.ident_map),
                );
                new_method = Some(format!("cert map={}", settings.ident_map));
                found.push(i);
            }
            if let Some(map) = map.as_deref().or(new_method
                .as_deref()
                .and_then(|m| m.strip_prefix("cert map=")))
            {
                idents_check(ident, map, &user, &at, settings, &mut reported, report);
            }
            if new_type.is_none() && new_method.is_none() {
                continue;
            }
            if let Some(patch) = rewrite(doc, rule, new_type, new_method.as_deref()) {
                for i in found {
                    report.fix(i, patch.clone());
                }
            }
        }
    }
}

/// The entries of `map`: missing entirely (a fix adds one), or too broad.
#[allow(clippy::too_many_arguments)]
fn idents_check(
    ident: Option<&Document>,
    map: &str,
    user: &str,
    at: &Location,
    settings: &Settings,
    reported: &mut Vec<(String, u32)>,
    report: &mut Report,
) {
    let Some(doc) = ident else { return };
    let Body::Ident(entries) = &doc.body else {
        return;
    };
    let mine: Vec<&IdentRule> = entries.iter().filter(|e| e.map_name == map).collect();
    if mine.is_empty() {
        let i = report.finding(
            "ident-map-missing",
            at.clone(),
            format!(
                "the rule names `map={map}` but {} has no `{map}` entry: `{user}` cannot log in",
                doc.path
            ),
        );
        let n = doc.text.lines().count() as u32;
        let line = format!("{map} {} {user}", settings.client_certificate_cn);
        report.fix(
            i,
            Patch {
                file: doc.path.clone(),
                description: format!("add `{line}` to {}", doc.path),
                edits: vec![Edit::Lines(LineEdit {
                    start: n + 1,
                    end: n,
                    text: line,
                })],
            },
        );
        return;
    }
    for e in mine {
        let broad_user =
            e.database_user == "all" || e.database_user == user || e.database_user.starts_with('+');
        let key = (e.location.file.clone(), e.location.line);
        if broad_user && matches_anything(&e.system_user) && !reported.contains(&key) {
            reported.push(key);
            report.finding(
                "ident-map-too-broad",
                Location {
                    pointer: None,
                    ..e.location.clone()
                },
                format!(
                    "`{} {} {}`: any client certificate name maps to `{user}`",
                    e.map_name, e.system_user, e.database_user
                ),
            );
        }
    }
}

/// Whether a pg_ident system-user pattern (`/regex`) accepts any name.
fn matches_anything(system_user: &str) -> bool {
    let Some(pattern) = system_user.strip_prefix('/') else {
        return false;
    };
    let Ok(re) = Regex::new(pattern) else {
        return false;
    };
    ["x", "attacker", "evil.example.com", "CN=someone else"]
        .iter()
        .all(|s| re.is_match(s))
}

/// The change of the rule's connection type and/or method: options the new method does
/// not take go (only `clientcert` stays with a password method; `cert` gets `map=`).
fn rewrite(
    doc: &Document,
    rule: &HbaRule,
    new_type: Option<&str>,
    new_method: Option<&str>,
) -> Option<Patch> {
    let line = rule.location.line;
    if rule.location.end_line.is_some_and(|e| e > line) || rule.location.file != doc.path {
        return None; // continued records, and records of other files, are left alone
    }
    let mut change = hba_change(line);
    change.connection_type = new_type.map(str::to_string);
    if let Some(m) = new_method {
        let (method, map) = match m.split_once(" map=") {
            Some((method, map)) => (method, Some(map)),
            None => (m, None),
        };
        change.method = Some(method.to_string());
        change.remove_options = rule
            .options
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| {
                if method == "cert" {
                    k == "map"
                } else {
                    k != "clientcert"
                }
            })
            .collect();
        if let Some(map) = map {
            change.remove_options.retain(|k| k != "map");
            change.set_options = vec![("map".into(), map.to_string())];
        }
    }
    Some(hba_patch(
        &doc.path,
        format!("rewrite pg_auto_failover rule on line {line}"),
        vec![HbaEdit::Set(change)],
    ))
}
