//! The exit-cause recorder: `keel_exit_cause_*` over `keel_core::exit_cause` — ensure a
//! detached watcher that records a service's dirty death (`ev=server-exit` + a
//! forensics snapshot), disarm it before a deliberate stop, read its status and the log.
//!
//! **How the watcher process is started from C.** A watcher is a separate process that
//! runs `keel_exit_cause_watcher_main`. By default `keel_exit_cause_ensure` starts the
//! calling program's own executable (`/proc/self/exe`) as
//! `<exe> --keel-exit-cause-watcher <spec JSON>`, so the host's `main` must dispatch
//! first thing:
//!
//! ```c
//! int main(int argc, char **argv) {
//!     if (argc == 3 && strcmp(argv[1], "--keel-exit-cause-watcher") == 0)
//!         return keel_exit_cause_watcher_main(argv[2], strlen(argv[2]));
//!     ...
//! }
//! ```
//!
//! Or set `watcherCommand` in the options to any program that does, for example the
//! keel CLI: `["/usr/local/bin/keel", "exit-cause", "__watcher"]`. A program that does
//! not dispatch never reports readiness, and ensure fails with
//! `KEEL_EXIT_CAUSE_WATCHER_FAILED`.

use std::ffi::c_char;
use std::path::Path;
use std::time::Duration;

use keel_core::exit_cause::{self as core, ExitCauseError, ExitCauseOptions};

use crate::args::{str_in, Out};
use crate::error::{boundary, keel_result, Error, Result};
use crate::json;
use crate::string::{keel_string, new_string};

fn coded(e: ExitCauseError) -> Error {
    Error::coded(e.code(), e.to_string())
}

/// The default watcher command of a C host: its own executable with
/// `--keel-exit-cause-watcher`.
fn default_command() -> Result<Vec<String>> {
    let exe = std::env::current_exe().map_err(|e| {
        Error::new(
            keel_result::KEEL_IO,
            format!("cannot find the current executable: {e}"),
        )
    })?;
    Ok(vec![
        exe.to_string_lossy().into_owned(),
        core::C_WATCHER_ARG.to_owned(),
    ])
}

/// Ensure one watcher watches the process of `options_json` (an `ExitCauseOptions`
/// object: `{"name":"web","pid":4242,"stateDir":"/var/lib/host/exit-cause"}`, plus the
/// optional `startTime`, `logFile`, `forensicsDir`, `crashDirs`, `topProcesses`,
/// `recordCleanExit`, `readyTimeoutMs`, `watcherCommand`). Idempotent: a live watcher of
/// the same process is reported, not doubled. Without `watcherCommand` the calling
/// executable is started with `--keel-exit-cause-watcher` (see the module docs: `main`
/// must dispatch to `keel_exit_cause_watcher_main`).
///
/// `*outcome_json` is `{"state":"spawned"|"already","name","pid","watcherPid","logFile","forensicsDir"}`;
/// release it with `keel_string_free`. Blocks until the watcher is ready (bounded by
/// `readyTimeoutMs`, default 10 s). Any thread.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_JSON`,
/// `KEEL_INVALID_OPTION` (the message names the field), `KEEL_EXIT_CAUSE_NOT_RUNNING`,
/// `KEEL_EXIT_CAUSE_WATCHER_FAILED`, `KEEL_MALFORMED_STATE` / `KEEL_INSECURE_FILE` /
/// `KEEL_LOCK_TIMEOUT` (the watcher record), `KEEL_IO`.
///
/// # Safety
/// `options_json` must point to `options_len` readable bytes; `outcome_json` must be
/// valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_exit_cause_ensure(
    options_json: *const c_char,
    options_len: usize,
    outcome_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_exit_cause_ensure", || {
        let out = Out::new(outcome_json, "outcome_json")?;
        let text = str_in(options_json, options_len, "options_json")?;
        let mut o: ExitCauseOptions = json::options(text, "options_json", "options")?;
        if o.watcher_command.is_none() {
            o.watcher_command = Some(default_command()?);
        }
        let outcome = core::ensure(&o).map_err(coded)?;
        out.write(new_string(json::to_json(&outcome, "the outcome")?));
        Ok(())
    })
}

