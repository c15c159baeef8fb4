//! Table tests of the auth_file reader against what PgBouncer's `load_auth_file` and
//! `get_password_type` do with each shape.

use super::*;
use wit::PgbouncerPasswordKind as K;

/// A SCRAM secret PgBouncer decodes: 16-byte salt, 32-byte keys.
const SCRAM: &str = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=";

fn users(src: &str) -> Vec<(String, K, u32)> {
    parse(src, "userlist.txt")
        .value
        .into_iter()
        .map(|u| (u.user, u.password_kind, u.location.line))
        .collect()
}

#[test]
fn reads_entries_as_pgbouncer_does() {
    let src = format!(
        "; comment\n\n  \"marko\" \"asdasd\"\n\"a\"\"b\" \"md5{}\" rest ignored\n\"s\" \"{SCRAM}\"\n\"e\" \"\"\n\"x\"junk\"md5{}\"\n",
        "0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF"
    );
    let p = parse(&src, "userlist.txt");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        users(&src),
        vec![
            ("marko".into(), K::Plain, 3),
            ("a\"b".into(), K::Md5, 4),
            ("s".into(), K::Scram, 5),
            ("e".into(), K::Empty, 6),
            // Anything may stand between the fields; upper-case hex is not an MD5 hash.
            ("x".into(), K::Plain, 7),
        ]
    );
}

#[test]
fn password_kinds_follow_get_password_type() {
    for (pw, kind) in [
        ("", K::Empty),
        ("secret", K::Plain),
        ("md5abc", K::Plain),
        (SCRAM, K::Scram),
        // A key that does not decode to 32 bytes, a wrong scheme, a bad iteration count.
        ("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy", K::Plain),
        (&SCRAM.replace("SHA-256", "SHA-1"), K::Plain),
        (&SCRAM.replace("4096", "40x6"), K::Plain),
        (
            &SCRAM.replace("c2FsdHNhbHRzYWx0c2FsdA==", "c2Fsd!=="),
            K::Plain,
        ),
    ] {
        assert_eq!(password_kind(pw), kind, "{pw}");
    }
}

#[test]
fn a_broken_line_stops_the_file() {
    for (src, line, why, loaded) in [
        (
            "\"a\" \"p\"\n# \"b\" \"q\"\n\"c\" \"r\"\n",
            2,
            "does not start",
            1,
        ),
        ("\"a\" \"p\"\n\"b\" q\n", 2, "no quoted password", 1),
        ("\"a\" \"p\nmore\n", 1, "password has no closing", 0),
        ("\"a\n", 1, "user name has no closing", 0),
        ("plain line\n", 1, "does not start", 0),
    ] {
        let p = parse(src, "u.txt");
        assert_eq!(p.value.len(), loaded, "{src:?}");
        assert_eq!(p.diagnostics.len(), 1, "{src:?}");
        let d = &p.diagnostics[0];
        assert_eq!(
            (d.code.as_str(), d.location.line),
            ("auth-file-broken", line),
            "{src:?}"
        );
        assert!(d.message.contains(why), "{src:?}: {}", d.message);
        assert_eq!(d.location.file, "u.txt");
    }
    let long = format!("\"{}\" \"p\"\n", "u".repeat(128));
    assert!(
        parse(&long, "u.txt").diagnostics[0]
            .message
            .contains("128 bytes")
    );
    assert!(parse(&long[1..], "u.txt").diagnostics.len() == 1);
    let ok = format!("\"{}\" \"p\"\n", "u".repeat(127));
    assert!(parse(&ok, "u.txt").diagnostics.is_empty());
}

#[test]
fn the_text_policies_see_has_no_password() {
    let src = "; c \"x\" \"y\"\n\"marko\" \"asdasd\"\n\"e\" \"\"\n\"m\"\n\"pw-on-next-line\"\n# \"old\" \"Hidden-1\"\n\"b\" Hidden-2\n";
    let r = redacted(src);
    assert_eq!(
        r,
        "; c \"x\" \"y\"\n\"marko\" \"<redacted>\"\n\"e\" \"\"\n\"m\"\n\"<redacted>\"\n<redacted>\n\"b\" <redacted>\n"
    );
    assert_eq!(r.lines().count(), src.lines().count());
    let multi = "\"a\" \"one\ntwo\"\n\"b\" \"c\"\n";
    assert_eq!(
        redacted(multi),
        "\"a\" \"<redacted>\n\"\n\"b\" \"<redacted>\"\n"
    );
    let nul = "\"a\" \"p\"\n\0\"b\" \"Hidden-3\"\n";
    assert!(!redacted(nul).contains("Hidden-3"), "{:?}", redacted(nul));
}

#[test]
fn weak_passwords_in_clear_and_as_md5_hashes() {
    // `md5` + MD5("postgres" + "postgres"), as `pg_md5_encrypt` writes it.
    let src = format!(
        "\"postgres\" \"md53175bce1d3201d16594cebf9d7eb3f9d\"\n\"app\" \"App\"\n\"admin\" \"changeme\"\n\"svc\" \"k8Jq-2vLp-93xZ\"\n\"report\" \"md52cd6dadb42fa4cf0922c81c739b4d605\"\n\"s\" \"{SCRAM}\"\n\"e\" \"\"\n"
    );
    let weak: Vec<(String, Option<String>)> = parse(&src, "userlist.txt")
        .value
        .into_iter()
        .map(|u| (u.user, u.weak))
        .collect();
    let why = |u: &str| {
        weak.iter()
            .find(|(n, _)| n == u)
            .and_then(|(_, w)| w.clone())
    };
    assert_eq!(
        why("postgres").as_deref(),
        Some("it is the user name (found by its MD5 hash)")
    );
    assert_eq!(why("app").as_deref(), Some("it is the user name"));
    assert_eq!(why("admin").as_deref(), Some("it is a default password"));
    // A strong password, in clear or hashed, a SCRAM secret and an empty one: not judged weak.
    for u in ["svc", "report", "s", "e"] {
        assert_eq!(why(u), None, "{u}");
    }
}
