//! Rendering pg_hba edits: the text each edit gives, and the edits refused.

use std::path::Path;

use super::*;
use crate::formats::ParseContext;

fn change(line: u32) -> wit::HbaChange {
    wit::HbaChange {
        line,
        connection_type: None,
        databases: None,
        users: None,
        address: None,
        method: None,
        set_options: Vec::new(),
        remove_options: Vec::new(),
    }
}

fn name(text: &str, quoted: bool) -> wit::HbaName {
    wit::HbaName {
        text: text.into(),
        quoted,
    }
}

/// The text after the edits (applied as the patcher applies line edits), or the error.
fn edited(text: &str, style: Style, edits: Vec<wit::HbaEdit>) -> Result<String, String> {
    let refs: Vec<&wit::HbaEdit> = edits.iter().collect();
    let lines = lower(&refs, &super::lines(text), style, None)?;
    let patch = crate::run::Patch {
        policy: "p".into(),
        file: "f".into(),
        description: "d".into(),
        edits: lines.into_iter().map(wit::Edit::Lines).collect(),
        refused: None,
        kind: None,
    };
    let (changes, skipped) = crate::patch::apply_all(&[&patch], &[("f".into(), text.into())]);
    assert!(skipped.is_empty(), "{skipped:?}");
    Ok(changes
        .first()
        .map_or(text.to_string(), |c| c.after.clone()))
}

fn file(text: &str, edits: Vec<wit::HbaEdit>) -> Result<String, String> {
    edited(text, Style::File, edits)
}

/// Whether the real parser reads `text` without a diagnostic.
fn valid(text: &str) -> bool {
    let parsed = crate::formats::hba::parse(
        text,
        "pg_hba.conf",
        Path::new("/etc/postgresql/pg_hba.conf"),
        &ParseContext::default(),
    );
    parsed.diagnostics.is_empty()
}

#[test]
fn changed_fields_keep_the_columns_and_the_comment() {
    let src =
        "# TYPE  DATABASE USER ADDRESS METHOD\nhost    all   all  0.0.0.0/0   md5   # remote\n";
    let mut c = change(2);
    c.connection_type = Some("hostssl".into());
    c.method = Some("scram-sha-256".into());
    assert_eq!(
        file(src, vec![wit::HbaEdit::Set(c)]).unwrap(),
        "# TYPE  DATABASE USER ADDRESS METHOD\nhostssl all   all  0.0.0.0/0   scram-sha-256 # remote\n"
    );
    // Tabs stay tabs.
    let mut c = change(1);
    c.connection_type = Some("hostnossl".into());
    assert_eq!(
        file(
            "host\tall\tall\t10.0.0.0/8\tmd5\n",
            vec![wit::HbaEdit::Set(c)]
        )
        .unwrap(),
        "hostnossl\tall\tall\t10.0.0.0/8\tmd5\n"
    );
}

#[test]
fn address_and_mask_become_one_field_and_options_are_set_or_removed() {
    let src = "host all all 10.0.0.0 255.0.0.0 md5 clientcert=verify-ca map=x\n";
    let mut c = change(1);
    c.address = Some("10.0.0.0/8".into());
    c.remove_options = vec!["map".into()];
    c.set_options = vec![
        ("clientcert".into(), "verify-full".into()),
        ("pamservice".into(), "a b".into()),
    ];
    let after = file(src, vec![wit::HbaEdit::Set(c)]).unwrap();
    assert_eq!(
        after,
        "host all all 10.0.0.0/8         md5 clientcert=verify-full pamservice=\"a b\"\n"
    );
}

#[test]
fn names_are_quoted_where_postgres_needs_it() {
    let mut c = change(1);
    c.databases = Some(vec![
        name("my db", false),
        name("all", true),
        name("x,y", false),
    ]);
    c.users = Some(vec![name("say \"hi\"", false), name("app", false)]);
    let after = file(
        "host app app 10.0.0.0/8 scram-sha-256\n",
        vec![wit::HbaEdit::Set(c)],
    )
    .unwrap();
    assert_eq!(
        after,
        "host \"my db\",\"all\",\"x,y\" \"say \"\"hi\"\"\",app 10.0.0.0/8 scram-sha-256\n"
    );
    assert!(valid(&after), "{after}");
    // A word that would be split or start a comment is refused, not written.
    let mut c = change(1);
    c.method = Some("md5 # x".into());
    let err = file("host all all all md5\n", vec![wit::HbaEdit::Set(c)]).unwrap_err();
    assert!(err.contains("not one plain word"), "{err}");
}

