//! Unit tests of [`super`]: where each format has comments, what a directive says, and
//! how suppressions apply to an outcome.

use super::*;

const OK: &str = r#"patrol:ignore a/b reason="why not""#;

/// The lines whose findings `text` suppresses (target lines), for a file of `kind`.
fn targets(kind: Kind, file: &str, text: &str) -> Vec<u32> {
    let (found, invalid) = scan(&kind, file, text);
    assert!(invalid.is_empty(), "{invalid:?}");
    found.iter().map(|s| s.target).collect()
}

#[test]
fn comments_are_found_where_each_format_has_them() {
    let cases: Vec<(Kind, &str, String, Vec<u32>)> = vec![
        // YAML: trailing after whitespace, alone above; not inside quotes or a block scalar.
        (
            Kind::Patroni,
            "p.yml",
            format!("a: 1 # {OK}\n# {OK}\nb: 2\nc: \"x # {OK}\"\nd: x#{OK}\n"),
            vec![1, 3],
        ),
        (
            Kind::Patroni,
            "p.yml",
            format!("script: |\n  # {OK}\n  echo\nafter: 1  # {OK}\n"),
            vec![4],
        ),
        (
            Kind::Topology,
            "t.yaml",
            format!("- it's: 1 # {OK}\n"),
            vec![1],
        ),
        // pg_hba / pg_ident: `#` outside double quotes.
        (
            Kind::PgHba,
            "pg_hba.conf",
            format!("host all all 0.0.0.0/0 md5 # {OK}\nhost \"a#{OK}\" all 1.2.3.4/32 md5\n"),
            vec![1],
        ),
        (
            Kind::PgIdent,
            "pg_ident.conf",
            format!("# {OK}\nmap root postgres\n"),
            vec![2],
        ),
        // postgresql.conf: single quotes.
        (
            Kind::PostgresqlConf,
            "postgresql.conf",
            format!("ssl = off # {OK}\nx = 'a # {OK}'\ny = 'it''s # {OK}'\nz = 'a\\' # {OK}'\n"),
            vec![1],
        ),
        (
            Kind::Patroni,
            "p.yml",
            format!("a: 'it''s # {OK}'\nb: \"q\\\" # {OK}\"\n"),
            vec![],
        ),
        // INI and systemd: whole-line comments only, `#` or `;`.
        (
            Kind::Pgbouncer,
            "pgbouncer.ini",
            format!("; {OK}\nauth_type = md5\nk = v # {OK}\n"),
            vec![2],
        ),
        (
            Kind::Pgbackrest,
            "pgbackrest.conf",
            format!("# {OK}\n[global]\n"),
            vec![2],
        ),
        (
            Kind::Systemd,
            "x.service",
            format!("[Service]\n; {OK}\nExecStart=/bin/x # {OK}\n"),
            vec![3],
        ),
        // HAProxy and gitlab.rb: both quotes.
        (
            Kind::Haproxy,
            "haproxy.cfg",
            format!("  bind :5000 # {OK}\n  http-request deny if {{ path '#{OK}' }}\n"),
            vec![1],
        ),
        (
            Kind::GitlabRb,
            "gitlab.rb",
            format!("patroni['x'] = \"a#{OK}\" # {OK}\n"),
            vec![1],
        ),
        // HCL: `#` and `//`.
        (
            Kind::Consul,
            "consul.hcl",
            format!("a = 1 // {OK}\n# {OK}\nb = \"x # {OK}\"\n"),
            vec![1, 3],
        ),
        (
            Kind::Nftables,
            "x.nft",
            format!("tcp dport 5432 accept # {OK}\n"),
            vec![1],
        ),
        // JSON has no comments.
        (
            Kind::Consul,
            "consul.json",
            format!("{{\"a\": \"# {OK}\"}}\n"),
            vec![],
        ),
    ];
    for (kind, file, text, want) in cases {
        assert_eq!(targets(kind.clone(), file, &text), want, "{kind:?}: {text}");
    }
}

#[test]
fn stacked_comments_cover_the_first_line_after_them() {
    let text = format!("# {OK}\n# patrol:ignore c/d reason=x\nlocal all all trust\n# {OK}\n");
    assert_eq!(targets(Kind::PgHba, "h", &text), vec![3, 3, 0]);
}

