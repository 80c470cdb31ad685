//! Options objects: one serde type per option set, parsed the same way on every
//! surface, with errors that name the field and never echo a value.
//!
//! Each capability defines its option types next to its code
//! (`#[serde(rename_all = "camelCase", deny_unknown_fields)]`); the C ABI hands the JSON
//! text to [`from_json`], the Node addon converts the JS value to a
//! [`serde_json::Value`] (after taking out what JSON cannot carry) and calls
//! [`from_value`], and both get the same answer — the shared
//! `bindings-tests/options-cases.json` checks it.
//!
//! Errors ([`OptionsError`]) are bounded in length and name the field
//! (`options.customRules[0].maxLen`), the JSON type found and the one expected. They
//! never contain a value — serde's own messages quote the offending value, which may
//! be a secret — nor an unknown field's name (a secret pasted into the wrong place):
//! an unknown field is reported by its length, with the closest known name.
//!
//! ```
//! use keel_core::options::{from_json, OptionsErrorKind};
//! use keel_core::redact::RedactorOptions;
//!
//! let o: RedactorOptions = from_json(r#"{"mask":"[x]"}"#, "options_json", "options").unwrap();
//! assert_eq!(o.mask.as_deref(), Some("[x]"));
//!
//! let e = from_json::<RedactorOptions>(r#"{"maks":"x"}"#, "options_json", "options").unwrap_err();
//! assert_eq!(e.to_string(), r#"options has an unknown field (4 characters; did you mean "mask"?)"#);
//! assert_eq!(e.code(), "KEEL_INVALID_JSON");
//!
//! let e = from_json::<RedactorOptions>(r#"{"minSecretLength":-1}"#, "options_json", "options").unwrap_err();
//! assert_eq!(e.kind(), OptionsErrorKind::Range);
//! assert_eq!(e.path(), "options.minSecretLength");
//! ```

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::codes;

/// Longest field path shown in a message; longer paths are cut.
pub const MAX_PATH_LEN: usize = 160;
/// Longest map key shown as part of a path (longer or unusual keys show as `<key>`).
const MAX_KEY_LEN: usize = 64;
/// Longest "expected …" text shown.
const MAX_EXPECTED_LEN: usize = 160;

/// What kind of problem an [`OptionsError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionsErrorKind {
    /// The text is not JSON (C only: a JS value is never malformed).
    Syntax,
    /// A field has the wrong type, is missing, is unknown or is not one of the allowed
    /// names. `KEEL_INVALID_JSON` in C; `KEEL_INVALID_ARGUMENT` (a `TypeError`) in Node,
    /// whose argument is a JS value rather than JSON text.
    Shape,
    /// A field has the right type but a value out of range (a negative or fractional
    /// count, a zero timeout, a non-finite number). `KEEL_INVALID_OPTION` everywhere.
    Range,
}

/// An option that cannot be used. `Display` is `"<path> <problem>"`, e.g.
/// `options.minSecretLength is not a non-negative integer (got a string)`: never a
/// value, at most a few hundred bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path} {problem}")]
pub struct OptionsError {
    path: String,
    problem: String,
    kind: OptionsErrorKind,
}

impl OptionsError {
    /// A field of the wrong shape (type, presence, name).
    pub fn shape(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::new(path.into(), problem.into(), OptionsErrorKind::Shape)
    }

    /// A field whose value is out of range. `problem` must not contain the value.
    pub fn range(path: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::new(path.into(), problem.into(), OptionsErrorKind::Range)
    }

    fn new(path: String, problem: String, kind: OptionsErrorKind) -> Self {
        OptionsError {
            path: bounded(path, MAX_PATH_LEN),
            problem: bounded(problem, MAX_PATH_LEN + MAX_EXPECTED_LEN),
            kind,
        }
    }

    /// The field, e.g. `options.customRules[0].pattern` (`options` for the object itself).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with it (no value).
    pub fn problem(&self) -> &str {
        &self.problem
    }

    /// Syntax, shape or range.
    pub fn kind(&self) -> OptionsErrorKind {
        self.kind
    }

