//! The replenishing supervisor: `keel_supervisor` drives a cycle of C callbacks —
//! register, run, again — until shutdown, over `keel_core::supervisor`.
//!
//! Threads. `keel_supervisor_run` blocks the calling thread and runs keel's runtime on
//! it; the status callback runs on that thread. `register` and `run` run on keel's
//! blocking-pool threads (one at a time per slot; slots run concurrently in pool mode).
//! Every other function may be called from any thread, also from inside a callback
//! (except `keel_supervisor_free`).

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use keel_core::supervisor::{
    BlockingCycle, CycleContext, CycleError, RunOutcome, ShutdownHandle, Supervisor,
    SupervisorOptions,
};

use crate::args::{str_in, Out};
use crate::error::{boundary, quiet_boundary, Error};
use crate::handle::Registry;
use crate::redact::keel_finalizer_fn;
use crate::string::{keel_string, new_string};

/// Obtain a registration for `slot`. Return 0 and (optionally) store an opaque
/// registration in `*registration`, which is handed to `run`; any other value is a
/// failed registration (the supervisor backs off, capped exponential).
pub type keel_supervisor_register_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        supervisor: *mut keel_supervisor,
        slot: u32,
        registration: *mut *mut c_void,
    ) -> i32,
>;

/// Run the worker for `slot` with its registration until it ends; return its exit
/// code (0 success; anything else is a failed run and backs off). Must return soon
/// after shutdown is requested: poll `keel_supervisor_wait_shutdown`. A run that has not
/// returned within the stop grace + 2 s after shutdown is abandoned (its thread is not
/// waited for).
pub type keel_supervisor_run_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        supervisor: *mut keel_supervisor,
        slot: u32,
        registration: *mut c_void,
    ) -> i32,
>;

/// A status change as JSON (`{"slot":0,"at":1700000000000,"state":"backing-off",
/// "attempt":1,"delayMs":2000,"reason":"…"}`), `len` bytes, NUL-terminated, valid only
/// during the call.
pub type keel_supervisor_status_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, json: *const c_char, len: usize)>;

/// The cycle's callbacks. `register_fn` and `run_fn` are required; `status_fn` may be
/// NULL.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct keel_supervisor_cycle {
    /// See `keel_supervisor_register_fn`.
    pub register_fn: keel_supervisor_register_fn,
    /// See `keel_supervisor_run_fn`.
    pub run_fn: keel_supervisor_run_fn,
    /// See `keel_supervisor_status_fn`.
    pub status_fn: keel_supervisor_status_fn,
}

struct Callbacks {
    cycle: keel_supervisor_cycle,
    userdata: usize,
}

type CCycle = BlockingCycle<usize>;

fn c_cycle(cb: Arc<Callbacks>, handle: Arc<OnceLock<usize>>) -> CCycle {
    let (cb2, handle2) = (cb.clone(), handle.clone());
    BlockingCycle::new(
        move |ctx: &CycleContext| {
            let f = cb
                .cycle
                .register_fn
                .ok_or_else(|| CycleError::new("register_fn is NULL"))?;
            let h = handle.get().copied().unwrap_or(0) as *mut keel_supervisor;
            let mut reg: *mut c_void = std::ptr::null_mut();
            // SAFETY: the caller's callback with its userdata and a valid out pointer.
            let rc = unsafe { f(cb.userdata as *mut c_void, h, ctx.slot(), &mut reg) };
            if rc == 0 {
                Ok(reg as usize)
            } else {
                Err(CycleError::new(format!("register callback returned {rc}")))
            }
        },
        move |reg: usize, ctx: &CycleContext| {
            let f = cb2
                .cycle
                .run_fn
                .ok_or_else(|| CycleError::new("run_fn is NULL"))?;
            let h = handle2.get().copied().unwrap_or(0) as *mut keel_supervisor;
            // SAFETY: the caller's callback with its userdata and its own registration.
            let rc = unsafe {
                f(
                    cb2.userdata as *mut c_void,
                    h,
                    ctx.slot(),
                    reg as *mut c_void,
                )
            };
            Ok(RunOutcome::exited(rc))
        },
    )
}