#[test]
fn directives_are_checked() {
    let (found, _) = scan(
        &Kind::PgHba,
        "h",
        "# patrol:ignore pg-hba/trust-local reason=\"socket, SEC-1\" until=2027-03-31\nx\n",
    );
    assert_eq!(found[0].reason, "socket, SEC-1");
    assert_eq!(found[0].until, Date::parse("2027-03-31"));
    assert_eq!(
        (
            found[0].policy.as_str(),
            found[0].code.as_str(),
            found[0].line
        ),
        ("pg-hba", "trust-local", 1)
    );
    for (bad, why) in [
        ("# patrol:ignore pg-hba/trust-local", "no reason"),
        (
            "# patrol:ignore pg-hba/trust-local reason=\"\"",
            "no reason",
        ),
        ("# patrol:ignore trust-local reason=x", "`policy/code`"),
        ("# patrol:ignore", "names no finding"),
        (
            "# patrol:ignore a/b reason=x until=2027-13-01",
            "not a date",
        ),
        (
            "# patrol:ignore a/b reason=x because=y",
            "unknown key `because`",
        ),
        ("# patrol:ignore a/b reason=\"x", "not closed"),
    ] {
        let (found, invalid) = scan(&Kind::PgHba, "h", &format!("{bad}\nx\n"));
        assert!(found.is_empty(), "{bad}");
        assert_eq!(invalid.len(), 1, "{bad}");
        assert_eq!(invalid[0].code, INVALID);
        assert!(
            invalid[0].message.contains(why),
            "{bad}: {}",
            invalid[0].message
        );
    }
    // Other words are not suppressions.
    assert_eq!(
        scan(
            &Kind::PgHba,
            "h",
            "# patrol:ignored a/b\n# see patrol:ignore a/b\n"
        )
        .1
        .len(),
        0
    );
}

fn finding(line: u32, code: &str) -> Finding {
    Finding {
        policy: "pg-hba".into(),
        code: code.into(),
        severity: Severity::High,
        message: String::new(),
        file: "h".into(),
        line,
        end_line: None,
        pointer: None,
        remediation: String::new(),
        patch: None,
        fix_withheld: None,
    }
}

#[test]
fn apply_suppresses_and_reports_expired_and_unused() {
    let text = "\
local all all trust # patrol:ignore pg-hba/trust-local reason=\"socket only\" until=2030-01-01
local all x trust # patrol:ignore pg-hba/trust-local reason=\"old\" until=2020-01-01
host all all 0.0.0.0/0 md5 # patrol:ignore pg-hba/trust-local reason=\"wrong code\"
";
    let doc = wit::Document {
        kind: Kind::PgHba,
        path: "h".into(),
        text: text.into(),
        body: wit::Body::Text,
        diagnostics: Vec::new(),
    };
    let mut outcome = Outcome {
        findings: vec![
            finding(1, "trust-local"),
            finding(2, "trust-local"),
            finding(3, "md5-method"),
        ],
        ..Outcome::default()
    };
    let today = Date::parse("2026-06-01").unwrap();
    let suppressed = apply(std::slice::from_ref(&doc), &mut outcome, today);
    assert_eq!(suppressed.len(), 1);
    assert_eq!(suppressed[0].finding.line, 1);
    assert_eq!(suppressed[0].suppression.at, "h:1");
    let mut left: Vec<(u32, &str)> = outcome
        .findings
        .iter()
        .map(|f| (f.line, f.code.as_str()))
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            (2, EXPIRED),
            (2, "trust-local"),
            (3, "md5-method"),
            (3, UNUSED)
        ]
    );
    // After the expiry date, the first one expires too.
    let mut later = Outcome {
        findings: vec![finding(1, "trust-local")],
        ..Outcome::default()
    };
    assert!(
        apply(
            std::slice::from_ref(&doc),
            &mut later,
            Date::parse("2030-01-02").unwrap()
        )
        .is_empty()
    );
    assert!(
        later
            .findings
            .iter()
            .any(|f| f.code == EXPIRED && f.line == 1)
    );
}
