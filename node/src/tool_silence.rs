//! The standalone tool-silence watchdog over `keel_core::jobs::ToolSilence`: the native
//! half of `ToolSilenceWatchdog` (in `tool-silence.js`, the reference's
//! `tool-silence.ts` API). The JavaScript half owns the timer and the host's callbacks;
//! every decision (which window is live, when it is due, whether an elapsed window
//! fires or defers) is keel-core's. Times are the host's milliseconds (`Date.now()`).

use keel_core::jobs::{ToolSilence, ToolSilenceCheck};
use napi::Env;
use napi_derive::napi;

use crate::error::{code, KeelError};

/// Milliseconds from JavaScript (`what` names the argument in the error).
fn ms(env: &Env, what: &str, v: f64) -> napi::Result<u64> {
    if !v.is_finite() {
        return Err(KeelError::range_error(
            code::INVALID_OPTION,
            format!("{what} must be a finite number of milliseconds (got {v})"),
        )
        .throw(env));
    }
    // Negative: before the epoch / a disabled window (the reference's `<= 0`).
    Ok(if v <= 0.0 {
        0
    } else {
        v.ceil().min(u64::MAX as f64) as u64
    })
}

/// What `check` decided: `expired` (report `no-tool-progress`) and when to check next
/// (`dueAt`, host milliseconds; `null`: nothing is timed).
#[napi(object)]
pub struct ToolSilenceVerdict {
    pub expired: bool,
    pub due_at: Option<f64>,
}

/// The native state of one `ToolSilenceWatchdog` (not part of the API).
#[napi]
pub struct ToolSilenceNative {
    inner: ToolSilence,
}

#[napi]
impl ToolSilenceNative {
    /// `windowMs <= 0` disables the watchdog (every window is inert).
    #[napi(constructor)]
    pub fn new(env: Env, window_ms: f64) -> napi::Result<Self> {
        Ok(Self {
            inner: ToolSilence::new(ms(&env, "windowMs", window_ms)?),
        })
    }

    /// Open a window at `now`, superseding the open one; its id (0: inert).
    #[napi]
    pub fn open(&mut self, env: Env, now: f64) -> napi::Result<f64> {
        let now = ms(&env, "now", now)?;
        Ok(self.inner.open(now) as f64)
    }

    /// A tool call completed in window `id`: whether it was the open one (re-armed).
    #[napi]
    pub fn tool_completed(&mut self, env: Env, id: f64, now: f64) -> napi::Result<bool> {
        let now = ms(&env, "now", now)?;
        Ok(self.inner.tool_completed(id as u64, now))
    }

    /// Close window `id`: whether it was the open one.
    #[napi]
    pub fn close(&mut self, id: f64) -> bool {
        self.inner.close(id as u64)
    }

    /// Disarm whatever window is open.
    #[napi]
    pub fn stop(&mut self) {
        self.inner.stop();
    }

    /// When the open window is due (host ms), without deciding anything; `null` when
    /// nothing is timed.
    #[napi]
    pub fn due_at(&self) -> Option<f64> {
        self.inner.due_at().map(|at| at as f64)
    }

    /// Decide at `now` with the host's last output at `lastActivityAt` (`null`: never).
    #[napi]
    pub fn check(
        &mut self,
        env: Env,
        now: f64,
        last_activity_at: Option<f64>,
    ) -> napi::Result<ToolSilenceVerdict> {
        let now = ms(&env, "now", now)?;
        let last = last_activity_at
            .map(|v| ms(&env, "lastActivityAt()", v))
            .transpose()?;
        Ok(match self.inner.check(now, last) {
            ToolSilenceCheck::Idle => ToolSilenceVerdict {
                expired: false,
                due_at: None,
            },
            ToolSilenceCheck::Wait(at) => ToolSilenceVerdict {
                expired: false,
                due_at: Some(at as f64),
            },
            ToolSilenceCheck::Expired => ToolSilenceVerdict {
                expired: true,
                due_at: None,
            },
        })
    }
}
