//! Replenishing supervisor: keep an ephemeral worker registered and running forever.
//!
//! A [`Supervisor`] drives a [`Cycle`] — `register()` → `run(registration)` → again —
//! until shutdown, so a worker that handles one job and exits (an ephemeral GitHub
//! Actions runner) is replaced at once instead of taking the host down with it:
//!
//! * a failed registration backs off, capped exponential with jitter (2 s, 4 s, 8 s,
//!   16 s, 30 s, 30 s, … by default), never exiting the process (under launchd's
//!   KeepAlive that exit became a crash loop with empty logs); a run that lasted the
//!   stable period (60 s) resets the count; an optional burst limit turns the status
//!   `degraded` and keeps trying at the cap;
//! * a failed run (non-zero exit) waits a short fixed backoff (2 s), or the exponential
//!   one ([`RunFailurePolicy::Exponential`], each exit of a supervised command); a cycle
//!   shorter than `minCycleMs` waits out the rest: **no path loops hot**;
//! * shutdown — [`ShutdownHandle::shutdown`], or SIGTERM/SIGINT when
//!   `installSignalHandlers` is set — wakes a sleeping backoff at once and stops a
//!   running worker's whole process tree through [`crate::process`] (SIGTERM, grace,
//!   SIGKILL); the handlers are removed on every exit path; [`run`](Supervisor::run)
//!   returns a [`DrainReport`] whose exit code is 0;
//! * every status change (`online`, `registering`, `running`, `backing-off`,
//!   `degraded`, `offline` — always last) goes to the status callback with a timestamp,
//!   and [`Supervisor::status`] gives a JSON-ready [`StatusSnapshot`];
//! * under systemd (`NOTIFY_SOCKET`), `READY=1` after the first successful registration,
//!   `WATCHDOG=1` pings while the supervisor's event loop is alive (also while
//!   `degraded`: a restart would not cure an outage, it would only be the crash loop
//!   this module exists to end), `STOPPING=1` on shutdown;
//! * pool mode: `pool` slots each run their own loop with their own working directory;
//!   a failing (even panicking) slot never stops the others.
//!
//! [`ActionsRunnerCycle`] is the GitHub Actions ephemeral-runner cycle and
//! [`CommandCycle`] runs one command per cycle; [`service`] writes launchd / systemd
//! service files and reads service health.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use keel_core::supervisor::{BoxFuture, Cycle, CycleContext, CycleError, RunOutcome,
//!     Supervisor, SupervisorOptions};
//!
//! /// Fails to register twice, then runs three jobs, then asks to stop.
//! struct Flaky { calls: AtomicU32, runs: AtomicU32 }
//! impl Cycle for Flaky {
//!     type Registration = u32;
//!     fn register<'a>(&'a self, _: &'a CycleContext) -> BoxFuture<'a, Result<u32, CycleError>> {
//!         Box::pin(async move {
//!             let n = self.calls.fetch_add(1, Ordering::SeqCst);
//!             if n < 2 { Err(CycleError::new("backend unavailable")) } else { Ok(n) }
//!         })
//!     }
//!     fn run<'a>(&'a self, _reg: u32, ctx: &'a CycleContext) -> BoxFuture<'a, Result<RunOutcome, CycleError>> {
//!         Box::pin(async move {
//!             if self.runs.fetch_add(1, Ordering::SeqCst) == 2 { ctx.request_shutdown_of_supervisor(); }
//!             Ok(RunOutcome::exited(0))
//!         })
//!     }
//! }
//!
//! let opts = SupervisorOptions { backoff_base_ms: 1, backoff_max_ms: 4, min_cycle_ms: 1,
//!     ..Default::default() };
//! let sup = Supervisor::builder(Flaky { calls: AtomicU32::new(0), runs: AtomicU32::new(0) })
//!     .options(opts)
//!     .build()?;
//! let report = sup.run_blocking()?;
//! assert_eq!(report.exit_code(), 0);
//! let snap = sup.status();
//! assert_eq!(snap.status.name(), "offline");
//! assert_eq!(snap.slots[0].registration_failures, 2);
//! assert_eq!(snap.slots[0].registrations, 3);
//! # Ok::<(), keel_core::supervisor::SupervisorError>(())
//! ```

