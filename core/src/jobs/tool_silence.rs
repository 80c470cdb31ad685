//! Tool-silence windows as the reference (`tool-silence.ts`) defines them, in one place:
//! the job registry's watchdog and the standalone [`ToolSilence`] both decide with the
//! same expiry rule.
//!
//! A window is opened by the one producer that can report completed tool calls; it is
//! beaten by each completed call and closed when that producer ends. One window is open
//! at a time: opening another supersedes it, and a superseded (or closed) window's calls
//! are ignored. When a window elapses it fires only if output arrived *during* it; a
//! window that passed in silence is the inactivity watchdog's fact, so it re-arms
//! instead (a run that goes quiet and then resumes talking is still caught, one full
//! window later).
//!
//! [`ToolSilence`] is clock-free: every call takes the caller's `now` (any monotonic or
//! wall-clock unit, as long as it is the same one `last_activity` uses), so a host can
//! drive it from its own clock and timers (the Node `ToolSilenceWatchdog` does, with
//! `Date.now()` and `setTimeout`).
//!
//! ```
//! use keel_core::jobs::{ToolSilence, ToolSilenceCheck};
//! let mut ts = ToolSilence::new(20);
//! let w = ts.open(0);
//! assert_eq!(ts.check(10, None), ToolSilenceCheck::Wait(20));
//! // Output at 15, no completed tool call by 20: fire.
//! assert_eq!(ts.check(20, Some(15)), ToolSilenceCheck::Expired);
//! // Fired once: not timed again until a tool call completes in it.
//! assert_eq!(ts.check(50, Some(49)), ToolSilenceCheck::Idle);
//! assert!(ts.tool_completed(w, 50));
//! assert_eq!(ts.check(60, Some(59)), ToolSilenceCheck::Wait(70));
//! ts.close(w);
//! assert!(!ts.tool_completed(w, 80));
//! assert_eq!(ts.check(100, Some(99)), ToolSilenceCheck::Idle);
//! ```

/// What [`expiry`] decided about one armed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Not elapsed: due at this time.
    Pending(u64),
    /// Elapsed with output during it: fire (it was due at this time).
    Fire(u64),
    /// Elapsed in silence: re-arm at `now` (the new deadline is `now + window`).
    Rearm,
}

/// The reference's expiry rule for a window armed at `armed`, of length `window`, seen at
/// `now`, with the last output at `last` (`None`: never).
pub(crate) fn expiry(armed: u64, window: u64, now: u64, last: Option<u64>) -> Expiry {
    let deadline = armed.saturating_add(window);
    if now < deadline {
        return Expiry::Pending(deadline);
    }
    match last {
        Some(l) if l > armed => Expiry::Fire(deadline),
        _ => Expiry::Rearm,
    }
}

/// The verdict of [`ToolSilence::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSilenceCheck {
    /// No window is open (or the watchdog is off / stopped): nothing to time.
    Idle,
    /// The open window is due at this time; check again then.
    Wait(u64),
    /// The open window elapsed while output kept arriving and no tool call completed:
    /// report `no-tool-progress`. As in the reference (its `onExpired` fires once), the
    /// window stays open but is not timed again until a tool call completes in it or a
    /// new window opens.
    Expired,
}

/// A standalone tool-silence watchdog (the reference's `ToolSilenceWatchdog`), without a
/// clock or timer of its own: the caller passes `now` and checks when
/// [`ToolSilenceCheck::Wait`] says.
#[derive(Debug, Clone)]
pub struct ToolSilence {
    window: u64,
    /// Id of the latest window (every open takes the next number; 0 is the inert window).
    open_id: u64,
    /// Window `open_id` is open (not closed, not stopped).
    live: bool,
    /// When the open window was last armed; `None` while nothing is timed.
    armed: Option<u64>,
}

impl ToolSilence {
    /// A watchdog with windows of `window` units; `0` disables it (every window is inert).
    pub fn new(window: u64) -> Self {
        Self {
            window,
            open_id: 0,
            live: false,
            armed: None,
        }
    }

    /// The window length (0: disabled).
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Open a window at `now`, superseding the open one; its id (0: inert, disabled).
    pub fn open(&mut self, now: u64) -> u64 {
        if self.window == 0 {
            return 0;
        }
        self.open_id += 1;
        self.live = true;
        self.armed = Some(now);
        self.open_id
    }

    /// When the open window is due (`None`: nothing is timed). Decides nothing.
    pub fn due_at(&self) -> Option<u64> {
        self.armed.map(|a| a.saturating_add(self.window))
    }

    /// Whether `id` is the open window.
    pub fn is_open(&self, id: u64) -> bool {
        id != 0 && id == self.open_id && self.live
    }

    /// A tool call completed in window `id` at `now`: re-arm it if it is the open one.
    /// Returns whether it was.
    pub fn tool_completed(&mut self, id: u64, now: u64) -> bool {
        if !self.is_open(id) {
            return false;
        }
        self.armed = Some(now);
        true
    }

    /// Close window `id` if it is the open one (retiring its id, so a late
    /// [`tool_completed`](Self::tool_completed) cannot re-arm it). Idempotent; returns
    /// whether it was open.
    pub fn close(&mut self, id: u64) -> bool {
        if !self.is_open(id) {
            return false;
        }
        self.open_id += 1;
        self.live = false;
        self.armed = None;
        true
    }

    /// Disarm whatever window is open (the job settled). Safe with none open.
    pub fn stop(&mut self) {
        if self.live {
            self.open_id += 1;
        }
        self.live = false;
        self.armed = None;
    }

    /// Decide at `now`, with the last output at `last_activity` (`None`: never), in the
    /// same unit as `now`.
    pub fn check(&mut self, now: u64, last_activity: Option<u64>) -> ToolSilenceCheck {
        let Some(armed) = self.armed else {
            return ToolSilenceCheck::Idle;
        };
        match expiry(armed, self.window, now, last_activity) {
            Expiry::Pending(at) => ToolSilenceCheck::Wait(at),
            Expiry::Fire(_) => {
                self.armed = None;
                ToolSilenceCheck::Expired
            }
            Expiry::Rearm => {
                self.armed = Some(now);
                ToolSilenceCheck::Wait(now.saturating_add(self.window))
            }
        }
    }
}
