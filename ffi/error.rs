//! The error model shared by every capability: [`keel_result`], the calling
//! thread's last error message, and the panic boundary every entry point runs in.
//!
//! A capability file uses it like this:
//!
//! ```ignore
//! #[no_mangle]
//! pub unsafe extern "C" fn keel_thing_new(json: *const c_char, json_len: usize, out: *mut *mut keel_thing) -> keel_result {
//!     boundary("keel_thing_new", || {
//!         let out = Out::new(out, "out")?;          // NULL-checked before any work
//!         let json = str_in(json, json_len, "json")?; // KEEL_NULL_PARAMETER / KEEL_INVALID_UTF8
//!         let thing = build(json).map_err(|e| Error::new(KEEL_INVALID_ARGUMENT, e.to_string()))?;
//!         out.write(THINGS.insert(thing));           // written only on success
//!         Ok(())
//!     })
//! }
//! ```

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The result of every fallible keel function. `KEEL_OK` is 0; every other value
/// is a failure, described by `keel_last_error_message()`.
///
/// Numeric values are stable and never reused. Generic codes are below 100; each
/// capability owns a block of 100: redaction 100-199, credentials 200-299,
/// jobs and processes 300-399. Code that switches over this enum should have a
/// default branch: later versions add values.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_result {
    /// Success.
    KEEL_OK = 0,
    /// A required pointer argument was NULL (or a string/byte pointer was NULL
    /// with a non-zero length).
    KEEL_NULL_PARAMETER = 1,
    /// A string argument was not valid UTF-8.
    KEEL_INVALID_UTF8 = 2,
    /// An argument was out of range, or a handle was not a live handle of the
    /// expected type (already freed, or a different type).
    KEEL_INVALID_ARGUMENT = 3,
    /// A JSON argument was malformed, had a field of the wrong type, lacked a
    /// required field or had an unknown one. The message names the field.
    KEEL_INVALID_JSON = 4,
    /// keel panicked (a bug in keel). The object involved may be unusable; free it.
    KEEL_PANIC = 5,
    /// An I/O operation failed, including a write callback returning non-zero.
    KEEL_IO = 6,
    /// An option is out of range (an empty mask, a zero timeout, …). The message
    /// names the option.
    KEEL_INVALID_OPTION = 7,
    /// A failure of the binding itself (a value that could not be serialized).
    KEEL_INTERNAL = 8,
    /// A file is larger than the reader accepts.
    KEEL_FILE_TOO_LARGE = 9,
    /// A JSON state file does not have the expected shape.
    KEEL_MALFORMED_STATE = 10,
    /// A value could not be encoded as JSON.
    KEEL_ENCODE = 11,
    /// A path cannot be used as a file path.
    KEEL_INVALID_PATH = 12,
    /// A result is too large for the host to represent.
    KEEL_RESULT_TOO_LARGE = 13,
    /// Redaction: a rule name (e.g. in `disableRules`) is not a built-in rule.
    KEEL_UNKNOWN_RULE = 100,
    /// Redaction: a custom rule's pattern is not a valid regular expression or
    /// matches the empty string.
    KEEL_INVALID_PATTERN = 101,
    /// Redaction: a custom rule's name is empty, duplicated or taken by a
    /// built-in rule.
    KEEL_INVALID_RULE_NAME = 102,
    /// Credentials: neither the keyring nor the file mirror holds a complete
    /// enrollment. The message says what each store answered.
    KEEL_NOT_ENROLLED = 200,
    /// Credentials: the stored platform URL is not the one the caller uses. The
    /// message names both (with any `user:password@` part masked).
    KEEL_PLATFORM_URL_MISMATCH = 201,
    /// Credentials: the keyring backend cannot be used here (not on this platform,
    /// not in this build, or access refused).
    KEEL_KEYRING_UNAVAILABLE = 202,
    /// Credentials: a keyring call did not answer within the keyring timeout.
    KEEL_KEYRING_TIMEOUT = 203,
    /// Credentials: a credential file or its directory is unsafe (readable or
    /// writable by others, a symlink, another owner, …). The message explains
    /// and gives the fix, e.g. `chmod 600 <path>`.
    KEEL_INSECURE_FILE = 204,
    /// Credentials: the keyring backend failed in another way.
    KEEL_KEYRING_ERROR = 205,
    /// Credentials: another process held the credential lock longer than the
    /// lock timeout.
    KEEL_LOCK_TIMEOUT = 206,
    /// Credentials: a JWT could not be decoded.
    KEEL_INVALID_JWT = 207,
    /// Jobs: no job with this id (never started, or evicted after its retention).
    KEEL_JOB_NOT_FOUND = 300,
    /// Jobs: the host's work already reported its outcome
    /// (`keel_job_ctx_succeed` / `keel_job_ctx_fail` called twice).
    KEEL_JOB_OUTCOME_SET = 301,
    /// Jobs: a command could not be started (empty argv, program not found or not
    /// executable, bad working directory, output file not openable).
    KEEL_SPAWN_FAILED = 302,
    /// Jobs: waiting for, signalling or recording a process failed.
    KEEL_PROCESS_ERROR = 303,
    /// Jobs: the call needs an async runtime and has none.
    KEEL_NO_RUNTIME = 304,
    /// Jobs: the platform lacks a facility this call needs.
    KEEL_UNSUPPORTED = 305,
    /// Supervisor: `keel_supervisor_run` was already called on this handle.
    KEEL_SUPERVISOR_ALREADY_RUNNING = 400,
    /// Supervisor: the SIGTERM/SIGINT handlers could not be installed.
    KEEL_SIGNAL_HANDLERS = 401,
    /// Supervisor: the host's registration-token provider failed.
    KEEL_TOKEN_PROVIDER_FAILED = 402,
    /// Supervisor: the runner directory lacks `config.sh` / `run.sh`.
    KEEL_RUNNER_DIR_INVALID = 403,
    /// Supervisor: `config.sh` failed after its retries.
    KEEL_REGISTRATION_FAILED = 404,
    /// Supervisor: `launchctl` / `systemctl` could not be run.
    KEEL_SERVICE_MANAGER_FAILED = 405,
    /// Supervisor: an installed service did not start cleanly.
    KEEL_SERVICE_NOT_STARTED = 406,
    /// Services: a managed-spawn spec was refused by the validator.
    KEEL_SERVICE_SPEC_INVALID = 500,
    /// Services: no managed service has this name.
    KEEL_SERVICE_NOT_FOUND = 501,
    /// Services: a managed service did not pass its first healthcheck in time.
    KEEL_SERVICE_UNHEALTHY = 502,
    /// Exit cause: the process to watch is not running.
    KEEL_EXIT_CAUSE_NOT_RUNNING = 580,
    /// Exit cause: the watcher process did not start or did not report readiness.
    KEEL_EXIT_CAUSE_WATCHER_FAILED = 581,
    /// Server: the job server could not bind its listening address.
    KEEL_SERVER_BIND = 600,
    /// Server: a request lacked the right `x-harness-secret` (HTTP 401).
    KEEL_SERVER_UNAUTHORIZED = 601,
    /// Server: no such route, job or job kind (HTTP 404).
    KEEL_SERVER_NOT_FOUND = 602,
    /// Server: a request body was too large (HTTP 413).
    KEEL_SERVER_BODY_TOO_LARGE = 603,
    /// Server: a request took too long (HTTP 408).
    KEEL_SERVER_TIMEOUT = 604,
    /// Turns: another turn of the same agent held its turn lock for the whole wait.
    KEEL_TURN_LOCK_TIMEOUT = 700,
    /// Turns: the turn store (SQLite) failed or has a newer schema.
    KEEL_TURN_STORE = 701,
}

