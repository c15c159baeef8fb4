//! `patrol ports`: the port matrix of a deployment (which host must accept which port
//! from which other hosts), from its topology file and configs, printed as a table, as
//! nftables or firewalld rules, or as JSON. `patrol check` checks the hosts' nftables
//! rulesets against the same matrix (the `topology` policy).

use anyhow::{Result, bail};

use super::Exit;
use super::common::InputArgs;
use crate::discover::{self, KindOverrides};
use crate::formats::{self, Kind, ParseContext};
use crate::ports::{self, render};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PortsFormat {
    /// A table per host.
    Text,
    /// An nftables table per host that filters the cluster's ports (`nft -f`).
    Nftables,
    /// `firewall-cmd` rich rules per host.
    Firewalld,
    /// The matrices as a JSON array.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PortsFormat::Text)]
    pub format: PortsFormat,
    /// Print only this host of the topology.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
}

pub fn run(args: Args) -> Result<Exit> {
    let overrides = KindOverrides::parse(&args.inputs.kind).map_err(anyhow::Error::msg)?;
    let files =
        discover::discover(&args.inputs.paths, &overrides, &[]).map_err(anyhow::Error::msg)?;
    // Included files are read only inside the checked paths and `--root`.
    let roots = args.inputs.paths.iter().chain(args.inputs.root.iter());
    let ctx = ParseContext {
        tree: Some(crate::confine::Tree::new(
            roots.map(std::path::PathBuf::as_path),
        )),
        ..Default::default()
    };
    let documents: Vec<_> = files
        .iter()
        .map(|f| formats::document(f.kind.clone(), &f.display, &f.path, f.text.clone(), &ctx))
        .collect();
    let matrices: Vec<ports::Matrix> = documents
        .iter()
        .filter(|d| d.kind == Kind::Topology)
        .filter_map(|t| ports::derive(t, &documents))
        .collect();
    if matrices.is_empty() {
        bail!(
            "no topology among the inputs: name a `topology.yaml` (hosts with their address, roles and firewall)"
        );
    }
    if let Some(h) = &args.host
        && !matrices
            .iter()
            .any(|m| m.hosts.iter().any(|x| &x.name == h))
    {
        let known: Vec<&str> = matrices
            .iter()
            .flat_map(|m| m.hosts.iter().map(|x| x.name.as_str()))
            .collect();
        bail!(
            "no host `{h}` in the topology (hosts: {})",
            known.join(", ")
        );
    }
    let only = args.host.as_deref();
    let out = match args.format {
        PortsFormat::Text => crate::report::escape::log(
            &matrices
                .iter()
                .map(|m| render::text(m, only))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        PortsFormat::Nftables => matrices
            .iter()
            .map(|m| render::nftables(m, only))
            .collect::<Vec<_>>()
            .join("\n"),
        PortsFormat::Firewalld => matrices
            .iter()
            .map(|m| render::firewalld(m, only))
            .collect::<Vec<_>>()
            .join("\n"),
        PortsFormat::Json => {
            let filtered: Vec<ports::Matrix> = matrices
                .into_iter()
                .map(|mut m| {
                    m.hosts.retain(|h| only.is_none_or(|o| o == h.name));
                    m
                })
                .collect();
            crate::report::escape::json_commands(format!(
                "{}\n",
                serde_json::to_string_pretty(&filtered)?
            ))
        }
    };
    print!("{out}");
    Ok(Exit::Clean)
}
