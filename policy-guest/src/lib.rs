//! The SDK that patrol policies are written against.
//!
//! A policy is a plain Rust type implementing [`Policy`]: a typed settings struct, the
//! list of finding codes, and an `evaluate` function over the typed [`Input`]. The
//! [`policy!`] macro turns it into the `patrol:policy` component exports; everything else
//! here (the input types, builders, helpers) is ordinary Rust that runs natively too, so a
//! policy's logic is tested with a plain `cargo test`.
//!
//! The WIT-generated types are re-exported as they are ([`Input`], [`Document`],
//! [`Finding`]…); [`bindings`] holds the raw `wit-bindgen` output and is not meant to be
//! used directly. Samples and decisions cross the boundary in compact forms (columns,
//! shared details) that the SDK hides: a policy reads requests through
//! [`RequestBatch::iter`] ([`sample`]) and writes [`Decision`]s to its [`Report`].

pub mod consul;
pub mod credentials;
pub mod deployment;
pub mod doc;
pub mod hba;
pub mod ini;
pub mod net;
pub mod patroni;
pub mod pgbouncer;
pub mod pgconf;
pub mod report;
pub mod sample;
pub mod template;
pub mod testing;
pub mod withheld;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "patrol-policy",
        pub_export_macro: true,
        export_macro_name: "export_policy_world",
        default_bindings_module: "policy_guest::bindings",
    });
}

pub use bindings::patrol::policy::types::{
    Answers, Body, CertChain, CertFile, CertLookup, CertReference, CertRole, CertificateFacts,
    ClientCertificate, Cluster, CodeInfo, Connection, Context, Credentials, DecisionDetail,
    Deployment, Diagnostic, Document, DocumentKind, Edit, EffectiveSetting, Endpoint, Evaluation,
    Finding, FlowCall, FlowKind, FlowRequest, HbaAddress, HbaChange, HbaEdit, HbaInsert, HbaName,
    HbaNetwork, HbaNew, HbaPlace, HbaRecord, HbaRule, IdentRule, Input, IpAddress, LineEdit, Link,
    LinkKind, Location, Member, NftChain, NftChainType, NftFamily, NftHook, NftMapEntry, NftMatch,
    NftOp, NftPolicy, NftRule, NftSet, NftTable, NftVerdict, PasswordStorage, Patch,
    PgbouncerPasswordKind, PgbouncerUser, PointerValue, PolicyError, PolicyMetadata, PortHost,
    PortMatrix, PortService, PortSource, PrivateKey, ReplicationMode, RequestBatch, RequiredFlow,
    Role, RolePurpose, Setting, SettingKey, SettingOrigin, SettingValue, Severity, Span,
    Structured, Verdict, VersionFact, X509Certificate,
};
pub use report::{Code, Decision, DetailId, Report, SampleKind};
pub use sample::{CertPresence, HttpRequest, RequestAuth, RequestSample, Scheme};
pub use schemars;
pub use serde;
pub use serde_json;
pub use withheld::Withheld;

/// A patrol policy.
///
/// `Settings` is deserialized from the JSON the user gives (`--settings FILE`, or the
/// bundle); an absent settings file deserializes from `{}`, so give every field a default.
/// Its JSON Schema is generated with `schemars` for `metadata`.
pub trait Policy {
    type Settings: serde::de::DeserializeOwned + schemars::JsonSchema;

    /// Kebab-case policy name (`patroni-restapi`).
    const NAME: &'static str;
    /// One line saying what the policy checks.
    const DESCRIPTION: &'static str;
    /// Every finding code the policy emits.
    const CODES: &'static [Code];
    /// Document kinds read, plus `requests` / `connections` if it answers samples.
    const READS: &'static [&'static str];

    /// Checks settings beyond what their type says; return every problem.
    fn validate(_settings: &Self::Settings) -> Vec<String> {
        Vec::new()
    }

    /// Evaluates the input; add findings, decisions and patches to `report`.
    fn evaluate(
        input: &Input,
        settings: &Self::Settings,
        report: &mut Report,
    ) -> Result<(), String>;
}

/// The metadata of a policy, built from its constants and its settings type.
pub fn metadata<P: Policy>(version: &str) -> PolicyMetadata {
    let schema = schemars::schema_for!(P::Settings);
    PolicyMetadata {
        name: P::NAME.to_string(),
        version: version.to_string(),
        description: P::DESCRIPTION.to_string(),
        codes: P::CODES.iter().map(Code::info).collect(),
        reads: P::READS.iter().map(|s| s.to_string()).collect(),
        settings_schema: serde_json::to_string(&schema).unwrap_or_default(),
    }
}

/// Sends panic messages to the host's log, so that a trap is reported with its cause
/// (on wasm32-unknown-unknown a panic is otherwise only an `unreachable` trap).
pub fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| std::panic::set_hook(Box::new(|info| log(&format!("panic: {info}")))));
    }
}

/// Parses and validates settings; the error lists every problem, one per line.
pub fn parse_settings<P: Policy>(json: &str) -> Result<P::Settings, PolicyError> {
    install_panic_hook();
    let text = if json.trim().is_empty() { "{}" } else { json };
    // The path of the bad value (`matrix[0].from`) says more than a column in JSON text
    // the user never wrote (they wrote YAML).
    let mut de = serde_json::Deserializer::from_str(text);
    let settings: P::Settings = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!("`{path}`: ")
        };
        let inner = e.inner().to_string();
        let message = inner.split(" at line ").next().unwrap_or(&inner);
        PolicyError {
            message: format!("invalid settings for `{}`: {at}{message}", P::NAME),
        }
    })?;
    let problems = P::validate(&settings);
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(PolicyError {
            message: format!(
                "invalid settings for `{}`: {}",
                P::NAME,
                problems.join("; ")
            ),
        })
    }
}

/// Runs a policy over an input natively, as the component export does: settings parsed
/// and validated, then `evaluate`. Policy unit tests call this.
pub fn run<P: Policy>(input: &Input) -> Result<Evaluation, PolicyError> {
    install_panic_hook();
    let settings = parse_settings::<P>(&input.settings)?;
    let mut report = Report::new(P::CODES);
    P::evaluate(input, &settings, &mut report).map_err(|message| PolicyError { message })?;
    Ok(report.finish())
}

/// Writes a line to patrol's log; natively (in tests) to stderr.
pub fn log(message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::patrol::policy::log::log(bindings::patrol::policy::log::Level::Info, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{message}");
}

/// Exports a [`Policy`] as the component's `patrol:policy/policy` interface.
///
/// ```ignore
/// policy_guest::policy!(MyPolicy);
/// ```
#[macro_export]
macro_rules! policy {
    ($policy:ty) => {
        struct __PatrolPolicyExport;
        impl $crate::bindings::exports::patrol::policy::policy::Guest for __PatrolPolicyExport {
            fn metadata() -> $crate::PolicyMetadata {
                $crate::metadata::<$policy>(env!("CARGO_PKG_VERSION"))
            }
            fn validate_settings(settings: String) -> Result<(), $crate::PolicyError> {
                $crate::parse_settings::<$policy>(&settings).map(|_| ())
            }
            fn evaluate(input: $crate::Input) -> Result<$crate::Evaluation, $crate::PolicyError> {
                $crate::run::<$policy>(&input)
            }
        }
        $crate::bindings::export_policy_world!(__PatrolPolicyExport with_types_in $crate::bindings);
    };
}
