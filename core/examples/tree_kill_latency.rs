//! Side-by-side latency of the subreaper shim against the plain process-group child:
//! spawn-to-first-byte and kill-to-empty-tree. `cargo run --release -p keel-core
//! --example tree_kill_latency [iterations]`. Figures in BENCHMARKS.md.

use std::time::{Duration, Instant};

use keel_core::process::Command;
use tokio::io::AsyncReadExt;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for shim in [false, true] {
            let (mut first, mut kill) = (Vec::new(), Vec::new());
            for _ in 0..n {
                let t = Instant::now();
                let mut c = Command::new(["sh", "-c", "echo r; sleep 30 & sleep 30 & wait"])
                    .subreaper(shim)
                    .spawn()
                    .unwrap();
                let mut out = c.take_stdout().unwrap();
                let mut b = [0u8; 2];
                out.read_exact(&mut b).await.unwrap();
                first.push(t.elapsed());
                let t = Instant::now();
                let r = c.terminate(Duration::from_secs(5)).await.unwrap();
                kill.push(t.elapsed());
                assert!(r.tree_cleared);
            }
            println!(
                "{:<22} spawn-to-first-byte median {:>8.2?}  kill-to-empty-tree median {:>8.2?}  (n={n})",
                if shim { "subreaper shim" } else { "process group (old)" },
                median(first),
                median(kill)
            );
        }
    });
}
