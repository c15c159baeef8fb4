//! `patrol man`: the manual page, generated from the clap definitions by `clap_mangen`.
//! `patrol man` prints `patrol(1)` in roff; `patrol man --dir DIR` writes a page for
//! every subcommand too (`patrol-check.1`, `patrol-simulate.1`, …).
//!
//! Read it with `patrol man | man -l -`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::{Cli, Exit};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write `patrol.1` and one page per subcommand into this directory instead of
    /// printing `patrol.1`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<Exit> {
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), &dir).with_context(|| {
                format!("cannot write the manual pages into `{}`", dir.display())
            })?;
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut page)?;
            write_stdout(&page)?;
        }
    }
    Ok(Exit::Clean)
}

/// Writes to stdout; a closed pipe (`patrol man | head`) is not an error.
pub(super) fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_documents_commands_and_exit_codes() {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut page)
            .unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{}", &page[..80]);
        assert!(page.contains(".TH patrol 1"));
        for word in ["check", "simulate", "Exit codes"] {
            assert!(page.contains(word), "man page lacks `{word}`");
        }
    }

    #[test]
    fn one_page_per_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        run(Args {
            dir: Some(dir.path().to_path_buf()),
        })
        .unwrap();
        for page in [
            "patrol.1",
            "patrol-check.1",
            "patrol-simulate.1",
            "patrol-policy-inspect.1",
            "patrol-completions.1",
        ] {
            assert!(dir.path().join(page).exists(), "no {page}");
        }
    }
}
