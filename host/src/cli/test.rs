//! `patrol test [PATH]`: runs a policy's YAML test cases (`tests/*.yaml`) through the real
//! host and reports failures as diffs and the coverage of its finding codes.
//!
//! The policy is the crate at PATH, built first (as `patrol policy build` does), or a
//! component (`--policy FILE.wasm`), or a built-in policy (`--builtin NAME`). PATH that
//! holds `policies/NAME/` directories of built-in policies (a patrol checkout) runs each
//! one's cases against its built-in component instead ([`super::test_all`]).

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use super::Exit;
use super::test_all as all;
use crate::authoring::build::{self, Options};
use crate::engine::{Engine, Limits};
use crate::report::DataFormat as Format;
use crate::run::PolicySource;
use crate::testing::render::{self, Coverage, FileResults};
use crate::testing::{self, runner};

#[derive(Debug, clap::Args)]
#[command(after_help = "Exit codes:
  0  every case passed
  1  a case failed (or, with --require-coverage, a finding code no case expects)
  2  the policy does not build or load
  3  usage error, or a test file that cannot be read or understood")]
pub struct Args {
    /// A policy crate (its tests/*.yaml run), a directory of test files, or one test file;
    /// a patrol checkout (policies/NAME/ of built-in policies) runs every built-in's cases.
    #[arg(value_name = "PATH", default_value = ".")]
    pub path: PathBuf,
    /// Test this component instead of building the crate.
    #[arg(long = "policy", value_name = "FILE.wasm", conflicts_with = "builtin")]
    pub policy: Option<PathBuf>,
    /// Test a built-in policy (its test files are at PATH).
    #[arg(long, value_name = "NAME")]
    pub builtin: Option<String>,
    /// Run only the cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Fail when a finding code of the policy is expected by no case.
    #[arg(long)]
    pub require_coverage: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Time limit of one policy call, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(super::common::TIMEOUT_MS))]
    pub timeout_ms: u64,
}

/// Problems shown per invalid test file.
const MAX_PROBLEMS: usize = 50;

pub fn run(args: Args, verbose: bool) -> Result<Exit> {
    if args.policy.is_none()
        && args.builtin.is_none()
        && let Some(dirs) = all::builtin_dirs(&args.path)
    {
        return all::run(&args, &dirs, verbose);
    }
    let tested = test_policy(&args.path, args.builtin.as_deref(), &args, verbose)?;
    if let Some(results) = &tested.results {
        // Case names, messages and policies' words are data: inert in either format.
        let text = match args.format {
            Format::Text => {
                crate::report::escape::log(&render::text(&results.files, &results.coverage))
            }
            Format::Json => crate::report::escape::json_commands(
                serde_json::to_string_pretty(&render::json(&results.files, &results.coverage))?
                    + "\n",
            ),
        };
        stdout(&text)?;
    }
    Ok(tested.exit)
}

/// The outcome of testing one policy: its exit code and, when its cases ran, their results.
pub(super) struct Tested {
    pub exit: Exit,
    pub results: Option<Results>,
}

pub(super) struct Results {
    pub files: Vec<FileResults>,
    pub coverage: Coverage,
}

