//! Redaction: the reference module's free functions (`redact`, `redactSecrets`,
//! `registerKnownSecrets`, `secretsToRedact`, `captureRedactedOutput`,
//! `MAX_CAPTURED_OUTPUT_CHARS`) plus keel's `Redactor` and `StreamRedactor`
//! classes and `listRules()`. Thin: argument conversion, error mapping, handles.

use std::borrow::Cow;

use napi::bindgen_prelude::{Buffer, Either, JsObjectValue, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;

use keel_core::redact as core;

use crate::args::{self, Text};
use crate::error::{guard, KeelError, Result};

/// Cap on captured command output kept by `captureRedactedOutput`, in characters.
#[napi]
pub const MAX_CAPTURED_OUTPUT_CHARS: u32 = core::MAX_CAPTURED_OUTPUT_CHARS as u32;

/// Redact `input` with `f`, handing back `input` itself when nothing was masked.
fn redacted(input: String, f: impl FnOnce(&str) -> Cow<'_, str>) -> String {
    match f(&input) {
        Cow::Owned(s) => s,
        Cow::Borrowed(_) => input,
    }
}

/// Buffers reused across calls on the JS thread, so redacting a large string
/// does not page-fault a fresh allocation in and out every time. Buffers above
/// [`SCRATCH_KEEP`] bytes are released after the call.
struct Scratch {
    input: Vec<u8>,
    output: Vec<u8>,
}

const SCRATCH_KEEP: usize = 256 << 20;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new(Scratch { input: Vec::new(), output: Vec::new() })
    };
}

/// Copy a JavaScript string's UTF-8 bytes into `buf` (one V8 pass, no separate
/// length scan): `buf` is sized for the worst case (3 bytes per UTF-16 unit).
/// Returns whether the string is all ASCII (as many bytes as UTF-16 units).
#[allow(unsafe_code)]
fn read_utf8(env: &Env, value: &Unknown<'_>, buf: &mut Vec<u8>) -> Result<bool> {
    let raw_env = env.raw();
    let raw = value.value().value;
    let mut units = 0usize;
    // SAFETY: `raw` is a string value of this env (checked by the caller); a NULL
    // buffer asks for the length only (O(1) for UTF-16 units).
    let status = unsafe {
        napi::sys::napi_get_value_string_utf16(raw_env, raw, std::ptr::null_mut(), 0, &mut units)
    };
    if status != napi::sys::Status::napi_ok {
        return Err(KeelError::new(
            crate::error::code::INTERNAL,
            "cannot read a string argument",
        ));
    }
    let cap = units * 3 + 1;
    buf.clear();
    buf.reserve(cap);
    let mut written = 0usize;
    // SAFETY: `buf` has room for `cap` bytes; V8 writes at most `cap` bytes
    // including the terminating NUL and reports how many it wrote (without NUL).
    let status = unsafe {
        napi::sys::napi_get_value_string_utf8(
            raw_env,
            raw,
            buf.as_mut_ptr().cast(),
            cap,
            &mut written,
        )
    };
    if status != napi::sys::Status::napi_ok {
        return Err(KeelError::new(
            crate::error::code::INTERNAL,
            "cannot read a string argument",
        ));
    }
    // SAFETY: V8 initialised `written` bytes.
    unsafe { buf.set_len(written) };
    Ok(written == units)
}

/// V8's longest string, in UTF-16 units (`v8::String::kMaxLength` on 64-bit).
pub const MAX_JS_STRING_LEN: usize = (1 << 29) - 24;

/// UTF-16 units of UTF-8 text (counted only when it could matter).
fn utf16_len(utf8: &[u8]) -> usize {
    if utf8.len() <= MAX_JS_STRING_LEN {
        return utf8.len().min(MAX_JS_STRING_LEN);
    }
    String::from_utf8_lossy(utf8)
        .chars()
        .map(char::len_utf16)
        .sum()
}

