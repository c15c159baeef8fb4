//! The dynamic-configuration command guard (Patroni issue #1734).
//!
//! `PATCH /config`, `patronictl edit-config` and any DCS writer change the dynamic
//! configuration, and Patroni applies it (`Config._build_effective_configuration`,
//! reference §5): every GUC outside the 15 command-line options is copied verbatim, and
//! every `postgresql.*` key except `connect_address`, `listen`, `data_dir`, `config_dir`,
//! `pgpass`, `authentication` and `proxy_address`. A local value wins — per GUC inside
//! `postgresql.parameters`, as a whole key otherwise — so the defence is to pin locally
//! what runs a command or loads a library. The exceptions handled here:
//!
//! - a local `recovery_conf` is replaced by the recovery GUCs of the merged `parameters`
//!   (`_adjust_recovery_parameters`): recovery commands are pinned in `parameters`;
//! - `standby_cluster.*` comes only from the DCS (a local section is ignored): it cannot
//!   be pinned;
//! - the command-line GUCs ignore local values;
//! - from 4.2.0, `parameters_<role>` from the DCS are merged over `parameters`.

use policy_guest::doc::{Structured, escape};
use policy_guest::patroni::Version;
use policy_guest::report::set_value;
use policy_guest::{Edit, Patch, PointerValue, Report};
use serde_json::{Map, Value, json};

use crate::Settings;

/// GUCs that run a shell command or load code (reference §5.1).
pub const COMMAND_PARAMETERS: &[&str] = &[
    "archive_command",
    "restore_command",
    "archive_cleanup_command",
    "recovery_end_command",
    "archive_library",
    "ssl_passphrase_command",
    "shared_preload_libraries",
    "local_preload_libraries",
    "session_preload_libraries",
    "dynamic_library_path",
];

/// Patroni's recovery parameters (`patroni/postgresql/validator.py`, 4.1.5).
pub const RECOVERY_PARAMETERS: &[&str] = &[
    "archive_cleanup_command",
    "pause_at_recovery_target",
    "primary_conninfo",
    "primary_slot_name",
    "promote_trigger_file",
    "recovery_end_command",
    "recovery_min_apply_delay",
    "recovery_target",
    "recovery_target_action",
    "recovery_target_inclusive",
    "recovery_target_lsn",
    "recovery_target_name",
    "recovery_target_time",
    "recovery_target_timeline",
    "recovery_target_xid",
    "restore_command",
    "standby_mode",
    "trigger_file",
];

/// `ConfigHandler.CMDLINE_OPTIONS`: local values are dropped.
pub const CMDLINE_OPTIONS: &[&str] = &[
    "cluster_name",
    "hot_standby",
    "listen_addresses",
    "max_connections",
    "max_locks_per_transaction",
    "max_prepared_transactions",
    "max_replication_slots",
    "max_wal_senders",
    "max_worker_processes",
    "port",
    "track_commit_timestamp",
    "wal_keep_segments",
    "wal_keep_size",
    "wal_level",
    "wal_log_hints",
];

/// `postgresql.*` keys (not GUCs) whose value Patroni executes or uses to find binaries.
const COMMAND_KEYS: &[(&str, &str)] = &[
    ("callbacks", "runs the callback scripts"),
    ("pre_promote", "runs this script before a promotion"),
    ("before_stop", "runs this script before stopping PostgreSQL"),
    ("bin_dir", "runs PostgreSQL's binaries from this directory"),
    ("bin_name", "runs these binaries"),
    (
        "create_replica_methods",
        "runs these replica-creation methods",
    ),
];

const RECOVERY_COMMANDS: &[&str] = &[
    "restore_command",
    "archive_cleanup_command",
    "recovery_end_command",
];

fn get_ci<'a>(map: Option<&'a Map<String, Value>>, key: &str) -> Option<(&'a String, &'a Value)> {
    map?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))
}

fn object<'a>(y: &'a Structured, pointer: &str) -> Option<&'a Map<String, Value>> {
    y.get(pointer).and_then(Value::as_object)
}

