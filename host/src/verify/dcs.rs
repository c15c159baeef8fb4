//! The live dynamic configuration against the YAML: `GET /config` (what the DCS holds)
//! and the Patroni YAML's `bootstrap.dcs`, key by key. `bootstrap.dcs` is written to the
//! DCS when the cluster is created and never again, so every later difference was made
//! at run time (`patronictl edit-config`, `PATCH /config`, a DCS write): a changed or
//! added value is `verify/drift-dcs`, high when the key makes Patroni or PostgreSQL run a
//! command or load code (the remote-code-execution path of the REST API and the DCS).
//! A key of the YAML missing from the live config is reported too.

use std::collections::BTreeMap;

use serde_json::Value;

use super::endpoints::Endpoint;
use crate::run::{Finding, Severity};
use crate::wit;

/// Keys whose value runs a command or loads code as the postgres OS user.
const COMMAND_KEYS: &[&str] = &[
    "archive_command",
    "restore_command",
    "archive_cleanup_command",
    "recovery_end_command",
    "archive_library",
    "ssl_passphrase_command",
    "shared_preload_libraries",
    "local_preload_libraries",
    "session_preload_libraries",
    "dynamic_library_path",
    "callbacks",
    "pre_promote",
    "before_stop",
    "bin_dir",
    "create_replica_methods",
    "command",
];

/// Leaf values by JSON pointer (an empty object or list is a leaf).
fn flatten(value: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                flatten(v, &format!("{prefix}/{key}"), out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), value.clone());
        }
    }
}

/// Equal as Patroni reads them: `on` and `"on"`, `10` and `"10"` are one value.
fn same(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.to_ascii_lowercase(),
        other => other.to_string().to_ascii_lowercase(),
    };
    a == b || (!a.is_object() && !b.is_object() && text(a) == text(b))
}

/// The findings of one endpoint's `GET /config` answer; `(agree, drift)` counted in.
pub fn compare(
    doc: &wit::Document,
    ep: &Endpoint,
    live: &Value,
    counts: &mut (usize, usize),
) -> Vec<Finding> {
    let wit::Body::Structured(s) = &doc.body else {
        return Vec::new();
    };
    let Ok(json) = serde_json::from_str::<Value>(&s.json) else {
        return Vec::new();
    };
    let line = |pointer: &str| -> u32 {
        // The nearest key the YAML has: the value's own, else its closest parent.
        let mut p = format!("/bootstrap/dcs{pointer}");
        loop {
            if let Some(sp) = s.spans.iter().find(|sp| sp.pointer == p) {
                return sp.line;
            }
            match p.rfind('/') {
                Some(0) | None => return ep.line,
                Some(i) => p.truncate(i),
            }
        }
    };
    let mut yaml = BTreeMap::new();
    if let Some(dcs) = json.pointer("/bootstrap/dcs") {
        flatten(dcs, "", &mut yaml);
    }
    let mut now = BTreeMap::new();
    flatten(live, "", &mut now);
    let source = format!("GET /config of {}", ep.address());
    let mut out = Vec::new();
    let mut push = |pointer: &str, message: String| {
        let command = pointer.split('/').any(|part| COMMAND_KEYS.contains(&part));
        let code = super::CODES.iter().find(|c| c.code == "drift-dcs");
        out.push(Finding {
            policy: super::POLICY.into(),
            code: "drift-dcs".into(),
            severity: if command {
                Severity::High
            } else {
                Severity::Medium
            },
            message,
            file: doc.path.clone(),
            line: line(pointer),
            end_line: None,
            pointer: Some(format!("/bootstrap/dcs{pointer}")),
            remediation: code.map_or("", |c| c.help).into(),
            patch: None,
            fix_withheld: None,
        });
    };
    for (pointer, value) in &now {
        match yaml.get(pointer) {
            Some(y) if same(y, value) => counts.0 += 1,
            Some(y) => {
                counts.1 += 1;
                push(
                    pointer,
                    format!(
                        "`{}`: the YAML's bootstrap.dcs says `{y}`, the live DCS ({source}) holds `{value}`",
                        pointer.trim_start_matches('/').replace('/', ".")
                    ),
                );
            }
            None => {
                counts.1 += 1;
                push(
                    pointer,
                    format!(
                        "`{}` = `{value}` is in the live DCS ({source}) but not in the YAML's bootstrap.dcs: set at run time",
                        pointer.trim_start_matches('/').replace('/', ".")
                    ),
                );
            }
        }
    }
    for (pointer, y) in &yaml {
        if !now.contains_key(pointer) && !now.keys().any(|k| k.starts_with(&format!("{pointer}/")))
        {
            counts.1 += 1;
            push(
                pointer,
                format!(
                    "`{}` = `{y}` of the YAML's bootstrap.dcs is not in the live DCS ({source}): removed at run time",
                    pointer.trim_start_matches('/').replace('/', ".")
                ),
            );
        }
    }
    out
}

/// Compares every REST API endpoint's `GET /config` answer with its YAML; returns the
/// findings and the keys that agree and differ.
pub fn compare_all(
    docs: &[wit::Document],
    endpoints: &[Endpoint],
    records: &[super::ProbeRecord],
) -> (Vec<Finding>, (usize, usize)) {
    let mut done = std::collections::BTreeSet::new();
    let mut counts = (0, 0);
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.probe == "GET /config") {
        let ep = &endpoints[r.endpoint];
        // The first answer of each endpoint (without, else with the client certificate).
        let super::Live::Http(answer) = &r.live else {
            continue;
        };
        if !done.insert(r.endpoint) {
            continue;
        }
        let Some(doc) = docs.iter().find(|d| Some(&d.path) == ep.config.as_ref()) else {
            continue;
        };
        // A cut answer (over MAX_ANSWER) or a non-object is not compared, never half-read.
        let Ok(live) = serde_json::from_str::<Value>(&answer.body_full) else {
            continue;
        };
        if answer.status == 200 && live.is_object() {
            out.extend(compare(doc, ep, &live, &mut counts));
        }
    }
    (out, counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_compare_as_patroni_reads_them() {
        assert!(same(&json!("on"), &json!("ON")));
        assert!(same(&json!(10), &json!("10")));
        assert!(!same(&json!("on"), &json!("off")));
        let mut m = BTreeMap::new();
        flatten(
            &json!({"postgresql": {"parameters": {"a/b": 1}}, "ttl": 30}),
            "",
            &mut m,
        );
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["/postgresql/parameters/a~1b", "/ttl"]
        );
    }
}
