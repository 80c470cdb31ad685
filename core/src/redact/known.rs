//! One-pass matcher for the literal set: known secrets and their encoded forms.
//!
//! Literals are split into tiers by length:
//!
//! * **Long literals** (at least [`WIDTH`] + [`MAX_STRIDE`] - 1 bytes — every real
//!   token and its encodings) go to a *strided fingerprint filter*. `stride`
//!   consecutive [`WIDTH`]-byte windows of each literal are hashed
//!   (multiply-shift) into a bitset sized for a ~1% false-positive rate. The scan
//!   loads one 8-byte window every `stride` bytes, hashes it and tests one bit:
//!   an occurrence of a literal of length `L >= WIDTH + stride - 1` always covers
//!   exactly one scanned window among any `stride` consecutive window offsets.
//!   The filter takes each literal's *last* `stride` windows: secrets share
//!   prefixes (provider prefixes, the header of every JWT of one algorithm), not
//!   suffixes, so input that repeats a shared prefix does not light the filter up.
//!   The cost per byte falls with the stride and does not grow with the number of
//!   secrets.
//! * **Medium literals** (8 bytes up to the long threshold) use the same filter
//!   with the stride their shortest member allows.
//! * **Short literals** (under 8 bytes, only when the minimum secret length is
//!   configured below the default) go to Aho-Corasick automata.
//!
//! **Confirmation** of a set bit costs O(1) expected per window whatever the
//! number of literals sharing it: each (window, offset) slot holds a small list,
//! and a large one becomes a hash table keyed by (length, hash of the literal), so
//! thousands of secrets sharing a window are checked with one hash per distinct
//! length instead of one comparison each.
//!
//! **Adding** literals is incremental: new literals are inserted into the existing
//! filters; a filter is rebuilt only when a literal shorter than its stride allows
//! arrives (at most once per possible stride) or its bitset fills up (doubling, so
//! amortised O(1) per literal). Short literals live in automata of doubling sizes
//! (a binary counter), so adding one costs amortised O(log n) rebuild work.
//!
//! Spans are coalesced as they are reported: an input made of one self-overlapping
//! secret yields one span, not one per occurrence.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use super::engine::Span;

/// Bytes per fingerprint window.
pub(crate) const WIDTH: usize = 8;
/// Largest stride of the fingerprint scan.
pub(crate) const MAX_STRIDE: usize = 16;
/// Largest stride used for long literals (each literal adds this many keys).
const LONG_STRIDE_CAP: usize = 32;
/// A slot holding more literals than this is indexed by hash.
const SMALL_SLOT: usize = 4;

/// The compiled literal set.
#[derive(Clone)]
pub(crate) struct KnownSet {
    /// Literals in insertion order (indices are stable).
    patterns: Vec<Arc<[u8]>>,
    /// The same literals, sorted (deduplication and prefix queries).
    sorted: BTreeSet<Arc<[u8]>>,
    max_len: usize,
    long: Option<StrideFilter>,
    medium: Option<StrideFilter>,
    short: Vec<AcLevel>,
}

#[derive(Clone)]
struct AcLevel {
    members: Vec<u32>,
    ac: AhoCorasick,
}

/// Hasher for keys that are already well mixed (or are mixed here).
#[derive(Default)]
struct MulHasher(u64);

impl Hasher for MulHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(MUL);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(MUL).rotate_left(29);
    }
}

type Map<V> = HashMap<u64, V, BuildHasherDefault<MulHasher>>;

