//! Span detection, merging and output; the streaming state machine.
//!
//! Redaction is defined on byte *spans*: every detector reports the spans it wants
//! masked, the union of all spans is taken (overlapping and adjacent spans merge)
//! and each maximal masked run is replaced by the mask text once.
//!
//! Streaming rests on one contract shared by every detector: given a buffer, a
//! position `from` and whether the input has ended, a detector reports every span
//! it can *decide* whose anchor lies at or after `from`, and returns the first
//! position from which a span could still appear (or change) once more bytes
//! arrive. Output is committed up to the minimum of those positions; spans that
//! reach beyond it are carried to the next round; a bounded window of already
//! committed bytes is kept as left context. So a stream's output equals the
//! one-shot output for every chunking, and only a bounded tail is held back.

use std::sync::Arc;

use super::known::KnownSet;
use super::rules::{RuleSet, RuleState, LOOKBEHIND};

/// A half-open byte range `[start, end)` to mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end);
        Span { start, end }
    }
}

/// An immutable view of a redactor's compiled state, shared by every call and stream.
#[derive(Clone)]
pub(crate) struct Snapshot {
    pub(crate) known: Arc<KnownSet>,
    /// Per-call secrets (`redact_with`), compiled apart from `known`.
    pub(crate) extra: Option<Arc<KnownSet>>,
    pub(crate) rules: Arc<RuleSet>,
    pub(crate) mask: Arc<[u8]>,
    /// Threads a one-shot call may use ([`Snapshot::detect_all`]).
    pub(crate) threads: usize,
}

/// One-shot inputs at least this long are split across threads.
pub(crate) const PARALLEL_MIN: usize = 4 << 20;
/// The smallest piece a thread is given.
const PIECE_MIN: usize = 2 << 20;
/// The most threads one call uses.
pub(crate) const MAX_THREADS: usize = 4;

/// The default thread count: the CPUs this process may run on, at most
/// [`MAX_THREADS`] (read once: `available_parallelism` reads cgroup files).
pub(crate) fn default_threads() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_THREADS)
    })
}

impl Snapshot {
    /// Run every detector. Returns the commit point (see the module docs). With
    /// `precise`, the literal detector checks exactly which tail bytes could start
    /// a secret instead of holding back a fixed window (used by time-based flushes).
    pub(crate) fn detect(
        &self,
        buf: &[u8],
        from: usize,
        eof: bool,
        precise: bool,
        state: &mut RuleState,
        spans: &mut Vec<Span>,
    ) -> usize {
        let mut undecided = self.known.find(buf, from, eof, spans);
        if precise && !eof {
            undecided = self.known.pending_prefix_start(buf, from).max(from);
        }
        if let Some(extra) = &self.extra {
            let mut u = extra.find(buf, from, eof, spans);
            if precise && !eof {
                u = extra.pending_prefix_start(buf, from).max(from);
            }
            undecided = undecided.min(u);
        }
        undecided.min(self.rules.find(buf, from, eof, state, spans))
    }

    /// One-shot redaction of a whole input; `None` when nothing is masked.
    pub(crate) fn redact_all(&self, input: &[u8], widen_to_chars: bool) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.redact_all_into(input, widen_to_chars, &mut out)
            .then_some(out)
    }

    /// One-shot redaction into `out` (appended); `false` when nothing is masked.
    pub(crate) fn redact_all_into(
        &self,
        input: &[u8],
        widen_to_chars: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut spans = Vec::new();
        self.detect_all(input, &mut spans);
        if spans.is_empty() {
            return false;
        }
        if widen_to_chars {
            widen(input, &mut spans);
        }
        spans.sort_unstable();
        out.reserve(input.len());
        emit(input, 0, input.len(), &spans, None, &self.mask, out);
        true
    }
}

