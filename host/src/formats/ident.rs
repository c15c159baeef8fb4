//! pg_ident.conf (placeholder until the parser lands).

use std::path::Path;

use super::{ParseContext, Parsed};
use crate::wit;

pub fn parse(src: &str, file: &str, path: &Path, ctx: &ParseContext) -> Parsed<Vec<wit::IdentRule>> {
    let _ = (src, file, path, ctx);
    Parsed::new(Vec::new())
}
