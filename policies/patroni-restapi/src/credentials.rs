//! Known default and weak passwords in a Patroni YAML: the REST API's and patronictl's
//! basic auth, the PostgreSQL roles Patroni logs in with (`postgresql.authentication`),
//! the roles `bootstrap.users` creates, and the DCS login. Spilo's and Patroni's example
//! passwords (`zalando`, `patroni`, `rep-pass`…) are in thousands of public repositories:
//! a password anyone can look up is no password. The rule is
//! [`policy_guest::credentials::weak`]; messages name the key and the reason, never the
//! value.

use policy_guest::Report;
use policy_guest::credentials::weak;
use policy_guest::doc::Structured;
use serde_json::Value;

/// (object pointer, what it is, the user name when the key has none).
const LOGINS: &[(&str, &str, Option<&str>)] = &[
    ("/restapi/authentication", "the REST API's basic auth", None),
    ("/ctl/authentication", "patronictl's basic auth", None),
    (
        "/postgresql/authentication/superuser",
        "the superuser Patroni logs in as",
        Some("postgres"),
    ),
    (
        "/postgresql/authentication/replication",
        "the replication role",
        None,
    ),
    (
        "/postgresql/authentication/rewind",
        "the pg_rewind role",
        None,
    ),
    ("/etcd", "the etcd login", None),
    ("/etcd3", "the etcd login", None),
];

/// Reports the weak passwords of one Patroni YAML.
pub fn check(y: &Structured, report: &mut Report) {
    let mut found: Vec<(String, Option<String>, String)> = Vec::new();
    for (pointer, what, default_user) in LOGINS {
        let user = y
            .str(&format!("{pointer}/username"))
            .map(str::to_string)
            .or(default_user.map(str::to_string));
        found.push((format!("{pointer}/password"), user, what.to_string()));
    }
    if let Some(Value::Object(users)) = y.get("/bootstrap/users") {
        for name in users.keys() {
            let pointer = format!(
                "/bootstrap/users/{}/password",
                policy_guest::doc::escape(name)
            );
            found.push((
                pointer,
                Some(name.clone()),
                format!("the role `{name}` bootstrap creates"),
            ));
        }
    }
    for (pointer, user, what) in found {
        let Some(password) = y.str(&pointer) else {
            continue;
        };
        if let Some(why) = weak(user.as_deref(), password) {
            let key = pointer.trim_start_matches('/').replace('/', ".");
            report.finding(
                "weak-credentials",
                y.loc(&pointer),
                format!(
                    "`{key}` ({what}{}) is a known default or weak password: {why}; anyone who reaches the service can guess it",
                    user.map_or(String::new(), |u| format!(", user `{u}`"))
                ),
            );
        }
    }
}
