//! The report formats as CI tools read them, through the real binary: SARIF validated
//! against the official SARIF 2.1.0 schema, JUnit against the Jenkins xUnit schema (with
//! `xmllint`), GitHub workflow commands by pattern, text for humans; secrets never in any
//! output; completions, the man page and the pre-commit hook.
//!
//! Besides the built-in policies, most tests run `tests/policies/report-probe`, which
//! reports every line of every file with a patch and quotes the line in its message, so
//! that the formats are exercised with findings, fixes and secrets whatever the built-in
//! policies find today.

// Tests state their assumptions with `unwrap`/`expect`: a failure is the test failing.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use regex::Regex;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One compile cache for every test here (the cache is safe to share: entries are
/// written to a temporary file and renamed into place).
fn cache() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-cache");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn probe() -> PathBuf {
    Path::new(env!("PATROL_TEST_POLICY_DIR")).join("report-probe.wasm")
}

fn patrol() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    c.env("NO_COLOR", "1")
        .env("PATROL_CACHE_DIR", cache())
        .current_dir(root());
    c
}

/// `patrol check examples/insecure --format FORMAT`, with the probe when `with_probe`.
fn check(format: &str, with_probe: bool) -> Output {
    let mut c = patrol();
    c.args(["check", "examples/insecure", "--format", format]);
    if with_probe {
        c.arg("--policy").arg(probe());
    }
    c.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sarif(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

fn validate_sarif(log: &Value) {
    let schema_text =
        std::fs::read_to_string(root().join("tests/fixtures/schemas/sarif-schema-2.1.0.json"))
            .unwrap();
    let schema: Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the SARIF log does not follow the SARIF 2.1.0 schema: {errors:#?}"
    );
}

#[test]
fn sarif_of_the_builtin_policies_follows_the_schema() {
    let out = check("sarif", false);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let log = sarif(&out);
    validate_sarif(&log);
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["runs"].as_array().unwrap().len(), 1);
    let driver = &log["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "patrol");
    // Every built-in policy's codes are rules, even those without a finding today.
    let policies = patrol()
        .args(["policy", "list", "--format", "json"])
        .output()
        .unwrap();
    let listed = stdout(&policies);
    let rules: Vec<&str> = driver["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(!rules.is_empty());
    for id in &rules {
        let (policy, code) = id.split_once('/').unwrap();
        assert!(
            policy == "patrol" || listed.contains(policy),
            "rule `{id}` of an unknown policy"
        );
        assert!(!code.is_empty());
    }
}

#[test]
fn sarif_locates_findings_from_the_repository_root_and_carries_fixes() {
    let out = check("sarif", true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = sarif(&out);
    validate_sarif(&log);
    let run = &log["runs"][0];
    assert_eq!(
        run["originalUriBaseIds"]["%SRCROOT%"]["uri"],
        format!("file://{}/", root().display())
    );
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let line_rule = rules
        .iter()
        .find(|r| r["id"] == "report-probe/line")
        .expect("the probe's rules");
    assert_eq!(line_rule["shortDescription"]["text"], "A setting line");
    assert_eq!(line_rule["help"]["text"], "Review the line.");
    assert_eq!(line_rule["properties"]["security-severity"], "8.0");
    assert_eq!(line_rule["defaultConfiguration"]["level"], "error");

    let results = run["results"].as_array().unwrap();
    let hba_text = std::fs::read_to_string(root().join("examples/insecure/pg_hba.conf")).unwrap();
    let mut fixed = 0;
    for r in results {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        let physical = &r["locations"][0]["physicalLocation"];
        let uri = physical["artifactLocation"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("examples/insecure/"), "{uri}");
        assert_eq!(physical["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert!(physical["region"]["startLine"].as_u64().unwrap() >= 1);
        if r["ruleId"] == "report-probe/line" && uri == "examples/insecure/pg_hba.conf" {
            let line = physical["region"]["startLine"].as_u64().unwrap() as usize;
            let original = hba_text.lines().nth(line - 1).unwrap();
            let replacement = &r["fixes"][0]["artifactChanges"][0]["replacements"][0];
            assert_eq!(
                replacement["deletedRegion"]["startLine"].as_u64().unwrap() as usize,
                line
            );
            assert_eq!(
                replacement["deletedRegion"]["endLine"].as_u64().unwrap() as usize,
                line + 1
            );
            assert_eq!(
                replacement["insertedContent"]["text"],
                format!("{original} # reviewed\n")
            );
            fixed += 1;
        }
    }
    assert!(
        fixed >= 5,
        "the probe's pg_hba findings carry their fixes: {fixed}"
    );
    // Levels follow the severities: the probe cycles through all five.
    for level in ["error", "warning", "note"] {
        assert!(
            results.iter().any(|r| r["level"] == level),
            "no `{level}` result"
        );
    }
}

#[test]
fn junit_follows_the_jenkins_schema() {
    support::ensure_packages(&[("xmllint", "libxml2-utils")]);
    let out = check("junit", true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let xml = stdout(&out);
    let file = tmp("junit").join("report.xml");
    std::fs::write(&file, &xml).unwrap();
    let schema = root().join("tests/fixtures/schemas/junit-10.xsd");
    let lint = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "xmllint rejects the JUnit report: {}\n{xml}",
        String::from_utf8_lossy(&lint.stderr)
    );
    // One case per (policy, code, file); failures carry the location and the message.
    assert!(
        xml.contains(
            r#"<testcase name="examples/insecure/pg_hba.conf" classname="report-probe.line">"#
        ),
        "{xml}"
    );
    assert!(
        xml.contains(
            r#"<testcase name="examples/insecure/pg_hba.conf" classname="report-probe.whole-file">"#
        ),
        "{xml}"
    );
    let failure = Regex::new(r#"<failure message="\d+ findings, first examples/insecure/pg_hba\.conf:\d+: line \d+ reads `[^"]+`" type="critical">"#).unwrap();
    assert!(failure.is_match(&xml), "{xml}");
}

#[test]
fn github_commands_annotate_files() {
    let out = check("github", true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let command = Regex::new(
        r"^::(error|warning|notice) file=[^,:]+(,line=\d+(,endLine=\d+)?)?,title=[^,:]+ \((critical|high|medium|low|info)\)::\S.*$",
    )
    .unwrap();
    let failed = Regex::new(r"^::error title=[^,:]+::\S.*$").unwrap();
    assert!(!text.is_empty());
    for line in text.lines() {
        assert!(
            command.is_match(line) || failed.is_match(line),
            "not a workflow command: {line}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("::error file=examples/insecure/pg_hba.conf,line=")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("::warning file=examples/insecure/")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with(
            "::notice file=examples/insecure/patroni.yml,title=report-probe/whole-file (info)::"
        )),
        "{text}"
    );
}

#[test]
fn text_is_grouped_by_file_with_marks_and_a_summary() {
    let out = check("text", true);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains('\x1b'), "colour with NO_COLOR set");
    assert!(
        text.lines().any(|l| l == "examples/insecure/pg_hba.conf"),
        "{text}"
    );
    let marked = Regex::new(r"(?m)^  +\d+ \| .+\n  +\| +\^+$").unwrap();
    assert!(marked.is_match(&text), "{text}");
    let summary = text.lines().last().unwrap();
    let counts =
        Regex::new(r"^\d+ findings \((\d+ (critical|high|medium|low|info)(, )?)+\)").unwrap();
    assert!(counts.is_match(summary), "{summary}");
}

/// Writes configs holding distinctive secrets into a directory; returns the secrets.
fn write_secret_configs(dir: &Path) -> Vec<&'static str> {
    let files: &[(&str, &str)] = &[
        (
            "patroni.yml",
            "scope: demo\nname: node1\nrestapi:\n  listen: 0.0.0.0:8008\n  connect_address: 10.0.0.1:8008\n  certfile: /etc/patroni/rest.pem\n  keyfile: /etc/patroni/rest.key\n  keyfile_password: Leak-Keyfile-Pw-1\n  authentication:\n    username: admin\n    password: Leak-Restapi-Pw-2\nctl:\n  certfile: /etc/patroni/ctl.pem\n  keyfile_password: Leak-Ctl-Keyfile-3\n  authentication:\n    username: ctl\n    password: 'Leak-Ctl-Pw-4'\netcd3:\n  hosts: 10.0.0.5:2379\n  username: patroni\n  password: \"Leak-Etcd-Pw-5\"\npostgresql:\n  listen: 0.0.0.0:5432\n  data_dir: /var/lib/postgresql/data\n  authentication:\n    superuser:\n      username: postgres\n      password: Leak-Superuser-Pw-6\n    replication:\n      username: replicator\n      password: Leak-Replication-Pw-7\n",
        ),
        (
            "pgbackrest.conf",
            "[global]\nrepo1-path=/var/lib/pgbackrest\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=Leak-Cipher-Pass-8\n\n[main]\npg1-path=/var/lib/postgresql/data\n",
        ),
        (
            "consul.hcl",
            "datacenter = \"dc1\"\nencrypt = \"TGVhay1Hb3NzaXAtS2V5LTk=\"\nacl {\n  enabled = true\n  tokens {\n    agent = \"Leak-Consul-Agent-Token-10\"\n  }\n}\n",
        ),
        (
            "gitlab.rb",
            "roles(['patroni_role', 'pgbouncer_role'])\npatroni['username'] = 'patroni-api'\npatroni['password'] = 'Leak-Gitlab-Patroni-Pw-11'\ngitlab_rails['db_password'] = \"Leak-Gitlab-Db-Pw-12\"\npostgresql['sql_replication_password'] = 'Leak-Gitlab-Repl-13'\nconsul['configuration'] = { 'encrypt' => 'Leak-Gitlab-Gossip-14' }\n",
        ),
        (
            "haproxy.cfg",
            "global\n    maxconn 100\n\nlisten stats\n    bind *:7000\n    stats enable\n    stats auth admin:Leak-Haproxy-Stats-15\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    vec![
        "Leak-Keyfile-Pw-1",
        "Leak-Restapi-Pw-2",
        "Leak-Ctl-Keyfile-3",
        "Leak-Ctl-Pw-4",
        "Leak-Etcd-Pw-5",
        "Leak-Superuser-Pw-6",
        "Leak-Replication-Pw-7",
        "Leak-Cipher-Pass-8",
        "TGVhay1Hb3NzaXAtS2V5LTk=",
        "Leak-Consul-Agent-Token-10",
        "Leak-Gitlab-Patroni-Pw-11",
        "Leak-Gitlab-Db-Pw-12",
        "Leak-Gitlab-Repl-13",
        "Leak-Gitlab-Gossip-14",
        "Leak-Haproxy-Stats-15",
    ]
}

#[test]
fn secrets_never_appear_in_any_output() {
    let dir = tmp("secrets");
    let configs = dir.join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    let secrets = write_secret_configs(&configs);
    let samples = dir.join("samples.yaml");
    std::fs::write(&samples, "requests:\n  - {name: r, source: 10.0.0.9, method: GET, path: /patroni}\nconnections:\n  - {name: c, source: 10.0.0.9, user: app, database: app}\n").unwrap();
    let probe = probe();
    let probe = probe.to_str().unwrap();
    let configs = configs.to_str().unwrap();
    let samples = samples.to_str().unwrap();

    let mut runs: Vec<Vec<&str>> = Vec::new();
    for format in ["text", "json", "sarif", "junit", "github"] {
        runs.push(vec![
            "check", configs, "--policy", probe, "--format", format,
        ]);
        runs.push(vec!["check", configs, "--format", format]);
        runs.push(vec![
            "simulate",
            "--samples",
            samples,
            configs,
            "--policy",
            probe,
            "--format",
            format,
        ]);
    }
    runs.push(vec!["check", configs, "--policy", probe, "--diff"]);
    runs.push(vec!["check", configs, "--diff"]);

    let mut probe_findings = 0;
    for args in &runs {
        let out = patrol().args(args).output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: exit {:?}\n{}",
            out.status.code(),
            stderr(&out)
        );
        let (so, se) = (stdout(&out), stderr(&out));
        for s in &secrets {
            assert!(!so.contains(s), "`{s}` leaked on stdout of {args:?}:\n{so}");
            assert!(!se.contains(s), "`{s}` leaked on stderr of {args:?}:\n{se}");
        }
        if args.contains(&"json") && args.contains(&probe) && args[0] == "check" {
            let v: Value = serde_json::from_str(&so).unwrap();
            probe_findings = v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["policy"] == "report-probe")
                .count();
        }
    }
    // The probe saw every line: the secrets did reach the renderers.
    assert!(probe_findings > 40, "{probe_findings}");
}

/// A password that is also a word of the output (`patroni`: the policy names, the
/// directory) and a role named like its password (`replicator`/`replicator`): each is
/// scrubbed where it stands as the secret, never out of codes, paths, URIs or diff headers.
#[test]
fn secrets_are_scrubbed_where_they_stand_not_out_of_names() {
    let dir = tmp("secret-names");
    let site = dir.join("patroni-site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("patroni.yml"),
        "scope: demo\nname: node1\nrestapi:\n  listen: 0.0.0.0:8008\n  connect_address: 10.0.0.1:8008\n  authentication:\n    username: admin\n    password: patroni\npostgresql:\n  listen: 0.0.0.0:5432\n  connect_address: 10.0.0.1:5432\n  data_dir: /var/lib/postgresql/data\n  authentication:\n    superuser:\n      username: postgres\n      password: Leak-Names-Super-1\n    replication:\n      username: replicator\n      password: replicator\n",
    )
    .unwrap();
    std::fs::write(site.join("pg_hba.conf"), "local all all peer\nhost replication replicator 10.0.0.0/8 md5\nhost all all 0.0.0.0/0 trust\n# a line no connection reaches: its deletion needs no fact of the deployment\nhost all all 10.1.0.0/16 md5\n").unwrap();
    let probe = probe();
    let run = |args: &[&str]| {
        let mut c = patrol();
        c.current_dir(&dir).args(args);
        c.output().unwrap()
    };
    for format in ["text", "json", "sarif", "junit", "github"] {
        let out = run(&[
            "check",
            "patroni-site",
            "--policy",
            probe.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        let (so, se) = (stdout(&out), stderr(&out));
        for text in [&so, &se] {
            assert!(
                !text.contains("Leak-Names-Super-1"),
                "{format}: a password leaked:\n{text}"
            );
            assert!(
                !text.contains("password: patroni"),
                "{format}: a password line shown:\n{text}"
            );
            assert!(
                !text.contains("<redacted>-")
                    && !text.contains("-<redacted>")
                    && !text.contains("/<redacted>"),
                "{format}: a name scrubbed:\n{text}"
            );
        }
        // The paths and the codes keep the word that is also a password.
        assert!(
            so.contains("patroni-site/patroni.yml"),
            "{format}: the path is gone:\n{so}"
        );
        assert!(so.contains("patroni-site/pg_hba.conf"), "{format}:\n{so}");
        // The role named like its password stays in the findings that name it.
        assert!(
            so.contains("replication replicator 10.0.0.0/8"),
            "{format}: the role is scrubbed:\n{so}"
        );
        match format {
            "json" => {
                let v: Value = serde_json::from_str(&so).unwrap();
                let policies: Vec<&str> = v["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["policy"].as_str().unwrap())
                    .collect();
                assert!(
                    policies.iter().any(|p| p.starts_with("patroni-")),
                    "{policies:?}"
                );
                let files = v["files"].as_array().unwrap();
                assert!(
                    files
                        .iter()
                        .any(|f| f["path"] == "patroni-site/patroni.yml" && f["kind"] == "patroni"),
                    "{files:?}"
                );
            }
            "sarif" => {
                let log = sarif(&out);
                for r in log["runs"][0]["results"].as_array().unwrap() {
                    let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                        .as_str()
                        .unwrap();
                    assert!(
                        root().join(uri).is_file(),
                        "a SARIF URI that names no file: {uri}"
                    );
                }
                assert!(se.contains("read 2 files (patroni: 1, pg-hba: 1)"), "{se}");
            }
            "text" => assert!(so.contains("read 2 files (patroni: 1, pg-hba: 1)"), "{so}"),
            _ => {}
        }
    }
    // The diff names the real files, and `patch -p1` applies it.
    let out = run(&["check", "patroni-site", "--diff"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(
        diff.contains("--- a/patroni-site/pg_hba.conf\n+++ b/patroni-site/pg_hba.conf"),
        "{diff}"
    );
    assert!(
        !diff.contains("Leak-Names-Super-1") && !diff.contains("<redacted>-"),
        "{diff}"
    );
    let mut apply = Command::new("patch");
    apply
        .current_dir(&dir)
        .args(["-p1", "--dry-run", "--quiet"])
        .stdin(std::process::Stdio::piped());
    let mut child = apply.spawn().expect("`patch` runs");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), diff.as_bytes()).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "`patch -p1` does not apply the diff:\n{diff}"
    );
}

#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = patrol().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("simulate"), "{shell}");
    }
    let out = patrol().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = patrol().arg("man").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(
        page.contains(".TH patrol 1") && page.contains("Exit codes"),
        "{page}"
    );
    let dir = tmp("man");
    let out = patrol().arg("man").arg("--dir").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(dir.join("patrol-check.1").exists());
}

#[test]
fn no_progress_bar_off_a_terminal() {
    let dir = tmp("progress");
    let mut samples = String::from("requests:\n");
    for i in 0..3000 {
        samples.push_str(&format!(
            "  - {{source: 10.0.{}.{}, method: GET, path: /primary}}\n",
            i / 250,
            i % 250 + 1
        ));
    }
    std::fs::write(dir.join("samples.yaml"), samples).unwrap();
    let out = patrol()
        .args([
            "simulate",
            "examples/insecure",
            "--format",
            "json",
            "--samples",
        ])
        .arg(dir.join("samples.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        !err.contains("simulating") && !err.contains('\r') && !err.contains('\x1b'),
        "stderr is not a terminal, yet: {err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decisions"].as_array().unwrap().len(), 3000);
}

#[test]
fn pre_commit_hook_runs_check_on_the_files_patrol_knows() {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    let parsed = patrol::formats::yaml::parse(&text, ".pre-commit-hooks.yaml");
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let hooks: Value = serde_json::from_str(&parsed.value.json).unwrap();
    let hook = &hooks[0];
    assert_eq!(hook["id"], "patrol-check");
    assert_eq!(hook["entry"], "patrol check");
    assert_eq!(hook["pass_filenames"], true);
    assert_eq!(hook["language"], "system");
    // pre-commit matches `files` with Python's re.search; this pattern means the same in
    // Rust's regex.
    let files = Regex::new(hook["files"].as_str().unwrap()).unwrap();
    for name in [
        "patroni.yml",
        "deploy/node1/patroni.yaml",
        "patroni-node2.yml",
        "pg_hba.conf",
        "conf/pg_ident.conf",
        "postgresql.conf",
        "postgresql.auto.conf",
        "haproxy.cfg",
        "pgbackrest.conf",
        "pgbouncer.ini",
        "pg_autoctl.cfg",
        "gitlab.rb",
        "etcd.yml",
        "etcd.conf.yaml",
        "consul.hcl",
        "consul-server.json",
        "topology.yaml",
    ] {
        assert!(files.is_match(name), "`{name}` should run the hook");
    }
    for name in [
        "README.md",
        "values.yaml",
        "my-patroni.yml.bak",
        "docker-compose.yml",
        "src/gitlab.rb.erb",
        "old_pg_hba.conf.txt",
    ] {
        assert!(!files.is_match(name), "`{name}` should not run the hook");
    }
}

/// `docs/codes.md` lists every finding code of every built-in policy and of the host, with
/// its severity and meaning, as `patrol policy list` gives them. Regenerate with
/// `PATROL_BLESS=1 cargo test --release -p patrol --test report codes_doc`.
#[test]
fn every_code_is_documented() {
    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .env("PATROL_CACHE_DIR", cache())
        .current_dir(root())
        .args(["policy", "list", "--no-config", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut doc = String::from(
        "# Finding codes\n\n\
         Every finding has a stable code `POLICY/CODE`. This file is generated from the\n\
         policies' metadata (`patrol policy list --format json`); a test fails when it is out\n\
         of date. The per-policy READMEs under `policies/` say when each code fires and what\n\
         its patch does. Severities follow one rule, reach × gain: see\n\
         [severity.md](severity.md).\n\n",
    );
    doc.push_str("## patrol (the host: problems reading the inputs)\n\n| code | severity | meaning | remediation |\n|---|---|---|---|\n");
    for c in patrol::run::HOST_CODES {
        let sev = serde_json::to_value(c.severity).unwrap();
        doc.push_str(&format!(
            "| `patrol/{}` | {} | {} | {} |\n",
            c.code,
            sev.as_str().unwrap(),
            cell(c.summary),
            cell(c.help)
        ));
    }
    doc.push_str("\n## verify (`patrol verify`: the live servers against the files)\n\n| code | severity | meaning | remediation |\n|---|---|---|---|\n");
    for c in patrol::verify::CODES {
        let sev = serde_json::to_value(c.severity).unwrap();
        doc.push_str(&format!(
            "| `verify/{}` | {} | {} | {} |\n",
            c.code,
            sev.as_str().unwrap(),
            cell(c.summary),
            cell(c.help)
        ));
    }
    for p in list["policies"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        doc.push_str(&format!(
            "\n## {name}\n\n{}\n\n",
            cell(p["description"].as_str().unwrap_or(""))
        ));
        doc.push_str("| code | severity | meaning | remediation |\n|---|---|---|---|\n");
        for c in p["codes"].as_array().unwrap() {
            doc.push_str(&format!(
                "| `{name}/{}` | {} | {} | {} |\n",
                c["code"].as_str().unwrap(),
                c["severity"].as_str().unwrap(),
                cell(c["summary"].as_str().unwrap_or("")),
                cell(c["help"].as_str().unwrap_or(""))
            ));
        }
    }
    let path = root().join("docs/codes.md");
    if std::env::var_os("PATROL_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &doc).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == doc,
        "docs/codes.md is out of date: regenerate it with PATROL_BLESS=1 cargo test --release -p patrol --test report every_code_is_documented"
    );
}

/// Config files whose values try to drive a terminal or a CI runner: ESC/OSC/C1 sequences,
/// a bidi override, a BEL, XML-invalid U+FFFF, and files named like workflow commands.
/// Only the built-in policies run: config values alone must not get through.
fn write_hostile_configs(dir: &Path) -> Vec<&'static str> {
    let hba = "host all all 0.0.0.0/0 md5\n\
               host all all 10.\x1b]0;pwned\x07\x1b[2J\u{9b}31m\u{202e}0.0.0/8 md5\n\
               host \x1b[31mapp all 10.0.0.0/8 md5\u{ffff}\n\
               host all all 10.0.0.0/8 md5\n";
    std::fs::write(dir.join("pg_hba.conf"), hba).unwrap();
    let names = vec![
        "::add-mask::leak",
        "x ##[add-mask]leak2",
        "y ##vso[task.setvariable variable=v]leak3",
        "\u{1b}[1mbold.conf",
    ];
    for name in &names {
        std::fs::write(
            dir.join(name),
            "host all all 0.0.0.0/0 trust\nhost all all ::error::x/8 md5\n",
        )
        .unwrap();
    }
    names
}

fn check_hostile(format: &str) -> Output {
    let dir = tmp(&format!("hostile-configs-{format}"));
    let names = write_hostile_configs(&dir);
    let mut c = patrol();
    c.current_dir(&dir)
        .args([
            "check",
            "--format",
            format,
            "--kind",
            "pg-hba",
            "pg_hba.conf",
        ])
        .args(&names);
    c.output().unwrap()
}

/// No raw control character (but newline and, in text, tab), DEL, C1, bidi control or
/// U+FFFF; no line a GitHub runner would read as a workflow command.
fn assert_inert(format: &str, bytes: &[u8]) {
    let text =
        String::from_utf8(bytes.to_vec()).unwrap_or_else(|e| panic!("{format}: not UTF-8: {e}"));
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}');
        let control = (c.is_control() && c != '\n' && c != '\t')
            || bidi
            || c == '\u{fffe}'
            || c == '\u{ffff}';
        assert!(!control, "{format}: raw {c:?} in the output:\n{text}");
    }
    for command in ["##[", "##vso["] {
        assert!(
            !text.contains(command),
            "{format}: `{command}` (a workflow or logging command) in the output:\n{text}"
        );
    }
    let command = Regex::new(r"^::(error|warning|notice) [^:]*::").unwrap();
    for line in text.lines() {
        let start = line.trim_start();
        let ours = format == "github" && command.is_match(line);
        assert!(
            !start.starts_with("::") || ours,
            "{format}: a line starts a workflow command: {line:?}"
        );
    }
}

#[test]
fn config_values_cannot_drive_the_terminal_or_the_ci_runner() {
    for format in ["text", "github"] {
        let out = check_hostile(format);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        assert_inert(format, &out.stdout);
        // The escaped characters are still shown, visibly.
        let text = stdout(&out);
        assert!(text.contains("\\u{1b}"), "{format}: {text}");
    }
    let out = check_hostile("text");
    let text = stdout(&out);
    assert!(
        text.contains("\\u{202e}") && text.contains("\\u{9b}"),
        "{text}"
    );
}

/// The machine-read formats hold no command in their bytes either (a CI step may print
/// them), and still read back the same data; nor do patrol's own messages on stderr.
#[test]
fn no_output_of_patrol_carries_a_command_from_data() {
    for format in ["json", "sarif", "junit"] {
        let out = check_hostile(format);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        assert_inert(format, &out.stdout);
        if format == "json" {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(v.to_string().contains("##vso[task"), "{v:#}");
        }
    }
    let dir = tmp("hostile-messages");
    std::fs::write(
        dir.join("s.yaml"),
        "requests:\n- \"a\\n::add-mask::x\\n##vso[task.setvariable variable=a]b\\e]0;t\\a\": 1\n",
    )
    .unwrap();
    let out = patrol()
        .current_dir(&dir)
        .args(["simulate", "--samples", "s.yaml", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_inert("stderr", &out.stderr);
    assert!(
        stderr(&out).contains("\\u{3a}:add-mask::x"),
        "{}",
        stderr(&out)
    );
    let out = patrol()
        .current_dir(&dir)
        .args(["check", "--baseline", "b\n::error::base", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_inert("stderr", &out.stderr);
}

#[test]
fn junit_is_well_formed_whatever_the_configs_hold() {
    support::ensure_packages(&[("xmllint", "libxml2-utils")]);
    let out = check_hostile("junit");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let file = tmp("junit-hostile").join("report.xml");
    std::fs::write(&file, &out.stdout).unwrap();
    let schema = root().join("tests/fixtures/schemas/junit-10.xsd");
    let lint = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "xmllint rejects the JUnit report: {}\n{}",
        String::from_utf8_lossy(&lint.stderr),
        stdout(&out)
    );
}
