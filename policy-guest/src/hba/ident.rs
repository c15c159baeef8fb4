//! pg_ident.conf user maps, as PostgreSQL's `check_usermap` applies them.
//!
//! A map line matches when its map name equals the one the pg_hba record names, its
//! system user equals the authenticated name (certificate CN/DN, OS user), and its
//! database user equals the role asked for. A system user starting with `/` is a regular
//! expression searched in the authenticated name; the first `\1` in the database user is
//! replaced by the first capture group. From PostgreSQL 16 the database user may also be
//! `all`, `+role` (membership) or a `/regex`. The first line of the map that matches
//! decides; no line matching means the name is refused.

use regex::Regex;

use super::roles::Roles;
use crate::IdentRule;

#[derive(Debug, Clone)]
enum SystemUser {
    Exact(String),
    /// None: the pattern does not compile with the `regex` crate (matches nothing).
    Regex(Option<Regex>),
}

#[derive(Debug, Clone)]
struct Line {
    map: String,
    system: SystemUser,
    pg_role: String,
    /// The database user was quoted: from 16 on, `"all"` and `"+group"` are names.
    quoted: bool,
}

/// The compiled lines of a pg_ident.conf.
#[derive(Debug, Clone, Default)]
pub struct IdentMaps {
    lines: Vec<Line>,
    version: u32,
}

/// The outcome of a map lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapResult {
    Match,
    NoMatch,
    /// `\1` asked for but the expression has no group: PostgreSQL logs an error and refuses.
    Error,
}

impl IdentMaps {
    pub fn new(rules: &[IdentRule], version: u32) -> Self {
        let lines = rules
            .iter()
            .map(|r| Line {
                map: r.map_name.clone(),
                system: match r.system_user.strip_prefix('/') {
                    Some(re) => SystemUser::Regex(Regex::new(re).ok()),
                    None => SystemUser::Exact(r.system_user.clone()),
                },
                pg_role: r.database_user.clone(),
                quoted: r.database_user_quoted,
            })
            .collect();
        IdentMaps { lines, version }
    }

    /// Whether some line names the map.
    pub fn has_map(&self, map: &str) -> bool {
        self.lines.iter().any(|l| l.map == map)
    }

    /// `check_usermap(map, pg_role, auth_user, case_insensitive = false)`: with no map the
    /// names must be equal.
    pub fn check(
        &self,
        map: Option<&str>,
        pg_role: &str,
        auth_user: &str,
        roles: &Roles,
    ) -> MapResult {
        let Some(map) = map.filter(|m| !m.is_empty()) else {
            return if pg_role == auth_user {
                MapResult::Match
            } else {
                MapResult::NoMatch
            };
        };
        for line in self.lines.iter().filter(|l| l.map == map) {
            match self.line_matches(line, pg_role, auth_user, roles) {
                MapResult::NoMatch => continue,
                other => return other,
            }
        }
        MapResult::NoMatch
    }