/// Before a deliberate stop: mark the watcher of `name` under `state_dir` disarmed (it
/// records nothing), signal it and wait up to `timeout_ms` (0: the default 2 s) for it
/// to be gone. Idempotent. `*outcome_json` is
/// `{"state":"disarmed"|"absent","name","watcherStopped":bool}`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_OPTION` (a bad
/// name), `KEEL_MALFORMED_STATE`, `KEEL_INSECURE_FILE`, `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// The strings must point to their lengths of readable bytes; `outcome_json` must be
/// valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_exit_cause_disarm(
    state_dir: *const c_char,
    state_dir_len: usize,
    name: *const c_char,
    name_len: usize,
    timeout_ms: u64,
    outcome_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_exit_cause_disarm", || {
        let out = Out::new(outcome_json, "outcome_json")?;
        let dir = str_in(state_dir, state_dir_len, "state_dir")?;
        let name = str_in(name, name_len, "name")?;
        let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        let outcome = core::disarm(Path::new(dir), name, timeout).map_err(coded)?;
        out.write(new_string(json::to_json(&outcome, "the outcome")?));
        Ok(())
    })
}

/// The record of the watcher of `name`: `*status_json` is `null` when there is none,
/// else `{"name","pid","alive","watcherPid","watcherAlive","armedAt","disarmedAt","firedAt","logFile","forensicsDir"}`.
///
/// Errors: as `keel_exit_cause_disarm`.
///
/// # Safety
/// As for `keel_exit_cause_disarm`.
#[no_mangle]
pub unsafe extern "C" fn keel_exit_cause_status(
    state_dir: *const c_char,
    state_dir_len: usize,
    name: *const c_char,
    name_len: usize,
    status_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_exit_cause_status", || {
        let out = Out::new(status_json, "status_json")?;
        let dir = str_in(state_dir, state_dir_len, "state_dir")?;
        let name = str_in(name, name_len, "name")?;
        let st = core::status(Path::new(dir), name).map_err(coded)?;
        out.write(new_string(json::to_json(&st, "the status")?));
        Ok(())
    })
}

/// The last `lines` lines of the exit log `log_file`, oldest first:
/// `*lines_json` is `[{"line":"ts=… ev=server-exit …","fields":{"ev":"server-exit",…}}]`
/// (`[]` for a missing log).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_IO`.
///
/// # Safety
/// `log_file` must point to `log_file_len` readable bytes; `lines_json` must be valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_exit_cause_tail(
    log_file: *const c_char,
    log_file_len: usize,
    lines: usize,
    lines_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_exit_cause_tail", || {
        let out = Out::new(lines_json, "lines_json")?;
        let path = str_in(log_file, log_file_len, "log_file")?;
        let t = core::tail(Path::new(path), lines).map_err(coded)?;
        out.write(new_string(json::to_json(&t, "the log line")?));
        Ok(())
    })
}

/// The watcher process's entry point (see the module docs): call it from `main` when
/// `argv[1]` is `--keel-exit-cause-watcher`, with `argv[2]`, and return its result from
/// `main`. It prints a readiness line on stdout, then blocks until the watched process
/// ends (recording its death unless disarmed) or the watcher is signalled. Returns the
/// exit status: 0 done, 1 arming failed, 2 a NULL, non-UTF-8 or malformed spec.
///
/// # Safety
/// `spec` must point to `spec_len` readable bytes (or be NULL, which returns 2).
#[no_mangle]
pub unsafe extern "C" fn keel_exit_cause_watcher_main(spec: *const c_char, spec_len: usize) -> i32 {
    let mut status = 2;
    let rc = boundary("keel_exit_cause_watcher_main", || {
        if spec.is_null() {
            return Err(Error::null("spec"));
        }
        let text = str_in(spec, spec_len, "spec")?;
        status = core::watcher_main(text);
        Ok(())
    });
    if rc == keel_result::KEEL_OK {
        status
    } else {
        2
    }
}
