//! Arguments shared by `check` and `simulate` (inputs, policies, limits, output), kept
//! apart from the plan they resolve to ([`crate::run::Plan`]).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::discover::{self, KindOverrides};
use crate::engine::Limits;
use crate::formats::yaml;
use crate::report::redact::Secrets;
use crate::report::{Format, Mode};
use crate::run::{Outcome, Plan, PolicyRun, PolicySource};
use crate::samples::{self, Samples};

/// Which files to read.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Config files or directories (directories are walked; kinds detected by name and
    /// content).
    #[arg(value_name = "PATHS", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Force a file's kind: `KIND=PATH`, or `KIND` for every file named on the command
    /// line (kinds: patroni, pg-hba, pg-ident, postgresql-conf, haproxy, etcd, pgbackrest,
    /// pg-autoctl, pgbouncer, consul, gitlab-rb, topology).
    #[arg(long, value_name = "KIND[=PATH]")]
    pub kind: Vec<String>,
}

/// Which policies run, with which settings and limits.
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// An org policy component to run next to the built-in ones (repeatable).
    #[arg(long = "policy", value_name = "FILE.wasm")]
    pub policies: Vec<PathBuf>,
    /// Settings (YAML or JSON): `NAME=FILE` for the policy called NAME, or `FILE` for
    /// every `--policy` (repeatable).
    #[arg(long, value_name = "[NAME=]FILE")]
    pub settings: Vec<String>,
    /// Run only the `--policy` components, not the built-in policies.
    #[arg(long)]
    pub no_builtin: bool,
    /// Time limit of one policy call, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Memory limit of one policy instance, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    pub memory_mib: usize,
    /// Output limit of one policy call, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub output_mib: usize,
}

/// How to print.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Builds the plan: finds the files, reads the samples, settings and policies. Every
/// problem here is a usage or input error (exit 3).
pub fn plan(inputs: &InputArgs, policies: &PolicyArgs, samples_path: Option<&Path>, verbose: bool) -> Result<Plan> {
    let overrides = KindOverrides::parse(&inputs.kind).map_err(anyhow::Error::msg)?;
    let samples = match samples_path {
        Some(path) => read_samples(path)?,
        None => Samples::default(),
    };
    let exclude: Vec<PathBuf> = samples_path.map(Path::to_path_buf).into_iter().collect();
    let files = discover::discover(&inputs.paths, &overrides, &exclude).map_err(anyhow::Error::msg)?;

    let mut runs = Vec::new();
    if !policies.no_builtin {
        runs.extend(PolicySource::builtins().into_iter().map(|source| PolicyRun { source, settings: None }));
    }
    let mut by_name = BTreeMap::new();
    let mut for_org = None;
    for s in &policies.settings {
        match s.split_once('=') {
            Some((name, file)) => {
                by_name.insert(name.to_string(), read_settings(Path::new(file))?);
            }
            None => {
                if for_org.is_some() {
                    bail!("`--settings FILE` without `NAME=` may be given only once; name the policy: `--settings NAME=FILE`");
                }
                for_org = Some(read_settings(Path::new(s))?);
            }
        }
    }
    for path in &policies.policies {
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read policy `{}`: {}", path.display(), discover::io_reason(&e)))?;
        runs.push(PolicyRun { source: PolicySource::File(path.clone(), bytes), settings: for_org.clone() });
    }
    if runs.is_empty() {
        bail!("no policy to run: `--no-builtin` needs at least one `--policy FILE.wasm`");
    }
    Ok(Plan {
        files,
        policies: runs,
        settings_by_name: by_name,
        samples,
        limits: Limits {
            timeout: Duration::from_millis(policies.timeout_ms.max(1)),
            memory: policies.memory_mib.max(1) << 20,
            output: policies.output_mib.max(1) << 20,
        },
        verbose,
    })
}

pub fn read_samples(path: &Path) -> Result<Samples> {
    let text = read_text(path)?;
    samples::parse(&text, &path.display().to_string()).map_err(anyhow::Error::msg)
}

/// Reads a settings file (YAML or JSON) into JSON text.
pub fn read_settings(path: &Path) -> Result<String> {
    let text = read_text(path)?;
    let parsed = yaml::parse(&text, &path.display().to_string());
    if let Some(d) = parsed.diagnostics.iter().find(|d| d.code == "invalid-yaml") {
        bail!("{}:{}: {}", path.display(), d.location.line, d.message);
    }
    let json = if parsed.value.json == "null" { "{}".to_string() } else { parsed.value.json };
    Ok(json)
}

fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read `{}`: {}", path.display(), discover::io_reason(&e)))?;
    String::from_utf8(bytes).with_context(|| format!("`{}` is not UTF-8 text", path.display()))
}

/// Renders the outcome to stdout (or `to_stderr`), secrets scrubbed.
pub fn print(outcome: &Outcome, format: Format, mode: Mode, to_stderr: bool) -> Result<()> {
    let color = format == Format::Text
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && if to_stderr { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
    let mut buf = Vec::new();
    format.renderer(color).render(outcome, mode, &mut buf)?;
    let secrets = Secrets::collect(outcome.files.iter().map(|(_, t)| t.as_str()));
    let text = secrets.scrub(&String::from_utf8_lossy(&buf));
    if to_stderr {
        std::io::stderr().write_all(text.as_bytes())?;
    } else {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`patrol … | head`) is not an error worth a message.
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Logs what the engine did, with `-v`.
pub fn log_policies(outcome: &Outcome, verbose: bool) {
    if verbose {
        for p in &outcome.policies {
            eprintln!("patrol: policy `{}` {} ({:?})", p.name, p.source, p.cache);
        }
    }
}
