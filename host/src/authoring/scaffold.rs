//! `patrol policy new NAME`: writes a policy crate that builds and passes its tests as
//! generated: a typed settings struct, one example rule with a fix, native unit tests, a
//! `tests/NAME.yaml` of cases for `patrol test`, a README listing its finding codes.
//!
//! The SDK (`policy-guest`) is not on crates.io, so the crate depends on it by path: the
//! `--sdk` flag, else `$PATROL_SDK`, else the SDK next to the sources patrol was built
//! from. The crate is a workspace of its own with the SDK's toolchain pinned, and starts
//! from the SDK workspace's `Cargo.lock`, so it builds with the very versions the
//! built-in policies are built with.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The toolchain the SDK is built and tested with (the repository's rust-toolchain.toml).
pub const TOOLCHAIN: &str = "1.95.0";
/// The versions of the SDK's own dependencies that a policy uses directly (the
/// repository's `[workspace.dependencies]`).
pub const SCHEMARS: &str = "1";
pub const SERDE: &str = "1";
pub const SERDE_JSON: &str = "1";

/// The SDK next to the sources this binary was built from.
const BUILT_WITH_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../policy-guest");

const CARGO_TOML: &str = include_str!("template/Cargo.toml.in");
const TOOLCHAIN_TOML: &str = include_str!("template/rust-toolchain.toml.in");
const GITIGNORE: &str = include_str!("template/gitignore.in");
const LIB_RS: &str = include_str!("template/lib.rs.in");
const README: &str = include_str!("template/README.md.in");
const TEST_YAML: &str = include_str!("template/test.yaml.in");

/// What `new` wrote.
#[derive(Debug)]
pub struct Scaffold {
    pub dir: PathBuf,
    pub sdk: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Checks a policy name: kebab-case, starting with a letter, not a built-in's name.
pub fn check_name(name: &str, builtin: &[&str]) -> Result<()> {
    let kebab = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !kebab {
        bail!(
            "`{name}` is not a valid policy name: use kebab-case (lowercase letters, digits and `-`, starting with a letter), e.g. `acme-rules`"
        );
    }
    if name == "patrol" {
        bail!("`patrol` is reserved for the host's own findings; choose another name");
    }
    if builtin.contains(&name) {
        bail!(
            "`{name}` is the name of a built-in policy; choose another name (e.g. `acme-{name}`)"
        );
    }
    Ok(())
}

/// Finds the SDK: `flag`, else `$PATROL_SDK`, else the one patrol was built from.
pub fn find_sdk(flag: Option<&Path>) -> Result<PathBuf> {
    let (path, from) = match (flag, std::env::var_os("PATROL_SDK")) {
        (Some(p), _) => (p.to_path_buf(), "--sdk"),
        (None, Some(p)) if !p.is_empty() => (PathBuf::from(p), "PATROL_SDK"),
        _ => (
            PathBuf::from(BUILT_WITH_SDK),
            "the sources patrol was built from",
        ),
    };
    let manifest = path.join("Cargo.toml");
    let is_sdk =
        std::fs::read_to_string(&manifest).is_ok_and(|t| t.contains("name = \"policy-guest\""));
    if !is_sdk {
        bail!(
            "cannot find the policy-guest SDK at `{}` (from {from}); point to the policy-guest directory of a patrol checkout with `--sdk PATH` or `PATROL_SDK=PATH`",
            path.display()
        );
    }
    std::fs::canonicalize(&path).with_context(|| format!("cannot resolve `{}`", path.display()))
}

/// `acme-rules` → `AcmeRules`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Fills `{{name}}`-style placeholders.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(template.to_string(), |text, (k, v)| {
        text.replace(&format!("{{{{{k}}}}}"), v)
    })
}