#[test]
fn continued_records_are_refused() {
    let src = "host all all \\\n  10.0.0.0/8 md5\nlocal all all peer\n";
    let mut c = change(1);
    c.method = Some("scram-sha-256".into());
    let err = file(src, vec![wit::HbaEdit::Set(c)]).unwrap_err();
    assert!(err.contains("continues on the next line"), "{err}");
    let mut c = change(2);
    c.method = Some("scram-sha-256".into());
    let err = file(src, vec![wit::HbaEdit::Set(c)]).unwrap_err();
    assert!(
        err.contains("continues the record of the line before"),
        "{err}"
    );
    // The record after it is edited normally.
    let mut c = change(3);
    c.method = Some("reject".into());
    assert_eq!(
        file(src, vec![wit::HbaEdit::Set(c)]).unwrap(),
        "host all all \\\n  10.0.0.0/8 md5\nlocal all all reject\n"
    );
}

#[test]
fn bad_line_numbers_are_errors() {
    let src = "# comment\nlocal all all peer\n";
    for (line, why) in [
        (0, "outside the file"),
        (3, "outside the file"),
        (1, "does not start a pg_hba record"),
    ] {
        let err = file(src, vec![wit::HbaEdit::Delete(line)]).unwrap_err();
        assert!(err.contains(why), "{line}: {err}");
    }
    let mut c = change(2);
    c.connection_type = Some("host".into());
    let err = file(src, vec![wit::HbaEdit::Set(c)]).unwrap_err();
    assert!(err.contains("address column"), "{err}");
}

#[test]
fn inserts_take_the_neighbours_columns_and_deletes_go() {
    let src = "local   all     all                     peer\nhost    all     all     10.0.0.0/8      md5  # lan\n";
    let record = wit::HbaRecord {
        connection_type: "hostssl".into(),
        databases: vec![name("app", false)],
        users: vec![name("alice", false)],
        address: Some("10.1.0.0/16".into()),
        method: "scram-sha-256".into(),
        options: vec![("clientcert".into(), "verify-full".into())],
    };
    let insert = |place| {
        wit::HbaEdit::Insert(wit::HbaInsert {
            place,
            new: wit::HbaNew::Fields(record.clone()),
        })
    };
    let new = "hostssl app     alice   10.1.0.0/16     scram-sha-256 clientcert=verify-full";
    assert_eq!(
        file(src, vec![insert(wit::HbaPlace::Before(2))]).unwrap(),
        format!(
            "local   all     all                     peer\n{new}\nhost    all     all     10.0.0.0/8      md5  # lan\n"
        )
    );
    assert_eq!(
        file(src, vec![insert(wit::HbaPlace::End)]).unwrap(),
        format!("{src}{new}\n")
    );
    // A copy with another address goes after its record, without the comment; the
    // record itself is changed in the same patch.
    let mut first = change(2);
    first.address = Some("10.1.0.0/16".into());
    let mut copy = change(2);
    copy.address = Some("10.2.0.0/16".into());
    assert_eq!(
        file(
            src,
            vec![
                wit::HbaEdit::Delete(1),
                wit::HbaEdit::Set(first),
                wit::HbaEdit::Insert(wit::HbaInsert {
                    place: wit::HbaPlace::After(2),
                    new: wit::HbaNew::Copy(copy),
                }),
            ]
        )
        .unwrap(),
        "host    all     all     10.1.0.0/16     md5  # lan\nhost    all     all     10.2.0.0/16     md5\n"
    );
    // Two changes of one record are refused.
    let err = file(src, vec![wit::HbaEdit::Delete(1), wit::HbaEdit::Delete(1)]).unwrap_err();
    assert!(err.contains("two edits"), "{err}");
}

