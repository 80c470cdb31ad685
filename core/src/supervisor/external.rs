//! A cycle (and a token provider) whose steps run in a host's own executor: a
//! JavaScript event loop, a GUI thread, anything that is not this runtime.
//!
//! The supervisor asks for a step by handing an [`ExternalCall`] to the host's dispatch
//! function (which must not block: it queues the call for the host's thread) and awaits
//! the host's answer, given later from any thread with [`ExternalCalls::complete`]. The
//! Node `Supervisor` and `startActionsRunner` are built on it: their `register()`,
//! `run()` and `fetchRunnerToken()` are async JavaScript functions.
//!
//! A call whose future the supervisor dropped (shutdown during a registration, a run
//! that outlived the drain limit) is **abandoned**: `complete` returns `false`, so the
//! host knows nobody took its answer (and can release a registration it made).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::{BoxFuture, Cycle, CycleContext, CycleError, RunOutcome, TokenProvider};

/// One step the supervisor asks the host to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExternalCall {
    /// Obtain a registration for `slot`; answer with
    /// [`ExternalCycle::complete_register`]. The host keeps the registration itself,
    /// under this call's `id`.
    Register {
        /// The call's id (also the registration's, for the `Run` that follows).
        id: u64,
        /// The slot.
        slot: u32,
        /// The slot's working directory, if any.
        work_dir: Option<PathBuf>,
    },
    /// Run the worker with the registration made by the `Register` call `registration`;
    /// answer with [`ExternalCycle::complete_run`].
    Run {
        /// The call's id.
        id: u64,
        /// The `Register` call whose registration this run uses.
        registration: u64,
        /// The slot.
        slot: u32,
        /// The slot's working directory, if any.
        work_dir: Option<PathBuf>,
    },
    /// Fetch a fresh registration token; answer with [`ExternalTokenProvider::complete`].
    Token {
        /// The call's id.
        id: u64,
    },
}

impl ExternalCall {
    /// The call's id.
    pub fn id(&self) -> u64 {
        match self {
            ExternalCall::Register { id, .. }
            | ExternalCall::Run { id, .. }
            | ExternalCall::Token { id } => *id,
        }
    }
}

/// The host's dispatch function: queue the call for the host's executor and return at
/// once; `false` means the host cannot take calls any more (the step fails).
pub type Dispatch = Arc<dyn Fn(ExternalCall) -> bool + Send + Sync>;

/// Ids of every external call of this process (one sequence, so a host can keep one
/// table across supervisors).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A table of pending external calls answered with a `T`.
pub struct ExternalCalls<T> {
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<T, CycleError>>>>,
}

impl<T> std::fmt::Debug for ExternalCalls<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalCalls")
            .field("pending", &lock(&self.pending).len())
            .finish()
    }
}

impl<T> Default for ExternalCalls<T> {
    fn default() -> Self {
        ExternalCalls {
            pending: Mutex::new(HashMap::new()),
        }
    }
}

/// Removes an abandoned call from the table when its future is dropped.
struct Pending<'a, T> {
    calls: &'a ExternalCalls<T>,
    id: u64,
}

impl<T> Drop for Pending<'_, T> {
    fn drop(&mut self) {
        lock(&self.calls.pending).remove(&self.id);
    }
}

impl<T: Send + 'static> ExternalCalls<T> {
    /// A fresh id (from the process-wide sequence).
    pub fn next_id() -> u64 {
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    }

    /// Dispatch `call` (whose id is `id`) and wait for its answer. Dropping the future
    /// abandons the call.
    pub async fn call(
        &self,
        id: u64,
        call: ExternalCall,
        dispatch: &Dispatch,
    ) -> Result<T, CycleError> {
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let _pending = Pending { calls: self, id };
        if !dispatch(call) {
            return Err(CycleError::new("the host no longer takes calls"));
        }
        rx.await
            .unwrap_or_else(|_| Err(CycleError::new("the host dropped the call")))
    }

    /// Answer call `id`. `false` when no one waits for it (unknown or abandoned).
    pub fn complete(&self, id: u64, result: Result<T, CycleError>) -> bool {
        match lock(&self.pending).remove(&id) {
            Some(tx) => tx.send(result).is_ok(),
            None => false,
        }
    }

    /// Calls waiting for an answer.
    pub fn pending(&self) -> usize {
        lock(&self.pending).len()
    }
}

