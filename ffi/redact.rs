//! Redaction: `keel_redactor`, `keel_stream_redactor` and the process-wide
//! redactor, over `keel_core::redact`.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex};

use keel_core::redact::{self as core, RedactError, Redactor, RedactorOptions, StreamRedactor};

use crate::args::{bytes_in, str_in, Out};
use crate::error::{boundary, keel_result, quiet_boundary, Error, Result};
use crate::handle::Registry;
use crate::json;
use crate::string::{keel_string, new_string};

/// A redactor: known secrets plus shape rules (tokens, keys, passwords, …).
///
/// Made by `keel_redactor_new`, released by `keel_redactor_free`. Thread-safe:
/// every function may be called on the same redactor from any thread at once.
/// Streams made from it share its secrets and outlive it safely.
pub struct keel_redactor {
    inner: Redactor,
}

static REDACTORS: Registry<keel_redactor> = Registry::new("keel_redactor");

/// Called with redacted output: `data` holds `len` bytes (`len` > 0), valid only
/// during the call. `userdata` is the pointer given to `keel_stream_redactor_new`.
/// Return 0 on success; any other value makes the keel function that called it
/// return `KEEL_IO`.
pub type keel_write_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, data: *const u8, len: usize) -> c_int>;

/// Called once with `userdata` when keel no longer needs it.
pub type keel_finalizer_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A streaming redactor: feed it chunks of any size, and it writes redacted output
/// through a callback. The output equals `keel_redactor_redact` of the whole
/// input, however the input is cut into chunks (a secret split across writes is
/// still masked); only a bounded tail that could still be the start of a secret
/// is held back until more input, `keel_stream_redactor_flush` or
/// `keel_stream_redactor_finish`.
///
/// Made by `keel_stream_redactor_new`, released by `keel_stream_redactor_free`.
/// Calls on one stream are serialized (a call made while another thread is using
/// the stream waits for it).
pub struct keel_stream_redactor {
    state: Mutex<StreamState>,
    sink: Sink,
}

struct StreamState {
    stream: StreamRedactor,
    out: Vec<u8>,
}

/// The caller's callback, userdata and finalizer.
struct Sink {
    write: unsafe extern "C" fn(*mut c_void, *const u8, usize) -> c_int,
    userdata: *mut c_void,
    finalizer: keel_finalizer_fn,
}

// SAFETY: keel never touches `userdata` itself; it only hands it back to the
// caller's functions, on the threads the caller makes keel calls on — which the
// header documents. Whether that is safe for the userdata is the caller's contract.
unsafe impl Send for Sink {}
// SAFETY: as above.
unsafe impl Sync for Sink {}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(finalizer) = self.finalizer.take() {
            // SAFETY: the caller's finalizer, called exactly once with its userdata.
            unsafe { finalizer(self.userdata) }
        }
    }
}

static STREAMS: Registry<keel_stream_redactor> = Registry::new("keel_stream_redactor");

thread_local! {
    /// Streams whose write callback is running on this thread, with the stream's
    /// pending count at that moment. The stream's lock is held during its callback,
    /// so a call into the same stream from the callback must not take it:
    /// `_write`/`_flush`/`_finish` fail instead, `_pending` answers from here.
    static DELIVERING: RefCell<Vec<(usize, usize)>> = const { RefCell::new(Vec::new()) };
}

/// The pending count recorded for stream `key` if its callback is running on this
/// thread.
fn delivering(key: usize) -> Option<usize> {
    DELIVERING.with(|d| d.borrow().iter().find(|(k, _)| *k == key).map(|(_, p)| *p))
}

fn redact_error(e: RedactError) -> Error {
    Error::coded(e.code(), e.to_string())
}

/// The options' secrets and their encoded forms, to mask in error messages.
fn secrets_in_options(options: &RedactorOptions) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in options.secret_values() {
        out.extend(core::secrets_to_redact(s));
    }
    out
}

fn build_redactor(options: RedactorOptions) -> Result<Redactor> {
    options.build().map_err(redact_error)
}