/// `KEEL_RESULT_TOO_LARGE` when a result of `units` UTF-16 units cannot be a JS string
/// (instead of a failed N-API call with an empty message).
fn fits_in_a_js_string(units: usize) -> Result<()> {
    if units > MAX_JS_STRING_LEN {
        return Err(KeelError::range_error(
            crate::error::code::RESULT_TOO_LARGE,
            format!(
                "the redacted text is {units} UTF-16 units, more than a JavaScript string can \
                 hold ({MAX_JS_STRING_LEN}); redact a Buffer with Redactor#redact or use a \
                 StreamRedactor"
            ),
        ));
    }
    Ok(())
}

/// Redact a JavaScript string. The same JS value comes back when nothing was
/// masked; an all-ASCII result goes back as Latin-1 (a copy, no transcoding), so
/// a large log costs little more than the redaction itself.
fn redact_js_string<'e>(
    env: &'e Env,
    input: Unknown<'e>,
    redactor: &core::Redactor,
    known: &[String],
) -> Result<Unknown<'e>> {
    if input.get_type()? != napi::ValueType::String {
        return Err(KeelError::invalid_type(
            "input",
            "a string",
            args::type_name(&input)?,
        ));
    }
    SCRATCH.with(|cell| {
        let mut guard = cell.try_borrow_mut();
        let mut own = Scratch {
            input: Vec::new(),
            output: Vec::new(),
        };
        // Re-entrancy (a JS callback redacting while we redact) gets fresh buffers.
        let scratch = match guard.as_deref_mut() {
            Ok(s) => s,
            Err(_) => &mut own,
        };
        let ascii = read_utf8(env, &input, &mut scratch.input)?;
        let result = if ascii {
            if !redactor.redact_bytes_into(&scratch.input, known, &mut scratch.output) {
                Ok(input)
            } else if redactor.mask().is_ascii() {
                // ASCII input with an ASCII mask: ASCII output, handed over as Latin-1.
                fits_in_a_js_string(scratch.output.len())?;
                Ok(env.create_string_latin1(&scratch.output)?.to_unknown())
            } else {
                fits_in_a_js_string(utf16_len(&scratch.output))?;
                Ok(env
                    .create_string(String::from_utf8_lossy(&scratch.output))?
                    .to_unknown())
            }
        } else {
            let text = std::str::from_utf8(&scratch.input).map_err(|_| {
                KeelError::new(
                    crate::error::code::INTERNAL,
                    "a string argument is not valid UTF-8",
                )
            })?;
            if !redactor.redact_str_into(text, known, &mut scratch.output) {
                Ok(input)
            } else {
                fits_in_a_js_string(utf16_len(&scratch.output))?;
                Ok(env
                    .create_string(String::from_utf8_lossy(&scratch.output))?
                    .to_unknown())
            }
        };
        for v in [&mut scratch.input, &mut scratch.output] {
            if v.capacity() > SCRATCH_KEEP {
                *v = Vec::new();
            }
        }
        result
    })
}

/// Strip credentials out of a string: the shape rules, every secret registered
/// with `registerKnownSecrets`, and `knownSecrets` for this call only (values
/// shorter than 6 bytes are ignored).
#[napi(
    ts_args_type = "input: string, knownSecrets?: readonly string[]",
    ts_return_type = "string"
)]
pub fn redact<'e>(
    env: &'e Env,
    input: Unknown<'e>,
    known_secrets: Option<Unknown>,
) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let known = match args::present(known_secrets)? {
            Some(v) => args::string_array("knownSecrets", v)?,
            None => Vec::new(),
        };
        redact_js_string(env, input, core::global(), &known)
    })
}

/// Shape rules and registered secrets (no per-call list).
#[napi(ts_args_type = "input: string", ts_return_type = "string")]
pub fn redact_secrets<'e>(env: &'e Env, input: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    guard(env, || redact_js_string(env, input, core::global(), &[]))
}