use keel_result::*;

impl keel_result {
    /// The stable name of this code, e.g. `"KEEL_NULL_PARAMETER"`, NUL-terminated.
    pub(crate) fn name_cstr(self) -> &'static str {
        match self {
            KEEL_OK => "KEEL_OK\0",
            KEEL_NULL_PARAMETER => "KEEL_NULL_PARAMETER\0",
            KEEL_INVALID_UTF8 => "KEEL_INVALID_UTF8\0",
            KEEL_INVALID_ARGUMENT => "KEEL_INVALID_ARGUMENT\0",
            KEEL_INVALID_JSON => "KEEL_INVALID_JSON\0",
            KEEL_PANIC => "KEEL_PANIC\0",
            KEEL_IO => "KEEL_IO\0",
            KEEL_INVALID_OPTION => "KEEL_INVALID_OPTION\0",
            KEEL_INTERNAL => "KEEL_INTERNAL\0",
            KEEL_FILE_TOO_LARGE => "KEEL_FILE_TOO_LARGE\0",
            KEEL_MALFORMED_STATE => "KEEL_MALFORMED_STATE\0",
            KEEL_ENCODE => "KEEL_ENCODE\0",
            KEEL_INVALID_PATH => "KEEL_INVALID_PATH\0",
            KEEL_RESULT_TOO_LARGE => "KEEL_RESULT_TOO_LARGE\0",
            KEEL_UNKNOWN_RULE => "KEEL_UNKNOWN_RULE\0",
            KEEL_INVALID_PATTERN => "KEEL_INVALID_PATTERN\0",
            KEEL_INVALID_RULE_NAME => "KEEL_INVALID_RULE_NAME\0",
            KEEL_NOT_ENROLLED => "KEEL_NOT_ENROLLED\0",
            KEEL_PLATFORM_URL_MISMATCH => "KEEL_PLATFORM_URL_MISMATCH\0",
            KEEL_KEYRING_UNAVAILABLE => "KEEL_KEYRING_UNAVAILABLE\0",
            KEEL_KEYRING_TIMEOUT => "KEEL_KEYRING_TIMEOUT\0",
            KEEL_INSECURE_FILE => "KEEL_INSECURE_FILE\0",
            KEEL_KEYRING_ERROR => "KEEL_KEYRING_ERROR\0",
            KEEL_LOCK_TIMEOUT => "KEEL_LOCK_TIMEOUT\0",
            KEEL_INVALID_JWT => "KEEL_INVALID_JWT\0",
            KEEL_JOB_NOT_FOUND => "KEEL_JOB_NOT_FOUND\0",
            KEEL_JOB_OUTCOME_SET => "KEEL_JOB_OUTCOME_SET\0",
            KEEL_SPAWN_FAILED => "KEEL_SPAWN_FAILED\0",
            KEEL_PROCESS_ERROR => "KEEL_PROCESS_ERROR\0",
            KEEL_NO_RUNTIME => "KEEL_NO_RUNTIME\0",
            KEEL_UNSUPPORTED => "KEEL_UNSUPPORTED\0",
            KEEL_SUPERVISOR_ALREADY_RUNNING => "KEEL_SUPERVISOR_ALREADY_RUNNING\0",
            KEEL_SIGNAL_HANDLERS => "KEEL_SIGNAL_HANDLERS\0",
            KEEL_TOKEN_PROVIDER_FAILED => "KEEL_TOKEN_PROVIDER_FAILED\0",
            KEEL_RUNNER_DIR_INVALID => "KEEL_RUNNER_DIR_INVALID\0",
            KEEL_REGISTRATION_FAILED => "KEEL_REGISTRATION_FAILED\0",
            KEEL_SERVICE_MANAGER_FAILED => "KEEL_SERVICE_MANAGER_FAILED\0",
            KEEL_SERVICE_NOT_STARTED => "KEEL_SERVICE_NOT_STARTED\0",
            KEEL_SERVICE_SPEC_INVALID => "KEEL_SERVICE_SPEC_INVALID\0",
            KEEL_SERVICE_NOT_FOUND => "KEEL_SERVICE_NOT_FOUND\0",
            KEEL_SERVICE_UNHEALTHY => "KEEL_SERVICE_UNHEALTHY\0",
            KEEL_EXIT_CAUSE_NOT_RUNNING => "KEEL_EXIT_CAUSE_NOT_RUNNING\0",
            KEEL_EXIT_CAUSE_WATCHER_FAILED => "KEEL_EXIT_CAUSE_WATCHER_FAILED\0",
            KEEL_SERVER_BIND => "KEEL_SERVER_BIND\0",
            KEEL_SERVER_UNAUTHORIZED => "KEEL_SERVER_UNAUTHORIZED\0",
            KEEL_SERVER_NOT_FOUND => "KEEL_SERVER_NOT_FOUND\0",
            KEEL_SERVER_BODY_TOO_LARGE => "KEEL_SERVER_BODY_TOO_LARGE\0",
            KEEL_SERVER_TIMEOUT => "KEEL_SERVER_TIMEOUT\0",
            KEEL_TURN_LOCK_TIMEOUT => "KEEL_TURN_LOCK_TIMEOUT\0",
            KEEL_TURN_STORE => "KEEL_TURN_STORE\0",
        }
    }

    const ALL: [keel_result; 50] = [
        KEEL_OK,
        KEEL_NULL_PARAMETER,
        KEEL_INVALID_UTF8,
        KEEL_INVALID_ARGUMENT,
        KEEL_INVALID_JSON,
        KEEL_PANIC,
        KEEL_IO,
        KEEL_INVALID_OPTION,
        KEEL_INTERNAL,
        KEEL_FILE_TOO_LARGE,
        KEEL_MALFORMED_STATE,
        KEEL_ENCODE,
        KEEL_INVALID_PATH,
        KEEL_RESULT_TOO_LARGE,
        KEEL_UNKNOWN_RULE,
        KEEL_INVALID_PATTERN,
        KEEL_INVALID_RULE_NAME,
        KEEL_NOT_ENROLLED,
        KEEL_PLATFORM_URL_MISMATCH,
        KEEL_KEYRING_UNAVAILABLE,
        KEEL_KEYRING_TIMEOUT,
        KEEL_INSECURE_FILE,
        KEEL_KEYRING_ERROR,
        KEEL_LOCK_TIMEOUT,
        KEEL_INVALID_JWT,
        KEEL_JOB_NOT_FOUND,
        KEEL_JOB_OUTCOME_SET,
        KEEL_SPAWN_FAILED,
        KEEL_PROCESS_ERROR,
        KEEL_NO_RUNTIME,
        KEEL_UNSUPPORTED,
        KEEL_SUPERVISOR_ALREADY_RUNNING,
        KEEL_SIGNAL_HANDLERS,
        KEEL_TOKEN_PROVIDER_FAILED,
        KEEL_RUNNER_DIR_INVALID,
        KEEL_REGISTRATION_FAILED,
        KEEL_SERVICE_MANAGER_FAILED,
        KEEL_SERVICE_NOT_STARTED,
        KEEL_SERVICE_SPEC_INVALID,
        KEEL_SERVICE_NOT_FOUND,
        KEEL_SERVICE_UNHEALTHY,
        KEEL_EXIT_CAUSE_NOT_RUNNING,
        KEEL_EXIT_CAUSE_WATCHER_FAILED,
        KEEL_SERVER_BIND,
        KEEL_SERVER_UNAUTHORIZED,
        KEEL_SERVER_NOT_FOUND,
        KEEL_SERVER_BODY_TOO_LARGE,
        KEEL_SERVER_TIMEOUT,
        KEEL_TURN_LOCK_TIMEOUT,
        KEEL_TURN_STORE,
    ];

    /// The C value of a core code (`keel_core::codes`): the one mapping from core's
    /// vocabulary to `keel_result`. A test checks every core code has a value here
    /// with the same name and number; a string that is not a code gives
    /// `KEEL_INTERNAL`.
    pub(crate) fn from_code(code: &str) -> keel_result {
        keel_result::ALL
            .into_iter()
            .find(|r| r.name() == code)
            .unwrap_or(KEEL_INTERNAL)
    }

    /// The stable name without the NUL.
    pub(crate) fn name(self) -> &'static str {
        let n = self.name_cstr();
        &n[..n.len() - 1]
    }
}

