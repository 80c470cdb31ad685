//! The three watchdogs of a job, as resettable deadlines.
//!
//! Activity is a single relaxed atomic store of the clock's monotonic time: no lock, no
//! allocation, no timer re-arm. One waiter per job sleeps until the earliest deadline it
//! last computed, re-reads the atomics when it wakes, and either fires or sleeps again
//! until the new (later) deadline. A job that streams a million lines therefore costs one
//! timer wake-up per window, not a million timer resets.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::tool_silence::{self, Expiry};
use crate::process::KillReason;
use crate::time::SharedClock;

/// Default inactivity window: 10 minutes.
pub const DEFAULT_INACTIVITY: Duration = Duration::from_secs(10 * 60);
/// Default max duration: 60 minutes.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(60 * 60);

/// The three watchdog windows. `None` disables a watchdog.
///
/// ```
/// use std::time::Duration;
/// use keel_core::jobs::WatchdogLimits;
///
/// let limits = WatchdogLimits::default()
///     .inactivity(Some(Duration::from_secs(30)))
///     .tool_silence(Some(Duration::from_secs(300)));
/// assert_eq!(limits.max_duration_window(), Some(Duration::from_secs(3600)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchdogLimits {
    inactivity: Option<Duration>,
    max_duration: Option<Duration>,
    tool_silence: Option<Duration>,
    cold_start: Option<Duration>,
}

impl Default for WatchdogLimits {
    /// Inactivity 10 min, max duration 60 min, tool silence off.
    fn default() -> Self {
        Self {
            inactivity: Some(DEFAULT_INACTIVITY),
            max_duration: Some(DEFAULT_MAX_DURATION),
            tool_silence: None,
            cold_start: None,
        }
    }
}

impl WatchdogLimits {
    /// All three watchdogs off.
    pub fn none() -> Self {
        Self {
            inactivity: None,
            max_duration: None,
            tool_silence: None,
            cold_start: None,
        }
    }

    /// Fail the job after this long with no activity (`None`: never).
    pub fn inactivity(mut self, window: Option<Duration>) -> Self {
        self.inactivity = window;
        self
    }

    /// Fail the job after this long in total (`None`: never).
    pub fn max_duration(mut self, window: Option<Duration>) -> Self {
        self.max_duration = window;
        self
    }

    /// Fail the job when activity goes on but no tool span completes for this long
    /// (`None`: never, the default).
    pub fn tool_silence(mut self, window: Option<Duration>) -> Self {
        self.tool_silence = window;
        self
    }

    /// Record a cold-start diagnostic (the reference's `coldStartMs`; it never kills the
    /// job) when no activity has arrived this long after the start (`None`: never, the
    /// default).
    pub fn cold_start(mut self, window: Option<Duration>) -> Self {
        self.cold_start = window;
        self
    }

    /// The cold-start window.
    pub fn cold_start_window(&self) -> Option<Duration> {
        self.cold_start
    }

    /// The inactivity window.
    pub fn inactivity_window(&self) -> Option<Duration> {
        self.inactivity
    }

    /// The max-duration window.
    pub fn max_duration_window(&self) -> Option<Duration> {
        self.max_duration
    }

    /// The tool-silence window.
    pub fn tool_silence_window(&self) -> Option<Duration> {
        self.tool_silence
    }

    /// Check that every enabled window is non-zero; names the offending field.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        for (name, w) in [
            ("inactivity", self.inactivity),
            ("maxDuration", self.max_duration),
            ("toolSilence", self.tool_silence),
            ("coldStart", self.cold_start),
        ] {
            if w == Some(Duration::ZERO) {
                return Err(name);
            }
        }
        Ok(())
    }
}

const NEVER: u64 = u64::MAX;

/// Reads the time (on the watchdog's clock) of the last activity a host recorded through
/// its own channel — e.g. a JavaScript `Float64Array` slot written without a native call —
/// or `None` if there was none. Called only when a watchdog wakes or a view is read.
pub(crate) type ActivitySource = Box<dyn Fn() -> Option<Duration> + Send + Sync>;

