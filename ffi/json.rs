//! JSON options with errors that name the field.
//!
//! Options objects cross the C ABI as camelCase JSON (the same shapes the Node
//! surface uses). [`Fields`] reads one object field by field and fails with
//! `KEEL_INVALID_JSON` and a message such as
//! `options.customRules[0].pattern is not a string (got a number)` or
//! `options has an unknown field "maks" (expected one of: mask, …)`.
//!
//! Messages name fields and JSON types, never values: an options object often
//! carries secrets. (serde's own messages quote the offending value, which is why
//! this does not deserialize with serde directly.) `null` counts as absent.
//! Unknown fields are rejected up front, so a misspelt field is reported as such
//! rather than as a missing required one.
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
            return Err(Error::invalid_json(format!(
                "{path} has an unknown field {key:?} (expected one of: {})",
                known.join(", ")
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

    /// An optional string field.
    pub(crate) fn opt_string(&mut self, key: &str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(Self::mismatch(&self.field_path(key), "a string", &other)),
        }
    }

    /// A required string field.
    pub(crate) fn string(&mut self, key: &str) -> Result<String> {
        self.opt_string(key)?.ok_or_else(|| {
            Error::invalid_json(format!(
                "{} is missing (it is required)",
                self.field_path(key)
            ))
        })
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

    fn opt_array(&mut self, key: &str) -> Result<Option<Vec<Value>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(Self::mismatch(&self.field_path(key), "an array", &other)),
        }
    }

    /// An optional array of strings; absent gives an empty list.
    pub(crate) fn string_list(&mut self, key: &str) -> Result<Vec<String>> {
        let path = self.field_path(key);
        let items = self.opt_array(key)?.unwrap_or_default();
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s),
                other => Err(Self::mismatch(&format!("{path}[{i}]"), "a string", &other)),
            })
            .collect()
    }

    /// An optional array of objects whose fields are `known`; absent gives an
    /// empty list.
    pub(crate) fn object_list(
        &mut self,
        key: &str,
        known: &'static [&'static str],
    ) -> Result<Vec<Fields>> {
        let path = self.field_path(key);
        let items = self.opt_array(key)?.unwrap_or_default();
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| Fields::new(v, format!("{path}[{i}]"), known))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KNOWN: &[&str] = &["a", "n", "list", "objs"];

    #[test]
    fn messages_name_fields_not_values() {
        let mut f = Fields::new(json!({"a": 1}), "options", KNOWN).unwrap();
        let e = f.opt_string("a").unwrap_err();
        assert_eq!(e.message, "options.a is not a string (got a number)");

        let mut f =
            Fields::new(json!({"list": ["ok", "s3cr3t-value", 7]}), "options", KNOWN).unwrap();
        let e = f.string_list("list").unwrap_err();
        assert_eq!(e.message, "options.list[2] is not a string (got a number)");

        let mut f = Fields::new(json!({"n": -1}), "options", KNOWN).unwrap();
        assert_eq!(
            f.opt_usize("n").unwrap_err().message,
            "options.n is not a non-negative integer"
        );

        let e = Fields::new(json!({"a": "x", "bogus": "s3cr3t"}), "options", KNOWN)
            .err()
            .unwrap();
        assert!(
            e.message
                .starts_with("options has an unknown field \"bogus\""),
            "{}",
            e.message
        );
        assert!(!e.message.contains("s3cr3t"));

        let mut f = Fields::new(json!({"objs": [{"x": 1}]}), "options", KNOWN).unwrap();
        let e = f.object_list("objs", &["name"]).err().unwrap();
        assert!(
            e.message
                .starts_with("options.objs[0] has an unknown field \"x\""),
            "{}",
            e.message
        );

        let e = Fields::new(json!("s3cr3t"), "options", KNOWN)
            .err()
            .unwrap();
        assert_eq!(e.message, "options is not an object (got a string)");
    }

    #[test]
    fn null_is_absent_and_required_fields_are_reported() {
        let mut f = Fields::new(json!({"a": null}), "o", &["a", "b"]).unwrap();
        assert_eq!(f.opt_string("a").unwrap(), None);
        assert_eq!(
            f.string("b").unwrap_err().message,
            "o.b is missing (it is required)"
        );
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
