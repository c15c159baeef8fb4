//! Whether the compile cache's directory and files may hold native code.
//!
//! A precompiled artifact is machine code that `Component::deserialize` maps and runs:
//! whoever can write the cache directory can run code as the user. Like OpenSSH for
//! `~/.ssh` (`safe_path`), the cache directory must be owned by the user and writable by
//! nobody else, and so must every directory above it up to the user's home (or a
//! root-owned sticky directory such as `/tmp`, where others cannot rename what is ours;
//! the parents may belong to root); each artifact must be a regular file (not a symlink)
//! owned by the user and writable by nobody else.

use std::fmt;
use std::fs::{File, Metadata};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a path may not be trusted.
#[derive(Debug)]
pub struct Untrusted {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.path.display(), self.reason)
    }
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

fn untrusted(path: &Path, reason: String) -> Untrusted {
    Untrusted {
        path: path.to_path_buf(),
        reason,
    }
}

/// Checks the cache directory `dir` and the directories above it (symlinks resolved).
pub fn check_dir(dir: &Path, home: Option<&Path>) -> Result<(), Untrusted> {
    let uid = euid();
    let real = dir
        .canonicalize()
        .map_err(|e| untrusted(dir, format!("cannot be resolved: {e}")))?;
    let home = home.and_then(|h| h.canonicalize().ok());
    for (depth, d) in real.ancestors().enumerate() {
        let meta =
            std::fs::metadata(d).map_err(|e| untrusted(d, format!("cannot be read: {e}")))?;
        let mode = meta.mode();
        let owner = meta.uid();
        if depth == 0 && owner != uid {
            return Err(untrusted(
                d,
                format!("is owned by uid {owner}, not by you (uid {uid})"),
            ));
        }
        if depth > 0 && owner != uid && owner != 0 {
            return Err(untrusted(
                d,
                format!(
                    "(above the cache) is owned by uid {owner}, neither you (uid {uid}) nor root"
                ),
            ));
        }
        if mode & GROUP_OR_OTHER_WRITE != 0 {
            // `/tmp`: others may create entries but not rename or remove ours.
            if depth > 0 && owner == 0 && mode & STICKY != 0 {
                return Ok(());
            }
            let what = if depth == 0 {
                "is"
            } else {
                "(above the cache) is"
            };
            return Err(untrusted(
                d,
                format!("{what} writable by other users (mode {:o})", mode & 0o7777),
            ));
        }
        if home.as_deref() == Some(d) {
            return Ok(());
        }
    }
    Ok(())
}

/// Checks an open file: a regular file of ours that nobody else may write.
pub fn check_file(path: &Path, meta: &Metadata) -> Result<(), Untrusted> {
    let uid = euid();
    if !meta.is_file() {
        return Err(untrusted(path, "is not a regular file".to_string()));
    }
    if meta.uid() != uid {
        return Err(untrusted(
            path,
            format!("is owned by uid {}, not by you (uid {uid})", meta.uid()),
        ));
    }
    if meta.mode() & GROUP_OR_OTHER_WRITE != 0 {
        return Err(untrusted(
            path,
            format!(
                "is writable by other users (mode {:o})",
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Opens `path` for reading without following a symlink, and checks what was opened (so
/// that what is checked is what is read).
pub fn open_checked(path: &Path) -> Result<(File, Metadata), Untrusted> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| untrusted(path, format!("cannot be opened: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| untrusted(path, format!("cannot be read: {e}")))?;
    check_file(path, &meta)?;
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn directories_others_can_write_are_refused() {
        let top = tempfile::tempdir().unwrap();
        let cache = top.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        chmod(&cache, 0o700);
        check_dir(&cache, Some(top.path())).unwrap();
        chmod(&cache, 0o775);
        assert!(
            check_dir(&cache, Some(top.path()))
                .unwrap_err()
                .reason
                .contains("mode 775")
        );
        chmod(&cache, 0o700);
        // A parent below the home boundary, writable by others (no sticky bit).
        chmod(top.path(), 0o777);
        let err = check_dir(&cache, None).unwrap_err();
        assert!(err.reason.contains("above the cache"), "{err}");
        // The home boundary stops the walk: its parents are not looked at.
        check_dir(&cache, Some(&cache)).unwrap();
        chmod(top.path(), 0o700);
    }

    #[test]
    fn files_are_checked_as_opened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.cwasm");
        std::fs::write(&file, b"x").unwrap();
        chmod(&file, 0o600);
        open_checked(&file).unwrap();
        chmod(&file, 0o666);
        assert!(open_checked(&file).unwrap_err().reason.contains("writable"));
        let link = dir.path().join("b.cwasm");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(open_checked(&link).is_err(), "a symlink is not followed");
    }
}
