//! Where a file named by its deployment path (`/etc/patroni/ssl/server.crt`) sits in the
//! tree being checked.
//!
//! With `--root DIR`, at the same path under `DIR` (`DIR/etc/patroni/ssl/server.crt`;
//! a relative path from the directory of the config that names it), and nowhere else.
//! Without it, by file name within the checked tree (the directories given as inputs,
//! and the directories of the files given): among the files of that name, the one whose
//! path holds the most distinctive directory names of the deployment path (`patroni` in
//! `/etc/patroni/ssl/server.crt`: `ssl/patroni/server.crt` beats `ssl/etcd/server.crt`;
//! `etc`, `ssl`, `certs`, `private`… say nothing), then the most directory names, then
//! the longest common tail. When other configs name a file of the same name at another
//! path (`server.crt` for Patroni, etcd, PostgreSQL…), a candidate must share one of those
//! distinctive names, or the file counts as not found: a certificate of another service
//! is worse than none. A tie between the best candidates is not guessed either: not
//! found, with the candidates listed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Directory names that say nothing about which service a file belongs to.
const GENERIC: &[&str] = &[
    "etc", "ssl", "tls", "certs", "cert", "private", "pki", "opt", "usr", "local", "share", "var",
    "lib", "keys",
];

/// Where to look.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub root: Option<PathBuf>,
    pub trees: Vec<PathBuf>,
}

impl Search {
    /// The search for the input paths: `root`, and each path (a file's directory).
    pub fn for_inputs(root: Option<PathBuf>, paths: &[PathBuf]) -> Search {
        let mut trees: Vec<PathBuf> = paths
            .iter()
            .map(|p| {
                if p.is_dir() {
                    p.clone()
                } else {
                    p.parent().map(Path::to_path_buf).unwrap_or_default()
                }
            })
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p
                }
            })
            .collect();
        trees.sort();
        trees.dedup();
        Search { root, trees }
    }
}

/// A file's place, or why there is none.
#[derive(Debug, Clone)]
pub enum Found {
    At {
        path: PathBuf,
        how: &'static str,
    },
    Missing {
        reason: String,
        candidates: Vec<PathBuf>,
    },
}

/// An index of the files of the checked tree, by name.
#[derive(Debug, Default)]
pub struct Index {
    by_name: BTreeMap<String, Vec<PathBuf>>,
}

impl Index {
    /// Walks `trees` (skipping hidden entries, `target` and `node_modules`, as discovery
    /// does), to at most 20 000 files.
    pub fn build(trees: &[PathBuf]) -> Index {
        let mut index = Index::default();
        let mut budget = 20_000usize;
        let mut stack: Vec<PathBuf> = trees.to_vec();
        let mut seen = std::collections::HashSet::new();
        while let Some(dir) = stack.pop() {
            if !seen.insert(dir.canonicalize().unwrap_or_else(|_| dir.clone())) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_string();
                if name.starts_with('.') || name == "target" || name == "node_modules" {
                    continue;
                }
                let Ok(meta) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    stack.push(path);
                } else if budget > 0 {
                    budget -= 1;
                    index.by_name.entry(name).or_default().push(path);
                }
            }
        }
        for paths in index.by_name.values_mut() {
            paths.sort();
            paths.dedup();
        }
        index
    }
}

