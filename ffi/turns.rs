//! The turn runner: `keel_turn_run` runs one headless agent-CLI turn (Claude Code or
//! Codex) over `keel_core::turns`, blocking, with an event callback, and abortable from
//! any thread through a `keel_turn_signal`. `keel_turn_session` reads an agent's
//! durable state.
//!
//! Threads. `keel_turn_run` runs keel's runtime on the calling thread; the event
//! callback runs on that thread, between reads of the CLI's output. Every other
//! function may be called from any thread, also from inside the callback (aborting the
//! turn from its own callback is allowed).

use std::ffi::{c_char, c_void};

use keel_core::turns::{Store, TurnAbort, TurnOptions, TurnRunner};

use crate::args::{str_in, Out};
use crate::error::{boundary, quiet_boundary, Error};
use crate::handle::Registry;
use crate::json;
use crate::string::{keel_string, new_string};

/// One event of a turn as JSON (`{"type":"progress","rawType":"assistant",
/// "level":"info","text":"…","data":{…}}`; `type` is `session_start`, `progress`,
/// `tool_start`, `tool_end`, `result`, `error` or `custom`), `len` bytes,
/// NUL-terminated, redacted, valid only during the call.
pub type keel_turn_event_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, json: *const c_char, len: usize)>;

/// An abort signal for turns: `keel_turn_signal_abort` terminates the whole process
/// tree of every turn run with it, which then ends `zombie` with `"aborted": true`.
/// Made by `keel_turn_signal_new`, released by `keel_turn_signal_free`. One signal may
/// serve several turns; once aborted it stays aborted (a turn started with an aborted
/// signal is terminated at once).
pub struct keel_turn_signal {
    abort: TurnAbort,
}

static SIGNALS: Registry<keel_turn_signal> = Registry::new("keel_turn_signal");

/// Make an abort signal (not aborted).
///
/// Errors: `KEEL_NULL_PARAMETER`.
#[no_mangle]
pub extern "C" fn keel_turn_signal_new(
    out: *mut *mut keel_turn_signal,
) -> crate::error::keel_result {
    boundary("keel_turn_signal_new", || {
        let out = Out::new(out, "out")?;
        let p = SIGNALS.insert(keel_turn_signal {
            abort: TurnAbort::new(),
        });
        // SAFETY: checked non-NULL by Out::new.
        unsafe { out.write(p) };
        Ok(())
    })
}

/// Abort every turn running with `signal` (idempotent; any thread, also the event
/// callback's).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT` (not a live signal).
#[no_mangle]
pub extern "C" fn keel_turn_signal_abort(
    signal: *mut keel_turn_signal,
) -> crate::error::keel_result {
    boundary("keel_turn_signal_abort", || {
        SIGNALS.get(signal, "signal")?.abort.abort();
        Ok(())
    })
}

/// Whether `signal` was aborted.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT` (not a live signal).
#[no_mangle]
pub extern "C" fn keel_turn_signal_is_aborted(
    signal: *mut keel_turn_signal,
    aborted: *mut bool,
) -> crate::error::keel_result {
    boundary("keel_turn_signal_is_aborted", || {
        let out = Out::new(aborted, "aborted")?;
        let s = SIGNALS.get(signal, "signal")?;
        // SAFETY: checked non-NULL by Out::new.
        unsafe { out.write(s.abort.is_aborted()) };
        Ok(())
    })
}

/// Release a signal. A turn still running with it keeps working (and can no longer be
/// aborted through it). NULL and already-freed signals are ignored.
#[no_mangle]
pub extern "C" fn keel_turn_signal_free(signal: *mut keel_turn_signal) {
    quiet_boundary(|| SIGNALS.remove(signal))
}

