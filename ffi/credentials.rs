//! Credentials: `keel_enrollment_store`, the keyring-first, file-mirror-second
//! store of an agent's enrollment, over `keel_core::credentials`.
//!
//! Records cross as JSON in the reference's camelCase shape (also the mirror
//! file's format):
//!
//! ```json
//! {"jwt":"eyJ…","jwtExpiresAtUnix":1767225600,"agentId":"agent-1",
//!  "tenantId":"tenant-1","platformUrl":"https://platform.example.com"}
//! ```
//!
//! Reads add `"source"` (`"keyring"` or `"fileMirror"`) and `"notes"` (why the
//! mirror answered, tolerated oddities; never a secret value).

use std::ffi::c_char;

use keel_core::credentials::{
    CredentialError, EnrollmentRecord, EnrollmentStore, EnrollmentStoreOptions,
};
use serde_json::Value;

use crate::args::{str_in, Out};
use crate::error::{boundary, keel_result, quiet_boundary, Error, Result};
use crate::handle::Registry;
use crate::json;
use crate::string::{keel_string, new_string};

/// An enrollment store: the OS keyring (or an in-memory store) as the source of
/// truth, plus a `0600` JSON file mirror that a background daemon can read.
///
/// Made by `keel_enrollment_store_new`, released by `keel_enrollment_store_free`.
/// Thread-safe: every function may be called on the same store from any thread at
/// once; operations on one mirror path are serialised across threads and processes
/// by the mirror's lock file. Calls block, bounded by the keyring timeout
/// (`keyringTimeoutMs`) and the lock timeout (`lockTimeoutMs`).
pub struct keel_enrollment_store {
    inner: EnrollmentStore,
}

static STORES: Registry<keel_enrollment_store> = Registry::new("keel_enrollment_store");

/// Map a credentials error to a result code. `path` names the JSON argument
/// (`"options"`, `"creds"`) that `InvalidInput` fields belong to; `None` when the
/// invalid input is a plain argument.
fn credential_error(e: CredentialError, path: Option<&str>) -> Error {
    if let CredentialError::InvalidInput { field, reason } = &e {
        // `<path>.<field> <reason>`: no `:` after a name (see `Error`).
        return match path {
            Some(p) if field == "record" || field == "options" => {
                let is = if reason.starts_with("not ") {
                    "is "
                } else {
                    ""
                };
                Error::invalid_json(format!("{p} {is}{reason}"))
            }
            Some(p) => Error::invalid_json(format!("{p}.{field} {reason}")),
            None => Error::invalid_argument(format!("{field} {reason}")),
        };
    }
    Error::coded(e.code(), e.to_string())
}

/// Options JSON → core's options type, with errors that name the field.
fn parse_options(text: &str) -> Result<EnrollmentStoreOptions> {
    json::options(text, "options_json", "options")
}

/// The JWT a record JSON carries, if any: masked in every error message of the call.
fn jwt_in(text: &str) -> Vec<String> {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("jwt").and_then(Value::as_str).map(str::to_owned))
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
}

