//! postgresql.conf (placeholder until the parser lands).

use std::path::Path;

use super::Parsed;
use crate::wit;

pub fn parse(src: &str, file: &str, path: &Path) -> Parsed<Vec<wit::Setting>> {
    let _ = (src, file, path);
    Parsed::new(Vec::new())
}