/// Runs the guard on one document.
pub fn check(y: &Structured, settings: &Settings, version: Option<Version>, report: &mut Report) {
    let file = y.doc.path.as_str();
    let local_params = object(y, "/postgresql/parameters");
    let dcs_params = object(y, "/bootstrap/dcs/postgresql/parameters");
    let is_command = |name: &str| {
        COMMAND_PARAMETERS
            .iter()
            .any(|c| c.eq_ignore_ascii_case(name))
            || settings
                .extra_command_parameters
                .iter()
                .any(|c| c.trim().eq_ignore_ascii_case(name))
    };
    // 1. Command GUCs set only in bootstrap.dcs.
    if let Some(params) = dcs_params {
        for (name, value) in params {
            if !is_command(name) || get_ci(local_params, name).is_some() {
                continue;
            }
            let pointer = format!("/bootstrap/dcs/postgresql/parameters/{}", escape(name));
            let i = report.finding(
                "command-not-pinned",
                y.loc(&pointer),
                format!("`{name}` is set only in `bootstrap.dcs`: the REST API (`PATCH /config`) or a DCS writer can change what it runs; local `postgresql.parameters` does not pin it"),
            );
            let target = format!("/postgresql/parameters/{}", escape(name));
            report.fix(
                i,
                set_value(
                    file,
                    format!("pin `{name}` in the local `postgresql.parameters`"),
                    &target,
                    value.clone(),
                ),
            );
        }
    }
    // 2. Recovery commands pinned only in a local recovery_conf.
    recovery_conf(y, "/postgresql/recovery_conf", local_params, report);
    // 3. Non-GUC keys set only in bootstrap.dcs.
    let local_pg = object(y, "/postgresql");
    let dcs_pg = object(y, "/bootstrap/dcs/postgresql");
    for (key, what) in COMMAND_KEYS {
        let Some(value) = dcs_pg.and_then(|m| m.get(*key)) else {
            continue;
        };
        if local_pg.is_some_and(|m| m.contains_key(*key)) {
            continue;
        }
        let pointer = format!("/bootstrap/dcs/postgresql/{key}");
        let i = report.finding(
            "command-not-pinned",
            y.loc(&pointer),
            format!("`postgresql.{key}` is set only in `bootstrap.dcs`: Patroni {what}, and the REST API or a DCS writer can change it; no local `postgresql.{key}` pins it"),
        );
        report.fix(
            i,
            set_value(
                file,
                format!("pin `postgresql.{key}` in the local YAML"),
                &format!("/postgresql/{key}"),
                value.clone(),
            ),
        );
    }
    replica_methods(y, local_pg, dcs_pg, report);
    if local_pg.is_none_or(|m| !m.contains_key("recovery_conf")) {
        recovery_conf(
            y,
            "/bootstrap/dcs/postgresql/recovery_conf",
            local_params,
            report,
        );
    }
    // 4. standby_cluster.
    for key in ["restore_command", "archive_cleanup_command"] {
        let pointer = format!("/bootstrap/dcs/standby_cluster/{key}");
        if y.get(&pointer).is_some() {
            report.finding(
                "standby-cluster-command",
                y.loc(&pointer),
                format!("`standby_cluster.{key}` runs a command and comes only from the dynamic configuration: it cannot be pinned locally"),
            );
        }
    }
    if y.get("/standby_cluster").is_some() {
        report.finding(
            "local-standby-cluster-ignored",
            y.loc("/standby_cluster"),
            "the local `standby_cluster` section is ignored: Patroni reads it only from the dynamic configuration",
        );
    }
    // 5. Local command-line GUCs.
    if let Some(params) = local_params {
        for name in params
            .keys()
            .filter(|n| CMDLINE_OPTIONS.iter().any(|c| c.eq_ignore_ascii_case(n)))
        {
            let pointer = format!("/postgresql/parameters/{}", escape(name));
            report.finding(
                "local-cmdline-parameter-ignored",
                y.loc(&pointer),
                format!("local `postgresql.parameters.{name}` is ignored: Patroni takes it from the dynamic configuration only"),
            );
        }
    }
    // 6. parameters_<role> (4.2.0+).
    if version.is_some_and(Version::has_role_parameters) {
        let pins = local_params.is_some_and(|p| p.keys().any(|k| is_command(k)));
        let dcs_commands = dcs_params.is_some_and(|p| p.keys().any(|k| is_command(k)));
        if pins || dcs_commands {
            for role in ["primary", "replica", "standby_leader"] {
                let key = format!("parameters_{role}");
                if local_pg.is_some_and(|m| m.contains_key(&key)) {
                    continue;
                }
                let value = dcs_pg
                    .and_then(|m| m.get(&key))
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let i = report.finding(
                    "role-parameters-unpinned",
                    y.loc(&format!("/postgresql/{key}")),
                    format!("no local `postgresql.{key}`: from Patroni 4.2.0 a DCS `{key}` is merged over `parameters` and overrides the locally pinned commands"),
                );
                report.fix(
                    i,
                    set_value(
                        file,
                        format!("pin `postgresql.{key}` locally"),
                        &format!("/postgresql/{key}"),
                        value,
                    ),
                );
            }
        }
    }
}