/// Make a redactor.
///
/// `options_json` is UTF-8 JSON of `options_json_len` bytes; NULL (with length 0)
/// or an empty string gives the defaults. Fields (all optional):
///
/// * `"mask"`: text that replaces each secret (default `"***"`, not empty);
/// * `"minSecretLength"`: known secrets shorter than this are ignored (default 6, >= 1);
/// * `"disableRules"`: names of built-in rules to turn off (see `keel_redactor_rules_json`);
/// * `"customRules"`: `[{"name": "ticket", "pattern": "TICKET-[0-9]{6}", "maxLen": 1024}]`,
///   regular expressions (Rust `regex` syntax) whose matches are masked; `maxLen`
///   (optional) caps a match's length in bytes;
/// * `"secrets"`: known secret values to mask, with their base64, percent, form and
///   JSON encodings;
/// * `"jsonSecrets"`: credential blobs; each blob is masked, and if it is JSON, so
///   is each string in it of 12 characters or more.
/// * `"threads"`: threads one one-shot call of 4 MiB or more may use (default: the
///   CPUs available, at most 4; 1 to 64; 1 keeps every call on the calling thread).
///   The output does not depend on it; streams always run on the calling thread.
///
/// Errors: `KEEL_NULL_PARAMETER` (`out` NULL, or `options_json` NULL with a non-zero
/// length), `KEEL_INVALID_UTF8`, `KEEL_INVALID_JSON` (malformed, wrong type, unknown
/// field: the message names the field), `KEEL_UNKNOWN_RULE`, `KEEL_INVALID_PATTERN`,
/// `KEEL_INVALID_RULE_NAME`, `KEEL_INVALID_OPTION` (e.g. an empty mask). On
/// success `*out` is a new redactor, to be released with `keel_redactor_free`.
///
/// # Safety
/// `options_json` must point to `options_json_len` readable bytes (or be NULL with
/// length 0); `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_redactor_new(
    options_json: *const c_char,
    options_json_len: usize,
    out: *mut *mut keel_redactor,
) -> keel_result {
    boundary("keel_redactor_new", || {
        let out = Out::new(out, "out")?;
        let text = str_in(options_json, options_json_len, "options_json")?;
        let options: RedactorOptions = json::options(text, "options_json", "options")?;
        let mask = secrets_in_options(&options);
        let redactor = build_redactor(options).map_err(|e| e.masking(&mask))?;
        out.write(REDACTORS.insert(keel_redactor { inner: redactor }));
        Ok(())
    })
}

/// Release a redactor. NULL is fine, and so is a pointer already freed (it is
/// ignored). Streams made from it keep working. Never fails.
#[no_mangle]
pub extern "C" fn keel_redactor_free(redactor: *mut keel_redactor) {
    quiet_boundary(|| REDACTORS.remove(redactor));
}

/// Register a known secret (UTF-8, `secret_len` bytes) with a redactor: from now on
/// it and its encoded forms are masked by the redactor and every stream made from
/// it. A multi-line secret also registers each of its lines.
///
/// `added_out` is optional (may be NULL); on success it receives `true` if the
/// secret was new, `false` if it was already registered or shorter than the
/// redactor's minimum secret length (and so ignored).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`
/// (`redactor` is not a live redactor).
///
/// # Safety
/// `secret` must point to `secret_len` readable bytes; `added_out`, when not NULL,
/// must be valid for writing a `bool`.
#[no_mangle]
pub unsafe extern "C" fn keel_redactor_add_secret(
    redactor: *const keel_redactor,
    secret: *const c_char,
    secret_len: usize,
    added_out: *mut bool,
) -> keel_result {
    boundary("keel_redactor_add_secret", || {
        let r = REDACTORS.get(redactor, "redactor")?;
        let secret = str_in(secret, secret_len, "secret")?;
        let added = r.inner.add_secret(secret);
        if let Some(out) = Out::optional(added_out) {
            out.write(added);
        }
        Ok(())
    })
}

/// Register a credential blob (UTF-8): the blob itself is masked and, when it is
/// JSON, so is every string in it of 12 characters or more (tokens inside a JSON
/// credential file).
///
/// `added_count_out` is optional (may be NULL); on success it receives how many
/// values were new.
///
/// Errors: as `keel_redactor_add_secret`.
///
/// # Safety
/// `blob` must point to `blob_len` readable bytes; `added_count_out`, when not
/// NULL, must be valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn keel_redactor_add_json_secret(
    redactor: *const keel_redactor,
    blob: *const c_char,
    blob_len: usize,
    added_count_out: *mut usize,
) -> keel_result {
    boundary("keel_redactor_add_json_secret", || {
        let r = REDACTORS.get(redactor, "redactor")?;
        let blob = str_in(blob, blob_len, "blob")?;
        let added = r.inner.add_json_secret(blob);
        if let Some(out) = Out::optional(added_count_out) {
            out.write(added);
        }
        Ok(())
    })
}

