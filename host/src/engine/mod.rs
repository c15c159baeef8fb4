//! The sandbox: loads policy components into wasmtime and calls them under limits.
//!
//! A policy is a component of the `patrol:policy` world. [`Engine::load`] refuses any
//! component that imports something other than `patrol:policy/log` (naming the import),
//! compiles it once (or takes it from the on-disk [`cache`]) and keeps an `InstancePre`.
//! Every [`Loaded::session`] gets a fresh store with a memory cap and an epoch deadline, so
//! one policy's state, loops or memory never reach another. The three outcomes of a call
//! are kept apart: a trap or limit ([`FailureKind::Trap`], `Timeout`, `Memory`,
//! `Output`), the policy's own error (`Policy`, `Settings`), and the evaluation.

mod bindings;
mod cache;
mod limits;
mod meta;
mod trust;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Store};

pub use cache::CacheOutcome;
pub use limits::{Limits, MAX_MESSAGE, clip};

/// The WIT types as the host sees them.
pub mod wit {
    pub use super::bindings::patrol::policy::log::Level;
    pub use super::bindings::patrol::policy::types::*;
}

use bindings::PatrolPolicyPre;
use limits::{Limiter, TICK};

use crate::report::escape;

/// The imports a policy may have: the log function, and the types-only interface (it
/// carries type definitions, no functions).
pub const ALLOWED_IMPORTS: &[&str] = &["patrol:policy/log@0.1.0", "patrol:policy/types@0.1.0"];
/// The interface a policy must export.
pub const REQUIRED_EXPORT: &str = "patrol:policy/policy@0.1.0";

/// Why a policy produced no evaluation. Whatever the kind, its samples are denied and the
/// run fails closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Not a valid policy component, or it imports what the sandbox does not give.
    Load,
    /// The policy trapped (a panic, `unreachable`, an out-of-bounds access…).
    Trap,
    /// It ran past its time limit.
    Timeout,
    /// It tried to grow its memory past the limit.
    Memory,
    /// It returned more output than the limit allows.
    Output,
    /// It rejected its settings.
    Settings,
    /// It returned its own error.
    Policy,
}

/// A policy failure: which policy, what kind, and the message.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    pub policy: String,
    pub kind: FailureKind,
    pub message: String,
}

impl FailureKind {
    /// The kebab-case name (as in the JSON output).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Load => "load",
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Output => "output",
            FailureKind::Settings => "settings",
            FailureKind::Policy => "policy",
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "policy `{}` failed: {}", self.policy, self.message)
    }
}

/// How many log lines, and how many bytes of them, one policy call may print with `-v`;
/// past either, lines are counted and one line says how many were suppressed.
pub const LOG_LINES_PER_CALL: usize = 100;
pub const LOG_BYTES_PER_CALL: usize = 64 << 10;

/// What the host keeps per store: the limiter and the policy's log lines.
struct State {
    limiter: Limiter,
    log: Vec<String>,
    verbose: bool,
    policy: String,
    /// Printed in this call: lines, bytes; and lines suppressed.
    printed: (usize, usize),
    suppressed: usize,
}

impl bindings::patrol::policy::log::Host for State {
    fn log(&mut self, level: wit::Level, message: String) {
        // Keep a bounded tail: the last lines explain a trap (the SDK logs panics).
        if self.log.len() >= 64 {
            self.log.remove(0);
        }
        let message = escape::text(&clip(&message, 2000)).into_owned();
        if self.verbose {
            let (lines, bytes) = self.printed;
            if lines < LOG_LINES_PER_CALL && bytes + message.len() <= LOG_BYTES_PER_CALL {
                crate::say!("[{}] {:?}: {message}", self.policy, level);
                self.printed = (lines + 1, bytes + message.len());
            } else {
                self.suppressed += 1;
            }
        }
        self.log.push(message);
    }
}

impl State {
    /// Ends a call's log: says how many lines were suppressed, and resets the budget.
    fn end_call(&mut self) {
        if self.suppressed > 0 {
            crate::say!(
                "[{}] … {} more log lines suppressed (at most {LOG_LINES_PER_CALL} lines, {} KiB per call)",
                self.policy,
                self.suppressed,
                LOG_BYTES_PER_CALL >> 10
            );
        }
        self.printed = (0, 0);
        self.suppressed = 0;
    }
}

