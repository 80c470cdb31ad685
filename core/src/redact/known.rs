//! One-pass matcher for the literal set: known secrets and their encoded forms.
//!
//! Literals are split into tiers by length:
//!
//! * **Long literals** (at least [`WIDTH`] + [`MAX_STRIDE`] - 1 bytes — every real
//!   token and its encodings) go to a *strided fingerprint filter*. Every
//!   [`WIDTH`]-byte window of a literal at offsets `0..stride` is hashed
//!   (multiply-shift) into a bitset sized for a ~1% false-positive rate. The scan
//!   loads one 8-byte window every `stride` bytes, hashes it and tests one bit:
//!   an occurrence of a literal of length `L >= WIDTH + stride - 1` always covers
//!   exactly one scanned window at an offset `< stride`. Only a set bit leads to a
//!   binary search of the exact windows and a full compare. The cost per byte
//!   falls with the stride and does not grow with the number of secrets.
//! * **Medium literals** (8 bytes up to the long threshold) use the same filter
//!   with the stride their shortest member allows.
//! * **Short literals** (under 8 bytes, only when the minimum secret length is
//!   configured below the default) go to an Aho-Corasick automaton.

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use super::engine::Span;

/// Bytes per fingerprint window.
pub(crate) const WIDTH: usize = 8;
/// Largest stride of the fingerprint scan.
pub(crate) const MAX_STRIDE: usize = 16;
/// Largest stride used for long literals (each literal adds this many keys).
const LONG_STRIDE_CAP: usize = 32;

/// The compiled literal set.
pub(crate) struct KnownSet {
    /// Sorted, deduplicated literals.
    patterns: Vec<Box<[u8]>>,
    max_len: usize,
    tiers: Vec<Tier>,
}

enum Tier {
    Ac(AhoCorasick),
    Stride(StrideFilter),
}

struct StrideFilter {
    stride: usize,
    shift: u32,
    bits: Vec<u64>,
    /// (window, pattern index, offset of the window in the pattern), sorted.
    keys: Vec<(u64, u32, u32)>,
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

fn window(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + WIDTH].try_into().expect("8-byte window"))
}

