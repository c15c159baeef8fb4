//! Entry points for the fuzz targets in `fuzz/` and for the regression tests that replay
//! their seeds (`tests/fuzz_seeds.rs`).
//!
//! Each function takes the fuzzer's bytes, decodes them into an input of one part of the
//! host (a config file of some kind, a file plus the edits of a patch, a samples file),
//! runs that part, and panics when the host breaks a promise: a panic inside the host, or
//! an invariant cheap enough to check on every input (every line a parser names is in the
//! file, every pointer it names is in its JSON, lines an edit does not touch stay byte for
//! byte, a final newline stays). Living in the library, the checks run the same in the
//! fuzzer and in `cargo test`, so a crashing input saved under `fuzz/seeds/` is a
//! regression test at once. The input encodings are in `fuzz/README.md`.

pub mod edit;
pub mod parse;
pub mod samples;

/// The number of lines of `text` as an editor counts them (a last line without a newline
/// is a line).
fn line_count(text: &str) -> usize {
    text.split_inclusive('\n').count()
}

/// The text of the fuzzer's bytes (invalid UTF-8 replaced, as `patrol` reads files).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
