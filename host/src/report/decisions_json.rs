//! The `decisions` array of `--format json`, written without serde for each decision:
//! 100,000 decisions share a few dozen details, so each distinct detail is rendered once
//! (by serde_json, so escaping and layout are its own) and every decision it answers is
//! its sample label, its name and those bytes. The bytes equal `to_writer_pretty`'s.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use serde::Serialize;

use crate::run::{Decision, Detail, Verdict};

/// The detail's fields in the contract's order (after `sample` and `name`).
#[derive(Serialize)]
struct DetailJson<'a> {
    verdict: Verdict,
    status: Option<u16>,
    stage: &'a str,
    file: Option<&'a str>,
    line: Option<u32>,
    method: Option<&'a str>,
    reason: &'a str,
    policy: Option<&'a str>,
    depends_on: &'a [String],
}

/// The detail's fields as they stand inside a decision of the pretty document: one per
/// line, six spaces in, no final newline.
fn rendered(d: &Detail) -> io::Result<Vec<u8>> {
    let json = serde_json::to_vec_pretty(&DetailJson {
        verdict: d.verdict,
        status: d.status,
        stage: &d.stage,
        file: d.file.as_deref(),
        line: d.line,
        method: d.method.as_deref(),
        reason: &d.reason,
        policy: d.policy.as_deref(),
        depends_on: &d.depends_on,
    })?;
    // `{\n  "verdict": …,\n  …\n}`: a JSON string holds no raw newline, so every line
    // break is layout, and each line moves four spaces in.
    let inner = json
        .strip_prefix(b"{\n")
        .and_then(|j| j.strip_suffix(b"\n}"))
        .ok_or_else(|| io::Error::other("unexpected layout of a decision"))?;
    let mut out = Vec::with_capacity(inner.len() + 64);
    for (i, line) in inner.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend_from_slice(b"    ");
        out.extend_from_slice(line);
    }
    Ok(out)
}

/// Writes `decisions` as the value of the document's `decisions` key (two spaces in).
pub fn write(decisions: &[Decision], out: &mut dyn Write) -> io::Result<()> {
    if decisions.is_empty() {
        return out.write_all(b"[]");
    }
    let mut cache: HashMap<*const Detail, Vec<u8>> = HashMap::new();
    let mut number = itoa::Buffer::new();
    out.write_all(b"[")?;
    for (i, d) in decisions.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"\n    {\n      \"sample\": \"")?;
        out.write_all(d.sample.list().as_bytes())?;
        out.write_all(b"[")?;
        out.write_all(number.format(d.sample.index).as_bytes())?;
        out.write_all(b"]\",\n      \"name\": ")?;
        match &d.name {
            Some(name) => serde_json::to_writer(&mut *out, &**name)?,
            None => out.write_all(b"null")?,
        }
        out.write_all(b",\n")?;
        let key = Arc::as_ptr(&d.detail);
        let bytes = match cache.get(&key) {
            Some(bytes) => bytes,
            None => cache.entry(key).or_insert(rendered(&d.detail)?),
        };
        out.write_all(bytes)?;
        out.write_all(b"\n    }")?;
    }
    out.write_all(b"\n  ]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{SampleId, SampleKind};

    /// The same bytes as serde_json's pretty printer, for every kind of field.
    #[test]
    fn equals_serde_pretty() {
        let a = Arc::new(Detail {
            verdict: Verdict::Deny,
            status: Some(403),
            stage: "access".into(),
            file: Some("dir/p \"q\".yml".into()),
            line: Some(3),
            method: Some("scram-sha-256".into()),
            reason: "no \\ tab\t é \u{1} ".into(),
            policy: Some("patroni".into()),
            depends_on: vec!["members".into(), "roles".into()],
        });
        let b = Arc::new(Detail {
            verdict: Verdict::Allow,
            status: None,
            stage: "passed".into(),
            file: None,
            line: None,
            method: None,
            reason: String::new(),
            policy: None,
            depends_on: Vec::new(),
        });
        let decisions: Vec<Decision> = [(&a, None), (&b, Some("n\"1")), (&a, Some("x"))]
            .into_iter()
            .enumerate()
            .map(|(i, (d, name))| Decision {
                sample: SampleId::new(
                    if i == 2 {
                        SampleKind::Connection
                    } else {
                        SampleKind::Request
                    },
                    i * 1000,
                ),
                name: name.map(Into::into),
                detail: Arc::clone(d),
            })
            .collect();
        for n in [0, 1, 3] {
            #[derive(Serialize)]
            struct Doc<'a> {
                decisions: &'a [Decision],
            }
            let want = serde_json::to_string_pretty(&Doc {
                decisions: &decisions[..n],
            })
            .unwrap();
            let mut got = b"{\n  \"decisions\": ".to_vec();
            write(&decisions[..n], &mut got).unwrap();
            got.extend_from_slice(b"\n}");
            assert_eq!(String::from_utf8(got).unwrap(), want);
        }
    }
}
