//! A decision as patrol reports it, in a form whose cost per sample is small and
//! constant: which sample (two numbers), its name, and a shared [`Detail`] — 100,000
//! requests are answered by a few dozen distinct details (verdict, stage, rule, reason),
//! so each is built once and every decision it answers points at it.
//!
//! The JSON shape is the contract's (`sample`, `name`, `verdict`, `status`, `stage`,
//! `file`, `line`, `method`, `reason`, `policy`, `depends_on`); [`Decision`] reads as the
//! flat record it always was (`d.reason`) through `Deref`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use super::Verdict;

/// Which list of the samples a decision is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SampleKind {
    Request,
    Connection,
}

/// The sample a decision answers: `requests[3]`, `connections[0]`. Ordered requests
/// first, each list by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SampleId {
    pub kind: SampleKind,
    pub index: u32,
}

impl SampleId {
    pub fn new(kind: SampleKind, index: usize) -> Self {
        SampleId {
            kind,
            // A samples file is bounded (1 GiB), far below 2^32 samples.
            index: u32::try_from(index).unwrap_or(u32::MAX),
        }
    }

    /// `requests` or `connections`.
    pub fn list(self) -> &'static str {
        match self.kind {
            SampleKind::Request => "requests",
            SampleKind::Connection => "connections",
        }
    }
}

impl fmt::Display for SampleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.list(), self.index)
    }
}

impl PartialEq<str> for SampleId {
    fn eq(&self, other: &str) -> bool {
        other
            .strip_prefix(self.list())
            .and_then(|rest| rest.strip_prefix('['))
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|n| n == self.index.to_string())
    }
}

/// What was decided, shared by every sample it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub verdict: Verdict,
    pub status: Option<u16>,
    pub stage: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub method: Option<String>,
    pub reason: String,
    /// The policy that answered; none when no policy answers the sample.
    pub policy: Option<String>,
    pub depends_on: Vec<String>,
}

/// A decision as patrol reports it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub sample: SampleId,
    pub name: Option<Arc<str>>,
    pub detail: Arc<Detail>,
}

impl std::ops::Deref for Decision {
    type Target = Detail;

    fn deref(&self) -> &Detail {
        &self.detail
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = &*self.detail;
        let mut m = s.serialize_struct("Decision", 11)?;
        m.serialize_field("sample", &self.sample.to_string())?;
        m.serialize_field("name", &self.name.as_deref())?;
        m.serialize_field("verdict", &d.verdict)?;
        m.serialize_field("status", &d.status)?;
        m.serialize_field("stage", &d.stage)?;
        m.serialize_field("file", &d.file)?;
        m.serialize_field("line", &d.line)?;
        m.serialize_field("method", &d.method)?;
        m.serialize_field("reason", &d.reason)?;
        m.serialize_field("policy", &d.policy)?;
        m.serialize_field("depends_on", &d.depends_on)?;
        m.end()
    }
}

/// Each distinct detail of `decisions` once (by identity), in first-use order.
pub fn distinct_details(decisions: &[Decision]) -> Vec<&Detail> {
    let mut seen = std::collections::HashSet::new();
    decisions
        .iter()
        .filter(|d| seen.insert(Arc::as_ptr(&d.detail)))
        .map(|d| &*d.detail)
        .collect()
}

/// Rewrites each distinct detail of `decisions` once with `edit`; every decision that
/// shared it shares the rewritten one.
pub fn edit_details(decisions: &mut [Decision], mut edit: impl FnMut(&mut Detail)) {
    let mut edited: HashMap<*const Detail, Arc<Detail>> = HashMap::new();
    for d in decisions {
        let new = edited.entry(Arc::as_ptr(&d.detail)).or_insert_with(|| {
            let mut copy = (*d.detail).clone();
            edit(&mut copy);
            Arc::new(copy)
        });
        d.detail = Arc::clone(new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(reason: &str) -> Arc<Detail> {
        Arc::new(Detail {
            verdict: Verdict::Deny,
            status: Some(403),
            stage: "access".into(),
            file: Some("p.yml".into()),
            line: Some(3),
            method: None,
            reason: reason.into(),
            policy: Some("patroni".into()),
            depends_on: vec!["members".into()],
        })
    }

    #[test]
    fn a_decision_serializes_as_the_flat_record() {
        let d = Decision {
            sample: SampleId::new(SampleKind::Request, 7),
            name: Some("lb".into()),
            detail: detail("no"),
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"sample":"requests[7]","name":"lb","verdict":"deny","status":403,"stage":"access","file":"p.yml","line":3,"method":null,"reason":"no","policy":"patroni","depends_on":["members"]}"#
        );
        assert!(d.sample == *"requests[7]");
        assert!(d.sample != *"requests[70]" && d.sample != *"connections[7]");
        assert!(SampleId::new(SampleKind::Request, 9) < SampleId::new(SampleKind::Connection, 0));
    }

    #[test]
    fn details_are_edited_once_and_stay_shared() {
        let (a, b) = (detail("a"), detail("b"));
        let mut ds: Vec<Decision> = [&a, &b, &a]
            .iter()
            .enumerate()
            .map(|(i, d)| Decision {
                sample: SampleId::new(SampleKind::Request, i),
                name: None,
                detail: Arc::clone(d),
            })
            .collect();
        assert_eq!(distinct_details(&ds).len(), 2);
        let mut calls = 0;
        edit_details(&mut ds, |d| {
            calls += 1;
            d.reason.push('!');
        });
        assert_eq!(calls, 2);
        assert_eq!(ds[0].reason, "a!");
        assert!(Arc::ptr_eq(&ds[0].detail, &ds[2].detail));
        assert_eq!(a.reason, "a");
    }
}
