//! Builds the policy crates to WebAssembly components as part of the host's own build.
//!
//! Like wasmtime's `crates/test-programs/artifacts/build.rs`: a nested `cargo build` for
//! `wasm32-unknown-unknown` with its own target directory (the outer cargo holds the lock
//! on the normal one), then `wit-component` turns each core module into a component. The
//! built-in policies (`policies/*`) are embedded into the binary through a generated
//! `builtin_policies.rs`; the test-only policies (`tests/policies/*`, hostile ones) are
//! left in `OUT_DIR` and found by the tests through `PATROL_TEST_POLICY_DIR`.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

// Shared with `patrol policy build`, which builds org policies the same way.
#[path = "src/authoring/toolchain.rs"]
mod toolchain;

use toolchain::TARGET;

const PROFILE: &str = "policy";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .context("host/ has no parent directory")?
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    // Every file, not only the directories: cargo compares a directory's own mtime, which
    // editing a file inside it does not change.
    for dir in ["wit", "policy-guest", "policies", "tests/policies"] {
        watch(&root.join(dir));
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    // The `policy` profile the components are built with lives in the root manifest.
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );

    let builtin = crate_names(&root.join("policies"))?;
    let test_only = crate_names(&root.join("tests/policies"))?;

    ensure_target()?;
    let target_dir = root.join("target").join("wasm-policies");
    let mut cargo = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    for name in builtin.iter().chain(&test_only) {
        cargo.args(["-p", name]);
    }
    // The outer build's flags are for the host; they must not leak into the wasm build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo
        .status()
        .context("could not run the nested `cargo build` for the policies")?;
    if !status.success() {
        bail!("building the policies for {TARGET} failed (see the cargo output above)");
    }

    let core_dir = target_dir.join(TARGET).join(PROFILE);
    let mut generated = String::from(
        "/// The built-in policies, as WebAssembly components: (name, bytes).\n\
         pub const BUILTIN_POLICIES: &[(&str, &[u8])] = &[\n",
    );
    // Their SHA-256, which keys the compile cache: hashed here once, not at every start.
    let mut digests = String::from(
        "/// The SHA-256 of each built-in component, in the order of [`BUILTIN_POLICIES`].\n\
         pub const BUILTIN_DIGESTS: &[[u8; 32]] = &[\n",
    );
    for name in &builtin {
        let path = componentize(&core_dir, name, &out_dir)?;
        writeln!(
            generated,
            "    ({name:?}, include_bytes!({:?})),",
            path.display()
        )?;
        let digest: [u8; 32] = Sha256::digest(std::fs::read(&path)?).into();
        writeln!(digests, "    {digest:?},")?;
    }
    generated.push_str("];\n");
    digests.push_str("];\n");
    generated.push_str(&digests);
    for name in &test_only {
        componentize(&core_dir, name, &out_dir)?;
    }
    std::fs::write(out_dir.join("builtin_policies.rs"), generated)?;
    println!(
        "cargo:rustc-env=PATROL_TEST_POLICY_DIR={}",
        out_dir.display()
    );
    Ok(())
}

/// Asks cargo to rerun this script when anything below `path` changes (build output and
/// hidden directories excepted).
fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let p = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if p.is_dir() {
            watch(&p);
        } else {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}

/// The package names of the crates directly below `dir` (each directory is one crate and
/// is named like its package).
fn crate_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(names);
    };
    for entry in entries {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file()
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Makes sure the standard library for the wasm target is installed (see
/// `toolchain::ensure_target`), for the toolchain building the host.
fn ensure_target() -> Result<()> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    toolchain::ensure_target(&rustc, None, env::var("RUSTUP_TOOLCHAIN").ok().as_deref())
}

/// Wraps the core module `<name>.wasm` into a component in `out_dir`; returns its path.
fn componentize(core_dir: &Path, name: &str, out_dir: &Path) -> Result<PathBuf> {
    let core_path = core_dir.join(format!("{}.wasm", name.replace('-', "_")));
    let core = std::fs::read(&core_path).with_context(|| {
        format!(
            "policy `{name}` was not built: {} is missing",
            core_path.display()
        )
    })?;
    let component = toolchain::componentize(&core).with_context(|| format!("policy `{name}`"))?;
    let path = out_dir.join(format!("{name}.wasm"));
    std::fs::write(&path, component)?;
    Ok(path)
}
