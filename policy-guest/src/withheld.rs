//! Fixes a policy withholds, and how the finding says so.
//!
//! A fix that needs a fact no input gives (TLS on the server, how passwords are stored,
//! the PostgreSQL version, a certificate path) or that would lock a required login out is
//! not offered. The finding keeps its code, gets no patch, and says why there is no
//! automatic fix and what to do by hand, in order — so that the user is not left with a
//! finding and no way forward.

use crate::Report;

/// Why a fix is not offered, and the manual steps in their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    /// Why: the unknown or blocking fact, with where it comes from (`file:line`).
    pub reason: String,
    /// What to do by hand, in order.
    pub steps: Vec<String>,
}

impl Withheld {
    pub fn new(reason: impl Into<String>, steps: &[&str]) -> Self {
        Withheld {
            reason: reason.into(),
            steps: steps.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `no automatic fix: <reason>`, for the finding's message.
    pub fn message(&self) -> String {
        format!("no automatic fix: {}", self.reason)
    }

    /// The remediation text: the reason, then the numbered steps.
    pub fn remediation(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect();
        if steps.is_empty() {
            format!("No automatic fix: {}.", self.reason)
        } else {
            format!(
                "No automatic fix: {}. By hand, in this order: {}",
                self.reason,
                steps.join(" ")
            )
        }
    }

    /// Appends the reason to finding `index`'s message and sets its remediation (the
    /// finding must have no patch).
    pub fn attach(&self, report: &mut Report, index: usize) {
        report.append_message(index, &format!("; {}", self.message()));
        report.remediation(index, self.remediation());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remediation_numbers_the_steps() {
        let w = Withheld::new("`ssl` is off", &["turn `ssl` on", "reload"]);
        assert_eq!(
            w.remediation(),
            "No automatic fix: `ssl` is off. By hand, in this order: 1. turn `ssl` on 2. reload"
        );
        assert_eq!(w.message(), "no automatic fix: `ssl` is off");
    }
}
