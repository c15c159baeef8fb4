//! Where pg_hba.conf, pg_ident.conf and postgresql.conf look for the files they include:
//! PostgreSQL's `AbsoluteConfigLocation` (relative to the including file's directory),
//! `canonicalize_path` and `GetConfFilesInDir` (`src/backend/utils/misc/conffiles.c`),
//! plus the C library's wording of I/O errors, which the server's messages quote.
//!
//! Unlike the server, patrol reads an included file only when it is a regular file inside
//! the checked tree (the checked paths and `--root`, symlinks resolved), of at most
//! `confine::MAX_FILE_BYTES`, and reads at most [`MAX_INCLUDED_FILES`] files and that
//! many bytes in all for one top-level file ([`IncludeReader`]): the files come from a
//! repository patrol does not trust, and a few lines that include their own file would
//! otherwise be read 10^10 times.

use std::cell::Cell;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::confine::{MAX_FILE_BYTES, ReadError, Tree, read_regular};

/// The most files one top-level file may pull in, directly or not.
pub(crate) const MAX_INCLUDED_FILES: u32 = 1000;

/// Reads the files a config includes, confined and bounded (see the module's header).
#[derive(Debug)]
pub(crate) struct IncludeReader<'a> {
    /// None: anywhere (only the parsers' unit tests; a check always confines).
    tree: Option<&'a Tree>,
    files: Cell<u32>,
    bytes: Cell<u64>,
}

impl<'a> IncludeReader<'a> {
    pub(crate) fn new(tree: Option<&'a Tree>) -> Self {
        IncludeReader {
            tree,
            files: Cell::new(0),
            bytes: Cell::new(0),
        }
    }

    /// `path` with symlinks resolved, when patrol may read there.
    fn confined(&self, path: &Path) -> Result<PathBuf, ReadError> {
        match self.tree {
            Some(tree) => tree.resolve(path),
            None => Ok(path.to_path_buf()),
        }
    }

    /// The text of an included file (invalid UTF-8 replaced, as the server reads bytes).
    /// A directory is the operating system's `IsADirectory` error.
    pub(crate) fn read(&self, path: &Path) -> Result<String, ReadError> {
        let path = self.confined(path)?;
        let files = self.files.get() + 1;
        if files > MAX_INCLUDED_FILES {
            return Err(ReadError::Refused(format!(
                "more than {MAX_INCLUDED_FILES} files included from one file; patrol reads no more"
            )));
        }
        self.files.set(files);
        let bytes = read_regular(&path)?;
        let total = self.bytes.get() + bytes.len() as u64;
        if total > MAX_FILE_BYTES {
            return Err(ReadError::Refused(format!(
                "more than {} MiB included from one file; patrol reads no more",
                MAX_FILE_BYTES >> 20
            )));
        }
        self.bytes.set(total);
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

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
/// Whether the directory `name` (relative to `outer`) is absent from what patrol reads:
/// a repository cannot keep an empty directory (Debian's stock `include_dir = 'conf.d'`),
/// so its absence says nothing about the server.
pub(crate) fn dir_not_seen(outer: &Source, name: &str, reader: &IncludeReader) -> bool {
    let dir = outer.resolve(name);
    let found = reader
        .confined(&dir.path)
        .and_then(|p| std::fs::metadata(p).map_err(ReadError::Io));
    matches!(found, Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound)
}

pub(crate) fn conf_files_in_dir(
    outer: &Source,
    name: &str,
    reader: &IncludeReader,
) -> Result<Vec<Source>, String> {
    if name.trim_matches([' ', '\t', '\r', '\n']).is_empty() {
        return Err(format!("empty configuration directory name: \"{name}\""));
    }
    let dir = outer.resolve(name);
    let open_failed = |why: String| {
        format!(
            "could not open configuration directory \"{}\": {why}",
            dir.path.display()
        )
    };
    let listed = match reader.confined(&dir.path) {
        Ok(listed) => listed,
        Err(ReadError::Io(e)) => return Err(open_failed(strerror(&e))),
        Err(refused) => return Err(open_failed(refused.to_string())),
    };
    let entries = std::fs::read_dir(listed).map_err(|e| {
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
