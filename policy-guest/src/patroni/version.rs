//! Patroni versions, and the releases where the REST API's access behaviour changed.
//!
//! The boundaries come from the handler decorators of every tag of `patroni/patroni`
//! (`patroni/api.py`), not from the release notes alone: `HEAD` and `POST /sigterm`
//! appeared in 2.1.5 and `POST /failsafe` stopped checking members in 3.3.3 (a backport of
//! PR #3113 that 4.0.0 also carries).

use std::fmt;

/// A Patroni release, `major.minor.patch`. Pre-release and post-release suffixes
/// (`4.2.0rc1`, `4.1.5.post1`) are read as the release they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u16, pub u16, pub u16);

impl Version {
    /// The newest release whose behaviour patrol knows, checked against the real server:
    /// the behaviour assumed when the context gives no `patroni_version`.
    pub const NEWEST: Version = Version(4, 1, 5);

    /// Parses `4.1.5`, `v4.1.5`, `4.1`, `4`, `4.2.0rc1`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Version> {
        let text = text.trim();
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let mut parts = [0u16; 3];
        let mut count = 0;
        let mut rest = text;
        while count < 3 {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                break;
            }
            parts[count] = rest[..digits].parse().ok()?;
            count += 1;
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) && count < 3 => rest = r,
                _ => break,
            }
        }
        if count == 0 {
            return None;
        }
        // What may follow the numbers: a PEP 440 pre/post/dev suffix, a fourth number, a
        // local or distribution suffix.
        let tail = rest.strip_prefix('.').unwrap_or(rest);
        let suffix_ok = rest.is_empty()
            || ["a", "b", "c", "rc", "post", "dev"]
                .iter()
                .any(|p| tail.starts_with(p))
                && tail
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
            || rest.starts_with(['-', '+'])
            || rest.starts_with('.') && tail.starts_with(|c: char| c.is_ascii_digit());
        suffix_ok.then_some(Version(parts[0], parts[1], parts[2]))
    }

    /// Basic auth is checked only when no valid client certificate is present (before
    /// 2.0.0, `check_auth`); from 2.0.0 both are checked independently.
    pub fn cert_replaces_basic_auth(self) -> bool {
        self < Version(2, 0, 0)
    }

    /// `restapi.allowlist` and `allowlist_include_members` exist (2.1.0, PR #1959).
    pub fn has_allowlist(self) -> bool {
        self >= Version(2, 1, 0)
    }

    /// `POST /failsafe` skips the members part of the IP check (PR #3113, 3.3.3 and 4.0.0).
    pub fn failsafe_skips_members(self) -> bool {
        self >= Version(3, 3, 3)
    }

    /// `POST /mpp` exists without `@check_access` (PR #2991, 3.3.0) and is not yet
    /// protected. Observed unprotected on a real 4.1.5; PR #3722 protects it in a later
    /// release, assumed here to be the next one.
    pub fn mpp_unprotected(self) -> bool {
        self >= Version(3, 3, 0) && self <= Version::NEWEST
    }

    /// Whether this version is newer than any patrol has checked (behaviour inferred).
    pub fn is_future(self) -> bool {
        self > Version::NEWEST
    }

    /// Role-based `parameters_primary|replica|standby_leader` (PR #3530), merged over
    /// `parameters` and able to override a locally pinned GUC. On master and the 4.2.0
    /// branch, in no release up to 4.1.5.
    pub fn has_role_parameters(self) -> bool {
        self >= Version(4, 2, 0)
    }
}

impl Default for Version {
    fn default() -> Self {
        Version::NEWEST
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn parses_release_strings() {
        let cases = [
            ("4.1.5", Some(Version(4, 1, 5))),
            ("v4.1.5", Some(Version(4, 1, 5))),
            (" 3.3 ", Some(Version(3, 3, 0))),
            ("4", Some(Version(4, 0, 0))),
            ("4.2.0rc1", Some(Version(4, 2, 0))),
            ("4.1.5.post1", Some(Version(4, 1, 5))),
            ("4.1.5.1", Some(Version(4, 1, 5))),
            ("2.1.0-1.pgdg", Some(Version(2, 1, 0))),
            ("", None),
            ("latest", None),
            ("4.x", None),
            ("4.1.5 beta", None),
        ];
        for (text, want) in cases {
            assert_eq!(Version::parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn boundaries() {
        assert!(Version(1, 6, 5).cert_replaces_basic_auth());
        assert!(!Version(2, 0, 0).cert_replaces_basic_auth());
        assert!(!Version(2, 0, 2).has_allowlist());
        assert!(Version(2, 1, 0).has_allowlist());
        assert!(!Version(3, 3, 2).failsafe_skips_members());
        assert!(Version(3, 3, 3).failsafe_skips_members());
        assert!(!Version(3, 2, 2).mpp_unprotected());
        assert!(Version(3, 3, 0).mpp_unprotected());
        assert!(Version(4, 1, 5).mpp_unprotected());
        assert!(!Version(4, 2, 0).mpp_unprotected());
    }
}
