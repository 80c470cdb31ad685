//! Redaction throughput on the realistic mixed log of `corpus.rs` (2% of lines carry
//! a secret). Run: `cargo bench -p agent-keel-core --bench redact`.
//!
//! Groups report bytes/second: `one-shot` with the default threads (the input is
//! split across up to 4 CPUs), `one-shot-1-thread` on the calling thread only,
//! `stream-64k` (always one thread). `baseline/*` are the hardware reference points
//! (a `memchr` line count and a memcpy) measured on the same input in the same run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keel_core::redact::Redactor;

#[allow(dead_code)]
mod corpus;

const MIB: usize = 16;

fn redactor(secrets: &[String], threads: usize) -> Redactor {
    let r = Redactor::builder().threads(threads).build().unwrap();
    r.add_secrets(secrets);
    // compile outside the measurement
    let _ = r.literal_count();
    r
}

fn bench(c: &mut Criterion) {
    for &n in &[0usize, 10, 1000] {
        let secrets = corpus::secrets(n);
        let log = corpus::log(MIB << 20, &secrets);
        // Default threads (a 16 MiB call is split across the CPUs), and one thread.
        let r = redactor(&secrets, 4);
        let r1 = redactor(&secrets, 1);
        let mut g = c.benchmark_group(format!("redact/{n}-secrets"));
        g.throughput(Throughput::Bytes(log.len() as u64));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(4));
        g.warm_up_time(Duration::from_millis(500));
        g.bench_function("one-shot", |b| {
            b.iter(|| black_box(r.redact_bytes(black_box(&log))).len())
        });
        g.bench_function("one-shot-1-thread", |b| {
            b.iter(|| black_box(r1.redact_bytes(black_box(&log))).len())
        });
        g.bench_function("stream-64k", |b| {
            let mut out = Vec::with_capacity(log.len());
            b.iter(|| {
                out.clear();
                let mut s = r.stream();
                for chunk in log.chunks(64 * 1024) {
                    s.write(chunk, &mut out);
                }
                s.finish(&mut out);
                black_box(out.len())
            })
        });
        g.finish();
    }
    let log = corpus::log(MIB << 20, &corpus::secrets(10));
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(2));
    g.bench_function("memchr-newlines", |b| {
        b.iter(|| memchr_count(black_box(&log)))
    });
    g.bench_function("memcpy", |b| b.iter(|| black_box(log.clone()).len()));
    g.finish();
}

fn memchr_count(hay: &[u8]) -> usize {
    hay.iter().filter(|&&b| b == b'\n').count()
}

criterion_group!(benches, bench);
criterion_main!(benches);