/// Runs the cases at `path` against the policy `args` names (or the built-in `builtin`);
/// problems that stop the run before any case are printed to stderr.
pub(super) fn test_policy(
    path: &Path,
    builtin: Option<&str>,
    args: &Args,
    verbose: bool,
) -> Result<Tested> {
    let stopped = |exit| {
        Ok(Tested {
            exit,
            results: None,
        })
    };
    let paths = testing::discover(path).map_err(anyhow::Error::msg)?;
    if paths.is_empty() {
        bail!(
            "no test files in `{}`: put YAML case files in its tests/ directory (see `patrol policy new` for an example)",
            path.display()
        );
    }
    let mut files = Vec::new();
    let mut invalid = false;
    for path in &paths {
        match testing::parse(path) {
            Ok(f) => files.push(f),
            Err(problems) => {
                invalid = true;
                // Every problem, but not a screenful per file for a YAML that is no test file.
                for problem in problems.iter().take(MAX_PROBLEMS) {
                    crate::say!("error: {problem}");
                }
                if problems.len() > MAX_PROBLEMS {
                    crate::say!(
                        "error: … and {} more problems in `{}`",
                        problems.len() - MAX_PROBLEMS,
                        path.display()
                    );
                }
            }
        }
    }
    if invalid {
        return stopped(Exit::Usage);
    }

    let source = match policy_source(path, args.policy.as_deref(), builtin, verbose) {
        Ok(s) => s,
        Err(Failed::Usage(e)) => return Err(e),
        Err(Failed::Policy(e)) => {
            crate::say!("error: {e:#}");
            return stopped(Exit::PolicyFailed);
        }
    };
    let limits = Limits {
        timeout: std::time::Duration::from_millis(args.timeout_ms),
        ..Limits::default()
    };
    let engine = Engine::new(limits.clone(), verbose)?;
    let bytes = match &source {
        PolicySource::Builtin(_, b) => *b,
        PolicySource::File(_, b) => b.as_slice(),
    };
    let loaded = match engine.load(&source.label(), bytes) {
        Ok(l) => l,
        Err(f) => {
            crate::say!("error: {f}");
            return stopped(Exit::PolicyFailed);
        }
    };
    let meta = loaded.metadata.clone();
    for f in &files {
        if let Some(name) = f.policy.as_deref().filter(|n| *n != meta.name) {
            bail!(
                "`{}` is for policy `{name}`, but the policy under test is `{}`",
                f.display,
                meta.name
            );
        }
    }

    let mut results = Vec::new();
    for f in &files {
        let cases = f
            .cases
            .iter()
            .filter(|c| {
                args.filter
                    .as_ref()
                    .is_none_or(|t| c.name.contains(t.as_str()))
            })
            .map(|c| runner::run_case(c, &source, &meta.name, &limits, verbose))
            .collect();
        results.push(FileResults {
            file: f.display.clone(),
            cases,
        });
    }
    let coverage = Coverage::new(&meta, &results);
    let failed = results
        .iter()
        .flat_map(|f| &f.cases)
        .any(|c| !c.failures.is_empty());
    let uncovered = args.require_coverage && !coverage.uncovered().is_empty();
    Ok(Tested {
        exit: if failed || uncovered {
            Exit::Findings
        } else {
            Exit::Clean
        },
        results: Some(Results {
            files: results,
            coverage,
        }),
    })
}

enum Failed {
    Usage(anyhow::Error),
    Policy(anyhow::Error),
}

fn policy_source(
    path: &Path,
    policy: Option<&Path>,
    builtin: Option<&str>,
    verbose: bool,
) -> Result<PolicySource, Failed> {
    if let Some(file) = policy {
        let bytes = crate::confine::read_policy(file).map_err(|e| Failed::Usage(anyhow!(e)))?;
        return Ok(PolicySource::File(file.to_path_buf(), bytes));
    }
    if let Some(name) = builtin {
        return PolicySource::builtins()
            .into_iter()
            .find(|s| matches!(s, PolicySource::Builtin(n, _) if *n == name))
            .ok_or_else(|| {
                let names: Vec<String> = PolicySource::builtins()
                    .iter()
                    .filter_map(|s| {
                        if let PolicySource::Builtin(n, _) = s {
                            Some(n.to_string())
                        } else {
                            None
                        }
                    })
                    .collect();
                Failed::Usage(anyhow!(
                    "there is no built-in policy `{name}`; the built-in policies are: {}",
                    names.join(", ")
                ))
            });
    }
    let dir = crate_dir(path).ok_or_else(|| {
        Failed::Usage(anyhow!(
            "`{}` is not inside a policy crate (no Cargo.toml); name the policy with `--policy FILE.wasm` or `--builtin NAME`",
            path.display()
        ))
    })?;
    // Building is part of testing: the cases always run against the current source.
    let built = build::build(
        &dir,
        &Options {
            verbose,
            ..Options::default()
        },
    )
    .map_err(Failed::Policy)?;
    if verbose {
        crate::say!(
            "patrol: built {} ({} bytes)",
            built.path.display(),
            built.size
        );
    }
    let bytes = crate::confine::read_policy(&built.path).map_err(|e| Failed::Usage(anyhow!(e)))?;
    Ok(PolicySource::File(built.path, bytes))
}

/// The policy crate `path` is in: itself, or the nearest ancestor with a Cargo.toml.
fn crate_dir(path: &Path) -> Option<PathBuf> {
    let start = if path.is_file() {
        path.parent()?.to_path_buf()
    } else {
        path.to_path_buf()
    };
    let start = if start.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        start
    };
    let abs = std::fs::canonicalize(&start).ok()?;
    abs.ancestors()
        .find(|d| d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
}

/// Writes to stdout; a closed pipe (`patrol test | head`) is not an error worth a message.
pub(super) fn stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