struct Source(ActivitySource);

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActivitySource")
    }
}

/// What [`Watchdog::tick`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// The watchdog fired now, or the job had already been cancelled (the reason, if a
    /// watchdog or an abort set one).
    Done(Option<KillReason>),
    /// Nothing is due: look again at this monotonic time in nanoseconds (`None`: no
    /// deadline is armed; only a new tool window or a cancellation changes that).
    Next(Option<u64>),
}

/// Window ids are unique in the process, so a stale handle never matches a later window
/// (of this job or of another one).
static NEXT_WINDOW: AtomicU64 = AtomicU64::new(1);

/// One job's watchdog state. Shared between the work (which reports activity) and the
/// waiter (which fires).
#[derive(Debug)]
pub(crate) struct Watchdog {
    clock: SharedClock,
    limits: WatchdogLimits,
    started: u64,
    /// Monotonic nanos of the last activity, or NEVER.
    last_activity: AtomicU64,
    /// A second activity channel the host writes itself (see [`ActivitySource`]).
    source: OnceLock<Source>,
    /// Monotonic nanos the tool-silence window was last armed (start, last span, or the
    /// last beat of the open window), or NEVER while no window is open.
    tool_armed: AtomicU64,
    /// The id of the open tool window (0: the implicit window armed at start).
    window: AtomicU64,
    /// Serialises window open / beat / close (readers use the atomics).
    window_lock: Mutex<()>,
    /// Explicit windows: tool silence only measures work that opened a window.
    explicit_windows: bool,
    /// The cold-start diagnostic was recorded (or can no longer be).
    cold_done: AtomicBool,
    /// Wakes the waiter when a window opens (its deadline may be earlier than the one it
    /// sleeps towards).
    rearm: Notify,
    /// 0 = not fired; otherwise a `KillReason` code.
    reason: AtomicU8,
    token: CancellationToken,
}

pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1)
}

fn code(r: KillReason) -> u8 {
    match r {
        KillReason::InactivityTimeout => 1,
        KillReason::MaxDuration => 2,
        KillReason::NoToolProgress => 3,
        _ => 4,
    }
}

fn decode(c: u8) -> Option<KillReason> {
    match c {
        1 => Some(KillReason::InactivityTimeout),
        2 => Some(KillReason::MaxDuration),
        3 => Some(KillReason::NoToolProgress),
        4 => Some(KillReason::Aborted),
        _ => None,
    }
}

impl Watchdog {
    pub(crate) fn new(
        clock: SharedClock,
        limits: WatchdogLimits,
        token: CancellationToken,
    ) -> Self {
        Self::with_windows(clock, limits, token, false)
    }

    /// `explicit_windows`: the tool-silence window is armed only between
    /// [`open_window`](Watchdog::open_window) and its close (the reference's
    /// `beginToolWindow`), not from the start.
    pub(crate) fn with_windows(
        clock: SharedClock,
        limits: WatchdogLimits,
        token: CancellationToken,
        explicit_windows: bool,
    ) -> Self {
        let started = nanos(clock.now());
        Self {
            clock,
            limits,
            started,
            last_activity: AtomicU64::new(NEVER),
            source: OnceLock::new(),
            tool_armed: AtomicU64::new(if explicit_windows { NEVER } else { started }),
            window: AtomicU64::new(0),
            window_lock: Mutex::new(()),
            explicit_windows,
            cold_done: AtomicBool::new(limits.cold_start.is_none()),
            rearm: Notify::new(),
            reason: AtomicU8::new(0),
            token,
        }
    }

    /// Open a tool window (superseding the open one) and return its id; 0 (an inert
    /// window) when tool silence is off.
    pub(crate) fn open_window(&self) -> u64 {
        if self.limits.tool_silence.is_none() {
            return 0;
        }
        let id = NEXT_WINDOW.fetch_add(1, Ordering::Relaxed);
        {
            let _g = self.window_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.window.store(id, Ordering::Relaxed);
            self.tool_armed
                .store(nanos(self.clock.now()), Ordering::Relaxed);
        }
        self.rearm.notify_one();
        id
    }

