//! The command line: clap-derive argument structs, one module per subcommand, each with a
//! `run` that returns an [`Exit`]. `main.rs` only parses, calls, and exits.

pub mod check;
pub mod common;
pub mod completions;
pub mod flows;
pub mod man;
pub mod policy;
pub mod policy_build;
pub mod policy_new;
pub mod ports;
pub mod progress;
pub mod simulate;
pub mod test;
mod test_all;
pub mod verify;

use clap::{Parser, Subcommand};

/// The exit codes, a contract with users' CI scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// No finding at or above `--fail-on`, no policy failed.
    Clean = 0,
    /// Findings at or above `--fail-on`.
    Findings = 1,
    /// A policy failed (trapped, hit a limit, returned an error, rejected its settings);
    /// wins over 1: the run failed closed.
    PolicyFailed = 2,
    /// Bad usage, or an input that cannot be read.
    Usage = 3,
}

pub const EXIT_CODES: &str = "\
Exit codes:
  0  no finding at or above --fail-on, and every policy ran
  1  findings at or above --fail-on
  2  a policy failed (trap, limit, its own error, invalid settings); wins over 1
  3  usage error, or an input file that cannot be read or understood";

/// patrol checks the security of PostgreSQL high-availability deployments (Patroni,
/// PostgreSQL, etcd, HAProxy, pgBackRest…) with sandboxed WebAssembly policies.
#[derive(Debug, Parser)]
#[command(name = "patrol", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log what the engine does (compile or cache hit, policy log lines) to stderr.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check config files and directories against the policies; report findings.
    #[command(after_help = EXIT_CODES)]
    Check(check::Args),
    /// Answer simulated requests and connections as the real servers would.
    #[command(after_help = EXIT_CODES)]
    Simulate(simulate::Args),
    /// List the connections and calls the deployment itself needs (replication, Patroni's
    /// own connection, HAProxy checks, REST calls, DCS, PgBouncer auth_user…) with today's
    /// decision on each.
    #[command(after_help = flows::EXIT_CODES)]
    Flows(flows::Args),
    /// Create, build, inspect or list policies.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Print the port matrix of a topology: which host accepts which port from whom, as a
    /// table, nftables or firewalld rules, or JSON.
    Ports(ports::Args),
    /// Probe the live servers the configs name with requests that change nothing, and
    /// report where they disagree with the simulation.
    #[command(after_help = verify::AFTER_HELP)]
    Verify(verify::Args),
    /// Run a policy's YAML test cases (tests/*.yaml) and report the coverage of its codes.
    Test(test::Args),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page (roff), or write one per subcommand with `--dir`.
    Man(man::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Exit {
    let result = match cli.command {
        Command::Check(args) => check::run(args, cli.verbose),
        Command::Simulate(args) => simulate::run(args, cli.verbose),
        Command::Flows(args) => flows::run(args, cli.verbose),
        Command::Policy(cmd) => policy::run(cmd, cli.verbose),
        Command::Ports(args) => ports::run(args),
        Command::Test(args) => test::run(args, cli.verbose),
        Command::Verify(args) => verify::run(args, cli.verbose),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    };
    match result {
        Ok(exit) => exit,
        Err(e) => {
            crate::say!("error: {e:#}");
            Exit::Usage
        }
    }
}
