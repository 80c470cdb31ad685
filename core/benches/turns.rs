//! Turn-runner costs (`cargo bench -p keel-core --bench turns -- [ndjson|lock|cas|turn]`):
//!
//! * `ndjson` — framing + JSON + redaction + event mapping of a recorded Claude
//!   stream-json stream (events/s and MB/s), and, in the same run, a Node
//!   `JSON.parse`-per-line loop over the same bytes (when `node` is on PATH).
//! * `lock` — acquiring and releasing an agent's turn lock (async mutex + flock + the
//!   holder record).
//! * `cas` — `try_transition_state` per second with two writers on one database.
//! * `turn` — keel's own overhead per turn with a fake CLI (a `sh` script): spawn →
//!   first event and final event → return, next to the whole turn.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use keel_core::turns::ndjson::{Frame, Framer};
use keel_core::turns::{
    acquire_turn_lock, AgentState, EventKind, Runtime, Store, TurnOptions, TurnRunner,
};

/// A recorded-looking Claude stream: init, then assistant text / tool_use / tool_result
/// / stream_event lines, a result at the end, about `target` bytes.
fn claude_stream(target: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(target + 4096);
    let sid = "5f2c1e0a-8a9b-4c1e-9d6f-0b1a2c3d4e5f";
    writeln!(out, r#"{{"type":"system","subtype":"init","session_id":"{sid}","tools":["Bash","Read","Edit"],"model":"claude-sonnet"}}"#).unwrap();
    let mut i = 0u64;
    while out.len() < target {
        match i % 4 {
            0 => writeln!(out, r#"{{"type":"assistant","session_id":"{sid}","message":{{"id":"msg_{i}","role":"assistant","content":[{{"type":"text","text":"I will now look at src/lib.rs line {i} and check the failing assertion in the parser module before editing anything."}}]}}}}"#),
            1 => writeln!(out, r#"{{"type":"assistant","session_id":"{sid}","message":{{"id":"msg_{i}","role":"assistant","content":[{{"type":"tool_use","id":"toolu_{i}","name":"Bash","input":{{"command":"cargo test --release -p keel-core --test turns {i}","description":"run the tests"}}}}]}}}}"#),
            2 => writeln!(out, r#"{{"type":"user","session_id":"{sid}","message":{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_{}","content":"running 24 tests\ntest result: ok. 23 passed; 0 failed; 1 ignored; finished in 5.41s","is_error":false}}]}}}}"#, i - 1),
            _ => writeln!(out, r#"{{"type":"stream_event","session_id":"{sid}","event":{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"partial text {i}"}}}}}}"#),
        }
        .unwrap();
        i += 1;
    }
    writeln!(out, r#"{{"type":"result","subtype":"success","is_error":false,"result":"done","duration_ms":12345,"session_id":"{sid}"}}"#).unwrap();
    out
}

fn parse_all(stream: &[u8]) -> (u64, u64) {
    let mut framer = Framer::new(64 << 20);
    let (mut lines, mut events) = (0u64, 0u64);
    let mut on = |f: Frame<'_>| {
        if let Frame::Line(l) = f {
            lines += 1;
            events += Runtime::Claude
                .parse_line(l)
                .map(|v| v.len() as u64)
                .unwrap_or(0);
        }
    };
    for chunk in stream.chunks(64 * 1024) {
        framer.push(chunk, &mut on);
    }
    framer.finish(&mut on);
    (lines, events)
}

fn ndjson(c: &mut Criterion) {
    let stream = claude_stream(16 << 20);
    let (lines, events) = parse_all(&stream);
    let mut g = c.benchmark_group("turns/ndjson");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("claude-16MiB", |b| b.iter(|| parse_all(&stream)));
    g.finish();

    // One timed pass over 100 MB, keel and Node side by side.
    let big = claude_stream(100 << 20);
    let t0 = Instant::now();
    let (l, e) = parse_all(&big);
    let keel_s = t0.elapsed().as_secs_f64();
    let mb = big.len() as f64 / 1e6;
    eprintln!(
        "turns/ndjson 100MB: keel {:.0} MB/s, {:.0} events/s ({l} lines, {e} events; 16 MiB: {lines} lines)",
        mb / keel_s,
        e as f64 / keel_s
    );
    let _ = events;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream.ndjson");
    std::fs::write(&path, &big).unwrap();
    let script = "const fs=require('fs');const b=fs.readFileSync(process.argv[1],'utf8');\
        const t0=process.hrtime.bigint();let n=0;let i=0;\
        while(i<b.length){let j=b.indexOf('\\n',i);if(j<0)j=b.length;const l=b.slice(i,j);i=j+1;\
        if(l.length){const v=JSON.parse(l);if(v.type)n++;}}\
        const s=Number(process.hrtime.bigint()-t0)/1e9;console.log(s+' '+n);";
    match std::process::Command::new("node")
        .arg("-e")
        .arg(script)
        .arg(&path)
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let secs: f64 = text
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN);
            eprintln!(
                "turns/ndjson 100MB: node JSON.parse-per-line {:.0} MB/s (no redaction, no mapping); keel/node = {:.2}",
                mb / secs,
                secs / keel_s
            );
        }
        _ => eprintln!("turns/ndjson: node not available, no side-by-side figure"),
    }
}

fn lock(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    c.bench_function("turns/lock acquire+release", |b| {
        b.iter(|| {
            rt.block_on(async {
                acquire_turn_lock(dir.path(), "bench", Duration::from_secs(5))
                    .await
                    .unwrap()
                    .release()
            })
        })
    });
}

fn cas(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("turns.db");
    {
        let s = Store::open(&db).unwrap();
        s.put_session("w0", AgentState::Working, None).unwrap();
        s.put_session("w1", AgentState::Working, None).unwrap();
    }
    let mut g = c.benchmark_group("turns/cas");
    g.sample_size(10);
    g.bench_function("two writers, per transition", |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(2);
            let t0 = Instant::now();
            let hs: Vec<_> = (0..2)
                .map(|w| {
                    let db = db.clone();
                    std::thread::spawn(move || {
                        let mut s = Store::open(&db).unwrap();
                        let name = format!("w{w}");
                        for i in 0..per {
                            let to = if i % 2 == 0 {
                                AgentState::Stalled
                            } else {
                                AgentState::Working
                            };
                            s.try_transition_state(&name, to).unwrap();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            // 2 × per ≈ iters transitions in total, across both writers
            t0.elapsed()
        })
    });
    g.finish();
}

fn turn(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("fake");
    std::fs::write(
        &bin,
        "#!/bin/sh\ncat >/dev/null\necho '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}'\n\
         echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"session_id\":\"s\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let spawn_to_first = Arc::new(Mutex::new(Vec::new()));
    let last_to_return = Arc::new(Mutex::new(Vec::new()));
    let mut g = c.benchmark_group("turns/turn");
    g.sample_size(20);
    let mut k = 0u64;
    g.bench_function("whole turn, fake sh CLI", |b| {
        b.iter(|| {
            k += 1;
            let mut o = TurnOptions::new(
                format!("a{}", k % 8),
                Runtime::Claude,
                dir.path().join("state"),
            );
            o.bin = Some(bin.clone());
            o.input = "hi".into();
            let start = Instant::now();
            let first: Arc<Mutex<Option<Instant>>> = Arc::default();
            let last: Arc<Mutex<Option<Instant>>> = Arc::default();
            let (f2, l2) = (first.clone(), last.clone());
            let r = rt
                .block_on(
                    TurnRunner::new(o)
                        .unwrap()
                        .on_event(move |e| {
                            let now = Instant::now();
                            f2.lock().unwrap().get_or_insert(now);
                            if e.kind == EventKind::Result {
                                *l2.lock().unwrap() = Some(now);
                            }
                        })
                        .run(),
                )
                .unwrap();
            let end = Instant::now();
            assert!(r.clean_result);
            let (f, l) = (*first.lock().unwrap(), *last.lock().unwrap());
            if let (Some(f), Some(l)) = (f, l) {
                spawn_to_first.lock().unwrap().push(f - start);
                last_to_return.lock().unwrap().push(end - l);
            }
        })
    });
    g.finish();
    let med = |v: &Mutex<Vec<Duration>>| {
        let mut v = v.lock().unwrap().clone();
        v.sort();
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    eprintln!(
        "turns/turn: median start -> first event {:?} (lock, store, log dir, spawn of sh, its first line), final event -> return {:?} (exit wait, group check, CAS, lastActivity)",
        med(&spawn_to_first),
        med(&last_to_return)
    );
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
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
    if want("ndjson") {
        ndjson(&mut c);
    }
    if want("lock") {
        lock(&mut c);
    }
    if want("cas") {
        cas(&mut c);
    }
    if want("turn") {
        turn(&mut c);
    }
    c.final_summary();
}
