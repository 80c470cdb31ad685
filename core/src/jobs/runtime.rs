//! [`JobRuntime`]: a tokio runtime on one long-lived thread that keel owns, for hosts that
//! have no runtime of their own (the C ABI, the Node addon, the CLI).
//!
//! Why one dedicated thread: every job, watchdog and supervised command runs as a task on
//! it, so children are spawned from a thread that lives as long as the runtime — which is
//! what `PR_SET_PDEATHSIG` needs (it fires when the *spawning thread* exits). A
//! current-thread runtime costs nothing while idle (no worker pool spinning), and one
//! thread easily drives tens of thousands of parked watchdogs.

use std::fmt;
use std::future::Future;
use std::io;
use std::thread::{JoinHandle, ThreadId};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A tokio runtime (time, I/O, process) driven by one keel-owned thread.
///
/// Dropping it stops the thread: tasks still pending are dropped there (a supervised
/// command's [`crate::process::Child`] kills its process group when dropped), then the
/// thread is joined — unless the drop happens on that very thread, in which case it is
/// detached.
///
/// ```
/// use keel_core::jobs::JobRuntime;
///
/// let rt = JobRuntime::new("keel-example")?;
/// let answer = rt.block_on(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JobRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl fmt::Debug for JobRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRuntime")
            .field("thread", &self.thread_id)
            .finish_non_exhaustive()
    }
}

impl JobRuntime {
    /// Start the runtime thread, named `name`.
    pub fn new(name: &str) -> io::Result<JobRuntime> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(rt.handle().clone()));
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
                // Dropping `rt` here drops every pending task on this thread.
            })?;
        let thread_id = thread.thread().id();
        let handle = ready_rx
            .recv()
            .map_err(|_| io::Error::other("the keel runtime thread died while starting"))??;
        Ok(JobRuntime {
            handle,
            stop: Some(stop_tx),
            thread: Some(thread),
            thread_id,
        })
    }

    /// The runtime's handle (pass it to [`super::JobRegistryBuilder::runtime`]).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Whether the calling thread is the runtime's own thread.
    pub fn is_runtime_thread(&self) -> bool {
        std::thread::current().id() == self.thread_id
    }

    /// Spawn `fut` on the runtime.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(fut)
    }

    /// Run `fut` on the runtime and block the calling thread until it completes.
    ///
    /// # Panics
    /// When called on the runtime's own thread (it would wait for itself forever), or
    /// when `fut` panics.
    pub fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        assert!(
            !self.is_runtime_thread(),
            "JobRuntime::block_on called on the runtime's own thread"
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        match rx.recv() {
            Ok(v) => v,
            Err(_) => panic!("the future given to JobRuntime::block_on panicked or was dropped"),
        }
    }
}

impl Drop for JobRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            if !self.is_runtime_thread() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runs_timers_and_stops_on_drop() {
        let rt = JobRuntime::new("keel-test-rt").unwrap();
        let slept = rt.block_on(async {
            let t = std::time::Instant::now();
            tokio::time::sleep(Duration::from_millis(20)).await;
            t.elapsed()
        });
        assert!(slept >= Duration::from_millis(20));
        let pending = rt.spawn(std::future::pending::<()>());
        drop(rt);
        assert!(pending.is_finished());
    }
}
