//! Credentials: `EnrollmentStore` (the reference's `AgentEnrollmentKeyringStore`)
//! and `CredentialFileStore`, over `keel_core::credentials`.
//!
//! Every method that touches the keyring or the disk returns a Promise: the
//! blocking core call runs on the libuv thread pool (an `AsyncTask`), never on the
//! JavaScript thread. Failures reject with an `Error` (a `TypeError` for an
//! argument of the wrong type) whose `code` is a stable `KEEL_*` string.

use std::sync::Arc;

use keel_core::credentials::{
    self as core, CredentialError, EnrollmentRecord, EnrollmentStoreOptions, MirrorRead, Secret,
};
use napi::bindgen_prelude::{
    AsyncTask, Function, JsObjectValue, Object, ToNapiValue, TypeName, Unknown,
};
use napi::{sys, Env, JsValue, Status, Task, ValueType};
use napi_derive::napi;

use crate::args;
use crate::error::{code, ErrorKind, KeelError};

/// A failure on its way to a rejected Promise (`Send`, unlike `KeelError`).
struct Fail {
    kind: ErrorKind,
    code: &'static str,
    message: String,
}

impl From<CredentialError> for Fail {
    fn from(e: CredentialError) -> Self {
        let (kind, code) = match &e {
            CredentialError::InvalidInput { .. } => (ErrorKind::TypeError, code::INVALID_ARGUMENT),
            other => (ErrorKind::Error, other.code()),
        };
        let message = match &e {
            CredentialError::InvalidInput { field, reason } => format!("{field} {reason}"),
            other => other.to_string(),
        };
        Fail {
            kind,
            code,
            message,
        }
    }
}

impl From<KeelError> for Fail {
    fn from(e: KeelError) -> Self {
        match e {
            KeelError::Js {
                kind,
                code,
                message,
            } => Fail {
                kind,
                code,
                message,
            },
            KeelError::Napi(e) => Fail {
                kind: ErrorKind::Error,
                code: code::INTERNAL,
                message: e.reason.clone(),
            },
        }
    }
}

/// What a credentials task resolves with.
pub enum Answer {
    /// JSON text, parsed with `JSON.parse` on the JavaScript thread.
    Json(String),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(&'static str),
    /// `undefined`.
    Undefined,
}

impl TypeName for Answer {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl ToNapiValue for Answer {
    unsafe fn to_napi_value(raw: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let env = Env::from_raw(raw);
        match val {
            Answer::Json(text) => {
                let json: Object<'_> = env.get_global()?.get_named_property("JSON")?;
                let parse: Function<'_, String, Unknown<'_>> = json.get_named_property("parse")?;
                Ok(parse.call(text)?.raw())
            }
            Answer::Bool(b) => bool::to_napi_value(raw, b),
            Answer::Str(s) => <&str>::to_napi_value(raw, s),
            Answer::Undefined => <()>::to_napi_value(raw, ()),
        }
    }
}

type Work = Box<dyn FnOnce() -> Result<Answer, Fail> + Send>;

/// A blocking core call on the libuv thread pool. An argument error found before
/// the call is carried in `failure`, so it rejects the Promise like any other.
pub struct CredTask {
    work: Option<Work>,
    failure: Option<Fail>,
}

impl CredTask {
    fn new(work: impl FnOnce() -> Result<Answer, Fail> + Send + 'static) -> AsyncTask<CredTask> {
        AsyncTask::new(CredTask {
            work: Some(Box::new(work)),
            failure: None,
        })
    }

    fn failed(f: Fail) -> AsyncTask<CredTask> {
        AsyncTask::new(CredTask {
            work: None,
            failure: Some(f),
        })
    }

    /// `work` with the arguments `prepare` converts, or a rejected task.
    fn with<A: Send + 'static>(
        prepare: impl FnOnce() -> Result<A, KeelError>,
        work: impl FnOnce(A) -> Result<Answer, Fail> + Send + 'static,
    ) -> AsyncTask<CredTask> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(prepare)) {
            Ok(Ok(a)) => CredTask::new(move || work(a)),
            Ok(Err(e)) => CredTask::failed(e.into()),
            Err(_) => CredTask::failed(panic_fail()),
        }
    }
}

fn panic_fail() -> Fail {
    Fail {
        kind: ErrorKind::Error,
        code: code::PANIC,
        message: "internal error: keel panicked (this is a bug)".into(),
    }
}