/// Writes the crate `name` into `dir` (which must not exist or be empty).
pub fn new(name: &str, dir: &Path, sdk: &Path) -> Result<Scaffold> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "`{}` already exists and is not empty; choose another directory with `--dir DIR`",
            dir.display()
        );
    }
    let sdk_text = sdk.to_string_lossy().replace('\\', "/");
    let ty = type_name(name);
    let vars = [
        ("name", name),
        ("type", ty.as_str()),
        ("sdk", sdk_text.as_str()),
        ("toolchain", TOOLCHAIN),
        ("schemars", SCHEMARS),
        ("serde", SERDE),
        ("serde_json", SERDE_JSON),
    ];
    let mut files: Vec<(PathBuf, String)> = vec![
        (PathBuf::from("Cargo.toml"), fill(CARGO_TOML, &vars)),
        (
            PathBuf::from("rust-toolchain.toml"),
            fill(TOOLCHAIN_TOML, &vars),
        ),
        (PathBuf::from(".gitignore"), GITIGNORE.to_string()),
        (PathBuf::from("README.md"), fill(README, &vars)),
        (Path::new("src").join("lib.rs"), fill(LIB_RS, &vars)),
        (
            Path::new("tests").join(format!("{name}.yaml")),
            fill(TEST_YAML, &vars),
        ),
    ];
    // Start from the SDK workspace's lock file: the same versions as the built-in
    // policies; cargo drops what this crate does not use.
    if let Some(lock) = sdk
        .parent()
        .map(|p| p.join("Cargo.lock"))
        .and_then(|p| std::fs::read_to_string(p).ok())
    {
        files.push((PathBuf::from("Cargo.lock"), lock));
    }
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        written.push(rel);
    }
    Ok(Scaffold {
        dir: dir.to_path_buf(),
        sdk: sdk.to_path_buf(),
        files: written,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case_and_not_builtin() {
        assert!(check_name("acme-rules", &["pg-hba"]).is_ok());
        assert!(check_name("acme2", &[]).is_ok());
        for bad in [
            "Acme",
            "acme_rules",
            "-acme",
            "acme-",
            "a--b",
            "2fast",
            "",
            "patrol",
        ] {
            assert!(check_name(bad, &[]).is_err(), "{bad}");
        }
        assert!(
            check_name("pg-hba", &["pg-hba"])
                .unwrap_err()
                .to_string()
                .contains("built-in")
        );
    }

    #[test]
    fn type_names_are_camel_case() {
        assert_eq!(type_name("acme-rules"), "AcmeRules");
        assert_eq!(type_name("org2-access-matrix"), "Org2AccessMatrix");
    }

    #[test]
    fn every_placeholder_is_filled() {
        let vars = [
            ("name", "x"),
            ("type", "X"),
            ("sdk", "/sdk"),
            ("toolchain", TOOLCHAIN),
            ("schemars", SCHEMARS),
            ("serde", SERDE),
            ("serde_json", SERDE_JSON),
        ];
        for t in [CARGO_TOML, TOOLCHAIN_TOML, README, LIB_RS, TEST_YAML] {
            let text = fill(t, &vars);
            assert!(!text.contains("{{"), "unfilled placeholder in:\n{text}");
        }
    }

    /// The scaffold pins what the repository pins; a bump there must reach here.
    #[test]
    fn versions_match_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let toolchain = std::fs::read_to_string(root.join("rust-toolchain.toml")).unwrap();
        assert!(
            toolchain.contains(&format!("channel = \"{TOOLCHAIN}\"")),
            "{toolchain}"
        );
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let version_of = |dep: &str| {
            let line = cargo
                .lines()
                .find(|l| l.starts_with(&format!("{dep} = ")))
                .unwrap();
            let start = line.find('"').unwrap() + 1;
            let end = start + line[start..].find('"').unwrap();
            line[start..end].to_string()
        };
        assert_eq!(version_of("schemars"), SCHEMARS);
        assert_eq!(version_of("serde"), SERDE);
        assert_eq!(version_of("serde_json"), SERDE_JSON);
    }
}
