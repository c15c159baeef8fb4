//! Replays the fuzz seeds (`fuzz/seeds/<target>/*`: inputs that crashed patrol once, and
//! hand-made edge cases) through the same checks the fuzz targets run, so that a crash
//! the fuzzer found stays fixed without a fuzzer. To add one, copy the crashing input
//! from `fuzz/artifacts/<target>/` to `fuzz/seeds/<target>/` under a name that says what
//! it is (see `fuzz/README.md`).

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::Path;

/// The main thread's stack, where `patrol` parses and applies patches.
const STACK: usize = 8 << 20;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    let mut failed = Vec::new();
    for seed in &seeds {
        let data = std::fs::read(seed).unwrap();
        let outcome = std::thread::Builder::new()
            .stack_size(STACK)
            .spawn(move || run(&data))
            .unwrap()
            .join();
        if outcome.is_err() {
            failed.push(seed.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} seeds fail: {failed:?}",
        failed.len(),
        seeds.len()
    );
}

#[test]
fn parse_seeds() {
    replay("parse", patrol::fuzzing::parse::run);
}

#[test]
fn edit_seeds() {
    replay("edit", patrol::fuzzing::edit::run);
}

#[test]
fn samples_seeds() {
    replay("samples", patrol::fuzzing::samples::run);
}
