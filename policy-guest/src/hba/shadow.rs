//! Records no connection can reach (shadowed) and records whose removal changes nothing
//! (redundant).
//!
//! A record's connections form a product: connection classes × database tokens × user
//! tokens × one address. It is split into atoms (one class, one database token, one user
//! token, the address); a record is **shadowed** when every atom is covered by an earlier
//! record (every column contains the atom's), or — for a network address — by the union
//! of earlier networks whose other columns cover the atom. A record is **redundant** when,
//! for every atom, the first later live record that might overlap it covers it and
//! authenticates alike, so that without the record the same connections get the same
//! answer. Both tests are exact for names, keywords and networks and conservative
//! elsewhere (group membership, regular expressions, host names, `samenet` against
//! networks): when in doubt a record is never reported.

use super::index::{Index, Scratch, union_covers};
use super::rule::{Address, DbToken, GSS, LOCAL, PLAIN, Rule, SSL, UserToken};

/// Why a record is never the one that decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// Every connection the record accepts is taken by the earlier records `by`.
    Shadowed { rule: usize, by: Vec<usize> },
    /// The later records `by` answer every connection of the record alike.
    Redundant { rule: usize, by: Vec<usize> },
}

/// Database-column atoms of a record: a `sameuser` beside a single user name is that name.
fn db_atoms<'a>(
    r: &'a Rule,
    user: &'a UserToken,
) -> impl Iterator<Item = (DbToken, Option<&'a str>)> + 'a {
    let user_name = match user {
        UserToken::Name(n) => Some(n.as_str()),
        _ => None,
    };
    r.databases.iter().map(move |d| match (d, user_name) {
        (DbToken::SameUser, Some(n)) => (DbToken::Name(n.to_string()), Some(n)),
        _ => (d.clone(), user_name),
    })
}

fn analyzable(r: &Rule) -> bool {
    r.classes != 0
        && !matches!(r.address, Some(Address::Unusable))
        && r.databases
            .iter()
            .all(|d| !matches!(d, DbToken::Regex(p) if p.re.is_none()))
        && r.users
            .iter()
            .all(|u| !matches!(u, UserToken::Regex(p) if p.re.is_none()))
}

fn class_bits(classes: u8) -> impl Iterator<Item = u8> {
    [LOCAL, PLAIN, SSL, GSS]
        .into_iter()
        .filter(move |c| classes & c != 0)
}

/// Finds the shadowed and redundant records. `same_auth(a, b)` says whether records `a`
/// and `b` authenticate alike (same method and options).
pub fn analyze(
    rules: &[Rule],
    index: &Index,
    same_auth: impl Fn(usize, usize) -> bool,
) -> Vec<Unreachable> {
    let mut s = Scratch::new(index);
    let mut out = Vec::new();
    let mut live = vec![u64::MAX; index.words];
    for (j, r) in rules.iter().enumerate() {
        if !analyzable(r) {
            continue;
        }
        if let Some(by) = shadowed_by(rules, index, &mut s, j) {
            live[j / 64] &= !(1 << (j % 64));
            out.push(Unreachable::Shadowed { rule: j, by });
        }
    }
    // Redundancy, ignoring shadowed records and, round after round, the redundant ones
    // already found (their removal may make an earlier record redundant).
    loop {
        let mut found = Vec::new();
        for (j, r) in rules.iter().enumerate() {
            if !analyzable(r) || live[j / 64] & (1 << (j % 64)) == 0 {
                continue;
            }
            if let Some(by) = redundant_by(rules, index, &mut s, j, &live, &same_auth) {
                found.push((j, by));
            }
        }
        if found.is_empty() {
            break;
        }
        // Only remove, per round, records whose answer-givers stay.
        let mut removed_any = false;
        for (j, by) in found {
            if by.iter().all(|b| live[b / 64] & (1 << (b % 64)) != 0) && !by.contains(&j) {
                live[j / 64] &= !(1 << (j % 64));
                out.push(Unreachable::Redundant { rule: j, by });
                removed_any = true;
            }
        }
        if !removed_any {
            break;
        }
    }
    out
}

fn shadowed_by(rules: &[Rule], index: &Index, s: &mut Scratch, j: usize) -> Option<Vec<usize>> {
    let r = &rules[j];
    let mut by = Vec::new();
    for class in class_bits(r.classes) {
        for user in &r.users {
            for (db, user_name) in db_atoms(r, user) {
                index.db_cover(s, &db, user_name);
                index.user_cover(s, user);
                index.addr_cover(s, r.address.as_ref());
                if let Some(k) = index.first(class, s, 0).filter(|k| *k < j) {
                    by.push(k);
                    continue;
                }
                // A network may be covered by several earlier networks together.
                let Some(Address::Net(net)) = &r.address else {
                    return None;
                };
                net.range()?;
                index.addr_overlap(s, r.address.as_ref());
                let mut ranges = Vec::new();
                let mut from = 0;
                let mut users = Vec::new();
                while let Some(k) = index.first(class, s, from).filter(|k| *k < j) {
                    from = k + 1;
                    if let Some(Address::Net(other)) = &rules[k].address
                        && other.v6 == net.v6
                        && let Some(range) = other.range()
                        && other.overlaps(net)
                    {
                        ranges.push(range);
                        users.push(k);
                    }
                }
                if !union_covers(net, &mut ranges) {
                    return None;
                }
                by.extend(users);
            }
        }
    }
    by.sort_unstable();
    by.dedup();
    Some(by)
}

fn redundant_by(
    rules: &[Rule],
    index: &Index,
    s: &mut Scratch,
    j: usize,
    live: &[u64],
    same_auth: &impl Fn(usize, usize) -> bool,
) -> Option<Vec<usize>> {
    let r = &rules[j];
    let mut by = Vec::new();
    for class in class_bits(r.classes) {
        for user in &r.users {
            for (db, user_name) in db_atoms(r, user) {
                index.db_overlap(s, &db);
                index.user_overlap(s, user);
                index.addr_overlap(s, r.address.as_ref());
                let next = first_live(index, class, s, j + 1, live)?;
                index.db_cover(s, &db, user_name);
                index.user_cover(s, user);
                index.addr_cover(s, r.address.as_ref());
                let cover = first_live(index, class, s, j + 1, live)?;
                if next != cover || !same_auth(j, cover) {
                    return None;
                }
                by.push(cover);
            }
        }
    }
    by.sort_unstable();
    by.dedup();
    Some(by)
}

fn first_live(
    index: &Index,
    class: u8,
    s: &Scratch,
    mut from: usize,
    live: &[u64],
) -> Option<usize> {
    loop {
        let k = index.first(class, s, from)?;
        if live[k / 64] & (1 << (k % 64)) != 0 {
            return Some(k);
        }
        from = k + 1;
    }
}
