//! Hostile secret sets and inputs against a normal log, in one run.
//!
//! Run: `cargo bench -p agent-keel-core --bench hostile` (a plain binary, ~1 minute).
//!
//! Every case is reported as a throughput (input bytes per second of process CPU
//! time, so other load on the machine skews it less, and the threads a large
//! one-shot call spreads over are all counted) and as its slowdown against
//! the normal log: the realistic corpus of `corpus.rs` with 10 known secrets and
//! every rule on. The target is a slowdown within 20x for each case. The memory
//! case also reports the peak RSS growth against the input size.

use std::hint::black_box;

use keel_core::redact::{secrets_to_redact, Redactor};

#[allow(dead_code)]
mod corpus;

#[allow(unsafe_code)]
fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Bytes per second of `f`, which processes `bytes` bytes: best of `runs`.
fn rate(bytes: usize, runs: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..runs {
        let t = cpu();
        f();
        best = best.min(cpu() - t);
    }
    bytes as f64 / best.max(1e-9)
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn jwt(i: usize) -> String {
    format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyIn0.{i:010}-signature-{}",
        i * 7919
    )
}

fn report(name: &str, r: f64, normal: f64) {
    let slow = normal / r;
    let verdict = if slow <= 20.0 { "ok" } else { "OVER 20x" };
    println!(
        "{name:<58} {:>9.1} MB/s  slowdown {:>6.2}x  {verdict}",
        r / 1e6,
        slow
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Memory first, while the process is small: 64 MB of one self-overlapping secret.
    let hwm0 = vm_hwm_kib();
    let overlap_input = "ab".repeat(32 << 20);
    let r = Redactor::new();
    r.add_secret("abababababababababababab");
    let t = cpu();
    let out = r.redact_str(&overlap_input);
    let overlap_rate = overlap_input.len() as f64 / (cpu() - t);
    assert_eq!(out, "***");
    drop(out);
    let grown_mib = (vm_hwm_kib().saturating_sub(hwm0)) as f64 / 1024.0;

    // The normal log: realistic corpus, 10 known secrets, every rule on.
    let secrets = corpus::secrets(10);
    let log = corpus::log(16 << 20, &secrets);
    let normal = Redactor::new();
    normal.add_secrets(&secrets);
    let _ = normal.literal_count();
    let normal_rate = rate(log.len(), 3, || {
        black_box(normal.redact_bytes(&log).len());
    });
    println!(
        "{:<58} {:>9.1} MB/s",
        "normal log (16 MB, 10 secrets, all rules)",
        normal_rate / 1e6
    );

    // 1. 10,000 secrets sharing one window (the header of every HS256 JWT) over
    //    input that repeats it.
    let r = Redactor::builder().disable_rule("jwt").build().unwrap();
    r.add_secrets((0..10_000).map(jwt));
    let _ = r.literal_count();
    let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.";
    let shared = header.repeat((4 << 20) / header.len());
    report(
        "10,000 secrets sharing a window, input repeating it (4 MB)",
        rate(shared.len(), 3, || {
            black_box(r.redact_str(&shared).len());
        }),
        normal_rate,
    );
    // The same with 100,000 secrets, 1 MB (114 s before).
    let r = Redactor::builder().disable_rule("jwt").build().unwrap();
    r.add_secrets((0..100_000).map(jwt));
    let _ = r.literal_count();
    let shared1 = &shared[..1 << 20];
    report(
        "100,000 secrets sharing a window, input repeating it (1 MB)",
        rate(shared1.len(), 3, || {
            black_box(r.redact_str(shared1).len());
        }),
        normal_rate,
    );

    // 2. Interleaving add_secret and redact: 8,000 secrets, a 4 KiB log chunk
    //    redacted after each add, against the same redactions with no adds.
    let chunk = &log[..4096];
    let r = Redactor::new();
    let t = cpu();
    for i in 0..8000 {
        r.add_secret(format!("interleaved-secret-{i:06}-{}", i * 13));
        black_box(r.redact_bytes(chunk).len());
    }
    let interleaved = 8000.0 * chunk.len() as f64 / (cpu() - t);
    report(
        "interleaved add_secret + redact(4 KiB), 8,000 secrets",
        interleaved,
        normal_rate,
    );

    // 3. Two jobs alternating per-call known secrets over 20,000 registered ones.
    let r = Redactor::new();
    r.add_secrets((0..20_000).map(|i| format!("registered-secret-{i:06}")));
    let _ = r.literal_count();
    let a = ["job-a-token-0123456789".to_string()];
    let b = ["job-b-token-9876543210".to_string()];
    let text = std::str::from_utf8(chunk).unwrap_or("");
    let t = cpu();
    for k in 0..2000 {
        let set = if k % 2 == 0 { &a } else { &b };
        black_box(r.redact_with(text, &set[..]).len());
    }
    let alternating = 2000.0 * text.len() as f64 / (cpu() - t);
    report(
        "alternating knownSecrets, 20,000 registered, 4 KiB calls",
        alternating,
        normal_rate,
    );

    // 4. JSON harvesting of an 80,000-leaf blob.
    let mut blob = String::from("{\"items\":[");
    for i in 0..80_000 {
        if i > 0 {
            blob.push(',');
        }
        blob.push_str(&format!("\"leaf-token-value-{i:08}\""));
    }
    blob.push_str("]}");
    report(
        "JSON harvest, 80,000 leaves (secrets_to_redact)",
        rate(blob.len(), 3, || {
            black_box(secrets_to_redact(&blob).len());
        }),
        normal_rate,
    );
    let r = Redactor::new();
    let t = cpu();
    r.add_json_secret(&blob);
    let _ = r.literal_count();
    println!(
        "{:<58} {:>9.2} s (compile cost of 80,000 secrets, informational)",
        "  then registering them all",
        cpu() - t
    );

    // 5. Pathological anchor and prefix runs: each unit repeated to 4 MB, with
    //    every rule on and the 10 known secrets of the normal log.
    for unit in [
        "token:",
        "=",
        ":",
        "token=",
        "password=",
        "password: ",
        "\"token\": ",
        "\"apiToken\" => ",
        "x := ",
        "<password>",
        "Authorization: Bearer ",
        "https://user:",
        "curl -u ",
        "mysql -p",
        "--password ",
        "ghp_",
        "xoxb-",
        "eyJ",
        "AKIA",
        "-----BEGIN ",
        "sk-",
    ] {
        let input = unit.repeat((4 << 20) / unit.len());
        report(
            &format!("{unit:?} repeated (4 MB)"),
            rate(input.len(), 3, || {
                black_box(normal.redact_str(&input).len());
            }),
            normal_rate,
        );
    }

    // 6. One-shot over 64 MB of a self-overlapping secret (measured first).
    report(
        "64 MB of one self-overlapping secret, one-shot",
        overlap_rate,
        normal_rate,
    );
    println!(
        "{:<58} peak RSS growth {grown_mib:.0} MiB for {} MiB of input",
        "  memory",
        overlap_input.len() >> 20
    );
}