/// A failure inside an entry point: a code and a message that [`boundary`] turns
/// into the thread's last error message, `"<function>(): <message>"`.
///
/// Word messages as `<argument or field> is …`; never put `:` or `=` right after
/// a name (`secret: …` looks like a credential assignment and is masked).
///
/// The message is redacted before it is stored: through the process-wide redactor
/// (shape rules and secrets registered with `keel_register_known_secret`) plus any
/// values attached with [`Error::masking`]. Still, never put a caller's secret into
/// a message on purpose: name the field and the reason, not the value.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) code: keel_result,
    pub(crate) message: String,
    mask: Vec<Vec<u8>>,
}

/// The result type of entry-point bodies.
pub(crate) type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with `code` and `message`.
    pub(crate) fn new(code: keel_result, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            mask: Vec::new(),
        }
    }

    /// `KEEL_NULL_PARAMETER` for the argument `name`.
    pub(crate) fn null(name: &str) -> Error {
        Error::new(KEEL_NULL_PARAMETER, format!("{name} is NULL"))
    }

    /// `KEEL_INVALID_ARGUMENT`.
    pub(crate) fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(KEEL_INVALID_ARGUMENT, message)
    }

    /// An error carrying a core error's code (`e.code()`) and message: how every
    /// capability file maps a core error enum.
    pub(crate) fn coded(code: &str, message: impl Into<String>) -> Error {
        Error::new(keel_result::from_code(code), message)
    }

    /// `KEEL_INVALID_JSON`.
    pub(crate) fn invalid_json(message: impl Into<String>) -> Error {
        Error::new(KEEL_INVALID_JSON, message)
    }

    /// Also mask these values (and their encoded forms) in the message: for
    /// secrets the caller passed in the same call, which the process-wide
    /// redactor does not know.
    pub(crate) fn masking<I, S>(mut self, secrets: I) -> Error
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.mask
            .extend(secrets.into_iter().map(|s| s.as_ref().to_vec()));
        self
    }
}

