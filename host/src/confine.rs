//! What patrol may read and write on disk: only regular files, only up to a size, and
//! (for the files configs include and the fixes `--fix` writes) only inside the checked
//! tree, after symlinks and `..` are resolved.
//!
//! Configs come from repositories patrol does not trust: a `pg_hba.conf` that includes
//! `/home/ci/.netrc`, a symlink in the tree to `/dev/zero` or to a directory outside it, a
//! FIFO that never ends. [`Tree`] is the set of directories a check covers (the checked
//! directories, the directory of each checked file, and `--root` for reads), canonical;
//! [`read_regular`] reads one file without blocking on a FIFO or a device and without
//! growing past [`MAX_FILE_BYTES`].

use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest file patrol reads (a config, an included file, a samples file): far more
/// than any real config, small enough to keep a hostile tree from exhausting memory.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The largest JSON samples file patrol reads (`simulate --samples`): it is read as a
/// stream straight into the request columns, never held whole, so it may be larger than
/// a config; a YAML samples file is read whole and keeps [`MAX_FILE_BYTES`].
pub const MAX_SAMPLES_BYTES: u64 = 1 << 30;

/// The largest policy component patrol reads (`--policy`, a `path:` policy of
/// `patrol.yaml`): the built-in ones are under 2 MiB; a debug build with its symbols can be
/// ten times that.
pub const MAX_POLICY_BYTES: u64 = 64 << 20;

/// The directories a check may touch, canonical (symlinks resolved).
#[derive(Debug, Clone, Default)]
pub struct Tree {
    roots: Vec<PathBuf>,
}

impl Tree {
    /// The tree of `paths`: a directory as itself, a file as the directory it is named in
    /// (not where a symlink of that name points). A path that cannot be resolved adds
    /// nothing.
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Tree {
        let mut roots: Vec<PathBuf> = paths
            .into_iter()
            .filter_map(|p| {
                let p = if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                };
                let dir = if p.is_dir() {
                    p
                } else {
                    p.parent()
                        .filter(|d| !d.as_os_str().is_empty())
                        .unwrap_or(Path::new("."))
                };
                std::fs::canonicalize(dir).ok()
            })
            .collect();
        roots.sort();
        roots.dedup();
        Tree { roots }
    }

    /// Whether a canonical path is inside the tree.
    pub fn contains(&self, canonical: &Path) -> bool {
        self.roots.iter().any(|r| canonical.starts_with(r))
    }

    /// `path` with every symlink resolved, when that is inside the tree. A path that does
    /// not exist is the I/O error (so that `include_if_exists` can pass over it).
    pub fn resolve(&self, path: &Path) -> Result<PathBuf, ReadError> {
        let canonical = std::fs::canonicalize(path).map_err(ReadError::Io)?;
        if self.contains(&canonical) {
            Ok(canonical)
        } else {
            Err(ReadError::Refused(format!(
                "it resolves to `{}`, outside the checked tree",
                canonical.display()
            )))
        }
    }
}

/// A file the user named (samples, settings, `patrol.yaml`, a baseline, a test case) as
/// UTF-8 text, bounded and refused when not a regular file as walked files are; the error
/// says why, without the file's name (callers put it in their own words).
pub fn read_text(path: &Path) -> Result<String, String> {
    let bytes = read_regular(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// A policy component (`.wasm`) the user named, bounded by [`MAX_POLICY_BYTES`]; the error
/// names the file.
pub fn read_policy(path: &Path) -> Result<Vec<u8>, String> {
    read_regular_up_to(path, MAX_POLICY_BYTES)
        .map_err(|e| format!("cannot read policy `{}`: {e}", path.display()))
}

/// Why a file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// The operating system's error (missing file, permission, a directory).
    Io(std::io::Error),
    /// patrol's refusal: outside the tree, not a regular file, too large.
    Refused(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => f.write_str(&crate::discover::io_reason(e)),
            ReadError::Refused(why) => f.write_str(why),
        }
    }
}