/// A `recovery_conf` at `pointer` whose recovery commands are not in local `parameters`:
/// one finding per command, one patch copying every recovery setting of that
/// `recovery_conf` to local `parameters` (Patroni replaces `recovery_conf` by them).
fn recovery_conf(
    y: &Structured,
    pointer: &str,
    local_params: Option<&Map<String, Value>>,
    report: &mut Report,
) {
    let Some(conf) = object(y, pointer) else {
        return;
    };
    let open: Vec<&String> = conf
        .keys()
        .filter(|k| {
            RECOVERY_COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(k))
                && get_ci(local_params, k).is_none()
        })
        .collect();
    if open.is_empty() {
        return;
    }
    let edits: Vec<Edit> = conf
        .iter()
        .filter(|(k, _)| {
            RECOVERY_PARAMETERS
                .iter()
                .any(|r| r.eq_ignore_ascii_case(k))
                && get_ci(local_params, k).is_none()
        })
        .map(|(k, v)| {
            Edit::Set(PointerValue {
                pointer: format!("/postgresql/parameters/{}", escape(k)),
                value: v.to_string(),
            })
        })
        .collect();
    let patch = Patch {
        file: y.doc.path.clone(),
        description: "pin the recovery settings in the local `postgresql.parameters`".into(),
        edits,
    };
    let local = pointer.starts_with("/postgresql");
    for key in open {
        let at = format!("{pointer}/{}", escape(key));
        let (code, msg) = if local {
            (
                "recovery-command-overridable",
                format!(
                    "`postgresql.recovery_conf.{key}` is local, but a DCS `postgresql.parameters.{key}` replaces the whole `recovery_conf`: pin it in `postgresql.parameters`"
                ),
            )
        } else {
            (
                "command-not-pinned",
                format!(
                    "`recovery_conf.{key}` is set only in `bootstrap.dcs`: the REST API or a DCS writer can change what it runs"
                ),
            )
        };
        let i = report.finding(code, y.loc(&at), msg);
        report.fix(i, patch.clone());
    }
}

/// `create_replica_methods` and each method's section (`<method>.command`).
fn replica_methods(
    y: &Structured,
    local: Option<&Map<String, Value>>,
    dcs: Option<&Map<String, Value>>,
    report: &mut Report,
) {
    let methods = local
        .and_then(|m| m.get("create_replica_methods"))
        .or_else(|| dcs.and_then(|m| m.get("create_replica_methods")));
    let Some(Value::Array(methods)) = methods else {
        return;
    };
    for method in methods
        .iter()
        .filter_map(Value::as_str)
        .filter(|m| *m != "basebackup")
    {
        let Some(value) = dcs.and_then(|m| m.get(method)) else {
            continue;
        };
        if local.is_some_and(|m| m.contains_key(method)) {
            continue;
        }
        let pointer = format!("/bootstrap/dcs/postgresql/{}", escape(method));
        let i = report.finding(
            "command-not-pinned",
            y.loc(&pointer),
            format!("replica method `{method}` is configured only in `bootstrap.dcs`: its `command` can be changed through the REST API or the DCS"),
        );
        let target = format!("/postgresql/{}", escape(method));
        report.fix(
            i,
            set_value(
                &y.doc.path,
                format!("pin replica method `{method}` in the local YAML"),
                &target,
                value.clone(),
            ),
        );
    }
}