/// The wasmtime engine, linker, cache and limits shared by every policy of a run.
pub struct Engine {
    engine: wasmtime::Engine,
    linker: Linker<State>,
    cache: Option<cache::Cache>,
    limits: Limits,
    verbose: bool,
}

/// A loaded, pre-linked policy.
#[derive(Clone)]
pub struct Loaded {
    /// Where it came from: `builtin:<name>` or a path.
    pub source: String,
    pub metadata: Arc<wit::PolicyMetadata>,
    pub cache: CacheOutcome,
    pre: PatrolPolicyPre<State>,
}

impl Engine {
    pub fn new(limits: Limits, verbose: bool) -> Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = wasmtime::Engine::new(&config)?;
        limits::start_ticker(&engine);
        let mut linker = Linker::new(&engine);
        bindings::patrol::policy::log::add_to_linker::<State, wasmtime::component::HasSelf<State>>(
            &mut linker,
            |s| s,
        )?;
        let cache = cache::Cache::open(&engine);
        Ok(Engine {
            engine,
            linker,
            cache,
            limits,
            verbose,
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks a component's imports and exports without compiling it: the names of what
    /// it imports, or an error naming the first import outside the world.
    pub fn inspect_imports(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>)> {
        let mut imports = Vec::new();
        let mut exports = Vec::new();
        let mut depth = 0u32;
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            use wasmparser::Payload;
            match payload.context("not a WebAssembly component")? {
                Payload::Version { encoding, .. }
                    if depth == 0 && encoding != wasmparser::Encoding::Component =>
                {
                    anyhow::bail!(
                        "this is a core WebAssembly module, not a component; build it with `patrol policy build` or turn it into a component with `wasm-tools component new`"
                    );
                }
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(section) if depth == 0 => {
                    for import in section {
                        imports.push(import?.name.name.to_string());
                    }
                }
                Payload::ComponentExportSection(section) if depth == 0 => {
                    for export in section {
                        exports.push(export?.name.name.to_string());
                    }
                }
                _ => {}
            }
        }
        Ok((imports, exports))
    }

    /// Validates, compiles (or loads from the cache) and pre-links a policy.
    pub fn load(&self, source: &str, bytes: &[u8]) -> Result<Loaded, Failure> {
        self.load_hashed(source, bytes, None)
    }

    /// [`Engine::load`] of a component whose SHA-256 is known (the built-in ones, hashed
    /// by `build.rs`), so that it is not hashed again to key the cache.
    pub fn load_hashed(
        &self,
        source: &str,
        bytes: &[u8],
        digest: Option<&[u8; 32]>,
    ) -> Result<Loaded, Failure> {
        let fail = |message: String| Failure {
            policy: source.to_string(),
            kind: FailureKind::Load,
            message,
        };
        let (imports, exports) =
            Self::inspect_imports(bytes).map_err(|e| fail(format!("{e:#}")))?;
        if let Some(bad) = imports
            .iter()
            .find(|i| !ALLOWED_IMPORTS.contains(&i.as_str()))
        {
            return Err(fail(format!(
                "it imports `{bad}`, which the sandbox does not provide; a policy may import only `{}`",
                ALLOWED_IMPORTS[0]
            )));
        }
        if !exports.iter().any(|e| e == REQUIRED_EXPORT) {
            return Err(fail(format!(
                "it does not export `{REQUIRED_EXPORT}`; is it a patrol policy?"
            )));
        }
        let digest = self.cache.as_ref().map(|_| digest_of(bytes, digest));
        let (component, cache) = self
            .compile(bytes, digest.as_ref())
            .map_err(|e| fail(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(PatrolPolicyPre::new)
            .map_err(|e| fail(format!("{e:#}")))?;
        let mut loaded = Loaded {
            source: source.to_string(),
            metadata: Arc::new(placeholder_metadata(source)),
            cache,
            pre,
        };
        let mut session = self.session(&loaded);
        let metadata = session.metadata()?;
        if let (Some(cache), Some(digest)) = (&self.cache, &digest) {
            cache.store_metadata(digest, &meta::encode(&metadata));
        }
        loaded.metadata = Arc::new(inert_metadata(metadata));
        Ok(loaded)
    }

    /// The metadata a policy returned when it was last loaded with this engine's cache,
    /// without instantiating it; none when the cache is off or does not have it.
    pub fn known_metadata(
        &self,
        bytes: &[u8],
        digest: Option<&[u8; 32]>,
    ) -> Option<Arc<wit::PolicyMetadata>> {
        let cache = self.cache.as_ref()?;
        let metadata = meta::decode(&cache.metadata(&digest_of(bytes, digest))?)?;
        // The bound a live `metadata` call has.
        if metadata_size(&metadata) > self.limits.output {
            return None;
        }
        Some(Arc::new(inert_metadata(metadata)))
    }

    fn compile(
        &self,
        bytes: &[u8],
        digest: Option<&[u8; 32]>,
    ) -> Result<(Component, CacheOutcome)> {
        match (&self.cache, digest) {
            (Some(cache), Some(digest)) => cache.get_or_compile(&self.engine, bytes, digest),
            _ => Ok((Component::new(&self.engine, bytes)?, CacheOutcome::Disabled)),
        }
    }

    /// A fresh sandbox for calls to one policy.
    pub fn session(&self, policy: &Loaded) -> Session<'_> {
        let name = if policy.metadata.name.is_empty() {
            policy.source.clone()
        } else {
            policy.metadata.name.clone()
        };
        let state = State {
            limiter: Limiter::new(&self.limits),
            log: Vec::new(),
            verbose: self.verbose,
            policy: escape::text(&name).into_owned(),
            printed: (0, 0),
            suppressed: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // wasmtime bounds what one call may copy from guest to host ("hostcall fuel",
        // 128 MiB by default): make that bound the output limit.
        store.set_hostcall_fuel(self.limits.output);
        Session {
            engine: self,
            store,
            pre: policy.pre.clone(),
            instance: None,
            policy: name,
        }
    }
}

/// The SHA-256 of a component: the one given, else computed.
fn digest_of(bytes: &[u8], known: Option<&[u8; 32]>) -> [u8; 32] {
    use sha2::Digest as _;
    known
        .copied()
        .unwrap_or_else(|| sha2::Sha256::digest(bytes).into())
}

/// The metadata with its texts escaped (see [`escape`]): `policy list`, `policy inspect`
/// and every report print them.
fn inert_metadata(mut m: wit::PolicyMetadata) -> wit::PolicyMetadata {
    let inert = |s: &mut String| {
        if let std::borrow::Cow::Owned(escaped) = escape::text(s) {
            *s = escaped;
        }
    };
    for s in [
        &mut m.name,
        &mut m.version,
        &mut m.description,
        &mut m.settings_schema,
    ] {
        inert(s);
    }
    m.reads.iter_mut().for_each(inert);
    for c in &mut m.codes {
        for s in [&mut c.code, &mut c.summary, &mut c.help] {
            inert(s);
        }
    }
    m
}

/// A policy's own message (an error, a settings problem), clipped and escaped.
fn own_message(message: &str) -> String {
    escape::text(&clip(message, MAX_MESSAGE)).into_owned()
}

fn placeholder_metadata(source: &str) -> wit::PolicyMetadata {
    wit::PolicyMetadata {
        name: String::new(),
        version: String::new(),
        description: format!("policy loaded from {source}"),
        codes: Vec::new(),
        reads: Vec::new(),
        settings_schema: String::new(),
    }
}

/// One store and instance of a policy; calls reset the deadline each time.
pub struct Session<'e> {
    engine: &'e Engine,
    store: Store<State>,
    pre: PatrolPolicyPre<State>,
    instance: Option<bindings::PatrolPolicy>,
    policy: String,
}

impl Session<'_> {
    /// Instantiates on first use; every later call reuses the instance.
    fn ensure(&mut self) -> Result<(), Failure> {
        if self.instance.is_none() {
            self.arm();
            let instance = self.pre.instantiate(&mut self.store);
            self.store.data_mut().end_call();
            let instance = instance.map_err(|e| self.classify(e))?;
            self.instance = Some(instance);
        }
        self.arm();
        Ok(())
    }

    fn missing(&self) -> Failure {
        Failure {
            policy: self.policy.clone(),
            kind: FailureKind::Load,
            message: "it could not be instantiated".into(),
        }
    }

    fn arm(&mut self) {
        let ticks = (self.engine.limits.timeout.as_millis() / TICK.as_millis()).max(1) as u64;
        self.store.set_epoch_deadline(ticks);
    }

    /// Turns a wasmtime error into a failure naming the limit it hit.
    fn classify(&self, error: wasmtime::Error) -> Failure {
        let state = self.store.data();
        let limits = &self.engine.limits;
        let (kind, mut message) = if state.limiter.memory_exceeded {
            (
                FailureKind::Memory,
                format!(
                    "it exceeded the memory limit of {} MiB",
                    limits.memory / (1024 * 1024)
                ),
            )
        } else if format!("{error:#}").contains("fuel allocated for hostcalls") {
            (
                FailureKind::Output,
                format!(
                    "it returned more output than the limit of {} bytes",
                    limits.output
                ),
            )
        } else if matches!(
            error.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        ) {
            (
                FailureKind::Timeout,
                format!(
                    "it exceeded the time limit of {}",
                    humantime(limits.timeout)
                ),
            )
        } else if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
            // The trap itself, not the first line of its context ("error while executing
            // at wasm backtrace:").
            let what = match trap {
                wasmtime::Trap::StackOverflow => "stack overflow (a recursion too deep for the wasm call stack)".to_string(),
                // Rust keeps large locals on a stack in linear memory, below the data: its
                // overflow is an access out of bounds.
                wasmtime::Trap::MemoryOutOfBounds => {
                    "out of bounds memory access (for a Rust policy, often a stack overflow: a recursion too deep)".to_string()
                }
                other => other.to_string(),
            };
            (FailureKind::Trap, format!("it trapped: {what}"))
        } else {
            (
                FailureKind::Trap,
                format!(
                    "it trapped: {}",
                    clip(&first_line(&format!("{error:#}")), MAX_MESSAGE)
                ),
            )
        };
        if let Some(last) = state.log.last() {
            message.push_str(&format!(" (its last log line: {last})"));
        }
        Failure {
            policy: self.policy.clone(),
            kind,
            message,
        }
    }