/// The literals that have one window at one offset.
#[derive(Clone)]
enum Slot {
    /// Up to [`SMALL_SLOT`] literals, inline.
    Small([u32; SMALL_SLOT], u8),
    /// Keyed by `bucket_key(len, hash of the literal)` → head of a chain in
    /// `chain` of (literal, next + 1); `lens` sorted, distinct.
    Hashed {
        lens: Vec<u32>,
        map: Map<u32>,
        chain: Vec<(u32, u32)>,
    },
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn bucket_key(len: usize, hash: u64) -> u64 {
    hash ^ (len as u64).wrapping_mul(MUL)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

impl Slot {
    fn one(idx: u32) -> Slot {
        Slot::Small([idx, 0, 0, 0], 1)
    }

    fn insert(&mut self, patterns: &[Arc<[u8]>], idx: u32) {
        match self {
            Slot::Small(v, n) if (*n as usize) < SMALL_SLOT => {
                v[*n as usize] = idx;
                *n += 1;
            }
            Slot::Small(v, _) => {
                let members = *v;
                *self = Slot::Hashed {
                    lens: Vec::new(),
                    map: Map::default(),
                    chain: Vec::new(),
                };
                for i in members {
                    self.insert(patterns, i);
                }
                self.insert(patterns, idx);
            }
            Slot::Hashed { lens, map, chain } => {
                let p = &patterns[idx as usize];
                let len = p.len() as u32;
                if let Err(at) = lens.binary_search(&len) {
                    lens.insert(at, len);
                }
                let head = map.entry(bucket_key(p.len(), fnv(p))).or_insert(0);
                chain.push((idx, *head));
                *head = chain.len() as u32;
            }
        }
    }

    /// Report every literal of this slot that occurs at `buf[start..]`.
    fn confirm(&self, patterns: &[Arc<[u8]>], buf: &[u8], start: usize, spans: &mut Vec<Span>) {
        match self {
            Slot::Small(v, n) => {
                for &idx in &v[..*n as usize] {
                    let p = &patterns[idx as usize];
                    if buf[start..].starts_with(p) {
                        push_span(spans, Span::new(start, start + p.len()));
                    }
                }
            }
            Slot::Hashed { lens, map, chain } => {
                let rest = &buf[start..];
                let mut h = FNV_OFFSET;
                let mut done = 0usize;
                for &len in lens {
                    let len = len as usize;
                    if len > rest.len() {
                        break;
                    }
                    for &b in &rest[done..len] {
                        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
                    }
                    done = len;
                    let mut next = map.get(&bucket_key(len, h)).copied().unwrap_or(0);
                    while next != 0 {
                        let (idx, after) = chain[next as usize - 1];
                        let p = &patterns[idx as usize];
                        if p.len() == len && rest[..len] == p[..] {
                            push_span(spans, Span::new(start, start + len));
                        }
                        next = after;
                    }
                }
            }
        }
    }
}

/// Add `s` to `spans`, merging it into the last span when they overlap or touch
/// (the union, which is all that masking uses, is unchanged).
#[inline]
pub(crate) fn push_span(spans: &mut Vec<Span>, s: Span) {
    if let Some(last) = spans.last_mut() {
        if s.start <= last.end && s.end >= last.start {
            last.start = last.start.min(s.start);
            last.end = last.end.max(s.end);
            return;
        }
    }
    spans.push(s);
}

/// The slots of one window: most windows of real tokens belong to one literal
/// only, which is stored inline (no allocation).
#[derive(Clone)]
enum Slots {
    /// (offset, literal).
    One(u32, u32),
    Many(Vec<(u32, Slot)>),
}

#[derive(Clone)]
struct StrideFilter {
    stride: usize,
    /// Shortest literal length this stride allows.
    min_len: usize,
    shift: u32,
    bits: Vec<u64>,
    /// Window → the literals having it, by offset of the window in them.
    keys: Map<Slots>,
    members: Vec<u32>,
    entries: usize,
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

fn window(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + WIDTH].try_into().expect("8-byte window"))
}

/// log2 of the bitset size for `entries` keys (~1% false positives), capped.
fn bits_log2(entries: usize) -> u32 {
    (entries.max(1) * 128)
        .next_power_of_two()
        .trailing_zeros()
        .clamp(16, 24)
}

impl StrideFilter {
    fn new(patterns: &[Arc<[u8]>], members: Vec<u32>, stride: usize) -> StrideFilter {
        let log2 = bits_log2(members.len() * stride);
        let mut f = StrideFilter {
            stride,
            min_len: stride + WIDTH - 1,
            shift: 64 - log2,
            bits: vec![0u64; (1usize << log2) / 64],
            keys: Map::with_capacity_and_hasher(members.len() * stride, Default::default()),
            members: Vec::with_capacity(members.len()),
            entries: 0,
        };
        for i in members {
            f.insert(patterns, i);
        }
        f
    }

    /// Whether the bitset is too full for its false-positive target and could grow.
    fn wants_growth(&self) -> bool {
        let log2 = (self.bits.len() * 64).trailing_zeros();
        bits_log2(self.entries) > log2
    }

    fn insert(&mut self, patterns: &[Arc<[u8]>], idx: u32) {
        let p = &patterns[idx as usize];
        debug_assert!(p.len() >= self.min_len);
        self.members.push(idx);
        // The last `stride` windows of the literal.
        let first = p.len() - WIDTH + 1 - self.stride;
        for k in first..first + self.stride {
            let key = window(p, k);
            let h = (key.wrapping_mul(MUL) >> self.shift) as usize;
            self.bits[h / 64] |= 1 << (h % 64);
            match self.keys.entry(key) {
                Entry::Vacant(v) => {
                    v.insert(Slots::One(k as u32, idx));
                }
                Entry::Occupied(mut o) => {
                    let slots = o.get_mut();
                    if let Slots::One(off, i) = *slots {
                        *slots = Slots::Many(vec![(off, Slot::one(i))]);
                    }
                    let Slots::Many(list) = slots else {
                        unreachable!("made Many above")
                    };
                    match list.iter_mut().find(|(off, _)| *off as usize == k) {
                        Some((_, slot)) => slot.insert(patterns, idx),
                        None => list.push((k as u32, Slot::one(idx))),
                    }
                }
            }
            self.entries += 1;
        }
    }

