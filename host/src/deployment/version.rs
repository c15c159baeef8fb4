//! The PostgreSQL major version of a cluster: from the samples context, else inferred
//! from the paths the configuration names (Debian `/usr/lib/postgresql/15/bin`,
//! `/var/lib/postgresql/15/main`, `/etc/postgresql/15/main`; RHEL `/usr/pgsql-15`,
//! `/var/lib/pgsql/15/data`), else none. An inferred version says so and where from;
//! members that disagree leave it unknown.

use crate::formats::Kind;
use crate::wit;

use super::cluster::Group;
use super::patroni::Node;

/// The cluster's version fact.
pub fn infer(
    g: &Group,
    documents: &[wit::Document],
    nodes: &[Node],
    context: &wit::Context,
) -> Option<wit::VersionFact> {
    if let Some(major) = context.postgres_version {
        return Some(wit::VersionFact {
            major,
            inferred: false,
            reason: "context".into(),
            source: None,
        });
    }
    let mut found: Vec<wit::VersionFact> = Vec::new();
    for &i in &g.nodes {
        let n = &nodes[i];
        for (key, v) in [("bin_dir", &n.bin_dir), ("data_dir", &n.data_dir)] {
            if let Some(v) = v
                && let Some(major) = from_path(&v.value)
            {
                found.push(fact(major, format!("{key} {}", v.value), v.at.clone()));
            }
        }
    }
    // Paths in postgresql.conf (`data_directory`, `hba_file`) and pg_autoctl.cfg
    // (`pgdata`, `pg_ctl`).
    let path_keys = [
        "data_directory",
        "hba_file",
        "ident_file",
        "pgdata",
        "pg_ctl",
        "external_pid_file",
    ];
    for d in documents.iter().filter(|d| g.has(&d.path)) {
        if let wit::Body::Settings(settings) = &d.body
            && matches!(d.kind, Kind::PostgresqlConf | Kind::PgAutoctl)
        {
            for s in settings
                .iter()
                .filter(|s| path_keys.contains(&s.name.as_str()))
            {
                if let Some(major) = from_path(&s.value) {
                    found.push(fact(
                        major,
                        format!("{} {}", s.name, s.value),
                        s.location.clone(),
                    ));
                }
            }
        }
    }
    let first = found.first()?.clone();
    // Two members on different versions: which one a rule is for is unknown.
    found
        .iter()
        .all(|f| f.major == first.major)
        .then_some(first)
}

fn fact(major: u32, reason: String, at: wit::Location) -> wit::VersionFact {
    wit::VersionFact {
        major,
        inferred: true,
        reason,
        source: Some(at),
    }
}

/// The major version a packaged path names.
pub fn from_path(path: &str) -> Option<u32> {
    let parts: Vec<&str> = path.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let prev = if i > 0 { parts[i - 1] } else { "" };
        // Debian: /usr/lib/postgresql/15, /var/lib/postgresql/15, /etc/postgresql/15.
        // RHEL: /var/lib/pgsql/15.
        if matches!(prev, "postgresql" | "pgsql")
            && matches!(parts.get(i.wrapping_sub(2)), Some(&"lib") | Some(&"etc"))
            && let Some(v) = major(part)
        {
            return Some(v);
        }
        // RHEL: /usr/pgsql-15.
        if let Some(v) = part.strip_prefix("pgsql-").and_then(major) {
            return Some(v);
        }
    }
    None
}

/// `15`, `9.6` (major 9), `16.2` (major 16): only plausible majors.
fn major(text: &str) -> Option<u32> {
    let head = text.split('.').next()?;
    let v: u32 = head.parse().ok()?;
    (9..=30).contains(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::from_path;

    #[test]
    fn packaged_paths_name_their_version() {
        for (path, want) in [
            ("/usr/lib/postgresql/15/bin", Some(15)),
            ("/var/lib/postgresql/13/main", Some(13)),
            ("/etc/postgresql/16/main/pg_hba.conf", Some(16)),
            ("/usr/pgsql-14/bin", Some(14)),
            ("/var/lib/pgsql/12/data", Some(12)),
            ("/var/lib/pgsql/9.6/data", Some(9)),
            ("/var/lib/postgresql/data", None),
            ("/data/pg15", None),
            ("/home/postgresql/15/x", None),
        ] {
            assert_eq!(from_path(path), want, "{path}");
        }
    }
}