impl Snapshot {
    /// Every span of a whole input: `detect(input, 0, eof)`, split across up to
    /// `threads` threads when the input is large ([`PARALLEL_MIN`]).
    ///
    /// Piece `k` decides the anchors in `[start_k, end_k)` from the input up to
    /// `end_k` (the whole left context, as one-shot has), exactly as a stream
    /// round does: decisions are final, so every span it reports is a span of the
    /// one-shot scan. Anchors it cannot decide without more input (from its
    /// commit point on) are decided again with a window that grows past `end_k`
    /// until they are. Spans are a union, so spans reported twice (by a piece and
    /// by the next one) change nothing. Custom rules are not split: their
    /// leftmost-first iteration depends on where it started, so a redactor with
    /// custom rules scans on the calling thread.
    pub(crate) fn detect_all(&self, input: &[u8], spans: &mut Vec<Span>) {
        let n = input.len();
        let pieces = if self.rules.custom.is_empty() && n >= PARALLEL_MIN {
            self.threads.min(n / PIECE_MIN).max(1)
        } else {
            1
        };
        if pieces < 2 {
            self.detect(input, 0, true, false, &mut RuleState::default(), spans);
            return;
        }
        #[cfg(test)]
        tests::SPLIT_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bound = |k: usize| n / pieces * k + if k == pieces { n % pieces } else { 0 };
        std::thread::scope(|scope| {
            let workers: Vec<_> = (1..pieces)
                .map(|k| {
                    let (s, e) = (bound(k), bound(k + 1));
                    let job = move || self.detect_piece(input, s, e);
                    // A thread that cannot be created leaves its piece to this one.
                    std::thread::Builder::new()
                        .name("keel-redact".into())
                        .spawn_scoped(scope, job)
                        .map_err(|_| (s, e))
                })
                .collect();
            spans.extend(self.detect_piece(input, 0, bound(1)));
            for w in workers {
                match w {
                    Ok(handle) => match handle.join() {
                        Ok(found) => spans.extend(found),
                        Err(panic) => std::panic::resume_unwind(panic),
                    },
                    Err((s, e)) => spans.extend(self.detect_piece(input, s, e)),
                }
            }
        });
    }

    /// The spans of every anchor in `[start, end)` (and possibly some after it).
    fn detect_piece(&self, input: &[u8], start: usize, end: usize) -> Vec<Span> {
        let n = input.len();
        // Detect over `input[..window]` from `from`; the input ends with the window
        // only when the window reaches the end of the input.
        let scan = |window: usize, from: usize, out: &mut Vec<Span>| {
            let mut state = RuleState::default();
            self.detect(&input[..window], from, window == n, false, &mut state, out)
        };
        let mut spans = Vec::new();
        let undecided = scan(end, start, &mut spans);
        let (mut window, mut step) = (end, 16 << 10);
        while window < n && undecided < end {
            window = window.saturating_add(step).min(n);
            step *= 2;
            let mut tail = Vec::new();
            if scan(window, undecided, &mut tail) >= end || window == n {
                spans.extend(tail);
                break;
            }
        }
        spans
    }
}

/// Widen spans to UTF-8 character boundaries so masking never splits a character.
fn widen(input: &[u8], spans: &mut [Span]) {
    let is_cont = |b: u8| b & 0xC0 == 0x80;
    for s in spans {
        while s.start > 0 && s.start < input.len() && is_cont(input[s.start]) {
            s.start -= 1;
        }
        while s.end < input.len() && is_cont(input[s.end]) {
            s.end += 1;
        }
    }
}

/// Write `buf[start..end]` to `out` with every masked run replaced by `mask`.
///
/// `spans` must be sorted by start. `open` is the end of the mask the output
/// currently ends with (a span touching it extends it instead of adding a second
/// mask). Returns the new `open`.
pub(crate) fn emit(
    buf: &[u8],
    start: usize,
    end: usize,
    spans: &[Span],
    mut open: Option<usize>,
    mask: &[u8],
    out: &mut Vec<u8>,
) -> Option<usize> {
    let mut i = start;
    let mut k = 0;
    loop {
        if let Some(mut e) = open {
            while k < spans.len() && spans[k].start <= e {
                e = e.max(spans[k].end);
                k += 1;
            }
            open = Some(e);
            if e > i {
                i = e.min(end);
            }
        }
        if i >= end {
            break;
        }
        while k < spans.len() && spans[k].end <= i {
            k += 1;
        }
        let next = if k < spans.len() {
            spans[k].start.clamp(i, end)
        } else {
            end
        };
        if next > i {
            out.extend_from_slice(&buf[i..next]);
            open = None;
            i = next;
        }
        if i >= end {
            break;
        }
        out.extend_from_slice(mask);
        open = Some(i);
    }
    open
}

/// The streaming state machine behind [`super::StreamRedactor`].
pub(crate) struct StreamCore {
    buf: Vec<u8>,
    /// Bytes of `buf` before this index have been written out.
    committed: usize,
    /// See [`emit`].
    open: Option<usize>,
    /// Decided spans that reach past `committed`.
    carried: Vec<Span>,
    state: RuleState,
    spans: Vec<Span>,
}

/// Input is fed to the detectors in blocks of at most this many bytes, so a
/// stream's memory stays bounded however large a single write is.
pub(crate) const BLOCK: usize = 64 * 1024;

/// Chunks of at least twice this size are scanned in place after a seam of this
/// many bytes has gone through the window.
pub(crate) const SEAM: usize = 4 * 1024;

