//! M³ToolEval's answer check as it really behaves (the pack's `PROTOCOL.md` §6): exact
//! equality, then equality after `int()`/`float()` conversion (where `int()` of a float
//! expected value truncates it), then equality of `str()` forms. The original's third step
//! (a literal comparison) always raises and is skipped, so it is absent here.

use serde_json::Value;

/// A value after the benchmark's `conv`: `int(x)`, else `float(x)`, else `x`.
#[derive(Debug, Clone, PartialEq)]
enum Conv {
    /// Decimal digits with an optional `-`, no leading zeros: Python ints are unbounded.
    Int(String),
    Float(f64),
    Str(String),
}

/// Whether `answer` (a string parsed from the reply, or a tool's result) passes against the
/// task's expected value. `answer_str` and `expected_str` are Python's `str()` of each.
pub fn is_correct(answer: &Value, answer_str: &str, expected: &Value, expected_str: &str) -> bool {
    if py_eq(answer, expected) {
        return true;
    }
    // A TypeError in conv (int() of a list, a dict or None) skips the conversion step.
    if let (Some(a), Some(e)) = (conv(answer), conv(expected)) {
        if conv_eq(&a, &e) {
            return true;
        }
    }
    answer_str == expected_str
}

/// `conv`, or `None` where Python's `int()` raises something other than ValueError.
fn conv(v: &Value) -> Option<Conv> {
    match v {
        Value::Bool(b) => Some(Conv::Int(if *b { "1" } else { "0" }.into())),
        Value::Number(n) => Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Conv::Int(i.to_string()),
            (_, Some(u), _) => Conv::Int(u.to_string()),
            // int() of a float truncates toward zero.
            (_, _, Some(f)) if f.is_finite() => {
                Conv::Int(normalize_int(&format!("{:.0}", f.trunc())))
            }
            (_, _, Some(f)) if f.is_nan() => Conv::Float(f),
            // int(inf) raises OverflowError, which escapes conv like a TypeError.
            _ => return None,
        }),
        Value::String(s) => Some(
            py_int(s)
                .map(Conv::Int)
                .or_else(|| py_float(s).map(Conv::Float))
                .unwrap_or_else(|| Conv::Str(s.clone())),
        ),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

fn conv_eq(a: &Conv, e: &Conv) -> bool {
    match (a, e) {
        (Conv::Int(x), Conv::Int(y)) => x == y,
        (Conv::Float(x), Conv::Float(y)) => x == y,
        (Conv::Int(i), Conv::Float(f)) | (Conv::Float(f), Conv::Int(i)) => {
            f.is_finite() && f.fract() == 0.0 && normalize_int(&format!("{f:.0}")) == *i
        }
        (Conv::Str(x), Conv::Str(y)) => x == y,
        _ => false,
    }
}

/// Python's `==` on values that came from JSON (bools are ints, ints equal floats).
fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        (Value::Number(_) | Value::Bool(_), Value::Number(_) | Value::Bool(_)) => {
            match (conv(a), conv(b)) {
                (Some(Conv::Int(x)), Some(Conv::Int(y))) if is_int(a) && is_int(b) => x == y,
                _ => as_f64(a) == as_f64(b),
            }
        }
        _ => a == b,
    }
}

fn is_int(v: &Value) -> bool {
    matches!(v, Value::Bool(_)) || v.as_i64().is_some() || v.as_u64().is_some()
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => v.as_f64(),
    }
}

fn strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Removes the underscores Python allows between digits; `None` where one is misplaced.
fn without_underscores(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if *c == '_' {
            let digit_before = i > 0 && chars[i - 1].is_ascii_digit();
            let digit_after = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
            if !(digit_before && digit_after) {
                return None;
            }
        }
    }
    Some(chars.into_iter().filter(|c| *c != '_').collect())
}

