//! The misbehaviours of the hostile test policies, picked by the `mode` setting.

use policy_guest::{
    Code, DecisionDetail, Edit, Input, LineEdit, Location, Patch, PointerValue, Policy, Report,
    SampleKind, Severity, Verdict,
};

pub struct Hostile;

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Settings {
    pub mode: String,
    /// How many findings, codes or log lines (modes `many-findings`, `many-codes`,
    /// `log-flood`).
    pub count: Option<u32>,
}

pub const CODES: &[Code] = &[Code::new("noise", Severity::Info, "noise", "none")];

fn here() -> Location {
    Location {
        file: "f".into(),
        line: 1,
        end_line: None,
        pointer: None,
    }
}

fn detail(verdict: Verdict, reason: String) -> DecisionDetail {
    DecisionDetail {
        verdict,
        status: None,
        stage: "passed".into(),
        location: None,
        method: None,
        reason,
        depends_on: Vec::new(),
    }
}

/// Recurses without end on the wasm call stack (scalars only: nothing on Rust's shadow
/// stack in linear memory); `black_box` keeps the call from becoming a loop.
#[allow(unconditional_recursion)]
fn deeper(n: u64) -> u64 {
    std::hint::black_box(deeper(std::hint::black_box(n + 1))) ^ n
}

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
        let count = settings.count.unwrap_or(1_000_000) as usize;
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
            "stack" => {
                let n = deeper(0);
                Err(format!("unreachable: {n}"))
            }
            "output" => {
                let big = "x".repeat(1 << 20);
                for _ in 0..300 {
                    report.finding("noise", here(), big.clone());
                }
                Ok(())
            }
            "error" => Err("hostile policy returns an error on purpose".to_string()),
            "big-error" => Err(format!("hostile error {}", "E".repeat(10 << 20))),
            "big-detail" => {
                let big = report.detail(detail(
                    Verdict::Deny,
                    format!("hostile reason {}", "R".repeat(1 << 20)),
                ));
                for i in 0..input.requests.len() {
                    report.answer(SampleKind::Request, i, big);
                }
                for i in 0..input.connections.len() {
                    report.answer(SampleKind::Connection, i, big);
                }
                Ok(())
            }
            "many-findings" => {
                for _ in 0..count {
                    report.finding("noise", here(), "m");
                }
                Ok(())
            }
            "many-codes" => {
                for i in 0..count {
                    report.finding(&format!("c{i}"), here(), "m");
                }
                Ok(())
            }
            "undeclared" => {
                report.finding(
                    "never-declared",
                    here(),
                    "a code the metadata does not list",
                );
                Ok(())
            }
            "duplicate" => {
                let allow = report.detail(detail(Verdict::Allow, "hostile says allow".into()));
                let deny = report.detail(detail(Verdict::Deny, "hostile says deny".into()));
                for i in 0..input.requests.len() {
                    report.answer(SampleKind::Request, i, allow);
                    report.answer(SampleKind::Request, i, deny);
                }
                Ok(())
            }
            "overlap" | "lines-outside" | "deep-pointer" => {
                let Some(doc) = input.documents.first() else {
                    return Ok(());
                };
                let line = |start: u32, end: u32, text: &str| {
                    Edit::Lines(LineEdit {
                        start,
                        end,
                        text: text.into(),
                    })
                };
                let edits = match settings.mode.as_str() {
                    // Applied bottom-up, the deletion leaves the first edit past the end.
                    "overlap" => vec![line(1, 3, "hostile\n"), line(2, 3, "")],
                    "lines-outside" => vec![line(1000, 1000, "hostile\n")],
                    _ => vec![Edit::Set(PointerValue {
                        pointer: "/a".repeat(10_000),
                        value: "1".into(),
                    })],
                };
                let loc = Location {
                    file: doc.path.clone(),
                    line: 1,
                    end_line: None,
                    pointer: None,
                };
                let index = report.finding("noise", loc, "hostile fix");
                report.severity(index, Severity::High);
                report.fix(
                    index,
                    Patch {
                        file: doc.path.clone(),
                        description: "hostile fix".into(),
                        edits,
                    },
                );
                Ok(())
            }
            "log-flood" => {
                let line = "L".repeat(100);
                for i in 0..count {
                    policy_guest::log(&format!("{i} {line}"));
                }
                Ok(())
            }
            _ => {
                // One detail for every request (the bench's floor: what is left is moving
                // the batch in and the answers out); connections go through `decision`.
                let allow = report.detail(detail(Verdict::Allow, "hostile says allow".into()));
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
