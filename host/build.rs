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

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "policy";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .context("host/ has no parent directory")?
        .to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    for dir in ["wit", "policy-guest", "policies", "tests/policies"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());

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
    let status = cargo.status().context("could not run the nested `cargo build` for the policies")?;
    if !status.success() {
        bail!("building the policies for {TARGET} failed (see the cargo output above)");
    }

    let core_dir = target_dir.join(TARGET).join(PROFILE);
    let mut generated = String::from(
        "/// The built-in policies, as WebAssembly components: (name, bytes).\n\
         pub const BUILTIN_POLICIES: &[(&str, &[u8])] = &[\n",
    );
    for name in &builtin {
        let path = componentize(&core_dir, name, &out_dir)?;
        writeln!(generated, "    ({name:?}, include_bytes!({:?})),", path.display())?;
    }
    generated.push_str("];\n");
    for name in &test_only {
        componentize(&core_dir, name, &out_dir)?;
    }
    std::fs::write(out_dir.join("builtin_policies.rs"), generated)?;
    println!("cargo:rustc-env=PATROL_TEST_POLICY_DIR={}", out_dir.display());
    Ok(())
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
        if path.join("Cargo.toml").is_file() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Makes sure the standard library for the wasm target is installed: installs it with
/// rustup when it is missing, or stops with the exact command to run.
fn ensure_target() -> Result<()> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if libdir.as_deref().is_some_and(has_std) {
        return Ok(());
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Ok(toolchain) = env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
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
        entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    })
}

/// Wraps the core module `<name>.wasm` into a component in `out_dir`; returns its path.
fn componentize(core_dir: &Path, name: &str, out_dir: &Path) -> Result<PathBuf> {
    let core_path = core_dir.join(format!("{}.wasm", name.replace('-', "_")));
    let core = std::fs::read(&core_path)
        .with_context(|| format!("policy `{name}` was not built: {} is missing", core_path.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&core)
        .with_context(|| format!("policy `{name}`: the core module has no usable component type"))?
        .validate(true)
        .encode()
        .with_context(|| format!("policy `{name}`: could not encode the component"))?;
    let path = out_dir.join(format!("{name}.wasm"));
    std::fs::write(&path, component)?;
    Ok(path)
}
