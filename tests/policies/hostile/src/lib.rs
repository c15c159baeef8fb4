//! A hostile policy for the sandbox tests. Its `mode` setting picks the misbehaviour (and
//! `count`, where it applies, how much of it):
//! `loop` (never returns), `memory` (allocates without end), `trap` (panics), `stack`
//! (recurses until the wasm stack overflows), `output` (returns hundreds of MiB of
//! findings), `error` (returns its own error), `big-error` (a 10 MB error message),
//! `deny-settings` (rejects its settings), `big-detail` (one 1 MB decision reason for every
//! sample), `many-findings` (`count` small findings), `many-codes` (`count` findings, each
//! with its own code `c0`, `c1`…, declared only by `hostile-wide`), `undeclared` (a finding
//! with a code its metadata does not declare), `duplicate` (answers every request twice,
//! allow then deny), `log-flood` (`count` log lines), `allow-all` (answers every sample
//! with allow: used to prove that a failing policy's allows never count), `overlap` (a
//! high finding on the first document whose fix holds two overlapping line edits),
//! `lines-outside` (a fix editing line 1000 of it), `deep-pointer` (a fix setting a value
//! 10,000 levels deep).
//!
//! The modes live in [`modes`], shared with `tests/policies/hostile-wide`, which runs them
//! under other metadata.

pub mod modes;

pub use modes::Hostile;

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(Hostile);
