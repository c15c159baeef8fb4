use super::*;

fn settings(src: &str) -> Vec<(Option<String>, String, String, u32)> {
    parse(src, "gitlab.rb")
        .value
        .into_iter()
        .map(|s| (s.section, s.name, s.value, s.location.line))
        .collect()
}

fn codes(src: &str) -> Vec<(String, u32)> {
    parse(src, "gitlab.rb")
        .diagnostics
        .into_iter()
        .map(|d| (d.code, d.location.line))
        .collect()
}

#[test]
fn assignments_of_every_literal() {
    let cases: &[(&str, &str, &str)] = &[
        ("patroni['enable'] = true", "patroni['enable']", "true"),
        ("patroni['password'] = nil", "patroni['password']", "null"),
        ("patroni['port'] = '8008'", "patroni['port']", "\"8008\""),
        (
            "patroni['maximum_lag_on_failover'] = 1_048_576",
            "patroni['maximum_lag_on_failover']",
            "1048576",
        ),
        (
            "pgbouncer['reserve_pool_timeout'] = 5.5",
            "pgbouncer['reserve_pool_timeout']",
            "5.5",
        ),
        (
            "patroni['allowlist'] = %w(10.0.0.0/8 127.0.0.1/32)",
            "patroni['allowlist']",
            r#"["10.0.0.0/8","127.0.0.1/32"]"#,
        ),
        (
            "patroni['allowlist'] = ['10.0.0.1/32', \"::1/128\",]",
            "patroni['allowlist']",
            r#"["10.0.0.1/32","::1/128"]"#,
        ),
        (
            "patroni[:username] = \"api\\tuser\"",
            "patroni['username']",
            r#""api\tuser""#,
        ),
        (
            "patroni['postgresql']['max_connections'] = 500",
            "patroni['postgresql']['max_connections']",
            "500",
        ),
        (
            "consul['configuration'] = { 'server' => false, retry_join: %w(10.0.0.1), \"acl\": { enabled: true } }",
            "consul['configuration']",
            r#"{"acl":{"enabled":true},"retry_join":["10.0.0.1"],"server":false}"#,
        ),
        (
            "pgbouncer['users'] = { 'pgbouncer' => { password: 'x' } }",
            "pgbouncer['users']",
            r#"{"pgbouncer":{"password":"x"}}"#,
        ),
        ("gitlab_rails['x'] = :sym", "gitlab_rails['x']", "\"sym\""),
        ("gitlab_rails['x'] = -3", "gitlab_rails['x']", "-3"),
        // gitlabhq/omnibus-gitlab gitlab.rb.template's `prometheus['scrape_configs']`
        // example: a string-symbol key, and pairs in brackets that make one hash.
        (
            "prometheus['scrape_configs'] = [\n  {\n    'job_name': 'example',\n    'static_configs' => [\n      'targets' => ['hostname:port'],\n    ],\n  },\n]",
            "prometheus['scrape_configs']",
            r#"[{"job_name":"example","static_configs":[{"targets":["hostname:port"]}]}]"#,
        ),
        (
            "x['a'] = [1, b: 2, :c => 3]",
            "x['a']",
            r#"[1,{"b":2,"c":3}]"#,
        ),
    ];
    for (src, name, value) in cases {
        let got = settings(src);
        assert_eq!(got.len(), 1, "{src}: {got:?}");
        assert_eq!(got[0].1, *name, "{src}");
        assert_eq!(got[0].2, *value, "{src}");
        assert!(codes(src).is_empty(), "{src}: {:?}", codes(src));
    }
}

