//! `patrol completions SHELL`: the shell completion script, generated from the clap
//! definitions by `clap_complete` (so it never drifts from the real flags).
//!
//! Install, e.g.: `patrol completions bash > /etc/bash_completion.d/patrol`,
//! `patrol completions zsh > "${fpath[1]}/_patrol"`,
//! `patrol completions fish > ~/.config/fish/completions/patrol.fish`.

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, Exit};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: Args) -> Result<Exit> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "patrol", &mut script);
    super::man::write_stdout(&script)?;
    Ok(Exit::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_knows_the_subcommands() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Elvish,
            Shell::PowerShell,
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "patrol", &mut script);
            let script = String::from_utf8(script).unwrap();
            for word in ["check", "simulate", "completions", "fail-on"] {
                assert!(script.contains(word), "{shell:?} completion lacks `{word}`");
            }
            // Elvish and PowerShell complete flags, not their values.
            if matches!(shell, Shell::Bash | Shell::Zsh | Shell::Fish) {
                for word in ["sarif", "junit", "github"] {
                    assert!(script.contains(word), "{shell:?} completion lacks `{word}`");
                }
            }
        }
    }
}