    fn find(&self, patterns: &[Arc<[u8]>], buf: &[u8], from: usize, spans: &mut Vec<Span>) {
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
        patterns: &[Arc<[u8]>],
        buf: &[u8],
        from: usize,
        at: usize,
        key: u64,
        spans: &mut Vec<Span>,
    ) {
        let list = match self.keys.get(&key) {
            None => return,
            Some(Slots::One(off, idx)) => {
                let off = *off as usize;
                if at >= from + off {
                    let p = &patterns[*idx as usize];
                    let start = at - off;
                    if buf[start..].starts_with(p) {
                        push_span(spans, Span::new(start, start + p.len()));
                    }
                }
                return;
            }
            Some(Slots::Many(list)) => list,
        };
        for (off, slot) in list {
            let off = *off as usize;
            if at < from + off {
                continue;
            }
            slot.confirm(patterns, buf, at - off, spans);
        }
    }
}

fn build_ac(patterns: &[Arc<[u8]>], members: &[u32]) -> AhoCorasick {
    let lits = members.iter().map(|&i| &patterns[i as usize][..]);
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(lits.clone())
        .or_else(|_| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(lits)
        })
        .expect("literal automaton fits in memory")
}

impl KnownSet {
    pub(crate) fn empty() -> KnownSet {
        KnownSet {
            patterns: Vec::new(),
            sorted: BTreeSet::new(),
            max_len: 0,
            long: None,
            medium: None,
            short: Vec::new(),
        }
    }

    /// Compile a set of literals (any order, duplicates allowed).
    pub(crate) fn new(literals: Vec<Vec<u8>>) -> KnownSet {
        let mut set = KnownSet::empty();
        set.extend(literals);
        set
    }

    /// Add literals (any order, duplicates and known ones allowed), updating the
    /// compiled filters incrementally.
    pub(crate) fn extend(&mut self, literals: Vec<Vec<u8>>) {
        let long_min = WIDTH + MAX_STRIDE - 1;
        let (mut long, mut medium, mut short) = (Vec::new(), Vec::new(), Vec::new());
        for lit in literals {
            if lit.is_empty() || self.sorted.contains(&lit[..]) {
                continue;
            }
            let lit: Arc<[u8]> = Arc::from(lit);
            let idx = self.patterns.len() as u32;
            self.max_len = self.max_len.max(lit.len());
            match lit.len() {
                l if l >= long_min => long.push(idx),
                l if l >= WIDTH => medium.push(idx),
                _ => short.push(idx),
            }
            self.sorted.insert(lit.clone());
            self.patterns.push(lit);
        }
        let patterns = &self.patterns;
        // As long a stride as the shortest long literal allows (real tokens are 36
        // to 100+ bytes), within the cap that keeps the key table small.
        let long_stride = |len: usize| (len - WIDTH + 1).min(LONG_STRIDE_CAP);
        let medium_stride = |len: usize| len - WIDTH + 1;
        Self::extend_tier(patterns, &mut self.long, long, long_stride);
        Self::extend_tier(patterns, &mut self.medium, medium, medium_stride);
        if !short.is_empty() {
            // Binary counter of automata: merge while the newest is at least as big
            // as the one before it.
            self.short.push(AcLevel {
                ac: build_ac(patterns, &short),
                members: short,
            });
            while self.short.len() >= 2 {
                let k = self.short.len();
                if self.short[k - 1].members.len() < self.short[k - 2].members.len() {
                    break;
                }
                let top = self.short.pop().expect("two levels");
                let below = self.short.last_mut().expect("two levels");
                below.members.extend(top.members);
                below.ac = build_ac(patterns, &below.members);
            }
        }
    }

