//! The proof's static check among many patches of one pg_hba.conf: a patch that breaks
//! the file (or names an invented path) is withheld with its reason, a good one is
//! offered, and the windowed check ([`super::window`]) decides every patch exactly as
//! parsing the whole patched file does.

use std::collections::BTreeMap;

use super::proof::{self, WithheldReason};
use crate::discover::InputFile;
use crate::formats::{self, Kind, ParseContext};
use crate::patch;
use crate::run::{Outcome, Patch, Plan};
use crate::wit;

const FILE: &str = "pg_hba.conf";

fn plan(dir: &std::path::Path, text: &str) -> Plan {
    Plan {
        files: vec![InputFile {
            kind: Kind::PgHba,
            path: dir.join(FILE),
            display: FILE.to_string(),
            text: text.to_string(),
        }],
        policies: Vec::new(),
        settings_by_name: Default::default(),
        samples: Default::default(),
        limits: Default::default(),
        verbose: false,
        bundle: None,
        certs: Default::default(),
        reserve_builtin_names: true,
        skipped: Vec::new(),
        adopt: Default::default(),
    }
}

/// A patch replacing lines `start..=end` (an insert when `end` is `start - 1`).
fn patch(n: usize, start: u32, end: u32, text: &str) -> Patch {
    Patch {
        policy: "test".to_string(),
        file: FILE.to_string(),
        description: format!("patch {n}"),
        edits: vec![wit::Edit::Lines(wit::LineEdit {
            start,
            end,
            text: text.to_string(),
        })],
        refused: None,
        kind: Some(Kind::PgHba),
    }
}

/// What proving `patches` of `text` withholds, by description: (reason, message).
fn withheld(text: &str, patches: Vec<Patch>) -> BTreeMap<String, (WithheldReason, String)> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE), text).unwrap();
    let plan = plan(dir.path(), text);
    let outcome = Outcome {
        files: vec![(FILE.to_string(), text.to_string())],
        patches,
        ..Outcome::default()
    };
    let all: Vec<usize> = (0..outcome.patches.len()).collect();
    let proven = proof::prove(&plan, &outcome, &all).unwrap();
    assert_eq!(proven.accepted.len() + proven.withheld.len(), all.len());
    proven
        .withheld
        .into_iter()
        .map(|w| (w.description, (w.reason, w.message)))
        .collect()
}

/// The reference: each patch applied to the whole file, which is parsed again; the
/// first diagnostic code (by name) it gains.
fn gained_whole(text: &str, p: &Patch) -> Option<String> {
    let ctx = ParseContext {
        postgres_version: None,
        tree: None,
    };
    let counts = |t: &str| {
        let doc = formats::document(
            Kind::PgHba,
            FILE,
            std::path::Path::new(FILE),
            t.to_string(),
            &ctx,
        );
        let mut c: BTreeMap<String, usize> = BTreeMap::new();
        for d in doc.diagnostics {
            *c.entry(d.code).or_insert(0) += 1;
        }
        c
    };
    let (changes, _) = patch::apply_all(&[p], &[(FILE.to_string(), text.to_string())]);
    let after = changes.into_iter().next()?.after;
    let (was, now) = (counts(text), counts(&after));
    now.into_iter()
        .find(|(code, n)| *n > was.get(code).copied().unwrap_or(0))
        .map(|(code, _)| code)
}

fn big_file(lines: usize) -> String {
    let mut text = String::from("# generated\nlocal all postgres peer\n");
    for i in 0..lines {
        let kind = ["host", "hostssl", "hostnossl"][i % 3];
        let method = ["scram-sha-256", "md5", "cert", "reject"][i % 4];
        text.push_str(&format!(
            "{kind} all u{i} 10.{}.{}.0/24 {method}\n",
            i / 250,
            i % 250
        ));
    }
    text
}

#[test]
fn a_breaking_patch_is_withheld_among_many_good_ones() {
    let text = big_file(300);
    let mut patches: Vec<Patch> = (0..200)
        .map(|i| {
            let line = 3 + i as u32;
            let old = text.lines().nth(line as usize - 1).unwrap();
            patch(i, line, line, &old.replacen("host ", "hostssl ", 1))
        })
        .collect();
    // An unknown method: the server refuses the line, so the whole file.
    patches.push(patch(
        200,
        250,
        250,
        "hostssl all bad 10.9.9.0/24 bogus-method",
    ));
    // A certificate path no input names.
    patches.push(patch(
        201,
        260,
        259,
        "hostssl all all 10.8.0.0/16 cert map=x # /etc/ssl/invented.crt",
    ));
    let out = withheld(&text, patches);
    assert_eq!(out.len(), 2, "{out:?}");
    let (reason, message) = &out["patch 200"];
    assert_eq!(*reason, WithheldReason::InvalidFile);
    assert!(message.contains("new `invalid-line` problem"), "{message}");
    assert_eq!(out["patch 201"].0, WithheldReason::InventedPath);
}

#[test]
fn deleting_every_rule_is_withheld() {
    let text = "# only rule\nhostssl all all 10.0.0.0/8 scram-sha-256\n";
    let out = withheld(
        text,
        vec![patch(0, 2, 2, ""), patch(1, 1, 1, "# a comment")],
    );
    assert_eq!(out.len(), 1, "{out:?}");
    let (reason, message) = &out["patch 0"];
    assert_eq!(*reason, WithheldReason::InvalidFile);
    assert!(message.contains("`no-entries`"), "{message}");
}

/// Every kind of line edit on a file with continuation lines, CRLF endings, invalid
/// lines and no final newline: the windowed proof withholds exactly the patches whose
/// whole patched file gains a diagnostic, with the same code.
#[test]
fn windows_decide_as_the_whole_file() {
    let texts = [
        big_file(40),
        big_file(40).replace('\n', "\r\n"),
        format!(
            "{}hostssl all \\\n  all 10.1.0.0/16 \\\n  scram-sha-256\nhost all all 10.2.0.0/16 md5",
            big_file(20)
        ),
        // `include` in a comment: the whole-file path, same answers.
        format!("# include nothing\n{}", big_file(10)),
        "hostssl all all 10.0.0.0/8 scram-sha-256".to_string(),
    ];
    let bodies = [
        "",
        "hostssl all all 10.0.0.0/8 scram-sha-256",
        "host all all 10.0.0.0/8 bogus",
        "hostssl all all \\",
        "hostssl all all 10.0.0.0/8 \\\n  cert",
        "# comment\nhostnossl all all 0.0.0.0/0 cert",
        "  \\",
        "local all all peer\nlocal replication all",
    ];
    for text in &texts {
        let n = text.split_inclusive('\n').count() as u32;
        let mut patches = Vec::new();
        for start in 1..=n + 1 {
            for (b, body) in bodies.iter().enumerate() {
                // Replace one line, two lines, or insert before `start`.
                for end in [start - 1, start, start + 1] {
                    let k = patches.len();
                    patches.push(patch(k, start, end, body));
                    let _ = b;
                }
            }
        }
        let expected: BTreeMap<String, String> = patches
            .iter()
            .filter_map(|p| gained_whole(text, p).map(|c| (p.description.clone(), c)))
            .collect();
        let got: BTreeMap<String, String> = withheld(text, patches)
            .into_iter()
            .map(|(d, (reason, message))| {
                assert_eq!(reason, WithheldReason::InvalidFile, "{d}: {message}");
                let code = message.split('`').nth(3).unwrap_or_default().to_string();
                (d, code)
            })
            .collect();
        assert_eq!(got, expected, "{text:?}");
        assert!(!expected.is_empty());
    }
}
