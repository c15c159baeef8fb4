//! Which PostgreSQL and Patroni version the policies' answers assume, and why: the
//! samples context's `postgres_version` / `patroni_version`, else the newest behaviour
//! patrol knows (the answers of some checks and simulations change between versions).

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

/// The versions that matter for the kinds of files read.
pub fn assumed(context: &wit::Context, kinds: &[&Kind]) -> Vec<Assumed> {
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
            None => Assumed {
                software: "postgresql",
                version: NEWEST_POSTGRES.to_string(),
                source: "the newest behaviour: no `postgres_version` in the samples context".into(),
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
        let got = assumed(&ctx, &[&hba]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].version, NEWEST_POSTGRES.to_string());
        assert!(
            got[0].to_string().contains("no `postgres_version`"),
            "{}",
            got[0]
        );
        ctx.postgres_version = Some(13);
        ctx.patroni_version = Some("3.3.11".into());
        let got = assumed(&ctx, &[&hba, &patroni]);
        assert_eq!(
            got.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            [
                "assumed PostgreSQL 13 (samples context `postgres_version`)",
                "assumed Patroni 3.3.11 (samples context `patroni_version`)"
            ]
        );
        assert!(assumed(&ctx, &[&Kind::Haproxy]).is_empty());
    }
}
