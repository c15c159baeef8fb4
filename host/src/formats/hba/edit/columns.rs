//! The fields of a pg_hba line in its own text, and re-rendering a line with some fields
//! changed while keeping its column alignment (moved here from the `pg-hba` policy, so
//! that one module owns pg_hba text).
//!
//! Fields are found as PostgreSQL's `next_field_expand` reads them: blanks (space, tab,
//! CR) separate tokens, double quotes protect blanks and commas, a token ending in an
//! unquoted comma continues the field after any blanks (`app, other` is one field), and
//! an unquoted `#` starts a comment. Rendering puts every field back at the visual column
//! it started at (tabs every 8 columns) when the text before it leaves room, reusing the
//! gap's own blanks (tabs stay tabs), so that `host` → `hostssl` keeps the following
//! columns where they were.

/// A field: byte range in the line and its raw text (quotes kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A line split into fields.
#[derive(Debug, Clone)]
pub(crate) struct Line<'a> {
    pub(crate) text: &'a str,
    pub(crate) fields: Vec<Field>,
}

pub(crate) fn blank(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r'
}

impl<'a> Line<'a> {
    pub(crate) fn parse(text: &'a str) -> Line<'a> {
        let b = text.as_bytes();
        let mut i = 0;
        let mut fields = Vec::new();
        'fields: loop {
            // Blanks and stray commas before a field.
            while i < b.len() && (blank(b[i]) || b[i] == b',') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'#' {
                break;
            }
            let start = i;
            let mut end;
            loop {
                // One token.
                let mut in_quote = false;
                let mut comma = false;
                while i < b.len() && (in_quote || !blank(b[i])) {
                    if b[i] == b'#' && !in_quote {
                        break;
                    }
                    if b[i] == b',' && !in_quote {
                        comma = true;
                        i += 1;
                        break;
                    }
                    if b[i] == b'"' {
                        in_quote = !in_quote;
                    }
                    i += 1;
                }
                end = i;
                if !comma {
                    break;
                }
                // A trailing comma continues the field after blanks.
                let mut k = i;
                while k < b.len() && blank(b[k]) {
                    k += 1;
                }
                if k >= b.len() || b[k] == b'#' {
                    fields.push(Field { start, end });
                    break 'fields;
                }
                i = k;
            }
            fields.push(Field { start, end });
        }
        Line { text, fields }
    }

    pub(crate) fn field(&self, k: usize) -> Option<&'a str> {
        self.fields.get(k).map(|f| &self.text[f.start..f.end])
    }
}

/// A change to one field.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Replace(usize, String),
    Delete(usize),
}

/// Visual width up to byte `end` of `text` (tabs to multiples of 8).
pub(crate) fn column(text: &str, end: usize) -> usize {
    let mut col = 0;
    for c in text[..end].chars() {
        col = if c == '\t' {
            (col / 8 + 1) * 8
        } else {
            col + 1
        };
    }
    col
}

/// Blanks taking `from` to `to` (visual columns), in the style of `gap`; at least one.
pub(crate) fn fill(gap: &str, from: usize, to: usize) -> String {
    let tabs = gap.contains('\t');
    if to <= from {
        return if tabs && !gap.contains(' ') {
            "\t".into()
        } else {
            " ".into()
        };
    }
    let mut out = String::new();
    let mut col = from;
    if tabs {
        while (col / 8 + 1) * 8 <= to {
            out.push('\t');
            col = (col / 8 + 1) * 8;
        }
    }
    while col < to {
        out.push(' ');
        col += 1;
    }
    out
}

/// Renders `line` with `changes` applied and `append` (options) added after the last
/// field, each field at its old column when there is room. The text after the last field
/// (blanks, comment) is kept.
pub(crate) fn render(line: &Line<'_>, changes: &[Change], append: &[String]) -> String {
    let text = line.text;
    let Some(first) = line.fields.first() else {
        return text.to_string();
    };
    let mut out = String::from(&text[..first.start]);
    let mut col = column(text, first.start);
    let mut last_end = first.start;
    let mut wrote_any = false;
    for (k, f) in line.fields.iter().enumerate() {
        let mut new: Option<&str> = Some(&text[f.start..f.end]);
        for c in changes {
            match c {
                Change::Replace(i, t) if *i == k => new = Some(t),
                Change::Delete(i) if *i == k => new = None,
                _ => {}
            }
        }
        let Some(new) = new else { continue };
        if wrote_any {
            let gap = &text[last_end..f.start];
            let target = column(text, f.start);
            out.push_str(&fill(gap, col, target));
            col = column(&out, out.len());
        }
        out.push_str(new);
        col += new.chars().count();
        last_end = f.end;
        wrote_any = true;
    }
    let tail_start = line.fields.last().map_or(text.len(), |f| f.end);
    for extra in append {
        out.push(' ');
        out.push_str(extra);
    }
    let tail = &text[tail_start..];
    if let Some(at) = tail.find('#') {
        let gap = &tail[..at];
        let target = column(text, tail_start + at);
        let now = column(&out, out.len());
        out.push_str(&fill(gap, now, target));
        out.push_str(&tail[at..]);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<&str> {
        let l = Line::parse(text);
        (0..l.fields.len()).map(|k| l.field(k).unwrap()).collect()
    }

    #[test]
    fn splits_like_postgres() {
        assert_eq!(
            fields("host  app, other  all  10.0.0.0/8  md5 # c"),
            ["host", "app, other", "all", "10.0.0.0/8", "md5"]
        );
        assert_eq!(
            fields("host \"my db\",x all all trust"),
            ["host", "\"my db\",x", "all", "all", "trust"]
        );
        assert_eq!(
            fields("local all all peer map=a#x"),
            ["local", "all", "all", "peer", "map=a"]
        );
        assert_eq!(fields("  # only a comment"), Vec::<&str>::new());
    }

    #[test]
    fn keeps_alignment() {
        let l = Line::parse("host    all   all  0.0.0.0/0   md5   # remote");
        assert_eq!(
            render(&l, &[Change::Replace(0, "hostssl".into())], &[]),
            "hostssl all   all  0.0.0.0/0   md5   # remote"
        );
        assert_eq!(
            render(&l, &[Change::Replace(4, "scram-sha-256".into())], &[]),
            "host    all   all  0.0.0.0/0   scram-sha-256 # remote"
        );
        let t = Line::parse("host\tall\tall\t10.0.0.0/8\tmd5");
        assert_eq!(
            render(&t, &[Change::Replace(0, "hostssl".into())], &[]),
            "hostssl\tall\tall\t10.0.0.0/8\tmd5"
        );
        assert_eq!(
            render(&t, &[Change::Replace(0, "hostnossl".into())], &[]),
            "hostnossl\tall\tall\t10.0.0.0/8\tmd5"
        );
        let m = Line::parse("host all all 10.0.0.0 255.0.0.0 md5");
        assert_eq!(
            render(
                &m,
                &[Change::Replace(3, "10.0.0.0/8".into()), Change::Delete(4)],
                &["clientcert=verify-full".into()]
            ),
            "host all all 10.0.0.0/8         md5 clientcert=verify-full"
        );
    }
}
