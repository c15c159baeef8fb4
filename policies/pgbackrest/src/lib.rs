//! Checks pgbackrest.conf (`pgbackrest` documents) and the pgBackRest commands of the
//! Patroni configs (`patroni` documents).
//!
//! Seed 003 puts pgBackRest behind TLS: a repository host reached with `repoN-host-type=tls`
//! and client certificates, a TLS server (`pgbackrest server`) with its certificate, the
//! CA it accepts clients from and `tls-server-auth` naming who may use which stanza;
//! encrypted repositories; and the archive and restore commands pinned in Patroni's
//! local configuration, where `PATCH /config` cannot replace them (Patroni issue #1734).
//! pgBackRest option semantics are from its configuration reference (2.x): `repoN-host`
//! makes repository N remote (its storage options live on the repository host),
//! `repoN-host-type` defaults to `ssh`, `repoN-cipher-type` to `none`,
//! `repoN-storage-verify-tls` to `y`, and a repository with no `repoN-host` is on this
//! host (repo1 at `/var/lib/pgbackrest` when nothing says otherwise).

pub mod config;
pub mod patroni;
pub mod secrets;

use policy_guest::DocumentKind;
use policy_guest::doc::documents;
use policy_guest::report::{at, replace_lines};
use policy_guest::{Code, Input, Policy, Report, Severity};
use serde::Deserialize;

use config::{Config, name_like};

pub struct Pgbackrest;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Report repository and database hosts reached over SSH (`host-type-ssh`).
    pub require_tls_hosts: bool,
    /// Files the fixes name for TLS clients (`repoN-host-*`, `pgN-host-*`).
    pub client_cert_file: String,
    pub client_key_file: String,
    pub ca_file: String,
    /// Files the fixes name for the TLS server.
    pub server_cert_file: String,
    pub server_key_file: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            require_tls_hosts: true,
            client_cert_file: "/etc/pgbackrest/ssl/client.crt".into(),
            client_key_file: "/etc/pgbackrest/ssl/client.key".into(),
            ca_file: "/etc/pgbackrest/ssl/ca.crt".into(),
            server_cert_file: "/etc/pgbackrest/ssl/server.crt".into(),
            server_key_file: "/etc/pgbackrest/ssl/server.key".into(),
        }
    }
}