    /// The stable code: `KEEL_INVALID_JSON` (syntax and shape) or `KEEL_INVALID_OPTION`
    /// (range).
    pub fn code(&self) -> &'static str {
        match self.kind {
            OptionsErrorKind::Syntax | OptionsErrorKind::Shape => codes::INVALID_JSON,
            OptionsErrorKind::Range => codes::INVALID_OPTION,
        }
    }
}

fn bounded(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Parse options from JSON text: `text_name` names the text in syntax errors
/// (`options_json`), `root` names the object in field paths (`options`). Empty text and
/// `null` mean "every default" (parsed from `{}`).
pub fn from_json<T: DeserializeOwned>(
    text: &str,
    text_name: &str,
    root: &str,
) -> Result<T, OptionsError> {
    let trimmed = text.trim();
    let text = if trimmed.is_empty() || trimmed == "null" {
        "{}"
    } else {
        text
    };
    let value: Value = serde_json::from_str(text).map_err(|e| syntax(text_name, &e))?;
    from_value(value, root)
}

/// Parse options from a JSON value (`root` names it in field paths). `null` means
/// "every default".
pub fn from_value<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, OptionsError> {
    let value = match value {
        Value::Null => Value::Object(Default::default()),
        v @ Value::Object(_) => v,
        // serde would read an array as a struct's fields in order.
        other => {
            return Err(OptionsError::shape(
                root,
                format!("is not an object (got {})", json_type(&other)),
            ))
        }
    };
    serde_path_to_error::deserialize(value).map_err(|e| interpret(e, None, root))
}

/// The JSON type of a value, for messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON type name for messages, from serde's description of an unexpected value
/// (`string "…"`, `integer `5``, `sequence`, …) — only the words before any quoted value.
fn got_name(unexpected: &str) -> &'static str {
    let head = unexpected
        .split(['`', '"', '\''])
        .next()
        .unwrap_or("")
        .trim();
    match head {
        "string" | "char" => "a string",
        "integer" | "floating point" => "a number",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "an object",
        "null" | "unit" | "unit value" | "Option value" => "null",
        _ => "another type",
    }
}

/// serde's description of the expected type, in JSON words.
fn expected_name(expected: &str) -> String {
    let e = expected.trim();
    let mapped = match e {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a string" | "a borrowed string" | "path string" | "a character" => "a string",
        "a boolean" => "a boolean",
        "a sequence" => "an array",
        "a map" => "an object",
        _ if e.starts_with("struct ") || e.starts_with("map") => "an object",
        _ if e.starts_with("a sequence") || e.starts_with("tuple") => "an array",
        _ => return bounded(e.to_owned(), MAX_EXPECTED_LEN),
    };
    mapped.to_owned()
}

fn is_integer_word(expected: &str) -> bool {
    expected.contains("integer")
}

