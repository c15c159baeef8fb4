//! Whether `auth_type = scram-sha-256` would lock users out.
//!
//! With `scram-sha-256` PgBouncer verifies a client against the user's secret in the
//! `auth_file`: a SCRAM secret or a plain password works, an MD5 hash or an empty
//! secret does not (the login fails). So the fix is offered only when the auth_file is
//! among the inputs (a document of kind `pgbouncer-auth-file`, given with `--kind
//! pgbouncer-auth-file=PATH`, whose file name is the `auth_file`'s) and every user in it
//! has a usable secret, and no `auth_user` looks other users up in PostgreSQL (whose
//! password storage the files do not show).

use policy_guest::{Document, Input, Withheld};

/// The document kind of a PgBouncer auth_file (`userlist.txt`).
pub const KIND: &str = "pgbouncer-auth-file";

/// The steps when the switch is withheld.
const STEPS: &[&str] = &[
    "give every user of the auth_file a SCRAM secret (copy `rolpassword` from `pg_authid` after setting the password with `password_encryption = scram-sha-256`) or a plain password",
    "pass the auth_file to patrol (`--kind pgbouncer-auth-file=<path>`) so that it is checked",
    "then set `auth_type = scram-sha-256` and reload PgBouncer",
];

/// The user names and secrets of an auth_file: `"user" "secret"` per line, `""` inside a
/// quoted string for a quote, `;`/`#` lines comments. None for a line that is not one.
fn entries(text: &str) -> Vec<Option<(String, String)>> {
    text.lines()
        .filter(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with(';') && !t.starts_with('#')
        })
        .map(|l| {
            let mut rest = l.trim();
            let mut fields = Vec::new();
            while fields.len() < 2 {
                rest = rest.trim_start().strip_prefix('"')?;
                let mut value = String::new();
                let mut chars = rest.char_indices().peekable();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if c == '"' {
                        if chars.peek().is_some_and(|(_, n)| *n == '"') {
                            value.push('"');
                            chars.next();
                        } else {
                            end = Some(i + 1);
                            break;
                        }
                    } else {
                        value.push(c);
                    }
                }
                rest = &rest[end?..];
                fields.push(value);
            }
            let secret = fields.pop()?;
            Some((fields.pop()?, secret))
        })
        .collect()
}

/// Why a secret cannot be verified with SCRAM; None when it can.
fn unusable(secret: &str) -> Option<&'static str> {
    let md5 = secret.len() == 35
        && secret.starts_with("md5")
        && secret[3..].chars().all(|c| c.is_ascii_hexdigit());
    if secret.is_empty() {
        Some("an empty secret")
    } else if md5 {
        Some("an MD5 hash")
    } else {
        None
    }
}

/// The auth_file document of the input for `auth_file` (matched by file name).
fn find<'a>(input: &'a Input, auth_file: &str) -> Option<&'a Document> {
    let name = auth_file.rsplit('/').next().unwrap_or(auth_file);
    input
        .documents
        .iter()
        .filter(|d| d.kind == KIND)
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
    let mut bad = Vec::new();
    for (i, e) in entries(&doc.text).into_iter().enumerate() {
        match e {
            None => bad.push(format!("entry {} is not `\"user\" \"secret\"`", i + 1)),
            Some((user, secret)) => {
                if let Some(why) = unusable(&secret) {
                    bad.push(format!("`{user}` has {why}"));
                }
            }
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
    fn reads_quoted_entries() {
        let e = entries(
            "; c\n\"a\" \"SCRAM-SHA-256$4096:x\"\n\"b\"\"q\" \"md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\nbad\n",
        );
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[1],
            Some(("b\"q".into(), "md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into()))
        );
        assert_eq!(e[2], None);
        assert_eq!(
            unusable("md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            Some("an MD5 hash")
        );
        assert_eq!(unusable(""), Some("an empty secret"));
        assert_eq!(unusable("plain-pw"), None);
    }
}
