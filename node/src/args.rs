//! Conversion of JavaScript arguments, shared by every capability.
//!
//! `#[napi]` functions take their arguments as [`Unknown`] and convert them here,
//! so a wrong type becomes a `TypeError` with code `KEEL_INVALID_ARGUMENT` that
//! names the argument and the type received — never the value, which may be a
//! secret — instead of napi-rs's generic conversion error.

use napi::bindgen_prelude::{
    Array, BufferSlice, ClassInstance, Function, JsObjectValue, MaybeTypeTag, Object, Unknown,
};
use napi::{Env, JsString, JsValue, ValueType};

use crate::error::{code, KeelError, Result};

/// A `typeof`-like name for error messages (`array`, `Buffer` and `null` are
/// told apart from `object`).
pub fn type_name(v: &Unknown<'_>) -> Result<&'static str> {
    Ok(match v.get_type()? {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "boolean",
        ValueType::Number => "number",
        ValueType::BigInt => "bigint",
        ValueType::String => "string",
        ValueType::Symbol => "symbol",
        ValueType::Function => "function",
        ValueType::External => "external",
        ValueType::Object if v.is_array()? => "array",
        ValueType::Object if v.is_buffer()? => "Buffer",
        ValueType::Object => "object",
        _ => "unknown",
    })
}

/// `undefined` or `null`.
pub fn is_nullish(v: &Unknown<'_>) -> Result<bool> {
    Ok(matches!(
        v.get_type()?,
        ValueType::Undefined | ValueType::Null
    ))
}

/// `None` for an absent, `undefined` or `null` argument.
pub fn present<'a>(v: Option<Unknown<'a>>) -> Result<Option<Unknown<'a>>> {
    match v {
        Some(v) if !is_nullish(&v)? => Ok(Some(v)),
        _ => Ok(None),
    }
}

/// A string argument.
pub fn string(what: &str, v: Unknown<'_>) -> Result<String> {
    if v.get_type()? == ValueType::String {
        // SAFETY: the value was just checked to be a string.
        Ok(unsafe { v.cast::<String>() }?)
    } else {
        Err(KeelError::invalid_type(what, "a string", type_name(&v)?))
    }
}

