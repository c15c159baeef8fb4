//! Patroni's REST API as the real server behaves: which handler a request reaches, and
//! whether `check_access` lets it through.
//!
//! Read from Patroni's `patroni/api.py` (every tag from 0.4 to 4.1.5) and checked against
//! a running Patroni 4.1.5 (`tests/differential_patroni.rs`); the reference is
//! `shared/reference/patroni-restapi.md`. The flow: [`RestApi::compile`] normalizes the
//! `restapi` section once (allowlist parsed to networks with dropped entries recorded,
//! `verify_client` lowercased, the auth string, the listener's family and the context's
//! members and names); [`RestApi::decide`] then answers each request with an [`Outcome`]
//! without allocating, and [`RestApi::decision`] renders the WIT decision.

mod access;
pub mod addr;
mod config;
mod python;
pub mod route;
pub mod version;

pub use access::{Cause, Depends, Outcome, Stage};
pub use addr::{Ip, Net};
pub use config::{
    Allowlist, CertMode, DropReason, Dropped, Facts, Key, Keys, Listen, Members, RestApi, Secret,
    VerifyValue, is_host_name, member_host,
};
pub use python::{python_str, truthy};
pub use route::{Guard, Handler, Route, route};
pub use version::Version;

#[cfg(test)]
mod tests;
