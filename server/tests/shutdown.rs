//! Shutdown with running jobs: new jobs are refused, running ones are aborted (their
//! whole trees killed, checked in /proc), the server waits for them to settle —
//! bounded — and returns.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_aborts_running_jobs_and_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options();
    o.shutdown_grace_ms = 15_000;
    let s = start(o).await;
    let mut pids = Vec::new();
    for i in 0..3 {
        let pidf = dir.path().join(format!("pid{i}"));
        // One job ignores SIGTERM: the kill escalates to SIGKILL after its grace.
        let script = if i == 0 {
            format!(
                "trap '' TERM; sleep 300 & echo $! > '{}'; while :; do wait; done",
                pidf.display()
            )
        } else {
            format!("sleep 300 & echo $! > '{}'; wait", pidf.display())
        };
        let r = post_json(
            s.addr,
            &json!({"kind":"command","jobId":format!("run-{i}"),"cmd":"sh","args":["-c",script],"killGraceMs":1500}),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text());
        pids.push(read_pid(&pidf).await);
    }
    // A finished job is left alone.
    post_json(
        s.addr,
        &json!({"kind":"command","jobId":"quick","cmd":"true"}),
    )
    .await;
    wait_done(s.addr, "quick").await;
    let leaders: Vec<u32> = (0..3)
        .map(|i| {
            // The leader is the parent of each grandchild.
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", pids[i])).unwrap();
            let rest = stat.rsplit_once(')').unwrap().1;
            rest.split_whitespace().nth(1).unwrap().parse().unwrap()
        })
        .collect();
    for p in pids.iter().chain(&leaders) {
        assert!(alive(*p), "{p} not running before shutdown");
    }
    let addr = s.addr;
    let started = Instant::now();
    let Running { stop, task, .. } = s;
    let _ = stop.unwrap().send(());
    // While the SIGTERM-ignoring job settles, new jobs are refused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = post_json(addr, &json!({"kind":"command","jobId":"late","cmd":"true"})).await;
    assert_eq!(r.status, 503, "{}", r.text());
    // And polls still answer, so a caller can watch its job end.
    assert_eq!(get(addr, "/jobs/run-1").await.status, 200);
    let result = tokio::time::timeout(Duration::from_secs(40), task)
        .await
        .expect("the server returned within the grace");
    result.unwrap().unwrap();
    let took = started.elapsed();
    // The escalation had to wait for the kill grace; nothing polls, so it did not take
    // much longer than the slowest job.
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    for p in pids.iter().chain(&leaders) {
        assert!(!alive(*p), "{p} survived the shutdown");
    }
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_no_jobs_is_immediate() {
    let s = start(options()).await;
    assert_eq!(get(s.addr, "/health").await.status, 200);
    let started = Instant::now();
    s.shutdown().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}
