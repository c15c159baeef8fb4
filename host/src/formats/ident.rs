//! pg_ident.conf, parsed as PostgreSQL's `parse_ident_line` parses it: `MAPNAME
//! SYSTEM-USERNAME DATABASE-USERNAME`, one value per field, with the tokenizer, `@file`
//! expansion, continuation and (16+) `include*` directives pg_hba.conf uses
//! ([`super::hba::tokenize`]). Fields after the third are ignored, as the server does.
//!
//! A system user that starts with `/` is a regular expression in every version; from 16
//! on so is a database user (which may also be `all` or `+group` there). A pattern
//! PostgreSQL would not compile makes the line invalid (`invalid regular expression`).
//! Checked against PostgreSQL 15.18's `pg_ident_file_mappings` and 16.2.

use std::path::Path;

use super::hba::files::Source;
use super::hba::tokenize::{AuthLine, Tokenizer};
use super::hba::{NEWEST, invalid_at, regex};
use super::{ParseContext, Parsed, diagnostic};
use crate::wit;

/// Parses a pg_ident.conf file (`src`, the contents of `path`, shown as `file`).
pub fn parse(
    src: &str,
    file: &str,
    path: &Path,
    ctx: &ParseContext,
) -> Parsed<Vec<wit::IdentRule>> {
    let version = ctx.postgres_version.unwrap_or(NEWEST);
    let top = Source {
        shown: file.to_string(),
        path: path.to_path_buf(),
    };
    let mut parsed = Parsed::new(Vec::new());
    let reader = super::hba::files::IncludeReader::new(ctx.tree.as_ref());
    let lines = Tokenizer {
        version,
        reader: &reader,
    }
    .tokenize(src, &top);
    for line in lines {
        let result = match &line.error {
            Some(e) => Err(e.message.clone()),
            None => parse_line(&line, version, path),
        };
        match result {
            Ok((map_name, system_user, (database_user, database_user_quoted))) => {
                parsed.value.push(wit::IdentRule {
                    location: super::location(&line.source.shown, line.line),
                    map_name,
                    system_user,
                    database_user,
                    database_user_quoted,
                })
            }
            Err(message) => {
                let (file, line, message) = invalid_at(message, &line, &top, &|n| n);
                parsed
                    .diagnostics
                    .push(diagnostic("invalid-line", &file, line, message));
            }
        }
    }
    parsed
}

