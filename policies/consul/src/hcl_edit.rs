//! Line edits that set a value in an HCL file, from the document's pointer→line map.
//!
//! A value that is written is replaced where it stands (the rest of its line kept); a
//! missing key is added inside the deepest block that exists (before its closing `}`,
//! indented two spaces more), with any missing blocks around it, or at the end of the
//! file. Single-line blocks (`ports { http = 8500 }`) and lists are not edited: the
//! caller then offers no patch.

use policy_guest::doc::Structured;
use policy_guest::{Edit, LineEdit};
use serde_json::Value;

/// The value as HCL writes it.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("\"{escaped}\"")
        }
        other => other.to_string(),
    }
}

/// The edit that makes `pointer` hold `value`, if one can be written.
pub fn set(y: &Structured, pointer: &str, value: &Value) -> Option<Edit> {
    let text = &y.doc.text;
    let lines: Vec<&str> = text.lines().collect();
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    if y.get(pointer).is_some() {
        let line = y.line(pointer);
        let key = segments.last()?;
        let current = lines.get(line.checked_sub(1)? as usize)?;
        let new = replace_value(current, key, &render(value))?;
        return Some(Edit::Lines(LineEdit {
            start: line,
            end: line,
            text: new,
        }));
    }
    // The deepest existing ancestor that is an object.
    let mut depth = segments.len();
    while depth > 0 {
        let p = ancestor(&segments[..depth - 1]);
        if y.get(&p).is_some() {
            break;
        }
        depth -= 1;
    }
    let parent = ancestor(&segments[..depth.saturating_sub(1)]);
    if !y.get(&parent).is_some_and(Value::is_object) {
        return None;
    }
    let missing = &segments[depth.saturating_sub(1)..];
    if parent.is_empty() {
        let n = lines.len() as u32;
        let block = nest(missing, value, "");
        let text = if lines.last().is_some_and(|l| l.trim().is_empty()) || lines.is_empty() {
            block
        } else {
            format!("\n{block}")
        };
        return Some(Edit::Lines(LineEdit {
            start: n + 1,
            end: n,
            text,
        }));
    }
    let (open, close) = (y.line(&parent), span_end(y, &parent)?);
    if close <= open {
        return None;
    }
    let closing = lines.get(close as usize - 1)?;
    if closing.trim() != "}" {
        return None;
    }
    let indent = format!(
        "{}  ",
        &closing[..closing.len() - closing.trim_start().len()]
    );
    Some(Edit::Lines(LineEdit {
        start: close,
        end: close - 1,
        text: nest(missing, value, &indent),
    }))
}

fn ancestor(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn span_end(y: &Structured, pointer: &str) -> Option<u32> {
    y.loc(pointer).end_line.or(Some(y.line(pointer)))
}

/// `a { b { c = value } }` over several lines, each level two spaces deeper.
fn nest(keys: &[String], value: &Value, indent: &str) -> String {
    match keys {
        [] => String::new(),
        [last] => format!("{indent}{} = {}", key(last), render(value)),
        [first, rest @ ..] => {
            format!(
                "{indent}{} {{\n{}\n{indent}}}",
                key(first),
                nest(rest, value, &format!("{indent}  "))
            )
        }
    }
}

fn key(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && !k.is_empty()
    {
        k.to_string()
    } else {
        render(&Value::String(k.to_string()))
    }
}

/// `line` with the value after `key =` (or `key:`) replaced.
fn replace_value(line: &str, key: &str, new: &str) -> Option<String> {
    let mut search = 0;
    while let Some(i) = line[search..].find(key) {
        let at = search + i;
        search = at + key.len();
        let before_ok = line[..at]
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || c == '{' || c == '"' || c == ',');
        let rest = &line[at + key.len()..];
        let rest_trim = rest.trim_start_matches('"').trim_start();
        if !before_ok || !(rest_trim.starts_with('=') || rest_trim.starts_with(':')) {
            continue;
        }
        let value_start = line.len() - rest_trim.len() + 1;
        let after_eq = &line[value_start..];
        let value_offset = after_eq.len() - after_eq.trim_start().len();
        let vs = value_start + value_offset;
        let end = value_end(&line[vs..])?;
        return Some(format!("{}{new}{}", &line[..vs], &line[vs + end..]));
    }
    None
}

/// The length of the scalar at the start of `s` (a quoted string, a number, a word).
fn value_end(s: &str) -> Option<usize> {
    let mut chars = s.char_indices();
    match chars.next()? {
        (_, '"') => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return Some(i + 1),
                    _ => escaped = false,
                }
            }
            None
        }
        (_, c) if c == '[' || c == '{' => None,
        _ => Some(
            s.find(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == '#')
                .unwrap_or(s.len()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_replaced_in_place() {
        assert_eq!(
            replace_value(
                "client_addr = \"0.0.0.0\" # all",
                "client_addr",
                "\"127.0.0.1\""
            )
            .as_deref(),
            Some("client_addr = \"127.0.0.1\" # all")
        );
        assert_eq!(
            replace_value("  ports { http = 8500 }", "http", "-1").as_deref(),
            Some("  ports { http = -1 }")
        );
        assert_eq!(
            replace_value(
                "\"enable_script_checks\": true,",
                "enable_script_checks",
                "false"
            )
            .as_deref(),
            Some("\"enable_script_checks\": false,")
        );
        assert_eq!(
            replace_value("verify_incoming_rpc = true", "verify_incoming", "x"),
            None
        );
        assert_eq!(
            nest(
                &["tls".into(), "defaults".into(), "verify_incoming".into()],
                &Value::Bool(true),
                ""
            ),
            "tls {\n  defaults {\n    verify_incoming = true\n  }\n}"
        );
    }
}
