//! Where pg_hba.conf, pg_ident.conf and postgresql.conf look for the files they include:
//! PostgreSQL's `AbsoluteConfigLocation` (relative to the including file's directory),
//! `canonicalize_path` and `GetConfFilesInDir` (`src/backend/utils/misc/conffiles.c`),
//! plus the C library's wording of I/O errors, which the server's messages quote.

use std::io;
use std::path::{Component, Path, PathBuf};

/// A file being read: the name shown to users and where it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub shown: String,
    pub path: PathBuf,
}

impl Source {
    /// PostgreSQL's `AbsoluteConfigLocation`: `name` as is when absolute, else relative
    /// to this file's directory.
    pub(crate) fn resolve(&self, name: &str) -> Source {
        if Path::new(name).is_absolute() {
            let path = clean(Path::new(name));
            return Source {
                shown: path.display().to_string(),
                path,
            };
        }
        let join = |base: &Path| clean(&base.parent().unwrap_or(Path::new("")).join(name));
        Source {
            shown: join(Path::new(&self.shown)).display().to_string(),
            path: join(&self.path),
        }
    }
}

/// PostgreSQL's `canonicalize_path`, lexically: no `.` components, `..` folded.
pub(crate) fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `GetConfFilesInDir`: the `*.conf` files (not starting with `.`, not directories) of
/// a directory relative to `outer`, sorted by name. Shared with postgresql.conf.
pub(crate) fn conf_files_in_dir(outer: &Source, name: &str) -> Result<Vec<Source>, String> {
    if name.trim_matches([' ', '\t', '\r', '\n']).is_empty() {
        return Err(format!("empty configuration directory name: \"{name}\""));
    }
    let dir = outer.resolve(name);
    let entries = std::fs::read_dir(&dir.path).map_err(|e| {
        format!(
            "could not open configuration directory \"{}\": {}",
            dir.path.display(),
            strerror(&e)
        )
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.len() < 6 || file_name.starts_with('.') || !file_name.ends_with(".conf") {
            continue;
        }
        let file = dir.resolve_child(&file_name);
        match std::fs::metadata(&file.path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => files.push(file),
            Err(e) => {
                return Err(format!(
                    "could not stat file \"{}\": {}",
                    file.path.display(),
                    strerror(&e)
                ));
            }
        }
    }
    files.sort_by(|a, b| {
        a.path
            .as_os_str()
            .as_encoded_bytes()
            .cmp(b.path.as_os_str().as_encoded_bytes())
    });
    Ok(files)
}

impl Source {
    /// A file inside this directory.
    fn resolve_child(&self, name: &str) -> Source {
        Source {
            shown: Path::new(&self.shown).join(name).display().to_string(),
            path: self.path.join(name),
        }
    }
}

/// The C library's text for an I/O error (`%m`), without Rust's `(os error N)`.
pub(crate) fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_relative_to_the_including_file() {
        let top = Source {
            shown: "conf/pg_hba.conf".into(),
            path: PathBuf::from("/etc/pg/conf/pg_hba.conf"),
        };
        let inc = top.resolve("../users.txt");
        assert_eq!(inc.shown, "users.txt");
        assert_eq!(inc.path, PathBuf::from("/etc/pg/users.txt"));
        let abs = top.resolve("/x/./y.conf");
        assert_eq!(abs.path, PathBuf::from("/x/y.conf"));
    }
}
