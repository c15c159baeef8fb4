//! Which PostgreSQL and Patroni version the policies' answers assume, and why: the
//! samples context's `postgres_version` / `patroni_version`, else (PostgreSQL) the version
//! the deployment model infers from the files when every cluster that shows one agrees,
//! else the newest behaviour patrol knows (the answers of some checks and simulations
//! change between versions).

use serde::Serialize;

use crate::formats::Kind;
use crate::wit;

/// The PostgreSQL major whose behaviour applies when the context names none (the
/// policies' `NEWEST_VERSION`; the host parser's `formats::hba::NEWEST`).
pub const NEWEST_POSTGRES: u32 = crate::formats::hba::NEWEST;
/// The Patroni release whose behaviour applies when the context names none.
pub const NEWEST_PATRONI: &str = "4.1.5";

/// One assumed version (JSON `versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assumed {
    /// `postgresql` or `patroni`.
    pub software: &'static str,
    pub version: String,
    /// Why this version: the samples context named it, or none was named.
    pub source: String,
}

impl std::fmt::Display for Assumed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.software {
            "postgresql" => "PostgreSQL",
            _ => "Patroni",
        };
        write!(f, "assumed {name} {} ({})", self.version, self.source)
    }
}

/// What the deployment model says about the PostgreSQL version when the samples context
/// names none.
#[derive(Debug, Clone, Default)]
pub enum Inference {
    /// No cluster shows its version (or the context names one).
    #[default]
    None,
    /// Every cluster that shows a version shows this one.
    One(wit::VersionFact),
    /// Clusters show different versions: which one a rule is for is unknown, so the
    /// newest behaviour applies and the output says why.
    Disagree(Vec<wit::VersionFact>),
}

impl Inference {
    /// The inferred versions of the deployment's clusters.
    pub fn of(deployment: &wit::Deployment) -> Inference {
        let facts: Vec<&wit::VersionFact> = deployment
            .clusters
            .iter()
            .filter_map(|c| c.postgres_version.as_ref())
            .filter(|f| f.inferred)
            .collect();
        let Some(first) = facts.first() else {
            return Inference::None;
        };
        if facts.iter().all(|f| f.major == first.major) {
            Inference::One((*first).clone())
        } else {
            Inference::Disagree(facts.into_iter().cloned().collect())
        }
    }

    /// The major version it gives.
    pub fn major(&self) -> Option<u32> {
        match self {
            Inference::One(f) => Some(f.major),
            _ => None,
        }
    }
}

/// Where a version fact was read, for the output (`patroni.yml:12`).
fn site(f: &wit::VersionFact) -> String {
    match &f.source {
        Some(at) => format!("{} at {}:{}", f.reason, at.file, at.line),
        None => f.reason.clone(),
    }
}

/// The versions that matter for the kinds of files read.
pub fn assumed(context: &wit::Context, kinds: &[&Kind], inference: &Inference) -> Vec<Assumed> {
    let mut out = Vec::new();
    let postgres = kinds.iter().any(|k| {
        matches!(
            k,
            Kind::PgHba | Kind::PgIdent | Kind::PostgresqlConf | Kind::Patroni
        )
    });
    if postgres {
        out.push(match context.postgres_version {
            Some(v) => Assumed {
                software: "postgresql",
                version: v.to_string(),
                source: "samples context `postgres_version`".into(),
            },
            None => match inference {
                Inference::One(f) => Assumed {
                    software: "postgresql",
                    version: f.major.to_string(),
                    source: format!("inferred from {}", site(f)),
                },
                Inference::Disagree(facts) => Assumed {
                    software: "postgresql",
                    version: NEWEST_POSTGRES.to_string(),
                    source: format!(
                        "the newest behaviour: the clusters' versions disagree ({}); set `postgres_version` in the samples context",
                        facts
                            .iter()
                            .map(|f| format!("{}: {}", f.major, site(f)))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                },
                Inference::None => Assumed {
                    software: "postgresql",
                    version: NEWEST_POSTGRES.to_string(),
                    source: "the newest behaviour: no `postgres_version` in the samples context, and no version in the files".into(),
                },
            },
        });
    }
    if kinds
        .iter()
        .any(|k| matches!(k, Kind::Patroni | Kind::PatroniEnv))
    {
        out.push(match &context.patroni_version {
            Some(v) => Assumed {
                software: "patroni",
                version: v.clone(),
                source: "samples context `patroni_version`".into(),
            },
            None => Assumed {
                software: "patroni",
                version: NEWEST_PATRONI.into(),
                source: "the newest behaviour: no `patroni_version` in the samples context".into(),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_context_or_the_newest() {
        let mut ctx = crate::samples::Samples::default().context;
        let hba = Kind::PgHba;
        let patroni = Kind::Patroni;
        let got = assumed(&ctx, &[&hba], &Inference::None);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].version, NEWEST_POSTGRES.to_string());
        assert!(
            got[0].to_string().contains("no `postgres_version`"),
            "{}",
            got[0]
        );
        ctx.postgres_version = Some(13);
        ctx.patroni_version = Some("3.3.11".into());
        let got = assumed(&ctx, &[&hba, &patroni], &Inference::None);
        assert_eq!(
            got.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            [
                "assumed PostgreSQL 13 (samples context `postgres_version`)",
                "assumed Patroni 3.3.11 (samples context `patroni_version`)"
            ]
        );
        assert!(assumed(&ctx, &[&Kind::Haproxy], &Inference::None).is_empty());
    }

    fn fact(major: u32, file: &str) -> wit::VersionFact {
        wit::VersionFact {
            major,
            inferred: true,
            reason: format!("bin_dir /usr/lib/postgresql/{major}/bin"),
            source: Some(crate::formats::location(file, 7)),
        }
    }

    #[test]
    fn names_the_inferred_version_and_where_it_was_read() {
        let ctx = crate::samples::Samples::default().context;
        let got = assumed(&ctx, &[&Kind::PgHba], &Inference::One(fact(15, "a.yml")));
        assert_eq!(got[0].version, "15");
        assert_eq!(
            got[0].to_string(),
            "assumed PostgreSQL 15 (inferred from bin_dir /usr/lib/postgresql/15/bin at a.yml:7)"
        );
        let both = Inference::Disagree(vec![fact(15, "a.yml"), fact(16, "b.yml")]);
        let got = assumed(&ctx, &[&Kind::PgHba], &both);
        assert_eq!(got[0].version, NEWEST_POSTGRES.to_string());
        assert!(
            got[0].source.contains("disagree (15: bin_dir"),
            "{}",
            got[0]
        );
        assert!(
            got[0]
                .source
                .contains("16: bin_dir /usr/lib/postgresql/16/bin at b.yml:7")
        );
    }
}
