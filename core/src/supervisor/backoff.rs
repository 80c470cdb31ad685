//! Capped exponential backoff with jitter, and the burst tracker behind `degraded`.

use std::collections::VecDeque;
use std::time::Duration;

/// Capped exponential backoff: attempt `n` (1-based) waits `min(max, base · 2^(n-1))`,
/// minus up to `jitter` of it.
///
/// ```
/// use std::time::Duration;
/// use keel_core::supervisor::Backoff;
/// let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(30), 0.0);
/// let seq: Vec<u64> = (1..=6).map(|n| b.delay(n, 0).as_millis() as u64).collect();
/// assert_eq!(seq, [2000, 4000, 8000, 16000, 30000, 30000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    jitter: f64,
}

impl Backoff {
    /// A policy; `jitter` is clamped to `[0, 1]` and `base` to at least 1 ms.
    pub fn new(base: Duration, max: Duration, jitter: f64) -> Self {
        let base = base.max(Duration::from_millis(1));
        Backoff {
            base,
            max: max.max(base),
            jitter: if jitter.is_nan() {
                0.0
            } else {
                jitter.clamp(0.0, 1.0)
            },
        }
    }

    /// The un-jittered delay of attempt `n` (1-based; 0 is treated as 1).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(40);
        let d = self.base.saturating_mul(1u32 << shift.min(31));
        let d = if shift > 31 { self.max } else { d };
        d.min(self.max)
    }

    /// The cap.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The delay of attempt `n` with jitter drawn from `random` (any u64; uniform).
    /// Never above [`ceiling`](Self::ceiling), never below `(1 - jitter) · ceiling`,
    /// never below 1 ms.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        self.jittered(self.ceiling(attempt), random)
    }

    /// `d` with jitter applied.
    pub fn jittered(&self, d: Duration, random: u64) -> Duration {
        if self.jitter == 0.0 {
            return d;
        }
        let frac = (random >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
        let cut = d.as_secs_f64() * self.jitter * frac;
        d.saturating_sub(Duration::from_secs_f64(cut))
            .max(Duration::from_millis(1))
    }
}

/// A small xorshift64* generator for jitter and runner names, seeded from the std
/// hasher's per-process random keys (no extra dependency).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        Rng(h.finish() | 1)
    }

    pub(crate) fn seeded(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Failure timestamps within a sliding window.
#[derive(Debug, Default)]
pub(crate) struct Burst {
    times: VecDeque<Duration>,
}

impl Burst {
    /// Record a failure at `now`; true when `failures` fell within `window`.
    pub(crate) fn record(&mut self, now: Duration, failures: u32, window: Duration) -> bool {
        self.times.push_back(now);
        while let Some(&t) = self.times.front() {
            if now.saturating_sub(t) > window {
                self.times.pop_front();
            } else {
                break;
            }
        }
        while self.times.len() > failures as usize {
            self.times.pop_front();
        }
        self.times.len() >= failures as usize
    }

    pub(crate) fn clear(&mut self) {
        self.times.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range() {
        let b = Backoff::new(Duration::from_secs(2), Duration::from_secs(30), 0.2);
        let mut rng = Rng::from_entropy();
        for n in 1..50 {
            let d = b.delay(n, rng.next());
            let c = b.ceiling(n);
            assert!(
                d <= c && d >= c.mul_f64(0.8) - Duration::from_millis(1),
                "{d:?} {c:?}"
            );
        }
        assert_eq!(b.ceiling(1000), Duration::from_secs(30));
        assert_eq!(b.ceiling(0), Duration::from_secs(2));
    }

    #[test]
    fn burst_window() {
        let mut b = Burst::default();
        let w = Duration::from_secs(10);
        assert!(!b.record(Duration::from_secs(0), 3, w));
        assert!(!b.record(Duration::from_secs(1), 3, w));
        assert!(b.record(Duration::from_secs(2), 3, w));
        b.clear();
        assert!(!b.record(Duration::from_secs(20), 3, w));
        assert!(!b.record(Duration::from_secs(31), 3, w));
    }
}