/// Register known secret values with the process-wide redactor: every later
/// redaction in this process (including keel's own error messages) masks them.
/// Values shorter than 6 bytes are ignored. Returns how many were new.
#[napi(ts_args_type = "values: readonly string[]", ts_return_type = "number")]
pub fn register_known_secrets(env: &Env, values: Unknown) -> napi::Result<u32> {
    guard(env, || {
        let values = args::string_array("values", values)?;
        Ok(core::register_known_secrets(values) as u32)
    })
}

/// The values to scrub for a credential: the whole string and, when it is JSON
/// (a Codex `auth.json` blob), every string leaf of at least 12 characters.
#[napi(
    ts_args_type = "subscriptionToken: string",
    ts_return_type = "string[]"
)]
pub fn secrets_to_redact(env: &Env, subscription_token: Unknown) -> napi::Result<Vec<String>> {
    guard(env, || {
        let token = args::string("subscriptionToken", subscription_token)?;
        Ok(core::secrets_to_redact(&token))
    })
}

/// Merge stdout and stderr (`String(x ?? '')`, trimmed, empty parts dropped,
/// joined by a newline), redact them, and keep the last
/// `MAX_CAPTURED_OUTPUT_CHARS` characters behind a `…(N earlier chars trimmed)`
/// marker. `undefined` when both are empty.
#[napi(
    ts_args_type = "stdout: unknown, stderr: unknown",
    ts_return_type = "string | undefined"
)]
pub fn capture_redacted_output(
    env: &Env,
    stdout: Unknown,
    stderr: Unknown,
) -> napi::Result<Either<String, ()>> {
    guard(env, || {
        let stdout = args::js_string_or_empty(env, stdout)?;
        let stderr = args::js_string_or_empty(env, stderr)?;
        // `undefined`, not `null`, like the reference (napi maps `None` to `null`).
        Ok(match core::capture_redacted_output(&stdout, &stderr) {
            Some(s) => Either::A(s),
            None => Either::B(()),
        })
    })
}

/// A redaction rule, as listed by `listRules()` and `Redactor#rules()`.
#[napi(object)]
pub struct RuleInfo {
    /// Stable name (pass it to `disableRules`).
    pub name: String,
    /// What it masks.
    pub description: String,
    /// Whether the redactor applies it.
    pub enabled: bool,
    /// `builtin` or `custom`.
    #[napi(ts_type = "'builtin' | 'custom'")]
    pub kind: String,
}

fn rule_infos(r: &core::Redactor) -> Vec<RuleInfo> {
    r.rules()
        .into_iter()
        .map(|i| RuleInfo {
            name: i.name,
            description: i.description,
            enabled: i.enabled,
            kind: i.kind.to_string(),
        })
        .collect()
}

/// Every built-in rule of the process-wide redactor.
#[napi]
pub fn list_rules() -> Vec<RuleInfo> {
    rule_infos(core::global())
}

/// `new Redactor(options)`: core's `RedactorOptions` (the same schema, parser and errors
/// as C's `keel_redactor_new`), after taking out `secrets`, which may hold `Uint8Array`s.
fn build_redactor(options: Option<Unknown>) -> Result<core::Redactor> {
    let Some(opts) = args::options_object("options", options)? else {
        return Ok(core::Redactor::new());
    };
    // Only a list holding bytes is taken out; anything else is core's to judge (and word).
    let secrets = match args::field(&opts, "secrets")? {
        Some(v) if holds_bytes(v)? => Some(args::array("options.secrets", v, args::text)?),
        _ => None,
    };
    let skip: &[&str] = if secrets.is_some() { &["secrets"] } else { &[] };
    let parsed: core::RedactorOptions = args::options_as("options", Some(opts.to_unknown()), skip)?;
    let mut b = parsed.into_builder();
    for t in secrets.iter().flatten() {
        b = b.secret(t.as_bytes());
    }
    Ok(b.build()?)
}

