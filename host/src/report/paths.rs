//! Where the reported files are relative to the repository: code scanners (SARIF) and
//! GitHub annotations want paths from the repository root, while patrol names files as
//! the user gave them (relative to the working directory, or absolute).
//!
//! The root is what `git rev-parse --show-toplevel` says in the working directory, else
//! the nearest ancestor holding a `.git` (a directory, or a file in worktrees and
//! submodules), else the working directory itself.

use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// The repository root and the working directory the file names are relative to.
#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
    cwd: PathBuf,
}

/// Characters escaped in a URI path: everything but RFC 3986 unreserved characters, the
/// sub-delimiters that are safe in a path, `:`, `@` and `/`.
pub(crate) const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

impl Paths {
    /// The root of the repository patrol runs in.
    pub fn discover() -> Paths {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let root = git_toplevel(&cwd)
            .or_else(|| dot_git_ancestor(&cwd))
            .unwrap_or_else(|| cwd.clone());
        Paths::at(&root, &cwd)
    }

    /// Paths under `root`, for file names relative to `cwd`.
    pub fn at(root: &Path, cwd: &Path) -> Paths {
        Paths {
            root: canonical(root),
            cwd: canonical(cwd),
        }
    }

    /// `file` relative to the repository root, with `/` separators; none when the file is
    /// outside the repository.
    pub fn relative(&self, file: &str) -> Option<String> {
        let abs = self.absolute(file);
        let rel = abs.strip_prefix(&self.root).ok()?;
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        (!parts.is_empty()).then(|| parts.join("/"))
    }

    /// The absolute, normalised path of `file`.
    pub fn absolute(&self, file: &str) -> PathBuf {
        let path = Path::new(file);
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.cwd.join(path)
        };
        canonical(&joined)
    }

    /// A URI for `file`: relative to the root (to be read with the `%SRCROOT%` base id)
    /// when the file is inside the repository, else an absolute `file://` URI.
    pub fn uri(&self, file: &str) -> (String, bool) {
        match self.relative(file) {
            Some(rel) => (utf8_percent_encode(&rel, PATH).to_string(), true),
            None => (file_uri(&self.absolute(file), false), false),
        }
    }

    /// The `file://` URI of the root, ending with `/` as SARIF wants for a base id.
    pub fn root_uri(&self) -> String {
        file_uri(&self.root, true)
    }
}

fn file_uri(path: &Path, directory: bool) -> String {
    let text = path.to_string_lossy().replace('\\', "/");
    let mut uri = format!(
        "file://{}{}",
        if text.starts_with('/') { "" } else { "/" },
        utf8_percent_encode(&text, PATH)
    );
    if directory && !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical path when it exists (symlinks resolved), else the path with `.` and `..`
/// folded lexically.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn git_toplevel(cwd: &Path) -> Option<PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let top = text.trim();
    (out.status.success() && !top.is_empty()).then(|| PathBuf::from(top))
}

fn dot_git_ancestor(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_to_the_root() {
        let paths = Paths::at(
            Path::new("/nonexistent/repo"),
            Path::new("/nonexistent/repo/deploy"),
        );
        assert_eq!(
            paths.relative("patroni.yml").as_deref(),
            Some("deploy/patroni.yml")
        );
        assert_eq!(
            paths.relative("../pg_hba.conf").as_deref(),
            Some("pg_hba.conf")
        );
        assert_eq!(
            paths.relative("/nonexistent/repo/a/b.conf").as_deref(),
            Some("a/b.conf")
        );
        assert_eq!(paths.relative("/etc/patroni.yml"), None);
        assert_eq!(
            paths.uri("my dir/x#1.yml"),
            ("deploy/my%20dir/x%231.yml".to_string(), true)
        );
        assert_eq!(
            paths.uri("/etc/patroni.yml"),
            ("file:///etc/patroni.yml".to_string(), false)
        );
        assert_eq!(paths.root_uri(), "file:///nonexistent/repo/");
    }
}
