//! Whether Patroni picks up renewed certificates without a restart (seed 002).
//!
//! Patroni 2.1.0 (PR #1959's release) reloads its configuration, TLS files included, on
//! SIGHUP or `POST /reload`. A systemd unit reloads a service with `ExecReload=`; the
//! unit that runs Patroni (its `ExecStart=` runs `patroni`, not `patronictl`) should send
//! SIGHUP there: `/bin/kill -s HUP $MAINPID` (also `-HUP`, `-1`, `-SIGHUP`,
//! `--signal=HUP`), or call `patronictl reload`. A unit without one is reported whether or
//! not TLS is on yet (a restart of the primary is a switchover either way).

use policy_guest::DocumentKind;
use policy_guest::doc::{Structured, documents};
use policy_guest::patroni::Version;
use policy_guest::report::at;
use policy_guest::{Body, Edit, Input, LineEdit, Patch, Report, Setting};

use crate::facts::Facts;

/// The line a fix adds.
pub const RELOAD_LINE: &str = "ExecReload=/bin/kill -s HUP $MAINPID";

fn basename(word: &str) -> &str {
    word.trim_start_matches(['-', '@', '+', '!', ':'])
        .rsplit('/')
        .next()
        .unwrap_or("")
}

/// Whether an `ExecReload=` sends SIGHUP to the main process (or asks Patroni to reload).
pub fn sends_hup(args: &[String]) -> bool {
    let Some(program) = args.first().map(|a| basename(a)) else {
        return false;
    };
    match program {
        "kill" | "systemctl" => {
            let hup = args
                .windows(2)
                .any(|w| matches!(w[0].as_str(), "-s" | "--signal" | "-n") && is_hup(&w[1]))
                || args.iter().any(|a| {
                    a.strip_prefix("--signal=").is_some_and(is_hup)
                        || a.strip_prefix('-').is_some_and(|s| is_hup(s) || s == "1")
                });
            hup && (program == "systemctl" || args.iter().any(|a| a.contains("MAINPID")))
        }
        "patronictl" => args.iter().any(|a| a == "reload"),
        _ => false,
    }
}

fn is_hup(s: &str) -> bool {
    matches!(s.to_ascii_uppercase().as_str(), "HUP" | "SIGHUP" | "1")
}

/// Whether the unit's `ExecStart=` runs the Patroni daemon.
fn runs_patroni(settings: &[Setting]) -> Option<&Setting> {
    settings.iter().find(|s| {
        s.section.as_deref() == Some("Service")
            && s.name == "ExecStart"
            && s.args
                .iter()
                .take(3)
                .any(|a| matches!(basename(a), "patroni" | "patroni.py"))
    })
}

/// Whether any Patroni config uses TLS files (its own or the DCS's).
fn patroni_uses_tls(input: &Input, facts: Option<&Facts>) -> bool {
    if facts.is_some_and(|f| f.references.iter().any(|r| r.kind == DocumentKind::Patroni)) {
        return true;
    }
    documents(input, DocumentKind::Patroni)
        .filter_map(Structured::new)
        .any(|y| {
            [
                "/restapi/certfile",
                "/ctl/certfile",
                "/etcd3/cert",
                "/etcd/cert",
            ]
            .iter()
            .any(|p| y.str(p).is_some_and(|v| !v.is_empty()))
        })
}

pub fn check(input: &Input, facts: Option<&Facts>, report: &mut Report) {
    let tls = patroni_uses_tls(input, facts);
    if tls
        && let Some(v) = input
            .context
            .patroni_version
            .as_deref()
            .and_then(Version::parse)
        && v < Version(2, 1, 0)
    {
        let loc = documents(input, DocumentKind::Patroni)
            .next()
            .map_or_else(|| at("", 0), |d| at(&d.path, 0));
        report.finding("reload-needs-restart", loc, format!("Patroni {v} reads its TLS files only at start: every certificate renewal is a restart"));
    }
    for doc in documents(input, DocumentKind::Systemd) {
        let Body::Settings(settings) = &doc.body else {
            continue;
        };
        let Some(exec) = runs_patroni(settings) else {
            continue;
        };
        let reload: Vec<&Setting> = settings
            .iter()
            .filter(|s| s.section.as_deref() == Some("Service") && s.name == "ExecReload")
            .collect();
        // An empty `ExecReload=` resets the list; the last non-empty ones count.
        let last_reset = reload.iter().rposition(|s| s.value.is_empty());
        let effective: Vec<&&Setting> = reload
            .iter()
            .skip(last_reset.map_or(0, |i| i + 1))
            .collect();
        if effective.iter().any(|s| sends_hup(&s.args)) {
            continue;
        }
        let line = exec.location.end_line.unwrap_or(exec.location.line);
        let what = if tls {
            "renewed certificates"
        } else {
            "configuration changes (and, once TLS is on, renewed certificates)"
        };
        let message = match effective.first() {
            Some(other) => format!(
                "Patroni's unit reloads with `{}`, which does not send SIGHUP: {what} need a restart",
                other.value
            ),
            None => format!(
                "Patroni's unit has no `ExecReload=`: `systemctl reload` cannot make Patroni pick up {what}, only a restart can"
            ),
        };
        let i = report.finding("no-reload", at(&doc.path, exec.location.line), message);
        if effective.is_empty() {
            report.fix(
                i,
                Patch {
                    file: doc.path.clone(),
                    description: "reload Patroni with SIGHUP".into(),
                    edits: vec![Edit::Lines(LineEdit {
                        start: line + 1,
                        end: line,
                        text: RELOAD_LINE.into(),
                    })],
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn recognises_hup() {
        for yes in [
            "/bin/kill -s HUP $MAINPID",
            "/bin/kill -HUP $MAINPID",
            "kill -1 ${MAINPID}",
            "/usr/bin/kill --signal=SIGHUP $MAINPID",
            "/usr/bin/patronictl -c /etc/patroni.yml reload pg --force",
            "-/bin/kill -s hup $MAINPID",
        ] {
            assert!(sends_hup(&words(yes)), "{yes}");
        }
        for no in [
            "/bin/kill -s TERM $MAINPID",
            "/bin/true",
            "/bin/kill -HUP 1234",
            "patronictl restart x",
        ] {
            assert!(!sends_hup(&words(no)), "{no}");
        }
    }
}
