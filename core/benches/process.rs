//! Process-tree costs of the Linux subreaper shim against the old process-group child,
//! side by side (issue 8). One binary, two parts:
//!
//! * criterion (`cargo bench -p agent-keel-core --bench process -- spawn kill`):
//!   - `spawn_to_first_byte/{shim,group}`: from `Command::spawn` to the first byte the
//!     child writes on its stdout pipe;
//!   - `kill_to_empty_tree/{shim,group}`: from `terminate` (SIGTERM, 5 s grace) to the
//!     moment no process of the tree (leader + two background sleeps) is left.
//! * `cargo bench -p agent-keel-core --bench process -- memory`: the shim's own memory
//!   (`Rss`, `Pss`, `Private_Dirty` from `/proc/<shim pid>/smaps_rollup`) while it watches a
//!   tree, next to the host's, for a few host sizes (the shim is forked without exec, so
//!   its image is the host's, copy-on-write; PSS is what it really costs).
//!
//! Short measurements (`--measurement-time 3`); the machine may be shared, so read the
//! figures as orders of magnitude. Linux only (elsewhere only the group mode exists).

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use keel_core::process::{Child, Command};
use tokio::io::AsyncReadExt;

const TREE: &str = "echo r; sleep 30 & sleep 30 & wait";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

async fn spawn_ready(shim: bool) -> Child {
    let mut c = Command::new(["sh", "-c", TREE])
        .subreaper(shim)
        .spawn()
        .unwrap();
    let mut out = c.take_stdout().unwrap();
    let mut b = [0u8; 2];
    out.read_exact(&mut b).await.unwrap();
    c
}

fn mode(shim: bool) -> &'static str {
    if shim {
        "shim"
    } else {
        "group"
    }
}

fn latency(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("spawn_to_first_byte");
    g.sample_size(20);
    for shim in [true, false] {
        g.bench_function(BenchmarkId::from_parameter(mode(shim)), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let t = Instant::now();
                        let mut c = spawn_ready(shim).await;
                        total += t.elapsed();
                        c.terminate(Duration::from_secs(5)).await.unwrap();
                    }
                    total
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("kill_to_empty_tree");
    g.sample_size(20);
    for shim in [true, false] {
        g.bench_function(BenchmarkId::from_parameter(mode(shim)), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut c = spawn_ready(shim).await;
                        let t = Instant::now();
                        let r = c.terminate(Duration::from_secs(5)).await.unwrap();
                        total += t.elapsed();
                        // Only the shim's figure means that every descendant is gone;
                        // the group kill cannot see processes that left the group.
                        assert!(r.tree_cleared);
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

/// `Rss`, `Pss` and `Private_Dirty` (kB) of `/proc/<pid>/smaps_rollup`.
fn smaps(pid: u32) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"), field("Private_Dirty:"))
}

/// The leader's parent: the shim (or this process in group mode).
fn ppid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

fn memory() {
    let rt = rt();
    println!("shim memory (kB, /proc/<pid>/smaps_rollup), one watched tree per row:");
    println!(
        "{:>16} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8}",
        "host heap", "host Rss", "host Pss", "host PD", "shim Rss", "shim Pss", "shim PD"
    );
    // A bigger host (touched heap) shows whether the forked shim pays for it.
    let mut ballast: Vec<Vec<u8>> = Vec::new();
    for mb in [0usize, 64, 256] {
        while ballast.len() < mb {
            ballast.push(vec![1u8; 1 << 20]);
        }
        rt.block_on(async {
            let mut c = spawn_ready(true).await;
            let shim = ppid(c.pid());
            assert_ne!(shim, std::process::id(), "the leader's parent is the shim");
            tokio::time::sleep(Duration::from_millis(200)).await;
            let (hr, hp, hd) = smaps(std::process::id());
            let (sr, sp, sd) = smaps(shim);
            println!(
                "{:>13} MB | {hr:>8} {hp:>8} {hd:>8} | {sr:>8} {sp:>8} {sd:>8}",
                mb
            );
            c.terminate(Duration::from_secs(5)).await.unwrap();
        });
    }
    std::hint::black_box(&ballast);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "memory") {
        memory();
        return;
    }
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    latency(&mut c);
    c.final_summary();
}
