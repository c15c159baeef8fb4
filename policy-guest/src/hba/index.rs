//! A first-match index over compiled pg_hba rules.
//!
//! PostgreSQL tries the records top to bottom. With ten thousand records and a hundred
//! thousand connections that is a billion record checks, so instead each column gets an
//! index from value to the set of rules that accept it (a bitset over rule positions, or
//! a short list), and a query ANDs the four columns' sets and takes the lowest bit. The
//! same index answers the questions of the shadow analysis: "which rules *cover* this
//! database name / address network" (containment instead of membership) and "which
//! rules might *overlap* it".

use std::collections::HashMap as StdHashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::rule::{Address, DbToken, GSS, LOCAL, Net, PLAIN, Pattern, Rule, SSL, UserToken};

/// The multiply-rotate hash of rustc (FxHash): the keys are the user's own names and
/// addresses, so SipHash's flooding resistance buys nothing and costs most of a lookup.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map with [`Fx`].
pub type FxMap<K, V> = StdHashMap<K, V, BuildHasherDefault<Fx>>;
type HashMap<K, V> = FxMap<K, V>;

/// A set of rule positions.
#[derive(Debug, Clone)]
enum Set {
    Sparse(Vec<u32>),
    Dense(Vec<u64>),
}

impl Set {
    fn build(list: Vec<u32>, words: usize) -> Set {
        if list.len() > words {
            let mut dense = vec![0u64; words];
            for i in list {
                dense[i as usize / 64] |= 1 << (i % 64);
            }
            Set::Dense(dense)
        } else {
            Set::Sparse(list)
        }
    }

    fn or_into(&self, out: &mut [u64]) {
        match self {
            Set::Sparse(list) => {
                for &i in list {
                    out[i as usize / 64] |= 1 << (i % 64);
                }
            }
            Set::Dense(bits) => {
                for (o, b) in out.iter_mut().zip(bits) {
                    *o |= b;
                }
            }
        }
    }
}

/// Rules grouped by one network mask: masked address → rules.
#[derive(Debug, Clone)]
struct MaskGroup {
    mask: u128,
    by_addr: HashMap<u128, Set>,
    /// Every rule of the group (for conservative overlap answers).
    every: Vec<u64>,
}

/// A mask group while the index is built: mask, masked address → rules, all its rules.
type RawGroup = (u128, HashMap<u128, Vec<u32>>, Vec<u64>);

/// Working memory for queries: one bitset per column.
#[derive(Debug, Clone)]
pub struct Scratch {
    db: Vec<u64>,
    user: Vec<u64>,
    addr: Vec<u64>,
}

impl Scratch {
    pub fn new(index: &Index) -> Self {
        Scratch {
            db: vec![0; index.words],
            user: vec![0; index.words],
            addr: vec![0; index.words],
        }
    }
}

/// The index of one rule list.
#[derive(Debug, Clone)]
pub struct Index {
    pub(crate) words: usize,
    /// Rules admitting each connection class (LOCAL, PLAIN, SSL, GSS).
    class: [Vec<u64>; 4],
    ones: Vec<u64>,
    db_all: Vec<u64>,
    db_repl: Vec<u64>,
    db_sameuser: Vec<u64>,
    db_samerole: Vec<u64>,
    db_regex_any: Vec<u64>,
    db_names: HashMap<String, Set>,
    db_regex: Vec<(Pattern, Set)>,
    user_all: Vec<u64>,
    user_group_any: Vec<u64>,
    user_regex_any: Vec<u64>,
    user_names: HashMap<String, Set>,
    user_groups: HashMap<String, Set>,
    user_regex: Vec<(Pattern, Set)>,
    /// `all` addresses and `local` rules (which have no address column).
    addr_any: Vec<u64>,
    addr_samehost: Vec<u64>,
    addr_samenet: Vec<u64>,
    addr_host_any: Vec<u64>,
    nets: [Vec<MaskGroup>; 2],
    host_exact: HashMap<String, Set>,
    host_suffix: HashMap<String, Set>,
}

/// The position of a class bit in [`Index::class`].
pub fn class_slot(class: u8) -> usize {
    match class {
        LOCAL => 0,
        PLAIN => 1,
        SSL => 2,
        _ => 3,
    }
}