/// Run one turn, blocking the calling thread until it ends, and write its result JSON
/// to `*result` (freed with `keel_string_free`).
///
/// `options_json` (`len` bytes) is `TurnOptions`: `{"agentName":"builder-1",
/// "runtime":"claude","stateDir":"/var/lib/host","input":"Fix the test",
/// "bin":"/usr/bin/claude","args":[],"cwd":null,"env":{},"resume":true,
/// "resumeSessionId":null,"parentAgent":"lead","runId":null,"stallMs":600000,
/// "resultGraceMs":5000,"killGraceMs":2000,"drainMs":2000,"lockTimeoutMs":60000,
/// "maxLineBytes":67108864,"terminalMessageTypes":["worker_done","result"],
/// "dbPath":null,"secrets":[]}` (`agentName`, `runtime` and `stateDir` are required).
///
/// `event_fn` (may be NULL) is called with `userdata` for every event, on the calling
/// thread. `signal` (may be NULL) aborts the turn from another thread (or from the
/// callback).
///
/// The result (`{"exitCode":0,"cleanResult":true,"newSessionId":"…",
/// "resumeMismatch":false,"terminalMailObserved":false,"durationMs":812,
/// "initialState":"booting","finalState":"completed","stallAborted":false,
/// "terminalMailMissing":true,"aborted":false,"lingerKilled":false,"killReason":null,
/// "exit":{…},"eventCount":4,"skippedLines":0,"parentNotified":false,
/// "transitionRejected":null,"noOp":false,"recovered":null,"logDir":"…",
/// "agentName":"builder-1","runId":null}`) describes a turn that ran, also one that
/// failed, stalled or was aborted: those are `KEEL_OK` with `finalState` `zombie`.
///
/// Errors (no turn ran, or it could not finish): `KEEL_NULL_PARAMETER`,
/// `KEEL_INVALID_UTF8`, `KEEL_INVALID_JSON` / `KEEL_INVALID_OPTION` (naming the field),
/// `KEEL_INVALID_ARGUMENT` (`signal` is not a live signal), `KEEL_TURN_LOCK_TIMEOUT`
/// (another turn of the agent held its lock for `lockTimeoutMs`; the message names the
/// holder), `KEEL_TURN_STORE`, `KEEL_SPAWN` (the CLI could not be started), `KEEL_IO`.
///
/// # Safety
/// `options_json` must point to `len` readable bytes; `result` must be valid for
/// writing a pointer; `event_fn`, when not NULL, must be safe to call with `userdata`
/// until this function returns.
#[no_mangle]
pub unsafe extern "C" fn keel_turn_run(
    options_json: *const c_char,
    len: usize,
    event_fn: keel_turn_event_fn,
    userdata: *mut c_void,
    signal: *mut keel_turn_signal,
    result: *mut *mut keel_string,
) -> crate::error::keel_result {
    boundary("keel_turn_run", || {
        let out = Out::new(result, "result")?;
        let text = str_in(options_json, len, "options_json")?;
        let options = TurnOptions::from_json(text).map_err(coded)?;
        let secrets = options.secrets.clone();
        let mut runner = TurnRunner::new(options).map_err(coded)?;
        if !signal.is_null() {
            let s = SIGNALS.get(signal, "signal")?;
            runner = runner.abort_signal(s.abort.clone());
        }
        if let Some(f) = event_fn {
            let ud = userdata as usize;
            runner = runner.on_event(move |e| {
                let mut json = serde_json::to_vec(e).unwrap_or_default();
                let n = json.len();
                json.push(0);
                // SAFETY: the caller's callback with its userdata; the buffer lives for
                // the call.
                unsafe { f(ud as *mut c_void, json.as_ptr().cast(), n) }
            });
        }
        let r = runner
            .run_blocking()
            .map_err(|e| coded(e).masking(secrets))?;
        let json = json::to_json(&r, "the turn result")?;
        out.write(new_string(json));
        Ok(())
    })
}

/// An agent's durable session as JSON (`{"name":"builder-1","state":"completed",
/// "sessionId":"…","parentAgent":"lead","runtime":"claude","createdAt":…,
/// "lastActivity":…}`), or `null` when the agent never ran, from the store at
/// `<stateDir>/turns.db` (or the `db_path` file when not NULL). Freed with
/// `keel_string_free`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT` (an
/// empty path or name), `KEEL_TURN_STORE`.
///
/// # Safety
/// `state_dir` and `agent` must point to readable bytes of their lengths; `db_path`
/// may be NULL (with `db_path_len` 0); `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_turn_session(
    state_dir: *const c_char,
    state_dir_len: usize,
    agent: *const c_char,
    agent_len: usize,
    db_path: *const c_char,
    db_path_len: usize,
    out: *mut *mut keel_string,
) -> crate::error::keel_result {
    boundary("keel_turn_session", || {
        let out = Out::new(out, "out")?;
        let dir = str_in(state_dir, state_dir_len, "state_dir")?;
        let agent = str_in(agent, agent_len, "agent")?;
        let db = if db_path.is_null() && db_path_len == 0 {
            None
        } else {
            Some(str_in(db_path, db_path_len, "db_path")?)
        };
        if agent.is_empty() {
            return Err(Error::invalid_argument("agent is empty"));
        }
        let path = match db {
            Some("") => return Err(Error::invalid_argument("db_path is empty")),
            Some(p) => std::path::PathBuf::from(p),
            None if dir.is_empty() => return Err(Error::invalid_argument("state_dir is empty")),
            None => std::path::Path::new(dir).join("turns.db"),
        };
        let session = if path.exists() {
            Store::open(&path)
                .map_err(coded)?
                .get_session(agent)
                .map_err(coded)?
        } else {
            None
        };
        let json = json::to_json(&session, "the session")?;
        out.write(new_string(json));
        Ok(())
    })
}

fn coded(e: keel_core::turns::TurnError) -> Error {
    Error::coded(e.code(), e.to_string())
}
