//! Which parameter names each PostgreSQL major accepts in postgresql.conf: the names of
//! `pg_settings` of the real servers (13.23, 14.23, 16.14, 17.10, 18.4 from npm's
//! `@embedded-postgres`, 15 from Debian), lowercased, one file per major in `gucs/`.
//! `tests/gucs.rs` (real-server tier) reads them again from each server and fails when
//! a table differs.
//!
//! The server refuses to start (a reload applies nothing) when postgresql.conf sets a
//! name it does not know and that has no `.` (a dotted name is an extension's
//! placeholder): "unrecognized configuration parameter".

use std::collections::HashMap;
use std::sync::OnceLock;

/// The majors the tables cover, oldest first.
pub const MAJORS: [u32; 6] = [13, 14, 15, 16, 17, 18];

const TABLES: [&str; 6] = [
    include_str!("gucs/13.txt"),
    include_str!("gucs/14.txt"),
    include_str!("gucs/15.txt"),
    include_str!("gucs/16.txt"),
    include_str!("gucs/17.txt"),
    include_str!("gucs/18.txt"),
];

/// Names that distribution packages add to every major: Debian's and apt.postgresql.org's
/// builds carry `extension_destdir` (a patch of theirs), so it is no mistake on them.
const VENDOR: [&str; 1] = ["extension_destdir"];

/// Name → bit set of the majors (bit i: `MAJORS[i]`) that know it.
fn table() -> &'static HashMap<&'static str, u8> {
    static TABLE: OnceLock<HashMap<&'static str, u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map: HashMap<&'static str, u8> = HashMap::new();
        for (i, text) in TABLES.iter().enumerate() {
            for name in text.lines().filter(|l| !l.is_empty()) {
                *map.entry(name).or_default() |= 1 << i;
            }
        }
        for name in VENDOR {
            map.insert(name, u8::MAX);
        }
        map
    })
}

/// What the tables say about a (lowercased) parameter name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// Known to the major asked about (or an extension's dotted name, or a major the
    /// tables do not cover).
    Yes,
    /// Known to none of 13–18.
    Never,
    /// Known to these majors only (not to the one asked about, or the major is unknown).
    Only(Vec<u32>),
}

/// Whether PostgreSQL `major` (none: unknown) knows parameter `name`.
pub fn known(name: &str, major: Option<u32>) -> Known {
    if name.contains('.') {
        return Known::Yes;
    }
    let bits = table().get(name).copied().unwrap_or(0);
    let majors: Vec<u32> = MAJORS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, &m)| m)
        .collect();
    if majors.is_empty() {
        return Known::Never;
    }
    match major {
        Some(m) if !MAJORS.contains(&m) || majors.contains(&m) => Known::Yes,
        None if majors.len() == MAJORS.len() => Known::Yes,
        _ => Known::Only(majors),
    }
}

/// `13–15`, `16 and later`, `13, 15`: the majors in words.
pub fn span(majors: &[u32]) -> String {
    let (Some(&first), Some(&last)) = (majors.first(), majors.last()) else {
        return String::new();
    };
    let contiguous = majors.windows(2).all(|w| w[1] == w[0] + 1);
    if !contiguous {
        return majors
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
    }
    match (first == MAJORS[0], last == MAJORS[MAJORS.len() - 1]) {
        (_, true) if first != MAJORS[0] => format!("{first} and later"),
        (true, false) => format!("{last} and earlier"),
        _ if first == last => first.to_string(),
        _ => format!("{first}–{last}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_version() {
        // Removed in 16.
        assert_eq!(known("vacuum_defer_cleanup_age", Some(15)), Known::Yes);
        assert_eq!(
            known("vacuum_defer_cleanup_age", Some(16)),
            Known::Only(vec![13, 14, 15])
        );
        // Removed in 13 (replaced by `wal_keep_size`).
        assert_eq!(known("wal_keep_segments", Some(13)), Known::Never);
        assert_eq!(known("wal_keep_size", Some(13)), Known::Yes);
        // Added in 18.
        assert_eq!(
            known("oauth_validator_libraries", Some(17)),
            Known::Only(vec![18])
        );
        assert_eq!(
            known("oauth_validator_libraries", None),
            Known::Only(vec![18])
        );
        assert_eq!(known("shared_buffers", None), Known::Yes);
        assert_eq!(known("datestyle", Some(13)), Known::Yes);
        assert_eq!(known("pg_stat_statements.max", Some(13)), Known::Yes);
        assert_eq!(known("shared_buffer", Some(15)), Known::Never);
        assert_eq!(known("extension_destdir", Some(18)), Known::Yes);
        // A major the tables do not cover: no claim.
        assert_eq!(known("vacuum_defer_cleanup_age", Some(19)), Known::Yes);
    }

    #[test]
    fn spans_read_as_words() {
        assert_eq!(span(&[13, 14, 15]), "15 and earlier");
        assert_eq!(span(&[16, 17, 18]), "16 and later");
        assert_eq!(span(&[18]), "18 and later");
        assert_eq!(span(&[14, 15]), "14–15");
        assert_eq!(span(&[15]), "15");
        assert_eq!(span(&[13, 15]), "13, 15");
    }
}