mod backoff;
mod command;
mod cycle;
mod error;
mod external;
mod notify;
mod options;
mod runner;
pub mod service;
mod signals;
mod status;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::time::{SharedClock, SystemClock};

pub use backoff::Backoff;
pub use command::{CommandCycle, CommandCycleOptions};
pub use cycle::{BlockingCycle, BoxFuture, Cycle, CycleContext, CycleError, RunOutcome};
pub use error::{sample_codes, SupervisorError};
pub use external::{Dispatch, ExternalCall, ExternalCalls, ExternalCycle, ExternalTokenProvider};
pub use notify::{watchdog_interval_from_env, Notifier};
pub use options::{
    BurstLimit, RunFailurePolicy, SupervisorOptions, DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX,
    DEFAULT_MIN_CYCLE, DEFAULT_RUN_FAILURE_BACKOFF, DEFAULT_STABLE_AFTER, DEFAULT_STOP_GRACE,
};
pub use runner::{
    remove_stale_runner_config, runner_name, ActionsRunnerCycle, ActionsRunnerOptions,
    CommandTokenProvider, RunnerRegistration, TokenProvider, STALE_RUNNER_FILES,
};
pub use status::{RunRecord, SlotSnapshot, Status, StatusEvent, StatusSnapshot};

use backoff::{Burst, Rng};

/// Extra time, past the stop grace, a run gets to return after shutdown before it is
/// dropped.
const DRAIN_EXTRA: Duration = Duration::from_secs(2);

/// Why the supervisor stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownReason {
    /// [`ShutdownHandle::shutdown`] (or a cycle) asked for it.
    Requested,
    /// This signal arrived (handlers installed).
    Signal(i32),
}

/// What [`Supervisor::run`] returns after a drain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainReport {
    /// Why it stopped.
    pub reason: ShutdownReason,
    /// Cycles started, over all slots.
    pub cycles: u64,
    /// A run had to be dropped because it did not return within grace + 2 s.
    pub forced: bool,
}

impl DrainReport {
    /// The process exit code of a clean drain: 0.
    pub fn exit_code(&self) -> i32 {
        0
    }
}

/// Ends a supervisor from anywhere (another thread, a callback, a signal handler).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    token: CancellationToken,
    reason: Arc<Mutex<Option<ShutdownReason>>>,
}

impl ShutdownHandle {
    /// Request shutdown: a sleeping backoff wakes at once, a running worker is stopped.
    /// Idempotent.
    pub fn shutdown(&self) {
        self.shutdown_with(ShutdownReason::Requested)
    }

    /// Request shutdown because the host received `signal` (a host that handles
    /// SIGTERM/SIGINT itself, as the Node surface does through `process.on`): the same
    /// as [`shutdown`](Self::shutdown), with [`ShutdownReason::Signal`] as the reason.
    pub fn shutdown_for_signal(&self, signal: i32) {
        self.shutdown_with(ShutdownReason::Signal(signal))
    }