    /// A tool call completed in window `id`: re-arm it, if it is still the open one.
    pub(crate) fn window_completed(&self, id: u64) {
        if id == 0 {
            return;
        }
        let _g = self.window_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.window.load(Ordering::Relaxed) == id {
            self.tool_armed
                .store(nanos(self.clock.now()), Ordering::Relaxed);
        }
    }

    /// Close window `id`, if it is still the open one: tool silence stops measuring.
    pub(crate) fn close_window(&self, id: u64) {
        if id == 0 {
            return;
        }
        let _g = self.window_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.window.load(Ordering::Relaxed) == id {
            self.window.store(0, Ordering::Relaxed);
            self.tool_armed.store(NEVER, Ordering::Relaxed);
        }
    }

    pub(crate) fn limits(&self) -> &WatchdogLimits {
        &self.limits
    }

    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Monotonic time the watchdog started.
    pub(crate) fn started(&self) -> Duration {
        Duration::from_nanos(self.started)
    }

    /// Record activity: one relaxed atomic store.
    #[inline]
    pub(crate) fn activity(&self) {
        self.last_activity
            .store(nanos(self.clock.now()), Ordering::Relaxed);
    }

    /// A tool call completed: re-arm the tool-silence window. Not activity by itself (as
    /// in the reference: the output that carried the span is the activity).
    /// With explicit windows a span re-arms nothing (the reference: only the window's
    /// `toolCompleted()` does).
    pub(crate) fn tool_completed(&self) {
        if self.explicit_windows {
            return;
        }
        self.tool_armed
            .store(nanos(self.clock.now()), Ordering::Relaxed);
    }

    /// Install the host's own activity channel (once; later calls are ignored).
    pub(crate) fn set_source(&self, source: ActivitySource) {
        let _ = self.source.set(Source(source));
    }

    /// Monotonic nanos of the last activity through either channel, or NEVER.
    fn last(&self) -> u64 {
        let own = self.last_activity.load(Ordering::Relaxed);
        match self.source.get().and_then(|f| (f.0)()) {
            None => own,
            Some(d) if own == NEVER => nanos(d),
            Some(d) => own.max(nanos(d)),
        }
    }

