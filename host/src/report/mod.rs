//! Renders an [`Outcome`] in every output format behind one trait, [`Render`]. Findings,
//! decisions and patches go to stdout; logs and errors to stderr (the CLI's job).
//! Every format goes through [`redact`]: secrets never appear in any output.

pub mod json;
pub mod redact;
pub mod text;

use std::io;

use crate::run::Outcome;

/// Which subcommand produced the outcome (the text format shows decisions first for
/// `simulate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Check,
    Simulate,
}

/// One output format.
pub trait Render {
    fn render(&self, outcome: &Outcome, mode: Mode, out: &mut dyn io::Write) -> io::Result<()>;
}

/// The output formats, for `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For humans: findings grouped by file, with the source line.
    Text,
    /// One JSON object: `findings`, `decisions`, `patches`, `errors`, `policies`.
    Json,
}

impl Format {
    pub fn renderer(self, color: bool) -> Box<dyn Render> {
        match self {
            Format::Text => Box::new(text::Text { color }),
            Format::Json => Box::new(json::Json),
        }
    }
}