/// Make an enrollment store from `options_json` (UTF-8, `options_json_len` bytes;
/// empty, `"null"` or `"{}"` for the defaults). Every field is optional:
///
/// * `"appName"`: default keyring service name and mirror directory `~/.<appName>/`
///   (default `"keel"`);
/// * `"serviceName"`: the keyring service name (default: `appName`);
/// * `"keyPrefix"`: prefix of the five keyring keys (default `"agent-enrollment."`);
/// * `"mirror"`: keep the file mirror (default `true`);
/// * `"mirrorPath"`: the mirror file (default `~/.<appName>/agent-enrollment.cred`);
/// * `"keyring"`: `"platform"` (default: keyutils on Linux, the Keychain on macOS,
///   Credential Manager on Windows), `"keyutils"`, `"secretService"`,
///   `"macosKeychain"`, `"windowsCredentialManager"` or `"memory"` (in-process
///   only: nothing but the mirror outlives the store);
/// * `"keyringTimeoutMs"`: timeout of each keyring call (default 5000, > 0);
/// * `"lockTimeoutMs"`: how long to wait for the mirror's lock (default 10000).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_JSON`
/// (malformed, wrong type, unknown field or invalid value: the message names the
/// field), `KEEL_KEYRING_UNAVAILABLE` (the backend does not exist on this platform
/// or in this build). On success `*out` is a new store, to be released with
/// `keel_enrollment_store_free`.
///
/// # Safety
/// `options_json` must point to `options_json_len` readable bytes (or be NULL with
/// length 0); `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_enrollment_store_new(
    options_json: *const c_char,
    options_json_len: usize,
    out: *mut *mut keel_enrollment_store,
) -> keel_result {
    boundary("keel_enrollment_store_new", || {
        let out = Out::new(out, "out")?;
        let text = str_in(options_json, options_json_len, "options_json")?;
        let options = parse_options(text)?;
        let inner = EnrollmentStore::from_options(options)
            .map_err(|e| credential_error(e, Some("options")))?;
        out.write(STORES.insert(keel_enrollment_store { inner }));
        Ok(())
    })
}

/// Release a store. NULL is fine, and so is a pointer already freed (it is
/// ignored). Never fails. The stored credentials are not touched (see
/// `keel_enrollment_store_clear`).
#[no_mangle]
pub extern "C" fn keel_enrollment_store_free(store: *mut keel_enrollment_store) {
    quiet_boundary(|| STORES.remove(store));
}

/// Store an enrollment record (`creds_json`, UTF-8: the five fields above, all
/// required; `jwt`, `agentId`, `tenantId` and `platformUrl` non-empty strings,
/// `jwtExpiresAtUnix` a number of seconds since the epoch). The keyring is written
/// first (the source of truth), then the mirror. If a keyring write fails, the
/// keys this call already wrote are removed and the error is returned. A mirror
/// failure does not fail the call: it is reported in the report's `warnings`.
///
/// `report_json` is optional (may be NULL); on success it receives
/// `{"keyringBackend":"keyutils","keyringKeysWritten":[…],"mirrorPath":"…",
/// "mirrorWritten":true,"warnings":[{"severity":"warning","code":"…",
/// "message":"…","fix":"…"}]}` (no secret values).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_JSON` (the
/// message names the field, never quotes a value), `KEEL_INVALID_ARGUMENT` (not a
/// live store), `KEEL_KEYRING_UNAVAILABLE`, `KEEL_KEYRING_TIMEOUT`,
/// `KEEL_KEYRING_ERROR`, `KEEL_LOCK_TIMEOUT`.
///
/// # Safety
/// `creds_json` must point to `creds_json_len` readable bytes; `report_json`, when
/// not NULL, must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_enrollment_store_write(
    store: *const keel_enrollment_store,
    creds_json: *const c_char,
    creds_json_len: usize,
    report_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_enrollment_store_write", || {
        let s = STORES.get(store, "store")?;
        let text = str_in(creds_json, creds_json_len, "creds_json")?;
        let mask = jwt_in(text);
        let run = || -> Result<Vec<u8>> {
            let record = EnrollmentRecord::from_json(text)
                .map_err(|e| credential_error(e, Some("creds")))?;
            let report = s
                .inner
                .write(&record)
                .map_err(|e| credential_error(e, None))?;
            json::to_json(&report, "the report")
        };
        let report = run().map_err(|e| e.masking(&mask))?;
        if let Some(out) = Out::optional(report_json) {
            out.write(new_string(report));
        }
        Ok(())
    })
}