    fn extend_tier(
        patterns: &[Arc<[u8]>],
        tier: &mut Option<StrideFilter>,
        new: Vec<u32>,
        stride_for: impl Fn(usize) -> usize,
    ) {
        if new.is_empty() {
            return;
        }
        let shortest = new
            .iter()
            .map(|&i| patterns[i as usize].len())
            .min()
            .expect("not empty");
        match tier {
            Some(f) if shortest >= f.min_len => {
                for i in new {
                    f.insert(patterns, i);
                }
                if f.wants_growth() {
                    let members = std::mem::take(&mut f.members);
                    *f = StrideFilter::new(patterns, members, f.stride);
                }
            }
            _ => {
                let mut members = tier.take().map(|f| f.members).unwrap_or_default();
                members.extend(new);
                let shortest = members
                    .iter()
                    .map(|&i| patterns[i as usize].len())
                    .min()
                    .expect("not empty");
                *tier = Some(StrideFilter::new(patterns, members, stride_for(shortest)));
            }
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
        for f in self.long.iter().chain(self.medium.iter()) {
            f.find(&self.patterns, buf, from, spans);
        }
        for level in &self.short {
            let input = Input::new(buf).span(from..n);
            for m in level.ac.find_overlapping_iter(input) {
                push_span(spans, Span::new(m.start(), m.end()));
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
            let next = self
                .sorted
                .range::<[u8], _>((std::ops::Bound::Included(tail), std::ops::Bound::Unbounded))
                .next();
            if next.is_some_and(|p| p.starts_with(tail)) {
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
        assert!(mixed.medium.is_some() && mixed.short.len() == 1);
        assert_eq!(
            spans_of(&mixed, b"xx0150-xyzzy tiny"),
            vec![(2, 12), (13, 17)]
        );
        let hay = b"a secret-0003-xyzzy b secret-0150-xyzzysecret-0007-xyzzy secret-0003-xyzz";
        // adjacent occurrences are coalesced into one span
        assert_eq!(spans_of(&big, hay), vec![(2, 19), (22, 56)]);
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
        // both occurrences, as one coalesced span
        assert_eq!(spans_of(&set, b"xxabcdefghijklxx"), vec![(2, 14)]);
        assert_eq!(spans_of(&set, b"abcdefgh.efghijkl"), vec![(0, 8), (9, 17)]);
    }

    #[test]
    fn thousands_of_literals_sharing_windows_are_all_found() {
        // every literal shares its first 40 and its last 8 bytes with the others
        let lits: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("{}{i:06}{}", "H".repeat(40), "T".repeat(8)).into_bytes())
            .collect();
        let mut set = KnownSet::new(lits[..1000].to_vec());
        set.extend(lits[1000..].to_vec());
        for i in [0usize, 999, 1000, 2999] {
            let hay = format!("..{}..", String::from_utf8_lossy(&lits[i]));
            assert_eq!(
                spans_of(&set, hay.as_bytes()),
                vec![(2, 2 + lits[i].len())],
                "{i}"
            );
        }
        assert!(spans_of(
            &set,
            format!("{}999999{}", "H".repeat(40), "T".repeat(8)).as_bytes()
        )
        .is_empty());
        // different lengths in one slot
        let mut set = KnownSet::empty();
        let lits: Vec<Vec<u8>> = (0..50)
            .map(|i| format!("{}{}", "q".repeat(20 + i), "Z".repeat(30)).into_bytes())
            .collect();
        for l in &lits {
            set.extend(vec![l.clone()]);
        }
        for l in &lits {
            let mut hay = b"<".to_vec();
            hay.extend_from_slice(l);
            let found = spans_of(&set, &hay);
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].1, hay.len());
        }
    }

    #[test]
    fn incremental_adds_match_a_fresh_build() {
        let mut lits: Vec<Vec<u8>> = Vec::new();
        for i in 0..300usize {
            // decreasing and mixed lengths force stride changes and rebuilds
            let len = 4 + (i * 37) % 60;
            lits.push(format!("{i:04}{}", "k".repeat(len)).into_bytes());
        }
        let mut inc = KnownSet::empty();
        for l in &lits {
            inc.extend(vec![l.clone()]);
        }
        let fresh = KnownSet::new(lits.clone());
        let mut hay = Vec::new();
        for (i, l) in lits.iter().enumerate() {
            hay.extend_from_slice(format!(" {i} ").as_bytes());
            hay.extend_from_slice(l);
        }
        assert_eq!(spans_of(&inc, &hay), spans_of(&fresh, &hay));
        assert_eq!(inc.len(), fresh.len());
        assert!(inc.short.len() <= 10);
    }

    #[test]
    fn pending_prefix() {
        let set = KnownSet::new(vec![b"hunter22".to_vec()]);
        assert_eq!(set.pending_prefix_start(b"say hunt", 0), 4);
        assert_eq!(set.pending_prefix_start(b"say hi", 0), 6);
    }
}
