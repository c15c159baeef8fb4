//! `patrol policy build [DIR]`: builds a policy crate into a component and says where it
//! wrote it, its size and its imports (see [`crate::authoring::build`]).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;

use super::Exit;
use crate::authoring::build::{self, Options, Refused};
use crate::report::DataFormat as Format;
use crate::run::Severity;

pub const EXIT_CODES: &str = "Exit codes:
  0  built
  2  built, but patrol refuses it (an import outside the patrol:policy world, no policy export)
  3  usage error, or the crate does not compile";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy crate.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Where to write the component (default: DIR/target/patrol/NAME.wasm).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: Args, verbose: bool) -> Result<Exit> {
    let options = Options {
        out: args.out,
        verbose,
    };
    let built = match build::build(&args.dir, &options) {
        Ok(b) => b,
        Err(e) if e.downcast_ref::<Refused>().is_some() => {
            crate::say!("error: {e:#}");
            return Ok(Exit::PolicyFailed);
        }
        Err(e) => return Err(e),
    };
    let m = &built.metadata;
    match args.format {
        Format::Json => {
            let value = json!({
                "name": m.name,
                "version": m.version,
                "file": built.path.display().to_string(),
                "size": built.size,
                "imports": built.imports,
                "exports": built.exports,
                "codes": m.codes.iter().map(|c| format!("{}/{}", m.name, c.code)).collect::<Vec<_>>(),
            });
            super::test::stdout(&crate::report::escape::json_commands(
                serde_json::to_string_pretty(&value)? + "\n",
            ))?;
        }
        Format::Text => {
            let mut out = format!(
                "built {} {}: {} ({})\nimports:\n",
                m.name,
                m.version,
                built.path.display(),
                size(built.size)
            );
            for i in &built.imports {
                out += &format!("  {i}\n");
            }
            out += "exports:\n";
            for e in &built.exports {
                out += &format!("  {e}\n");
            }
            out += &format!("reads: {}\ncodes:\n", m.reads.join(", "));
            for c in &m.codes {
                out += &format!(
                    "  {:<48} {}\n",
                    format!("{}/{}", m.name, c.code),
                    Severity::from(c.severity).as_str()
                );
            }
            super::test::stdout(&crate::report::escape::log(&out))?;
        }
    }
    Ok(Exit::Clean)
}

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