impl Task for CredTask {
    type Output = Answer;
    type JsValue = Answer;

    fn compute(&mut self) -> napi::Result<Answer> {
        let outcome = match self.work.take() {
            Some(work) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(panic_fail())),
            None => Err(self.failure.take().unwrap_or_else(panic_fail)),
        };
        outcome.map_err(|f| {
            self.failure = Some(f);
            napi::Error::new(Status::GenericFailure, "keel credentials call failed")
        })
    }

    fn resolve(&mut self, _env: Env, output: Answer) -> napi::Result<Answer> {
        Ok(output)
    }

    fn reject(&mut self, env: Env, err: napi::Error) -> napi::Result<Answer> {
        let Some(f) = self.failure.take() else {
            return Err(err);
        };
        // Messages name fields, keys, paths and URLs, never a secret; scrub anyway.
        let message = keel_core::redact::redact_secrets(&f.message).replace('\0', "\u{FFFD}");
        let ctor_name = match f.kind {
            ErrorKind::Error => "Error",
            ErrorKind::TypeError => "TypeError",
            ErrorKind::RangeError => "RangeError",
        };
        let ctor: Function<'_, String, Unknown<'_>> =
            env.get_global()?.get_named_property(ctor_name)?;
        let error = ctor.new_instance(message)?;
        // SAFETY: a constructor's result is an object.
        let mut obj = unsafe { error.cast::<Object<'_>>() }?;
        obj.set_named_property("code", f.code)?;
        Err(napi::Error::from(error))
    }
}

/// Which record field was wrong, as `creds.<field> <reason>`.
fn record_fail(e: CredentialError) -> Fail {
    match e {
        CredentialError::InvalidInput { field, reason } => Fail {
            kind: ErrorKind::TypeError,
            code: code::INVALID_ARGUMENT,
            message: format!("creds.{field} {reason}"),
        },
        other => other.into(),
    }
}

/// A JavaScript `AgentEnrollmentCredentials` object → a record (validated later,
/// off the JavaScript thread). Errors name the field and the type received.
fn record_arg(v: Option<Unknown<'_>>) -> Result<EnrollmentRecord, KeelError> {
    let v = args::present(v)?
        .ok_or_else(|| KeelError::invalid_type("creds", "an object", "undefined"))?;
    let obj = args::object("creds", v)?;
    let text = |name: &str| -> Result<String, KeelError> {
        args::string_field(&obj, "creds", name)?.ok_or_else(|| {
            KeelError::invalid_type(&format!("creds.{name}"), "a string", "undefined")
        })
    };
    let jwt = Secret::new(text("jwt")?);
    let exp = match args::field(&obj, "jwtExpiresAtUnix")? {
        None => {
            return Err(KeelError::invalid_type(
                "creds.jwtExpiresAtUnix",
                "a number",
                "undefined",
            ))
        }
        Some(v) if v.get_type()? == ValueType::Number => {
            // SAFETY: checked to be a number.
            let n = unsafe { v.cast::<f64>() }?;
            if !n.is_finite() || n.abs() >= 9.0e18 {
                return Err(KeelError::range_error(
                    code::INVALID_ARGUMENT,
                    "creds.jwtExpiresAtUnix must be a finite number of seconds",
                ));
            }
            n.trunc() as i64
        }
        Some(v) => {
            return Err(KeelError::invalid_type(
                "creds.jwtExpiresAtUnix",
                "a number",
                args::type_name(&v)?,
            ))
        }
    };
    Ok(EnrollmentRecord {
        jwt,
        jwt_expires_at_unix: exp,
        agent_id: text("agentId")?,
        tenant_id: text("tenantId")?,
        platform_url: text("platformUrl")?,
    })
}

/// Serialized JSON → an answer (parsed into a JavaScript value on resolve).
fn to_json(text: serde_json::Result<String>) -> Result<Answer, Fail> {
    text.map(Answer::Json).map_err(|e| Fail {
        kind: ErrorKind::Error,
        code: code::INTERNAL,
        message: format!("cannot serialize the answer ({e})"),
    })
}

