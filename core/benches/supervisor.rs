//! Supervisor costs. Three measurements, one binary:
//!
//! * `cargo bench -p agent-keel-core --bench supervisor -- replenish` — criterion: the
//!   cost of one replenish cycle (register → run → status events → next cycle) with a
//!   worker that exits at once: an in-process cycle (the supervisor's own overhead), an
//!   [`ExternalCycle`] answered by another thread (the round trip the Node surface adds,
//!   without JavaScript), and a real `true` process per cycle ([`CommandCycle`]).
//!   `minCycleMs` is 0 so nothing sleeps; each sample is one supervisor running `iters`
//!   cycles, its start-up included.
//! * `cargo bench -p agent-keel-core --bench supervisor -- status` — criterion: the status
//!   snapshot (`Supervisor::status`) and its JSON, for 1 and 64 slots.
//! * `cargo bench -p agent-keel-core --bench supervisor -- shutdown` — shutdown latency
//!   (`shutdown()` → `run_blocking` returns) during a 60 s backoff and during a run of
//!   `sleep 300` (whose tree is stopped through the process module), 20 runs each,
//!   median and max. Not criterion: each run needs a fresh supervisor brought to the
//!   state first.
//!
//! With no argument all three run.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::Criterion;
use keel_core::supervisor::{
    BoxFuture, CommandCycle, CommandCycleOptions, Cycle, CycleContext, CycleError, ExternalCall,
    ExternalCycle, RunOutcome, Supervisor, SupervisorOptions,
};

fn opts() -> SupervisorOptions {
    SupervisorOptions {
        min_cycle_ms: 0,
        jitter: 0.0,
        systemd_notify: false,
        ..Default::default()
    }
}

/// Wraps a cycle: after `target` runs it shuts the supervisor down.
struct Counted<C> {
    inner: C,
    runs: AtomicU64,
    target: u64,
}

impl<C: Cycle> Cycle for Counted<C> {
    type Registration = C::Registration;

    fn register<'a>(
        &'a self,
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<C::Registration, CycleError>> {
        self.inner.register(ctx)
    }

    fn run<'a>(
        &'a self,
        reg: C::Registration,
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunOutcome, CycleError>> {
        Box::pin(async move {
            let o = self.inner.run(reg, ctx).await;
            if self.runs.fetch_add(1, Ordering::Relaxed) + 1 >= self.target {
                ctx.request_shutdown_of_supervisor();
            }
            o
        })
    }
}

/// Registers and runs in no time.
struct Instant0;

impl Cycle for Instant0 {
    type Registration = ();

    fn register<'a>(&'a self, _: &'a CycleContext) -> BoxFuture<'a, Result<(), CycleError>> {
        Box::pin(async { Ok(()) })
    }

    fn run<'a>(
        &'a self,
        _: (),
        _: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunOutcome, CycleError>> {
        Box::pin(async { Ok(RunOutcome::exited(0)) })
    }
}

/// Run `iters` cycles of `cycle` on one supervisor (status events to a callback, as on
/// every surface); the elapsed time.
fn cycles<C: Cycle>(cycle: C, iters: u64) -> Duration {
    let events = Arc::new(AtomicU64::new(0));
    let e = events.clone();
    let sup = Supervisor::builder(Counted {
        inner: cycle,
        runs: AtomicU64::new(0),
        target: iters.max(1),
    })
    .options(opts())
    .on_status(move |ev| {
        black_box(ev);
        e.fetch_add(1, Ordering::Relaxed);
    })
    .build()
    .unwrap();
    let t0 = Instant::now();
    sup.run_blocking().unwrap();
    let took = t0.elapsed();
    assert!(events.load(Ordering::Relaxed) >= 2 * iters.max(1));
    took
}