/// A [`Cycle`] whose `register` and `run` are performed by the host (see the
/// [module docs](self)). Its registration is the id of the `Register` call that made
/// it; the host keeps the registration itself.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use keel_core::supervisor::{ExternalCall, ExternalCycle, RunOutcome, Supervisor,
///     SupervisorOptions};
///
/// // The "host": a queue another thread works through.
/// let queue: Arc<Mutex<Vec<ExternalCall>>> = Arc::default();
/// let q = queue.clone();
/// let cycle = ExternalCycle::new(Arc::new(move |c| { q.lock().unwrap().push(c); true }));
/// let sup = Arc::new(Supervisor::builder(cycle)
///     .options(SupervisorOptions { min_cycle_ms: 1, ..Default::default() })
///     .build()?);
/// let s = sup.clone();
/// std::thread::spawn(move || {
///     let mut runs = 0;
///     loop {
///         let call = queue.lock().unwrap().pop();
///         match call {
///             Some(ExternalCall::Register { id, .. }) => { s.cycle().complete_register(id, Ok(())); }
///             Some(ExternalCall::Run { id, .. }) => {
///                 runs += 1;
///                 if runs == 3 { s.shutdown(); }
///                 s.cycle().complete_run(id, Ok(RunOutcome::exited(0)));
///             }
///             _ => std::thread::sleep(std::time::Duration::from_millis(1)),
///         }
///         if s.status().status.name() == "offline" { break; }
///     }
/// });
/// let report = sup.run_blocking()?;
/// assert_eq!(report.exit_code(), 0);
/// assert_eq!(sup.status().slots[0].registrations, 3);
/// # Ok::<(), keel_core::supervisor::SupervisorError>(())
/// ```
pub struct ExternalCycle {
    dispatch: Dispatch,
    registers: ExternalCalls<()>,
    runs: ExternalCalls<RunOutcome>,
}

impl std::fmt::Debug for ExternalCycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalCycle")
            .field("registers", &self.registers)
            .field("runs", &self.runs)
            .finish_non_exhaustive()
    }
}

impl ExternalCycle {
    /// A cycle that hands its steps to `dispatch`.
    pub fn new(dispatch: Dispatch) -> Self {
        ExternalCycle {
            dispatch,
            registers: ExternalCalls::default(),
            runs: ExternalCalls::default(),
        }
    }

    /// Answer a `Register` call: `Ok` registered (the host keeps the registration under
    /// the call's id), `Err` a failed registration (backoff). `false`: abandoned (the
    /// host should release what it registered).
    pub fn complete_register(&self, id: u64, result: Result<(), CycleError>) -> bool {
        self.registers.complete(id, result)
    }

    /// Answer a `Run` call with how the worker ended (`Err`: a failed run). `false`:
    /// abandoned.
    pub fn complete_run(&self, id: u64, result: Result<RunOutcome, CycleError>) -> bool {
        self.runs.complete(id, result)
    }

    /// Calls waiting for the host.
    pub fn pending(&self) -> usize {
        self.registers.pending() + self.runs.pending()
    }
}

impl Cycle for ExternalCycle {
    type Registration = u64;

    fn register<'a>(&'a self, ctx: &'a CycleContext) -> BoxFuture<'a, Result<u64, CycleError>> {
        Box::pin(async move {
            let id = ExternalCalls::<()>::next_id();
            let call = ExternalCall::Register {
                id,
                slot: ctx.slot(),
                work_dir: ctx.work_dir().map(PathBuf::from),
            };
            self.registers.call(id, call, &self.dispatch).await?;
            Ok(id)
        })
    }

    fn run<'a>(
        &'a self,
        registration: u64,
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunOutcome, CycleError>> {
        Box::pin(async move {
            let id = ExternalCalls::<RunOutcome>::next_id();
            let call = ExternalCall::Run {
                id,
                registration,
                slot: ctx.slot(),
                work_dir: ctx.work_dir().map(PathBuf::from),
            };
            let mut o = self.runs.call(id, call, &self.dispatch).await?;
            o.stopped = o.stopped || ctx.is_shutdown();
            Ok(o)
        })
    }
}

/// A [`TokenProvider`] whose tokens come from the host (`ExternalCall::Token`). Clones
/// share one table of pending calls (keep one to answer them after handing the provider
/// to an [`ActionsRunnerCycle`](super::ActionsRunnerCycle)).
#[derive(Clone)]
pub struct ExternalTokenProvider {
    dispatch: Dispatch,
    calls: Arc<ExternalCalls<String>>,
}

impl std::fmt::Debug for ExternalTokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalTokenProvider")
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl ExternalTokenProvider {
    /// A provider that asks `dispatch` for each token.
    pub fn new(dispatch: Dispatch) -> Self {
        ExternalTokenProvider {
            dispatch,
            calls: Arc::default(),
        }
    }

    /// Answer a `Token` call with the token (`Err`: the fetch failed). `false`:
    /// abandoned.
    pub fn complete(&self, id: u64, result: Result<String, CycleError>) -> bool {
        self.calls.complete(id, result)
    }
}

impl TokenProvider for ExternalTokenProvider {
    fn token(&self) -> BoxFuture<'_, Result<String, CycleError>> {
        Box::pin(async move {
            let id = ExternalCalls::<String>::next_id();
            self.calls
                .call(id, ExternalCall::Token { id }, &self.dispatch)
                .await
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
