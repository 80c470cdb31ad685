//! Custom rules, matched so that a stream masks exactly what one-shot redaction
//! masks, for every chunking.
//!
//! A custom rule's match is confined to `max_len` bytes from its start: a
//! repetition that could run longer stops there (`TICKET-[0-9]+` over 5,000 digits
//! masks the first `max_len` bytes), and a pattern that can only end beyond
//! `max_len` (`a+b` with the `b` far away) does not match at that start. Look-around
//! — `^`, `$`, `\b`, `(?m)^` — sees the real neighbouring bytes of the text, never
//! a chunk or window edge. Each search step looks at a bounded stretch of the text
//! (`3 * max_len` bytes plus a few of look-ahead), so a stream holds back at most
//! that much for a rule, and the sequence of steps — and so every match — is the
//! same in one-shot and streaming redaction.
//!
//! Matches are found leftmost-first and do not overlap, like `Regex::find_iter`:
//! step `k` starts where match `k - 1` ended.

use regex_automata::meta::Regex as MetaRegex;
use regex_automata::{Anchored, Input};

use super::engine::Span;
use super::known::push_span;

/// Bytes after a search span that look-ahead may read (a UTF-8 character).
const LOOKAHEAD: usize = 8;

/// Compile `pattern` as the bounded-search engine of a custom rule, with the same
/// syntax and semantics as `regex::bytes::Regex`.
pub(crate) fn compile(pattern: &str) -> Result<MetaRegex, String> {
    MetaRegex::builder()
        .configure(
            MetaRegex::config()
                .utf8_empty(false)
                .nfa_size_limit(Some(1 << 22)),
        )
        .syntax(regex_automata::util::syntax::Config::new().utf8(false))
        .build(pattern)
        .map_err(|e| e.to_string())
}

/// Find the decided matches of one rule in `buf` from `*resume` on; returns the
/// first position at which a match could still start once more bytes arrive
/// (`buf.len()` at eof), which is also where the next call resumes.
pub(crate) fn find(
    regex: &MetaRegex,
    max_len: usize,
    buf: &[u8],
    resume: usize,
    eof: bool,
    spans: &mut Vec<Span>,
) -> usize {
    let n = buf.len();
    let window = max_len.saturating_mul(2);
    let need = window.saturating_add(max_len).saturating_add(LOOKAHEAD);
    let mut at = resume;
    while at < n {
        if !eof && n - at < need {
            return at;
        }
        let span_end = at.saturating_add(window).min(n);
        let input = Input::new(buf).span(at..span_end);
        let Some(m) = regex.find(input) else {
            if span_end == n {
                return n;
            }
            // No match lies within the span, so none that starts at or before
            // `span_end - max_len` fits in `max_len` bytes.
            at = span_end - max_len + 1;
            continue;
        };
        let s = m.start();
        let limit = s.saturating_add(max_len).min(n);
        let anchored = Input::new(buf).span(s..limit).anchored(Anchored::Yes);
        match regex.find(anchored) {
            Some(m2) if m2.end() > s => {
                push_span(spans, Span::new(s, m2.end()));
                at = m2.end();
            }
            _ => at = s + 1,
        }
    }
    n.max(resume)
}
