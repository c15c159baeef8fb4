//! `patrol policy new NAME`: scaffolds a policy crate (see [`crate::authoring::scaffold`]).

use std::path::PathBuf;

use anyhow::Result;

use super::Exit;
use crate::authoring::scaffold;
use crate::run::builtin;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy's name, kebab-case (`acme-rules`); also its crate's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The directory to create (default: ./NAME).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The policy-guest SDK to depend on (default: $PATROL_SDK, else the SDK patrol was
    /// built from).
    #[arg(long, value_name = "PATH")]
    pub sdk: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<Exit> {
    let builtins: Vec<&str> = builtin::BUILTIN_POLICIES.iter().map(|(n, _)| *n).collect();
    scaffold::check_name(&args.name, &builtins)?;
    let sdk = scaffold::find_sdk(args.sdk.as_deref())?;
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    let made = scaffold::new(&args.name, &dir, &sdk)?;
    println!(
        "created policy `{}` in {} (SDK: {})",
        args.name,
        made.dir.display(),
        made.sdk.display()
    );
    for f in &made.files {
        println!("  {}", f.display());
    }
    let cd = dir.display();
    println!(
        "\nnext:\n  cd {cd}\n  cargo test              # unit tests, natively\n  patrol policy build     # → target/patrol/{}.wasm\n  patrol test             # the cases in tests/*.yaml",
        args.name
    );
    Ok(Exit::Clean)
}
