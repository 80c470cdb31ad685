//! Job watchdog costs. Three measurements, one binary:
//!
//! * `cargo bench -p agent-keel-core --bench jobs -- activity` — criterion: the cost of
//!   `JobContext::activity()` next to its hardware reference points (a monotonic clock
//!   read, a relaxed atomic store) and the naive design it replaces (a mutex-guarded
//!   "last activity" instant, which is what resetting one timer per event costs at best).
//! * `cargo bench -p agent-keel-core --bench jobs -- precision` — how long after the deadline
//!   an inactivity watchdog fires on a real registry with the system clock, and how long
//!   after it a supervised `sh` is dead (kill landed, pipes drained).
//! * `cargo bench -p agent-keel-core --bench jobs -- idle` — CPU used (getrusage) by a process
//!   holding 10,000 running jobs with armed watchdogs for 5 s.
//!
//! With no argument all three run.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::Criterion;
use keel_core::jobs::{
    external_work, run_command, CommandSpec, JobContext, JobRegistry, JobRuntime, WatchdogLimits,
    WorkCompleter,
};
use keel_core::process::Command;

type Handout = mpsc::Sender<(JobContext, WorkCompleter<()>)>;

/// A job's work: hand the context out, return when completed or cancelled.
fn run_held(
    tx: Handout,
    ctx: JobContext,
) -> impl std::future::Future<Output = Result<(), keel_core::jobs::WorkError>> {
    let (done, work) = external_work::<()>();
    let cancelled = ctx.clone();
    let _ = tx.send((ctx, done));
    async move {
        tokio::select! {
            r = work => r,
            _ = cancelled.cancelled() => Ok(()),
        }
    }
}

/// A registry whose jobs hand their context out and run until completed (or cancelled).
struct Held {
    _rt: JobRuntime,
    registry: JobRegistry<Handout, ()>,
}

fn held(limits: WatchdogLimits) -> Held {
    let rt = JobRuntime::new("keel-bench").unwrap();
    let registry = JobRegistry::builder(run_held)
        .limits(limits)
        .runtime(rt.handle().clone())
        .build()
        .unwrap();
    Held { _rt: rt, registry }
}

fn start(h: &Held, id: &str) -> (JobContext, WorkCompleter<()>) {
    let (tx, rx) = mpsc::channel();
    h.registry.start(id, tx).unwrap();
    rx.recv().unwrap()
}

fn activity(c: &mut Criterion) {
    let h = held(WatchdogLimits::default());
    let (ctx, _done) = start(&h, "bench");
    let mut g = c.benchmark_group("activity");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_millis(500));
    g.bench_function("keel JobContext::activity", |b| {
        b.iter(|| black_box(&ctx).activity())
    });
    g.bench_function("baseline Instant::now", |b| {
        b.iter(|| black_box(Instant::now()))
    });
    let atomic = AtomicU64::new(0);
    g.bench_function("baseline relaxed atomic store", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            black_box(&atomic).store(i, Ordering::Relaxed)
        })
    });
    let last = Mutex::new(Instant::now());
    g.bench_function("naive Mutex<Instant> reset", |b| {
        b.iter(|| *black_box(&last).lock().unwrap() = Instant::now())
    });
    // What the reference does per activity event (clearTimeout + setTimeout), in tokio:
    // re-arm a timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut sleep = Box::pin(tokio::time::sleep(Duration::from_secs(600)));
        g.bench_function("naive tokio timer re-arm", |b| {
            b.iter(|| {
                sleep
                    .as_mut()
                    .reset(tokio::time::Instant::now() + Duration::from_secs(600))
            })
        });
    });
    // Contended: a second thread reporting activity on the same job at full speed.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = {
        let (ctx, stop) = (ctx.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                ctx.activity();
            }
        })
    };
    g.bench_function("keel JobContext::activity, 2 threads on one job", |b| {
        b.iter(|| black_box(&ctx).activity())
    });
    stop.store(true, Ordering::Relaxed);
    other.join().unwrap();
    g.finish();
}

fn percentiles(mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!(
        "n={} min {:.2} ms, median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        v.len(),
        v[0],
        p(0.5),
        p(0.9),
        v[v.len() - 1]
    )
}

