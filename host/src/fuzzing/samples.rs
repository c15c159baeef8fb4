//! The `samples` target: the samples file, YAML or JSON.
//!
//! Input: the file's text. Checked: an error names the file and a line of it; samples
//! read are well formed (every column of the request batch as long as the others, every
//! index into its tables in range, one name per request); a JSON file that the fast
//! serde_json path reads gives the same samples as the positioned YAML reader.

use serde_json::Value;

use crate::formats::yaml;
use crate::samples::{self, Samples};

const FILE: &str = "samples.yaml";

/// Reads `data` as a samples file and checks the result.
pub fn run(data: &[u8]) {
    let text = super::text(data);
    match samples::parse(&text, FILE) {
        Ok(s) => {
            check_samples(&s);
            if let Some(slow) = by_yaml(&text) {
                assert_eq!(
                    format!("{s:?}"),
                    format!("{slow:?}"),
                    "serde_json and the YAML reader disagree"
                );
            }
        }
        Err(e) => check_error(&e, super::line_count(&text)),
    }
}

/// `samples.yaml:LINE: …` with a line of the file, or `samples.yaml: …`.
fn check_error(e: &str, lines: usize) {
    let rest = e.strip_prefix(FILE).and_then(|r| r.strip_prefix(':'));
    let Some(rest) = rest else {
        panic!("error without the file's name: {e}")
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if let Ok(line) = digits.parse::<usize>() {
        assert!(
            line <= lines + 1,
            "error at line {line} of a {lines}-line file: {e}"
        );
    }
}

/// The samples of a JSON file read the slow way (as `samples::parse` does for a file with
/// a problem), when the file is JSON and reads without one.
fn by_yaml(text: &str) -> Option<Samples> {
    if !text.trim_start().starts_with('{') || serde_json::from_str::<Value>(text).is_err() {
        return None;
    }
    let parsed = yaml::parse(text, FILE);
    if !parsed.diagnostics.is_empty() {
        return None;
    }
    let value: Value = serde_json::from_str(&parsed.value.json).ok()?;
    samples::from_value(&value, FILE, &|_| 1).ok()
}

fn check_samples(s: &Samples) {
    let b = &s.requests;
    let n = b.sources.len();
    for (name, len) in [
        ("methods", b.methods.len()),
        ("paths", b.paths.len()),
        ("schemes", b.schemes.len()),
        ("auths", b.auths.len()),
        ("client_certs", b.client_certs.len()),
        ("request_names", s.request_names.len()),
    ] {
        assert_eq!(len, n, "{name} has {len} entries for {n} requests");
    }
    let strings = b.strings.len() as u32;
    assert!(
        b.methods.iter().chain(&b.paths).all(|&i| i < strings),
        "a string index out of range: {b:?}"
    );
    assert!(
        b.sources.iter().all(|&i| (i as usize) < b.addresses.len()),
        "an address index out of range: {b:?}"
    );
    assert!(
        b.auths
            .iter()
            .all(|&i| (i as usize) < 3 + b.credentials.len()),
        "a credentials index out of range: {b:?}"
    );
    assert!(
        b.schemes.iter().chain(&b.client_certs).all(|&i| i < 3),
        "a scheme or certificate code out of range: {b:?}"
    );
}
