//! Finds the input files: the paths the user named, directories walked, each file's kind
//! detected by name and content (or forced with `--kind`). A file a walk meets and does
//! not read is kept in a list with the reason ([`Skipped`]), which every report shows:
//! nothing is skipped in silence. Walks read regular files only, up to
//! `confine::MAX_FILE_BYTES`, and follow no symlink out of the named directory or into a
//! directory walked already; a path skipped for that is also said on stderr at once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::confine::Tree;
use crate::formats::Kind;
use crate::formats::kind::{self, Detected};
use crate::formats::template;

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

/// A file a directory walk met and did not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The name shown to users, as [`InputFile::display`].
    pub path: String,
    /// Why, in a few lowercase words (`not a config patrol reads`, `not UTF-8 text`).
    pub reason: String,
}

/// What discovery found: the files to read and the files skipped.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    pub files: Vec<InputFile>,
    pub skipped: Vec<Skipped>,
    /// Files a walk read and could not classify, kept until every file is found: a
    /// pgbouncer.ini may name one as its `auth_file` ([`auth_files`]).
    unclassified: Vec<InputFile>,
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
    discover_all(paths, overrides, exclude).map(|d| d.files)
}

/// [`discover`], with the files the walks skipped and why.
pub fn discover_all(
    paths: &[PathBuf],
    overrides: &KindOverrides,
    exclude: &[PathBuf],
) -> Result<Discovery, String> {
    let mut found = Discovery::default();
    for path in &paths
        .iter()
        .chain(overrides.per_file.iter().map(|(p, _)| p))
        .cloned()
        .collect::<Vec<_>>()
    {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("cannot read `{}`: {}", path.display(), io_reason(&e)))?;
        if meta.is_dir() {
            let tree = Tree::new([path.as_path()]);
            let mut walked = HashSet::new();
            walked.extend(std::fs::canonicalize(path).ok());
            walk(
                &Walker {
                    tree,
                    overrides,
                    exclude,
                },
                path,
                &mut walked,
                &mut found,
            )?;
        } else {
            let text = read(path)?;
            let kind = match overrides
                .for_path(path)
                .or_else(|| overrides.all_named.clone())
            {
                Some(kind) => kind,
                None => match kind::detect(path, &text) {
                    Detected::Document(kind) => {
                        if let Some((line, placeholder)) = template::in_file(&kind, &text) {
                            return Err(format!(
                                "`{}` is {}; to check it as it is, name its kind with `--kind {}={}`",
                                path.display(),
                                template::skip_reason(line, placeholder),
                                kind.name(),
                                path.display()
                            ));
                        }
                        kind
                    }
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
            found.files.push(InputFile {
                kind,
                path: path.clone(),
                display: display(path),
                text,
            });
        }
    }
    // The firewall rulesets a topology names are inputs too (policies cannot read files).
    let tree = Tree::new(
        paths
            .iter()
            .chain(overrides.per_file.iter().map(|(p, _)| p))
            .map(PathBuf::as_path),
    );
    crate::ports::firewall_files(&mut found.files, &tree);
    auth_files(&mut found);
    found.files.sort_by(|a, b| a.display.cmp(&b.display));
    found.files.dedup_by(|a, b| a.path == b.path);
    let read: Vec<&str> = found.files.iter().map(|f| f.display.as_str()).collect();
    found.skipped.retain(|s| !read.contains(&s.path.as_str()));
    found.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    found.skipped.dedup_by(|a, b| a.path == b.path);
    Ok(found)
}

/// What one walk needs besides the directory at hand.
struct Walker<'a> {
    /// The named directory, canonical: symlinks may not lead out of it.
    tree: Tree,
    overrides: &'a KindOverrides,
    exclude: &'a [PathBuf],
}

