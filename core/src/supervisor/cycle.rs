//! The [`Cycle`] trait a supervisor replenishes, and what a cycle is handed.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::process::{Child, ExitClass};

/// A boxed, sendable future (what [`Cycle`] methods return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One replenishable unit of work: `register()` obtains whatever a run needs (an
/// ephemeral runner registration, a lease, nothing), then `run(registration)` does the
/// work until the worker exits. The [`Supervisor`](super::Supervisor) calls them in a
/// loop, backing off on failure, until shutdown.
///
/// Both get a [`CycleContext`]: its slot and working directory, and the shutdown
/// signal. `run` must return soon after [`CycleContext::cancelled`] fires (stop the
/// worker with [`CycleContext::run_child`] or [`Child::terminate`]); a run that does
/// not return within the stop grace plus 2 s is dropped (a dropped [`Child`] kills its
/// whole group).
pub trait Cycle: Send + Sync + 'static {
    /// What a successful registration hands to `run`.
    type Registration: Send + 'static;

    /// Obtain a registration. An error backs off (capped exponential).
    fn register<'a>(
        &'a self,
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<Self::Registration, CycleError>>;

    /// Run the worker to its end.
    fn run<'a>(
        &'a self,
        registration: Self::Registration,
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunOutcome, CycleError>>;
}

/// A cycle's failure: a message (redacted before it reaches a status or a log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleError {
    message: String,
}

impl CycleError {
    /// A failure with this message. Do not put secrets in it; it is redacted anyway.
    pub fn new(message: impl Into<String>) -> Self {
        CycleError {
            message: crate::redact::redact_secrets(&message.into()),
        }
    }

    /// The (redacted) message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for CycleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CycleError {}

impl From<super::SupervisorError> for CycleError {
    fn from(e: super::SupervisorError) -> Self {
        CycleError::new(e.to_string())
    }
}

impl From<crate::process::ProcessError> for CycleError {
    fn from(e: crate::process::ProcessError) -> Self {
        CycleError::new(e.to_string())
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RunOutcome {
    /// Exit code, when the worker exited.
    pub exit_code: Option<i32>,
    /// Signal, when one ended it.
    pub signal: Option<i32>,
    /// Exit 0 that cannot tell "finished" from "fatal" (an ephemeral `run.sh`).
    pub ambiguous: bool,
    /// The supervisor's shutdown stopped it.
    pub stopped: bool,
}

impl RunOutcome {
    /// A worker that exited with `code`.
    pub fn exited(code: i32) -> Self {
        RunOutcome {
            exit_code: Some(code),
            ..Default::default()
        }
    }

    /// From a process exit.
    pub fn from_exit(exit: ExitClass) -> Self {
        match exit {
            ExitClass::Exited { code } => RunOutcome::exited(code),
            ExitClass::Signalled { signal } => RunOutcome {
                signal: Some(signal),
                ..Default::default()
            },
            ExitClass::Killed { signal, code, .. } => RunOutcome {
                exit_code: code,
                signal,
                ..Default::default()
            },
            #[allow(unreachable_patterns)]
            _ => RunOutcome::exited(-1),
        }
    }

    /// Mark an exit 0 as ambiguous.
    pub fn ambiguous(mut self, yes: bool) -> Self {
        self.ambiguous = yes && self.exit_code == Some(0);
        self
    }

    /// Counted as a failure: anything but exit 0, unless the shutdown stopped it.
    pub fn failed(&self) -> bool {
        !self.stopped && self.exit_code != Some(0)
    }
}

/// What a cycle is handed: its slot, its working directory, the shutdown signal.
#[derive(Debug, Clone)]
pub struct CycleContext {
    pub(crate) slot: u32,
    pub(crate) work_dir: Option<PathBuf>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) stop_grace: Duration,
}

impl CycleContext {
    /// A context outside a supervisor (tests, one-off runs).
    pub fn new(slot: u32, work_dir: Option<PathBuf>, stop_grace: Duration) -> Self {
        CycleContext {
            slot,
            work_dir,
            shutdown: CancellationToken::new(),
            stop_grace,
        }
    }

