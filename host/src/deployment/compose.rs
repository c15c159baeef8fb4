//! Patroni nodes that Docker Compose services run.
//!
//! A service whose environment sets `PATRONI_*` variables runs Patroni: its `env_file`s
//! first, then its `environment` (which wins, as in Compose; a `<<` merge key's entries
//! come before the service's own). Its YAML is the Patroni document one of its `volumes`
//! mounts (the source resolved against the Compose file's directory); a YAML mounted so
//! is read through its services, not on its own. A service that mounts none is
//! configured by its environment alone, as Patroni's Docker images are. A variable
//! without a value (`- PATRONI_NAME`, `PATRONI_NAME:` with nothing) passes the host's
//! environment through: unknown, so not applied. A service whose `command` starts another
//! program (`haproxy`, `etcd`) runs no Patroni, whatever its variables.

use crate::formats::Kind;
use std::collections::BTreeSet;

use serde_json::Value;

use super::patroni::{Node, read};
use super::{Tree, dir_of};
use crate::wit;

/// The nodes Compose services run, and the Patroni YAMLs they mount.
#[derive(Default)]
pub struct Composed {
    pub nodes: Vec<Node>,
    pub mounted: BTreeSet<String>,
}

type Env = Vec<(String, String, wit::Location)>;

pub fn nodes(documents: &[wit::Document]) -> Composed {
    let mut out = Composed::default();
    for doc in documents.iter().filter(|d| d.kind == Kind::DockerCompose) {
        let Some(t) = Tree::of(doc) else {
            continue;
        };
        let Some(services) = t.root.get("services").and_then(Value::as_object) else {
            continue;
        };
        let dir = dir_of(&doc.path);
        for (name, service) in services {
            let base = format!("/services/{}", escape(name));
            let mut env = Env::new();
            for file in env_files(service) {
                let Some(env_doc) = documents
                    .iter()
                    .find(|d| d.kind == Kind::PatroniEnv && d.path == join(dir, &file))
                else {
                    continue;
                };
                if let wit::Body::Settings(settings) = &env_doc.body {
                    for s in settings.iter().filter(|s| s.name.starts_with("PATRONI_")) {
                        env.push((s.name.clone(), s.value.clone(), s.location.clone()));
                    }
                }
            }
            environment(
                &t,
                service.get("environment"),
                &format!("{base}/environment"),
                &mut env,
            );
            if !env.iter().any(|(k, _, _)| k.starts_with("PATRONI_")) || runs_other(service) {
                continue;
            }
            let node = match mounted_yaml(documents, service, dir) {
                Some(yaml) => {
                    out.mounted.insert(yaml.path.clone());
                    let Some(yt) = Tree::of(yaml) else {
                        continue;
                    };
                    read(&yt, &env)
                }
                None => {
                    let bare = Tree {
                        root: Value::Object(Default::default()),
                        doc,
                        spans: &[],
                    };
                    read(&bare, &env)
                }
            };
            out.nodes.push(node);
        }
    }
    out
}

/// A service whose `command` starts another program than Patroni (`command: haproxy`
/// in a service that sets `PATRONI_*` variables for its templates).
fn runs_other(service: &Value) -> bool {
    let first = match service.get("command") {
        Some(Value::String(s)) => s.split_whitespace().next().map(str::to_string),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    first.is_some_and(|c| !c.contains("patroni"))
}

/// The `env_file` entries of a service (a string, a list of strings, or of
/// `{path: …}` maps).
fn env_files(service: &Value) -> Vec<String> {
    match service.get("env_file") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("path").and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A service's `environment` (a map, maybe with a `<<` merge key, or a list of
/// `NAME=value`), appended to `env` in the order that makes the last one win.
fn environment(t: &Tree<'_>, value: Option<&Value>, pointer: &str, env: &mut Env) {
    match value {
        Some(Value::Object(map)) => {
            if let Some(merged) = map.get("<<") {
                let merged_at = format!("{pointer}/<<");
                match merged {
                    Value::Array(list) => {
                        for (i, m) in list.iter().enumerate() {
                            environment(t, Some(m), &format!("{merged_at}/{i}"), env);
                        }
                    }
                    m => environment(t, Some(m), &merged_at, env),
                }
            }
            for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "<<") {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                let at = format!("{pointer}/{}", escape(k));
                env.push((k.clone(), text, located(t, &at, pointer)));
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some((k, v)) = item.as_str().and_then(|s| s.split_once('=')) {
                    let at = format!("{pointer}/{i}");
                    env.push((
                        k.trim().to_string(),
                        v.to_string(),
                        located(t, &at, pointer),
                    ));
                }
            }
        }
        _ => {}
    }
}

/// The location of `pointer`, else of `parent` (a merged entry has no line of its own).
fn located(t: &Tree<'_>, pointer: &str, parent: &str) -> wit::Location {
    let at = t.at(pointer);
    if at.line > 0 { at } else { t.at(parent) }
}

/// The Patroni document a service mounts with one of its `volumes`.
fn mounted_yaml<'a>(
    documents: &'a [wit::Document],
    service: &Value,
    dir: &str,
) -> Option<&'a wit::Document> {
    let volumes = service.get("volumes")?.as_array()?;
    volumes.iter().find_map(|v| {
        let source = match v {
            Value::String(s) => s.split(':').next()?.to_string(),
            Value::Object(o) => o.get("source")?.as_str()?.to_string(),
            _ => return None,
        };
        let path = join(dir, &source);
        documents
            .iter()
            .find(|d| d.kind == Kind::Patroni && d.path == path)
    })
}

/// `rel` resolved against `dir` (`./` and `..` removed), as document paths are written.
fn join(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = if rel.starts_with('/') || dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if rel.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// A JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn paths_resolve_against_the_compose_directory() {
        assert_eq!(
            join("site", "docker/patroni.env"),
            "site/docker/patroni.env"
        );
        assert_eq!(join("site/a", "./../patroni.yml"), "site/patroni.yml");
        assert_eq!(join("", "patroni.yml"), "patroni.yml");
    }
}
