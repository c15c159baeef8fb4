//! `patrol policy build`: a policy crate → a sandboxable component.
//!
//! Asks `cargo metadata` which package the directory holds, runs `cargo build --release
//! --target wasm32-unknown-unknown` in it (so its own `rust-toolchain.toml` applies), reads
//! the artifact path from cargo's JSON messages, refuses a core module that imports
//! anything but the `patrol:policy` interfaces (naming the import, with the usual cause),
//! wraps it into a component with `wit-component`, checks the component's imports the way
//! the engine will, and loads it once for its metadata (which also fills the compile
//! cache, so the first `patrol check` with it is fast).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use super::toolchain::{self, TARGET};
use crate::engine::{self, Engine, Limits};
use crate::wit;

/// What a build produced.
#[derive(Debug)]
pub struct Built {
    /// The package name, which is also the component's file stem.
    pub package: String,
    /// Where the component was written.
    pub path: PathBuf,
    pub size: usize,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    pub metadata: wit::PolicyMetadata,
}

/// The policy was built but patrol would refuse to run it (an import outside the world,
/// no policy export, or it fails to load): `patrol policy build` exits 2 for it.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The component's path; default `<dir>/target/patrol/<package>.wasm`.
    pub out: Option<PathBuf>,
    pub verbose: bool,
}

/// The package a policy directory holds.
#[derive(Debug)]
pub struct Package {
    pub name: String,
    pub manifest: PathBuf,
    /// The crate's directory.
    pub dir: PathBuf,
}

/// Finds the package of `dir/Cargo.toml`; errors explain what is missing.
pub fn package(dir: &Path) -> Result<Package> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        bail!(
            "`{}` is not a policy crate: it has no Cargo.toml (create one with `patrol policy new NAME`)",
            dir.display()
        );
    }
    // Absolute: cargo runs in the crate's directory (for its rust-toolchain.toml).
    let manifest = std::fs::canonicalize(&manifest).unwrap_or(manifest);
    let out = cargo()
        .current_dir(dir)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(cargo_missing)?;
    if !out.status.success() {
        bail!(
            "`cargo metadata` failed for `{}` (see above)",
            manifest.display()
        );
    }
    let meta: Value = serde_json::from_slice(&out.stdout)
        .context("`cargo metadata` printed something that is not JSON")?;
    let wanted = manifest.clone();
    let packages = meta["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let pkg = packages
        .iter()
        .find(|p| p["manifest_path"].as_str().is_some_and(|m| Path::new(m) == wanted))
        .ok_or_else(|| {
            anyhow!("`{}` is a workspace without a package of its own; name the policy crate's directory", manifest.display())
        })?;
    let name = pkg["name"].as_str().unwrap_or_default().to_string();
    let targets = pkg["targets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let cdylib = targets.iter().any(|t| {
        t["crate_types"]
            .as_array()
            .is_some_and(|types| types.iter().any(|c| c == "cdylib"))
    });
    if !cdylib {
        bail!(
            "package `{name}` does not build a cdylib, so there is no wasm module to wrap; add to its Cargo.toml:\n\n[lib]\ncrate-type = [\"cdylib\", \"rlib\"]"
        );
    }
    Ok(Package {
        name,
        dir: dir.to_path_buf(),
        manifest,
    })
}

/// Builds the crate in `dir` into a component and writes it.
pub fn build(dir: &Path, options: &Options) -> Result<Built> {
    let pkg = package(dir)?;
    let rustc = std::env::var_os("PATROL_RUSTC").unwrap_or_else(|| "rustc".into());
    toolchain::ensure_target(&rustc, Some(&pkg.dir), None)?;

    let core_path = cargo_build(&pkg)?;
    let core = std::fs::read(&core_path)
        .with_context(|| format!("cannot read the built module `{}`", core_path.display()))?;
    check_core_imports(&core).map_err(|e| Refused(format!("policy `{}`: {e}", pkg.name)))?;
    let component =
        toolchain::componentize(&core).with_context(|| format!("policy `{}`", pkg.name))?;

    let (imports, exports) = Engine::inspect_imports(&component)?;
    if let Some(bad) = imports
        .iter()
        .find(|i| !engine::ALLOWED_IMPORTS.contains(&i.as_str()))
    {
        return Err(Refused(format!(
            "policy `{}` imports `{bad}`, which the sandbox does not provide; a policy may import only `{}`",
            pkg.name,
            engine::ALLOWED_IMPORTS[0]
        ))
        .into());
    }
    if !exports.iter().any(|e| e == engine::REQUIRED_EXPORT) {
        return Err(Refused(format!(
            "policy `{}` does not export `{}`; end its lib.rs with `#[cfg(target_arch = \"wasm32\")] policy_guest::policy!(MyPolicy);`",
            pkg.name,
            engine::REQUIRED_EXPORT
        ))
        .into());
    }
    let engine = Engine::new(Limits::default(), options.verbose)?;
    let loaded = engine.load(&pkg.name, &component).map_err(|f| {
        Refused(format!(
            "policy `{}` was built but does not load: {}",
            pkg.name, f.message
        ))
    })?;

    let path = options.out.clone().unwrap_or_else(|| default_output(&pkg));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    // Write then rename: a `patrol check` reading the component never sees half of it.
    let partial = path.with_extension(format!("wasm.{}.partial", std::process::id()));
    std::fs::write(&partial, &component)
        .and_then(|()| std::fs::rename(&partial, &path))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(Built {
        package: pkg.name,
        path,
        size: component.len(),
        imports,
        exports,
        metadata: (*loaded.metadata).clone(),
    })
}

