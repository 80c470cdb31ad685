//! The few JavaScript value semantics the reference validator relies on (`Number(x)`,
//! `'' + x`, `String.prototype.length` / `trim`, `JSON.stringify`, `Object.keys` order),
//! so keel accepts and rejects exactly what minions does, with the same reason strings.

use serde_json::{Map, Value};

/// `Number(v)` for a JSON value (`None` = `undefined`, which is `NaN`).
pub(crate) fn number(v: Option<&Value>) -> f64 {
    match v {
        None => f64::NAN,
        Some(Value::Null) => 0.0,
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(Value::String(s)) => string_to_number(s),
        Some(Value::Array(_)) => string_to_number(&string(v)),
        Some(Value::Object(_)) => f64::NAN,
    }
}

/// ECMAScript StringToNumber.
fn string_to_number(s: &str) -> f64 {
    let t = trim(s);
    if t.is_empty() {
        return 0.0;
    }
    let radix = |p: &str, r: u32| -> f64 {
        if p.is_empty() || !p.chars().all(|c| c.is_digit(r)) {
            return f64::NAN;
        }
        p.chars().fold(0.0, |acc, c| {
            acc * f64::from(r) + f64::from(c.to_digit(r).unwrap_or(0))
        })
    };
    let lower = t.get(..2).map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("0x") => return radix(&t[2..], 16),
        Some("0o") => return radix(&t[2..], 8),
        Some("0b") => return radix(&t[2..], 2),
        _ => {}
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'+' => (1.0, &t[1..]),
        b'-' => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    // StrUnsignedDecimalLiteral: digits [. digits] [e[+-]digits], or . digits ...
    let b = body.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    let int = digits(&mut i);
    let mut frac = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac = digits(&mut i);
    }
    if int + frac == 0 {
        return f64::NAN;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return f64::NAN;
        }
    }
    if i != b.len() {
        return f64::NAN;
    }
    body.parse::<f64>().map(|n| sign * n).unwrap_or(f64::NAN)
}

/// `'' + v` (`None` = `undefined`).
pub(crate) fn string(v: Option<&Value>) -> String {
    match v {
        None => "undefined".into(),
        Some(Value::Null) => "null".into(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => format_number(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|e| match e {
                Value::Null => String::new(),
                other => string(Some(other)),
            })
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".into(),
    }
}

/// Number::toString for a double.
pub(crate) fn format_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    let a = n.abs();
    if (1e-6..1e21).contains(&a) {
        if n.fract() == 0.0 && a < 9.007_199_254_740_992e15 {
            return format!("{}", n as i64);
        }
        return format!("{n}");
    }
    // Exponent form: Rust gives `1e21` / `1.5e-7`, JavaScript `1e+21` / `1.5e-7`.
    let s = format!("{n:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

/// JavaScript's white space and line terminators (`\s`, `trim`): Unicode `White_Space`
/// without U+0085, plus U+FEFF.
pub(crate) fn is_space(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{feff}'
}

/// `String.prototype.trim`.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `String.prototype.length` (UTF-16 code units).
pub(crate) fn len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `Number.isInteger`.
pub(crate) fn is_integer(n: f64) -> bool {
    n.is_finite() && n.trunc() == n
}

/// A number as JSON: an integer when it is one, else a float.
pub(crate) fn number_value(n: f64) -> Value {
    if is_integer(n) && n.abs() < 9.007_199_254_740_992e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// Whether `k` is an array index (`Object.keys` lists those first, ascending).
fn array_index(k: &str) -> Option<u32> {
    if k.is_empty() || (k.len() > 1 && k.starts_with('0')) || !k.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    k.parse::<u32>().ok().filter(|&n| n != u32::MAX)
}

/// `Object.keys(o)` order: array indices ascending, then the rest in insertion order.
pub(crate) fn keys(o: &Map<String, Value>) -> Vec<&String> {
    let mut idx: Vec<(u32, &String)> = o
        .keys()
        .filter_map(|k| array_index(k).map(|n| (n, k)))
        .collect();
    idx.sort_unstable_by_key(|(n, _)| *n);
    let mut out: Vec<&String> = idx.into_iter().map(|(_, k)| k).collect();
    out.extend(o.keys().filter(|k| array_index(k).is_none()));
    out
}

/// `JSON.parse(JSON.stringify(v))` for a value that came from JSON: numbers in
/// JavaScript's canonical form, object keys in `Object.keys` order.
pub(crate) fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => number_value(n.as_f64().unwrap_or(f64::NAN)),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(
            keys(o)
                .into_iter()
                .map(|k| (k.clone(), normalize(&o[k])))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `Buffer.byteLength(JSON.stringify(v))`.
pub(crate) fn stringify_len(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.is_finite() {
                format_number(f).len()
            } else {
                4
            }
        }
        Value::String(s) => quoted_len(s),
        Value::Array(a) => {
            2 + a.iter().map(stringify_len).sum::<usize>() + a.len().saturating_sub(1)
        }
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, v)| quoted_len(k) + 1 + stringify_len(v))
                .sum::<usize>()
                + o.len().saturating_sub(1)
        }
    }
}