impl StrideFilter {
    fn new(patterns: &[Box<[u8]>], members: &[usize], stride: usize) -> StrideFilter {
        let entries = members.len() * stride;
        let want = (entries * 128).next_power_of_two();
        let log2 = want.trailing_zeros().clamp(16, 24);
        let shift = 64 - log2;
        let mut bits = vec![0u64; (1usize << log2) / 64];
        let mut keys = Vec::with_capacity(entries);
        for &i in members {
            let p = &patterns[i];
            for k in 0..stride {
                let key = window(p, k);
                let h = (key.wrapping_mul(MUL) >> shift) as usize;
                bits[h / 64] |= 1 << (h % 64);
                keys.push((key, i as u32, k as u32));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        StrideFilter {
            stride,
            shift,
            bits,
            keys,
        }
    }

    fn find(&self, patterns: &[Box<[u8]>], buf: &[u8], from: usize, spans: &mut Vec<Span>) {
        let n = buf.len();
        let (bits, shift, stride) = (&self.bits[..], self.shift, self.stride);
        let mut i = from;
        while i + WIDTH <= n {
            let key = window(buf, i);
            let h = (key.wrapping_mul(MUL) >> shift) as usize;
            if bits[h >> 6] & (1 << (h & 63)) != 0 {
                self.confirm(patterns, buf, from, i, key, spans);
            }
            i += stride;
        }
    }

    #[inline(never)]
    fn confirm(
        &self,
        patterns: &[Box<[u8]>],
        buf: &[u8],
        from: usize,
        at: usize,
        key: u64,
        spans: &mut Vec<Span>,
    ) {
        let first = self.keys.partition_point(|&(k, _, _)| k < key);
        for &(k, idx, off) in &self.keys[first..] {
            if k != key {
                break;
            }
            let off = off as usize;
            if at < from + off {
                continue;
            }
            let start = at - off;
            let p = &patterns[idx as usize];
            if buf[start..].starts_with(p) {
                spans.push(Span::new(start, start + p.len()));
            }
        }
    }
}

impl KnownSet {
    pub(crate) fn empty() -> KnownSet {
        KnownSet {
            patterns: Vec::new(),
            max_len: 0,
            tiers: Vec::new(),
        }
    }

    /// Compile a set of literals (any order, duplicates allowed).
    pub(crate) fn new(mut literals: Vec<Vec<u8>>) -> KnownSet {
        literals.retain(|l| !l.is_empty());
        literals.sort_unstable();
        literals.dedup();
        if literals.is_empty() {
            return KnownSet::empty();
        }
        let patterns: Vec<Box<[u8]>> = literals.into_iter().map(Vec::into_boxed_slice).collect();
        let max_len = patterns.iter().map(|p| p.len()).max().unwrap_or(0);
        let long_min = WIDTH + MAX_STRIDE - 1;
        let (mut long, mut medium, mut short) = (Vec::new(), Vec::new(), Vec::new());
        for (i, p) in patterns.iter().enumerate() {
            match p.len() {
                l if l >= long_min => long.push(i),
                l if l >= WIDTH => medium.push(i),
                _ => short.push(i),
            }
        }
        let mut tiers = Vec::new();
        if !long.is_empty() {
            // As long a stride as the shortest long literal allows (real tokens are
            // 36 to 100+ bytes), within the cap that keeps the key table small.
            let shortest = long
                .iter()
                .map(|&i| patterns[i].len())
                .min()
                .unwrap_or(long_min);
            let stride = (shortest - WIDTH + 1).min(LONG_STRIDE_CAP);
            tiers.push(Tier::Stride(StrideFilter::new(&patterns, &long, stride)));
        }
        if !medium.is_empty() {
            let shortest = medium
                .iter()
                .map(|&i| patterns[i].len())
                .min()
                .unwrap_or(WIDTH);
            let stride = shortest - WIDTH + 1;
            tiers.push(Tier::Stride(StrideFilter::new(&patterns, &medium, stride)));
        }
        if !short.is_empty() {
            let lits = short.iter().map(|&i| &patterns[i][..]);
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(lits.clone())
                .or_else(|_| {
                    AhoCorasick::builder()
                        .match_kind(MatchKind::Standard)
                        .build(lits)
                })
                .expect("literal automaton fits in memory");
            tiers.push(Tier::Ac(ac));
        }
        KnownSet {
            patterns,
            max_len,
            tiers,
        }
    }

    /// Number of literals (secrets plus encoded forms).
    pub(crate) fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Report every occurrence of every literal that starts at or after `from` and
    /// ends within `buf`. Returns the first position at which a literal could still
    /// begin once more bytes arrive (`buf.len()` when `eof`).
    pub(crate) fn find(&self, buf: &[u8], from: usize, eof: bool, spans: &mut Vec<Span>) -> usize {
        let n = buf.len();
        let undecided = if eof || self.max_len == 0 {
            n
        } else {
            n.saturating_sub(self.max_len - 1).max(from)
        };
        if from >= n {
            return undecided;
        }
        for tier in &self.tiers {
            match tier {
                Tier::Stride(f) => f.find(&self.patterns, buf, from, spans),
                Tier::Ac(ac) => {
                    let input = Input::new(buf).span(from..n);
                    for m in ac.find_overlapping_iter(input) {
                        spans.push(Span::new(m.start(), m.end()));
                    }
                }
            }
        }
        undecided
    }

    /// The first position `i` such that `buf[i..]` is a proper prefix of some
    /// literal (and so might become a match), or `buf.len()` if there is none.
    pub(crate) fn pending_prefix_start(&self, buf: &[u8], from: usize) -> usize {
        let n = buf.len();
        if self.patterns.is_empty() {
            return n;
        }
        let longest = (self.max_len - 1).min(n - from.min(n));
        for k in (1..=longest).rev() {
            let tail = &buf[n - k..];
            let idx = self.patterns.partition_point(|p| &p[..] < tail);
            if idx < self.patterns.len() && self.patterns[idx].starts_with(tail) {
                return n - k;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_of(set: &KnownSet, hay: &[u8]) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        set.find(hay, 0, true, &mut spans);
        let mut v: Vec<_> = spans.iter().map(|s| (s.start, s.end)).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn both_strategies_agree() {
        let lits: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("secret-{i:04}-xyzzy").into_bytes())
            .collect();
        let big = KnownSet::new(lits.clone());
        let small = KnownSet::new(lits[..10].to_vec());
        let mut short: Vec<Vec<u8>> = lits.iter().map(|l| l[7..].to_vec()).collect();
        short.push(b"tiny".to_vec());
        let mixed = KnownSet::new(short);
        assert_eq!(mixed.tiers.len(), 2);
        assert_eq!(
            spans_of(&mixed, b"xx0150-xyzzy tiny"),
            vec![(2, 12), (13, 17)]
        );
        let hay = b"a secret-0003-xyzzy b secret-0150-xyzzysecret-0007-xyzzy secret-0003-xyzz";
        assert_eq!(spans_of(&big, hay), vec![(2, 19), (22, 39), (39, 56)]);
        assert_eq!(spans_of(&small, hay), vec![(2, 19), (39, 56)]);
    }

    #[test]
    fn long_literals_are_found_at_every_offset() {
        // strides up to the cap: a 39-byte literal gives stride 32
        let lits: Vec<Vec<u8>> = (0..20)
            .map(|i| {
                format!(
                    "{i:02}-{}",
                    &"abcdefghijklmnopqrstuvwxyz0123456789".repeat(3)[..37 + i]
                )
                .into_bytes()
            })
            .collect();
        let set = KnownSet::new(lits.clone());
        for (i, lit) in lits.iter().enumerate() {
            for pad in 0..40 {
                let mut hay = vec![b'.'; pad];
                hay.extend_from_slice(lit);
                hay.extend_from_slice(b"..");
                let found = spans_of(&set, &hay);
                assert!(
                    found.contains(&(pad, pad + lit.len())),
                    "literal {i} at {pad}: {found:?}"
                );
            }
        }
    }

    #[test]
    fn overlapping_literals_are_all_reported() {
        let set = KnownSet::new(vec![b"abcdefgh".to_vec(), b"efghijkl".to_vec()]);
        assert_eq!(spans_of(&set, b"xxabcdefghijklxx"), vec![(2, 10), (6, 14)]);
    }

    #[test]
    fn pending_prefix() {
        let set = KnownSet::new(vec![b"hunter22".to_vec()]);
        assert_eq!(set.pending_prefix_start(b"say hunt", 0), 4);
        assert_eq!(set.pending_prefix_start(b"say hi", 0), 6);
    }
}