/// An array argument, element by element.
pub fn array<'a, T>(
    what: &str,
    v: Unknown<'a>,
    mut each: impl FnMut(&str, Unknown<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    if v.get_type()? != ValueType::Object || !v.is_array()? {
        return Err(KeelError::invalid_type(what, "an array", type_name(&v)?));
    }
    // SAFETY: the value was just checked to be an array.
    let arr = unsafe { v.cast::<Array<'a>>() }?;
    // `new Array(2**32 - 1)` has that length and no elements: never trust the length
    // for an allocation (the first hole fails the element check anyway).
    let mut out = Vec::with_capacity((arr.len() as usize).min(PREALLOC_LIMIT));
    for i in 0..arr.len() {
        let item: Unknown<'a> = arr.get_element(i)?;
        out.push(each(&format!("{what}[{i}]"), item)?);
    }
    Ok(out)
}

/// Most elements reserved up front for an array argument; longer arrays grow as their
/// elements are checked.
const PREALLOC_LIMIT: usize = 1024;
/// Longest array inside an options object.
pub const MAX_OPTION_ITEMS: u32 = 1 << 24;
/// Deepest nesting inside an options object.
const MAX_OPTION_DEPTH: usize = 64;

/// A core options error on its way to JavaScript: a shape error (wrong type, unknown,
/// missing or misnamed field) is a `TypeError` `KEEL_INVALID_ARGUMENT` — the argument is a
/// JS value, where C gets `KEEL_INVALID_JSON` for JSON text — and a value out of range a
/// `RangeError` `KEEL_INVALID_OPTION`, the same code as C.
pub fn options_error(e: keel_core::options::OptionsError) -> KeelError {
    use keel_core::options::OptionsErrorKind;
    match e.kind() {
        OptionsErrorKind::Range => KeelError::range_error(code::INVALID_OPTION, e.to_string()),
        _ => KeelError::type_error(code::INVALID_ARGUMENT, e.to_string()),
    }
}

/// An options object as core's serde type for it: `None`/`undefined`/`null` give every
/// default; the JS value is converted to JSON ([`json_value`]) and parsed by
/// `keel_core::options::from_value`, exactly as C parses JSON text. `skip` names
/// top-level fields the caller has already taken out (what JSON cannot carry: callbacks,
/// `Uint8Array`s, class instances).
pub fn options_as<T: serde::de::DeserializeOwned>(
    what: &str,
    v: Option<Unknown<'_>>,
    skip: &[&str],
) -> Result<T> {
    let value = match options_object(what, v)? {
        None => serde_json::Value::Null,
        Some(obj) => json_value(what, obj.to_unknown(), skip, 0)?,
    };
    keel_core::options::from_value(value, what).map_err(options_error)
}

/// An options object (`None` when absent or nullish), refused in core's wording when it
/// is not one (`options is not an object (got an array)`, as C says).
pub fn options_object<'a>(what: &str, v: Option<Unknown<'a>>) -> Result<Option<Object<'a>>> {
    let Some(v) = present(v)? else {
        return Ok(None);
    };
    let got = match v.get_type()? {
        ValueType::Object if v.is_array()? => "an array",
        ValueType::Object if v.is_buffer()? => "a Buffer",
        // SAFETY: checked to be an object.
        ValueType::Object => return Ok(Some(unsafe { v.cast::<Object<'a>>() }?)),
        ValueType::String => "a string",
        ValueType::Number => "a number",
        ValueType::Boolean => "a boolean",
        _ => type_name(&v)?,
    };
    Err(options_error(keel_core::options::OptionsError::shape(
        what,
        format!("is not an object (got {got})"),
    )))
}

/// A JS value as JSON, like `JSON.stringify` but strict: `undefined` properties are
/// left out and `undefined` array elements become `null`, while a function, symbol,
/// bigint, Buffer or non-finite number is an error naming the field (never the value).
/// Array lengths are checked before anything is allocated.
pub fn json_value(
    what: &str,
    v: Unknown<'_>,
    skip: &[&str],
    depth: usize,
) -> Result<serde_json::Value> {
    use serde_json::Value;
    if depth > MAX_OPTION_DEPTH {
        return Err(KeelError::range_error(
            code::INVALID_OPTION,
            format!("{what} is nested more than {MAX_OPTION_DEPTH} levels deep"),
        ));
    }
    Ok(match v.get_type()? {
        ValueType::Undefined | ValueType::Null => Value::Null,
        // SAFETY (each cast): the type was just checked.
        ValueType::Boolean => Value::Bool(unsafe { v.cast::<bool>() }?),
        ValueType::String => Value::String(unsafe { v.cast::<String>() }?),
        ValueType::Number => {
            let n = unsafe { v.cast::<f64>() }?;
            if !n.is_finite() {
                return Err(KeelError::range_error(
                    code::INVALID_OPTION,
                    format!("{what} is not a finite number"),
                ));
            }
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(n as i64)
            } else {
                serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
            }
        }
        ValueType::Object if v.is_array()? => {
            let arr = unsafe { v.cast::<Array<'_>>() }?;
            let len = arr.len();
            if len > MAX_OPTION_ITEMS {
                return Err(KeelError::range_error(
                    code::INVALID_OPTION,
                    format!("{what} has {len} elements, more than {MAX_OPTION_ITEMS}"),
                ));
            }
            let mut out = Vec::with_capacity((len as usize).min(PREALLOC_LIMIT));
            for i in 0..len {
                let item: Unknown<'_> = arr.get_element(i)?;
                out.push(json_value(&format!("{what}[{i}]"), item, &[], depth + 1)?);
            }
            Value::Array(out)
        }
        ValueType::Object if !v.is_buffer()? => {
            let obj = unsafe { v.cast::<Object<'_>>() }?;
            let names = obj.get_property_names()?;
            // SAFETY: napi_get_property_names returns an array.
            let names = unsafe { names.to_unknown().cast::<Array<'_>>() }?;
            let mut map = serde_json::Map::new();
            for i in 0..names.len() {
                let name: String = names.get_element(i)?;
                if depth == 0 && skip.contains(&name.as_str()) {
                    continue;
                }
                let item: Unknown<'_> = obj.get_named_property(&name)?;
                if item.get_type()? == ValueType::Undefined {
                    continue;
                }
                // A field path that cannot hold a caller's key verbatim (it may be a
                // secret): core reports unknown keys by length only.
                let plain = name.len() <= 64
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                let path = if plain {
                    format!("{what}.{name}")
                } else {
                    format!("{what}.<key>")
                };
                map.insert(name, json_value(&path, item, &[], depth + 1)?);
            }
            Value::Object(map)
        }
        _ => return Err(KeelError::invalid_type(what, "JSON data", type_name(&v)?)),
    })
}

/// An array of strings.
pub fn string_array(what: &str, v: Unknown<'_>) -> Result<Vec<String>> {
    array(what, v, string)
}

/// A string or a Buffer / Uint8Array (any ArrayBufferView: its bytes).
pub enum Text<'a> {
    /// A JavaScript string (lone surrogates become U+FFFD).
    Str(String),
    /// The bytes of a Buffer, viewed in place.
    Bytes(BufferSlice<'a>),
}

impl Text<'_> {
    /// The UTF-8 / raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Text::Str(s) => s.as_bytes(),
            Text::Bytes(b) => b,
        }
    }
}

/// A string or a Buffer / Uint8Array argument.
pub fn text<'a>(what: &str, v: Unknown<'a>) -> Result<Text<'a>> {
    match v.get_type()? {
        // SAFETY: checked to be a string.
        ValueType::String => Ok(Text::Str(unsafe { v.cast::<String>() }?)),
        // SAFETY: napi_is_buffer is true for every ArrayBufferView, which is what
        // napi_get_buffer_info accepts.
        ValueType::Object if v.is_buffer()? => {
            Ok(Text::Bytes(unsafe { v.cast::<BufferSlice<'a>>() }?))
        }
        _ => Err(KeelError::invalid_type(
            what,
            "a string or a Buffer",
            type_name(&v)?,
        )),
    }
}

/// A JavaScript string read for redaction.
pub enum JsText {
    /// An all-ASCII string, copied byte for byte through V8's Latin-1 path: no
    /// UTF-8 transcoding on the way in, and the result can go back the same way.
    Ascii(Vec<u8>),
    /// Any other string, as UTF-8 (lone surrogates become U+FFFD).
    Utf8(String),
}

/// A string argument for redaction (see [`JsText`]). Logs are almost always
/// ASCII, and for a 64 MB log the two UTF-8 conversions cost as much as the
/// redaction itself.
pub fn js_text(what: &str, v: Unknown<'_>) -> Result<JsText> {
    if v.get_type()? != ValueType::String {
        return Err(KeelError::invalid_type(what, "a string", type_name(&v)?));
    }
    // SAFETY: the value was just checked to be a string.
    let s = unsafe { v.cast::<JsString>() }?;
    // UTF-8 and UTF-16 lengths agree exactly when every character is ASCII.
    if s.utf8_len()? == s.utf16_len()? {
        Ok(JsText::Ascii(s.into_latin1()?.take()))
    } else {
        // SAFETY: checked to be a string above.
        Ok(JsText::Utf8(unsafe { v.cast::<String>() }?))
    }
}

/// JavaScript's `String(v ?? '')`: nullish becomes `""`, anything else goes
/// through the global `String` function (so a Buffer decodes as UTF-8, a number
/// prints, a symbol becomes `Symbol(desc)`, an object's `toString` runs).
pub fn js_string_or_empty(env: &Env, v: Unknown<'_>) -> Result<String> {
    match v.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(String::new()),
        // SAFETY: checked to be a string.
        ValueType::String => Ok(unsafe { v.cast::<String>() }?),
        _ => {
            let string_fn: Function<'_, Unknown<'_>, Unknown<'_>> =
                env.get_global()?.get_named_property("String")?;
            let s = string_fn
                .call(v)
                .map_err(|e| crate::error::rethrow(env, e))?;
            string("String(value)", s)
        }
    }
}

/// An instance of the `#[napi]` class `T` (checked with its type tag).
pub fn instance<'a, T: 'a + MaybeTypeTag>(
    what: &str,
    expected: &str,
    v: Unknown<'a>,
) -> Result<ClassInstance<'a, T>> {
    if v.get_type()? == ValueType::Object {
        // SAFETY: `ClassInstance::from_napi_value` unwraps and checks the type tag
        // itself, failing (not crashing) on any other object.
        if let Ok(inst) = unsafe { v.cast::<ClassInstance<'a, T>>() } {
            return Ok(inst);
        }
    }
    Err(KeelError::invalid_type(what, expected, type_name(&v)?))
}

