//! Work proportional to what the inputs hold: a built-in policy that reads none of the
//! document kinds present, and none of the sample lists given, is neither instantiated
//! nor evaluated. What it reads comes from its metadata as the compile cache stored it
//! the last time it was loaded ([`Engine::known_metadata`]); without that (first run, no
//! cache), it is loaded and run as always.
//!
//! Such a policy gets an empty input, so it would have answered nothing: it has no
//! document to report on and no sample to decide. Two things an input carries besides
//! documents and samples are accounted for: the deployment model (built from every
//! document; a policy that reports on it beyond its own documents says `deployment` in
//! its `reads`, as `postgresql-conf` does for what Patroni sets), and the settings (given
//! settings are the policy's to validate, so such a policy always runs). An org policy
//! always runs: it may read the deployment model without saying so.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Plan, PolicyInfo, PolicyResult, PolicyRun, PolicySource};
use crate::engine::{CacheOutcome, Engine, Loaded};
use crate::samples::Samples;
use crate::wit;

/// The `reads` entry of a policy that reads the deployment model beyond its documents.
pub const DEPLOYMENT: &str = "deployment";

/// A policy of the run: loaded, or known from its cached metadata to read nothing present.
pub enum Entry {
    Loaded(Loaded),
    Skipped {
        source: String,
        metadata: Arc<wit::PolicyMetadata>,
    },
}

impl Entry {
    pub fn source(&self) -> &str {
        match self {
            Entry::Loaded(l) => &l.source,
            Entry::Skipped { source, .. } => source,
        }
    }

    pub fn metadata(&self) -> &Arc<wit::PolicyMetadata> {
        match self {
            Entry::Loaded(l) => &l.metadata,
            Entry::Skipped { metadata, .. } => metadata,
        }
    }
}

/// What the inputs hold, in the words of `reads`: the document kinds, `requests` and
/// `connections` when there are any, and [`DEPLOYMENT`] when there is any document.
pub fn present_kinds(documents: &[wit::Document], samples: &Samples) -> HashSet<String> {
    let mut present: HashSet<String> = documents
        .iter()
        .map(|d| d.kind.name().to_string())
        .collect();
    if !documents.is_empty() {
        present.insert(DEPLOYMENT.to_string());
    }
    if !samples.requests.is_empty() {
        present.insert("requests".to_string());
    }
    if !samples.connections.is_empty() {
        present.insert("connections".to_string());
    }
    present
}

/// The metadata of a policy the run need not instantiate; none when it must run.
pub fn skippable(
    engine: &Engine,
    run: &PolicyRun,
    plan: &Plan,
    present: &HashSet<String>,
) -> Option<Arc<wit::PolicyMetadata>> {
    let PolicySource::Builtin(name, bytes) = &run.source else {
        return None;
    };
    if run.settings.is_some() || plan.settings_by_name.contains_key(*name) {
        return None;
    }
    let metadata = engine.known_metadata(bytes, run.source.digest())?;
    let reads_present = metadata
        .reads
        .iter()
        .any(|r| r == "*" || present.contains(r));
    (metadata.name == *name && !reads_present).then_some(metadata)
}

/// The result of a skipped policy: listed with its metadata, nothing evaluated.
pub fn skipped(source: String, metadata: Arc<wit::PolicyMetadata>) -> PolicyResult {
    let info = PolicyInfo {
        name: metadata.name.clone(),
        version: metadata.version.clone(),
        source,
        cache: CacheOutcome::Hit,
        skipped: Some(format!(
            "it reads nothing the inputs hold ({})",
            metadata.reads.join(", ")
        )),
        metadata: Some(metadata.clone()),
    };
    let empty = wit::Answers {
        samples: Vec::new(),
        details: Vec::new(),
    };
    PolicyResult {
        info: Some(info),
        result: Ok((
            metadata.name.clone(),
            wit::Evaluation {
                findings: Vec::new(),
                requests: empty.clone(),
                connections: empty,
                decision_details: Vec::new(),
                patches: Vec::new(),
            },
        )),
        reads: Some(metadata.reads.clone()),
    }
}
