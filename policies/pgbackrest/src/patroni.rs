//! pgBackRest commands in the Patroni configs: pinned locally, and naming a stanza that
//! exists.
//!
//! Patroni builds PostgreSQL's parameters from the dynamic configuration with the local
//! `postgresql.parameters` on top, key by key (reference §5.2); `recovery_conf` is
//! replaced by any recovery parameter in the merged `parameters` (§5.3), so only
//! `postgresql.parameters.{archive_command,restore_command}` pins a command. A command
//! counts as pgBackRest's when its first word is `pgbackrest` (or a path ending so).

use policy_guest::DocumentKind;
use policy_guest::doc::{Structured, documents};
use policy_guest::report::set_value;
use policy_guest::{Input, Report};
use serde_json::Value;

use crate::config::{Config, stanza_of};

const COMMANDS: &[&str] = &["archive_command", "restore_command"];

/// Where a command may come from other than the local parameters.
const UNPINNED: &[(&str, &str)] = &[
    (
        "/bootstrap/dcs/postgresql/parameters",
        "bootstrap.dcs.postgresql.parameters",
    ),
    ("/postgresql/recovery_conf", "postgresql.recovery_conf"),
];

fn is_pgbackrest(command: &str) -> bool {
    command
        .split_whitespace()
        .next()
        .is_some_and(|w| w.rsplit('/').next() == Some("pgbackrest"))
}

pub fn check(input: &Input, configs: &[Config], report: &mut Report) {
    let stanzas: Vec<&str> = configs
        .iter()
        .flat_map(|c| c.stanzas.iter().map(String::as_str))
        .collect();
    for y in documents(input, DocumentKind::Patroni).filter_map(Structured::new) {
        for name in COMMANDS {
            let local = format!("/postgresql/parameters/{name}");
            if let Some(cmd) = y.str(&local) {
                stanza(&y, &local, cmd, configs, &stanzas, report);
                continue;
            }
            for (base, label) in UNPINNED {
                let pointer = format!("{base}/{name}");
                let Some(cmd) = y.str(&pointer).filter(|c| is_pgbackrest(c)) else {
                    continue;
                };
                let f = report.finding("command-not-pinned", y.loc(&pointer), format!(
                    "`{name}` runs pgBackRest from `{label}` but `postgresql.parameters` does not define it: PATCH /config or a DCS write can replace it with any command"));
                report.fix(
                    f,
                    set_value(
                        &y.doc.path,
                        format!("pin `{name}` in the local postgresql.parameters"),
                        &local,
                        Value::String(cmd.to_string()),
                    ),
                );
                stanza(&y, &pointer, cmd, configs, &stanzas, report);
                break;
            }
        }
    }
}

/// `unknown-stanza` when pgbackrest.conf files are in the input and none defines the
/// command's stanza.
fn stanza(
    y: &Structured,
    pointer: &str,
    cmd: &str,
    configs: &[Config],
    stanzas: &[&str],
    report: &mut Report,
) {
    if configs.is_empty() || !is_pgbackrest(cmd) {
        return;
    }
    let Some(name) = stanza_of(cmd) else { return };
    if !stanzas.contains(&name.as_str()) {
        let files: Vec<&str> = configs.iter().map(|c| c.file.as_str()).collect();
        report.finding(
            "unknown-stanza",
            y.loc(pointer),
            format!(
                "`--stanza={name}` has no `[{name}]` section in {}",
                files
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}