/// Redact `input_len` bytes at `input` (which may be NULL when the length is 0).
///
/// The input is bytes, not necessarily UTF-8: invalid UTF-8 passes through
/// untouched, and so does every byte that is not part of a secret. On success
/// `*out` is a new string with the redacted bytes (free it with `keel_string_free`).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT` (`redactor` is not a live
/// redactor).
///
/// # Safety
/// `input` must point to `input_len` readable bytes (or be NULL with length 0);
/// `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_redactor_redact(
    redactor: *const keel_redactor,
    input: *const u8,
    input_len: usize,
    out: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_redactor_redact", || {
        let out = Out::new(out, "out")?;
        let r = REDACTORS.get(redactor, "redactor")?;
        let input = bytes_in(input, input_len, "input")?;
        let redacted = r.inner.redact_bytes(input).into_owned();
        out.write(new_string(redacted));
        Ok(())
    })
}

/// List the redactor's rules as a JSON array (UTF-8) of
/// `{"name": "github-token", "description": "…", "enabled": true, "kind": "builtin"}`
/// (`kind` is `"builtin"` or `"custom"`). The names are the ones `disableRules`
/// accepts. On success `*out` is a new string (free it with `keel_string_free`).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
///
/// # Safety
/// `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_redactor_rules_json(
    redactor: *const keel_redactor,
    out: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_redactor_rules_json", || {
        let out = Out::new(out, "out")?;
        let r = REDACTORS.get(redactor, "redactor")?;
        let json = json::to_json(&r.inner.rules(), "the rules")?;
        out.write(new_string(json));
        Ok(())
    })
}

/// Make a streaming redactor that uses `redactor`'s rules and secrets (including
/// secrets added to it later) and writes its output through `write`.
///
/// `write` is required. It is called synchronously, on the calling thread, from
/// inside `keel_stream_redactor_write`, `_flush` and `_finish` — at most once per
/// call, and only when there is output — never from any other function or thread.
/// It may call any keel function: `_write`, `_flush` or `_finish` on the same stream
/// fail with `KEEL_INVALID_ARGUMENT` (the stream is busy delivering), and so does
/// such a call on a stream whose callback is further up the same thread's stack;
/// `keel_stream_redactor_pending` on the same stream answers (the bytes still held
/// back after this delivery); it may free the stream (the finalizer then runs when
/// the call that ran the callback returns). The stream's lock is held while the
/// callback runs, so the callback must not wait for another thread that is itself
/// calling into the same stream.
///
/// `finalizer` is optional (may be NULL). If given, it is called exactly once with
/// `userdata` when the stream is released: inside `keel_stream_redactor_free`, or,
/// if another call is using the stream at that moment, when that call returns (on
/// its thread). If this function fails, neither function is ever called and
/// `userdata` stays yours.
///
/// The redactor may be freed while the stream lives. On success `*out` is a new
/// stream, to be released with `keel_stream_redactor_free`.
///
/// Errors: `KEEL_NULL_PARAMETER` (`redactor`, `write` or `out` NULL),
/// `KEEL_INVALID_ARGUMENT` (`redactor` is not a live redactor).
///
/// # Safety
/// `write` and `finalizer` must be safe to call with `userdata` on the threads
/// described above; `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_stream_redactor_new(
    redactor: *const keel_redactor,
    write: keel_write_fn,
    userdata: *mut c_void,
    finalizer: keel_finalizer_fn,
    out: *mut *mut keel_stream_redactor,
) -> keel_result {
    boundary("keel_stream_redactor_new", || {
        let out = Out::new(out, "out")?;
        let r = REDACTORS.get(redactor, "redactor")?;
        let write = write.ok_or_else(|| Error::null("write"))?;
        let stream = keel_stream_redactor {
            state: Mutex::new(StreamState {
                stream: r.inner.stream(),
                out: Vec::new(),
            }),
            sink: Sink {
                write,
                userdata,
                finalizer,
            },
        };
        out.write(STREAMS.insert(stream));
        Ok(())
    })
}