thread_local! {
    /// The calling thread's last error message; `None` after a successful call.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|m| m.borrow_mut().take());
}

/// Redact `message` (process-wide secrets and shapes, plus `mask`) and store it as
/// this thread's last error. Never panics.
fn set_last_error(function: &str, message: &str, mask: &[Vec<u8>]) {
    // `name(): ` rather than `name: `: `keel_x_add_secret: value` would have the
    // shape of a credential assignment and be masked.
    let full = format!("{function}(): {message}");
    let redacted = catch_unwind(AssertUnwindSafe(|| keel_core::redact::redact(&full, mask)))
        .unwrap_or_else(|_| {
            format!("{function}(): failed, and redacting the error message failed too")
        });
    // A C string cannot hold NUL bytes: show them escaped.
    let bytes = redacted.replace('\0', "\\0").into_bytes();
    let c = CString::new(bytes).unwrap_or_default();
    let _ = LAST_ERROR.try_with(|m| *m.borrow_mut() = Some(c));
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Run an entry point's body: clear the thread's last error message, run `body`
/// with panics caught, and map its outcome to a [`keel_result`], recording the
/// message of a failure (prefixed with `function`). On success the message is
/// cleared again at the end: a callback the body ran may have made a keel call
/// that failed, and that message must not outlive a call that succeeded.
///
/// `AssertUnwindSafe` is justified because nothing observes a broken invariant
/// after a panic: handles are reference-counted and freed only through their
/// registry; state that a panic could leave half-updated sits behind a `Mutex`
/// whose poisoning the capability reports as `KEEL_PANIC` (see
/// `keel_stream_redactor`), and keel-core's own locks only ever append.
pub(crate) fn boundary<F>(function: &'static str, body: F) -> keel_result
where
    F: FnOnce() -> Result<()>,
{
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            clear_last_error();
            KEEL_OK
        }
        Ok(Err(e)) => {
            set_last_error(function, &e.message, &e.mask);
            e.code
        }
        Err(payload) => {
            let text = format!("internal panic (a bug in keel): {}", panic_text(&*payload));
            set_last_error(function, &text, &[]);
            KEEL_PANIC
        }
    }
}

