//! Load-time checks of pg_hba.conf that need postgresql.conf, which the host's parser
//! does not see: on PostgreSQL 18, an `oauth` line is refused when
//! `oauth_validator_libraries` is empty.
//! Checked against a real 18.4 (`tests/differential_pg`): "oauth_validator_libraries
//! must be set for authentication method oauth".

use policy_guest::DocumentKind;
use policy_guest::pgconf::Effective;
use policy_guest::{Body, Diagnostic, Input, Location};

/// `(document index, diagnostic)` for each `oauth` line the server of `version` refuses
/// given the input's postgresql.conf; none without a postgresql.conf (its setting is
/// unknown then).
pub fn oauth_without_validator(input: &Input, version: u32) -> Vec<(usize, Diagnostic)> {
    if version < 18 {
        return Vec::new();
    }
    let Some(conf) = Effective::from_input(input) else {
        return Vec::new();
    };
    // Only the case checked against the real server: no library at all. (With several,
    // a line must also name its `validator=`; not compared yet.)
    if !conf.known("oauth_validator_libraries") {
        return Vec::new();
    }
    let none = conf
        .value("oauth_validator_libraries")
        .is_none_or(|v| v.trim().trim_matches(['\'', '"']).trim().is_empty());
    if !none {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, doc) in input.documents.iter().enumerate() {
        if doc.kind != DocumentKind::PgHba {
            continue;
        }
        let Body::Hba(rules) = &doc.body else {
            continue;
        };
        for r in rules.iter().filter(|r| r.method == "oauth") {
            let message =
                "oauth_validator_libraries must be set for authentication method oauth".to_string();
            out.push((
                i,
                Diagnostic {
                    code: "invalid-line".into(),
                    message,
                    location: Location {
                        file: r.location.file.clone(),
                        line: r.location.line,
                        end_line: r.location.end_line,
                        pointer: None,
                    },
                },
            ));
        }
    }
    out
}