#[test]
fn yaml_list_items_are_edited_inside_their_scalar() {
    let src = "postgresql:\n  pg_hba:\n    - host all all 0.0.0.0/0 trust          # app\n    - 'host all all 10.0.0.0/8 md5'\n    - [flow]\n";
    let yaml = |edits| edited(src, Style::PatroniYaml, edits);
    let mut c = change(3);
    c.connection_type = Some("hostssl".into());
    c.method = Some("scram-sha-256".into());
    let mut copy = change(4);
    copy.address = Some("10.1.0.0/16".into());
    let after = yaml(vec![
        wit::HbaEdit::Set(c),
        wit::HbaEdit::Insert(wit::HbaInsert {
            place: wit::HbaPlace::After(4),
            new: wit::HbaNew::Copy(copy),
        }),
    ])
    .unwrap();
    assert_eq!(
        after,
        "postgresql:\n  pg_hba:\n    - hostssl all all 0.0.0.0/0 scram-sha-256          # app\n    - 'host all all 10.0.0.0/8 md5'\n    - 'host all all 10.1.0.0/16 md5'\n    - [flow]\n"
    );
    // The edited document still reads as the same list with the new records.
    let parsed = crate::formats::yaml::parse(&after, "f");
    let json: serde_json::Value = serde_json::from_str(&parsed.value.json).unwrap();
    assert_eq!(
        json["postgresql"]["pg_hba"][2],
        serde_json::json!("host all all 10.1.0.0/16 md5")
    );
    // A comment after the item stays at its column when there is room (above: after the
    // same blanks).
    let mut c = change(2);
    c.method = Some("peer".into());
    assert_eq!(
        edited(
            "pg_hba:\n  - 'local all all trust'   # x\n",
            Style::PatroniYaml,
            vec![wit::HbaEdit::Set(c)]
        )
        .unwrap(),
        "pg_hba:\n  - 'local all all peer'    # x\n"
    );
    let err = yaml(vec![wit::HbaEdit::Delete(5)]).unwrap_err();
    assert!(err.contains("one-line item"), "{err}");
    let err = yaml(vec![wit::HbaEdit::Insert(wit::HbaInsert {
        place: wit::HbaPlace::End,
        new: wit::HbaNew::Copy(change(3)),
    })])
    .unwrap_err();
    assert!(err.contains("neighbouring record"), "{err}");
    // A value the item's quoting cannot hold is refused.
    let mut c = change(4);
    c.set_options = vec![("ldapprefix".into(), "it's".into())];
    let err = yaml(vec![wit::HbaEdit::Set(c)]).unwrap_err();
    assert!(err.contains("quoting"), "{err}");
}

#[test]
fn only_pg_hba_documents_take_hba_edits() {
    let doc = |kind: &str| {
        crate::formats::document(
            crate::formats::Kind::from_name(kind),
            "f",
            Path::new("f"),
            "local all all peer\n".into(),
            &ParseContext::default(),
        )
    };
    let edits = vec![wit::Edit::Hba(wit::HbaEdit::Delete(1))];
    let (_, refused) = crate::patch::render_hba(edits.clone(), "f", &[doc("postgresql-conf")]);
    assert!(refused.is_some_and(|r| r.contains("`postgresql-conf` document")));
    let (_, refused) = crate::patch::render_hba(edits.clone(), "g", &[doc("pg-hba")]);
    assert!(refused.is_some());
    let (lines, refused) = crate::patch::render_hba(edits, "f", &[doc("pg-hba")]);
    assert_eq!(refused, None);
    assert!(matches!(&lines[..], [wit::Edit::Lines(l)] if l.start == 1 && l.text.is_empty()));
    // A line the parser found invalid is not a record to edit.
    let bad = crate::formats::document(
        crate::formats::Kind::PgHba,
        "f",
        Path::new("f"),
        "host all all nowhere/99 md5\nlocal all all peer\n".into(),
        &ParseContext::default(),
    );
    let (_, refused) =
        crate::patch::render_hba(vec![wit::Edit::Hba(wit::HbaEdit::Delete(1))], "f", &[bad]);
    assert!(refused.is_some_and(|r| r.contains("no valid pg_hba record")));
}