/// `parse_ident_line`: map, system user, database user.
fn parse_line(
    line: &AuthLine,
    version: u32,
    path: &Path,
) -> Result<(String, String, (String, bool)), String> {
    let missing = || {
        if version <= 15 {
            format!(
                "missing entry in file \"{}\" at end of line {}",
                path.display(),
                line.line
            )
        } else {
            "missing entry at end of line".to_string()
        }
    };
    let mut values = Vec::with_capacity(3);
    let mut quoted = false;
    for k in 0..3 {
        let field = line.fields.get(k).ok_or_else(missing)?;
        if field.len() > 1 {
            return Err("multiple values in ident field".into());
        }
        values.push(field[0].text.clone());
        quoted = field[0].quoted;
    }
    let checked: &[&String] = if version >= 16 {
        &[&values[1], &values[2]]
    } else {
        &[&values[1]]
    };
    for value in checked {
        if let Some(pattern) = value.strip_prefix('/') {
            regex::check(pattern)
                .map_err(|why| format!("invalid regular expression \"{pattern}\": {why}"))?;
        }
    }
    let mut values = values.into_iter();
    let mut next = || values.next().unwrap_or_default();
    Ok((next(), next(), (next(), quoted)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str, version: u32) -> Parsed<Vec<wit::IdentRule>> {
        let ctx = ParseContext {
            postgres_version: Some(version),
            ..Default::default()
        };
        parse(
            src,
            "pg_ident.conf",
            Path::new("/etc/pg/pg_ident.conf"),
            &ctx,
        )
    }

    fn errors(src: &str, version: u32) -> Vec<(u32, String)> {
        run(src, version)
            .diagnostics
            .into_iter()
            .map(|d| (d.location.line, d.message))
            .collect()
    }

    #[test]
    fn valid_maps() {
        let p = run(
            "# comment\nmymap   postgres   app\ncert \"/^(.*)@example\\.com$\" \\1 extra\n",
            17,
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        let got: Vec<_> = p
            .value
            .iter()
            .map(|r| {
                (
                    r.location.line,
                    &*r.map_name,
                    &*r.system_user,
                    &*r.database_user,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (2, "mymap", "postgres", "app"),
                (3, "cert", "/^(.*)@example\\.com$", "\\1")
            ]
        );
    }

    /// Messages as PostgreSQL 15.18 and 16.2 report them.
    #[test]
    fn errors_as_the_server_words_them() {
        let cases: &[(&str, u32, &str)] = &[
            ("m a,b c\n", 17, "multiple values in ident field"),
            ("m,n a c\n", 17, "multiple values in ident field"),
            ("m a\n", 17, "missing entry at end of line"),
            ("m\n", 17, "missing entry at end of line"),
            (
                "m a\n",
                15,
                "missing entry in file \"/etc/pg/pg_ident.conf\" at end of line 1",
            ),
            (
                "m /( c\n",
                15,
                "invalid regular expression \"(\": parentheses () not balanced",
            ),
            (
                "m a /(\n",
                16,
                "invalid regular expression \"(\": parentheses () not balanced",
            ),
            (
                "include other.conf\n",
                15,
                "missing entry in file \"/etc/pg/pg_ident.conf\" at end of line 1",
            ),
        ];
        for (src, version, want) in cases {
            assert_eq!(
                errors(src, *version),
                [(1, want.to_string())],
                "{src:?} in {version}"
            );
        }
        // In 15 the database user is not a regex.
        assert!(errors("m a /(\n", 15).is_empty());
    }

    /// The same file through PostgreSQL 16.2's `pg_ident_file_mappings`: lines 1, 2, 9
    /// and 13 valid (line 9's extra fields ignored, 13 continued onto 14), the others
    /// with these errors.
    #[test]
    fn file_as_the_server_reads_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("f1"), "alice, bob\n# c\n\"carol x\"\n").expect("write");
        let src = "m a b\nm \"a b\" \"c\"\"d\"\nm a,b c\nm,n a c\nm a\nm\nm /( c\nm a /(\nm /^(.*)$ \\1 extra fields\n\
                   include other.conf\nm \"/(\" c\nm @f1 x\nm a b \\\n  c\n@f1 a b\n";
        let path = dir.path().join("pg_ident.conf");
        let p = parse(
            src,
            "pg_ident.conf",
            &path,
            &ParseContext {
                postgres_version: Some(16),
                ..Default::default()
            },
        );
        let rules: Vec<_> = p
            .value
            .iter()
            .map(|r| {
                (
                    r.location.line,
                    r.map_name.as_str(),
                    r.system_user.as_str(),
                    r.database_user.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rules,
            [
                (1, "m", "a", "b"),
                (2, "m", "a b", "c\"d"),
                (9, "m", "/^(.*)$", "\\1"),
                (13, "m", "a", "b")
            ]
        );
        let other = dir.path().join("other.conf").display().to_string();
        let paren = "invalid regular expression \"(\": parentheses () not balanced";
        let multiple = "multiple values in ident field";
        let missing = "missing entry at end of line";
        let errors: Vec<_> = p
            .diagnostics
            .iter()
            .map(|d| (d.location.line, d.message.clone()))
            .collect();
        let want: Vec<(u32, String)> = vec![
            (3, multiple.into()),
            (4, multiple.into()),
            (5, missing.into()),
            (6, missing.into()),
            (7, paren.into()),
            (8, paren.into()),
            (
                10,
                format!("could not open file \"{other}\": No such file or directory"),
            ),
            (11, paren.into()),
            (12, multiple.into()),
            (15, multiple.into()),
        ];
        assert_eq!(errors, want);
    }

    /// `tests/fixtures/pg-ident`: `errors.conf` gets the messages of its `# expect:`
    /// comments, `pg_ident.conf` is valid.
    #[test]
    fn fixtures() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pg-ident");
        let src = std::fs::read_to_string(dir.join("errors.conf")).expect("errors.conf");
        let p = parse(
            &src,
            "errors.conf",
            &dir.join("errors.conf"),
            &ParseContext::default(),
        );
        let expected: Vec<(u32, String)> = src
            .lines()
            .enumerate()
            .filter_map(|(i, l)| {
                l.strip_prefix("# expect: ")
                    .map(|m| (i as u32 + 2, m.to_string()))
            })
            .collect();
        let got: Vec<(u32, String)> = p
            .diagnostics
            .iter()
            .map(|d| (d.location.line, d.message.clone()))
            .collect();
        assert_eq!(got, expected);
        let src = std::fs::read_to_string(dir.join("pg_ident.conf")).expect("pg_ident.conf");
        let p = parse(
            &src,
            "pg_ident.conf",
            &dir.join("pg_ident.conf"),
            &ParseContext::default(),
        );
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        assert_eq!(p.value.len(), 6);
        assert_eq!(p.value[5].system_user, "/^(.*)@example\\.com$");
    }

    #[test]
    fn include_missing_file_in_16() {
        let got = errors("include nosuch.conf\n", 16);
        assert_eq!(
            got,
            [(
                1,
                "could not open file \"/etc/pg/nosuch.conf\": No such file or directory"
                    .to_string()
            )]
        );
    }
}
