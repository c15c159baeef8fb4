//! The hostile test policy (`tests/policies/hostile`, same `mode` settings) under wide
//! metadata: it reads `*` (every document kind and every kind of sample) and declares
//! [`WIDE_CODES`] finding codes `c0`, `c1`… besides `noise`. It proves that a failed
//! policy reading `*` denies every sample, and that the reports stay linear in the
//! number of codes (mode `many-codes`).

#[path = "../../hostile/src/modes.rs"]
mod modes;

use policy_guest::{Code, CodeInfo, Input, Policy, PolicyMetadata, Report, Severity};

/// How many codes `c0…` the metadata declares.
pub const WIDE_CODES: u32 = 100_000;

pub struct HostileWide;

impl Policy for HostileWide {
    type Settings = modes::Settings;
    const NAME: &'static str = "hostile-wide";
    const DESCRIPTION: &'static str = "misbehaves on demand, reading everything";
    const CODES: &'static [Code] = modes::CODES;
    const READS: &'static [&'static str] = &["*"];

    fn validate(settings: &Self::Settings) -> Vec<String> {
        modes::Hostile::validate(settings)
    }

    fn evaluate(
        input: &Input,
        settings: &Self::Settings,
        report: &mut Report,
    ) -> Result<(), String> {
        modes::Hostile::evaluate(input, settings, report)
    }
}

/// The SDK's metadata plus the generated codes.
pub fn metadata() -> PolicyMetadata {
    let mut m = policy_guest::metadata::<HostileWide>(env!("CARGO_PKG_VERSION"));
    m.codes.extend((0..WIDE_CODES).map(|i| CodeInfo {
        code: format!("c{i}"),
        severity: Severity::Low,
        summary: String::new(),
        help: String::new(),
    }));
    m
}

#[cfg(target_arch = "wasm32")]
mod export {
    use policy_guest::bindings::exports::patrol::policy::policy::Guest;
    use policy_guest::{Evaluation, Input, PolicyError, PolicyMetadata};

    struct Export;

    impl Guest for Export {
        fn metadata() -> PolicyMetadata {
            super::metadata()
        }
        fn validate_settings(settings: String) -> Result<(), PolicyError> {
            policy_guest::parse_settings::<super::HostileWide>(&settings).map(|_| ())
        }
        fn evaluate(input: Input) -> Result<Evaluation, PolicyError> {
            policy_guest::run::<super::HostileWide>(&input)
        }
    }

    policy_guest::bindings::export_policy_world!(Export with_types_in policy_guest::bindings);
}