/// Read the whole record: from the keyring when it holds all five entries, else
/// from the mirror. On success `*creds_json` is a new string (free it with
/// `keel_string_free`) holding the record plus `"source"` and `"notes"`:
/// `{"jwt":"…","jwtExpiresAtUnix":…,"agentId":"…","tenantId":"…",
/// "platformUrl":"…","source":"fileMirror","notes":["…"]}`. It holds the JWT:
/// never log it.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`, `KEEL_NOT_ENROLLED`
/// (neither store holds a complete record; the message says what each answered),
/// `KEEL_INSECURE_FILE` (the mirror is readable by others, a symlink, … : the
/// message explains and gives the fix), `KEEL_KEYRING_UNAVAILABLE` /
/// `KEEL_KEYRING_TIMEOUT` / `KEEL_KEYRING_ERROR` (the keyring failed and the mirror
/// has no record), `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// `creds_json` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_enrollment_store_read_all(
    store: *const keel_enrollment_store,
    creds_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_enrollment_store_read_all", || {
        let out = Out::new(creds_json, "creds_json")?;
        let s = STORES.get(store, "store")?;
        let resolved = s.inner.read_all().map_err(|e| credential_error(e, None))?;
        let json = json::to_json(&resolved.to_flat_json(), "the record")?;
        out.write(new_string(json));
        Ok(())
    })
}

/// Read the JWT and its expiry: from the keyring when it holds both, else from the
/// mirror. On success `*jwt_json` is a new string
/// `{"jwt":"…","expiresAtUnix":…,"source":"keyring","notes":[]}` (free it with
/// `keel_string_free`; never log it).
///
/// Errors: as `keel_enrollment_store_read_all`.
///
/// # Safety
/// `jwt_json` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_enrollment_store_read_jwt(
    store: *const keel_enrollment_store,
    jwt_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_enrollment_store_read_jwt", || {
        let out = Out::new(jwt_json, "jwt_json")?;
        let s = STORES.get(store, "store")?;
        let resolved = s.inner.read_jwt().map_err(|e| credential_error(e, None))?;
        let json = json::to_json(&resolved.to_flat_json(), "the JWT")?;
        out.write(new_string(json));
        Ok(())
    })
}

/// Whether an enrollment exists: a JWT in the keyring, or a usable mirror. On
/// success `*out` is the answer.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`, `KEEL_INSECURE_FILE`
/// (the mirror is refused), a keyring error when the keyring failed and the mirror
/// has no record, `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// `out` must be valid for writing a `bool`.
#[no_mangle]
pub unsafe extern "C" fn keel_enrollment_store_has_enrollment(
    store: *const keel_enrollment_store,
    out: *mut bool,
) -> keel_result {
    boundary("keel_enrollment_store_has_enrollment", || {
        let out = Out::new(out, "out")?;
        let s = STORES.get(store, "store")?;
        let has = s
            .inner
            .has_enrollment()
            .map_err(|e| credential_error(e, None))?;
        out.write(has);
        Ok(())
    })
}

/// Refuse credentials minted for another platform: compare the stored platform URL
/// (keyring, else mirror) with `url` (UTF-8, `url_len` bytes) after normalising
/// scheme and host case, default ports and a trailing slash.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`
/// (empty `url`, or not a live store), `KEEL_PLATFORM_URL_MISMATCH` (the message
/// names both URLs, with any `user:password@` part masked), `KEEL_NOT_ENROLLED`,
/// `KEEL_INSECURE_FILE`, keyring errors, `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// `url` must point to `url_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn keel_enrollment_store_assert_platform_url(
    store: *const keel_enrollment_store,
    url: *const c_char,
    url_len: usize,
) -> keel_result {
    boundary("keel_enrollment_store_assert_platform_url", || {
        let s = STORES.get(store, "store")?;
        let url = str_in(url, url_len, "url")?;
        if url.trim().is_empty() {
            return Err(Error::invalid_argument("url is empty"));
        }
        s.inner
            .assert_platform_url_matches(url)
            .map_err(|e| credential_error(e, None))?;
        Ok(())
    })
}