fn quoted_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// `JSON.stringify(v)` (object keys in `Object.keys` order).
/// `JSON.stringify` of an array of these values (without building the array).
pub(crate) fn stringify_refs(items: &[&Value]) -> String {
    let mut out = String::from("[");
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        stringify_into(v, &mut out);
    }
    out.push(']');
    out
}

pub(crate) fn stringify(v: &Value) -> String {
    let mut out = String::new();
    stringify_into(v, &mut out);
    out
}

fn stringify_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.is_finite() {
                out.push_str(&format_number(f));
            } else {
                out.push_str("null");
            }
        }
        Value::String(s) => quote_into(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                stringify_into(e, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, k) in keys(o).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                quote_into(k, out);
                out.push(':');
                stringify_into(&o[k], out);
            }
            out.push('}');
        }
    }
}

fn quote_into(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn number_coerces_like_javascript() {
        let n = |v: Value| number(Some(&v));
        assert_eq!(n(json!(null)), 0.0);
        assert_eq!(n(json!(true)), 1.0);
        assert_eq!(n(json!(" 12 ")), 12.0);
        assert_eq!(n(json!("")), 0.0);
        assert_eq!(n(json!("0x10")), 16.0);
        assert_eq!(n(json!("1e3")), 1000.0);
        assert_eq!(n(json!(".5")), 0.5);
        assert!(n(json!("1_000")).is_nan());
        assert!(n(json!("12px")).is_nan());
        assert_eq!(n(json!([])), 0.0);
        assert_eq!(n(json!([7])), 7.0);
        assert!(n(json!([1, 2])).is_nan());
        assert!(n(json!({})).is_nan());
        assert!(number(None).is_nan());
        assert_eq!(n(json!("-Infinity")), f64::NEG_INFINITY);
    }

    #[test]
    fn strings_like_javascript() {
        assert_eq!(string(None), "undefined");
        assert_eq!(string(Some(&json!([1, null, [2, 3]]))), "1,,2,3");
        assert_eq!(string(Some(&json!({"a": 1}))), "[object Object]");
        assert_eq!(string(Some(&json!(1.5))), "1.5");
        assert_eq!(string(Some(&json!(2.0))), "2");
        assert_eq!(format_number(1e21), "1e+21");
        assert_eq!(format_number(1.5e-7), "1.5e-7");
        assert_eq!(len("é😀"), 3);
        assert_eq!(trim("\u{feff} a \u{2028}"), "a");
        assert_eq!(trim("\u{85}a"), "\u{85}a");
    }

    #[test]
    fn stringify_length_matches_javascript() {
        let v = json!({"a": [1.0, "x\"\n\u{1}"], "b": null, "ü": true});
        // {"a":[1,"x\"\n\u0001"],"b":null,"ü":true}
        let js = r#"{"a":[1,"x\"\n\u0001"],"b":null,"ü":true}"#;
        assert_eq!(stringify_len(&v), js.len());
        assert_eq!(stringify(&v), js);
        let o = json!({"b": 1, "2": 1, "a": 1, "1": 1});
        let ks: Vec<&str> = keys(o.as_object().unwrap())
            .into_iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(ks, ["1", "2", "b", "a"]);
    }
}
