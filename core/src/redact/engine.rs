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
        let mut state = RuleState::default();
        self.detect(input, 0, true, false, &mut state, &mut spans);
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