/// Run a function that cannot report errors (the `_free` functions): panics are
/// caught and swallowed, and the last error message is left as it was — also when
/// a finalizer the body ran made keel calls of its own. (The message is moved out
/// and back, not copied, so a pointer the caller got from
/// `keel_last_error_message` before the call stays valid.)
pub(crate) fn quiet_boundary<F: FnOnce()>(body: F) {
    let saved = LAST_ERROR
        .try_with(|m| m.borrow_mut().take())
        .ok()
        .flatten();
    let _ = catch_unwind(AssertUnwindSafe(body));
    let _ = LAST_ERROR.try_with(|m| *m.borrow_mut() = saved);
}

/// The calling thread's last error message: a NUL-terminated UTF-8 string
/// describing why the most recent keel function that returned `keel_result` on this
/// thread failed, or `""` if it succeeded (or none was called yet). Never NULL.
///
/// Messages are redacted: they never contain a secret registered with keel or
/// passed in the failing call, nor a recognised credential shape.
///
/// The returned pointer is owned by keel and stays valid until the next call of a
/// `keel_result`-returning keel function on the same thread (copy it with
/// `strdup` to keep it longer). The `_free` functions, `keel_version`,
/// `keel_result_name` and this function do not change it.
#[no_mangle]
pub extern "C" fn keel_last_error_message() -> *const c_char {
    const EMPTY: &str = "\0";
    catch_unwind(|| {
        LAST_ERROR
            .try_with(|m| m.borrow().as_ref().map(|c| c.as_ptr()))
            .ok()
            .flatten()
    })
    .ok()
    .flatten()
    .unwrap_or(EMPTY.as_ptr().cast())
}