    fn shutdown_with(&self, reason: ShutdownReason) {
        {
            let mut r = lock(&self.reason);
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.token.cancel();
    }

    /// True once shutdown was requested.
    pub fn is_shutdown(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl CycleContext {
    /// Ask the whole supervisor to shut down (from inside a cycle).
    pub fn request_shutdown_of_supervisor(&self) {
        self.shutdown.cancel()
    }
}

/// The status callback's type.
pub type StatusCallback = Arc<dyn Fn(&StatusEvent) + Send + Sync>;

/// Builds a [`Supervisor`].
pub struct SupervisorBuilder<C: Cycle> {
    cycle: C,
    options: SupervisorOptions,
    clock: Option<SharedClock>,
    on_status: Option<StatusCallback>,
    notifier: Option<Notifier>,
    seed: Option<u64>,
}

impl<C: Cycle> std::fmt::Debug for SupervisorBuilder<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<C: Cycle> SupervisorBuilder<C> {
    /// The options (validated in [`build`](Self::build)).
    pub fn options(mut self, options: SupervisorOptions) -> Self {
        self.options = options;
        self
    }

    /// The clock for backoffs and timestamps (default: the system clock). Tests pass a
    /// [`ManualClock`](crate::time::ManualClock) to check backoff sequences exactly.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Called on every status change, on the supervisor's thread. Keep it quick.
    pub fn on_status(mut self, f: impl Fn(&StatusEvent) + Send + Sync + 'static) -> Self {
        self.on_status = Some(Arc::new(f));
        self
    }

    /// Talk to this notification socket instead of `$NOTIFY_SOCKET`.
    pub fn notifier(mut self, n: Notifier) -> Self {
        self.notifier = Some(n);
        self
    }

    /// Seed the jitter generator (deterministic jitter in tests).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validate the options and build.
    pub fn build(self) -> Result<Supervisor<C>, SupervisorError> {
        self.options.validate()?;
        let clock = self.clock.unwrap_or_else(SystemClock::shared);
        let n = self.options.pool;
        let slots = (0..n)
            .map(|i| {
                let work_dir = self
                    .options
                    .work_dir
                    .as_ref()
                    .map(|d| PathBuf::from(d).join(format!("slot-{i}")));
                SlotSnapshot {
                    slot: i,
                    status: Status::Online,
                    since: clock.epoch_ms(),
                    cycles: 0,
                    registrations: 0,
                    registration_failures: 0,
                    run_failures: 0,
                    consecutive_failures: 0,
                    work_dir: work_dir.map(|p| p.to_string_lossy().into_owned()),
                    last_error: None,
                    last_run: None,
                }
            })
            .collect();
        let notifier = if self.options.systemd_notify {
            self.notifier.or_else(Notifier::from_env)
        } else {
            None
        };
        Ok(Supervisor {
            inner: Arc::new(Inner {
                cycle: self.cycle,
                options: self.options,
                clock,
                on_status: self.on_status,
                notifier,
                seed: self.seed,
                handle: ShutdownHandle {
                    token: CancellationToken::new(),
                    reason: Arc::new(Mutex::new(None)),
                },
                state: Mutex::new(Shared {
                    started_at: None,
                    ready: false,
                    slots,
                    stopped: false,
                }),
                ran: AtomicBool::new(false),
                forced: AtomicBool::new(false),
            }),
        })
    }
}

struct Shared {
    started_at: Option<u64>,
    ready: bool,
    slots: Vec<SlotSnapshot>,
    stopped: bool,
}

struct Inner<C: Cycle> {
    cycle: C,
    options: SupervisorOptions,
    clock: SharedClock,
    on_status: Option<StatusCallback>,
    notifier: Option<Notifier>,
    seed: Option<u64>,
    handle: ShutdownHandle,
    state: Mutex<Shared>,
    ran: AtomicBool,
    forced: AtomicBool,
}

/// The replenishing supervisor. See the [module docs](self).
pub struct Supervisor<C: Cycle> {
    inner: Arc<Inner<C>>,
}

impl<C: Cycle> std::fmt::Debug for Supervisor<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("options", &self.inner.options)
            .field("status", &self.status().status)
            .finish_non_exhaustive()
    }
}

impl<C: Cycle> Supervisor<C> {
    /// A builder over this cycle (shared by every slot in pool mode; a slot tells itself
    /// apart by [`CycleContext::slot`] and [`CycleContext::work_dir`]).
    pub fn builder(cycle: C) -> SupervisorBuilder<C> {
        SupervisorBuilder {
            cycle,
            options: SupervisorOptions::default(),
            clock: None,
            on_status: None,
            notifier: None,
            seed: None,
        }
    }

    /// A handle that ends [`run`](Self::run) from anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.inner.handle.clone()
    }

    /// Request shutdown (same as the handle's).
    pub fn shutdown(&self) {
        self.inner.handle.shutdown()
    }

    /// The cycle.
    pub fn cycle(&self) -> &C {
        &self.inner.cycle
    }