    fn line_matches(
        &self,
        line: &Line,
        pg_role: &str,
        auth_user: &str,
        roles: &Roles,
    ) -> MapResult {
        // 16+ marks a name made by `\1` substitution as quoted: compared literally.
        let mut literal = line.quoted;
        let wanted: std::borrow::Cow<'_, str> = match &line.system {
            SystemUser::Exact(name) => {
                if name != auth_user {
                    return MapResult::NoMatch;
                }
                line.pg_role.as_str().into()
            }
            SystemUser::Regex(re) => {
                let Some(caps) = re.as_ref().and_then(|re| re.captures(auth_user)) else {
                    return MapResult::NoMatch;
                };
                match line.pg_role.find("\\1") {
                    Some(at) => {
                        let Some(group) = caps.get(1) else {
                            return MapResult::Error;
                        };
                        literal = true;
                        format!(
                            "{}{}{}",
                            &line.pg_role[..at],
                            group.as_str(),
                            &line.pg_role[at + 2..]
                        )
                        .into()
                    }
                    None => line.pg_role.as_str().into(),
                }
            }
        };
        // 16+: `all` and `+group` unquoted; a `/regex` quoted or not, but not one made
        // by `\1` substitution (checked against real 16.14, 17.10, 18.4 servers:
        // tests/differential_pg).
        let substituted = literal && !line.quoted;
        if self.version >= 16 {
            if wanted == "all" && !literal {
                return MapResult::Match;
            }
            if let Some(group) = wanted.strip_prefix('+').filter(|_| !literal) {
                return if roles.is_member(pg_role, group) {
                    MapResult::Match
                } else {
                    MapResult::NoMatch
                };
            }
            if let Some(re) = wanted.strip_prefix('/').filter(|_| !substituted) {
                let hit = Regex::new(re).is_ok_and(|re| re.is_match(pg_role));
                return if hit {
                    MapResult::Match
                } else {
                    MapResult::NoMatch
                };
            }
        }
        if wanted == pg_role {
            MapResult::Match
        } else {
            MapResult::NoMatch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Location;

    fn rule(map: &str, sys: &str, db: &str) -> IdentRule {
        IdentRule {
            location: Location {
                file: "pg_ident.conf".into(),
                line: 1,
                end_line: None,
                pointer: None,
            },
            map_name: map.into(),
            system_user: sys.into(),
            database_user: db.into(),
            database_user_quoted: false,
        }
    }

    #[test]
    fn maps() {
        let maps = IdentMaps::new(
            &[
                rule("certs", "alice.example.com", "alice"),
                rule("certs", r"/^(.*)@example\.com$", r"\1"),
                rule("nogroup", "/^x", r"\1"),
                rule("nogroup", "x", "x"),
            ],
            15,
        );
        let roles = Roles::new(None);
        assert_eq!(
            maps.check(Some("certs"), "alice", "alice.example.com", &roles),
            MapResult::Match
        );
        assert_eq!(
            maps.check(Some("certs"), "bob", "bob@example.com", &roles),
            MapResult::Match
        );
        assert_eq!(
            maps.check(Some("certs"), "bob", "bob@example.org", &roles),
            MapResult::NoMatch
        );
        assert_eq!(
            maps.check(Some("other"), "bob", "bob", &roles),
            MapResult::NoMatch
        );
        assert_eq!(maps.check(None, "bob", "bob", &roles), MapResult::Match);
        // The error on the first line stops the search.
        assert_eq!(
            maps.check(Some("nogroup"), "x", "x", &roles),
            MapResult::Error
        );
        assert!(maps.has_map("certs") && !maps.has_map("missing"));
    }

    #[test]
    fn quoted_keywords_are_names_from_16() {
        let mut quoted_all = rule("m", "bob", "all");
        quoted_all.database_user_quoted = true;
        let mut quoted_group = rule("m", "alice", "+admins");
        quoted_group.database_user_quoted = true;
        let lines = [
            quoted_all,
            quoted_group,
            rule("m", "/^(.*)$", r"\1"),
            rule("k", "bob", "all"),
        ];
        let roles = Roles::new(None);
        for version in [15, 16, 18] {
            let maps = IdentMaps::new(&lines, version);
            // Quoted: a role named `all`, on every version.
            assert_eq!(
                maps.check(Some("m"), "dave", "bob", &roles),
                MapResult::NoMatch
            );
            assert_eq!(
                maps.check(Some("m"), "all", "bob", &roles),
                MapResult::Match
            );
            assert_eq!(
                maps.check(Some("m"), "+admins", "alice", &roles),
                MapResult::Match
            );
            // `\1` makes a name compared literally.
            assert_eq!(
                maps.check(Some("m"), "all", "all", &roles),
                MapResult::Match
            );
            // Unquoted `all`: the keyword from 16 on.
            let any = maps.check(Some("k"), "dave", "bob", &roles);
            assert_eq!(any == MapResult::Match, version >= 16, "{version}");
        }
    }
}
