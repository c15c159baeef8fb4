//! Placeholder until the hcl parser lands.

use super::Parsed;
use crate::wit;

pub fn parse(src: &str, file: &str) -> Parsed<wit::Structured> {
    let _ = (src, file);
    Parsed::new(wit::Structured { json: "null".into(), spans: Vec::new() })
}
