//! A hostile policy for the sandbox tests. Its `mode` setting picks the misbehaviour:
//! `loop` (never returns), `memory` (allocates without end), `trap` (panics), `output`
//! (returns hundreds of MiB of findings), `error` (returns its own error), `deny-settings`
//! (rejects its settings), `allow-all` (answers every sample with allow: used to prove
//! that a failing policy's allows never count).

use policy_guest::{Code, Input, Location, Policy, Report, SampleKind, Severity, Verdict};

pub struct Hostile;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Settings {
    pub mode: String,
}

const CODES: &[Code] = &[Code::new("noise", Severity::Info, "noise", "none")];

impl Policy for Hostile {
    type Settings = Settings;
    const NAME: &'static str = "hostile";
    const DESCRIPTION: &'static str = "misbehaves on demand";
    const CODES: &'static [Code] = CODES;
    const READS: &'static [&'static str] = &["patroni", "pg-hba", "requests", "connections"];

    fn validate(settings: &Settings) -> Vec<String> {
        if settings.mode == "deny-settings" {
            vec!["`mode` must not be `deny-settings`".to_string()]
        } else {
            Vec::new()
        }
    }

    fn evaluate(input: &Input, settings: &Settings, report: &mut Report) -> Result<(), String> {
        match settings.mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("hostile policy panics on purpose"),
            "output" => {
                let big = "x".repeat(1 << 20);
                for _ in 0..300 {
                    let loc = Location {
                        file: "f".into(),
                        line: 1,
                        end_line: None,
                        pointer: None,
                    };
                    report.finding("noise", loc, big.clone());
                }
                Ok(())
            }
            "error" => Err("hostile policy returns an error on purpose".to_string()),
            _ => {
                // One detail for every request (the bench's floor: what is left is moving
                // the batch in and the answers out); connections go through `decision`.
                let allow = report.detail(policy_guest::DecisionDetail {
                    verdict: Verdict::Allow,
                    status: None,
                    stage: "passed".into(),
                    location: None,
                    method: None,
                    reason: "hostile says allow".into(),
                    depends_on: Vec::new(),
                });
                report.reserve(SampleKind::Request, input.requests.len());
                for i in 0..input.requests.len() {
                    report.answer(SampleKind::Request, i, allow);
                }
                for (i, _) in input.connections.iter().enumerate() {
                    report.decision(policy_guest::report::decision(
                        SampleKind::Connection,
                        i,
                        Verdict::Allow,
                        "auth",
                        "hostile says allow".into(),
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
policy_guest::policy!(Hostile);
