//! Work that runs outside the registry's runtime — on a host thread, or on a JavaScript
//! event loop — and reports its outcome back to the job.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::failure::WorkError;
use super::registry::JobContext;

/// The sending half of [`external_work`]: completes the job's work with its outcome.
/// Dropping it without completing fails the work ("dropped without an outcome").
#[derive(Debug)]
pub struct WorkCompleter<R> {
    tx: oneshot::Sender<Result<R, WorkError>>,
}

impl<R> WorkCompleter<R> {
    /// Report the outcome. Returns `false` when nobody waits for it any more (the job was
    /// abandoned after its cancel grace, or the registry is gone).
    pub fn complete(self, outcome: Result<R, WorkError>) -> bool {
        self.tx.send(outcome).is_ok()
    }

    /// Whether the job stopped waiting for this outcome.
    pub fn is_abandoned(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The receiving half of [`external_work`]: a future to return from a registry's run
/// function, resolving with what the [`WorkCompleter`] reports.
#[derive(Debug)]
pub struct ExternalWork<R> {
    rx: oneshot::Receiver<Result<R, WorkError>>,
}

impl<R> Future for ExternalWork<R> {
    type Output = Result<R, WorkError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err(WorkError::agent(
                    "the job's work was dropped without an outcome",
                ))
            })
        })
    }
}

/// A pair for work driven outside the registry's runtime: return the [`ExternalWork`]
/// from the run function, hand the [`WorkCompleter`] to whatever runs the work.
///
/// ```
/// use std::time::Duration;
/// use keel_core::jobs::{external_work, JobRegistry, JobRuntime, JobState, WorkError};
///
/// let rt = JobRuntime::new("keel-doc")?;
/// let registry = JobRegistry::builder(|n: u64, ctx| {
///     let (done, work) = external_work();
///     // The work runs on a thread of its own and reports through `ctx`.
///     std::thread::spawn(move || {
///         ctx.activity();
///         done.complete(Ok::<_, WorkError>(format!("{}", n + 1)));
///     });
///     work
/// })
/// .runtime(rt.handle().clone())
/// .build()
/// .unwrap();
/// registry.start("a", 41).unwrap();
/// while registry.running_count() > 0 {
///     std::thread::sleep(Duration::from_millis(1));
/// }
/// assert_eq!(registry.get("a").unwrap().result.as_deref(), Some("42"));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn external_work<R>() -> (WorkCompleter<R>, ExternalWork<R>) {
    let (tx, rx) = oneshot::channel();
    (WorkCompleter { tx }, ExternalWork { rx })
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

impl JobContext {
    /// Block the calling (non-async) thread until the job is cancelled or `timeout`
    /// passes; `true` when cancelled. For work running on a host thread: an
    /// interruptible sleep. Needs no runtime.
    pub fn wait_cancelled_blocking(&self, timeout: Duration) -> bool {
        let token = self.cancellation();
        if token.is_cancelled() {
            return true;
        }
        let deadline = Instant::now() + timeout;
        let waker = std::sync::Arc::new(ThreadWaker(std::thread::current())).into();
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(token.cancelled());
        loop {
            if fut.as_mut().poll(&mut cx).is_ready() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return token.is_cancelled();
            }
            std::thread::park_timeout(deadline - now);
        }
    }
}