pub const CODES: &[Code] = &[
    Code::new(
        "option-outside-section",
        Severity::High,
        "an option before any section",
        "pgBackRest refuses a file with `key=value` before the first `[section]` (\"key/value found outside of section\"), so every backup and every `archive-push` fails. Move it into `[global]` or a stanza section.",
    ),
    Code::new(
        "repo-unencrypted",
        Severity::High,
        "a repository without encryption",
        "`repoN-cipher-type` is `none` (the default) for a repository on this host or in object storage: backups and WAL hold every row in clear. High for object stores (`s3`, `gcs`, `azure`, `sftp`), medium for `posix`/`cifs`. Set `repoN-cipher-type=aes-256-cbc` and a `repoN-cipher-pass` when the stanza is created (an existing repository cannot be encrypted in place); no patch.",
    ),
    Code::new(
        "storage-verify-tls-disabled",
        Severity::High,
        "the repository's storage TLS certificate is not verified",
        "`repoN-storage-verify-tls=n` (or the older `repoN-s3-verify-tls`/`-verify-ssl`) accepts any certificate from the object store: a man in the middle receives the backups. The patch sets `y`; use `repoN-storage-ca-file` for a private CA.",
    ),
    Code::new(
        "host-type-ssh",
        Severity::Low,
        "a remote host reached over SSH instead of TLS",
        "`repoN-host`/`pgN-host` without `-host-type=tls` uses SSH (the default). Seed 003 recommends pgBackRest's TLS protocol (2.37+): client certificates, no shell account. Run `pgbackrest server` on the other side and set `-host-type=tls` with `-host-cert-file`, `-host-key-file`, `-host-ca-file`; no patch (the other host must change first). Setting `require_tls_hosts: false` turns this off.",
    ),
    Code::new(
        "tls-client-incomplete",
        Severity::High,
        "a TLS host without a client certificate or CA",
        "`-host-type=tls` needs `-host-cert-file` and `-host-key-file` (pgBackRest refuses to run without them), and without `-host-ca-file` the server's certificate is checked against the system store, where a private CA is missing. The patch adds the missing ones.",
    ),
    Code::new(
        "tls-server-incomplete",
        Severity::High,
        "a TLS server without certificate or key",
        "A host that runs `pgbackrest server` (any `tls-server-*` option) needs `tls-server-cert-file` and `tls-server-key-file`, or the server does not start. The patch adds them.",
    ),
    Code::new(
        "tls-server-no-auth",
        Severity::High,
        "a TLS server that authorizes no client",
        "A host that runs `pgbackrest server` (any `tls-server-*` option) needs `tls-server-auth` (`client-cn=stanza`, one per client), or it serves nobody. No patch: it names your clients.",
    ),
    Code::new(
        "tls-server-no-ca",
        Severity::Medium,
        "the TLS server accepts client certificates from the system CA store",
        "Without `tls-server-ca-file`, client certificates are verified against the system store: any public CA can issue one with an authorized CN. Name your CA; the patch does.",
    ),
    Code::new(
        "tls-server-auth-any-stanza",
        Severity::Low,
        "a TLS client authorized for every stanza",
        "`tls-server-auth=<cn>=*` lets that client read and write every stanza's repository. List the stanzas it needs.",
    ),
    Code::new(
        "command-not-pinned",
        Severity::High,
        "a pgBackRest command that PATCH /config can replace",
        "Patroni runs `archive_command`/`restore_command` from the dynamic configuration (`bootstrap.dcs`, or the DCS later) unless the local `postgresql.parameters` defines them: anyone who can `PATCH /config` or write the DCS replaces `pgbackrest …` with any shell command run as postgres (Patroni issue #1734; `recovery_conf` does not pin `restore_command`). The patch copies the command into the local `postgresql.parameters`.",
    ),
    Code::new(
        "unknown-stanza",
        Severity::High,
        "a pgBackRest command names a stanza no pgbackrest.conf defines",
        "`--stanza=NAME` in Patroni's `archive_command`/`restore_command` has no `[NAME]` section in the pgbackrest.conf files checked: `archive-push` fails, WAL piles up in `pg_wal` until the disk is full. Add the stanza or fix the name.",
    ),
    Code::new(
        "cloud-key-in-config",
        Severity::Low,
        "a cloud storage key written in clear text (`repoN-s3-key-secret`, `repoN-s3-key`, `repoN-s3-token`, `repoN-azure-key`, `repoN-gcs-key` of type `token`)",
        "The key opens the bucket — every backup, and deleting them — from anywhere, for whoever reads the file or a copy of it. Pass it in the environment (`PGBACKREST_REPO1_S3_KEY_SECRET`…) from a secret store, or use instance credentials (`repo1-s3-key-type=auto`). Low: reading the file is a credential of its own (docs/severity.md: needs credentials × data).",
    ),
    Code::new(
        "weak-credentials",
        Severity::Low,
        "a repository cipher passphrase that is a known default or weak password",
        "`repoN-cipher-pass` encrypts every backup: a guessable one (`postgres`, `admin`, `changeme`…) decrypts them for whoever gets the repository's files. Generate a long random passphrase (`openssl rand -base64 48`) before the first backup; it cannot change for an existing repository.",
    ),
];

impl Policy for Pgbackrest {
    type Settings = Settings;
    const NAME: &'static str = "pgbackrest";
    const DESCRIPTION: &'static str = "pgBackRest: TLS server and clients, repository encryption and TLS verification, commands pinned in Patroni";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["pgbackrest", "patroni"];

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        let configs: Vec<Config> = documents(input, DocumentKind::Pgbackrest)
            .filter_map(Config::read)
            .collect();
        for cfg in &configs {
            check(cfg, settings, report);
        }
        patroni::check(input, &configs, report);
        Ok(())
    }
}

/// The text of line `n` with the value after `=` replaced, keeping the key's spelling
/// and the spacing.
fn with_value(line: &str, value: &str) -> String {
    match line.split_once('=') {
        Some((key, old)) => {
            let lead = &old[..old.len() - old.trim_start().len()];
            format!("{key}={lead}{value}")
        }
        None => line.to_string(),
    }
}