fn set_bit(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

impl Index {
    pub fn new(rules: &[Rule]) -> Index {
        let n = rules.len();
        let words = n.div_ceil(64).max(1);
        let zero = || vec![0u64; words];
        let mut class = [zero(), zero(), zero(), zero()];
        let mut ones = zero();
        let (mut db_all, mut db_repl, mut db_sameuser, mut db_samerole, mut db_regex_any) =
            (zero(), zero(), zero(), zero(), zero());
        let (mut user_all, mut user_group_any, mut user_regex_any) = (zero(), zero(), zero());
        let (mut addr_any, mut addr_samehost, mut addr_samenet, mut addr_host_any) =
            (zero(), zero(), zero(), zero());
        let mut db_names: HashMap<String, Vec<u32>> = HashMap::default();
        let mut db_regex: Vec<(Pattern, Vec<u32>)> = Vec::new();
        let mut user_names: HashMap<String, Vec<u32>> = HashMap::default();
        let mut user_groups: HashMap<String, Vec<u32>> = HashMap::default();
        let mut user_regex: Vec<(Pattern, Vec<u32>)> = Vec::new();
        let mut nets: [Vec<RawGroup>; 2] = [Vec::new(), Vec::new()];
        let mut host_exact: HashMap<String, Vec<u32>> = HashMap::default();
        let mut host_suffix: HashMap<String, Vec<u32>> = HashMap::default();

        fn push_unique(list: &mut Vec<u32>, i: u32) {
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
        for (i, r) in rules.iter().enumerate() {
            let iu = i as u32;
            set_bit(&mut ones, i);
            for c in [LOCAL, PLAIN, SSL, GSS] {
                if r.classes & c != 0 {
                    set_bit(&mut class[class_slot(c)], i);
                }
            }
            for d in &r.databases {
                match d {
                    DbToken::All => set_bit(&mut db_all, i),
                    DbToken::SameUser => set_bit(&mut db_sameuser, i),
                    DbToken::SameRole => set_bit(&mut db_samerole, i),
                    DbToken::Replication => set_bit(&mut db_repl, i),
                    DbToken::Name(name) => {
                        push_unique(db_names.entry(name.clone()).or_default(), iu)
                    }
                    DbToken::Regex(p) => {
                        set_bit(&mut db_regex_any, i);
                        match db_regex.iter_mut().find(|(q, _)| q.text == p.text) {
                            Some((_, list)) => push_unique(list, iu),
                            None => db_regex.push((p.clone(), vec![iu])),
                        }
                    }
                }
            }
            for u in &r.users {
                match u {
                    UserToken::All => set_bit(&mut user_all, i),
                    UserToken::Name(name) => {
                        push_unique(user_names.entry(name.clone()).or_default(), iu)
                    }
                    UserToken::Group(g) => {
                        set_bit(&mut user_group_any, i);
                        push_unique(user_groups.entry(g.clone()).or_default(), iu)
                    }
                    UserToken::Regex(p) => {
                        set_bit(&mut user_regex_any, i);
                        match user_regex.iter_mut().find(|(q, _)| q.text == p.text) {
                            Some((_, list)) => push_unique(list, iu),
                            None => user_regex.push((p.clone(), vec![iu])),
                        }
                    }
                }
            }
            match &r.address {
                None => set_bit(&mut addr_any, i),
                Some(Address::Any) => set_bit(&mut addr_any, i),
                Some(Address::SameHost) => set_bit(&mut addr_samehost, i),
                Some(Address::SameNet) => set_bit(&mut addr_samenet, i),
                Some(Address::Net(net)) => {
                    let fam = &mut nets[usize::from(net.v6)];
                    let slot = match fam.iter().position(|(m, _, _)| *m == net.mask) {
                        Some(p) => p,
                        None => {
                            fam.push((net.mask, HashMap::default(), zero()));
                            fam.len() - 1
                        }
                    };
                    let group = &mut fam[slot];
                    push_unique(group.1.entry(net.addr).or_default(), iu);
                    set_bit(&mut group.2, i);
                }
                Some(Address::Host { name, suffix }) => {
                    set_bit(&mut addr_host_any, i);
                    let map = if *suffix {
                        &mut host_suffix
                    } else {
                        &mut host_exact
                    };
                    push_unique(map.entry(name.clone()).or_default(), iu);
                }
                Some(Address::Unusable) => {}
            }
        }
        let sets = |m: HashMap<String, Vec<u32>>| -> HashMap<String, Set> {
            m.into_iter()
                .map(|(k, v)| (k, Set::build(v, words)))
                .collect()
        };
        let pats = |v: Vec<(Pattern, Vec<u32>)>| -> Vec<(Pattern, Set)> {
            v.into_iter()
                .map(|(p, l)| (p, Set::build(l, words)))
                .collect()
        };
        let groups = |v: Vec<RawGroup>| -> Vec<MaskGroup> {
            let mut gs: Vec<MaskGroup> = v
                .into_iter()
                .map(|(mask, by, every)| MaskGroup {
                    mask,
                    by_addr: by
                        .into_iter()
                        .map(|(k, l)| (k, Set::build(l, words)))
                        .collect(),
                    every,
                })
                .collect();
            gs.sort_by_key(|g| std::cmp::Reverse(g.mask.count_ones()));
            gs
        };
        let [v4, v6] = nets;
        Index {
            words,
            class,
            ones,
            db_all,
            db_repl,
            db_sameuser,
            db_samerole,
            db_regex_any,
            db_names: sets(db_names),
            db_regex: pats(db_regex),
            user_all,
            user_group_any,
            user_regex_any,
            user_names: sets(user_names),
            user_groups: sets(user_groups),
            user_regex: pats(user_regex),
            addr_any,
            addr_samehost,
            addr_samenet,
            addr_host_any,
            nets: [groups(v4), groups(v6)],
            host_exact: sets(host_exact),
            host_suffix: sets(host_suffix),
        }
    }

    /// The lowest rule position `>= from` set in the class's set and all three scratch
    /// sets.
    pub fn first(&self, class: u8, s: &Scratch, from: usize) -> Option<usize> {
        let c = &self.class[class_slot(class)];
        let start = from / 64;
        let words = c
            .iter()
            .zip(&s.db)
            .zip(&s.user)
            .zip(&s.addr)
            .enumerate()
            .skip(start);
        for (w, (((c, d), u), a)) in words {
            let mut x = c & d & u & a;
            if w == start {
                x &= u64::MAX << (from % 64);
            }
            if x != 0 {
                return Some(w * 64 + x.trailing_zeros() as usize);
            }
        }
        None
    }

    // ----- matching one connection ------------------------------------------------------

    /// Rules whose database column accepts the connection.
    pub fn db_for(
        &self,
        s: &mut Scratch,
        db: &str,
        user: &str,
        physical: bool,
        member_of_db: bool,
    ) {
        if physical {
            // A physical replication connection matches the `replication` keyword only.
            s.db.copy_from_slice(&self.db_repl);
            return;
        }
        s.db.copy_from_slice(&self.db_all);
        if let Some(set) = self.db_names.get(db) {
            set.or_into(&mut s.db);
        }
        if db == user {
            or(&mut s.db, &self.db_sameuser);
        }
        if member_of_db {
            or(&mut s.db, &self.db_samerole);
        }
        for (p, set) in &self.db_regex {
            if p.is_match(db) {
                set.or_into(&mut s.db);
            }
        }
    }

    /// Rules whose user column accepts `user`; `groups` calls back with every role the
    /// user is a member of.
    pub fn user_for(&self, s: &mut Scratch, user: &str, groups: impl FnOnce(&mut dyn FnMut(&str))) {
        s.user.copy_from_slice(&self.user_all);
        if let Some(set) = self.user_names.get(user) {
            set.or_into(&mut s.user);
        }
        if !self.user_groups.is_empty() {
            let user_bits = &mut s.user;
            let map = &self.user_groups;
            groups(&mut |g: &str| {
                if let Some(set) = map.get(g) {
                    set.or_into(user_bits);
                }
            });
        }
        for (p, set) in &self.user_regex {
            if p.is_match(user) {
                set.or_into(&mut s.user);
            }
        }
    }

    /// Rules whose address column accepts a Unix-socket connection (all: `local` rules
    /// have none, the class filter does the rest).
    pub fn addr_local(&self, s: &mut Scratch) {
        s.addr.copy_from_slice(&self.ones);
    }

    /// Rules whose address column accepts a TCP client address. `names` are the client's
    /// (lower-case) host names, for host-name records.
    pub fn addr_for(
        &self,
        s: &mut Scratch,
        v6: bool,
        ip: u128,
        samehost: bool,
        samenet: bool,
        names: &[String],
    ) {
        s.addr.copy_from_slice(&self.addr_any);
        if samehost {
            or(&mut s.addr, &self.addr_samehost);
        }
        if samenet {
            or(&mut s.addr, &self.addr_samenet);
        }
        for g in &self.nets[usize::from(v6)] {
            if let Some(set) = g.by_addr.get(&(ip & g.mask)) {
                set.or_into(&mut s.addr);
            }
        }
        for name in names {
            self.or_hostname(&mut s.addr, name, false);
        }
    }

    /// Adds the rules whose host-name pattern matches `name` (exact, or a `.suffix` it
    /// ends with). With `suffix_only`, `name` is itself a suffix pattern and only suffix
    /// patterns that contain it count.
    fn or_hostname(&self, out: &mut [u64], name: &str, suffix_only: bool) {
        if !suffix_only && let Some(set) = self.host_exact.get(name) {
            set.or_into(out);
        }
        if self.host_suffix.is_empty() {
            return;
        }
        for (i, _) in name.match_indices('.') {
            if let Some(set) = self.host_suffix.get(&name[i..]) {
                set.or_into(out);
            }
        }
    }

    // ----- coverage and overlap (shadow analysis) ---------------------------------------

    /// Rules whose database column accepts every connection `token` accepts. `user` is
    /// the user atom when it is a single name (so `sameuser` can cover a name atom).
    pub fn db_cover(&self, s: &mut Scratch, token: &DbToken, user_name: Option<&str>) {
        match token {
            DbToken::Replication => s.db.copy_from_slice(&self.db_repl),
            DbToken::All => s.db.copy_from_slice(&self.db_all),
            DbToken::SameUser => {
                s.db.copy_from_slice(&self.db_all);
                or(&mut s.db, &self.db_sameuser);
            }
            DbToken::SameRole => {
                s.db.copy_from_slice(&self.db_all);
                or(&mut s.db, &self.db_samerole);
            }
            DbToken::Name(name) => {
                s.db.copy_from_slice(&self.db_all);
                if let Some(set) = self.db_names.get(name) {
                    set.or_into(&mut s.db);
                }
                if user_name == Some(name.as_str()) {
                    or(&mut s.db, &self.db_sameuser);
                }
                for (p, set) in &self.db_regex {
                    if p.is_match(name) {
                        set.or_into(&mut s.db);
                    }
                }
            }
            DbToken::Regex(p) => {
                s.db.copy_from_slice(&self.db_all);
                if let Some((_, set)) = self.db_regex.iter().find(|(q, _)| q.text == p.text) {
                    set.or_into(&mut s.db);
                }
            }
        }
    }

    /// Rules whose database column might accept some connection `token` accepts.
    pub fn db_overlap(&self, s: &mut Scratch, token: &DbToken) {
        match token {
            DbToken::Replication => s.db.copy_from_slice(&self.db_repl),
            DbToken::Name(name) => {
                s.db.copy_from_slice(&self.db_all);
                or(&mut s.db, &self.db_sameuser);
                or(&mut s.db, &self.db_samerole);
                or(&mut s.db, &self.db_regex_any);
                if let Some(set) = self.db_names.get(name) {
                    set.or_into(&mut s.db);
                }
            }
            _ => s.db.copy_from_slice(&self.ones),
        }
    }

    /// Rules whose user column accepts every user `token` accepts, whatever the roles.
    pub fn user_cover(&self, s: &mut Scratch, token: &UserToken) {
        s.user.copy_from_slice(&self.user_all);
        match token {
            UserToken::All => {}
            UserToken::Name(name) => {
                if let Some(set) = self.user_names.get(name) {
                    set.or_into(&mut s.user);
                }
                for (p, set) in &self.user_regex {
                    if p.is_match(name) {
                        set.or_into(&mut s.user);
                    }
                }
            }
            UserToken::Group(g) => {
                if let Some(set) = self.user_groups.get(g) {
                    set.or_into(&mut s.user);
                }
            }
            UserToken::Regex(p) => {
                if let Some((_, set)) = self.user_regex.iter().find(|(q, _)| q.text == p.text) {
                    set.or_into(&mut s.user);
                }
            }
        }
    }

    /// Rules whose user column might accept some user `token` accepts.
    pub fn user_overlap(&self, s: &mut Scratch, token: &UserToken) {
        match token {
            UserToken::Name(name) => {
                s.user.copy_from_slice(&self.user_all);
                or(&mut s.user, &self.user_group_any);
                or(&mut s.user, &self.user_regex_any);
                if let Some(set) = self.user_names.get(name) {
                    set.or_into(&mut s.user);
                }
            }
            _ => s.user.copy_from_slice(&self.ones),
        }
    }

    /// Rules whose address column accepts every address `addr` accepts (None: a `local`
    /// rule, whose class filter is enough).
    pub fn addr_cover(&self, s: &mut Scratch, addr: Option<&Address>) {
        let Some(addr) = addr else {
            s.addr.copy_from_slice(&self.ones);
            return;
        };
        s.addr.copy_from_slice(&self.addr_any);
        match addr {
            Address::Any => {}
            Address::SameHost => {
                or(&mut s.addr, &self.addr_samehost);
                or(&mut s.addr, &self.addr_samenet);
            }
            Address::SameNet => or(&mut s.addr, &self.addr_samenet),
            Address::Net(net) => {
                for g in &self.nets[usize::from(net.v6)] {
                    // A group's networks contain `net` only if their mask is within its mask.
                    if g.mask & !net.mask == 0
                        && let Some(set) = g.by_addr.get(&(net.addr & g.mask))
                    {
                        set.or_into(&mut s.addr);
                    }
                }
            }
            Address::Host { name, suffix } => self.or_hostname(&mut s.addr, name, *suffix),
            // Matches nothing, so anything covers it.
            Address::Unusable => s.addr.copy_from_slice(&self.ones),
        }
    }

    /// Rules whose address column might accept some address `addr` accepts.
    pub fn addr_overlap(&self, s: &mut Scratch, addr: Option<&Address>) {
        match addr {
            Some(Address::Net(net)) => {
                s.addr.copy_from_slice(&self.addr_any);
                or(&mut s.addr, &self.addr_samehost);
                or(&mut s.addr, &self.addr_samenet);
                or(&mut s.addr, &self.addr_host_any);
                for g in &self.nets[usize::from(net.v6)] {
                    if g.mask & !net.mask == 0 {
                        if let Some(set) = g.by_addr.get(&(net.addr & g.mask)) {
                            set.or_into(&mut s.addr);
                        }
                    } else {
                        // Narrower networks: some may lie inside `net`; say they all might.
                        or(&mut s.addr, &g.every);
                    }
                }
            }
            Some(Address::Unusable) => s.addr.fill(0),
            _ => s.addr.copy_from_slice(&self.ones),
        }
    }

    /// Whether any rule uses a network of the family.
    pub fn net_groups(&self, v6: bool) -> usize {
        self.nets[usize::from(v6)].len()
    }
}

fn or(out: &mut [u64], bits: &[u64]) {
    for (o, b) in out.iter_mut().zip(bits) {
        *o |= b;
    }
}

/// Whether `net` (contiguous) is covered by the union of `nets`.
pub fn union_covers(net: &Net, nets: &mut [(u128, u128)]) -> bool {
    let Some((lo, hi)) = net.range() else {
        return false;
    };
    nets.sort_unstable();
    let mut next = lo;
    for &(a, b) in nets.iter() {
        if a > next {
            break;
        }
        if b >= next {
            if b >= hi {
                return true;
            }
            next = b + 1;
        }
    }
    false
}
