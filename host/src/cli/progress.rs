//! The progress bar of long simulations: on stderr, only when stderr is a terminal, only
//! for more than [`THRESHOLD`] samples, and not with `-v` (the log lines would tear it).
//! It counts policies: each policy answers all its samples in one batched call, so a
//! policy finishing is the step there is to report.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Fewer samples than this finish before a bar would be worth drawing.
pub const THRESHOLD: usize = 2000;

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for a simulation of `samples` samples by `policies` policies, or a silent one.
    pub fn start(samples: usize, policies: usize, verbose: bool) -> Progress {
        if samples <= THRESHOLD || verbose || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let style = ProgressStyle::with_template("{spinner} simulating {prefix} samples [{bar:30}] {pos}/{len} policies, {elapsed} {wide_msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(policies as u64)
            .with_style(style)
            .with_prefix(samples.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    /// One policy finished.
    pub fn policy_done(&self, label: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(label.to_string());
            bar.inc(1);
        }
    }

    /// Removes the bar before the report is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