impl StreamCore {
    pub(crate) fn new() -> StreamCore {
        StreamCore {
            buf: Vec::with_capacity(BLOCK + LOOKBEHIND),
            committed: 0,
            open: None,
            carried: Vec::new(),
            state: RuleState::default(),
            spans: Vec::new(),
        }
    }

    /// Bytes received but not yet written out.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.committed
    }

    pub(crate) fn write(&mut self, snap: &Snapshot, mut data: &[u8], out: &mut Vec<u8>) {
        if data.len() >= 2 * SEAM {
            // A large chunk is scanned where it lies instead of being copied into the
            // window: only a seam (the first SEAM bytes) goes through the window, so
            // that anything spanning the previous chunk and this one is decided there.
            let seam_start = self.buf.len();
            self.buf.extend_from_slice(&data[..SEAM]);
            let from = self.committed;
            let win = std::mem::take(&mut self.buf);
            let commit = self.round(snap, &win, from, false, false, out);
            self.buf = win;
            self.committed = commit;
            if commit >= seam_start + LOOKBEHIND {
                // Everything before `commit` is out and `data` itself holds enough left
                // context: continue in `data`'s coordinates, block by block.
                self.shift(seam_start);
                let mut commit = commit - seam_start;
                let mut end = SEAM;
                while end < data.len() {
                    end = (end + BLOCK).min(data.len());
                    commit = self.round(snap, &data[..end], commit, false, false, out);
                }
                // The new window: left context plus what is still undecided.
                let keep = commit - LOOKBEHIND.min(commit);
                self.buf.clear();
                self.buf.extend_from_slice(&data[keep..]);
                self.shift(keep);
                self.committed = commit - keep;
                return;
            }
            // Something is still open near the seam: go on through the window.
            data = &data[SEAM..];
        }
        while !data.is_empty() {
            let take = data.len().min(BLOCK);
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            self.process(snap, false, false, out);
        }
    }

    /// One detect-and-emit round over `win` from `from`: returns the commit point and
    /// leaves `open`, `carried` and the rule state in `win`'s coordinates.
    fn round(
        &mut self,
        snap: &Snapshot,
        win: &[u8],
        from: usize,
        eof: bool,
        precise: bool,
        out: &mut Vec<u8>,
    ) -> usize {
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        spans.append(&mut self.carried);
        let mut commit = snap.detect(win, from, eof, precise, &mut self.state, &mut spans);
        if eof {
            commit = win.len();
        }
        let commit = commit.clamp(from, win.len());
        spans.sort_unstable();
        self.open = emit(win, from, commit, &spans, self.open, &snap.mask, out);
        self.carried.extend(spans.iter().filter(|s| s.end > commit));
        self.spans = spans;
        commit
    }

    /// Re-express every position held across rounds relative to a window that
    /// starts `by` bytes later.
    fn shift(&mut self, by: usize) {
        self.open = self.open.map(|e| e.saturating_sub(by));
        for s in &mut self.carried {
            s.start = s.start.saturating_sub(by);
            s.end -= by;
        }
        self.state.shift(by);
    }

    /// Write out everything that cannot be part of a secret any more.
    pub(crate) fn flush(&mut self, snap: &Snapshot, out: &mut Vec<u8>) {
        self.process(snap, false, true, out);
    }

    pub(crate) fn finish(&mut self, snap: &Snapshot, out: &mut Vec<u8>) {
        self.process(snap, true, false, out);
        self.buf.clear();
        self.committed = 0;
        self.open = None;
        self.carried.clear();
        self.state = RuleState::default();
    }

    fn process(&mut self, snap: &Snapshot, eof: bool, precise: bool, out: &mut Vec<u8>) {
        let from = self.committed;
        let win = std::mem::take(&mut self.buf);
        let commit = self.round(snap, &win, from, eof, precise, out);
        self.buf = win;
        self.committed = commit;
        // Keep a window of committed bytes as left context for the next round.
        let keep_from = commit.saturating_sub(LOOKBEHIND);
        if keep_from > 0 && (keep_from >= BLOCK || eof) {
            self.buf.drain(..keep_from);
            self.committed -= keep_from;
            self.shift(keep_from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many one-shot calls were split across threads (so the tests below can
    /// tell that they exercised the split).
    pub(super) static SPLIT_CALLS: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    /// A split scan masks exactly what the single-threaded scan masks, with secrets
    /// of every detector planted across each piece boundary (2, 3 and 4 pieces),
    /// including ones that stay undecided for a long way (a PEM block, long
    /// tokens, an unterminated quoted value).
    #[test]
    fn split_scans_equal_the_single_threaded_scan() {
        use crate::redact::Redactor;
        use std::sync::atomic::Ordering;
        let known = "lease-0042-Zq8xK2mN7pR4t";
        let plants: Vec<String> = vec![
            format!("Authorization: Bearer {known} ok"),
            format!("b64 {}", "bGVhc2UtMDA0Mi1acTh4SzJtTjdwUjR0"),
            "GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345 x".into(),
            "https://user:Pa55word-xyz@github.com/a.git".into(),
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7l3\n".to_string()
                + &"QUJDREVGR0g=\n".repeat(3000)
                + "-----END RSA PRIVATE KEY-----",
            format!(
                "eyJhbGciOiJIUzI1NiJ9.{}.c2lnbmF0dXJlc2lnbmF0dXJl",
                "eyJzdWIiOiIxMjM0NTY3ODkwIn0".repeat(40)
            ),
            "POSTGRES_PASSWORD=\"Summer.Breeze2024 and more".into(),
            "password=password=password=password=".repeat(300),
            "AKIAIOSFODNN7EXAMPL1 aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1"
                .into(),
            "curl -u admin:S3cr3tPass https://x".into(),
            "mysql -u root -pHunter2Hunter2 db".into(),
        ];
        let filler = "2026-11-22T09:14:02.118Z INFO  runner: job 8812 step=clone status=ok duration_ms=2513 key=deps-linux-x64\n";
        let n = 9 << 20;
        let base: Vec<u8> = filler.as_bytes().iter().copied().cycle().take(n).collect();
        let one = Redactor::builder()
            .threads(1)
            .secret(known)
            .build()
            .unwrap();
        let before = SPLIT_CALLS.load(Ordering::Relaxed);
        for pieces in [2usize, 3, 4] {
            let split = Redactor::builder()
                .threads(pieces)
                .secret(known)
                .build()
                .unwrap();
            for (i, plant) in plants.iter().enumerate() {
                let plant = &format!("\n{plant}\n");
                // Straddle each boundary, end just before it, start just after it.
                for place in 0..3 {
                    let mut input = base.clone();
                    for k in 1..pieces {
                        let boundary = n / pieces * k;
                        let at = match place {
                            0 => boundary - plant.len() / 2,
                            1 => boundary - plant.len() + 1,
                            _ => boundary,
                        };
                        input[at..at + plant.len()].copy_from_slice(plant.as_bytes());
                    }
                    let want = one.redact_bytes(&input);
                    let got = split.redact_bytes(&input);
                    assert!(want != input.as_slice(), "plant {i} masks something");
                    assert!(
                        got == want,
                        "plant {i} at {place} with {pieces} pieces differs"
                    );
                }
            }
        }
        assert!(
            SPLIT_CALLS.load(Ordering::Relaxed) >= before + 9 * plants.len(),
            "the calls were split"
        );
        // Custom rules keep every call on the calling thread (and still agree).
        let custom = Redactor::builder()
            .threads(4)
            .custom_rule("t", r"TICKET-[0-9]{6}")
            .build()
            .unwrap();
        let input = format!("{}TICKET-123456", filler.repeat(n / filler.len()));
        let calls = SPLIT_CALLS.load(Ordering::Relaxed);
        assert!(custom.redact_str(&input).ends_with("***"));
        assert_eq!(SPLIT_CALLS.load(Ordering::Relaxed), calls);
    }

    fn run(buf: &[u8], spans: &[(usize, usize)]) -> String {
        let spans: Vec<Span> = spans.iter().map(|&(s, e)| Span::new(s, e)).collect();
        let mut out = Vec::new();
        emit(buf, 0, buf.len(), &spans, None, b"***", &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn emit_merges_overlapping_and_adjacent() {
        assert_eq!(run(b"0123456789", &[]), "0123456789");
        assert_eq!(run(b"0123456789", &[(2, 4)]), "01***456789");
        assert_eq!(run(b"0123456789", &[(2, 4), (4, 6)]), "01***6789");
        assert_eq!(run(b"0123456789", &[(2, 5), (3, 4)]), "01***56789");
        assert_eq!(run(b"0123456789", &[(2, 4), (5, 6)]), "01***4***6789");
        assert_eq!(run(b"0123456789", &[(0, 10)]), "***");
    }

    #[test]
    fn emit_continues_an_open_mask_across_regions() {
        let buf = b"0123456789";
        let spans = [Span::new(2, 7)];
        let mut out = Vec::new();
        let open = emit(buf, 0, 5, &spans, None, b"***", &mut out);
        assert_eq!(open, Some(7));
        let open = emit(buf, 5, 10, &[Span::new(7, 8)], open, b"***", &mut out);
        assert_eq!(open, None);
        assert_eq!(String::from_utf8(out).unwrap(), "01***89");
    }
}