/// Run `step` on a stream's state and hand its output to the callback.
fn with_stream(
    ptr: *const keel_stream_redactor,
    step: impl FnOnce(&mut StreamRedactor, &mut Vec<u8>),
) -> Result<()> {
    let s: Arc<keel_stream_redactor> = STREAMS.get(ptr, "stream")?;
    let key = Arc::as_ptr(&s) as usize;
    if delivering(key).is_some() {
        return Err(Error::invalid_argument(
            "stream was used from inside its own write callback",
        ));
    }
    let mut state = s.state.lock().map_err(|_| {
        Error::new(
            keel_result::KEEL_PANIC,
            "stream is unusable after an earlier internal panic; free it",
        )
    })?;
    let StreamState { stream, out } = &mut *state;
    out.clear();
    step(stream, out);
    if out.is_empty() {
        return Ok(());
    }
    let pending = stream.pending();
    DELIVERING.with(|d| d.borrow_mut().push((key, pending)));
    // SAFETY: the caller's callback with its userdata, on the calling thread, as
    // documented; `out` stays alive and unchanged during the call.
    let rc = unsafe { (s.sink.write)(s.sink.userdata, out.as_ptr(), out.len()) };
    DELIVERING.with(|d| d.borrow_mut().retain(|(k, _)| *k != key));
    out.clear();
    if rc != 0 {
        return Err(Error::new(
            keel_result::KEEL_IO,
            format!("write callback returned {rc}"),
        ));
    }
    Ok(())
}

/// Feed `data_len` bytes (any chunking, need not be UTF-8) to the stream. Redacted
/// output that is final is passed to the write callback before this returns.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT` (not a live stream, or
/// called from the stream's own callback), `KEEL_IO` (the callback returned
/// non-zero; the output it was given is consumed either way), `KEEL_PANIC`.
///
/// # Safety
/// `data` must point to `data_len` readable bytes (or be NULL with length 0).
#[no_mangle]
pub unsafe extern "C" fn keel_stream_redactor_write(
    stream: *mut keel_stream_redactor,
    data: *const u8,
    data_len: usize,
) -> keel_result {
    boundary("keel_stream_redactor_write", || {
        let data = bytes_in(data, data_len, "data")?;
        with_stream(stream, |s, out| s.write(data, out))
    })
}

/// Write out every held-back byte that cannot be the start of a secret (for
/// interactive output: call it when no input arrived for a while). Never emits part
/// of a possible secret, so the output stays identical to one-shot redaction.
///
/// Errors: as `keel_stream_redactor_write`.
#[no_mangle]
pub extern "C" fn keel_stream_redactor_flush(stream: *mut keel_stream_redactor) -> keel_result {
    boundary("keel_stream_redactor_flush", || {
        with_stream(stream, |s, out| s.flush(out))
    })
}

/// End of input: write out everything held back. The stream can be used again
/// afterwards for a new input.
///
/// Errors: as `keel_stream_redactor_write`.
#[no_mangle]
pub extern "C" fn keel_stream_redactor_finish(stream: *mut keel_stream_redactor) -> keel_result {
    boundary("keel_stream_redactor_finish", || {
        with_stream(stream, |s, out| s.finish(out))
    })
}

/// How many bytes the stream has received but not yet written out. Works from the
/// stream's own write callback too (the bytes held back after the output being
/// delivered).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`, `KEEL_PANIC`.
///
/// # Safety
/// `pending_out` must be valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn keel_stream_redactor_pending(
    stream: *const keel_stream_redactor,
    pending_out: *mut usize,
) -> keel_result {
    boundary("keel_stream_redactor_pending", || {
        let out = Out::new(pending_out, "pending_out")?;
        let s = STREAMS.get(stream, "stream")?;
        // From the stream's own write callback: its lock is held by the call that runs
        // the callback, and the state does not change until the callback returns.
        if let Some(pending) = delivering(Arc::as_ptr(&s) as usize) {
            out.write(pending);
            return Ok(());
        }
        let state = s.state.lock().map_err(|_| {
            Error::new(
                keel_result::KEEL_PANIC,
                "stream is unusable after an earlier internal panic; free it",
            )
        })?;
        out.write(state.stream.pending());
        Ok(())
    })
}

/// Release a stream, discarding anything held back (call
/// `keel_stream_redactor_finish` first to get it). Calls the finalizer, once.
/// NULL is fine, and so is a pointer already freed (it is ignored). Never fails.
#[no_mangle]
pub extern "C" fn keel_stream_redactor_free(stream: *mut keel_stream_redactor) {
    quiet_boundary(|| STREAMS.remove(stream));
}