    pub fn metadata(&mut self) -> Result<wit::PolicyMetadata, Failure> {
        self.ensure()?;
        let Some(instance) = &self.instance else {
            return Err(self.missing());
        };
        let answer = instance
            .patrol_policy_policy()
            .call_metadata(&mut self.store);
        self.store.data_mut().end_call();
        let metadata = answer.map_err(|e| self.classify(e))?;
        self.check_output(metadata_size(&metadata))?;
        Ok(metadata)
    }

    pub fn validate_settings(&mut self, settings: &str) -> Result<(), Failure> {
        self.ensure()?;
        let Some(instance) = &self.instance else {
            return Err(self.missing());
        };
        let answer = instance
            .patrol_policy_policy()
            .call_validate_settings(&mut self.store, settings);
        self.store.data_mut().end_call();
        let answer = answer.map_err(|e| self.classify(e))?;
        answer.map_err(|e| Failure {
            policy: self.policy.clone(),
            kind: FailureKind::Settings,
            message: own_message(&e.message),
        })
    }

    pub fn evaluate(&mut self, input: &wit::Input) -> Result<wit::Evaluation, Failure> {
        self.ensure()?;
        let Some(instance) = &self.instance else {
            return Err(self.missing());
        };
        let answer = instance
            .patrol_policy_policy()
            .call_evaluate(&mut self.store, input);
        self.store.data_mut().end_call();
        let answer = answer.map_err(|e| self.classify(e))?;
        // The error is reported once; a policy's 10 MB error is clipped all the same.
        let evaluation = answer.map_err(|e| Failure {
            policy: self.policy.clone(),
            kind: FailureKind::Policy,
            message: own_message(&e.message),
        })?;
        self.check_output(evaluation_size(&evaluation))?;
        Ok(evaluation)
    }