#[test]
fn sections_pointers_and_lines() {
    let src = "# gitlab.rb\nroles(['patroni_role', 'pgbouncer_role'])\n\npatroni['allowlist'] = %w(\n  10.0.0.0/8\n  127.0.0.1/32\n)\nexternal_url 'https://gitlab.example.com'\nroles ['consul_role']\n";
    let parsed = parse(src, "gitlab.rb");
    assert!(
        parsed.diagnostics.iter().all(|d| d.code == "duplicate-key"),
        "{:?}",
        parsed.diagnostics
    );
    let s = &parsed.value;
    assert_eq!(s[0].section, None);
    assert_eq!(s[0].name, "roles");
    assert_eq!(s[0].value, r#"["patroni_role","pgbouncer_role"]"#);
    assert_eq!(s[0].location.line, 2);
    assert_eq!(s[1].section.as_deref(), Some("patroni"));
    assert_eq!(s[1].location.line, 4);
    assert_eq!(s[1].location.end_line, Some(7));
    assert_eq!(s[1].location.pointer.as_deref(), Some("/patroni/allowlist"));
    assert_eq!(s[2].name, "external_url");
    assert_eq!(s[2].value, r#""https://gitlab.example.com""#);
    assert_eq!(s[3].value, r#"["consul_role"]"#);
}

#[test]
fn multi_line_hash_with_comments() {
    let src = "consul['configuration'] = {\n  # the servers\n  retry_join: %w(10.0.0.1 10.0.0.2),\n  server: false, # agent\n}\npatroni['enable'] = true\n";
    let got = settings(src);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].2,
        r#"{"retry_join":["10.0.0.1","10.0.0.2"],"server":false}"#
    );
    assert_eq!(got[1].3, 6);
}

#[test]
fn ruby_it_does_not_run_is_unknown_or_skipped() {
    let src = "patroni['password'] = ENV['PATRONI_PASSWORD']\npatroni['username'] = \"#{node['fqdn']}\"\nif true\npatroni['x'] = 1\nend\npatroni['allowlist'] << '10.0.0.1'\nnode.default['x'] = 1\npatroni['y'] = 2 if false\n";
    let parsed = parse(src, "gitlab.rb");
    let names: Vec<(&str, &[String])> = parsed
        .value
        .iter()
        .map(|s| (s.name.as_str(), s.args.as_slice()))
        .collect();
    assert_eq!(
        names[0],
        ("patroni['password']", &["unevaluated".to_string()][..])
    );
    assert_eq!(names[1].0, "patroni['username']");
    assert_eq!(names[1].1, &["unevaluated".to_string()][..]);
    // The assignment inside `if` is read (its value is a literal); the `if`/`end` lines
    // are reported and skipped.
    assert!(
        names
            .iter()
            .any(|(n, a)| *n == "patroni['x']" && a.is_empty())
    );
    assert!(
        names
            .iter()
            .any(|(n, a)| *n == "patroni['y']" && !a.is_empty())
    );
    let diags: Vec<(String, u32)> = parsed
        .diagnostics
        .iter()
        .map(|d| (d.code.clone(), d.location.line))
        .collect();
    for line in [1, 2, 3, 5, 6, 7, 8] {
        assert!(
            diags.contains(&("unsupported-ruby".into(), line)),
            "line {line}: {diags:?}"
        );
    }
    assert!(parsed.value[0].value.contains("ENV"));
}

#[test]
fn syntax_errors_are_invalid_lines_and_parsing_goes_on() {
    let src = "patroni['allowlist'] = = %w(10.6.0.0/16 127.0.0.1/32)\npatroni['enable'] = true\npatroni['x'] = [1, 2\npatroni['y'] = 'ok'\npatroni['z'] = \"unterminated\npatroni[:w] = 3\n";
    let parsed = parse(src, "gitlab.rb");
    let diags: Vec<(String, u32)> = parsed
        .diagnostics
        .iter()
        .map(|d| (d.code.clone(), d.location.line))
        .collect();
    assert!(diags.contains(&("invalid-line".into(), 1)), "{diags:?}");
    assert!(diags.contains(&("invalid-line".into(), 3)), "{diags:?}");
    assert!(diags.contains(&("invalid-line".into(), 5)), "{diags:?}");
    let names: Vec<&str> = parsed.value.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"patroni['enable']"), "{names:?}");
    assert!(names.contains(&"patroni['y']"), "{names:?}");
    assert!(names.contains(&"patroni['w']"), "{names:?}");
}

#[test]
fn duplicates_are_reported() {
    let src = "patroni['port'] = 8008\npatroni['port'] = 8009\n";
    assert_eq!(codes(src), vec![("duplicate-key".to_string(), 2)]);
    assert_eq!(settings(src)[1].2, "8009");
}

#[test]
fn never_panics_on_garbage() {
    let inputs = [
        "",
        "[",
        "]",
        "patroni[",
        "patroni['a'",
        "patroni['a'] =",
        "= 1",
        "roles(",
        "roles(]",
        "{ a: }",
        "%w(",
        "<<~EOS",
        "x = <<~EOS\n",
        "patroni['a'] = {'k' =>}",
        "patroni['a'] = [1,,2]",
        ":",
        "::",
        "a.b.c = 1",
        "'\\",
        "\"#{",
        "patroni['a']['b'] = %i(x y)",
        "=begin\n",
        "\u{feff}patroni['a'] = 1",
        "patroni['é'] = 'ü'",
    ];
    for src in inputs {
        let _ = parse(src, "gitlab.rb");
    }
    // Every prefix of a realistic file.
    let file = include_str!("../../../../examples/insecure/gitlab/gitlab.rb");
    for end in (0..file.len()).filter(|i| file.is_char_boundary(*i)) {
        let _ = parse(&file[..end], "gitlab.rb");
    }
}

#[test]
fn deep_nesting_is_a_diagnostic_not_a_stack_overflow() {
    let n = 12_000;
    for src in [
        format!(
            "# nested\ngitlab_rails['a'] = {}1{}\n",
            "[".repeat(n),
            "]".repeat(n)
        ),
        format!(
            "# nested\ngitlab_rails['a'] = {}{}\n",
            "{'a' => ".repeat(n),
            "}".repeat(n)
        ),
    ] {
        let p = parse(&src, "gitlab.rb");
        let d: Vec<_> = p
            .diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.message.as_str(), d.location.line))
            .collect();
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].0, d[0].2), ("invalid-line", 2), "{d:?}");
        assert!(d[0].1.contains("deeper than 100 levels"), "{d:?}");
    }
    let ok = format!(
        "gitlab_rails['a'] = {}1{}\n",
        "[".repeat(90),
        "]".repeat(90)
    );
    assert!(parse(&ok, "gitlab.rb").diagnostics.is_empty());
}
