//! `patrol simulate`: answers simulated requests and connections as the real servers would.

use std::path::PathBuf;

use anyhow::Result;

use super::Exit;
use super::common::{self, InputArgs, OutputArgs, PolicyArgs};
use crate::report::Mode;
use crate::run;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: InputArgs,
    #[command(flatten)]
    pub policies: PolicyArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// The samples file (YAML or JSON): `context`, `requests`, `connections`.
    #[arg(long, value_name = "FILE")]
    pub samples: PathBuf,
}

/// Exit 0 when every policy ran (whatever the verdicts), 2 when one failed.
pub fn run(args: Args, verbose: bool) -> Result<Exit> {
    let plan = common::plan(&args.inputs, &args.policies, Some(&args.samples), verbose)?;
    let progress = super::progress::Progress::start(
        plan.samples.requests.len() + plan.samples.connections.len(),
        plan.policies.len(),
        verbose,
    );
    let outcome = run::run_observed(&plan, &|label| progress.policy_done(label))?;
    progress.finish();
    common::log_policies(&outcome, verbose);
    common::print(&outcome, args.output.format, Mode::Simulate, false)?;
    Ok(if outcome.errors.is_empty() {
        Exit::Clean
    } else {
        Exit::PolicyFailed
    })
}