/// A supervisor over a cycle of C callbacks. Made by `keel_supervisor_new`, released by
/// `keel_supervisor_free`.
pub struct keel_supervisor {
    sup: Supervisor<CCycle>,
    shutdown: ShutdownHandle,
}

static SUPERVISORS: Registry<keel_supervisor> = Registry::new("keel_supervisor");

/// Create a supervisor. `options_json` (`len` 0 for defaults) is `SupervisorOptions`:
/// `{"backoffBaseMs":2000,"backoffMaxMs":30000,"jitter":0.2,"stableAfterMs":60000,
/// "runFailure":"fixed","runFailureBackoffMs":2000,"minCycleMs":1000,
/// "burst":{"failures":5,"windowMs":60000},"stopGraceMs":5000,
/// "installSignalHandlers":false,"systemdNotify":true,"watchdogIntervalMs":null,
/// "pool":1,"workDir":null}` (all optional). `cycle` is copied; `userdata` is handed to
/// every callback; `finalizer` (may be NULL) is called with it once, when the
/// supervisor is freed.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_JSON` /
/// `KEEL_INVALID_OPTION` (naming the field), `KEEL_INVALID_ARGUMENT` (a required
/// callback is NULL). On error the finalizer is not called.
///
/// # Safety
/// `options_json` must point to `len` readable bytes (or be NULL with 0); `cycle` must
/// point to a `keel_supervisor_cycle`; `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_supervisor_new(
    options_json: *const c_char,
    len: usize,
    cycle: *const keel_supervisor_cycle,
    userdata: *mut c_void,
    finalizer: keel_finalizer_fn,
    out: *mut *mut keel_supervisor,
) -> crate::error::keel_result {
    boundary("keel_supervisor_new", || {
        let out = Out::new(out, "out")?;
        if cycle.is_null() {
            return Err(Error::null("cycle"));
        }
        let cycle = *cycle;
        if cycle.register_fn.is_none() || cycle.run_fn.is_none() {
            return Err(Error::invalid_argument(
                "cycle.register_fn and cycle.run_fn are required",
            ));
        }
        let text = if options_json.is_null() && len == 0 {
            ""
        } else {
            str_in(options_json, len, "options_json")?
        };
        let options = SupervisorOptions::from_json(text)
            .map_err(|e| Error::coded(e.code(), e.to_string()))?;
        let cb = Callbacks {
            cycle,
            userdata: userdata as usize,
        };
        let handle = Arc::new(OnceLock::new());
        let status_cb = cycle.status_fn;
        let status_ud = userdata as usize;
        let mut builder =
            Supervisor::builder(c_cycle(Arc::new(cb), handle.clone())).options(options);
        if let Some(f) = status_cb {
            builder = builder.on_status(move |e| {
                let mut json = serde_json::to_vec(e).unwrap_or_default();
                let n = json.len();
                json.push(0);
                // SAFETY: the caller's callback; the buffer lives for the call.
                unsafe { f(status_ud as *mut c_void, json.as_ptr().cast(), n) }
            });
        }
        let sup = builder
            .build()
            .map_err(|e| Error::coded(e.code(), e.to_string()))?;
        let shutdown = sup.shutdown_handle();
        // Only now that nothing can fail does the supervisor own the finalizer.
        let p = SUPERVISORS.insert(keel_supervisor { sup, shutdown });
        let _ = handle.set(p as usize);
        if finalizer.is_some() {
            FINALIZERS.lock().unwrap_or_else(|e| e.into_inner()).push((
                p as usize,
                userdata as usize,
                finalizer,
            ));
        }
        out.write(p);
        Ok(())
    })
}

/// Finalizers by handle, run by `keel_supervisor_free` once the supervisor is dropped.
static FINALIZERS: Mutex<Vec<(usize, usize, keel_finalizer_fn)>> = Mutex::new(Vec::new());

