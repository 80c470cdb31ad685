//! Clocks and sleeps that tests can drive.
//!
//! Everything in keel that waits or measures time (watchdogs, kill escalation, retention,
//! back-off) takes a [`SharedClock`] instead of calling `Instant::now()` or
//! `tokio::time::sleep` directly, so a test can substitute a [`ManualClock`] and step time
//! forward deterministically instead of sleeping for real.
//!
//! A clock answers two questions:
//!
//! * [`Clock::now`] — monotonic time since the clock's origin. Cheap: watchdogs store it
//!   on every activity event, so implementations must not lock or allocate.
//! * [`Clock::epoch_ms`] — wall-clock time in epoch milliseconds, for the timestamps that
//!   appear in JSON views (`startedAt`, `heartbeatAt`, …).
//!
//! and offers one way to wait: [`Clock::sleep_until`].
//!
//! [`parse_duration`] is keel's one duration syntax (`500ms`, `30s`, `1h30m`, `250us`),
//! used by every CLI flag that takes a duration: values are whole milliseconds, rounded
//! up, so only an explicit zero is zero (a sub-millisecond watchdog window is 1 ms, never
//! off). [`millis_ceil`] converts any `Duration` for a `…Ms` field the same way.
//!
//! ```
//! use std::time::Duration;
//! use keel_core::time::{Clock, ManualClock};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let clock = ManualClock::new();
//! let sleep = clock.sleep(Duration::from_secs(60));
//! clock.advance(Duration::from_secs(60)); // an hour of tests costs nothing
//! sleep.await;
//! assert_eq!(clock.now(), Duration::from_secs(60));
//! # });
//! ```

mod duration;

pub use duration::{millis_ceil, parse_duration, DurationError, MAX_DURATION_MS};

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A boxed sleep future returned by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A clock shared between the components that use it.
pub type SharedClock = Arc<dyn Clock>;

/// Source of time and sleeps. See the [module docs](self).
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Monotonic time elapsed since this clock's origin. Never goes backwards.
    ///
    /// Must be cheap (no lock, no allocation): it is called on every activity event.
    fn now(&self) -> Duration;

    /// Wall-clock time as milliseconds since the Unix epoch.
    fn epoch_ms(&self) -> u64;

    /// A future that completes once [`now`](Clock::now) has reached `deadline`.
    ///
    /// A deadline in the past completes on first poll.
    fn sleep_until(&self, deadline: Duration) -> Sleep;

    /// A future that completes after `duration` has elapsed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_until(self.now().saturating_add(duration))
    }
}

/// The real clock: `std::time::Instant` for monotonic time, `SystemTime` for the epoch,
/// and tokio's timer for sleeps (so sleeps need a tokio runtime with time enabled).
///
/// ```
/// use std::time::Duration;
/// use keel_core::time::{Clock, SystemClock};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let clock = SystemClock::new();
/// let before = clock.now();
/// clock.sleep(Duration::from_millis(1)).await;
/// assert!(clock.now() > before);
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl SystemClock {
    /// A system clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }

    /// A [`SharedClock`] over a new system clock.
    pub fn shared() -> SharedClock {
        Arc::new(Self::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn epoch_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        let at = self.origin + deadline;
        Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(at)))
    }
}

/// A clock that only moves when told to: [`advance`](ManualClock::advance) steps it and
/// wakes every sleep whose deadline has been reached.
///
/// Cloning gives another handle to the same clock. Sleeps do not need a tokio timer, so a
/// `ManualClock` works on any executor.
///
/// ```
/// use std::time::Duration;
/// use keel_core::time::{Clock, ManualClock};
///
/// let clock = ManualClock::with_epoch_ms(1_700_000_000_000);
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.epoch_ms(), 1_700_000_001_500);
/// assert_eq!(clock.now(), Duration::from_millis(1500));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now_nanos: AtomicU64,
    epoch_base_ms: u64,
    sleepers: Mutex<Sleepers>,
}

#[derive(Default)]
struct Sleepers {
    next_id: u64,
    waiting: Vec<(u64, Duration, Waker)>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .field("epoch_ms", &self.epoch_ms())
            .finish()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A manual clock at monotonic zero whose epoch starts at 2023-11-14T22:13:20Z.
    pub fn new() -> Self {
        Self::with_epoch_ms(1_700_000_000_000)
    }

