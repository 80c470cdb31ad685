//! REDACT-SHIM: a stand-in for `crate::redact` while the redaction engine is being built on
//! main. Every call site in `jobs` goes through this module, so switching to the real
//! engine is a change here only.
//!
//! Until then, `redact_secrets` is the identity and `StreamRedactor` only re-frames the
//! byte stream into whole lines (the real one holds back partial lines the same way, so a
//! secret split across two reads is still seen whole).

/// Cap on captured command output (the reference's `MAX_CAPTURED_OUTPUT_CHARS`).
pub(crate) const MAX_CAPTURED_OUTPUT_CHARS: usize = 16_000;

/// Longest partial line held back before it is flushed anyway (bounds memory on output
/// without newlines).
const MAX_PENDING_LINE: usize = 64 * 1024;

/// Pattern-only redaction of one string.
pub(crate) fn redact_secrets(input: &str) -> String {
    input.to_owned()
}

/// Redacts a byte stream chunk by chunk, emitting only whole lines (plus a forced flush of
/// overlong partial lines).
#[derive(Debug, Default)]
pub(crate) struct StreamRedactor {
    pending: Vec<u8>,
}

impl StreamRedactor {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Feed a chunk; returns the redacted text that is complete so far.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        let cut = match memchr::memrchr(b'\n', &self.pending) {
            Some(i) => i + 1,
            None if self.pending.len() >= MAX_PENDING_LINE => self.pending.len(),
            None => return String::new(),
        };
        let done: Vec<u8> = self.pending.drain(..cut).collect();
        redact_secrets(&String::from_utf8_lossy(&done))
    }

    /// End of stream: returns whatever was held back, redacted.
    pub(crate) fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        redact_secrets(&String::from_utf8_lossy(&rest))
    }
}
