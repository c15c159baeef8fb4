//! Secrets written in pgbackrest.conf: cloud storage keys in clear text, and weak
//! repository cipher passphrases.
//!
//! pgBackRest reads every option from the environment too (`PGBACKREST_REPO1_S3_KEY_SECRET`),
//! and its user guide keeps the keys out of the file for that reason: a key in the file
//! is in every copy, backup and repository of the file, and it opens the bucket — every
//! backup, and the power to delete them — from anywhere. Which options hold keys (the
//! configuration reference, 2.x): `repo-s3-key`, `repo-s3-key-secret`, `repo-s3-token`,
//! `repo-azure-key` (shared key or SAS), and `repo-gcs-key` only with
//! `repo-gcs-key-type=token` (otherwise it names a key file). Messages name the option,
//! never its value.

use policy_guest::report::at;
use policy_guest::{Report, Severity};

use crate::config::Config;

const CLOUD_KEYS: &[&str] = &["s3-key", "s3-key-secret", "s3-token", "azure-key"];

pub fn check(cfg: &Config, report: &mut Report) {
    for o in cfg.opts.iter().filter(|o| o.kind == "repo") {
        let value = o.setting.value.trim();
        if value.is_empty() || policy_guest::template::placeholder(value).is_some() {
            continue;
        }
        let token_gcs = o.key == "gcs-key"
            && cfg
                .value("repo", o.index, "gcs-key-type")
                .is_some_and(|t| t.trim() == "token");
        if CLOUD_KEYS.contains(&o.key.as_str()) || token_gcs {
            let env = format!(
                "PGBACKREST_{}",
                o.setting.name.to_ascii_uppercase().replace('-', "_")
            );
            report.finding(
                "cloud-key-in-config",
                at(&cfg.file, o.setting.location.line),
                format!(
                    "`{}` is written in clear text in {}: whoever reads the file, a copy of it or the repository that holds it can open the bucket (every backup, and deleting them) from anywhere; pass it as `{env}` from a secret store",
                    o.setting.name, cfg.file
                ),
            );
        }
        if o.key == "cipher-pass"
            && let Some(why) = policy_guest::credentials::weak(None, value)
        {
            let i = report.finding(
                "weak-credentials",
                at(&cfg.file, o.setting.location.line),
                format!(
                    "`{}` is a known default or weak passphrase: {why}; whoever gets the repository's files decrypts every backup",
                    o.setting.name
                ),
            );
            // The passphrase guards the backups at rest: it takes the repository's
            // files first (docs/severity.md: needs credentials × data).
            report.severity(i, Severity::Low);
        }
    }
}
