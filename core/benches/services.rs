//! The cost of the managed-services state operations at 1,000 entries (issue 10):
//! `cargo bench -p agent-keel-core --bench services`.
//!
//! * `sweep_1000/live`: a sweep over 1,000 live, unexpired records (each one's pid is
//!   this process, pinned by keel's identity, so every entry is checked against
//!   `/proc` and kept) — the steady-state cost of the periodic sweep;
//! * `sweep_1000/dead`: 1,000 records whose process is gone, all dropped (the state
//!   file is rewritten before each measured sweep, outside the timing);
//! * `list_1000`, `etag_1000`: the read views (`GET /managed-processes`, `If-None-Match`).

use std::path::Path;

use criterion::{BatchSize, Criterion};
use keel_core::services::{self, Services, ServicesOptions};
use serde_json::{json, Value};

const N: usize = 1000;

fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64
}

fn records(live: bool) -> Value {
    let me = std::process::id();
    let st = keel_core::process::PidRecord::capture(me)
        .unwrap()
        .start_time;
    let now = now_ms();
    let recs: Vec<Value> = (0..N)
        .map(|i| {
            let pid = if live { me } else { (1 << 22) - 3 };
            json!({
                "name": format!("svc-{i}"), "pid": pid, "owner_agent": "a", "owner_wi": "W-1",
                "owner_project": format!("p{}", i % 10), "cmd": "python3",
                "args": ["-m", "http.server", (10_000 + i).to_string()], "cwd": "", "env": {},
                "ports": [10_000 + i], "attrs": {"base_url": format!("http://127.0.0.1:{}", 10_000 + i)},
                "healthcheck": {"type": "http", "url": format!("http://127.0.0.1:{}/", 10_000 + i),
                    "expect_status": 200, "interval_s": 1, "timeout_s": 10},
                "started_at": now, "ttl_expires_at": now + 3_600_000.0, "last_health_at": now,
                "healthy": true, "alive": true, "log_path": "",
                "keel": {"pidStartTime": st, "shimPid": me, "shimStartTime": st, "health": "healthy"}
            })
        })
        .collect();
    json!({ "specs": recs })
}

fn write(dir: &Path, v: &Value) {
    let path = dir.join(services::MANAGED_PROCESSES_STATE_FILE);
    keel_core::fsx::write_atomic(&path, v.to_string().as_bytes()).unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svc = Services::new(dir.path(), ServicesOptions::default()).unwrap();
    let live = records(true);
    let dead = records(false);

    let mut g = c.benchmark_group("sweep_1000");
    g.sample_size(20);
    write(dir.path(), &live);
    g.bench_function("live", |b| {
        b.iter(|| {
            let s = rt.block_on(svc.sweep()).unwrap();
            assert_eq!(s.scanned as usize, N);
            assert_eq!(s.dead_dropped + s.ttl_expired, 0);
        })
    });
    g.bench_function("dead", |b| {
        b.iter_batched(
            || write(dir.path(), &dead),
            |()| {
                let s = rt.block_on(svc.sweep()).unwrap();
                assert_eq!(s.dead_dropped as usize, N);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    write(dir.path(), &live);
    let mut g = c.benchmark_group("views_1000");
    g.sample_size(20);
    g.bench_function("list", |b| {
        b.iter(|| assert_eq!(svc.list(None).unwrap().len(), N))
    });
    g.bench_function("etag", |b| b.iter(|| svc.etag(None).unwrap()));
    g.finish();
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(std::time::Duration::from_secs(3));
    bench(&mut c);
    c.final_summary();
}