    /// The slot (0..pool).
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The slot's working directory, when the supervisor has a `workDir`.
    pub fn work_dir(&self) -> Option<&Path> {
        self.work_dir.as_deref()
    }

    /// The grace between SIGTERM and SIGKILL for stopping a worker.
    pub fn stop_grace(&self) -> Duration {
        self.stop_grace
    }

    /// True once shutdown was requested.
    pub fn is_shutdown(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Completes when shutdown is requested.
    pub async fn cancelled(&self) {
        self.shutdown.cancelled().await
    }

    /// The shutdown token (to hand to other code).
    pub fn token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Request shutdown of this context (a standalone context; inside a supervisor use
    /// its [`ShutdownHandle`](super::ShutdownHandle)).
    pub fn request_shutdown(&self) {
        self.shutdown.cancel()
    }

    /// Wait for `child` to exit; on shutdown stop its whole tree through
    /// [`Child::terminate`] (SIGTERM, the stop grace, SIGKILL) and report it `stopped`.
    pub async fn run_child(&self, child: &mut Child) -> Result<RunOutcome, CycleError> {
        tokio::select! {
            r = child.wait() => Ok(RunOutcome::from_exit(r?)),
            _ = self.shutdown.cancelled() => {
                let t = child.terminate(self.stop_grace).await?;
                let mut o = t.exit.map(RunOutcome::from_exit).unwrap_or_default();
                o.stopped = true;
                Ok(o)
            }
        }
    }
}

type RegisterFn<R> = dyn Fn(&CycleContext) -> Result<R, CycleError> + Send + Sync;
type RunFn<R> = dyn Fn(R, &CycleContext) -> Result<RunOutcome, CycleError> + Send + Sync;

/// A cycle over two **blocking** functions (C callbacks, synchronous host code), each
/// call run on tokio's blocking pool so the supervisor's loop, its backoffs and its
/// watchdog pings stay responsive. `run` must return soon after
/// [`CycleContext::is_shutdown`] turns true; one that does not is abandoned after the
/// stop grace + 2 s.
///
/// ```
/// use keel_core::supervisor::{BlockingCycle, CycleError, RunOutcome};
/// let c = BlockingCycle::new(
///     |_ctx| Ok::<_, CycleError>(42u32),
///     |reg, _ctx| Ok(RunOutcome::exited(if reg == 42 { 0 } else { 1 })),
/// );
/// # let _ = c;
/// ```
pub struct BlockingCycle<R> {
    register: Arc<RegisterFn<R>>,
    run: Arc<RunFn<R>>,
}

impl<R> std::fmt::Debug for BlockingCycle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockingCycle")
    }
}

impl<R: Send + 'static> BlockingCycle<R> {
    /// A cycle over these functions.
    pub fn new(
        register: impl Fn(&CycleContext) -> Result<R, CycleError> + Send + Sync + 'static,
        run: impl Fn(R, &CycleContext) -> Result<RunOutcome, CycleError> + Send + Sync + 'static,
    ) -> Self {
        BlockingCycle {
            register: Arc::new(register),
            run: Arc::new(run),
        }
    }
}

impl<R: Send + 'static> Cycle for BlockingCycle<R> {
    type Registration = R;

    fn register<'a>(&'a self, ctx: &'a CycleContext) -> BoxFuture<'a, Result<R, CycleError>> {
        let f = self.register.clone();
        let ctx = ctx.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&ctx))
                .await
                .map_err(|_| CycleError::new("register panicked"))?
        })
    }

    fn run<'a>(
        &'a self,
        reg: R,
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunOutcome, CycleError>> {
        let f = self.run.clone();
        let c = ctx.clone();
        Box::pin(async move {
            let mut o = tokio::task::spawn_blocking(move || f(reg, &c))
                .await
                .map_err(|_| CycleError::new("run panicked"))??;
            o.stopped = o.stopped || ctx.is_shutdown();
            Ok(o)
        })
    }
}