/// Python's `int(s)` for a string in base 10, normalized; `None` where it raises ValueError.
fn py_int(s: &str) -> Option<String> {
    let s = without_underscores(strip(s))?;
    let digits = s.strip_prefix(['+', '-']).unwrap_or(&s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(normalize_int(&s))
}

/// Python's `float(s)`; `None` where it raises ValueError.
fn py_float(s: &str) -> Option<f64> {
    let s = without_underscores(strip(s))?;
    let body = s.strip_prefix(['+', '-']).unwrap_or(&s);
    let lower = body.to_ascii_lowercase();
    let special = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    // Rust also reads forms Python rejects (e.g. a bare sign); allow only Python's alphabet.
    let plain = !body.is_empty()
        && body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !(special || plain) {
        return None;
    }
    s.parse::<f64>().ok()
}

fn normalize_int(s: &str) -> String {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = digits.trim_start_matches('0');
    match (neg, digits.is_empty()) {
        (_, true) => "0".into(),
        (true, false) => format!("-{digits}"),
        (false, false) => digits.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(a: &str, expected: Value, expected_str: &str) -> bool {
        is_correct(&json!(a), a, &expected, expected_str)
    }

    #[test]
    fn strings_match_exactly() {
        assert!(answer("fchahcufcu", json!("fchahcufcu"), "fchahcufcu"));
        assert!(!answer("Fchahcufcu", json!("fchahcufcu"), "fchahcufcu"));
        assert!(!answer(" fchahcufcu", json!("fchahcufcu"), "fchahcufcu"));
    }

    #[test]
    fn ints_match_after_conversion() {
        assert!(answer("3", json!(3), "3"));
        assert!(answer(" 3 ", json!(3), "3"));
        assert!(answer("+03", json!(3), "3"));
        assert!(answer("1_000", json!(1000), "1000"));
        // float("3.0") == 3 holds in Python.
        assert!(answer("3.0", json!(3), "3"));
        assert!(!answer("3.5", json!(3), "3"));
    }

    #[test]
    fn int_conversion_truncates_float_expected_values() {
        // conv(68.71) is 68, so only the str() comparison can accept the exact text.
        assert!(answer("68.71", json!(68.71), "68.71"));
        assert!(answer("68", json!(68.71), "68.71"));
        assert!(!answer("68.710", json!(68.71), "68.71"));
        assert!(answer("8100.0", json!(8100.0), "8100.0"));
        assert!(answer("8100", json!(8100.0), "8100.0"));
    }

    #[test]
    fn lists_and_dicts_match_only_by_str() {
        let e = json!([1000.0, 2000.0]);
        assert!(answer("[1000.0, 2000.0]", e.clone(), "[1000.0, 2000.0]"));
        assert!(!answer("[1000, 2000]", e, "[1000.0, 2000.0]"));
        let e = json!({"A": 1});
        assert!(answer("{'A': 1}", e.clone(), "{'A': 1}"));
        assert!(!answer("{\"A\": 1}", e, "{'A': 1}"));
    }

    #[test]
    fn tool_results_compare_as_values() {
        assert!(is_correct(&json!(3), "3", &json!(3.0), "3.0"));
        assert!(is_correct(&json!(true), "True", &json!(1), "1"));
        assert!(is_correct(
            &json!([1, 2]),
            "[1, 2]",
            &json!([1.0, 2]),
            "[1.0, 2]"
        ));
    }

    #[test]
    fn python_number_syntax() {
        assert_eq!(py_int("-0"), Some("0".into()));
        assert_eq!(py_int("1__0"), None);
        assert_eq!(py_int("_1"), None);
        assert_eq!(py_int("1.5"), None);
        assert_eq!(py_float("1.5e3"), Some(1500.0));
        assert_eq!(py_float(" .5 "), Some(0.5));
        assert!(py_float("-Infinity").is_some_and(|f| f.is_infinite()));
        assert_eq!(py_float("+"), None);
        assert_eq!(py_float("1e"), None);
        assert_eq!(py_float("0x10"), None);
    }
}