/// `new EnrollmentStore(options)`: core's `EnrollmentStoreOptions` (the same schema,
/// parser and errors as C's `keel_enrollment_store_new`), after taking out `fileStore`
/// (a class instance, or `null`), which JSON cannot carry.
fn store_options(options: Option<Unknown<'_>>) -> Result<EnrollmentStoreOptions, KeelError> {
    let Some(obj) = args::options_object("options", options)? else {
        return Ok(EnrollmentStoreOptions::default());
    };
    let file_store: Unknown<'_> = obj.get_named_property("fileStore")?;
    let mut o: EnrollmentStoreOptions =
        args::options_as("options", Some(obj.to_unknown()), &["fileStore"])?;
    // fileStore: null disables the mirror; a CredentialFileStore names it.
    match file_store.get_type()? {
        ValueType::Undefined => {}
        ValueType::Null => o.mirror = false,
        _ => {
            let fs = args::instance::<CredentialFileStore>(
                "options.fileStore",
                "a CredentialFileStore or null",
                file_store,
            )?;
            if o.mirror_path.is_some() {
                return Err(KeelError::type_error(
                    code::INVALID_ARGUMENT,
                    "options.fileStore and options.mirrorPath both name the mirror; give one",
                ));
            }
            o.mirror_path = Some(fs.inner.path().to_path_buf());
        }
    }
    Ok(o)
}

/// The agent's enrollment credentials: the OS keyring as the source of truth plus
/// a `0600` file mirror a background daemon can read. A drop-in for the
/// reference's `AgentEnrollmentKeyringStore`: `write`, `readJwt`, `readAll`,
/// `hasEnrollment`, `assertPlatformUrlMatches`, `clear`; keel adds `diagnose`, and
/// its answers add `source` (`'keyring'` or `'fileMirror'`) and `notes`.
///
/// Errors reject with `code`: `KEEL_NOT_ENROLLED`, `KEEL_PLATFORM_URL_MISMATCH`,
/// `KEEL_INSECURE_FILE`, `KEEL_KEYRING_UNAVAILABLE`, `KEEL_KEYRING_TIMEOUT`,
/// `KEEL_KEYRING_ERROR`, `KEEL_LOCK_TIMEOUT`, `KEEL_IO`, `KEEL_INVALID_ARGUMENT`.
#[napi]
pub struct EnrollmentStore {
    inner: Arc<core::EnrollmentStore>,
}