    /// The status snapshot (for `doctor`).
    pub fn status(&self) -> StatusSnapshot {
        let st = lock(&self.inner.state);
        let status = if st.stopped {
            Status::Offline
        } else if let Some(s) = st
            .slots
            .iter()
            .find(|s| matches!(s.status, Status::Degraded { .. }))
        {
            s.status.clone()
        } else if st.slots.iter().any(|s| s.status == Status::Running) {
            Status::Running
        } else {
            st.slots
                .first()
                .map(|s| s.status.clone())
                .unwrap_or(Status::Offline)
        };
        StatusSnapshot {
            version: 1,
            status,
            started_at: st.started_at,
            at: self.inner.clock.epoch_ms(),
            ready: st.ready,
            slots: st.slots.clone(),
        }
    }

    /// Run on a fresh current-thread tokio runtime until shutdown (the blocking twin of
    /// [`run`](Self::run), for C and the CLI).
    pub fn run_blocking(&self) -> Result<DrainReport, SupervisorError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SupervisorError::Runtime(e.to_string()))?;
        let r = rt.block_on(self.run());
        // A blocking cycle call that ignored shutdown is abandoned, not waited for.
        rt.shutdown_timeout(Duration::from_millis(100));
        r
    }

    /// Run every slot until shutdown. Call once; a second call is
    /// [`SupervisorError::AlreadyRunning`]. The status ends `offline` on every path.
    pub async fn run(&self) -> Result<DrainReport, SupervisorError> {
        if self.inner.ran.swap(true, Ordering::SeqCst) {
            return Err(SupervisorError::AlreadyRunning);
        }
        // Removes the handlers and sets `offline` however this function is left.
        struct Exit<'a, C: Cycle> {
            inner: &'a Arc<Inner<C>>,
            _signals: Option<signals::SignalGuard>,
        }
        impl<C: Cycle> Drop for Exit<'_, C> {
            fn drop(&mut self) {
                let slots = {
                    let mut st = lock(&self.inner.state);
                    st.stopped = true;
                    st.slots.len() as u32
                };
                for slot in 0..slots {
                    self.inner.set_status(slot, Status::Offline, None);
                }
                if let Some(n) = &self.inner.notifier {
                    let _ = n.notify("STOPPING=1\nSTATUS=offline");
                }
            }
        }
        let guard = if self.inner.options.install_signal_handlers {
            let h = self.inner.handle.clone();
            Some(
                signals::install(Arc::new(move |sig| {
                    h.shutdown_with(ShutdownReason::Signal(sig))
                }))
                .map_err(|e| SupervisorError::Signals(e.to_string()))?,
            )
        } else {
            None
        };
        let _exit = Exit {
            inner: &self.inner,
            _signals: guard,
        };
        lock(&self.inner.state).started_at = Some(self.inner.clock.epoch_ms());

        let mut set = tokio::task::JoinSet::new();
        for slot in 0..self.inner.options.pool {
            let inner = self.inner.clone();
            set.spawn(async move { inner.slot_loop(slot).await });
        }
        if let Some(interval) = self.watchdog_interval() {
            let inner = self.inner.clone();
            set.spawn(async move {
                let token = inner.handle.token.clone();
                loop {
                    if let Some(n) = &inner.notifier {
                        let _ = n.notify("WATCHDOG=1");
                    }
                    tokio::select! {
                        _ = inner.clock.sleep(interval) => {}
                        _ = token.cancelled() => return,
                    }
                }
            });
        }
        while let Some(r) = set.join_next().await {
            // A slot loop only ends on shutdown; a panic inside it is caught per call, so
            // an error here is a cancelled task during runtime shutdown.
            let _ = r;
        }
        let reason = lock(&self.inner.handle.reason).unwrap_or(ShutdownReason::Requested);
        let cycles = lock(&self.inner.state).slots.iter().map(|s| s.cycles).sum();
        Ok(DrainReport {
            reason,
            cycles,
            forced: self.inner.forced.load(Ordering::SeqCst),
        })
    }

    fn watchdog_interval(&self) -> Option<Duration> {
        self.inner.notifier.as_ref()?;
        self.inner
            .options
            .watchdog_interval_ms
            .map(Duration::from_millis)
            .or_else(watchdog_interval_from_env)
    }
}