/// An object argument (not an array, not null).
pub fn object<'a>(what: &str, v: Unknown<'a>) -> Result<Object<'a>> {
    if v.get_type()? != ValueType::Object || v.is_array()? {
        return Err(KeelError::invalid_type(what, "an object", type_name(&v)?));
    }
    // SAFETY: checked to be an object.
    Ok(unsafe { v.cast::<Object<'a>>() }?)
}

/// An options object: `None` when absent / nullish, else a plain object.
pub fn options<'a>(what: &str, v: Option<Unknown<'a>>) -> Result<Option<Object<'a>>> {
    present(v)?.map(|v| object(what, v)).transpose()
}

/// A property of an options object; `None` when missing, `undefined` or `null`.
pub fn field<'a>(obj: &Object<'a>, name: &str) -> Result<Option<Unknown<'a>>> {
    present(Some(obj.get_named_property::<Unknown<'a>>(name)?))
}

/// A string property `name` of `obj` (`what` names `obj` in errors); `None` when
/// missing or nullish.
pub fn string_field(obj: &Object<'_>, what: &str, name: &str) -> Result<Option<String>> {
    field(obj, name)?
        .map(|v| string(&format!("{what}.{name}"), v))
        .transpose()
}

/// A non-negative integer (at most 2^32 - 1).
pub fn u32_arg(what: &str, v: Unknown<'_>) -> Result<u32> {
    if v.get_type()? != ValueType::Number {
        return Err(KeelError::invalid_type(what, "a number", type_name(&v)?));
    }
    // SAFETY: checked to be a number.
    let n = unsafe { v.cast::<f64>() }?;
    if n.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&n) {
        return Err(KeelError::range_error(
            code::INVALID_OPTION,
            format!("{what} must be a non-negative integer (got {n})"),
        ));
    }
    Ok(n as u32)
}
