//! JSON arguments with errors that name the field.
//!
//! Options objects cross the C ABI as camelCase JSON (the same shapes the Node
//! surface uses) and are parsed by [`options`] into core's serde type for them
//! (`keel_core::options`): `KEEL_INVALID_JSON` or `KEEL_INVALID_OPTION` with a
//! message such as `options.customRules[0].pattern is not a string (got a number)`
//! or `options has an unknown field (4 characters; did you mean "mask"?)`.
//! [`Fields`] reads a small ad-hoc object (a progress report) field by field with
//! the same kind of messages.
//!
//! Messages name fields and JSON types, never values nor unknown keys: an options
//! object often carries secrets. `null` counts as absent.
//!
//! Messages never put a `:` or `=` right after a field path: error messages are
//! redacted, and `options.secrets: …` has the shape of a credential assignment.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The JSON type of a value, for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parse options JSON text into core's serde type for them (`keel_core::options`): the
/// one way a capability file reads an options argument. `text_name` names the text in
/// syntax errors (`"options_json"`), `root` the object in field paths (`"options"`).
/// Empty text and `null` give every default. Errors name the field, never a value:
/// `KEEL_INVALID_JSON` (syntax, type, unknown or missing field) or
/// `KEEL_INVALID_OPTION` (a value out of range).
pub(crate) fn options<T: serde::de::DeserializeOwned>(
    text: &str,
    text_name: &str,
    root: &str,
) -> Result<T> {
    keel_core::options::from_json(text, text_name, root).map_err(options_error)
}

/// `value` as JSON bytes for a `keel_string` (`what` names it in the error): the one
/// encoder of the capability files, so every surface reports a value that cannot be
/// encoded as `KEEL_ENCODE`.
pub(crate) fn to_json(value: &impl serde::Serialize, what: &str) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| {
        Error::coded(
            keel_core::codes::ENCODE,
            format!("cannot encode {what} ({e})"),
        )
    })
}

/// A core options error as a C error.
pub(crate) fn options_error(e: keel_core::options::OptionsError) -> Error {
    Error::coded(e.code(), e.to_string())
}

/// Parse `text` as JSON (`what` names it in messages). Syntax errors give line and
/// column, never the text.
pub(crate) fn parse(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::invalid_json(format!("{what} is not valid JSON ({e})")))
}

/// The fields of one JSON object, taken one by one.
pub(crate) struct Fields {
    path: String,
    map: Map<String, Value>,
    known: &'static [&'static str],
}

impl Fields {
    /// Read `value` (found at `path`, e.g. `"options"`) as an object whose fields
    /// are `known`; any other field is an error.
    pub(crate) fn new(
        value: Value,
        path: impl Into<String>,
        known: &'static [&'static str],
    ) -> Result<Fields> {
        let path = path.into();
        let map = match value {
            Value::Object(map) => map,
            other => {
                return Err(Error::invalid_json(format!(
                    "{path} is not an object (got {})",
                    type_name(&other)
                )))
            }
        };
        if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
            // Described, never echoed: a secret may have been pasted as a key.
            return Err(Error::invalid_json(format!(
                "{path} has an unknown field {}",
                keel_core::options::describe_unknown(key, known)
            )));
        }
        Ok(Fields { path, map, known })
    }

    fn field_path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        debug_assert!(
            self.known.contains(&key),
            "{key} missing from the known list"
        );
        self.map.remove(key).filter(|v| !v.is_null())
    }

    fn mismatch(path: &str, expected: &str, got: &Value) -> Error {
        Error::invalid_json(format!("{path} is not {expected} (got {})", type_name(got)))
    }

    /// An optional non-negative integer field that fits in `usize`.
    pub(crate) fn opt_usize(&mut self, key: &str) -> Result<Option<usize>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) => Ok(Some(n)),
                None => Err(Error::invalid_json(format!(
                    "{} is not a non-negative integer",
                    self.field_path(key)
                ))),
            },
            Some(other) => Err(Self::mismatch(
                &self.field_path(key),
                "a non-negative integer",
                &other,
            )),
        }
    }

    /// An optional boolean field.
    #[allow(dead_code)] // for capabilities to come
    pub(crate) fn opt_bool(&mut self, key: &str) -> Result<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(Self::mismatch(&self.field_path(key), "a boolean", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::keel_result;
    use keel_core::redact::RedactorOptions;
    use serde_json::json;

    const KNOWN: &[&str] = &["a", "n", "flag"];

    #[test]
    fn messages_name_fields_not_values() {
        let mut f = Fields::new(json!({"n": -1}), "options", KNOWN).unwrap();
        assert_eq!(
            f.opt_usize("n").unwrap_err().message,
            "options.n is not a non-negative integer"
        );
        let mut f = Fields::new(json!({"flag": "s3cr3t"}), "options", KNOWN).unwrap();
        assert_eq!(
            f.opt_bool("flag").unwrap_err().message,
            "options.flag is not a boolean (got a string)"
        );
        let e = Fields::new(json!({"a": "x", "s3cr3t-key-value": 1}), "options", KNOWN)
            .err()
            .unwrap();
        assert!(
            e.message
                .starts_with("options has an unknown field (16 characters"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("s3cr3t"));
        let e = Fields::new(json!("s3cr3t"), "options", KNOWN)
            .err()
            .unwrap();
        assert_eq!(e.message, "options is not an object (got a string)");
    }

    #[test]
    fn options_parse_into_cores_type_with_coded_errors() {
        let o: RedactorOptions = options(r#"{"mask":"+"}"#, "options_json", "options").unwrap();
        assert_eq!(o.mask.as_deref(), Some("+"));
        let e = options::<RedactorOptions>(r#"{"mask":5}"#, "options_json", "options").unwrap_err();
        assert_eq!(e.code, keel_result::KEEL_INVALID_JSON);
        assert_eq!(e.message, "options.mask is not a string (got a number)");
        let e = options::<RedactorOptions>(r#"{"minSecretLength":-1}"#, "options_json", "options")
            .unwrap_err();
        assert_eq!(e.code, keel_result::KEEL_INVALID_OPTION);
    }

    #[test]
    fn syntax_errors_do_not_echo_the_text() {
        let e = parse("{\"secrets\": [\"s3cr3t-value\" }", "options_json").unwrap_err();
        assert!(
            e.message.starts_with("options_json is not valid JSON ("),
            "{}",
            e.message
        );
        assert!(!e.message.contains("s3cr3t"));
    }
}