/// Whether `v` is an array (of a sane length) with a Buffer / Uint8Array in it.
fn holds_bytes(v: Unknown<'_>) -> Result<bool> {
    if v.get_type()? != napi::ValueType::Object || !v.is_array()? {
        return Ok(false);
    }
    // SAFETY: checked to be an array.
    let arr = unsafe { v.cast::<napi::bindgen_prelude::Array<'_>>() }?;
    if arr.len() > args::MAX_OPTION_ITEMS {
        return Ok(false); // refused by the JSON conversion, before any allocation
    }
    for i in 0..arr.len() {
        let item: Unknown<'_> = arr.get_element(i)?;
        if item.get_type()? == napi::ValueType::Object && item.is_buffer()? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What `Redactor#addSecrets` did with a batch of secrets.
#[napi(object)]
pub struct SecretReport {
    /// Values that were registered.
    pub added: u32,
    /// Values that were already registered.
    pub duplicates: u32,
    /// Values shorter than the minimum length (not registered).
    pub too_short: u32,
    /// Positions in the batch of the too-short values.
    pub too_short_indices: Vec<u32>,
}

impl From<core::SecretReport> for SecretReport {
    fn from(r: core::SecretReport) -> Self {
        SecretReport {
            added: r.added as u32,
            duplicates: r.duplicates as u32,
            too_short: r.too_short as u32,
            too_short_indices: r.too_short_indices.iter().map(|&i| i as u32).collect(),
        }
    }
}

/// A configured redactor: known secrets (with their base64 / percent / JSON
/// encodings) plus shape rules. Instances are independent of the process-wide
/// redactor unless made with `Redactor.global()`.
#[napi]
pub struct Redactor {
    inner: core::Redactor,
}

#[napi]
impl Redactor {
    /// Build a redactor. Throws `KEEL_UNKNOWN_RULE`, `KEEL_INVALID_PATTERN`,
    /// `KEEL_INVALID_RULE_NAME`, `KEEL_INVALID_OPTION` or `KEEL_INVALID_ARGUMENT`.
    #[napi(constructor, ts_args_type = "options?: RedactorOptions")]
    pub fn new(env: &Env, options: Option<Unknown>) -> napi::Result<Self> {
        guard(env, || {
            Ok(Redactor {
                inner: build_redactor(options)?,
            })
        })
    }

    /// The process-wide redactor used by `redact`, `redactSecrets` and
    /// `registerKnownSecrets` (secrets added through it are global).
    #[napi(factory)]
    pub fn global() -> Self {
        Redactor {
            inner: core::global().clone(),
        }
    }

    /// Register a known secret. `false` when it is shorter than the minimum
    /// length or already registered.
    #[napi(
        ts_args_type = "secret: string | Uint8Array",
        ts_return_type = "boolean"
    )]
    pub fn add_secret(&self, env: &Env, secret: Unknown) -> napi::Result<bool> {
        guard(env, || {
            Ok(self
                .inner
                .add_secret(args::text("secret", secret)?.as_bytes()))
        })
    }

    /// Register a credential blob and, when it is JSON, each string leaf of at
    /// least 12 characters. Returns how many values were new.
    #[napi(ts_args_type = "blob: string", ts_return_type = "number")]
    pub fn add_json_secret(&self, env: &Env, blob: Unknown) -> napi::Result<u32> {
        guard(env, || {
            Ok(self.inner.add_json_secret(&args::string("blob", blob)?) as u32)
        })
    }

    /// Redact a string (returns a string) or a Buffer / Uint8Array (returns a new
    /// Buffer; invalid UTF-8 passes through untouched).
    #[napi(
        ts_args_type = "input: string | Uint8Array",
        ts_return_type = "string | Buffer"
    )]
    pub fn redact<'e>(
        &self,
        env: &'e Env,
        input: Unknown<'e>,
    ) -> napi::Result<Either<Unknown<'e>, Buffer>> {
        guard(env, || {
            if input.get_type()? == napi::ValueType::String {
                return Ok(Either::A(redact_js_string(env, input, &self.inner, &[])?));
            }
            Ok(match args::text("input", input)? {
                Text::Str(s) => {
                    let out = redacted(s, |s| self.inner.redact_str(s));
                    fits_in_a_js_string(utf16_len(out.as_bytes()))?;
                    Either::A(env.create_string(out)?.to_unknown())
                }
                Text::Bytes(b) => Either::B(Buffer::from(self.inner.redact_bytes(&b).into_owned())),
            })
        })
    }

    /// Register several secrets and say what happened to them: how many were new,
    /// already registered or shorter than the minimum length (with the positions
    /// of the short ones; values are never echoed).
    #[napi(
        ts_args_type = "secrets: ReadonlyArray<string | Uint8Array>",
        ts_return_type = "SecretReport"
    )]
    pub fn add_secrets(&self, env: &Env, secrets: Unknown) -> napi::Result<SecretReport> {
        guard(env, || {
            let values = args::array("secrets", secrets, args::text)?;
            let report = self
                .inner
                .add_secrets_report(values.iter().map(|t| t.as_bytes()));
            Ok(SecretReport::from(report))
        })
    }

    /// How many secrets this redactor refused so far for being shorter than the
    /// minimum length (including `options.secrets` and `registerKnownSecrets`
    /// values on the global redactor).
    #[napi(getter)]
    pub fn short_secrets_ignored(&self) -> u32 {
        self.inner.short_secrets_ignored() as u32
    }

    /// Number of registered secrets (not counting their encoded forms).
    #[napi(getter)]
    pub fn secret_count(&self) -> u32 {
        self.inner.secret_count() as u32
    }

    /// Every rule with whether this redactor applies it.
    #[napi]
    pub fn rules(&self) -> Vec<RuleInfo> {
        rule_infos(&self.inner)
    }

    /// A streaming redactor sharing this redactor's secrets and rules.
    #[napi]
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            inner: self.inner.stream(),
        }
    }
}