/// Run until shutdown (`keel_supervisor_shutdown`, or SIGTERM/SIGINT with
/// `installSignalHandlers`). Blocks the calling thread. Writes the drain exit code (0)
/// to `exit_code` (may be NULL). The status ends `offline` on every path.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT` (not a live handle),
/// `KEEL_SUPERVISOR_ALREADY_RUNNING` (run is called once per handle),
/// `KEEL_SIGNAL_HANDLERS`.
#[no_mangle]
pub extern "C" fn keel_supervisor_run(
    supervisor: *mut keel_supervisor,
    exit_code: *mut i32,
) -> crate::error::keel_result {
    boundary("keel_supervisor_run", || {
        if supervisor.is_null() {
            return Err(Error::null("supervisor"));
        }
        let s = SUPERVISORS.get(supervisor, "supervisor")?;
        let report = s
            .sup
            .run_blocking()
            .map_err(|e| Error::coded(e.code(), e.to_string()))?;
        if let Some(out) = Out::optional(exit_code) {
            // SAFETY: the caller passed a valid pointer or NULL.
            unsafe { out.write(report.exit_code()) };
        }
        Ok(())
    })
}

/// Request shutdown: a sleeping backoff wakes at once; `keel_supervisor_wait_shutdown`
/// returns true. Idempotent; any thread.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn keel_supervisor_shutdown(
    supervisor: *mut keel_supervisor,
) -> crate::error::keel_result {
    boundary("keel_supervisor_shutdown", || {
        if supervisor.is_null() {
            return Err(Error::null("supervisor"));
        }
        SUPERVISORS
            .get(supervisor, "supervisor")?
            .shutdown
            .shutdown();
        Ok(())
    })
}

/// Wait up to `timeout_ms` for shutdown; `*requested` is true once it was requested.
/// A run callback polls this to know when to stop its worker.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn keel_supervisor_wait_shutdown(
    supervisor: *mut keel_supervisor,
    timeout_ms: u64,
    requested: *mut bool,
) -> crate::error::keel_result {
    boundary("keel_supervisor_wait_shutdown", || {
        let out = Out::new(requested, "requested")?;
        if supervisor.is_null() {
            return Err(Error::null("supervisor"));
        }
        let s = SUPERVISORS.get(supervisor, "supervisor")?;
        let deadline =
            std::time::Instant::now() + Duration::from_millis(timeout_ms.min(86_400_000));
        while !s.shutdown.is_shutdown() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5).min(deadline - std::time::Instant::now()));
        }
        // SAFETY: checked non-NULL above.
        unsafe { out.write(s.shutdown.is_shutdown()) };
        Ok(())
    })
}

/// The status snapshot as JSON (`{"version":1,"status":{"state":"running"},
/// "startedAt":…,"at":…,"ready":true,"slots":[{"slot":0,"status":…,"cycles":3,
/// "registrations":3,"registrationFailures":0,"runFailures":0,…}]}`), freed with
/// `keel_string_free`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn keel_supervisor_status(
    supervisor: *mut keel_supervisor,
    out: *mut *mut keel_string,
) -> crate::error::keel_result {
    boundary("keel_supervisor_status", || {
        let out = Out::new(out, "out")?;
        if supervisor.is_null() {
            return Err(Error::null("supervisor"));
        }
        let s = SUPERVISORS.get(supervisor, "supervisor")?;
        let json = s.sup.status().to_json();
        // SAFETY: checked non-NULL above.
        unsafe { out.write(new_string(json.into_bytes())) };
        Ok(())
    })
}

/// Release a supervisor (requesting shutdown first) and call its finalizer. Do not free
/// it while `keel_supervisor_run` is still running on another thread: shut it down and
/// let `_run` return first. NULL and already-freed pointers are ignored.
#[no_mangle]
pub extern "C" fn keel_supervisor_free(supervisor: *mut keel_supervisor) {
    quiet_boundary(|| {
        if supervisor.is_null() {
            return;
        }
        if let Ok(s) = SUPERVISORS.get(supervisor, "supervisor") {
            s.shutdown.shutdown();
        }
        SUPERVISORS.remove(supervisor);
        let fin = {
            let mut f = FINALIZERS.lock().unwrap_or_else(|e| e.into_inner());
            let i = f.iter().position(|(h, _, _)| *h == supervisor as usize);
            i.map(|i| f.remove(i))
        };
        if let Some((_, ud, Some(f))) = fin {
            // SAFETY: the caller's finalizer with its userdata, once.
            unsafe { f(ud as *mut c_void) }
        }
    })
}
