//! The two steps every policy build shares, whether `host/build.rs` builds the built-in
//! policies or `patrol policy build` builds an org one: make sure the standard library
//! for `wasm32-unknown-unknown` is installed, and wrap a core module into a component.
//!
//! `host/build.rs` cannot depend on the crate it builds, so it includes this file with
//! `#[path]`; keep it free of `crate::` paths and of dependencies other than `anyhow` and
//! `wit-component`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The target policies are compiled for: no WASI, so nothing to import but the world.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// Makes sure the standard library for [`TARGET`] is installed for the toolchain that
/// `rustc` runs in `dir` (where a `rust-toolchain.toml` may pin one): installs it with
/// rustup when it is missing, or stops with the exact command to run.
pub fn ensure_target(rustc: &OsStr, dir: Option<&Path>, toolchain: Option<&str>) -> Result<()> {
    let mut probe = Command::new(rustc);
    probe.args(["--print", "target-libdir", "--target", TARGET]);
    if let Some(dir) = dir {
        probe.current_dir(dir);
    }
    let libdir = probe
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if libdir.as_deref().is_some_and(has_std) {
        return Ok(());
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Some(toolchain) = toolchain {
        rustup.args(["--toolchain", toolchain]);
    }
    if let Some(dir) = dir {
        rustup.current_dir(dir);
    }
    match rustup.status() {
        Ok(status) if status.success() => Ok(()),
        _ => bail!(
            "the {TARGET} target is not installed and `rustup target add {TARGET}` failed; run it by hand, then build again"
        ),
    }
}

fn has_std(libdir: &Path) -> bool {
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    })
}

/// Wraps a core module built with `wit-bindgen` into a component. The component type
/// that `wit-bindgen` embedded in the module says which world it targets; an import the
/// world does not declare makes this fail.
pub fn componentize(core: &[u8]) -> Result<Vec<u8>> {
    wit_component::ComponentEncoder::default()
        .module(core)
        .context("the core module has no usable component type (was it built with the policy-guest SDK?)")?
        .validate(true)
        .encode()
        .context("could not encode the component")
}
