//! Table-driven tests of the pg_hba.conf parser. The expected messages and parse results
//! are what PostgreSQL 15.18 (Debian) and 16.2 printed in `pg_hba_file_rules` for the
//! same lines on this machine (see the module header of `hba.rs`).

use std::path::Path;

use super::*;

mod files;

fn ctx(version: u32) -> ParseContext {
    ParseContext {
        postgres_version: Some(version),
        ..Default::default()
    }
}

fn run(src: &str, version: u32) -> Parsed<Vec<wit::HbaRule>> {
    parse(
        src,
        "pg_hba.conf",
        Path::new("/etc/postgresql/pg_hba.conf"),
        &ctx(version),
    )
}

/// The diagnostics of a one-record file.
fn error_of(line: &str, version: u32) -> Option<String> {
    let parsed = run(&format!("{line}\n"), version);
    match parsed.diagnostics.as_slice() {
        [d] if d.code == "invalid-line" => Some(d.message.clone()),
        [d] if d.code == "no-entries" => panic!("{line:?}: no entries"),
        [] => None,
        more => panic!("{line:?}: {more:?}"),
    }
}

/// A row as the `pg_hba_file_rules` view prints it (`psql -A`, `|` between columns,
/// without the options column): type, databases, users, address, netmask, method.
fn view_row(rule: &wit::HbaRule) -> String {
    let array = |names: &[wit::HbaName]| {
        let items: Vec<String> = names.iter().map(|n| pg_array_item(&n.text)).collect();
        format!("{{{}}}", items.join(","))
    };
    let (address, mask) = match &rule.address {
        None => (String::new(), String::new()),
        Some(wit::HbaAddress::Any) => ("all".into(), String::new()),
        Some(wit::HbaAddress::Samehost) => ("samehost".into(), String::new()),
        Some(wit::HbaAddress::Samenet) => ("samenet".into(), String::new()),
        Some(wit::HbaAddress::Hostname(h)) => (h.clone(), String::new()),
        Some(wit::HbaAddress::Network(n)) => (n.address.clone(), n.mask.clone()),
    };
    format!(
        "{} | {} | {} | {address} | {mask} | {}",
        rule.connection_type,
        array(&rule.databases),
        array(&rule.users),
        rule.method
    )
}

