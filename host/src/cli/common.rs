//! Arguments shared by `check` and `simulate` (inputs, policies, limits, output), kept
//! apart from the plan they resolve to ([`crate::run::Plan`]).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};

use crate::bundle::{self, Bundle};
use crate::discover::{self, KindOverrides};
use crate::engine::Limits;
use crate::formats::yaml;
use crate::report::{Format, Mode};
use crate::run::{Outcome, Plan, PolicyRun, PolicySource, builtin};
use crate::samples::{self, Samples};

/// The ranges of the limit flags: a value outside is a usage error (exit 3), never
/// wrapped or clamped.
pub const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1..=3_600_000;
pub const MEMORY_MIB: std::ops::RangeInclusive<u64> = 1..=4096;
pub const OUTPUT_MIB: std::ops::RangeInclusive<u64> = 1..=4096;

/// Which files to read.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Config files or directories (directories are walked; kinds detected by name and
    /// content).
    #[arg(value_name = "PATHS", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Force a file's kind: `KIND=PATH`, or `KIND` for every file named on the command
    /// line (kinds: patroni, pg-hba, pg-ident, postgresql-conf, haproxy, etcd, pgbackrest,
    /// pg-autoctl, pgbouncer, consul, gitlab-rb, topology, systemd, nftables).
    #[arg(long, value_name = "KIND[=PATH]")]
    pub kind: Vec<String>,
    /// Where the deployment's files sit: a PEM file a config names as
    /// `/etc/patroni/ssl/server.crt` is read from `DIR/etc/patroni/ssl/server.crt`
    /// (default: found by file name within the checked paths).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
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
    /// Time limit of one policy call, in milliseconds (1 to 3,600,000).
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(TIMEOUT_MS))]
    pub timeout_ms: u64,
    /// Memory limit of one policy instance, in MiB (1 to 4096: a wasm32 memory's size).
    #[arg(long, value_name = "MIB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(MEMORY_MIB))]
    pub memory_mib: u64,
    /// Output limit of one policy call, in MiB (1 to 4096).
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(OUTPUT_MIB))]
    pub output_mib: u64,
    /// How many policies are evaluated at once (1 to 256; default: one per available
    /// core). The output is the same whatever the number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: Option<u64>,
    /// The policy bundle: which policies run, their settings, severity overrides and
    /// exceptions (default: patrol.yaml in the working directory, if there is one).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Ignore patrol.yaml in the working directory.
    #[arg(long)]
    pub no_config: bool,
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
pub fn plan(
    inputs: &InputArgs,
    policies: &PolicyArgs,
    samples_path: Option<&Path>,
    verbose: bool,
) -> Result<Plan> {
    let overrides = KindOverrides::parse(&inputs.kind).map_err(anyhow::Error::msg)?;
    let samples = match samples_path {
        Some(path) => read_samples(path)?,
        None => Samples::default(),
    };
    let bundle = read_bundle(policies.config.as_deref(), policies.no_config)?;
    let mut exclude: Vec<PathBuf> = samples_path.map(Path::to_path_buf).into_iter().collect();
    if let Some(b) = &bundle {
        // The bundle is not a config file to check (a walk of `.` meets it as `./patrol.yaml`).
        let path = PathBuf::from(&b.file);
        exclude.extend([Path::new(".").join(&path), path]);
    }
    let discovery =
        discover::discover_all(&inputs.paths, &overrides, &exclude).map_err(anyhow::Error::msg)?;
    let (files, skipped) = (discovery.files, discovery.skipped);

    let mut runs = bundle_runs(bundle.as_ref(), policies.no_builtin)?;
    let mut by_name = BTreeMap::new();
    let mut for_org = None;
    for s in &policies.settings {
        match s.split_once('=') {
            Some((name, file)) => {
                by_name.insert(name.to_string(), read_settings(Path::new(file))?);
            }
            None => {
                if for_org.is_some() {
                    bail!(
                        "`--settings FILE` without `NAME=` may be given only once; name the policy: `--settings NAME=FILE`"
                    );
                }
                for_org = Some(read_settings(Path::new(s))?);
            }
        }
    }
    for path in &policies.policies {
        let bytes = crate::confine::read_policy(path).map_err(anyhow::Error::msg)?;
        runs.push(PolicyRun {
            source: PolicySource::File(path.clone(), bytes),
            settings: for_org.clone(),
        });
    }
    if runs.is_empty() {
        bail!(
            "no policy to run: `--no-builtin` needs at least one `--policy FILE.wasm` (or a `path:` policy in patrol.yaml)"
        );
    }
    Ok(Plan {
        files,
        policies: runs,
        settings_by_name: by_name,
        samples,
        // In range (clap checked), so the shifts cannot wrap.
        limits: Limits {
            timeout: Duration::from_millis(policies.timeout_ms),
            memory: (policies.memory_mib as usize) << 20,
            output: (policies.output_mib as usize) << 20,
            jobs: policies.jobs.map_or(0, |j| j as usize),
        },
        verbose,
        bundle,
        certs: crate::certs::Search::for_inputs(inputs.root.clone(), &inputs.paths),
        reserve_builtin_names: true,
        skipped,
        adopt: Default::default(),
    })
}

