//! Role existence and membership, as pg_hba's `is_member` sees them.
//!
//! PostgreSQL's `is_member` answers "no" when either role does not exist, and otherwise
//! asks `is_member_of_role_nosuper`: direct or indirect (transitive) membership, a role
//! being a member of itself, superuser status giving nothing. The context's `roles` lists
//! every role with the roles it is a direct member of; the closure is computed once here.
//! Without that list every role exists and is a member of itself only.

use super::index::FxMap as HashMap;

/// Role facts from `context.roles`.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    known: Option<Known>,
}

#[derive(Debug, Clone)]
struct Known {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    /// For each role, the roles it is a member of, directly or not, itself included;
    /// sorted.
    member_of: Vec<Vec<u32>>,
}

impl Roles {
    /// From `context.roles` (None: every role exists, member of itself only). A role named
    /// only as the target of a membership exists too.
    pub fn new(roles: Option<&[(String, Vec<String>)]>) -> Self {
        let Some(list) = roles else {
            return Roles { known: None };
        };
        let mut ids: HashMap<String, u32> = HashMap::default();
        let mut names: Vec<String> = Vec::new();
        let id = |name: &str, ids: &mut HashMap<String, u32>, names: &mut Vec<String>| -> u32 {
            if let Some(&i) = ids.get(name) {
                return i;
            }
            let i = names.len() as u32;
            ids.insert(name.to_string(), i);
            names.push(name.to_string());
            i
        };
        let mut direct: Vec<Vec<u32>> = Vec::new();
        for (role, parents) in list {
            let r = id(role, &mut ids, &mut names) as usize;
            let ps: Vec<u32> = parents
                .iter()
                .map(|p| id(p, &mut ids, &mut names))
                .collect();
            direct.resize(names.len(), Vec::new());
            direct[r].extend(ps);
        }
        direct.resize(names.len(), Vec::new());
        let member_of = (0..names.len())
            .map(|start| {
                let mut seen = vec![false; names.len()];
                let mut stack = vec![start as u32];
                let mut out = Vec::new();
                while let Some(r) = stack.pop() {
                    if std::mem::replace(&mut seen[r as usize], true) {
                        continue;
                    }
                    out.push(r);
                    stack.extend(direct[r as usize].iter().copied());
                }
                out.sort_unstable();
                out
            })
            .collect();
        Roles {
            known: Some(Known {
                ids,
                names,
                member_of,
            }),
        }
    }

    /// Whether the context lists roles at all.
    pub fn is_known(&self) -> bool {
        self.known.is_some()
    }

    /// Every role the context lists; None when it gives no roles.
    pub fn names(&self) -> Option<&[String]> {
        self.known.as_ref().map(|k| k.names.as_slice())
    }

    pub fn exists(&self, role: &str) -> bool {
        self.known.as_ref().is_none_or(|k| k.ids.contains_key(role))
    }

    /// `is_member(user, role)`: both exist and user is (transitively) a member of role.
    pub fn is_member(&self, user: &str, role: &str) -> bool {
        match &self.known {
            None => user == role,
            Some(k) => match (k.ids.get(user), k.ids.get(role)) {
                (Some(u), Some(r)) => k.member_of[*u as usize].binary_search(r).is_ok(),
                _ => false,
            },
        }
    }

    /// Calls `f` with every role `user` is a member of (itself included when it exists).
    pub fn for_each_membership(&self, user: &str, mut f: impl FnMut(&str)) {
        match &self.known {
            None => f(user),
            Some(k) => {
                if let Some(u) = k.ids.get(user) {
                    for r in &k.member_of[*u as usize] {
                        f(&k.names[*r as usize]);
                    }
                }
            }
        }
    }

    /// Every role that is (transitively) a member of `role`, itself included; None when
    /// the context gives no roles.
    pub fn members_of(&self, role: &str) -> Option<Vec<&str>> {
        let k = self.known.as_ref()?;
        let Some(r) = k.ids.get(role) else {
            return Some(Vec::new());
        };
        Some(
            k.member_of
                .iter()
                .enumerate()
                .filter(|(_, m)| m.binary_search(r).is_ok())
                .map(|(i, _)| k.names[i].as_str())
                .collect(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn membership_is_transitive_and_needs_existence() {
        let list = vec![
            ("alice".to_string(), vec!["admins".to_string()]),
            ("admins".to_string(), vec!["staff".to_string()]),
            ("bob".to_string(), vec![]),
        ];
        let roles = Roles::new(Some(&list));
        assert!(roles.is_member("alice", "staff"));
        assert!(roles.is_member("alice", "alice"));
        assert!(
            roles.is_member("staff", "staff"),
            "a role named only as a target exists"
        );
        assert!(!roles.is_member("bob", "admins"));
        assert!(
            !roles.is_member("carol", "carol"),
            "a role that does not exist is a member of nothing"
        );
        let mut seen = Vec::new();
        roles.for_each_membership("alice", |r| seen.push(r.to_string()));
        seen.sort();
        assert_eq!(seen, ["admins", "alice", "staff"]);
        assert_eq!(roles.members_of("staff").unwrap().len(), 3);

        let open = Roles::new(None);
        assert!(open.is_member("carol", "carol") && !open.is_member("carol", "admins"));
        assert!(open.exists("anyone"));
    }
}
