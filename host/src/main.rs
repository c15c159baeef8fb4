//! The `patrol` binary: parse the arguments, call the library, exit with its code.

use clap::Parser;
use patrol::cli::{self, Cli, Exit};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's own usage errors are exit 3 (help and version are 0).
            let code = if e.use_stderr() {
                Exit::Usage as i32
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    std::process::exit(cli::run(cli) as i32);
}