    /// Monotonic time of the last activity, if any.
    pub(crate) fn last_activity(&self) -> Option<Duration> {
        match self.last() {
            NEVER => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    /// Why the watchdog fired (or the job was aborted), if it has.
    pub(crate) fn reason(&self) -> Option<KillReason> {
        decode(self.reason.load(Ordering::Acquire))
    }

    /// Fire with `reason` (first caller wins the reason) and cancel the work.
    pub(crate) fn fire(&self, reason: KillReason) -> bool {
        let won = self
            .reason
            .compare_exchange(0, code(reason), Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        self.token.cancel();
        won
    }

    /// Wait until a watchdog fires (returns its reason) or the token is cancelled by
    /// someone else (returns whatever reason was set, if any).
    pub(crate) async fn run(&self) -> Option<KillReason> {
        self.run_with(|| {}).await
    }

    /// [`run`](Watchdog::run), calling `on_cold_start` (once, on the waiter's task) when
    /// the cold-start window passes without any activity.
    pub(crate) async fn run_with(&self, on_cold_start: impl Fn()) -> Option<KillReason> {
        loop {
            match self.tick(&on_cold_start) {
                Tick::Done(reason) => return reason,
                Tick::Next(None) => {
                    tokio::select! {
                        _ = self.token.cancelled() => return self.reason(),
                        _ = self.rearm.notified() => {}
                    }
                }
                Tick::Next(Some(at)) => {
                    tokio::select! {
                        _ = self.clock.sleep_until(Duration::from_nanos(at)) => {}
                        _ = self.token.cancelled() => return self.reason(),
                        _ = self.rearm.notified() => {}
                    }
                }
            }
        }
    }

    /// One look at the deadlines, without waiting: fire the watchdog that is due (then
    /// [`Tick::Done`]), record the cold-start diagnostic when its window just passed in
    /// silence (`on_cold_start`, once), or say when to look again. A registry's timer
    /// calls this for each of its jobs when their deadline comes; [`run_with`] loops on
    /// it for a lone command.
    ///
    /// [`run_with`]: Watchdog::run_with
    pub(crate) fn tick(&self, on_cold_start: impl Fn()) -> Tick {
        if self.token.is_cancelled() {
            return Tick::Done(self.reason());
        }
        let cold = self.check_cold_start();
        if cold == Some(true) {
            on_cold_start();
        }
        let next = match self.check() {
            Ok(next) => next,
            Err(reason) => {
                self.fire(reason);
                return Tick::Done(self.reason());
            }
        };
        Tick::Next(match (next, cold) {
            (Some(a), Some(false)) => Some(a.min(self.cold_deadline())),
            (None, Some(false)) => Some(self.cold_deadline()),
            (n, _) => n,
        })
    }

    fn cold_deadline(&self) -> u64 {
        let w = self.limits.cold_start.map(nanos).unwrap_or(NEVER);
        self.started.saturating_add(w)
    }

    /// `None`: nothing to watch; `Some(true)`: the cold-start window just passed in
    /// silence (recorded once); `Some(false)`: still pending.
    fn check_cold_start(&self) -> Option<bool> {
        if self.cold_done.load(Ordering::Relaxed) {
            return None;
        }
        if self.last() != NEVER {
            self.cold_done.store(true, Ordering::Relaxed);
            return None;
        }
        if nanos(self.clock.now()) >= self.cold_deadline() {
            self.cold_done.store(true, Ordering::Relaxed);
            return Some(true);
        }
        Some(false)
    }

    /// `Err(reason)` if a watchdog is due now (the one with the earliest deadline);
    /// otherwise `Ok(next deadline)` (`None`: no watchdog armed).
    fn check(&self) -> Result<Option<u64>, KillReason> {
        let now = nanos(self.clock.now());
        let last = self.last();
        let mut due: Option<(u64, KillReason)> = None;
        let mut next = NEVER;
        let mut consider =
            |deadline: u64, reason: KillReason, due: &mut Option<(u64, KillReason)>| {
                if now >= deadline {
                    if due.is_none_or(|(d, _)| deadline < d) {
                        *due = Some((deadline, reason));
                    }
                } else {
                    next = next.min(deadline);
                }
            };
        if let Some(w) = self.limits.max_duration {
            consider(
                self.started.saturating_add(nanos(w)),
                KillReason::MaxDuration,
                &mut due,
            );
        }
        if let Some(w) = self.limits.inactivity {
            let from = if last == NEVER { self.started } else { last };
            consider(
                from.saturating_add(nanos(w)),
                KillReason::InactivityTimeout,
                &mut due,
            );
        }
        let armed = self.tool_armed.load(Ordering::Relaxed);
        if let (Some(w), true) = (self.limits.tool_silence, armed != NEVER) {
            let seen = (last != NEVER).then_some(last);
            match tool_silence::expiry(armed, nanos(w), now, seen) {
                Expiry::Pending(d) | Expiry::Fire(d) => {
                    consider(d, KillReason::NoToolProgress, &mut due)
                }
                // Elapsed in silence (the inactivity watchdog's fact): re-arm instead.
                Expiry::Rearm => {
                    let _ = self.tool_armed.compare_exchange(
                        armed,
                        now,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    consider(
                        now.saturating_add(nanos(w)),
                        KillReason::NoToolProgress,
                        &mut due,
                    );
                }
            }
        }
        match due {
            Some((_, reason)) => Err(reason),
            None if next == NEVER => Ok(None),
            None => Ok(Some(next)),
        }
    }
}
