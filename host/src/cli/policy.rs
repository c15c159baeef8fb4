//! `patrol policy inspect FILE.wasm`, `patrol policy list`, and the authoring commands
//! `patrol policy new` and `patrol policy build` (in their own modules).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;

use super::Exit;
use crate::engine::{self, Engine, Limits};
use crate::report::DataFormat as Format;
use crate::run::{PolicySource, Severity};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show a policy component's imports and metadata (name, version, finding codes,
    /// document kinds it reads, settings schema). Exit 2 if patrol would refuse it.
    Inspect {
        #[arg(value_name = "FILE.wasm")]
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List the policies that run (the built-in ones, the bundle's, `--policy` ones) with
    /// their finding codes.
    List {
        #[arg(long = "policy", value_name = "FILE.wasm")]
        policies: Vec<PathBuf>,
        /// The policy bundle (default: patrol.yaml in the working directory, if any).
        #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
        config: Option<PathBuf>,
        /// Ignore patrol.yaml in the working directory: list the built-in policies.
        #[arg(long)]
        no_config: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Create a policy crate: settings, an example rule, unit tests and test cases.
    New(super::policy_new::Args),
    /// Build a policy crate into a component; print its path, size and imports.
    #[command(after_help = super::policy_build::EXIT_CODES)]
    Build(super::policy_build::Args),
}

pub fn run(cmd: Command, verbose: bool) -> Result<Exit> {
    match cmd {
        Command::Inspect { file, format } => inspect(file, format, verbose),
        Command::List {
            policies,
            config,
            no_config,
            format,
        } => list(policies, config, no_config, format, verbose),
        Command::New(args) => super::policy_new::run(args),
        Command::Build(args) => super::policy_build::run(args, verbose),
    }
}

fn inspect(file: PathBuf, format: Format, verbose: bool) -> Result<Exit> {
    let bytes = crate::confine::read_policy(&file).map_err(anyhow::Error::msg)?;
    let (imports, exports) = match Engine::inspect_imports(&bytes) {
        Ok(x) => x,
        Err(e) => anyhow::bail!("`{}` is not a policy component: {e:#}", file.display()),
    };
    let engine = Engine::new(Limits::default(), verbose)?;
    let loaded = engine.load(&file.display().to_string(), &bytes);
    let refused: Vec<&String> = imports
        .iter()
        .filter(|i| !engine::ALLOWED_IMPORTS.contains(&i.as_str()))
        .collect();
    match format {
        Format::Json => {
            let value = json!({
                "file": file.display().to_string(),
                "size": bytes.len(),
                "imports": imports,
                "exports": exports,
                "refused_imports": refused,
                "metadata": loaded.as_ref().ok().map(|l| metadata_json(&l.metadata)),
                "error": loaded.as_ref().err().map(|e| e.message.clone()),
            });
            println!(
                "{}",
                crate::report::escape::json_commands(serde_json::to_string_pretty(&value)?)
            );
        }
        Format::Text => {
            crate::show!("file: {} ({} bytes)", file.display(), bytes.len());
            crate::show!("imports:");
            for i in &imports {
                let mark = if engine::ALLOWED_IMPORTS.contains(&i.as_str()) {
                    ""
                } else {
                    "   <- not allowed"
                };
                crate::show!("  {i}{mark}");
            }
            if imports.is_empty() {
                crate::show!("  (none)");
            }
            crate::show!("exports:");
            for e in &exports {
                crate::show!("  {e}");
            }
            match &loaded {
                Ok(l) => print_metadata(&l.metadata),
                Err(e) => println!("refused: {}", e.message),
            }
        }
    }
    Ok(if loaded.is_ok() {
        Exit::Clean
    } else {
        Exit::PolicyFailed
    })
}

fn list(
    paths: Vec<PathBuf>,
    config: Option<PathBuf>,
    no_config: bool,
    format: Format,
    verbose: bool,
) -> Result<Exit> {
    let engine = Engine::new(Limits::default(), verbose)?;
    // Every built-in policy (whether the bundle enables it or not), then the bundle's org
    // policies, then `--policy` ones.
    let mut sources = PolicySource::builtins();
    let bundle = super::common::read_bundle(config.as_deref(), no_config)?;
    sources.extend(
        super::common::bundle_runs(bundle.as_ref(), true)?
            .into_iter()
            .map(|r| r.source),
    );
    for p in paths {
        let bytes = crate::confine::read_policy(&p).map_err(anyhow::Error::msg)?;
        sources.push(PolicySource::File(p, bytes));
    }
    let mut all = Vec::new();
    let mut failed = false;
    for source in &sources {
        let bytes = match source {
            PolicySource::Builtin(_, b) => *b,
            PolicySource::File(_, b) => b.as_slice(),
        };
        match engine.load(&source.label(), bytes) {
            Ok(l) => all.push((source.label(), l.metadata.clone())),
            Err(e) => {
                failed = true;
                crate::say!("error: {e}");
            }
        }
    }
    match format {
        Format::Json => {
            let v: Vec<_> = all
                .iter()
                .map(|(src, m)| {
                    let mut j = metadata_json(m);
                    j["source"] = json!(src);
                    j
                })
                .collect();
            println!(
                "{}",
                crate::report::escape::json_commands(serde_json::to_string_pretty(
                    &json!({ "policies": v })
                )?)
            );
        }
        Format::Text => {
            for (src, m) in &all {
                crate::show!("{} {} ({src})", m.name, m.version);
                crate::show!("  {}", m.description);
                for c in &m.codes {
                    crate::show!(
                        "  {:<40} {:<8} {}",
                        format!("{}/{}", m.name, c.code),
                        Severity::from(c.severity).as_str(),
                        c.summary
                    );
                }
            }
        }
    }
    Ok(if failed {
        Exit::PolicyFailed
    } else {
        Exit::Clean
    })
}

fn metadata_json(m: &crate::wit::PolicyMetadata) -> serde_json::Value {
    json!({
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "reads": m.reads,
        "codes": m.codes.iter().map(|c| json!({
            "code": c.code,
            "severity": Severity::from(c.severity).as_str(),
            "summary": c.summary,
            "help": c.help,
        })).collect::<Vec<_>>(),
        "settings_schema": serde_json::from_str::<serde_json::Value>(&m.settings_schema).unwrap_or(serde_json::Value::Null),
    })
}

fn print_metadata(m: &crate::wit::PolicyMetadata) {
    crate::show!("policy: {} {}", m.name, m.version);
    crate::show!("  {}", m.description);
    crate::show!("reads: {}", m.reads.join(", "));
    crate::show!("codes:");
    for c in &m.codes {
        crate::show!(
            "  {:<36} {:<8} {}",
            c.code,
            Severity::from(c.severity).as_str(),
            c.summary
        );
    }
    crate::show!("settings schema: {}", m.settings_schema);
}