    /// A manual clock at monotonic zero whose epoch starts at `epoch_ms`.
    pub fn with_epoch_ms(epoch_ms: u64) -> Self {
        Self {
            inner: Arc::new(ManualInner {
                now_nanos: AtomicU64::new(0),
                epoch_base_ms: epoch_ms,
                sleepers: Mutex::new(Sleepers::default()),
            }),
        }
    }

    /// A [`SharedClock`] handle to this clock.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// Step time forward by `by` and wake every sleep whose deadline is now reached.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let now = self
            .inner
            .now_nanos
            .fetch_add(by, Ordering::SeqCst)
            .saturating_add(by);
        let now = Duration::from_nanos(now);
        let ready: Vec<Waker> = {
            let mut sleepers = lock(&self.inner.sleepers);
            let mut ready = Vec::new();
            sleepers.waiting.retain(|(_, deadline, waker)| {
                if *deadline <= now {
                    ready.push(waker.clone());
                    false
                } else {
                    true
                }
            });
            ready
        };
        for waker in ready {
            waker.wake();
        }
    }

    /// How many sleeps are currently parked waiting for this clock to advance.
    ///
    /// Tests use it to know that the tasks under test have reached their waits before
    /// stepping time.
    pub fn pending_sleeps(&self) -> usize {
        lock(&self.inner.sleepers).waiting.len()
    }

    /// The earliest deadline any parked sleep is waiting for, if any.
    pub fn next_deadline(&self) -> Option<Duration> {
        lock(&self.inner.sleepers)
            .waiting
            .iter()
            .map(|(_, d, _)| *d)
            .min()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.inner.now_nanos.load(Ordering::SeqCst))
    }

    fn epoch_ms(&self) -> u64 {
        self.inner.epoch_base_ms + self.now().as_millis() as u64
    }

    fn sleep_until(&self, deadline: Duration) -> Sleep {
        Box::pin(ManualSleep {
            clock: self.inner.clone(),
            deadline,
            id: None,
        })
    }
}

struct ManualSleep {
    clock: Arc<ManualInner>,
    deadline: Duration,
    id: Option<u64>,
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = Duration::from_nanos(self.clock.now_nanos.load(Ordering::SeqCst));
        if now >= self.deadline {
            return Poll::Ready(());
        }
        let clock = self.clock.clone();
        let mut sleepers = lock(&clock.sleepers);
        // Re-check under the lock: `advance` may have run between the load and the lock.
        let now = Duration::from_nanos(clock.now_nanos.load(Ordering::SeqCst));
        if now >= self.deadline {
            if let Some(id) = self.id.take() {
                sleepers.waiting.retain(|(i, _, _)| *i != id);
            }
            return Poll::Ready(());
        }
        match self.id {
            Some(id) => {
                if let Some(slot) = sleepers.waiting.iter_mut().find(|(i, _, _)| *i == id) {
                    slot.2 = cx.waker().clone();
                } else {
                    let deadline = self.deadline;
                    sleepers.waiting.push((id, deadline, cx.waker().clone()));
                }
            }
            None => {
                let id = sleepers.next_id;
                sleepers.next_id += 1;
                let deadline = self.deadline;
                sleepers.waiting.push((id, deadline, cx.waker().clone()));
                drop(sleepers);
                self.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.clock.sleepers)
                .waiting
                .retain(|(i, _, _)| *i != id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_completes_only_after_advance() {
        let clock = ManualClock::new();
        let mut sleep = clock.sleep(Duration::from_millis(10));
        assert!(futures_poll_once(&mut sleep).is_pending());
        assert_eq!(clock.pending_sleeps(), 1);
        clock.advance(Duration::from_millis(9));
        assert!(futures_poll_once(&mut sleep).is_pending());
        clock.advance(Duration::from_millis(1));
        assert!(futures_poll_once(&mut sleep).is_ready());
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[tokio::test]
    async fn dropped_sleep_unregisters() {
        let clock = ManualClock::new();
        let mut sleep = clock.sleep(Duration::from_millis(10));
        assert!(futures_poll_once(&mut sleep).is_pending());
        drop(sleep);
        assert_eq!(clock.pending_sleeps(), 0);
    }

    #[tokio::test]
    async fn system_clock_sleeps() {
        let clock = SystemClock::new();
        let t0 = clock.now();
        clock.sleep(Duration::from_millis(2)).await;
        assert!(clock.now() >= t0 + Duration::from_millis(2));
        assert!(clock.epoch_ms() > 1_600_000_000_000);
    }

    fn futures_poll_once(f: &mut Sleep) -> Poll<()> {
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        f.as_mut().poll(&mut cx)
    }
}