/// Register a secret (UTF-8) with the process-wide redactor, which
/// `keel_redact_secrets` uses and which masks every keel error message. Secrets
/// registered this way stay for the life of the process.
///
/// `added_out` is optional (may be NULL); on success it receives whether the
/// secret was new (secrets shorter than 6 bytes are ignored).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`.
///
/// # Safety
/// `secret` must point to `secret_len` readable bytes; `added_out`, when not NULL,
/// must be valid for writing a `bool`.
#[no_mangle]
pub unsafe extern "C" fn keel_register_known_secret(
    secret: *const c_char,
    secret_len: usize,
    added_out: *mut bool,
) -> keel_result {
    boundary("keel_register_known_secret", || {
        let secret = str_in(secret, secret_len, "secret")?;
        let added = core::register_known_secrets([secret]) > 0;
        if let Some(out) = Out::optional(added_out) {
            out.write(added);
        }
        Ok(())
    })
}

/// Redact bytes with the process-wide redactor: every built-in rule plus the
/// secrets registered with `keel_register_known_secret`. Like
/// `keel_redactor_redact`, invalid UTF-8 passes through untouched. On success
/// `*out` is a new string (free it with `keel_string_free`).
///
/// Errors: `KEEL_NULL_PARAMETER`.
///
/// # Safety
/// `input` must point to `input_len` readable bytes (or be NULL with length 0);
/// `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_redact_secrets(
    input: *const u8,
    input_len: usize,
    out: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_redact_secrets", || {
        let out = Out::new(out, "out")?;
        let input = bytes_in(input, input_len, "input")?;
        let redacted = core::global().redact_bytes(input).into_owned();
        out.write(new_string(redacted));
        Ok(())
    })
}

/// What happened to a secret given to `keel_redactor_add_secret_status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_secret_status {
    /// Registered (for a multi-line value: at least one of its lines).
    KEEL_SECRET_ADDED = 0,
    /// Already registered; nothing changed.
    KEEL_SECRET_DUPLICATE = 1,
    /// Shorter than the redactor's minimum secret length: not registered (and
    /// counted by `keel_redactor_short_secrets_ignored`).
    KEEL_SECRET_TOO_SHORT = 2,
}

/// Like `keel_redactor_add_secret`, but says what happened: on success
/// `*status_out` is `KEEL_SECRET_ADDED`, `KEEL_SECRET_DUPLICATE` or
/// `KEEL_SECRET_TOO_SHORT` (a secret below the minimum length is reported, never
/// dropped without a word).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`
/// (`redactor` is not a live redactor).
///
/// # Safety
/// `secret` must point to `secret_len` readable bytes; `status_out` must be valid
/// for writing a `keel_secret_status`.
#[no_mangle]
pub unsafe extern "C" fn keel_redactor_add_secret_status(
    redactor: *const keel_redactor,
    secret: *const c_char,
    secret_len: usize,
    status_out: *mut keel_secret_status,
) -> keel_result {
    boundary("keel_redactor_add_secret_status", || {
        let out = Out::new(status_out, "status_out")?;
        let r = REDACTORS.get(redactor, "redactor")?;
        let secret = str_in(secret, secret_len, "secret")?;
        out.write(match r.inner.add_secret_status(secret) {
            core::SecretStatus::Added => keel_secret_status::KEEL_SECRET_ADDED,
            core::SecretStatus::Duplicate => keel_secret_status::KEEL_SECRET_DUPLICATE,
            _ => keel_secret_status::KEEL_SECRET_TOO_SHORT,
        });
        Ok(())
    })
}

/// How many secrets this redactor refused so far for being shorter than its
/// minimum secret length: those in the options' `"secrets"` list and those given
/// to `keel_redactor_add_secret` / `keel_redactor_add_secret_status`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
///
/// # Safety
/// `count_out` must be valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn keel_redactor_short_secrets_ignored(
    redactor: *const keel_redactor,
    count_out: *mut usize,
) -> keel_result {
    boundary("keel_redactor_short_secrets_ignored", || {
        let out = Out::new(count_out, "count_out")?;
        let r = REDACTORS.get(redactor, "redactor")?;
        out.write(r.inner.short_secrets_ignored());
        Ok(())
    })
}
