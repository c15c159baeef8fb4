//! YAML 1.1 scalars as PyYAML's `SafeLoader` resolves and constructs them.
//!
//! Patroni reads its configuration with `yaml.safe_load`, so a plain `on` is `True`, `017`
//! is 15, `1:30` is 90 and `1e3` is the *string* `"1e3"` — not what a YAML 1.2 library
//! would say. The regular expressions below are PyYAML's own (`resolver.py`), tried in
//! its order (bool, float, int, null, timestamp), and the constructors follow
//! `constructor.py`. Quoted and block scalars are always strings.

use std::sync::LazyLock;

use regex::Regex;

/// A constructed scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    /// An integer of any size, as decimal digits with an optional leading `-`.
    Int(String),
    Float(f64),
    Str(String),
}

static BOOL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
});
static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
});
static INT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
});
static NULL: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:~|null|Null|NULL|)$"));
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
    )
});

fn re(pattern: &str) -> Regex {
    // The patterns are constants the tests compile; a failure here is a bug in this file.
    Regex::new(pattern).expect("PyYAML resolver pattern compiles")
}

/// What PyYAML's implicit resolver makes of a plain scalar. A timestamp stays a string
/// (its text): PyYAML builds a `datetime`, which JSON cannot carry. `=` (the YAML 1.1
/// value key) also stays a string, although `safe_load` refuses it.
pub(crate) fn resolve_plain(text: &str) -> Scalar {
    if BOOL.is_match(text) {
        let lower = text.to_ascii_lowercase();
        return Scalar::Bool(matches!(lower.as_str(), "yes" | "true" | "on"));
    }
    if FLOAT.is_match(text)
        && let Some(f) = construct_float(text)
    {
        return Scalar::Float(f);
    }
    if INT.is_match(text)
        && let Some(i) = construct_int(text)
    {
        return Scalar::Int(i);
    }
    if NULL.is_match(text) {
        return Scalar::Null;
    }
    Scalar::Str(text.to_string())
}

/// Whether PyYAML would resolve this plain scalar to a timestamp (kept as a string here).
pub(crate) fn is_timestamp(text: &str) -> bool {
    TIMESTAMP.is_match(text)
}

/// Constructs a scalar with an explicit core-schema tag (`str`, `int`, `float`, `bool`,
/// `null`, `timestamp`, `binary`). `Err` when PyYAML's constructor would fail on the text
/// or does not know the tag.
pub(crate) fn construct_tagged(suffix: &str, text: &str) -> Result<Scalar, String> {
    let bad = || format!("`{text}` is not a valid !!{suffix}");
    match suffix {
        "str" | "timestamp" | "binary" => Ok(Scalar::Str(text.to_string())),
        "null" => Ok(Scalar::Null),
        "bool" => match text.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" => Ok(Scalar::Bool(true)),
            "no" | "false" | "off" => Ok(Scalar::Bool(false)),
            _ => Err(bad()),
        },
        "int" => construct_int(text).map(Scalar::Int).ok_or_else(bad),
        "float" => construct_float(text).map(Scalar::Float).ok_or_else(bad),
        _ => Err(format!(
            "PyYAML's safe loader has no constructor for the tag `!!{suffix}`"
        )),
    }
}

/// `construct_yaml_int`: `_` removed, sign, then `0b`, `0x`, leading-`0` octal (Python's
/// `int(v, 8)` also takes a `0o` prefix), sexagesimal `a:b:c`, or decimal.
fn construct_int(text: &str) -> Option<String> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, digits) = split_sign(&cleaned);
    let (base, digits) = if digits == "0" {
        (10, "0")
    } else if let Some(rest) = digits.strip_prefix("0b") {
        (2, rest)
    } else if let Some(rest) = digits.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = digits.strip_prefix("0o") {
        (8, rest)
    } else if digits.starts_with('0') {
        (8, digits)
    } else if digits.contains(':') {
        return sexagesimal_int(digits).map(|d| signed(negative, d));
    } else {
        (10, digits)
    };
    to_decimal(digits, base).map(|d| signed(negative, d))
}

/// `construct_yaml_float`: `_` removed, lowercased, `.inf`/`.nan`, sexagesimal, or
/// Python's `float()`.
fn construct_float(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let (negative, body) = split_sign(&cleaned);
    let sign = if negative { -1.0 } else { 1.0 };
    let value = if body == ".inf" {
        f64::INFINITY
    } else if body == ".nan" {
        return Some(f64::NAN);
    } else if body.contains(':') {
        let mut value = 0.0;
        for part in body.split(':') {
            value = value * 60.0 + parse_python_float(part)?;
        }
        value
    } else {
        parse_python_float(body)?
    };
    Some(sign * value)
}

/// Python's `float()` on what the resolver let through: digits with at most one dot and
/// an optional exponent (Rust's parser takes the same shapes, `1.` and `.5` included).
fn parse_python_float(text: &str) -> Option<f64> {
    if text.is_empty() || text.starts_with(['+', '-']) {
        return None;
    }
    text.parse::<f64>().ok()
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

fn signed(negative: bool, digits: String) -> String {
    if negative && digits != "0" {
        format!("-{digits}")
    } else {
        digits
    }
}

/// Longest integer literal converted exactly; beyond it the conversion (quadratic) is not
/// worth it and the scalar is left a string. Python itself refuses to print integers of
/// more than 4300 decimal digits.
const MAX_INT_DIGITS: usize = 4300;

/// Digits in `base` to decimal text, of any size. `None` for an empty or invalid string.
fn to_decimal(digits: &str, base: u32) -> Option<String> {
    if digits.is_empty() || digits.len() > MAX_INT_DIGITS {
        return None;
    }
    let mut big = BigUint::default();
    for c in digits.chars() {
        big.mul_add(base, c.to_digit(base)?);
    }
    Some(big.to_string())
}

fn sexagesimal_int(text: &str) -> Option<String> {
    if text.len() > MAX_INT_DIGITS {
        return None;
    }
    let mut parts = text.split(':');
    let first = parts.next()?;
    let mut big = BigUint::default();
    for c in first.chars() {
        big.mul_add(10, c.to_digit(10)?);
    }
    for part in parts {
        let digit: u32 = part.parse().ok()?;
        big.mul_add(60, digit);
    }
    Some(big.to_string())
}

/// Just enough of an unsigned big integer for literals: base-10⁹ limbs, little-endian.
#[derive(Default)]
struct BigUint {
    limbs: Vec<u32>,
}

const LIMB: u64 = 1_000_000_000;

impl BigUint {
    fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.limbs {
            let v = u64::from(*limb) * u64::from(mul) + carry;
            *limb = (v % LIMB) as u32;
            carry = v / LIMB;
        }
        while carry > 0 {
            self.limbs.push((carry % LIMB) as u32);
            carry /= LIMB;
        }
    }
}

impl std::fmt::Display for BigUint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some((last, rest)) = self.limbs.split_last() else {
            return f.write_str("0");
        };
        write!(f, "{last}")?;
        for limb in rest.iter().rev() {
            write!(f, "{limb:09}")?;
        }
        Ok(())
    }
}

/// A float as Python's `repr` writes it (what `json.dumps` puts in a mapping key):
/// positional between 1e-4 and 1e16, else `1e+16` style; always with a `.` or exponent.
pub(crate) fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sci = format!("{f:e}"); // shortest round-trip digits: `-1.5e-7`
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let s = format!("{f}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}
