//! Error mapping shared by every capability of the addon.
//!
//! Every error that reaches JavaScript is a real `Error` (or `TypeError` /
//! `RangeError`) whose `code` property is a stable `KEEL_*` string and whose
//! message has been passed through [`keel_core::redact::redact_secrets`].
//!
//! A capability file builds a [`KeelError`] (directly, through `From` for its core
//! error enum, or through the argument helpers in [`crate::args`]) and runs its
//! body inside [`guard`], which throws the error (and turns a panic into
//! `KEEL_PANIC` instead of an abort):
//!
//! ```ignore
//! #[napi(ts_args_type = "input: string", ts_return_type = "string")]
//! pub fn thing(env: &Env, input: Unknown) -> napi::Result<String> {
//!     guard(env, || {
//!         let input = args::string("input", input)?;
//!         Ok(core::thing(&input)?) // core error enum: `impl From<CoreError> for KeelError`
//!     })
//! }
//! ```

use std::fmt;

use napi::{Env, Status};

/// Stable `code` strings: core's one vocabulary ([`keel_core::codes`]), which the
/// C ABI names identically. Tests and callers match on these, so never rename one.
pub mod code {
    pub use keel_core::codes::{
        INTERNAL, INVALID_ARGUMENT, INVALID_OPTION, INVALID_PATTERN, INVALID_RULE_NAME, PANIC,
        RESULT_TOO_LARGE, SPAWN_FAILED, UNKNOWN_RULE,
    };
}

/// Every error `code` keel can throw (core's vocabulary, the same names as the C
/// ABI's `keel_result` values, `KEEL_OK` aside).
#[napi_derive::napi]
pub fn error_codes() -> Vec<&'static str> {
    keel_core::codes::ALL
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| *c != keel_core::codes::OK)
        .collect()
}

/// Which JavaScript error constructor is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// `Error`
    Error,
    /// `TypeError`: an argument of the wrong type.
    TypeError,
    /// `RangeError`: a number out of range.
    RangeError,
}

/// An error on its way to JavaScript.
pub enum KeelError {
    /// A keel error: thrown as `kind` with `code` and a redacted `message`.
    Js {
        /// The constructor.
        kind: ErrorKind,
        /// One of [`code`].
        code: &'static str,
        /// Human-readable text (redacted again when thrown).
        message: String,
    },
    /// An N-API failure. A JavaScript exception that is already pending (a
    /// throwing getter on an options object, say) propagates unchanged.
    Napi(napi::Error),
}

impl fmt::Debug for KeelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeelError::Js {
                kind,
                code,
                message,
            } => f
                .debug_struct("KeelError")
                .field("kind", kind)
                .field("code", code)
                .field("message", &keel_core::redact::redact_secrets(message))
                .finish(),
            KeelError::Napi(e) => f.debug_tuple("Napi").field(&e.status).finish(),
        }
    }
}

impl KeelError {
    /// A plain `Error` with `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        KeelError::Js {
            kind: ErrorKind::Error,
            code,
            message: message.into(),
        }
    }

    /// A `TypeError` with `code`.
    pub fn type_error(code: &'static str, message: impl Into<String>) -> Self {
        KeelError::Js {
            kind: ErrorKind::TypeError,
            code,
            message: message.into(),
        }
    }

    /// A `RangeError` with `code`.
    pub fn range_error(code: &'static str, message: impl Into<String>) -> Self {
        KeelError::Js {
            kind: ErrorKind::RangeError,
            code,
            message: message.into(),
        }
    }

    /// `TypeError` `KEEL_INVALID_ARGUMENT`: "`{what}` must be {expected} (got {got})".
    /// `got` is a type name, never the value (it may be a secret).
    pub fn invalid_type(what: &str, expected: &str, got: &str) -> Self {
        Self::type_error(
            code::INVALID_ARGUMENT,
            format!("{what} must be {expected} (got {got})"),
        )
    }

    /// The error's `code` (`KEEL_INTERNAL` for an N-API failure).
    pub fn code(&self) -> &'static str {
        match self {
            KeelError::Js { code, .. } => code,
            KeelError::Napi(_) => code::INTERNAL,
        }
    }

    /// Throw this error in `env` and return the marker that makes the napi-rs
    /// glue leave the pending exception alone.
    pub fn throw(self, env: &Env) -> napi::Error {
        let (kind, code, message) = match self {
            KeelError::Js {
                kind,
                code,
                message,
            } => (kind, code, message),
            KeelError::Napi(e) if e.status == Status::PendingException => return e,
            KeelError::Napi(e) => (ErrorKind::Error, code::INTERNAL, e.reason.clone()),
        };
        // Messages may quote caller input (a rule name, a regex); scrub them.
        let message = keel_core::redact::redact_secrets(&message).replace('\0', "\u{FFFD}");
        let thrown = match kind {
            ErrorKind::Error => env.throw_error(&message, Some(code)),
            ErrorKind::TypeError => env.throw_type_error(&message, Some(code)),
            ErrorKind::RangeError => env.throw_range_error(&message, Some(code)),
        };
        match thrown {
            Ok(()) => napi::Error::new(Status::PendingException, message),
            // Could not throw (the environment is shutting down): let the glue try.
            Err(_) => napi::Error::new(Status::GenericFailure, message),
        }
    }
}

impl From<napi::Error> for KeelError {
    fn from(e: napi::Error) -> Self {
        KeelError::Napi(e)
    }
}

impl From<keel_core::redact::RedactError> for KeelError {
    fn from(e: keel_core::redact::RedactError) -> Self {
        KeelError::new(e.code(), e.to_string())
    }
}

/// An exception thrown by caller JavaScript that napi-rs caught (a `toString`
/// that throws, say): throw it again unchanged, so the caller sees its own error.
pub fn rethrow(env: &Env, e: napi::Error) -> KeelError {
    if e.status == Status::PendingException {
        return KeelError::Napi(e);
    }
    let reason = e.reason.clone();
    match env.throw(e) {
        Ok(()) => KeelError::Napi(napi::Error::new(Status::PendingException, reason)),
        Err(e) => KeelError::Napi(e),
    }
}

/// Result of the conversion helpers and capability internals.
pub type Result<T> = std::result::Result<T, KeelError>;

/// Run a capability body: its `Err` and any panic (as `KEEL_PANIC`, the code a
/// panic has on every surface) become a
/// thrown JavaScript error. Every `#[napi]` function body goes through this.
pub fn guard<T>(env: &Env, body: impl FnOnce() -> Result<T>) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(result) => result.or_throw(env),
        Err(_) => Err(
            KeelError::new(code::PANIC, "internal error: keel panicked (this is a bug)").throw(env),
        ),
    }
}

/// Converts a [`Result`] into what a `#[napi]` function returns, throwing the
/// error as a coded JavaScript error.
pub trait OrThrow<T> {
    /// Throw `Err` in `env` (see [`KeelError::throw`]).
    fn or_throw(self, env: &Env) -> napi::Result<T>;
}

impl<T, E: Into<KeelError>> OrThrow<T> for std::result::Result<T, E> {
    fn or_throw(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| e.into().throw(env))
    }
}