/// The bundle in effect (`--config`, else `./patrol.yaml`), checked; every problem in it
/// is reported at once, each with its line.
pub fn read_bundle(config: Option<&Path>, no_config: bool) -> Result<Option<Bundle>> {
    if no_config {
        return Ok(None);
    }
    let Some(path) = Bundle::find(config) else {
        return Ok(None);
    };
    let names: Vec<&str> = builtin::BUILTIN_POLICIES.iter().map(|(n, _)| *n).collect();
    Bundle::load(&path, &names).map(Some).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid bundle `{}`:\n{}", path.display(), lines.join("\n"))
    })
}

/// The policies a bundle lists (every built-in one without a bundle or without a
/// `policies` list), with their settings.
pub fn bundle_runs(bundle: Option<&Bundle>, no_builtin: bool) -> Result<Vec<PolicyRun>> {
    let mut runs: Vec<PolicyRun> = Vec::new();
    let builtins = PolicySource::builtins();
    let add_builtin = |runs: &mut Vec<PolicyRun>, name: &str, settings: Option<String>| {
        if no_builtin {
            return;
        }
        let source = builtins
            .iter()
            .find(|s| matches!(s, PolicySource::Builtin(n, _) if *n == name));
        if let Some(source) = source {
            match runs
                .iter_mut()
                .find(|r| matches!(&r.source, PolicySource::Builtin(n, _) if *n == name))
            {
                Some(existing) => existing.settings = settings.or(existing.settings.take()),
                None => runs.push(PolicyRun {
                    source: source.clone(),
                    settings,
                }),
            }
        }
    };
    let Some(entries) = bundle.and_then(|b| b.policies.as_ref()) else {
        for (name, _) in builtin::BUILTIN_POLICIES {
            add_builtin(&mut runs, name, None);
        }
        return Ok(runs);
    };
    for entry in entries {
        match &entry.source {
            bundle::Source::AllBuiltins => {
                for (name, _) in builtin::BUILTIN_POLICIES {
                    add_builtin(&mut runs, name, None);
                }
            }
            bundle::Source::Builtin(name) => add_builtin(&mut runs, name, entry.settings.clone()),
            bundle::Source::Path(path) => {
                let bytes = crate::confine::read_policy(path).map_err(anyhow::Error::msg)?;
                runs.push(PolicyRun {
                    source: PolicySource::File(path.clone(), bytes),
                    settings: entry.settings.clone(),
                });
            }
        }
    }
    Ok(runs)
}

/// The samples file: JSON streamed into the columns (a larger bound), YAML read whole.
pub fn read_samples(path: &Path) -> Result<Samples> {
    samples::stream::read_file(path).map_err(anyhow::Error::msg)
}

/// Reads a settings file (YAML or JSON) into JSON text.
pub fn read_settings(path: &Path) -> Result<String> {
    let text = read_text(path)?;
    let parsed = yaml::parse(&text, &path.display().to_string());
    if let Some(d) = parsed.diagnostics.iter().find(|d| d.code == "invalid-yaml") {
        bail!("{}:{}: {}", path.display(), d.location.line, d.message);
    }
    let json = if parsed.value.json == "null" {
        "{}".to_string()
    } else {
        parsed.value.json
    };
    Ok(json)
}

/// A samples or settings file: bounded and checked as walked files are.
fn read_text(path: &Path) -> Result<String> {
    crate::confine::read_text(path)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))
}

/// Renders the outcome to stdout (or `to_stderr`), secrets scrubbed.
pub fn print(outcome: &Outcome, format: Format, mode: Mode, to_stderr: bool) -> Result<()> {
    let color = format == Format::Text
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
    // The text report ends with which files were read and skipped, and JSON lists them in
    // `files`; the CI formats have no place for it, so it goes to stderr.
    if matches!(format, Format::Sarif | Format::Junit | Format::Github)
        && !outcome.inputs.is_empty()
    {
        crate::say!("patrol: {}", outcome.files_summary());
    }
    // Streamed: the report is written as it is rendered, never held whole in memory.
    let written = if to_stderr {
        let mut err = std::io::BufWriter::with_capacity(1 << 16, std::io::stderr().lock());
        crate::report::render_to(outcome, format, mode, color, &mut err).and_then(|()| err.flush())
    } else {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        crate::report::render_to(outcome, format, mode, color, &mut out).and_then(|()| out.flush())
    };
    match written {
        // A closed pipe (`patrol … | head`) is not an error worth a message.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Logs what the engine did, with `-v`.
pub fn log_policies(outcome: &Outcome, verbose: bool) {
    if verbose {
        for p in &outcome.policies {
            match &p.skipped {
                Some(why) => {
                    crate::say!("patrol: policy `{}` {} (skipped: {why})", p.name, p.source)
                }
                None => crate::say!("patrol: policy `{}` {} ({:?})", p.name, p.source, p.cache),
            }
        }
    }
}
