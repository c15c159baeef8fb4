//! Known default and weak passwords written in gitlab.rb: the Patroni REST API's
//! (`patroni['password']`) and the application's database password
//! (`gitlab_rails['db_password']`). The `*_password` keys Omnibus takes as MD5 hashes
//! (`postgresql['sql_user_password']`, `pgbouncer_user_password`…) are not passwords and
//! are not judged. The rule is [`policy_guest::credentials::weak`]; messages name the key
//! and the reason, never the value.

use policy_guest::Report;
use policy_guest::credentials::weak;

use crate::rb::Rb;

/// (password key, user key, the user when that key is unset, what it guards).
const LOGINS: &[(&[&str], &[&str], &str, &str)] = &[
    (
        &["patroni", "password"],
        &["patroni", "username"],
        "",
        "the Patroni REST API (restart, failover, `PATCH /config`)",
    ),
    (
        &["gitlab_rails", "db_password"],
        &["gitlab_rails", "db_username"],
        "gitlab",
        "the application's database role",
    ),
];

pub fn check(rb: &Rb, report: &mut Report) {
    for (path, user_path, default_user, what) in LOGINS {
        let Some(password) = rb.str(path) else {
            continue;
        };
        let user = rb
            .str(user_path)
            .or((!default_user.is_empty()).then_some(*default_user));
        let Some(why) = weak(user, password) else {
            continue;
        };
        let anchor = rb.anchor(path[0], &[]);
        report.finding(
            "weak-credentials",
            rb.loc(path, &anchor),
            format!(
                "`{}['{}']` ({what}) is a known default or weak password: {why}",
                path[0], path[1]
            ),
        );
    }
}