fn pg_array_item(text: &str) -> String {
    let special = text.is_empty()
        || text.eq_ignore_ascii_case("null")
        || text
            .chars()
            .any(|c| matches!(c, '"' | '\\' | '{' | '}' | ',' | ' ' | '\t' | '\n' | '\r'));
    if !special {
        return text.to_string();
    }
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn row_of(line: &str, version: u32) -> String {
    let parsed = run(&format!("{line}\n"), version);
    assert!(
        parsed.diagnostics.is_empty(),
        "{line:?}: {:?}",
        parsed.diagnostics
    );
    assert_eq!(parsed.value.len(), 1, "{line:?}");
    view_row(&parsed.value[0])
}

/// Valid records and the row the server's view shows for them.
#[test]
fn valid_records_as_the_view_shows_them() {
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("local all all trust", "local | {all} | {all} |  |  | trust"),
        ("local \"all\" \"all\" trust", "local | {all} | {all} |  |  | trust"),
        ("local all,\"a b\",c \"x\"\"y\" trust", "local | {all,\"a b\",c} | {\"x\\\"y\"} |  |  | trust"),
        ("local all, b all peer", "local | {all,b} | {all} |  |  | peer"),
        ("host all all \"all\" trust", "host | {all} | {all} | all |  | trust"),
        ("host all all all trust", "host | {all} | {all} | all |  | trust"),
        ("host all all samehost trust", "host | {all} | {all} | samehost |  | trust"),
        ("host all all samenet reject", "host | {all} | {all} | samenet |  | reject"),
        ("host all all .example.com scram-sha-256", "host | {all} | {all} | .example.com |  | scram-sha-256"),
        ("host all all 10.0.0.0 255.0.255.0 trust", "host | {all} | {all} | 10.0.0.0 | 255.0.255.0 | trust"),
        ("host all all 127.0.0.5/24 md5", "host | {all} | {all} | 127.0.0.5 | 255.255.255.0 | md5"),
        ("host all all 0/0 password", "host | {all} | {all} | 0.0.0.0 | 0.0.0.0 | password"),
        ("host all all 010.0.0.1/8 trust", "host | {all} | {all} | 8.0.0.1 | 255.0.0.0 | trust"),
        ("host all all \"\" trust", "host | {all} | {all} |  |  | trust"),
        ("host all all fe80::1%lo/64 trust", "host | {all} | {all} | fe80::1 | ffff:ffff:ffff:ffff:: | trust"),
        ("host all all 127.0.0.256 trust", "host | {all} | {all} | 127.0.0.256 |  | trust"),
        ("host all all ::1/128 trust", "host | {all} | {all} | ::1 | ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff | trust"),
        ("hostssl all all ::1/128 cert clientcert=verify-full map=m", "hostssl | {all} | {all} | ::1 | ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff | cert"),
        ("hostnossl all all all ident map=x", "hostnossl | {all} | {all} | all |  | ident"),
        ("hostgssenc all all all gss include_realm=0 krb_realm=X", "hostgssenc | {all} | {all} | all |  | gss"),
        ("hostnogssenc all all all pam pamservice=x", "hostnogssenc | {all} | {all} | all |  | pam"),
        ("local all all ident", "local | {all} | {all} |  |  | peer"),
        ("host all all 0.0.0.0/0 md5 # comment", "host | {all} | {all} | 0.0.0.0 | 0.0.0.0 | md5"),
        ("host all /^a.*$ 0.0.0.0/0 md5", "host | {all} | {/^a.*$} | 0.0.0.0 | 0.0.0.0 | md5"),
        ("local include foo trust", "local | {include} | {foo} |  |  | trust"),
        ("local replication,sameuser,samerole,samegroup +admins,@ trust", "local | {replication,sameuser,samerole,samegroup} | {+admins,@} |  |  | trust"),
        ("host all all 0/0 ldap ldapurl=ldap://h/dc=x", "host | {all} | {all} | 0.0.0.0 | 0.0.0.0 | ldap"),
        ("host all all 0/0 ldap ldapserver=h ldapprefix=cn= \"ldapsuffix=,dc=x\"", "host | {all} | {all} | 0.0.0.0 | 0.0.0.0 | ldap"),
        ("host all all 0/0 radius radiusservers=\"a,b\" radiussecrets=s radiusports=1812", "host | {all} | {all} | 0.0.0.0 | 0.0.0.0 | radius"),
        ("host all all 0/0 radius radiusservers=\"a,b\" radiussecrets=\"s,t\" radiusidentifiers=x", "host | {all} | {all} | 0.0.0.0 | 0.0.0.0 | radius"),
    ];
    for (line, want) in cases {
        assert_eq!(row_of(line, 15), *want, "{line:?}");
        assert_eq!(row_of(line, 17), *want, "{line:?}");
    }
}

