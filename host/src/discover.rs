//! Finds the input files: the paths the user named, directories walked, each file's kind
//! detected by name and content (or forced with `--kind`).

use std::path::{Path, PathBuf};

use crate::formats::Kind;
use crate::formats::kind::{self, Detected};

/// One config file to check.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub kind: Kind,
    /// The path on disk.
    pub path: PathBuf,
    /// The name shown to users (the path as given, or relative to the named directory's
    /// parent), with `/` separators.
    pub display: String,
    pub text: String,
}

/// `--kind` overrides: `KIND=PATH` for one file, or a bare `KIND` for every file named on
/// the command line.
#[derive(Debug, Clone, Default)]
pub struct KindOverrides {
    pub per_file: Vec<(PathBuf, Kind)>,
    pub all_named: Option<Kind>,
}

impl KindOverrides {
    pub fn parse(values: &[String]) -> Result<Self, String> {
        let mut o = KindOverrides::default();
        for v in values {
            match v.split_once('=') {
                Some((kind, path)) => o.per_file.push((PathBuf::from(path), checked_kind(kind)?)),
                None => {
                    if o.all_named.is_some() {
                        return Err(
                            "`--kind KIND` without `=PATH` may be given only once".to_string()
                        );
                    }
                    o.all_named = Some(checked_kind(v)?);
                }
            }
        }
        Ok(o)
    }

    fn for_path(&self, path: &Path) -> Option<Kind> {
        self.per_file
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, k)| k.clone())
    }
}

fn checked_kind(name: &str) -> Result<Kind, String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(format!(
            "`{name}` is not a document kind; known kinds: {}",
            kind::KNOWN.join(", ")
        ));
    }
    Ok(Kind::from_name(name))
}

/// Walks `paths` and returns every file patrol can read, sorted by display name. A path
/// that does not exist or cannot be read is an error naming it; files of unknown kind in
/// directories are skipped, but a file named explicitly must be recognised.
pub fn discover(
    paths: &[PathBuf],
    overrides: &KindOverrides,
    exclude: &[PathBuf],
) -> Result<Vec<InputFile>, String> {
    let mut files = Vec::new();
    for path in &paths
        .iter()
        .chain(overrides.per_file.iter().map(|(p, _)| p))
        .cloned()
        .collect::<Vec<_>>()
    {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
        if meta.is_dir() {
            walk(path, path, overrides, exclude, &mut files)?;
        } else {
            let text = read(path)?;
            let kind = match overrides
                .for_path(path)
                .or_else(|| overrides.all_named.clone())
            {
                Some(kind) => kind,
                None => match kind::detect(path, &text) {
                    Detected::Document(kind) => kind,
                    Detected::Samples => {
                        return Err(format!(
                            "`{}` is a samples file; pass it with `--samples`",
                            path.display()
                        ));
                    }
                    Detected::Unknown => {
                        return Err(format!(
                            "cannot tell what kind of file `{}` is; name it with `--kind KIND={}` (kinds: {})",
                            path.display(),
                            path.display(),
                            kind::KNOWN.join(", ")
                        ));
                    }
                },
            };
            files.push(InputFile {
                kind,
                path: path.clone(),
                display: display(path),
                text,
            });
        }
    }
    // The firewall rulesets a topology names are inputs too (policies cannot read files).
    crate::ports::firewall_files(&mut files);
    files.sort_by(|a, b| a.display.cmp(&b.display));
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

fn walk(
    root: &Path,
    dir: &Path,
    overrides: &KindOverrides,
    exclude: &[PathBuf],
    out: &mut Vec<InputFile>,
) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "cannot read directory `{}`: {}",
            dir.display(),
            io_reason(&e)
        )
    })?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.')
            || name == "target"
            || name == "node_modules"
            || exclude.contains(&path)
        {
            continue;
        }
        if path.is_dir() {
            walk(root, &path, overrides, exclude, out)?;
            continue;
        }
        if overrides.per_file.iter().any(|(p, _)| p == &path) {
            continue; // added with its forced kind
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        // Binary files (certificates in DER, archives) are not configs.
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        if let Detected::Document(kind) = kind::detect(&path, &text) {
            out.push(InputFile {
                kind,
                display: display(&path),
                path,
                text,
            });
        }
    }
    let _ = root;
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{}` is not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn display(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// An I/O error's reason without the `(os error N)` noise.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_lowercase()
        }
    }
}
