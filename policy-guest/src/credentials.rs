//! Known default and weak credentials, shared by the policies that read passwords
//! (Patroni YAML, pgbouncer.ini, pgbackrest.conf, gitlab.rb).
//!
//! A password is weak when it is one of the defaults that ship in upstream images and
//! example files — Spilo's `configure_spilo.py` (`zalando`, `standby`, `cola`), Patroni's
//! `postgres0.yml` (`patroni`, formerly `zalando`, `rep-pass`, `rewind_password`, and
//! the REST API's `username`/`password`) — a word every password list starts with
//! (`admin`, `postgres`, `password`, `changeme`, …), or the user's own name. Findings say
//! which rule matched, never the value: [`weak`] returns the reason only.

/// Defaults of upstream images and examples, and the first words of every password list
/// (compared without case).
const KNOWN: &[(&str, &str)] = &[
    (
        "zalando",
        "Spilo's default superuser password and Patroni's former example",
    ),
    (
        "patroni",
        "the superuser password of Patroni's example postgres0.yml",
    ),
    (
        "rep-pass",
        "the replication password of Patroni's example postgres0.yml",
    ),
    (
        "rewind_password",
        "the rewind password of Patroni's example postgres0.yml",
    ),
    ("standby", "Spilo's default replication password"),
    ("cola", "Spilo's default admin password"),
    ("admin", "a default password"),
    ("postgres", "a default password"),
    ("password", "a default password"),
    ("passw0rd", "a default password"),
    ("changeme", "a default password"),
    ("change_me", "a default password"),
    ("secret", "a default password"),
    ("root", "a default password"),
    ("toor", "a default password"),
    ("test", "a default password"),
    ("pass", "a default password"),
    ("123456", "a default password"),
    ("12345678", "a default password"),
    ("qwerty", "a default password"),
    ("letmein", "a default password"),
    ("replicator", "a default password"),
    ("pgbouncer", "a default password"),
    ("gitlab", "a default password"),
];

/// Why `password` (of `user`, when known) is weak, or None. Values that are still
/// template placeholders (`{{ pw }}`, `${PW}`, `<password>`) or empty are not judged.
pub fn weak(user: Option<&str>, password: &str) -> Option<String> {
    let p = password.trim();
    if p.is_empty() || crate::template::placeholder(p).is_some() || looks_like_placeholder(p) {
        return None;
    }
    if let Some(u) = user.map(str::trim).filter(|u| !u.is_empty())
        && p.eq_ignore_ascii_case(u)
    {
        return Some("it is the user name".to_string());
    }
    KNOWN
        .iter()
        .find(|(k, _)| p.eq_ignore_ascii_case(k))
        .map(|(_, why)| format!("it is {why}"))
}

/// Every password [`weak`] calls weak for `user`, with its reason: the user name, then
/// the known list (as written here, lowercase). For a store that keeps only a hash of
/// the password (PgBouncer's and PostgreSQL's `md5…`), the host hashes each guess.
pub fn guesses(user: &str) -> impl Iterator<Item = (&str, String)> {
    let own = (!user.trim().is_empty()).then(|| (user, "it is the user name".to_string()));
    own.into_iter()
        .chain(KNOWN.iter().map(|(k, why)| (*k, format!("it is {why}"))))
}

/// `<password>`, `XXXX`, `***`: a value written to be replaced.
fn looks_like_placeholder(p: &str) -> bool {
    (p.starts_with('<') && p.ends_with('>')) || p.chars().all(|c| c == '*' || c == 'x' || c == 'X')
}

#[cfg(test)]
mod tests {
    use super::weak;

    #[test]
    fn known_defaults_and_user_names() {
        assert!(weak(Some("postgres"), "zalando").unwrap().contains("Spilo"));
        assert!(weak(Some("admin"), "Admin").unwrap().contains("user name"));
        assert!(weak(Some("app"), "app").is_some());
        assert!(weak(None, "rep-pass").is_some());
        assert_eq!(weak(Some("postgres"), "k8Jq-2vLp-93xZ"), None);
        assert_eq!(weak(Some("postgres"), "{{ vault_pg_password }}"), None);
        assert_eq!(weak(Some("postgres"), "${PGPASSWORD}"), None);
        assert_eq!(weak(Some("postgres"), "<password>"), None);
        assert_eq!(weak(Some("postgres"), ""), None);
        assert_eq!(weak(Some("postgres"), "xxxx"), None);
    }

    #[test]
    fn every_guess_is_weak_for_its_user() {
        let all: Vec<_> = super::guesses("app").collect();
        assert_eq!(all[0].0, "app");
        assert!(all.len() > 20);
        for (guess, why) in all {
            assert_eq!(weak(Some("app"), guess), Some(why), "{guess}");
        }
        assert!(super::guesses(" ").all(|(g, _)| g != " "));
    }
}
