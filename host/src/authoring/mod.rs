//! Writing org policies: [`scaffold`] creates a policy crate against the `policy-guest`
//! SDK, [`build`] turns it into a sandboxed component (sharing [`toolchain`] with
//! `host/build.rs`, which builds the built-in policies the same way). Testing them is
//! [`crate::testing`].

pub mod build;
pub mod scaffold;
pub mod toolchain;