/// Finds `named` (as a config writes it; `config_dir` is the directory of that config).
/// `shared_name`: other files the configs name have the same file name (`server.crt` for
/// Patroni, etcd and PostgreSQL), so a directory must tell them apart: a candidate then
/// needs one of the path's distinctive directory names.
pub fn find(
    named: &str,
    config_dir: &Path,
    search: &Search,
    index: &Index,
    shared_name: bool,
) -> Found {
    let named_path = Path::new(named);
    if let Some(root) = &search.root {
        let candidate = match named_path.strip_prefix("/") {
            Ok(rel) => root.join(rel),
            Err(_) => config_dir.join(named_path),
        };
        return if candidate.is_file() {
            Found::At {
                path: candidate,
                how: "root",
            }
        } else {
            Found::Missing {
                reason: format!("not at `{}`", display(&candidate)),
                candidates: Vec::new(),
            }
        };
    }
    if !named_path.is_absolute() {
        let beside = config_dir.join(named_path);
        if beside.is_file() {
            return Found::At {
                path: beside,
                how: "relative",
            };
        }
    }
    let Some(name) = named_path.file_name().and_then(|n| n.to_str()) else {
        return Found::Missing {
            reason: "the path names no file".into(),
            candidates: Vec::new(),
        };
    };
    let candidates = index.by_name.get(name).cloned().unwrap_or_default();
    let dirs: Vec<&str> = named_path
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| c.as_os_str().to_str())
                .filter(|c| *c != "/")
                .collect()
        })
        .unwrap_or_default();
    let score = |p: &Path| {
        let parts: Vec<&str> = p
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .collect();
        let held = |d: &&&str| parts[..parts.len().saturating_sub(1)].contains(d);
        let distinctive = dirs
            .iter()
            .filter(|d| !GENERIC.contains(d))
            .filter(held)
            .count();
        let all = dirs.iter().filter(held).count();
        let tail = dirs
            .iter()
            .rev()
            .zip(parts.iter().rev().skip(1))
            .take_while(|(a, b)| a == b)
            .count();
        (distinctive, all, tail)
    };
    let mut scored: Vec<((usize, usize, usize), PathBuf)> =
        candidates.into_iter().map(|p| (score(&p), p)).collect();
    let distinctive: Vec<&&str> = dirs.iter().filter(|d| !GENERIC.contains(d)).collect();
    if shared_name && !distinctive.is_empty() {
        let before = scored.len();
        scored.retain(|(s, _)| s.0 > 0);
        if scored.is_empty() && before > 0 {
            let under = distinctive
                .iter()
                .map(|d| format!("`{d}`"))
                .collect::<Vec<_>>()
                .join(" or ");
            return Found::Missing {
                reason: format!(
                    "{before} file{} named `{name}` in the checked tree, none under a directory named {under} (other configs name a `{name}` too, so the name alone does not tell)",
                    if before == 1 { "" } else { "s" }
                ),
                candidates: Vec::new(),
            };
        }
    }
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    match scored.as_slice() {
        [] => Found::Missing {
            reason: format!("no file named `{name}` in the checked tree"),
            candidates: Vec::new(),
        },
        [(_, only)] => Found::At {
            path: only.clone(),
            how: "name",
        },
        [(best, first), (second, _), ..] if best > second => Found::At {
            path: first.clone(),
            how: "name",
        },
        _ => {
            let best = scored[0].0;
            let tied: Vec<PathBuf> = scored
                .into_iter()
                .filter(|(s, _)| *s == best)
                .map(|(_, p)| p)
                .collect();
            Found::Missing {
                reason: format!(
                    "{} files named `{name}` fit equally well; use `--root`",
                    tied.len()
                ),
                candidates: tied,
            }
        }
    }
}

pub fn display(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_root_and_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for rel in [
            "ssl/patroni/server.crt",
            "ssl/etcd/server.crt",
            "ssl/ca.crt",
            "etc/patroni/ssl/server.crt",
            "a/x.pem",
            "b/x.pem",
        ] {
            std::fs::create_dir_all(d.join(rel).parent().expect("parent")).expect("mkdir");
            std::fs::write(d.join(rel), "x").expect("write");
        }
        let index = Index::build(&[d.to_path_buf()]);
        let search = Search {
            root: None,
            trees: vec![d.to_path_buf()],
        };
        let at = |named: &str| match find(named, d, &search, &index, true) {
            Found::At { path, .. } => Some(
                path.strip_prefix(d)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned(),
            ),
            Found::Missing { .. } => None,
        };
        assert_eq!(
            at("/etc/patroni/ssl/server.crt").as_deref(),
            Some("etc/patroni/ssl/server.crt")
        );
        assert_eq!(
            at("/etc/etcd/ssl/server.crt").as_deref(),
            Some("ssl/etcd/server.crt")
        );
        // One candidate, and no other config names a `ca.crt`: the name suffices.
        assert!(matches!(
            find("/etc/patroni/ssl/ca.crt", d, &search, &index, false),
            Found::At { ref path, .. } if path.ends_with("ssl/ca.crt")
        ));
        assert_eq!(
            at("/etc/patroni/ssl/ca.crt"),
            None,
            "a shared name needs `patroni`"
        );
        assert_eq!(at("/etc/x.pem"), None, "a tie is not guessed");
        assert_eq!(at("/nowhere/missing.crt"), None);
        // A shared name needs a distinctive directory; a name no other config uses does not.
        assert_eq!(at("/etc/pgbouncer/ssl/server.crt"), None);
        assert!(matches!(
            find("/etc/pgbouncer/ca.crt", d, &search, &index, false),
            Found::At { .. }
        ));
        let rooted = Search {
            root: Some(d.join("etc/..")),
            trees: vec![],
        };
        assert!(matches!(
            find("/etc/patroni/ssl/server.crt", d, &rooted, &index, true),
            Found::At { how: "root", .. }
        ));
        assert!(matches!(
            find("/ssl/missing.crt", d, &rooted, &index, true),
            Found::Missing { .. }
        ));
    }
}