/// `<dir>/target/patrol/<package>.wasm`: next to the crate whatever cargo's target
/// directory is, so that the path in the README and in `patrol.yaml` is predictable.
pub fn default_output(pkg: &Package) -> PathBuf {
    let rel = Path::new("target")
        .join("patrol")
        .join(format!("{}.wasm", pkg.name));
    if pkg.dir == Path::new(".") || pkg.dir.as_os_str().is_empty() {
        rel
    } else {
        pkg.dir.join(rel)
    }
}

fn cargo() -> Command {
    // `cargo` from PATH (rustup's proxy), not `$CARGO`: the policy's own
    // `rust-toolchain.toml` must choose the toolchain, not the one patrol was built with.
    Command::new(std::env::var_os("PATROL_CARGO").unwrap_or_else(|| "cargo".into()))
}

fn cargo_missing(e: std::io::Error) -> anyhow::Error {
    anyhow!("cannot run `cargo` ({e}); install Rust from https://rustup.rs to build policies")
}

/// Runs cargo and returns the path of the core module, read from its JSON messages.
fn cargo_build(pkg: &Package) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(&pkg.dir)
        .args([
            "build",
            "--release",
            "--lib",
            "--target",
            TARGET,
            "--message-format",
            "json-render-diagnostics",
        ])
        .arg("--manifest-path")
        .arg(&pkg.manifest)
        .args(["-p", &pkg.name])
        .stdout(Stdio::piped())
        // Cargo's progress, warnings and errors go straight to the user (stderr).
        .stderr(Stdio::inherit());
    // The host's wrapper or target, if patrol runs under cargo, are not the policy's.
    for var in [
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().map_err(cargo_missing)?;
    let mut wasm = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact"
            || msg["target"]["name"].as_str().map(|n| n.replace('_', "-"))
                != Some(pkg.name.replace('_', "-"))
        {
            continue;
        }
        let files = msg["filenames"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if let Some(f) = files
            .iter()
            .filter_map(Value::as_str)
            .find(|f| f.ends_with(".wasm"))
        {
            wasm = Some(PathBuf::from(f));
        }
    }
    if !out.status.success() {
        bail!(
            "`cargo build` of policy `{}` for {TARGET} failed (see the errors above)",
            pkg.name
        );
    }
    wasm.ok_or_else(|| {
        anyhow!(
            "cargo built policy `{}` but reported no .wasm file for it",
            pkg.name
        )
    })
}

/// Refuses a core module that imports from outside `patrol:policy`, naming the import and
/// what usually causes it: the world allows nothing else, and `wit-component`'s own error
/// for this case does not say which dependency is to blame.
pub fn check_core_imports(core: &[u8]) -> Result<()> {
    for payload in wasmparser::Parser::new(0).parse_all(core) {
        let wasmparser::Payload::ImportSection(section) =
            payload.context("the built module is not valid WebAssembly")?
        else {
            continue;
        };
        for import in section.into_imports() {
            let import = import?;
            let module = import
                .module
                .strip_prefix("[export]")
                .unwrap_or(import.module);
            if module.starts_with("patrol:policy/") {
                continue;
            }
            let hint = match import.module {
                "__wbindgen_placeholder__" | "__wbindgen_externref_xform__" => {
                    "a dependency uses wasm-bindgen (JavaScript glue), e.g. `getrandom` with its `js` feature or `chrono` with `wasmbind`; disable that feature"
                }
                m if m.starts_with("wasi") => {
                    "a dependency uses WASI (files, clock, environment, randomness), which the sandbox does not give"
                }
                "env" => {
                    "a dependency declares an `extern` function that no one defines (C code, or a missing `#[no_mangle]`)"
                }
                _ => "the sandbox gives a policy nothing but `patrol:policy/log`",
            };
            bail!(
                "the policy imports `{}::{}`, which is outside the `patrol:policy` world: {hint}",
                import.module,
                import.name
            );
        }
    }
    Ok(())
}