#[napi]
impl EnrollmentStore {
    /// Options (all optional): `service` (keyring service name, default `appName`),
    /// `appName` (default `'keel'`; the default mirror is `~/.<appName>/agent-enrollment.cred`),
    /// `keyPrefix` (default `'agent-enrollment.'`), `mirrorPath`, `store`
    /// (`'keyring'` default, or `'memory'`: in-process, and without `mirrorPath` /
    /// `fileStore` no mirror, like the reference with an injected store),
    /// `keyring` (`'platform'`, `'keyutils'`, …), `fileStore` (`null` disables the
    /// mirror; a `CredentialFileStore` names it), `mirror` (`false` disables it),
    /// `keyringTimeoutMs`, `lockTimeoutMs`. Throws `KEEL_INVALID_ARGUMENT` or
    /// `KEEL_KEYRING_UNAVAILABLE`.
    #[napi(
        constructor,
        ts_args_type = "options?: EnrollmentStoreOptions & { fileStore?: CredentialFileStore | null }"
    )]
    pub fn new(env: &Env, options: Option<Unknown>) -> napi::Result<Self> {
        crate::error::guard(env, || {
            let options = store_options(options)?;
            let inner = core::EnrollmentStore::from_options(options).map_err(|e| {
                let prefixed = matches!(e, CredentialError::InvalidInput { .. });
                let f = Fail::from(e);
                KeelError::Js {
                    kind: f.kind,
                    code: f.code,
                    message: if prefixed {
                        format!("options.{}", f.message)
                    } else {
                        f.message
                    },
                }
            })?;
            Ok(EnrollmentStore {
                inner: Arc::new(inner),
            })
        })
    }

    /// The mirror file's path, or `null` when the mirror is off.
    #[napi(getter)]
    pub fn mirror_path(&self) -> Option<String> {
        self.inner.mirror_path().map(|p| p.display().to_string())
    }

    /// The keyring backend in use (`'keyutils'`, `'memory'`, …).
    #[napi(getter)]
    pub fn keyring_backend(&self) -> &'static str {
        self.inner.keyring_backend()
    }

    /// Store the credentials: the keyring first, then the mirror. A keyring
    /// failure rejects (and removes the keys this call wrote); a mirror failure
    /// does not: it is listed in `warnings`.
    #[napi(
        ts_args_type = "creds: { jwt: string; jwtExpiresAtUnix: number; agentId: string; tenantId: string; platformUrl: string }",
        ts_return_type = "Promise<{ keyringBackend: string; keyringKeysWritten: string[]; mirrorPath: string | null; mirrorWritten: boolean; warnings: Array<{ severity: 'error' | 'warning' | 'info'; code: string; message: string; fix: string | null }> }>"
    )]
    pub fn write(&self, creds: Option<Unknown>) -> AsyncTask<CredTask> {
        let store = self.inner.clone();
        CredTask::with(
            || record_arg(creds),
            move |record| {
                record.validate().map_err(record_fail)?;
                let report = store.write(&record)?;
                to_json(serde_json::to_string(&report))
            },
        )
    }

    /// The JWT and its expiry (`{ jwt, expiresAtUnix }`, plus `source` and
    /// `notes`): from the keyring, else the mirror. Rejects `KEEL_NOT_ENROLLED`.
    #[napi(
        ts_return_type = "Promise<{ jwt: string; expiresAtUnix: number; source: 'keyring' | 'fileMirror'; notes: string[] }>"
    )]
    pub fn read_jwt(&self) -> AsyncTask<CredTask> {
        let store = self.inner.clone();
        CredTask::new(move || to_json(serde_json::to_string(&store.read_jwt()?.to_flat_json())))
    }

    /// The whole record, plus `source` and `notes`: from the keyring when it holds
    /// all five entries, else the mirror. Rejects `KEEL_NOT_ENROLLED`.
    #[napi(
        ts_return_type = "Promise<{ jwt: string; jwtExpiresAtUnix: number; agentId: string; tenantId: string; platformUrl: string; source: 'keyring' | 'fileMirror'; notes: string[] }>"
    )]
    pub fn read_all(&self) -> AsyncTask<CredTask> {
        let store = self.inner.clone();
        CredTask::new(move || to_json(serde_json::to_string(&store.read_all()?.to_flat_json())))
    }

    /// Whether a JWT is in the keyring or a usable record in the mirror. Rejects
    /// (rather than answering `false`) when the mirror is refused as insecure.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn has_enrollment(&self) -> AsyncTask<CredTask> {
        let store = self.inner.clone();
        CredTask::new(move || Ok(Answer::Bool(store.has_enrollment()?)))
    }

    /// Reject `KEEL_PLATFORM_URL_MISMATCH` when the stored platform URL is not
    /// `currentPlatformUrl` (after normalising case, default ports and a trailing
    /// slash). Resolves with where the stored URL came from.
    #[napi(
        ts_args_type = "currentPlatformUrl: string",
        ts_return_type = "Promise<'keyring' | 'fileMirror'>"
    )]
    pub fn assert_platform_url_matches(
        &self,
        current_platform_url: Option<Unknown>,
    ) -> AsyncTask<CredTask> {
        let store = self.inner.clone();
        CredTask::with(
            || {
                let v = args::present(current_platform_url)?.ok_or_else(|| {
                    KeelError::invalid_type("currentPlatformUrl", "a string", "undefined")
                })?;
                args::string("currentPlatformUrl", v)
            },
            move |url| {
                let source = store
                    .assert_platform_url_matches(&url)
                    .map_err(|e| match e {
                        CredentialError::InvalidInput { reason, .. } => Fail {
                            kind: ErrorKind::TypeError,
                            code: code::INVALID_ARGUMENT,
                            message: format!("currentPlatformUrl {reason}"),
                        },
                        other => other.into(),
                    })?;
                Ok(Answer::Str(source.as_str()))
            },
        )
    }

    /// Remove every keyring entry and the mirror. Idempotent. Resolves with what
    /// was removed; what could not be is in `problems`.
    #[napi(
        ts_return_type = "Promise<{ keyringKeysRemoved: string[]; mirrorRemoved: boolean; tempFilesRemoved: string[]; problems: Array<{ severity: 'error' | 'warning' | 'info'; code: string; message: string; fix: string | null }> }>"
    )]
    pub fn clear(&self) -> AsyncTask<CredTask> {
        let store = self.inner.clone();
        CredTask::new(move || to_json(serde_json::to_string(&store.clear()?)))
    }

    /// A health report for a doctor command (never a secret value): keyring
    /// fields, the mirror's mode / owner / validity, where reads resolve, whether
    /// both stores agree, the JWT's expiry, and every problem with a fix.
    #[napi(
        ts_return_type = "Promise<{ checkedAtMs: number; keyring: { backend: string; service: string; answered: boolean; errorCode: string | null; error: string | null; fields: Array<{ field: string; key: string | null; present: boolean | null }> }; mirror: { enabled: boolean; path: string | null; exists: boolean; mode: string | null; valid: boolean; invalidReason: string | null; [key: string]: unknown }; resolvedFrom: 'keyring' | 'fileMirror' | null; inSync: boolean | null; jwt: { source: 'keyring' | 'fileMirror'; expiresAtUnix: number; expiresAtMs: number; timeLeftMs: number; expired: boolean; expClaimUnix: number | null; decodeError: string | null } | null; problems: Array<{ severity: 'error' | 'warning' | 'info'; code: string; message: string; fix: string | null }> }>"
    )]
    pub fn diagnose(&self) -> AsyncTask<CredTask> {
        let store = self.inner.clone();
        CredTask::new(move || to_json(serde_json::to_string(&store.diagnose())))
    }
}