/// Each message of `parse_hba_line` and `parse_hba_auth_opt`, as the server words it.
#[test]
fn errors_as_the_server_words_them() {
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        ("hosts all all 1.2.3.4/8 md5", "invalid connection type \"hosts\""),
        ("local,host all all trust", "multiple values specified for connection type"),
        ("local", "end-of-line before database specification"),
        ("local all", "end-of-line before role specification"),
        ("host all all", "end-of-line before IP address specification"),
        ("local all all", "end-of-line before authentication method"),
        ("host all all 127.0.0.1/32", "end-of-line before authentication method"),
        ("host all all 10.0.0.1", "end-of-line before netmask specification"),
        ("host all all 10.0.0.1 255.0.0.0,255.0.0.0 trust", "multiple values specified for netmask"),
        ("host all all 127.1 trust", "invalid IP mask \"trust\": Name or service not known"),
        ("host all all 10.0.0.1 ::ffff trust", "IP address and mask do not match"),
        ("host all all 1.2.3.4/8,5.6.7.8/8 md5", "multiple values specified for host address"),
        ("host all all 127.0.0.256/32 trust", "specifying both host name and CIDR mask is invalid: \"127.0.0.256/32\""),
        ("host all all /24 trust", "specifying both host name and CIDR mask is invalid: \"/24\""),
        ("host all all 10.0.0.0/33 trust", "invalid CIDR mask in address \"10.0.0.0/33\""),
        ("host all all 10.0.0.0/8/9 trust", "invalid CIDR mask in address \"10.0.0.0/8/9\""),
        ("host all all ::/129 trust", "invalid CIDR mask in address \"::/129\""),
        ("host all all 10.0.0.0/ trust", "invalid CIDR mask in address \"10.0.0.0/\""),
        ("local all all md5,trust", "multiple values specified for authentication type"),
        ("local all all krb5", "invalid authentication method \"krb5\""),
        ("local all all crypt", "invalid authentication method \"crypt\""),
        ("local all all \"trust \"", "invalid authentication method \"trust \""),
        ("local all all sspi", "invalid authentication method \"sspi\": not supported by this build"),
        ("local all all bsd", "invalid authentication method \"bsd\": not supported by this build"),
        ("local all all gss", "gssapi authentication is not supported on local sockets"),
        ("host all all all peer", "peer authentication is only supported on local sockets"),
        ("host all all all cert", "cert authentication is only supported on hostssl connections"),
        ("local all all cert", "cert authentication is only supported on hostssl connections"),
        ("local all all trust x", "authentication option not in name=value format: x"),
        ("local all all trust map=x", "authentication option \"map\" is only valid for authentication methods ident, peer, gssapi, sspi, and cert"),
        ("local all all trust ldapserver=x", "authentication option \"ldapserver\" is only valid for authentication methods ldap"),
        ("local all all trust pamservice=x", "authentication option \"pamservice\" is only valid for authentication methods pam"),
        ("local all all trust radiusservers=x", "authentication option \"radiusservers\" is only valid for authentication methods radius"),
        ("local all all trust include_realm=0", "authentication option \"include_realm\" is only valid for authentication methods gssapi and sspi"),
        ("local all all trust compat_realm=0", "authentication option \"compat_realm\" is only valid for authentication methods sspi"),
        ("local all all trust clientcert=verify-ca", "clientcert can only be configured for \"hostssl\" rows"),
        ("host all all all trust clientname=CN", "clientname can only be configured for \"hostssl\" rows"),
        ("hostssl all all all trust clientcert=1", "invalid value for clientcert: \"1\""),
        ("hostssl all all all trust clientcert=no-verify", "invalid value for clientcert: \"no-verify\""),
        ("hostssl all all all cert clientcert=verify-ca", "clientcert only accepts \"verify-full\" when using \"cert\" authentication"),
        ("hostssl all all all trust clientname=cn", "invalid value for clientname: \"cn\""),
        ("local all all trust foo=1", "unrecognized authentication option name: \"foo\""),
        ("host all all 0/0 ldap ldapurl=foo", "could not parse LDAP URL \"foo\": Time limit exceeded"),
        ("host all all 0/0 ldap ldapurl=ldapi://x/dc=a", "unsupported LDAP URL scheme: ldapi"),
        ("host all all 0/0 ldap ldapserver=h ldapport=abc ldapbasedn=x", "invalid LDAP port number: \"abc\""),
        ("host all all 0/0 ldap ldapserver=h", "authentication method \"ldap\" requires argument \"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be set"),
        ("host all all 0/0 ldap ldapurl=ldap://h", "authentication method \"ldap\" requires argument \"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be set"),
        ("host all all 0/0 ldap ldapserver=h ldapprefix=a ldapbasedn=b", "cannot use ldapbasedn, ldapbinddn, ldapbindpasswd, ldapsearchattribute, ldapsearchfilter, or ldapurl together with ldapprefix"),
        ("host all all 0/0 ldap ldapserver=h ldapbasedn=b ldapsearchattribute=a ldapsearchfilter=b", "cannot use ldapsearchattribute together with ldapsearchfilter"),
        ("host all all 0/0 ldap ldapurl=ldap://h/dc=x?uid?sub?(x=1)", "cannot use ldapsearchattribute together with ldapsearchfilter"),
        ("host all all 0/0 ldap ldapurl=ldap://h/dc=x?uid,cn?one", "authentication option not in name=value format: cn?one"),
        ("host all all 0/0 radius", "authentication method \"radius\" requires argument \"radiusservers\" to be set"),
        ("host all all 0/0 radius radiusservers=a", "authentication method \"radius\" requires argument \"radiussecrets\" to be set"),
        ("host all all 0/0 radius radiusservers= radiussecrets=s", "authentication method \"radius\" requires argument \"radiusservers\" to be set"),
        ("host all all 0/0 radius radiusservers=\"a,,b\" radiussecrets=s", "could not parse RADIUS server list \"a,,b\""),
        ("host all all 0/0 radius radiusservers=a radiussecrets=s radiusports=x", "invalid RADIUS port number: \"x\""),
        ("host all all 0/0 radius radiusservers=\"a,b,c\" radiussecrets=\"s,t\"", "the number of RADIUS secrets (2) must be 1 or the same as the number of RADIUS servers (3)"),
        ("host all all 0/0 radius radiusservers=\"a,b,c\" radiussecrets=s radiusports=\"1,2\"", "the number of RADIUS ports (2) must be 1 or the same as the number of RADIUS servers (3)"),
        ("host all all 0/0 radius radiusservers=\"a,b,c\" radiussecrets=s radiusidentifiers=\"1,2\"", "the number of RADIUS identifiers (2) must be 1 or the same as the number of RADIUS servers (3)"),
    ];
    for (line, want) in cases {
        for version in [15, 16, 17] {
            assert_eq!(
                error_of(line, version).as_deref(),
                Some(*want),
                "{line:?} in {version}"
            );
        }
    }
}