    fn check_output(&self, size: usize) -> Result<(), Failure> {
        let max = self.engine.limits.output;
        if size > max {
            return Err(Failure {
                policy: self.policy.clone(),
                kind: FailureKind::Output,
                message: format!(
                    "it returned {size} bytes of output, over the limit of {max} bytes"
                ),
            });
        }
        Ok(())
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

fn humantime(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

fn loc_size(l: &wit::Location) -> usize {
    32 + l.file.len() + l.pointer.as_ref().map_or(0, String::len)
}

fn metadata_size(m: &wit::PolicyMetadata) -> usize {
    m.name.len()
        + m.version.len()
        + m.description.len()
        + m.settings_schema.len()
        + m.reads.iter().map(|r| r.len() + 8).sum::<usize>()
        + m.codes
            .iter()
            .map(|c| limits::CODE_COST + c.code.len() + c.summary.len() + c.help.len())
            .sum::<usize>()
}

/// The size of an evaluation for the output limit: its strings, plus what a report spends
/// on each record beyond them ([`limits::FINDING_COST`] and the like), so that the limit
/// bounds every rendered report and not only what crossed the boundary.
fn evaluation_size(e: &wit::Evaluation) -> usize {
    let findings: usize = e
        .findings
        .iter()
        .map(|f| {
            limits::FINDING_COST
                + f.code.len()
                + f.message.len()
                + f.remediation.len()
                + loc_size(&f.location)
        })
        .sum();
    let details: usize = e
        .decision_details
        .iter()
        .map(|d| {
            limits::DETAIL_COST
                + d.stage.len()
                + d.reason.len()
                + d.location.as_ref().map_or(0, loc_size)
                + d.method.as_ref().map_or(0, String::len)
                + d.depends_on.iter().map(String::len).sum::<usize>()
        })
        .sum();
    let decisions = 8 * (e.requests.samples.len() + e.connections.samples.len()) + details;
    let patches: usize = e
        .patches
        .iter()
        .map(|p| {
            limits::PATCH_COST
                + p.file.len()
                + p.description.len()
                + p.edits
                    .iter()
                    .map(|ed| match ed {
                        wit::Edit::Lines(l) => 8 + l.text.len(),
                        wit::Edit::Set(s) => s.pointer.len() + s.value.len(),
                        wit::Edit::Remove(p) => p.len(),
                        wit::Edit::Hba(h) => hba_edit_size(h),
                        wit::Edit::SetSetting(s) => {
                            s.section.as_ref().map_or(0, String::len) + s.key.len() + s.value.len()
                        }
                        wit::Edit::RemoveSetting(s) => {
                            s.section.as_ref().map_or(0, String::len) + s.key.len()
                        }
                    })
                    .sum::<usize>()
        })
        .sum();
    findings + decisions + patches
}

/// What one pg_hba edit costs to keep: its words.
fn hba_edit_size(h: &wit::HbaEdit) -> usize {
    let names = |l: &[wit::HbaName]| l.iter().map(|n| 1 + n.text.len()).sum::<usize>();
    let change = |c: &wit::HbaChange| {
        8 + [&c.connection_type, &c.address, &c.method]
            .iter()
            .map(|s| s.as_ref().map_or(0, String::len))
            .sum::<usize>()
            + c.databases.as_deref().map_or(0, names)
            + c.users.as_deref().map_or(0, names)
            + c.set_options
                .iter()
                .map(|(k, v)| 2 + k.len() + v.len())
                .sum::<usize>()
            + c.remove_options.iter().map(|k| 1 + k.len()).sum::<usize>()
    };
    match h {
        wit::HbaEdit::Delete(_) => 8,
        wit::HbaEdit::Set(c) => change(c),
        wit::HbaEdit::Insert(i) => match &i.new {
            wit::HbaNew::Copy(c) => 8 + change(c),
            wit::HbaNew::Fields(r) => {
                8 + r.connection_type.len()
                    + r.method.len()
                    + r.address.as_ref().map_or(0, String::len)
                    + names(&r.databases)
                    + names(&r.users)
                    + r.options
                        .iter()
                        .map(|(k, v)| 2 + k.len() + v.len())
                        .sum::<usize>()
            }
        },
    }
}
