//! One-pass matcher for the literal set: known secrets and their encoded forms.
//!
//! Two strategies, chosen by the size of the set:
//!
//! * **Small sets** (up to [`AC_MAX_PATTERNS`] literals) go to an Aho-Corasick
//!   automaton, whose SIMD prefilter (Teddy) runs at several GB/s for a handful of
//!   literals.
//! * **Large sets** use a fixed-width fingerprint filter: the first `W` (4..=8) bytes
//!   of every literal are hashed (multiply-shift) into a bitset that fits in L2. The
//!   scan loads `W` bytes at every position, hashes them and tests one bit; only a
//!   set bit leads to a binary search of the exact `W`-byte keys and a full compare.
//!   The cost per byte does not grow with the number of secrets: a larger set only
//!   gets a larger bitset, sized to keep the false-positive rate near 0.5%.

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use super::engine::Span;

/// Literal sets up to this size use Aho-Corasick; larger ones the fingerprint filter.
pub(crate) const AC_MAX_PATTERNS: usize = 96;

/// The compiled literal set.
pub(crate) struct KnownSet {
    /// Sorted, deduplicated literals.
    patterns: Vec<Box<[u8]>>,
    max_len: usize,
    matcher: Matcher,
}

enum Matcher {
    Empty,
    Ac(AhoCorasick),
    Hash(HashFilter),
}

struct HashFilter {
    width: usize,
    mask: u64,
    shift: u32,
    bits: Vec<u64>,
    /// (key, pattern index), sorted by key.
    keys: Vec<(u64, u32)>,
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

impl HashFilter {
    fn new(patterns: &[Box<[u8]>], width: usize) -> HashFilter {
        let mask = if width == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * width)) - 1
        };
        let want = (patterns.len() * 256).next_power_of_two();
        let log2 = want.trailing_zeros().clamp(16, 23);
        let shift = 64 - log2;
        let mut bits = vec![0u64; (1usize << log2) / 64];
        let mut keys = Vec::with_capacity(patterns.len());
        for (i, p) in patterns.iter().enumerate() {
            let key = load_partial(p, width);
            let h = (key.wrapping_mul(MUL) >> shift) as usize;
            bits[h / 64] |= 1 << (h % 64);
            keys.push((key, i as u32));
        }
        keys.sort_unstable();
        HashFilter {
            width,
            mask,
            shift,
            bits,
            keys,
        }
    }
}

/// Little-endian load of the first `width` bytes of `bytes` (which has at least that many).
fn load_partial(bytes: &[u8], width: usize) -> u64 {
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(&bytes[..width]);
    u64::from_le_bytes(buf)
}

impl KnownSet {
    pub(crate) fn empty() -> KnownSet {
        KnownSet {
            patterns: Vec::new(),
            max_len: 0,
            matcher: Matcher::Empty,
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
        let min_len = patterns.iter().map(|p| p.len()).min().unwrap_or(0);
        let matcher = if patterns.len() > AC_MAX_PATTERNS && min_len >= 4 {
            Matcher::Hash(HashFilter::new(&patterns, min_len.min(8)))
        } else {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                .build(patterns.iter().map(|p| &p[..]))
                .or_else(|_| {
                    AhoCorasick::builder()
                        .match_kind(MatchKind::Standard)
                        .build(patterns.iter().map(|p| &p[..]))
                })
                .expect("literal automaton fits in memory");
            Matcher::Ac(ac)
        };
        KnownSet {
            patterns,
            max_len,
            matcher,
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
        match &self.matcher {
            Matcher::Empty => {}
            Matcher::Ac(ac) => {
                let input = Input::new(buf).span(from..n);
                for m in ac.find_overlapping_iter(input) {
                    spans.push(Span::new(m.start(), m.end()));
                }
            }
            Matcher::Hash(h) => self.find_hashed(h, buf, from, spans),
        }
        undecided
    }

    fn find_hashed(&self, h: &HashFilter, buf: &[u8], from: usize, spans: &mut Vec<Span>) {
        let n = buf.len();
        let w = h.width;
        if n < from + w {
            return;
        }
        let bits = &h.bits[..];
        let shift = h.shift;
        let mask = h.mask;
        // Positions whose 8-byte load stays inside `buf`.
        let fast_end = if n >= 8 { n - 7 } else { 0 };
        let mut i = from;
        while i < fast_end {
            let word = u64::from_le_bytes(buf[i..i + 8].try_into().expect("8 bytes"));
            let key = word & mask;
            let hash = (key.wrapping_mul(MUL) >> shift) as usize;
            if bits[hash >> 6] & (1 << (hash & 63)) != 0 {
                self.confirm(h, buf, i, key, spans);
            }
            i += 1;
        }
        // The last few positions (fewer than 8 bytes left, at least `w`).
        while i + w <= n {
            let key = load_partial(&buf[i..], w);
            self.confirm(h, buf, i, key, spans);
            i += 1;
        }
    }

    #[inline(never)]
    fn confirm(&self, h: &HashFilter, buf: &[u8], at: usize, key: u64, spans: &mut Vec<Span>) {
        let first = h.keys.partition_point(|&(k, _)| k < key);
        for &(k, idx) in &h.keys[first..] {
            if k != key {
                break;
            }
            let p = &self.patterns[idx as usize];
            if buf[at..].starts_with(p) {
                spans.push(Span::new(at, at + p.len()));
            }
        }
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
        assert!(matches!(big.matcher, Matcher::Hash(_)));
        let small = KnownSet::new(lits[..10].to_vec());
        assert!(matches!(small.matcher, Matcher::Ac(_)));
        let hay = b"a secret-0003-xyzzy b secret-0150-xyzzysecret-0007-xyzzy secret-0003-xyzz";
        assert_eq!(spans_of(&big, hay), vec![(2, 19), (22, 39), (39, 56)]);
        assert_eq!(spans_of(&small, hay), vec![(2, 19), (39, 56)]);
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