fn walk(
    w: &Walker,
    dir: &Path,
    walked: &mut HashSet<PathBuf>,
    out: &mut Discovery,
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
        if w.exclude.contains(&path) {
            continue; // read as what it is (the samples, the bundle)
        }
        let skip = |out: &mut Discovery, reason: &str| {
            out.skipped.push(Skipped {
                path: display(&path),
                reason: reason.to_string(),
            })
        };
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            let what = if name.starts_with('.') {
                "hidden"
            } else {
                "a build or package directory"
            };
            skip(out, &format!("{what}: name it to check it"));
            continue;
        }
        match entry(&path, &w.tree, walked) {
            Entry::Skip(why) => {
                crate::say!("patrol: skipped `{}`: {why}", display(&path));
                skip(out, &why);
                continue;
            }
            Entry::Dir(canonical) => {
                walked.insert(canonical);
                walk(w, &path, walked, out)?;
                continue;
            }
            Entry::File => {}
        }
        if w.overrides.per_file.iter().any(|(p, _)| p == &path) {
            continue; // added with its forced kind
        }
        let bytes = match crate::confine::read_regular(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                skip(out, &format!("cannot read it: {e}"));
                continue;
            }
        };
        // Binary files (certificates in DER, archives) are not configs.
        let Ok(text) = String::from_utf8(bytes) else {
            skip(out, "not UTF-8 text");
            continue;
        };
        match kind::detect(&path, &text) {
            Detected::Document(kind) => match template::in_file(&kind, &text) {
                Some((line, placeholder)) => skip(out, &template::skip_reason(line, placeholder)),
                None => out.files.push(InputFile {
                    kind,
                    display: display(&path),
                    path: path.clone(),
                    text,
                }),
            },
            Detected::Samples => skip(out, "a samples file (pass it with `--samples`)"),
            Detected::Unknown => {
                skip(out, kind::unknown_reason(&path, &text));
                out.unclassified.push(InputFile {
                    kind: Kind::Other(String::new()),
                    display: display(&path),
                    path: path.clone(),
                    text,
                });
            }
        }
    }
    Ok(())
}

/// Reads as PgBouncer auth_files the files a walk skipped that a pgbouncer.ini in the
/// same directory names as its `auth_file` (by file name: the ini names the path on the
/// server, `/etc/pgbouncer/users.txt`, and the repository keeps the file beside it).
fn auth_files(found: &mut Discovery) {
    let mut named = Vec::new();
    for f in found.files.iter().filter(|f| f.kind == Kind::Pgbouncer) {
        let settings = crate::formats::ini::parse(&f.text, &f.display).value;
        // The last `auth_file` of `[pgbouncer]` wins, as in PgBouncer.
        let Some(auth_file) = settings
            .iter()
            .rev()
            .find(|s| {
                s.section.as_deref() == Some("pgbouncer")
                    && s.name.eq_ignore_ascii_case("auth_file")
            })
            .map(|s| s.value.trim())
        else {
            continue;
        };
        if let (Some(dir), Some(name)) = (f.path.parent(), Path::new(auth_file).file_name()) {
            named.push(dir.join(name));
        }
    }
    let (auth, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut found.unclassified)
        .into_iter()
        .partition(|f| named.contains(&f.path));
    found.unclassified = rest;
    found.files.extend(auth.into_iter().map(|f| InputFile {
        kind: Kind::PgbouncerAuthFile,
        ..f
    }));
}

/// One line for people: how many files were read, of which kind, and which were skipped
/// and why (`read 3 files (patroni: 2, pg-hba: 1); skipped 1: notes.txt (not a config
/// patrol reads)`).
pub fn summary(read: &[(String, String)], skipped: &[Skipped]) -> String {
    let mut kinds: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (_, kind) in read {
        *kinds.entry(kind.as_str()).or_default() += 1;
    }
    let by_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    let mut line = format!(
        "read {} file{}{}",
        read.len(),
        if read.len() == 1 { "" } else { "s" },
        if by_kind.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_kind.join(", "))
        }
    );
    if !skipped.is_empty() {
        let list: Vec<String> = skipped
            .iter()
            .map(|s| format!("{} ({})", s.path, s.reason))
            .collect();
        line.push_str(&format!("; skipped {}: {}", skipped.len(), list.join(", ")));
    }
    line
}

/// What the walk does with a directory entry.
#[derive(Debug, PartialEq)]
enum Entry {
    /// A directory to walk (canonical path).
    Dir(PathBuf),
    /// A regular file to read.
    File,
    /// Skipped, and why: devices, FIFOs and sockets would block or never end, a symlink
    /// may lead out of the checked tree or into a loop, a huge file would fill memory.
    Skip(String),
}