#[test]
fn version_differences() {
    // 16 added include directives; 15 reads them as a connection type.
    assert_eq!(
        error_of("include foo", 15).as_deref(),
        Some("invalid connection type \"include\"")
    );
    assert_eq!(
        error_of("include_dir foo", 16).as_deref(),
        Some(
            "could not open configuration directory \"/etc/postgresql/foo\": No such file or directory"
        )
    );
    assert!(
        run("include_if_exists foo\nlocal all all trust\n", 16)
            .diagnostics
            .is_empty()
    );
    // 16 made `/x` a regular expression; in 15 it is a name.
    assert_eq!(
        row_of("local /( all trust", 15),
        "local | {/(} | {all} |  |  | trust"
    );
    assert_eq!(
        error_of("local /( all trust", 16).as_deref(),
        Some("invalid regular expression \"(\": parentheses () not balanced")
    );
    assert_eq!(
        error_of("local all \"/a[\" trust", 17).as_deref(),
        Some("invalid regular expression \"a[\": brackets [] not balanced")
    );
    // 14 dropped clientcert=1/0/no-verify; 13 still took them.
    assert_eq!(error_of("hostssl all all all trust clientcert=1", 13), None);
    assert_eq!(
        error_of("hostssl all all all cert clientcert=no-verify", 13).as_deref(),
        Some("clientcert can not be set to \"no-verify\" when using \"cert\" authentication")
    );
    assert_eq!(
        error_of("hostssl all all all trust clientname=DN", 13).as_deref(),
        Some("unrecognized authentication option name: \"clientname\"")
    );
    // 18 knows oauth.
    assert_eq!(
        error_of("local all all oauth", 17).as_deref(),
        Some("invalid authentication method \"oauth\"")
    );
    assert_eq!(
        error_of("host all all all oauth scope=openid", 18).as_deref(),
        Some("authentication method \"oauth\" requires argument \"issuer\" to be set")
    );
    assert_eq!(
        error_of("host all all all oauth scope=openid issuer=https://x", 18),
        None
    );
    assert_eq!(
        error_of("local all all trust map=x", 18).as_deref(),
        Some(
            "authentication option \"map\" is only valid for authentication methods ident, peer, gssapi, sspi, cert, and oauth"
        )
    );
}

#[test]
fn token_too_long_only_up_to_15() {
    let long = "v".repeat(10239);
    assert_eq!(
        error_of(&format!("host all {long} 127.0.0.1/32 trust"), 15),
        None
    );
    let longer = "w".repeat(10240);
    let message =
        error_of(&format!("host all {longer} 127.0.0.1/32 trust"), 15).unwrap_or_default();
    assert!(
        message.starts_with("authentication file token too long, skipping: \"www"),
        "{message:.80}"
    );
    assert_eq!(
        message.len(),
        "authentication file token too long, skipping: \"\"".len() + 10239
    );
    assert_eq!(
        error_of(&format!("host all {long},z 127.0.0.1/32 trust"), 15).map(|m| m.len() > 10239),
        Some(true)
    );
    assert_eq!(
        error_of(&format!("host all {longer} 127.0.0.1/32 trust"), 16),
        None
    );
}