/// The backquoted names in serde's "expected one of `a`, `b`" text.
fn quoted_names(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(!ca.eq_ignore_ascii_case(cb));
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known name closest to `given` (a caller's text, never shown), if any is close.
pub fn closest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    if given.len() > MAX_KEY_LEN {
        return None;
    }
    known
        .iter()
        .map(|k| (distance(given, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `"(N characters; did you mean "x"?)"` or `"(N characters; expected one of: a, b)"`:
/// how an unknown name a caller gave is described, without showing it.
pub fn describe_unknown(given: &str, known: &[&str]) -> String {
    let n = given.chars().count();
    let chars = if n == 1 { "character" } else { "characters" };
    match closest(given, known) {
        Some(k) => format!("({n} {chars}; did you mean \"{k}\"?)"),
        None if known.is_empty() => format!("({n} {chars}; none are accepted here)"),
        None => format!(
            "({n} {chars}; expected one of: {})",
            bounded(known.join(", "), MAX_EXPECTED_LEN)
        ),
    }
}

fn path_text(root: &str, path: &serde_path_to_error::Path, drop_last: bool) -> String {
    use serde_path_to_error::Segment;
    let mut out = root.to_owned();
    let segments: Vec<_> = path.iter().collect();
    let keep = segments.len() - usize::from(drop_last && !segments.is_empty());
    for seg in &segments[..keep] {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                let plain = key.len() <= MAX_KEY_LEN
                    && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                out.push('.');
                out.push_str(if plain { key } else { "<key>" });
            }
            Segment::Unknown => out.push_str(".?"),
        }
        if out.len() > MAX_PATH_LEN {
            break;
        }
    }
    out
}

/// serde_json's syntax messages give a position, never the text.
fn syntax(name: &str, e: &serde_json::Error) -> OptionsError {
    OptionsError::new(
        name.to_owned(),
        format!(
            "is not valid JSON (line {} column {})",
            e.line(),
            e.column()
        ),
        OptionsErrorKind::Syntax,
    )
}

/// Turn serde's error (which quotes values) into one that names the field only.
fn interpret(
    e: serde_path_to_error::Error<serde_json::Error>,
    text_name: Option<&str>,
    root: &str,
) -> OptionsError {
    let inner = e.inner();
    let mut msg = inner.to_string();
    // The path of an unknown field ends with that field's name: never shown.
    let path = path_text(root, e.path(), msg.starts_with("unknown field `"));
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return syntax(text_name.unwrap_or(root), inner);
    }
    // serde_json appends " at line L column C" to data errors from text.
    if inner.line() != 0 {
        if let Some(i) = msg.rfind(" at line ") {
            msg.truncate(i);
        }
    }
    // serde's suffix ", expected …" is the last one: a quoted value cannot end the text.
    let split_expected = |rest: &str| -> (String, String) {
        match rest.rfind(", expected ") {
            Some(i) => (
                rest[..i].to_owned(),
                rest[i + ", expected ".len()..].to_owned(),
            ),
            None => (rest.to_owned(), String::new()),
        }
    };
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (given, expected) = match rest.rfind("`, expected ") {
            Some(i) => (&rest[..i], &rest[i + "`, expected ".len()..]),
            None => match rest.rfind("`, there are no fields") {
                Some(i) => (&rest[..i], ""),
                None => (rest, ""),
            },
        };
        let known = quoted_names(expected);
        return OptionsError::shape(
            path,
            format!("has an unknown field {}", describe_unknown(given, &known)),
        );
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (given, expected) = match rest.rfind("`, expected ") {
            Some(i) => (&rest[..i], &rest[i + "`, expected ".len()..]),
            None => (rest, ""),
        };
        let known = quoted_names(expected);
        return OptionsError::shape(
            path,
            format!("is not a known name {}", describe_unknown(given, &known)),
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        return OptionsError::shape(format!("{path}.{field}"), "is missing (it is required)");
    }
    if let Some(rest) = msg.strip_prefix("duplicate field `") {
        let field = rest.trim_end_matches('`');
        return OptionsError::shape(format!("{path}.{field}"), "is given more than once");
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (unexpected, expected) = split_expected(rest);
        let got = got_name(&unexpected);
        let want = expected_name(&expected);
        if got == "a number" && is_integer_word(&want) {
            // 1.5 where a count is wanted: right type, wrong value.
            return OptionsError::range(path, format!("is not {want}"));
        }
        return OptionsError::shape(path, format!("is not {want} (got {got})"));
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let (_, expected) = split_expected(rest);
        return OptionsError::range(path, format!("is not {}", expected_name(&expected)));
    }
    if msg.starts_with("invalid length ") {
        return OptionsError::shape(path, "has the wrong number of elements");
    }
    if let Some(own) = msg.strip_prefix(KEEL_MESSAGE) {
        // A message keel's own deserializers wrote (never a value).
        return OptionsError::range(path, own.to_owned());
    }
    OptionsError::shape(path, "is invalid")
}

/// Prefix of messages keel's own `deserialize_with` functions raise with
/// `serde::de::Error::custom`: they are shown (as range errors) instead of "is invalid".
pub const KEEL_MESSAGE: &str = "keel: ";

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Opts {
        mask: Option<String>,
        min_len: Option<u32>,
        list: Option<Vec<String>>,
        rules: Option<Vec<Rule>>,
        env: Option<std::collections::BTreeMap<String, String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        name: String,
        pattern: String,
    }

    fn err(json: &str) -> OptionsError {
        from_json::<Opts>(json, "options_json", "options").unwrap_err()
    }

    #[test]
    fn messages_name_fields_and_never_values() {
        let e = err(r#"{"mask": 5}"#);
        assert_eq!(e.to_string(), "options.mask is not a string (got a number)");
        assert_eq!(e.code(), "KEEL_INVALID_JSON");
        let e = err(r#"{"list": ["ok", "s3cr3t-value", 7]}"#);
        assert_eq!(
            e.to_string(),
            "options.list[2] is not a string (got a number)"
        );
        let e = err(r#"{"minLen": "s3cr3t-value"}"#);
        assert_eq!(
            e.to_string(),
            "options.minLen is not a non-negative integer (got a string)"
        );
        let e = err(r#"{"minLen": -1}"#);
        assert_eq!(e.kind(), OptionsErrorKind::Range);
        assert_eq!(
            e.to_string(),
            "options.minLen is not a non-negative integer"
        );
        assert_eq!(e.code(), "KEEL_INVALID_OPTION");
        assert_eq!(err(r#"{"minLen": 1.5}"#).kind(), OptionsErrorKind::Range);
        assert_eq!(
            err(r#"{"minLen": 5000000000}"#).kind(),
            OptionsErrorKind::Range
        );
        let e = err(r#"{"rules": [{"name": "x"}]}"#);
        assert_eq!(
            e.to_string(),
            "options.rules[0].pattern is missing (it is required)"
        );
        let e = err(r#"[1]"#);
        assert_eq!(e.to_string(), "options is not an object (got an array)");
        let e = err(r#"{"env": {"A": 1}}"#);
        assert_eq!(
            e.to_string(),
            "options.env.A is not a string (got a number)"
        );
        let e = err(r#"{"env": {"s3cr3t value!": 1}}"#);
        assert_eq!(
            e.to_string(),
            "options.env.<key> is not a string (got a number)"
        );
    }

    #[test]
    fn unknown_fields_are_described_not_echoed() {
        let e = err(r#"{"maks": "x"}"#);
        assert_eq!(
            e.to_string(),
            "options has an unknown field (4 characters; did you mean \"mask\"?)"
        );
        let e = err(r#"{"rules": [{"name": "x", "pattern": "y", "patern": 1}]}"#);
        assert!(
            e.to_string()
                .starts_with("options.rules[0] has an unknown field"),
            "{e}"
        );
        let secret = "ghp_s3cr3tTokenValue1234567890abcdef";
        let e = err(&format!(r#"{{"{secret}": 1}}"#));
        assert!(!e.to_string().contains(secret), "{e}");
        assert!(
            e.to_string().contains("expected one of: mask, minLen"),
            "{e}"
        );
        // A hostile key that mimics serde's own suffix.
        let e = err(r#"{"x`, expected `s3cr3t": 1}"#);
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }

    #[test]
    fn a_huge_unknown_key_gives_a_short_message() {
        let key = "k".repeat(100 << 20);
        let e = err(&format!(r#"{{"{key}": 1}}"#));
        let text = e.to_string();
        assert!(text.len() < 400, "{} bytes", text.len());
        assert!(text.contains("104857600 characters"), "{text}");
    }

    #[test]
    fn syntax_errors_give_a_position_and_empty_means_defaults() {
        let e = err(r#"{"mask": "s3cr3t"  "#);
        assert_eq!(e.kind(), OptionsErrorKind::Syntax);
        assert!(
            e.to_string()
                .starts_with("options_json is not valid JSON (line 1 column"),
            "{e}"
        );
        assert!(!e.to_string().contains("s3cr3t"));
        assert!(from_json::<Opts>("  ", "t", "o").is_ok());
        assert!(from_json::<Opts>("null", "t", "o").is_ok());
        assert!(from_value::<Opts>(Value::Null, "o").is_ok());
        let e = err(r#"{"mask": "x"} trailing"#);
        assert_eq!(e.kind(), OptionsErrorKind::Syntax);
    }
}