/// `key=value` lines in the style of `like` (spaces around `=` or not).
fn new_line(like: &str, key: &str, value: &str) -> String {
    let spaced = like.split_once('=').is_some_and(|(k, _)| k.ends_with(' '));
    if spaced {
        format!("{key} = {value}")
    } else {
        format!("{key}={value}")
    }
}

fn check(cfg: &Config, s: &Settings, report: &mut Report) {
    for o in &cfg.outside {
        report.finding(
            "option-outside-section",
            at(&cfg.file, o.location.line),
            format!(
                "`{}` comes before any `[section]`: pgBackRest refuses the file",
                o.name
            ),
        );
    }
    repositories(cfg, report);
    hosts(cfg, s, report);
    tls_server(cfg, s, report);
    secrets::check(cfg, report);
}

fn repositories(cfg: &Config, report: &mut Report) {
    let mut indexes = cfg.indexes("repo");
    if indexes.is_empty() {
        indexes.push(1);
    }
    for i in indexes {
        for key in ["storage-verify-tls", "s3-verify-tls", "s3-verify-ssl"] {
            for o in cfg.all("repo", i, key) {
                if o.setting.value.trim() == "n" {
                    let loc = at(&cfg.file, o.setting.location.line);
                    let f = report.finding(
                        "storage-verify-tls-disabled",
                        loc,
                        format!(
                            "`{}=n`: repository {i}'s storage certificate is not verified",
                            o.setting.name
                        ),
                    );
                    let line = o.setting.location.line;
                    report.fix(
                        f,
                        replace_lines(
                            &cfg.file,
                            format!("verify repository {i}'s storage TLS certificate"),
                            line,
                            line,
                            with_value(cfg.line(line), "y"),
                        ),
                    );
                }
            }
        }
        if cfg.get("repo", i, "host").is_some() {
            continue; // remote: the repository host's own config decides
        }
        let cipher = cfg.get("repo", i, "cipher-type");
        if cipher.is_some_and(|c| c.setting.value.trim() != "none") {
            continue;
        }
        let kind = cfg
            .value("repo", i, "type")
            .unwrap_or("posix")
            .trim()
            .to_string();
        let anchor = cipher
            .or_else(|| cfg.get("repo", i, "type"))
            .or_else(|| cfg.get("repo", i, "path"))
            .or_else(|| cfg.opts.iter().find(|o| o.kind == "repo" && o.index == i))
            .map(|o| o.setting.location.line)
            .or_else(|| cfg.opts.first().map(|o| o.setting.location.line))
            .unwrap_or(0);
        let path = cfg
            .value("repo", i, "path")
            .unwrap_or("/var/lib/pgbackrest");
        let remote_store = matches!(kind.as_str(), "s3" | "gcs" | "azure" | "sftp");
        let f = report.finding(
            "repo-unencrypted",
            at(&cfg.file, anchor),
            format!(
                "repository {i} (`{kind}`{}) is not encrypted (`repo{i}-cipher-type` is {})",
                if remote_store {
                    String::new()
                } else {
                    format!(" at `{path}`")
                },
                if cipher.is_some() {
                    "`none`"
                } else {
                    "unset: `none`"
                }
            ),
        );
        if !remote_store {
            report.severity(f, Severity::Medium);
        }
    }
}

