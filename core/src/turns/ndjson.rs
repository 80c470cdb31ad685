//! NDJSON framing on `\n` with a line cap: a line longer than the cap is reported (with
//! its length) and skipped, never buffered whole and never fatal.
//!
//! ```
//! use keel_core::turns::ndjson::{Framer, Frame};
//!
//! let mut f = Framer::new(8);
//! let mut seen = Vec::new();
//! let mut push = |fr: Frame<'_>| seen.push(match fr {
//!     Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
//!     Frame::TooLong { len } => format!("<{len} bytes skipped>"),
//! });
//! f.push(b"{\"a\":1}\n{\"much-too-long\":1}\n{\"b\"", &mut push);
//! f.push(b":2}\r\n", &mut push);
//! f.finish(&mut push);
//! assert_eq!(seen, ["{\"a\":1}", "<19 bytes skipped>", "{\"b\":2}"]);
//! ```

/// The default line cap: 64 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 << 20;

/// One framed unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A line without its `\n` (and without a trailing `\r`); never empty.
    Line(&'a [u8]),
    /// A line longer than the cap was skipped; `len` is its length without the `\n`.
    TooLong {
        /// Its length in bytes.
        len: u64,
    },
}

/// An incremental `\n` framer. Bytes of a line that spans chunks are kept (up to the
/// cap); a line within one chunk is handed out without copying.
#[derive(Debug, Clone)]
pub struct Framer {
    cap: usize,
    partial: Vec<u8>,
    skipping: Option<u64>,
}

fn trim(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

impl Framer {
    /// A framer that skips lines longer than `max_line_bytes` (at least 1).
    pub fn new(max_line_bytes: usize) -> Framer {
        Framer {
            cap: max_line_bytes.max(1),
            partial: Vec::new(),
            skipping: None,
        }
    }

    /// Bytes of an unfinished line held.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Frame `data`, calling `out` for every complete line (blank lines are dropped).
    pub fn push(&mut self, mut data: &[u8], out: &mut impl FnMut(Frame<'_>)) {
        while !data.is_empty() {
            let nl = memchr::memchr(b'\n', data);
            if let Some(skipped) = self.skipping {
                match nl {
                    Some(i) => {
                        self.skipping = None;
                        out(Frame::TooLong {
                            len: skipped + i as u64,
                        });
                        data = &data[i + 1..];
                    }
                    None => {
                        self.skipping = Some(skipped + data.len() as u64);
                        return;
                    }
                }
                continue;
            }
            match nl {
                Some(i) => {
                    let total = self.partial.len() + i;
                    if total > self.cap {
                        self.partial.clear();
                        out(Frame::TooLong { len: total as u64 });
                    } else if self.partial.is_empty() {
                        let line = trim(&data[..i]);
                        if !blank(line) {
                            out(Frame::Line(line));
                        }
                    } else {
                        self.partial.extend_from_slice(&data[..i]);
                        let line = trim(&self.partial);
                        if !blank(line) {
                            out(Frame::Line(line));
                        }
                        self.partial.clear();
                    }
                    data = &data[i + 1..];
                }
                None => {
                    let total = self.partial.len() + data.len();
                    if total > self.cap {
                        self.partial = Vec::new();
                        self.skipping = Some(total as u64);
                    } else {
                        self.partial.extend_from_slice(data);
                    }
                    return;
                }
            }
        }
    }

    /// End of input: hand out a last line that had no `\n`.
    pub fn finish(&mut self, out: &mut impl FnMut(Frame<'_>)) {
        if let Some(len) = self.skipping.take() {
            out(Frame::TooLong { len });
        } else if !self.partial.is_empty() {
            let p = std::mem::take(&mut self.partial);
            let line = trim(&p);
            if !blank(line) {
                out(Frame::Line(line));
            }
        }
    }
}
