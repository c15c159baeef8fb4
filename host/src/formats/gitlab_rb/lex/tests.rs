use super::*;

fn toks(src: &str) -> Vec<Tok> {
    tokens(src)
        .into_iter()
        .map(|t| t.tok)
        .filter(|t| *t != Tok::Newline)
        .collect()
}

fn s(v: &str) -> Tok {
    Tok::Str {
        value: v.into(),
        interpolated: false,
    }
}

#[test]
fn strings_and_escapes() {
    assert_eq!(toks(r#"'a\'b\n'"#), vec![s("a'b\\n")]);
    assert_eq!(toks(r#""a\"b\n\u00e9\x41""#), vec![s("a\"b\né\u{41}")]);
    assert_eq!(
        toks(r#""x#{y}""#),
        vec![Tok::Str {
            value: "x#{y}".into(),
            interpolated: true
        }]
    );
    assert_eq!(toks("%q(a (b) c)"), vec![s("a (b) c")]);
    assert_eq!(
        toks("'a # not a comment' # comment"),
        vec![s("a # not a comment")]
    );
}

#[test]
fn words_symbols_labels_numbers() {
    assert_eq!(
        toks("%w(10.0.0.0/8 127.0.0.1/32)"),
        vec![Tok::Words {
            words: vec!["10.0.0.0/8".into(), "127.0.0.1/32".into()],
            interpolated: false
        }]
    );
    assert_eq!(toks(":sym"), vec![Tok::Symbol("sym".into())]);
    assert_eq!(toks("{ enable: true }")[1], Tok::Label("enable".into()));
    assert_eq!(
        toks("[1_048_576, -3, 2.5, 0x10]"),
        vec![
            Tok::Punct("["),
            Tok::Int(1048576),
            Tok::Punct(","),
            Tok::Int(-3),
            Tok::Punct(","),
            Tok::Float(2.5),
            Tok::Punct(","),
            Tok::Int(16),
            Tok::Punct("]")
        ]
    );
    assert_eq!(
        toks("a % b"),
        vec![
            Tok::Ident("a".into()),
            Tok::Punct("%"),
            Tok::Ident("b".into())
        ]
    );
}

#[test]
fn comments_heredocs_and_lines() {
    let t = tokens("=begin\nx = 1\n=end\na = <<~EOS\n  one\n  two\nEOS\nb = 2\n");
    let kinds: Vec<(Tok, u32)> = t
        .into_iter()
        .filter(|t| t.tok != Tok::Newline)
        .map(|t| (t.tok, t.line))
        .collect();
    assert_eq!(kinds[0], (Tok::Ident("a".into()), 4));
    assert_eq!(kinds[2], (s("one\ntwo\n"), 4));
    assert_eq!(kinds[3], (Tok::Ident("b".into()), 8));
}

#[test]
fn unterminated_string_is_an_error_not_a_panic() {
    assert!(matches!(toks("a = 'oops").last(), Some(Tok::Error(_))));
    assert!(matches!(
        toks("a = <<EOS\nno end").last(),
        Some(Tok::Error(_))
    ));
    for src in [
        "\"\\", "'\\", "%w(", ":\"", "\\u{", "\"\\u{zz", "<<~", "0x", "1e",
    ] {
        let _ = tokens(src);
    }
}

#[test]
fn dash_heredocs_keep_their_indentation() {
    let t = toks("a = <<-EOS\n  one\n    two\n  EOS\n");
    assert_eq!(t[2], s("  one\n    two\n"));
    let t = toks("a = YAML.load <<-'EOS'\n  main:\n    host: x\n  EOS\nb = 1\n");
    assert!(t.contains(&s("  main:\n    host: x\n")), "{t:?}");
    assert_eq!(t.last(), Some(&Tok::Int(1)));
}