/// The `0600` JSON mirror file on its own: a drop-in for the reference's
/// `CredentialFileStore` (`path`, `write`, `read` → record or `null`, `delete`),
/// in the same format, written atomically (temp file, fsync, rename) under a lock.
///
/// One deliberate difference: a mirror that others can read (or a symlink, or
/// another user's file) is refused — `read` rejects with `KEEL_INSECURE_FILE`
/// and the fix — where the reference would read it. Absent or malformed files
/// read as `null`, as in the reference.
#[napi]
pub struct CredentialFileStore {
    inner: core::CredentialFileStore,
}

#[napi]
impl CredentialFileStore {
    /// `path`: the file; or `homeDir` (default: the user's home) and `appName`
    /// (default `'keel'`): `<homeDir>/.<appName>/agent-enrollment.cred`.
    #[napi(constructor, ts_args_type = "options?: CredentialFileOptions")]
    pub fn new(env: &Env, options: Option<Unknown>) -> napi::Result<Self> {
        crate::error::guard(env, || {
            let o: core::CredentialFileOptions = args::options_as("options", options, &[])?;
            let inner = o.into_store().map_err(|e| match e {
                CredentialError::InvalidInput { field, reason } => KeelError::type_error(
                    code::INVALID_ARGUMENT,
                    format!("options.{field} {reason}"),
                ),
                other => {
                    let f = Fail::from(other);
                    KeelError::Js {
                        kind: f.kind,
                        code: f.code,
                        message: f.message,
                    }
                }
            })?;
            Ok(CredentialFileStore { inner })
        })
    }

    /// Absolute path of the credential file.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.inner.path().display().to_string()
    }

    /// Write the file atomically with mode `0600` (directory `0700`).
    #[napi(
        ts_args_type = "creds: { jwt: string; jwtExpiresAtUnix: number; agentId: string; tenantId: string; platformUrl: string }",
        ts_return_type = "Promise<void>"
    )]
    pub fn write(&self, creds: Option<Unknown>) -> AsyncTask<CredTask> {
        let file = self.inner.clone();
        CredTask::with(
            || record_arg(creds),
            move |record| {
                record.validate().map_err(record_fail)?;
                file.write(&record)?;
                Ok(Answer::Undefined)
            },
        )
    }

    /// The record, or `null` when the file is absent or malformed. Rejects
    /// `KEEL_INSECURE_FILE` when others can read it.
    #[napi(
        ts_return_type = "Promise<{ jwt: string; jwtExpiresAtUnix: number; agentId: string; tenantId: string; platformUrl: string } | null>"
    )]
    pub fn read(&self) -> AsyncTask<CredTask> {
        let file = self.inner.clone();
        CredTask::new(move || match file.read()? {
            MirrorRead::Valid { record, .. } => to_json(serde_json::to_string(&record)),
            _ => Ok(Answer::Json("null".into())),
        })
    }

    /// Delete the file (and its temp and lock files). Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn delete(&self) -> AsyncTask<CredTask> {
        let file = self.inner.clone();
        CredTask::new(move || {
            file.delete()?;
            Ok(Answer::Undefined)
        })
    }
}