/// Why patrol does not read a file of this type, if it is not a regular one.
pub fn not_regular(meta: &std::fs::Metadata) -> Option<String> {
    let t = meta.file_type();
    if t.is_file() || t.is_dir() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let what = if t.is_fifo() {
            "a FIFO"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else {
            "not a regular file"
        };
        return Some(format!("{what}, not a regular file"));
    }
    #[allow(unreachable_code)]
    Some("not a regular file".to_string())
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`]. A FIFO, socket or device is
/// refused without waiting on it (opened non-blocking, checked on the open handle); a
/// directory is the operating system's `IsADirectory` error.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_regular_up_to(path, MAX_FILE_BYTES)
}

/// [`read_regular`] with another bound than [`MAX_FILE_BYTES`] (policy components).
pub fn read_regular_up_to(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let (file, len) = open_regular_up_to(path, max)?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(too_large(max));
    }
    Ok(bytes)
}

fn too_large(max: u64) -> ReadError {
    ReadError::Refused(format!(
        "larger than {} MiB, the most patrol reads",
        max >> 20
    ))
}

/// Opens a regular file of at most `max` bytes for reading, checked as [`read_regular`]
/// checks it, with its length; a reader of it should still stop past `max` (the file may
/// grow), as [`Bounded`] does.
pub fn open_regular_up_to(path: &Path, max: u64) -> Result<(std::fs::File, u64), ReadError> {
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if meta.is_dir() {
        return Err(ReadError::Io(std::io::Error::from(
            std::io::ErrorKind::IsADirectory,
        )));
    }
    if let Some(why) = not_regular(&meta) {
        return Err(ReadError::Refused(why));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(ReadError::Io)?;
    // The path may have been swapped for a FIFO since the check above.
    let meta = file.metadata().map_err(ReadError::Io)?;
    if let Some(why) = not_regular(&meta) {
        return Err(ReadError::Refused(why));
    }
    if meta.len() > max {
        return Err(too_large(max));
    }
    Ok((file, meta.len()))
}

/// A reader that fails once more than `max` bytes came through (a file that grew after
/// its size was checked), with the same words as the size check.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, max: u64) -> Self {
        Bounded {
            inner,
            left: max,
            max,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte more than allowed may be read, to tell "exactly max" from "more".
        let want = buf
            .len()
            .min(usize::try_from(self.left + 1).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(too_large(self.max).to_string()));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_up_to_its_bound_and_fails_past_it() {
        let mut out = Vec::new();
        Bounded::new(&b"12345"[..], 5)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"12345");
        let e = Bounded::new(&b"123456"[..], 5)
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }

    #[test]
    fn devices_and_fifos_are_refused_without_blocking() {
        for path in ["/dev/zero", "/dev/null"] {
            match read_regular(Path::new(path)) {
                Err(ReadError::Refused(why)) => assert!(why.contains("character device"), "{why}"),
                other => panic!("{path}: {other:?}"),
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        match read_regular(&fifo) {
            Err(ReadError::Refused(why)) => assert!(why.contains("FIFO"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn large_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(
            matches!(read_regular(&big), Err(ReadError::Refused(why)) if why.contains("16 MiB"))
        );
        f.set_len(10).unwrap();
        assert_eq!(read_regular(&big).unwrap().len(), 10);
    }

    #[test]
    fn the_tree_is_resolved_through_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "token").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/a.conf"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("conf/out")).unwrap();
        let tree = Tree::new([dir.path().join("conf").as_path()]);
        assert!(tree.resolve(&dir.path().join("conf/a.conf")).is_ok());
        assert!(matches!(
            tree.resolve(&dir.path().join("conf/out/secret")),
            Err(ReadError::Refused(_))
        ));
        assert!(matches!(
            tree.resolve(&dir.path().join("conf/../conf/out/secret")),
            Err(ReadError::Refused(_))
        ));
        assert!(matches!(
            tree.resolve(&dir.path().join("conf/missing")),
            Err(ReadError::Io(_))
        ));
        // A checked file's directory is in the tree.
        let tree = Tree::new([dir.path().join("conf/a.conf").as_path()]);
        assert!(
            tree.contains(
                &std::fs::canonicalize(dir.path().join("conf"))
                    .unwrap()
                    .join("b")
            )
        );
    }
}