/// Decides about `path` without opening it.
fn entry(path: &Path, tree: &Tree, walked: &HashSet<PathBuf>) -> Entry {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) => return Entry::Skip(io_reason(&e)),
    };
    let meta = if meta.file_type().is_symlink() {
        let target = match std::fs::canonicalize(path) {
            Ok(target) => target,
            Err(e) => {
                return Entry::Skip(format!(
                    "a symlink that does not resolve ({})",
                    io_reason(&e)
                ));
            }
        };
        if !tree.contains(&target) {
            return Entry::Skip(format!(
                "a symlink to `{}`, outside the checked tree",
                target.display()
            ));
        }
        match std::fs::metadata(&target) {
            Ok(meta) => meta,
            Err(e) => return Entry::Skip(io_reason(&e)),
        }
    } else {
        meta
    };
    if meta.is_dir() {
        return match std::fs::canonicalize(path) {
            Ok(canonical) if walked.contains(&canonical) => Entry::Skip(format!(
                "a symlink loop: `{}` is walked already",
                canonical.display()
            )),
            Ok(canonical) => Entry::Dir(canonical),
            Err(e) => Entry::Skip(io_reason(&e)),
        };
    }
    if let Some(why) = crate::confine::not_regular(&meta) {
        return Entry::Skip(why);
    }
    if meta.len() > crate::confine::MAX_FILE_BYTES {
        return Entry::Skip(format!(
            "larger than {} MiB, the most patrol reads",
            crate::confine::MAX_FILE_BYTES >> 20
        ));
    }
    Entry::File
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = crate::confine::read_regular(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_lists_what_it_read_and_what_it_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("conf.d")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::write(d.join("patroni.yml"), "bootstrap:\n  dcs:\n    ttl: 30\n").unwrap();
        std::fs::write(
            d.join("patroni.env"),
            "PATRONI_NAME=pg1\nPATRONI_RESTAPI_PASSWORD=x\n",
        )
        .unwrap();
        std::fs::write(
            d.join("conf.d/10-tls.conf"),
            "ssl = on\nssl_cert_file = 'server.crt'\n",
        )
        .unwrap();
        std::fs::write(d.join("notes.txt"), "hello\n").unwrap();
        std::fs::write(d.join("pg_hba.conf.j2"), "host all all {{ net }} md5\n").unwrap();
        std::fs::write(d.join("key.der"), [0xff, 0xfe, 0x00]).unwrap();
        let found = discover_all(&[d.to_path_buf()], &KindOverrides::default(), &[]).unwrap();
        let name = |p: &str| {
            Path::new(p)
                .strip_prefix(d)
                .map_or(p.to_string(), |r| r.to_string_lossy().into_owned())
        };
        let read: Vec<(String, &str)> = found
            .files
            .iter()
            .map(|f| (name(&f.display), f.kind.name()))
            .collect();
        assert_eq!(
            read,
            [
                ("conf.d/10-tls.conf".to_string(), "postgresql-conf"),
                ("patroni.env".to_string(), "patroni-env"),
                ("patroni.yml".to_string(), "patroni")
            ]
        );
        let skipped: Vec<(String, &str)> = found
            .skipped
            .iter()
            .map(|s| (name(&s.path), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (".git".to_string(), "hidden: name it to check it"),
                ("key.der".to_string(), "not UTF-8 text"),
                ("notes.txt".to_string(), "not a config patrol reads"),
                (
                    "pg_hba.conf.j2".to_string(),
                    "a template: check the rendered file"
                ),
            ]
        );
        let read: Vec<(String, String)> = found
            .files
            .iter()
            .map(|f| (f.display.clone(), f.kind.name().to_string()))
            .collect();
        let line = summary(&read, &found.skipped);
        assert!(
            line.starts_with(
                "read 3 files (patroni: 1, patroni-env: 1, postgresql-conf: 1); skipped 4: "
            ),
            "{line}"
        );
    }

    #[test]
    fn the_auth_file_a_pgbouncer_ini_names_is_read_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a")).unwrap();
        std::fs::create_dir_all(d.join("b")).unwrap();
        let ini = "[pgbouncer]\nauth_file = /etc/pgbouncer/users.txt\n";
        std::fs::write(d.join("a/pgbouncer.ini"), ini).unwrap();
        std::fs::write(d.join("a/users.txt"), "\"app\" \"pw-1\"\n").unwrap();
        // Not beside the ini that names it: still skipped, with its line.
        std::fs::write(d.join("b/users.txt"), "\"app\" \"pw-2\"\n").unwrap();
        std::fs::write(d.join("b/userlist.txt"), "\"app\" \"pw-3\"\n").unwrap();
        let found = discover_all(&[d.to_path_buf()], &KindOverrides::default(), &[]).unwrap();
        let kinds: Vec<(String, &str)> = found
            .files
            .iter()
            .map(|f| {
                let rel = f.path.strip_prefix(d).unwrap().to_string_lossy();
                (rel.into_owned(), f.kind.name())
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("a/pgbouncer.ini".to_string(), "pgbouncer"),
                ("a/users.txt".to_string(), "pgbouncer-auth-file"),
                ("b/userlist.txt".to_string(), "pgbouncer-auth-file"),
            ]
        );
        assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
        assert!(found.skipped[0].path.ends_with("b/users.txt"));
    }
}