#[test]
fn continuation_lines() {
    let src = "local all all trust \\\n   map=x\nlocal all \\\nall peer \\\n  map=y\n# tail \\\nhost all all all trust\n";
    let p = run(src, 14);
    let errors: Vec<_> = p
        .diagnostics
        .iter()
        .map(|d| (d.location.line, d.message.as_str()))
        .collect();
    assert_eq!(
        errors,
        [(
            1,
            "authentication option \"map\" is only valid for authentication methods ident, peer, gssapi, sspi, and cert"
        )]
    );
    // The comment's backslash continues the comment onto the host line, which vanishes.
    let rules: Vec<_> = p
        .value
        .iter()
        .map(|r| (r.location.line, r.location.end_line, r.raw.as_str()))
        .collect();
    assert_eq!(rules, [(3, Some(5), "local all all peer   map=y")]);
    // A backslash glued to the next word joins them.
    assert_eq!(
        row_of("local all all tru\\\nst", 15),
        "local | {all} | {all} |  |  | trust"
    );
    // Two backslashes: the first stays, the second continues onto an empty line.
    let p = run("local all a\\\\\n\nlocal all all trust\n", 17);
    assert_eq!(p.diagnostics.len(), 1);
    assert_eq!(
        p.diagnostics[0].message,
        "end-of-line before authentication method"
    );
    // Before 14 a trailing backslash is a character (14.23 joins the lines: the
    // differential test of tests/differential_pg.rs against real 13.23 and 14.23).
    assert_eq!(
        error_of("local all all trust\\", 13).as_deref(),
        Some("invalid authentication method \"trust\\\"")
    );
    // CRLF line ends.
    assert_eq!(
        row_of("local all all trust\r", 15),
        "local | {all} | {all} |  |  | trust"
    );
}

#[test]
fn empty_file_has_no_entries() {
    let p = run("# nothing\n\n", 17);
    assert!(p.value.is_empty());
    assert_eq!(p.diagnostics.len(), 1);
    assert_eq!(p.diagnostics[0].code, "no-entries");
    assert_eq!(
        p.diagnostics[0].message,
        "configuration file \"/etc/postgresql/pg_hba.conf\" contains no entries"
    );
    // A file with only bad lines has those errors, not "no entries".
    assert_eq!(run("x\n", 17).diagnostics.len(), 1);
}