/// Whether keel's SIGTERM handler is installed right now (tests check that `run`
/// removed it).
pub fn signal_handlers_installed() -> bool {
    signals::installed()
}

impl<C: Cycle> Inner<C> {
    fn set_status(&self, slot: u32, status: Status, reason: Option<String>) {
        let at = self.clock.epoch_ms();
        {
            let mut st = lock(&self.state);
            if let Some(s) = st.slots.get_mut(slot as usize) {
                s.status = status.clone();
                s.since = at;
            }
        }
        if let Some(cb) = &self.on_status {
            let ev = StatusEvent {
                slot,
                at,
                status,
                reason,
            };
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| cb(&ev)));
        }
    }

    fn update(&self, slot: u32, f: impl FnOnce(&mut SlotSnapshot)) {
        let mut st = lock(&self.state);
        if let Some(s) = st.slots.get_mut(slot as usize) {
            f(s);
        }
    }

    /// Sleep `d` on the clock; false when shutdown cut it short.
    async fn pause(&self, d: Duration) -> bool {
        let token = self.handle.token.clone();
        tokio::select! {
            _ = self.clock.sleep(d) => !token.is_cancelled(),
            _ = token.cancelled() => false,
        }
    }

    async fn slot_loop(self: Arc<Self>, slot: u32) {
        let o = &self.options;
        let backoff = Backoff::new(
            Duration::from_millis(o.backoff_base_ms),
            Duration::from_millis(o.backoff_max_ms),
            o.jitter,
        );
        let mut rng = match self.seed {
            Some(s) => Rng::seeded(s.wrapping_add(slot as u64)),
            None => Rng::from_entropy(),
        };
        let work_dir = o
            .work_dir
            .as_ref()
            .map(|d| PathBuf::from(d).join(format!("slot-{slot}")));
        let ctx = CycleContext {
            slot,
            work_dir: work_dir.clone(),
            shutdown: self.handle.token.clone(),
            stop_grace: Duration::from_millis(o.stop_grace_ms),
        };
        let token = self.handle.token.clone();
        let mut attempt: u32 = 0;
        let mut burst = Burst::default();
        let mut degraded = false;
        self.set_status(slot, Status::Online, None);

        // Backoff after a failure: returns false when shutdown interrupted it.
        let fail = |attempt: &mut u32,
                    degraded: &mut bool,
                    burst: &mut Burst,
                    rng: &mut Rng,
                    exponential: bool,
                    reason: String| {
            if exponential {
                *attempt = attempt.saturating_add(1);
            }
            if let Some(b) = o.burst {
                if burst.record(
                    self.clock.now(),
                    b.failures,
                    Duration::from_millis(b.window_ms),
                ) {
                    *degraded = true;
                }
            }
            let delay = if *degraded {
                backoff.jittered(backoff.max(), rng.next())
            } else if exponential {
                backoff.delay(*attempt, rng.next())
            } else {
                Duration::from_millis(o.run_failure_backoff_ms)
            };
            let delay_ms = delay.as_millis() as u64;
            let status = if *degraded {
                Status::Degraded {
                    attempt: *attempt,
                    delay_ms,
                }
            } else {
                Status::BackingOff {
                    attempt: *attempt,
                    delay_ms,
                }
            };
            let a = *attempt;
            self.update(slot, |s| {
                s.consecutive_failures = a;
                s.last_error = Some(reason.clone());
            });
            self.set_status(slot, status, Some(reason));
            delay
        };

        loop {
            if token.is_cancelled() {
                break;
            }
            if let Some(dir) = &work_dir {
                let _ = std::fs::create_dir_all(dir);
            }
            let cycle_start = self.clock.now();
            self.update(slot, |s| s.cycles += 1);
            self.set_status(slot, Status::Registering, None);
            let reg = tokio::select! {
                r = CatchUnwind(self.cycle.register(&ctx)) => r,
                _ = token.cancelled() => break,
            };
            let reg = match reg {
                Ok(Ok(reg)) => reg,
                Ok(Err(e)) | Err(e) => {
                    self.update(slot, |s| s.registration_failures += 1);
                    let d = fail(
                        &mut attempt,
                        &mut degraded,
                        &mut burst,
                        &mut rng,
                        true,
                        format!("registration failed: {e}"),
                    );
                    if !self.pause(d).await {
                        break;
                    }
                    continue;
                }
            };
            let first_ready = {
                let mut st = lock(&self.state);
                let first = !st.ready;
                st.ready = true;
                if let Some(s) = st.slots.get_mut(slot as usize) {
                    s.registrations += 1;
                }
                first
            };
            if first_ready {
                if let Some(n) = &self.notifier {
                    let _ = n.notify("READY=1\nSTATUS=registered");
                }
            }
            self.set_status(slot, Status::Running, None);
            let run_start = self.clock.now();
            let mut fut = CatchUnwind(self.cycle.run(reg, &ctx));
            let out = tokio::select! {
                o = &mut fut => Some(o),
                _ = token.cancelled() => None,
            };
            let out = match out {
                Some(o) => o,
                None => {
                    let limit = ctx.stop_grace + DRAIN_EXTRA;
                    tokio::select! {
                        o = &mut fut => o,
                        _ = tokio::time::sleep(limit) => {
                            self.forced.store(true, Ordering::SeqCst);
                            drop(fut);
                            break;
                        }
                    }
                }
            };
            let ran_for = self.clock.now().saturating_sub(run_start);
            let outcome = match &out {
                Ok(Ok(o)) => *o,
                _ => RunOutcome::default(),
            };
            let err = match out {
                Ok(Ok(_)) => None,
                Ok(Err(e)) | Err(e) => Some(e),
            };
            let failed = err.is_some() || outcome.failed();
            let record = RunRecord {
                ended_at: self.clock.epoch_ms(),
                duration_ms: ran_for.as_millis() as u64,
                exit_code: outcome.exit_code,
                signal: outcome.signal,
                ambiguous: outcome.ambiguous,
                failed: failed && !token.is_cancelled(),
            };
            self.update(slot, |s| s.last_run = Some(record));
            if token.is_cancelled() {
                break;
            }
            if ran_for >= Duration::from_millis(o.stable_after_ms) {
                attempt = 0;
                degraded = false;
                burst.clear();
                self.update(slot, |s| s.consecutive_failures = 0);
            }
            if failed {
                self.update(slot, |s| s.run_failures += 1);
                let reason = match err {
                    Some(e) => format!("run failed: {e}"),
                    None => match (outcome.exit_code, outcome.signal) {
                        (_, Some(sig)) => format!("worker killed by signal {sig}"),
                        (Some(c), _) => format!("worker exited with code {c}"),
                        _ => "worker ended abnormally".into(),
                    },
                };
                let d = fail(
                    &mut attempt,
                    &mut degraded,
                    &mut burst,
                    &mut rng,
                    o.run_failure == RunFailurePolicy::Exponential,
                    reason,
                );
                if !self.pause(d).await {
                    break;
                }
                continue;
            }
            // A successful cycle: wait out the minimum cycle length (no hot loop).
            let elapsed = self.clock.now().saturating_sub(cycle_start);
            let min = Duration::from_millis(o.min_cycle_ms);
            if elapsed < min && !self.pause(min - elapsed).await {
                break;
            }
        }
    }
}

/// Polls a future, turning a panic into a [`CycleError`] (a panicking cycle is one
/// failed cycle, not a dead slot).
struct CatchUnwind<F: ?Sized>(Pin<Box<F>>);

impl<T, F: Future<Output = Result<T, CycleError>> + ?Sized> Future for CatchUnwind<F> {
    type Output = Result<Result<T, CycleError>, CycleError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                Poll::Ready(Err(CycleError::new(format!("cycle panicked: {msg}"))))
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