/// Remove every keyring entry and the mirror (with its temp files and lock file).
/// Idempotent. What could not be removed is listed in the report's `problems`
/// (the call still tries everything and returns `KEEL_OK`).
///
/// `report_json` is optional (may be NULL); on success it receives
/// `{"keyringKeysRemoved":[…],"mirrorRemoved":true,"tempFilesRemoved":[…],
/// "problems":[…]}`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`, `KEEL_LOCK_TIMEOUT`,
/// `KEEL_INSECURE_FILE` (the mirror directory is unsafe), `KEEL_IO`.
///
/// # Safety
/// `report_json`, when not NULL, must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_enrollment_store_clear(
    store: *const keel_enrollment_store,
    report_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_enrollment_store_clear", || {
        let s = STORES.get(store, "store")?;
        let report = s.inner.clear().map_err(|e| credential_error(e, None))?;
        let json = json::to_json(&report, "the report")?;
        if let Some(out) = Out::optional(report_json) {
            out.write(new_string(json));
        }
        Ok(())
    })
}

/// A structured health report, for a doctor command: which keyring fields exist,
/// the mirror's path, mode, owner and validity, where a read would resolve from,
/// whether keyring and mirror agree, the JWT's expiry, and every problem with a
/// one-line fix. It never contains a secret value. Never fails on what it checks
/// (that is reported as a problem).
///
/// On success `*report_json` is a new string (free it with `keel_string_free`):
/// `{"checkedAtMs":…,"keyring":{…},"mirror":{…},"resolvedFrom":"keyring",
/// "inSync":true,"jwt":{…},"problems":[{"severity":"error","code":"mirrorTooOpen",
/// "message":"…","fix":"chmod 600 …"}]}`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
///
/// # Safety
/// `report_json` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_enrollment_store_diagnose(
    store: *const keel_enrollment_store,
    report_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_enrollment_store_diagnose", || {
        let out = Out::new(report_json, "report_json")?;
        let s = STORES.get(store, "store")?;
        let json = json::to_json(&s.inner.diagnose(), "the report")?;
        out.write(new_string(json));
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_errors_name_the_field() {
        let e = parse_options(r#"{"keyring":"vault"}"#).unwrap_err();
        assert_eq!(e.code, keel_result::KEEL_INVALID_JSON);
        assert!(
            e.message.starts_with(
                "options.keyring is not a known name (5 characters; expected one of: platform"
            ),
            "{}",
            e.message
        );
        let e = parse_options(r#"{"mirorPath":"/x"}"#).unwrap_err();
        assert!(
            e.message
                .contains("unknown field (9 characters; did you mean \"mirrorPath\"?)"),
            "{}",
            e.message
        );
        let e = parse_options(r#"{"keyringTimeoutMs":"5"}"#).unwrap_err();
        assert_eq!(
            e.message,
            "options.keyringTimeoutMs is not a non-negative integer (got a string)"
        );
        let o = parse_options(r#"{"keyring":"memory","mirror":false,"lockTimeoutMs":5}"#).unwrap();
        assert_eq!(o.keyring, keel_core::credentials::KeyringChoice::Memory);
        assert!(!o.mirror);
        assert_eq!(o.lock_timeout_ms, 5);
        assert_eq!(
            parse_options("").unwrap(),
            EnrollmentStoreOptions::default()
        );
        assert_eq!(
            parse_options("null").unwrap(),
            EnrollmentStoreOptions::default()
        );
    }

    #[test]
    fn record_errors_name_the_field_and_never_the_jwt() {
        let e = EnrollmentRecord::from_json(
            r#"{"jwt":"","jwtExpiresAtUnix":1,"agentId":"a","tenantId":"t","platformUrl":"u"}"#,
        )
        .unwrap_err();
        let e = credential_error(e, Some("creds"));
        assert_eq!(e.code, keel_result::KEEL_INVALID_JSON);
        assert_eq!(e.message, "creds.jwt must not be empty");
        let e = credential_error(
            EnrollmentRecord::from_json("[1]").unwrap_err(),
            Some("creds"),
        );
        assert_eq!(e.message, "creds must be a JSON object");
    }
}
