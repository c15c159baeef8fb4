//! The auth_file (`userlist.txt`): whether `auth_type = scram-sha-256` would lock users
//! out, and the lines PgBouncer stops reading at.
//!
//! With `scram-sha-256` PgBouncer verifies a client against the user's secret in the
//! `auth_file`: a SCRAM secret or a plain password works, an MD5 hash or an empty
//! secret does not (the login fails). So the fix is offered only when the auth_file is
//! among the inputs (a document of kind `pgbouncer-auth-file`: the host reads
//! `userlist.txt`, or the file a pgbouncer.ini beside it names, and hands over each
//! user with how its password is stored, never the password) whose file name is the
//! `auth_file`'s, every user in it has a usable secret, and no `auth_user` looks other
//! users up in PostgreSQL (whose password storage the files do not show).
//!
//! A user whose password the host found weak (`weak`: a known default or the user's
//! name, in clear or as an MD5 hash) is `weak-credentials`, as a weak `password=` in
//! pgbouncer.ini is.

use policy_guest::{
    Body, Document, Input, PgbouncerPasswordKind as Kind, PgbouncerUser, Report, Severity, Withheld,
};

/// The document kind of a PgBouncer auth_file (`userlist.txt`), for `READS`.
pub const KIND: &str = "pgbouncer-auth-file";

/// The steps when the switch is withheld.
const STEPS: &[&str] = &[
    "give every user of the auth_file a SCRAM secret (copy `rolpassword` from `pg_authid` after setting the password with `password_encryption = scram-sha-256`) or a plain password",
    "keep the auth_file beside pgbouncer.ini (or pass it with `--kind pgbouncer-auth-file=<path>`) so that it is checked",
    "then set `auth_type = scram-sha-256` and reload PgBouncer",
];

/// The users the host read from an auth_file document.
fn users(doc: &Document) -> &[PgbouncerUser] {
    match &doc.body {
        Body::PgbouncerUsers(users) => users,
        _ => &[],
    }
}

/// Why a secret cannot be verified with SCRAM; None when it can.
fn unusable(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Empty => Some("an empty secret"),
        Kind::Md5 => Some("an MD5 hash"),
        Kind::Plain | Kind::Scram => None,
    }
}

/// `auth-file-broken` for every line the host says PgBouncer stops reading at: high
/// when an entry follows it (those users are not loaded), low when only blanks and `;`
/// comments do.
pub fn check(input: &Input, report: &mut Report) {
    for doc in input
        .documents
        .iter()
        .filter(|d| d.kind == policy_guest::DocumentKind::PgbouncerAuthFile)
    {
        for d in doc
            .diagnostics
            .iter()
            .filter(|d| d.code == "auth-file-broken")
        {
            let lines: Vec<&str> = doc.text.lines().collect();
            let after = usize::try_from(d.location.line).unwrap_or(usize::MAX);
            let lost = lines.iter().skip(after).any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with(';')
            });
            let i = report.finding("auth-file-broken", d.location.clone(), d.message.clone());
            if !lost {
                report.severity(i, Severity::Low);
            }
        }
        for u in users(doc) {
            if let Some(why) = &u.weak {
                report.finding(
                    "weak-credentials",
                    u.location.clone(),
                    format!(
                        "the auth_file password of user `{}` is a known default or weak password: {why}",
                        u.user
                    ),
                );
            }
        }
    }
}

/// The auth_file document of the input for `auth_file` (matched by file name).
fn find<'a>(input: &'a Input, auth_file: &str) -> Option<&'a Document> {
    let name = auth_file.rsplit('/').next().unwrap_or(auth_file);
    input
        .documents
        .iter()
        .filter(|d| d.kind == policy_guest::DocumentKind::PgbouncerAuthFile)
        .find(|d| d.path.rsplit('/').next() == Some(name))
}

/// Whether switching to `auth_type = scram-sha-256` keeps every user able to log in.
pub fn scram_switch(
    input: &Input,
    auth_file: Option<&str>,
    auth_user: Option<&str>,
) -> Result<(), Withheld> {
    let Some(path) = auth_file.filter(|p| !p.trim().is_empty()) else {
        return Err(Withheld::new(
            "no `auth_file` is set, so which secrets PgBouncer verifies is unknown",
            STEPS,
        ));
    };
    let Some(doc) = find(input, path) else {
        return Err(Withheld::new(
            format!(
                "the auth_file `{path}` is not among the inputs: users with an MD5 hash or an empty secret there could no longer log in"
            ),
            STEPS,
        ));
    };
    if let Some(user) = auth_user {
        return Err(Withheld::new(
            format!(
                "users missing from `{path}` are looked up in PostgreSQL as `auth_user` `{user}`, and how their passwords are stored there is unknown"
            ),
            STEPS,
        ));
    }
    if let Some(d) = doc
        .diagnostics
        .iter()
        .find(|d| d.code == "auth-file-broken")
    {
        return Err(Withheld::new(
            format!(
                "PgBouncer stops reading {} at line {}, so which users it loads is not what the file shows",
                doc.path, d.location.line
            ),
            STEPS,
        ));
    }
    let mut bad = Vec::new();
    for u in users(doc) {
        if let Some(why) = unusable(u.password_kind) {
            bad.push(format!("`{}` has {why}", u.user));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Withheld::new(
            format!(
                "in {} {}, which `scram-sha-256` cannot verify",
                doc.path,
                bad.join(", ")
            ),
            STEPS,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_can_verify_plain_and_scram_only() {
        assert_eq!(unusable(Kind::Md5), Some("an MD5 hash"));
        assert_eq!(unusable(Kind::Empty), Some("an empty secret"));
        assert_eq!(unusable(Kind::Plain), None);
        assert_eq!(unusable(Kind::Scram), None);
    }
}