fn precision() {
    const WINDOW: Duration = Duration::from_millis(200);
    const N: usize = 40;

    // 1. The watchdog itself: a job that never reports activity; lateness of its
    //    cancellation past `last activity + window` (start counts as activity).
    let h = held(WatchdogLimits::none().inactivity(Some(WINDOW)));
    let mut late = Vec::new();
    for i in 0..N {
        let t0 = Instant::now();
        let (ctx, _done) = start(&h, &format!("p{i}"));
        let fired = ctx.wait_cancelled_blocking(Duration::from_secs(5));
        let at = t0.elapsed();
        assert!(fired);
        late.push((at.as_secs_f64() - WINDOW.as_secs_f64()) * 1e3);
    }
    println!(
        "precision/watchdog: inactivity {} ms, cancellation observed after the deadline: {}",
        WINDOW.as_millis(),
        percentiles(late)
    );
    drop(h);

    // 2. With 10,000 other armed jobs on the same runtime thread.
    let h = held(WatchdogLimits::default());
    let mut keep = Vec::new();
    for i in 0..10_000 {
        keep.push(start(&h, &format!("bg{i}")));
    }
    let h2 = {
        // Same runtime, short window.
        let rt_handle = h._rt.handle().clone();
        JobRegistry::builder(run_held)
            .limits(WatchdogLimits::none().inactivity(Some(WINDOW)))
            .runtime(rt_handle)
            .build()
            .unwrap()
    };
    let mut late = Vec::new();
    for i in 0..N {
        let (tx, rx) = mpsc::channel();
        let t0 = Instant::now();
        h2.start(&format!("q{i}"), tx).unwrap();
        let (ctx, _done) = rx.recv().unwrap();
        assert!(ctx.wait_cancelled_blocking(Duration::from_secs(5)));
        late.push((t0.elapsed().as_secs_f64() - WINDOW.as_secs_f64()) * 1e3);
    }
    println!(
        "precision/watchdog with 10,000 other running jobs: {}",
        percentiles(late)
    );
    drop(keep);
    drop(h2);
    drop(h);

    // 3. The kill: a silent `sh` under run_command; how long after the deadline the
    //    command is dead and its result is in (SIGTERM honoured, group gone, pipes
    //    drained).
    let rt = JobRuntime::new("keel-bench-cmd").unwrap();
    let mut late = Vec::new();
    for _ in 0..20 {
        let spec = CommandSpec::new(Command::new(["sh", "-c", "sleep 30"]))
            .limits(WatchdogLimits::none().inactivity(Some(WINDOW)));
        let t0 = Instant::now();
        let r = rt.block_on(run_command(spec)).unwrap();
        assert!(r.kill_reason.is_some());
        late.push((t0.elapsed().as_secs_f64() - WINDOW.as_secs_f64()) * 1e3);
    }
    println!(
        "precision/kill: sh -c 'sleep 30', inactivity {} ms, command dead and reaped after the deadline: {}",
        WINDOW.as_millis(),
        percentiles(late)
    );
}

fn rusage() -> (Duration, u64) {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_maxrss as u64)
}

fn idle() {
    const JOBS: usize = 10_000;
    const HOLD: Duration = Duration::from_secs(5);
    let h = held(WatchdogLimits::default().tool_silence(Some(Duration::from_secs(1800))));
    let t = Instant::now();
    let mut keep = Vec::with_capacity(JOBS);
    for i in 0..JOBS {
        keep.push(start(&h, &format!("job-{i}")));
    }
    let started_in = t.elapsed();
    assert_eq!(h.registry.running_count(), JOBS);
    let (cpu0, _) = rusage();
    let w0 = Instant::now();
    std::thread::sleep(HOLD);
    let (cpu1, maxrss) = rusage();
    let wall = w0.elapsed();
    let cpu = cpu1 - cpu0;
    println!(
        "idle: {JOBS} running jobs (3 watchdogs armed each) started in {:.0} ms; over {:.1} s idle the process used {:.2} ms CPU ({:.4}% of one core); max RSS {} MiB",
        started_in.as_secs_f64() * 1e3,
        wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e3,
        cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
        maxrss / 1024
    );
    let t = Instant::now();
    let n = h.registry.abort_all("bench over");
    while h.registry.running_count() > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "idle: abort_all of {n} jobs settled in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(keep);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    if want("idle") {
        idle();
    }
    if want("precision") {
        precision();
    }
    if want("activity") {
        let mut c = Criterion::default().configure_from_args();
        activity(&mut c);
        c.final_summary();
    }
}