/// Incremental redaction of a byte stream; the output equals one-shot redaction
/// of the concatenated input for every chunking. Made by `Redactor#stream()` or
/// `new StreamRedactor(redactor?)`; `createRedactStream()` wraps one in a
/// `stream.Transform`.
#[napi]
pub struct StreamRedactor {
    inner: core::StreamRedactor,
}

#[napi]
impl StreamRedactor {
    /// A stream over `redactor`, or over the process-wide redactor (the one
    /// `redactSecrets` and `registerKnownSecrets` use) when none is given.
    #[napi(constructor, ts_args_type = "redactor?: Redactor")]
    pub fn new(env: &Env, redactor: Option<Unknown>) -> napi::Result<Self> {
        guard(env, || {
            let inner = match args::present(redactor)? {
                Some(v) => args::instance::<Redactor>("redactor", "a Redactor", v)?
                    .inner
                    .stream(),
                None => core::global().stream(),
            };
            Ok(StreamRedactor { inner })
        })
    }

    /// Feed a chunk; returns the redacted output that is final so far (may be empty).
    #[napi(ts_args_type = "chunk: string | Uint8Array", ts_return_type = "Buffer")]
    pub fn write(&mut self, env: &Env, chunk: Unknown) -> napi::Result<Buffer> {
        guard(env, || {
            let chunk = args::text("chunk", chunk)?;
            let mut out = Vec::new();
            self.inner.write(chunk.as_bytes(), &mut out);
            Ok(Buffer::from(out))
        })
    }

    /// Emit every held-back byte that cannot start a secret (call when input has
    /// been idle for a while).
    #[napi]
    pub fn flush(&mut self, env: &Env) -> napi::Result<Buffer> {
        guard(env, || {
            let mut out = Vec::new();
            self.inner.flush(&mut out);
            Ok(Buffer::from(out))
        })
    }

    /// End of input: emit the rest. The stream can be reused afterwards.
    #[napi]
    pub fn finish(&mut self, env: &Env) -> napi::Result<Buffer> {
        guard(env, || {
            let mut out = Vec::new();
            self.inner.finish(&mut out);
            Ok(Buffer::from(out))
        })
    }

    /// Bytes received but not yet emitted.
    #[napi(getter)]
    pub fn pending(&self) -> u32 {
        self.inner.pending() as u32
    }
}
