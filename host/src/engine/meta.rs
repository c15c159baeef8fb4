//! A policy's metadata as the compile cache keeps it: JSON, so that a run can learn what a
//! policy reads without instantiating it.
//!
//! The text is stored as the policy returned it (not escaped: [`super::inert_metadata`]
//! escapes it again on the way in, as for a live call), and read back under the same
//! output limit a live `metadata` call has.

use serde::{Deserialize, Serialize};

use super::wit;

#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    version: String,
    description: String,
    codes: Vec<StoredCode>,
    reads: Vec<String>,
    settings_schema: String,
}

#[derive(Serialize, Deserialize)]
struct StoredCode {
    code: String,
    severity: u8,
    summary: String,
    help: String,
}

fn severity_byte(s: wit::Severity) -> u8 {
    match s {
        wit::Severity::Info => 0,
        wit::Severity::Low => 1,
        wit::Severity::Medium => 2,
        wit::Severity::High => 3,
        wit::Severity::Critical => 4,
    }
}

fn severity_of(b: u8) -> Option<wit::Severity> {
    Some(match b {
        0 => wit::Severity::Info,
        1 => wit::Severity::Low,
        2 => wit::Severity::Medium,
        3 => wit::Severity::High,
        4 => wit::Severity::Critical,
        _ => return None,
    })
}

/// The bytes stored for `m`.
pub fn encode(m: &wit::PolicyMetadata) -> Vec<u8> {
    let stored = Stored {
        name: m.name.clone(),
        version: m.version.clone(),
        description: m.description.clone(),
        codes: m
            .codes
            .iter()
            .map(|c| StoredCode {
                code: c.code.clone(),
                severity: severity_byte(c.severity),
                summary: c.summary.clone(),
                help: c.help.clone(),
            })
            .collect(),
        reads: m.reads.clone(),
        settings_schema: m.settings_schema.clone(),
    };
    serde_json::to_vec(&stored).unwrap_or_default()
}

/// The metadata of stored bytes; none when they are not what [`encode`] writes.
pub fn decode(bytes: &[u8]) -> Option<wit::PolicyMetadata> {
    let s: Stored = serde_json::from_slice(bytes).ok()?;
    let codes = s
        .codes
        .into_iter()
        .map(|c| {
            Some(wit::CodeInfo {
                code: c.code,
                severity: severity_of(c.severity)?,
                summary: c.summary,
                help: c.help,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(wit::PolicyMetadata {
        name: s.name,
        version: s.version,
        description: s.description,
        codes,
        reads: s.reads,
        settings_schema: s.settings_schema,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn metadata_round_trips() {
        let m = wit::PolicyMetadata {
            name: "p".into(),
            version: "1.0.0".into(),
            description: "d".into(),
            codes: vec![wit::CodeInfo {
                code: "c".into(),
                severity: wit::Severity::High,
                summary: "s".into(),
                help: "h".into(),
            }],
            reads: vec!["patroni".into(), "requests".into()],
            settings_schema: "{}".into(),
        };
        let back = decode(&encode(&m)).unwrap();
        assert_eq!(encode(&back), encode(&m));
        assert_eq!(back.codes[0].severity, wit::Severity::High);
        assert!(decode(b"{\"name\":1}").is_none());
    }
}