/// An external cycle answered by a host thread over a channel (the Node surface's shape,
/// minus JavaScript).
fn external_cycles(iters: u64) -> Duration {
    let (tx, rx) = mpsc::channel::<ExternalCall>();
    let tx = Mutex::new(tx);
    let cycle = ExternalCycle::new(Arc::new(move |c| tx.lock().unwrap().send(c).is_ok()));
    let events = Arc::new(AtomicU64::new(0));
    let e = events.clone();
    let sup = Arc::new(
        Supervisor::builder(cycle)
            .options(opts())
            .on_status(move |_| {
                e.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap(),
    );
    let s = sup.clone();
    let target = iters.max(1);
    let host = std::thread::spawn(move || {
        let mut runs = 0;
        while let Ok(call) = rx.recv() {
            match call {
                ExternalCall::Register { id, .. } => {
                    s.cycle().complete_register(id, Ok(()));
                }
                ExternalCall::Run { id, .. } => {
                    runs += 1;
                    if runs >= target {
                        s.shutdown();
                    }
                    s.cycle().complete_run(id, Ok(RunOutcome::exited(0)));
                    if runs >= target {
                        return;
                    }
                }
                _ => {}
            }
        }
    });
    let t0 = Instant::now();
    sup.run_blocking().unwrap();
    let took = t0.elapsed();
    host.join().unwrap();
    took
}

fn replenish(c: &mut Criterion) {
    let mut g = c.benchmark_group("supervisor/replenish");
    g.bench_function("in-process cycle", |b| {
        b.iter_custom(|iters| cycles(Instant0, iters))
    });
    g.bench_function("external cycle (host thread)", |b| {
        b.iter_custom(external_cycles)
    });
    g.sample_size(10);
    g.bench_function("process cycle (true)", |b| {
        b.iter_custom(|iters| {
            let cmd = CommandCycle::new(CommandCycleOptions {
                argv: vec!["true".into()],
                ..Default::default()
            })
            .unwrap();
            cycles(cmd, iters)
        })
    });
    g.finish();
}

fn status(c: &mut Criterion) {
    let mut g = c.benchmark_group("supervisor/status");
    for pool in [1u32, 64] {
        let sup = Supervisor::builder(Instant0)
            .options(SupervisorOptions { pool, ..opts() })
            .build()
            .unwrap();
        g.bench_function(format!("snapshot, {pool} slot(s)"), |b| {
            b.iter(|| black_box(sup.status()))
        });
        g.bench_function(format!("snapshot as JSON, {pool} slot(s)"), |b| {
            b.iter(|| black_box(sup.status().to_json()))
        });
    }
    g.finish();
}

/// Always fails to register.
struct Failing;

impl Cycle for Failing {
    type Registration = ();

    fn register<'a>(&'a self, _: &'a CycleContext) -> BoxFuture<'a, Result<(), CycleError>> {
        Box::pin(async { Err(CycleError::new("down")) })
    }

    fn run<'a>(
        &'a self,
        _: (),
        _: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunOutcome, CycleError>> {
        Box::pin(async { Ok(RunOutcome::exited(0)) })
    }
}

/// Start `sup` on a thread, wait until its status is `state` (plus `settle`), then time
/// `shutdown()` → `run_blocking` returning.
fn shutdown_latency<C: Cycle>(sup: Supervisor<C>, state: &str, settle: Duration) -> Duration {
    let sup = Arc::new(sup);
    let s = sup.clone();
    let (done_tx, done_rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        s.run_blocking().unwrap();
        done_tx.send(Instant::now()).unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while sup.status().status.name() != state {
        assert!(Instant::now() < deadline, "never reached {state}");
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(settle);
    let t0 = Instant::now();
    sup.shutdown();
    let end = done_rx.recv().unwrap();
    t.join().unwrap();
    end - t0
}

fn report(what: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "supervisor/shutdown {what}: median {:.2} ms, max {:.2} ms ({} runs)",
        ms(v[v.len() / 2]),
        ms(v[v.len() - 1]),
        v.len()
    );
}

fn shutdown() {
    const RUNS: usize = 20;
    let backoff: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let sup = Supervisor::builder(Failing)
                .options(SupervisorOptions {
                    backoff_base_ms: 60_000,
                    backoff_max_ms: 60_000,
                    ..opts()
                })
                .build()
                .unwrap();
            shutdown_latency(sup, "backing-off", Duration::from_millis(5))
        })
        .collect();
    report("during a 60 s backoff", backoff);
    let run: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let cmd = CommandCycle::new(CommandCycleOptions {
                argv: vec!["sleep".into(), "300".into()],
                ..Default::default()
            })
            .unwrap();
            let sup = Supervisor::builder(cmd).options(opts()).build().unwrap();
            // let `sleep` start before the shutdown
            shutdown_latency(sup, "running", Duration::from_millis(30))
        })
        .collect();
    report("during a run of sleep 300 (SIGTERM to its tree)", run);
}

fn main() {
    // The first argument that is neither an option nor an option's number
    // (`--measurement-time 3`).
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-') && a.parse::<f64>().is_err());
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let all = filter.is_none();
    let want = |n: &str| {
        all || filter
            .as_deref()
            .is_some_and(|f| n.contains(f) || f.contains(n))
    };
    if want("replenish") {
        replenish(&mut c);
    }
    if want("status") {
        status(&mut c);
    }
    if want("shutdown") {
        shutdown();
    }
    c.final_summary();
}