fn hosts(cfg: &Config, s: &Settings, report: &mut Report) {
    for kind in ["repo", "pg"] {
        for i in cfg.indexes(kind) {
            let Some(host) = cfg.get(kind, i, "host") else {
                continue;
            };
            let host_type = cfg.get(kind, i, "host-type");
            let tls = host_type.is_some_and(|t| t.setting.value.trim() == "tls");
            if !tls {
                if s.require_tls_hosts {
                    let line =
                        host_type.map_or(host.setting.location.line, |t| t.setting.location.line);
                    report.finding(
                        "host-type-ssh",
                        at(&cfg.file, line),
                        format!(
                            "`{}={}` is reached over SSH (`{kind}{i}-host-type` {})",
                            host.setting.name,
                            host.setting.value,
                            if host_type.is_some() {
                                "is `ssh`"
                            } else {
                                "defaults to `ssh`"
                            }
                        ),
                    );
                }
                continue;
            }
            let Some(t) = host_type else { continue };
            let missing: Vec<(&str, &str)> = [
                ("host-cert-file", s.client_cert_file.as_str()),
                ("host-key-file", s.client_key_file.as_str()),
                ("host-ca-file", s.ca_file.as_str()),
            ]
            .into_iter()
            .filter(|(k, _)| {
                cfg.get(kind, i, k).is_none()
                    && !(*k == "host-ca-file" && cfg.get(kind, i, "host-ca-path").is_some())
            })
            .collect();
            if missing.is_empty() {
                continue;
            }
            let names: Vec<String> = missing
                .iter()
                .map(|(k, _)| name_like(t.setting, kind, i, k))
                .collect();
            let line = t.setting.location.line;
            let f = report.finding(
                "tls-client-incomplete",
                at(&cfg.file, line),
                format!(
                    "`{}=tls` without {}",
                    t.setting.name,
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            let like = cfg.line(line);
            let text: Vec<String> = std::iter::once(like.to_string())
                .chain(
                    missing
                        .iter()
                        .zip(&names)
                        .map(|((_, v), n)| new_line(like, n, v)),
                )
                .collect();
            report.fix(
                f,
                replace_lines(
                    &cfg.file,
                    format!("client certificate and CA for {kind}{i}-host"),
                    line,
                    line,
                    text.join("\n"),
                ),
            );
        }
    }
}

fn tls_server(cfg: &Config, s: &Settings, report: &mut Report) {
    let server: Vec<_> = cfg
        .opts
        .iter()
        .filter(|o| o.kind.is_empty() && o.key.starts_with("tls-server-"))
        .collect();
    let Some(last) = server.last() else { return };
    let line = last.setting.location.line;
    let like = cfg.line(line);
    let has = |k: &str| !cfg.plain(k).is_empty();
    let mut add: Vec<String> = Vec::new();
    let mut missing: Vec<&str> = Vec::new();
    for (k, v) in [
        ("tls-server-cert-file", &s.server_cert_file),
        ("tls-server-key-file", &s.server_key_file),
    ] {
        if !has(k) {
            missing.push(k);
            add.push(new_line(like, k, v));
        }
    }
    let first = server[0].setting.location.line;
    // Its own finding: no patch can name the clients, and a finding that keeps standing
    // after its own fix would break "a second check is clean".
    if !has("tls-server-auth") {
        report.finding(
            "tls-server-no-auth",
            at(&cfg.file, first),
            "this host runs `pgbackrest server` without `tls-server-auth`: no client is authorized",
        );
    }
    let mut fixed = Vec::new();
    if !missing.is_empty() {
        fixed.push(report.finding(
            "tls-server-incomplete",
            at(&cfg.file, first),
            format!(
                    "this host runs `pgbackrest server` without {}",
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
        ));
    }
    if !has("tls-server-ca-file") {
        fixed.push(report.finding("tls-server-no-ca", at(&cfg.file, first),
            "the TLS server has no `tls-server-ca-file`: client certificates from any CA in the system store are accepted"));
        add.push(new_line(like, "tls-server-ca-file", &s.ca_file));
    }
    for o in cfg.plain("tls-server-auth") {
        if let Some((client, stanzas)) = o.setting.value.split_once('=')
            && stanzas.split(',').any(|x| x.trim() == "*")
        {
            report.finding(
                "tls-server-auth-any-stanza",
                at(&cfg.file, o.setting.location.line),
                format!(
                    "`tls-server-auth` lets client `{}` use every stanza (`*`)",
                    client.trim()
                ),
            );
        }
    }
    if !add.is_empty() {
        let text: Vec<String> = std::iter::once(like.to_string()).chain(add).collect();
        let patch = replace_lines(
            &cfg.file,
            "TLS server certificate, key and client CA",
            line,
            line,
            text.join("\n"),
        );
        for f in fixed {
            report.fix(f, patch.clone());
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(Pgbackrest);