/// The stable name of a result code, e.g. `keel_result_name(KEEL_NULL_PARAMETER)`
/// returns `"KEEL_NULL_PARAMETER"`; `"KEEL_UNKNOWN_RESULT"` for a value keel does
/// not define. A static string: do not free it. Never fails.
#[no_mangle]
pub extern "C" fn keel_result_name(code: c_int) -> *const c_char {
    keel_result::ALL
        .iter()
        .find(|r| **r as c_int == code)
        .map_or("KEEL_UNKNOWN_RESULT\0", |r| r.name_cstr())
        .as_ptr()
        .cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(keel_last_error_message()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn names_round_trip() {
        for r in keel_result::ALL {
            let name = unsafe { CStr::from_ptr(keel_result_name(r as c_int)) };
            assert_eq!(name.to_str().unwrap(), format!("{r:?}"));
        }
        let unknown = unsafe { CStr::from_ptr(keel_result_name(9999)) };
        assert_eq!(unknown.to_str().unwrap(), "KEEL_UNKNOWN_RESULT");
    }

    #[test]
    fn every_core_code_has_a_c_value_with_the_same_name_and_number() {
        for (code, num) in keel_core::codes::ALL {
            let r = keel_result::from_code(code);
            assert_eq!(r.name(), *code, "{code} has no keel_result value");
            assert_eq!(r as u32, *num, "{code} has a different number in C");
        }
        for r in keel_result::ALL {
            assert_eq!(
                keel_core::codes::number(r.name()),
                Some(r as u32),
                "{r:?} is not in keel_core::codes::ALL"
            );
        }
        for code in keel_core::codes::sample_codes() {
            assert_eq!(keel_result::from_code(code).name(), code);
        }
    }

    #[test]
    fn boundary_sets_and_clears_the_message() {
        assert_eq!(
            boundary("f", || Err(Error::null("out"))),
            KEEL_NULL_PARAMETER
        );
        assert_eq!(last(), "f(): out is NULL");
        assert_eq!(boundary("g", || Ok(())), KEEL_OK);
        assert_eq!(last(), "");
    }

    #[test]
    fn success_clears_a_message_a_nested_call_left() {
        let r = boundary("outer", || {
            // A callback inside the call makes a failing keel call.
            assert_eq!(
                boundary("inner", || Err(Error::null("x"))),
                KEEL_NULL_PARAMETER
            );
            assert_eq!(last(), "inner(): x is NULL");
            Ok(())
        });
        assert_eq!(r, KEEL_OK);
        assert_eq!(last(), "");
    }

    #[test]
    fn quiet_boundary_keeps_the_message_and_its_pointer() {
        assert_eq!(boundary("f", || Err(Error::null("y"))), KEEL_NULL_PARAMETER);
        let before = keel_last_error_message();
        quiet_boundary(|| {
            // A finalizer makes keel calls of its own.
            assert_eq!(boundary("g", || Ok(())), KEEL_OK);
            assert_eq!(boundary("h", || Err(Error::null("z"))), KEEL_NULL_PARAMETER);
        });
        assert_eq!(keel_last_error_message(), before);
        assert_eq!(last(), "f(): y is NULL");
    }

    #[test]
    fn boundary_catches_panics_and_masks_secrets() {
        let r = boundary("p", || panic!("boom"));
        assert_eq!(r, KEEL_PANIC);
        assert!(last().contains("boom"), "{}", last());
        let r = boundary("m", || {
            Err(Error::invalid_argument("value was s3cr3t-value-123\0!")
                .masking(["s3cr3t-value-123"]))
        });
        assert_eq!(r, KEEL_INVALID_ARGUMENT);
        assert_eq!(last(), "m(): value was ***\\0!");
    }
}
