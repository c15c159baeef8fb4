//! What the host checks of a policy before anything it says counts: its name when it is
//! loaded (an org policy cannot pass for a built-in one or for patrol itself, and no two
//! policies share a name), and each evaluation against the input and the policy's own
//! metadata (one answer per sample, indexes in range, only declared finding codes). A
//! policy that fails a check has failed: it answers nothing, and its samples are denied.

use std::collections::HashSet;

use crate::engine::{Failure, FailureKind, clip};
use crate::wit;

/// Where a policy came from, for the checks of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// Built into patrol under this name.
    Builtin(&'a str),
    /// An org policy (a file).
    Org,
}

/// Checks the name a policy's metadata gives it: a built-in policy is called what patrol
/// calls it; an org policy has a kebab-case name that is neither `patrol` (the host's own
/// findings) nor a built-in policy's name, unless `builtin_names` is off (`patrol test`
/// of a built-in policy's crate).
pub fn check_name(
    name: &str,
    origin: Origin,
    builtins: &[&str],
    builtin_names: bool,
) -> Result<(), String> {
    match origin {
        Origin::Builtin(expected) if name != expected => Err(format!(
            "the built-in policy `{expected}` calls itself `{}`",
            clip(name, 64)
        )),
        Origin::Builtin(_) => Ok(()),
        Origin::Org => {
            let reserved: &[&str] = if builtin_names { builtins } else { &[] };
            crate::authoring::scaffold::check_name(name, reserved).map_err(|e| {
                let name = clip(name, 64);
                let why = format!("{e:#}");
                if builtins.contains(&name.as_ref()) && builtin_names {
                    format!("it calls itself `{name}`, the name of a built-in policy: an org policy cannot report as one ({why})")
                } else {
                    format!("its name is refused: {why}")
                }
            })
        }
    }
}

/// Rejects output that does not fit the input: decisions for samples that don't exist or
/// answered twice, patch indexes out of range, line edits outside their file or
/// overlapping each other, findings with codes the policy never declared.
pub fn check_evaluation(
    meta: &wit::PolicyMetadata,
    e: &wit::Evaluation,
    input: &wit::Input,
) -> Result<(), Failure> {
    let bad = |message: String| Failure {
        policy: meta.name.clone(),
        kind: FailureKind::Output,
        message,
    };
    for (list, answers, len) in [
        ("requests", &e.requests, input.requests.len()),
        ("connections", &e.connections, input.connections.len()),
    ] {
        if answers.samples.len() != answers.details.len() {
            return Err(bad(format!(
                "it answered {} {list} but gave {} details for them",
                answers.samples.len(),
                answers.details.len()
            )));
        }
        let mut answered = vec![false; len];
        for &index in &answers.samples {
            match answered.get_mut(index as usize) {
                None => {
                    return Err(bad(format!(
                        "it returned a decision for {list}[{index}], but there are {len} {list}"
                    )));
                }
                Some(seen) if *seen => {
                    return Err(bad(format!(
                        "it answered {list}[{index}] twice; a policy answers each sample once"
                    )));
                }
                Some(seen) => *seen = true,
            }
        }
        if let Some(&detail) = answers
            .details
            .iter()
            .find(|&&d| d as usize >= e.decision_details.len())
        {
            return Err(bad(format!(
                "a decision about {list} names detail {detail}, but it returned {} decision details",
                e.decision_details.len()
            )));
        }
    }
    crate::patch::check_patches(&e.patches, &input.documents).map_err(bad)?;
    let declared: HashSet<&str> = meta.codes.iter().map(|c| c.code.as_str()).collect();
    for f in &e.findings {
        if !declared.contains(f.code.as_str()) {
            return Err(bad(format!(
                "it reported finding code `{}`, which its metadata does not declare",
                clip(&f.code, 128)
            )));
        }
        if let Some(p) = f.patch
            && p as usize >= e.patches.len()
        {
            return Err(bad(format!(
                "finding `{}` names patch {p}, but it returned {} patches",
                clip(&f.code, 128),
                e.patches.len()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_refused_for_org_policies_only() {
        let builtins = ["pg-hba", "etcd"];
        assert!(check_name("pg-hba", Origin::Builtin("pg-hba"), &builtins, true).is_ok());
        assert!(check_name("etcd", Origin::Builtin("pg-hba"), &builtins, true).is_err());
        assert!(check_name("acme-rules", Origin::Org, &builtins, true).is_ok());
        let e = check_name("pg-hba", Origin::Org, &builtins, true).unwrap_err();
        assert!(e.contains("built-in"), "{e}");
        let e = check_name("patrol", Origin::Org, &builtins, true).unwrap_err();
        assert!(e.contains("reserved"), "{e}");
        // A built-in's own crate under `patrol test`: its name is its own.
        assert!(check_name("pg-hba", Origin::Org, &builtins, false).is_ok());
        assert!(check_name("patrol", Origin::Org, &builtins, false).is_err());
        for bad in ["", "Pg-Hba", "a/b", "x\u{1b}[31m", "-x", "a--b"] {
            assert!(
                check_name(bad, Origin::Org, &builtins, true).is_err(),
                "{bad:?}"
            );
        }
    }
}