#[test]
fn rule_fields() {
    let p = run(
        "\n\nhostssl \"db\",app +admin,@ 10.1.0.0/16 cert clientcert=verify-full map=m\n",
        17,
    );
    assert!(p.diagnostics.is_empty());
    let r = &p.value[0];
    assert_eq!(r.location.file, "pg_hba.conf");
    assert_eq!(r.location.line, 3);
    assert_eq!(r.location.end_line, None);
    assert_eq!(r.connection_type, "hostssl");
    let names = |v: &[wit::HbaName]| {
        v.iter()
            .map(|n| (n.text.clone(), n.quoted))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&r.databases),
        [("db".into(), true), ("app".into(), false)]
    );
    assert_eq!(
        names(&r.users),
        [("+admin".into(), false), ("@".into(), false)]
    );
    match &r.address {
        Some(wit::HbaAddress::Network(n)) => {
            assert_eq!(
                (n.address.as_str(), n.mask.as_str(), n.prefix),
                ("10.1.0.0", "255.255.0.0", Some(16))
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.method, "cert");
    assert_eq!(
        r.options,
        [
            ("clientcert".into(), "verify-full".into()),
            ("map".into(), "m".into())
        ]
    );
    assert_eq!(
        r.raw,
        "hostssl \"db\",app +admin,@ 10.1.0.0/16 cert clientcert=verify-full map=m"
    );
    let p = run("host all all 10.0.0.0 255.0.255.0 trust\n", 17);
    match &p.value[0].address {
        Some(wit::HbaAddress::Network(n)) => assert_eq!(n.prefix, None),
        other => panic!("{other:?}"),
    }
    // An option value may hold `=`.
    let p = run(
        "host all all 0/0 ldap ldapbasedn=\"dc=x,dc=y\" ldapserver=h\n",
        17,
    );
    assert_eq!(
        p.value[0].options[0],
        ("ldapbasedn".into(), "dc=x,dc=y".into())
    );
    // Unquoted, the comma splits the option: the server reads an option `dc`.
    let p = run(
        "host all all 0/0 ldap ldapbasedn=dc=x,dc=y ldapserver=h\n",
        17,
    );
    assert_eq!(
        p.diagnostics[0].message,
        "unrecognized authentication option name: \"dc\""
    );
}

#[test]
fn records_from_a_yaml_list() {
    let records = [
        (10, "local all all trust"),
        (11, "hosts all all 0/0 md5"),
        (12, "host all all 0.0.0.0/0 \\"),
        (13, "md5"),
    ];
    let p = parse_records(records, "patroni.yml", Path::new("/data"), &ctx(17));
    let rules: Vec<_> = p
        .value
        .iter()
        .map(|r| {
            (
                r.location.file.as_str(),
                r.location.line,
                r.location.end_line,
            )
        })
        .collect();
    assert_eq!(
        rules,
        [("patroni.yml", 10, None), ("patroni.yml", 12, Some(13))]
    );
    let errors: Vec<_> = p
        .diagnostics
        .iter()
        .map(|d| (d.location.line, d.message.as_str()))
        .collect();
    assert_eq!(errors, [(11, "invalid connection type \"hosts\"")]);
    assert!(
        parse_records([], "patroni.yml", Path::new("/data"), &ctx(17))
            .diagnostics
            .is_empty()
    );
}

/// Random bytes and random mixes of hba words never make the parser panic.
#[test]
fn never_panics() {
    #[rustfmt::skip]
    let words = [
        "local", "host", "hostssl", "all", "\"", "\"\"", ",", "@", "@x", "/", "/(", "\\", "\\\n", "#", "0/0",
        "::1/128", "127.1", "255.0.0.0", "trust", "cert", "ldap", "radius", "ldapurl=ldap://h/", "clientcert=",
        "=", "map=", "radiusservers=\",", "ldapurl=URé://", "ldapurl=ldaé", "ldapurl=<ldap://é/é?é?é?é?é>",
        "include", "include_dir", "\n", "\r", "\0", "é", " ", "\t", "%", "[", "]",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let mut src = String::new();
        for _ in 0..(rand() % 40) {
            if rand() % 4 == 0 {
                src.push(char::from_u32((rand() % 0x3000) as u32).unwrap_or('x'));
            } else {
                src.push_str(words[(rand() as usize) % words.len()]);
                src.push(' ');
            }
        }
        for version in [13, 15, 16, 17, 18] {
            let _ = run(&src, version);
            let _ =
                crate::formats::ident::parse(&src, "i", Path::new("/nonexistent/i"), &ctx(version));
        }
        let _ = regex::check(&src);
        let _ = crate::formats::pgconf::parse(
            &src,
            "p",
            Path::new("/nonexistent/p"),
            &crate::formats::ParseContext::default(),
        );
    }
}

/// Prints how patrol parses the file named by `PATROL_HBA_FILE` in the form of
/// `psql -AtF ' | ' -c 'select line_number, type, database, user_name, address,
/// netmask, auth_method, error from pg_hba_file_rules'`, for comparing with a real
/// server (`cargo test … dump_rules -- --ignored --nocapture`).
#[test]
#[ignore]
fn dump_rules() {
    let Ok(file) = std::env::var("PATROL_HBA_FILE") else {
        return;
    };
    let version = std::env::var("PATROL_PG_VERSION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(17);
    let src = std::fs::read_to_string(&file).unwrap_or_default();
    let p = parse(&src, &file, Path::new(&file), &ctx(version));
    let mut rows: Vec<(u32, String)> = p
        .value
        .iter()
        .map(|r| (r.location.line, view_row(r)))
        .collect();
    for d in &p.diagnostics {
        rows.push((d.location.line, format!(" |  |  |  |  |  | {}", d.message)));
    }
    rows.sort_by_key(|r| r.0);
    for (line, row) in rows {
        println!("ROW {line} | {row}");
    }
}

/// Prints patrol's verdict on each pattern of the file named by `PATROL_REGEX_FILE` (one
/// per line), for comparing with `regexp_like('', pattern)` on a real server.
#[test]
#[ignore]
fn dump_regex() {
    let Ok(file) = std::env::var("PATROL_REGEX_FILE") else {
        return;
    };
    for pattern in std::fs::read_to_string(file).unwrap_or_default().lines() {
        println!("RE {}", regex::check(pattern).err().unwrap_or("OK"));
    }
}
