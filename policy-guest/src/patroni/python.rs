//! Python semantics Patroni's config handling relies on: truthiness, `str()` of the
//! values PyYAML produces (`'{username}:{password}'.format(...)` stringifies `12345` and
//! `None`), and `int()` of a port.

use serde_json::Value;

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `str(value)` in Python, for the values PyYAML produces.
pub fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        _ => python_repr(v),
    }
}

fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => python_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("'{k}': {}", python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// `int(text)` for a port: white space, a sign and `_` between digits are accepted.
pub(crate) fn python_port(text: &str) -> Option<u16> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    if !t.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return None;
    }
    t.replace('_', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_str_of_yaml_values() {
        let cases = [
            (json!("secret"), "secret"),
            (json!(12345), "12345"),
            (json!(null), "None"),
            (json!(true), "True"),
            (json!(1.5), "1.5"),
            (json!(2.0), "2.0"),
            (json!(1e16), "1e+16"),
            (json!(1.5e-5), "1.5e-05"),
            (json!(["a", 1]), "['a', 1]"),
        ];
        for (v, want) in cases {
            assert_eq!(python_str(&v), want, "{v}");
        }
    }

    #[test]
    fn ports_like_python_int() {
        assert_eq!(python_port("8008"), Some(8008));
        assert_eq!(python_port(" 8008 "), Some(8008));
        assert_eq!(python_port("80_08"), Some(8008));
        assert_eq!(python_port("+8008"), Some(8008));
        assert_eq!(python_port("8008x"), None);
        assert_eq!(python_port(""), None);
        assert_eq!(python_port("70000"), None);
    }
}
