//! Redaction: scrub secrets from any text or byte stream.
//!
//! Two complementary kinds of rule run on every call, so no path can scrub one
//! class of secret and leak the other:
//!
//! * **Known values** registered with [`Redactor::add_secret`] (a leased token, a
//!   password, a whole JSON credential blob and its string leaves), together with
//!   their encoded forms: base64 in all three alignments (standard and URL-safe,
//!   padded or not), percent-encoding (upper- and lowercase hex), form encoding and
//!   JSON-string escaping. A multi-line value also registers each of its lines.
//! * **Shapes** ([`BuiltinRule`]): credentials whose value is not known in advance —
//!   URL userinfo, GitHub/GitLab/Slack/Stripe/OpenAI/Anthropic/Google/npm/PyPI
//!   tokens, AWS keys, JWTs, `Authorization` headers, PEM private keys and
//!   credential-named assignments — plus caller-supplied [`CustomRule`]s.
//!
//! A masked span becomes `***` (configurable); overlapping and adjacent spans
//! merge into one mask; some rules keep a non-secret prefix (`ghp_***`,
//! `https://***@host`). Redaction is idempotent (one exception: a known secret
//! that contains the mask text itself, such as `ab***cd`, can be re-formed by a mask
//! and its neighbours). Input is bytes: invalid UTF-8
//! passes through untouched.
//!
//! ```
//! use keel_core::redact::Redactor;
//!
//! let r = Redactor::new();
//! r.add_secret("hunter2-correct-horse");
//! let out = r.redact_str("login with hunter2-correct-horse, token ghp_abcdefghijklmnop1234");
//! assert_eq!(out, "login with ***, token ghp_***");
//! // the base64 form of a registered secret is masked too
//! let out = r.redact_str("Authorization: Basic dXNlcjpodW50ZXIyLWNvcnJlY3QtaG9yc2U=");
//! assert!(!out.contains("aHVudGVy") && !out.contains("dXNlcjpodW50ZXIy"));
//! ```
//!
//! Streams are redacted with a [`StreamRedactor`], whose output equals the one-shot
//! output for every chunking of the input:
//!
//! ```
//! use keel_core::redact::Redactor;
//!
//! let r = Redactor::new();
//! r.add_secret("s3cr3t-value");
//! let mut s = r.stream();
//! let mut out = Vec::new();
//! s.write(b"the value is s3cr3", &mut out);
//! s.write(b"t-value!\n", &mut out);
//! s.finish(&mut out);
//! assert_eq!(out, b"the value is ***!\n");
//! ```

mod capture;
mod custom;
mod encode;
mod engine;
mod known;
mod options;
mod rules;
mod simd;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

pub use capture::{capture_redacted_output, secrets_to_redact, MAX_CAPTURED_OUTPUT_CHARS};
pub use options::{CustomRuleOptions, RedactorOptions};
pub use rules::{BuiltinRule, CustomRule, LOOKBEHIND, MAX_JWT, MAX_PEM, MAX_TOKEN, MAX_VALUE};

use engine::{Snapshot, StreamCore};
use known::KnownSet;
use rules::RuleSet;

/// Default minimum length of a known secret (shorter values would mangle output).
pub const DEFAULT_MIN_SECRET_LEN: usize = 6;
/// Minimum length of a JSON string leaf harvested from a credential blob.
pub const MIN_HARVEST_LEN: usize = 12;
/// Default mask text.
pub const DEFAULT_MASK: &str = "***";
/// Default cap on the length of a custom rule's match (bytes).
pub const DEFAULT_CUSTOM_MAX_LEN: usize = 1024;

/// Errors from configuring a redactor. Messages never contain a secret.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedactError {
    /// A rule name passed to `disable_rule` is not a built-in rule.
    #[error(
        "unknown redaction rule {} (the rule list names every built-in rule)",
        options::shown_name(name)
    )]
    UnknownRule {
        /// The name that was given.
        name: String,
    },
    /// A custom rule's regex does not compile.
    #[error(
        "custom redaction rule {} has an invalid pattern: {reason}",
        options::shown_name(name)
    )]
    InvalidPattern {
        /// The rule's name.
        name: String,
        /// Why the pattern was refused.
        reason: String,
    },
    /// A custom rule's name is empty or taken by a built-in rule.
    #[error(
        "custom redaction rule name {} is empty or already used",
        options::shown_name(name)
    )]
    InvalidRuleName {
        /// The name that was given.
        name: String,
    },
    /// An option is out of range.
    #[error("invalid redaction option {option}: {reason}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

/// A description of one rule, for listings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleInfo {
    /// Stable name.
    pub name: String,
    /// What it masks.
    pub description: String,
    /// Whether this redactor applies it.
    pub enabled: bool,
    /// `builtin` or `custom`.
    pub kind: &'static str,
}

/// What happened to one value given to [`Redactor::add_secret_status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretStatus {
    /// Registered (or, for a multi-line value, at least one of its lines was).
    Added,
    /// Already registered: nothing changed.
    Duplicate,
    /// Shorter than the redactor's minimum secret length: not registered.
    TooShort,
}

/// Outcome of registering a batch of secrets ([`Redactor::add_secrets_report`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretReport {
    /// Values that were registered.
    pub added: usize,
    /// Values that were already registered.
    pub duplicates: usize,
    /// Values shorter than the minimum length, which were not registered.
    pub too_short: usize,
    /// Zero-based positions in the batch of the values that were too short (the
    /// values themselves are never reported).
    pub too_short_indices: Vec<usize>,
}

impl SecretReport {
    fn record(&mut self, index: usize, status: SecretStatus) {
        match status {
            SecretStatus::Added => self.added += 1,
            SecretStatus::Duplicate => self.duplicates += 1,
            SecretStatus::TooShort => {
                self.too_short += 1;
                self.too_short_indices.push(index);
            }
        }
    }
}

/// The secrets of a secrets file: one per line, each with its 1-based line number.
///
/// A UTF-8 byte order mark at the start of the file is dropped, and so are spaces,
/// tabs and carriage returns around each line (editors and `echo` add them; a
/// secret never starts or ends with one). Lines that are empty after trimming are
/// skipped. `keel redact --secrets-file` reads files this way.
///
/// ```
/// use keel_core::redact::secrets_file_entries;
///
/// let text = "\u{feff}  token-one-123\t\r\n\n\tsecond-secret \n";
/// assert_eq!(
///     secrets_file_entries(text),
///     vec![(1, "token-one-123"), (3, "second-secret")]
/// );
/// ```
pub fn secrets_file_entries(text: &str) -> Vec<(usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim_matches([' ', '\t', '\r'])))
        .filter(|(_, line)| !line.is_empty())
        .collect()
}

struct Secrets {
    values: Vec<Box<[u8]>>,
    /// Values refused for being shorter than the minimum length.
    too_short: usize,
    seen: HashSet<Box<[u8]>>,
    /// The compiled set, brought up to date incrementally by [`Redactor::snapshot`].
    compiled: Arc<KnownSet>,
    /// `values[..compiled_upto]` are in `compiled`.
    compiled_upto: usize,
    /// Per-call sets of [`Redactor::redact_with`], most recently used first.
    extra: Vec<ExtraEntry>,
}

/// Number of per-call secret sets kept compiled.
const EXTRA_CACHE: usize = 8;

/// One cached per-call secret set: compiled on its own (not merged with the
/// registered secrets), so a miss costs only the size of the set.
struct ExtraEntry {
    hash: u64,
    values: Vec<Box<[u8]>>,
    set: Arc<KnownSet>,
}

struct Inner {
    mask: Arc<[u8]>,
    min_len: usize,
    threads: usize,
    rules: Arc<RuleSet>,
    secrets: Mutex<Secrets>,
}

/// A thread-safe redactor: a set of known secrets plus shape rules.
///
/// Cloning is cheap and clones share the secret set: a secret added through one
/// clone is masked by all of them, including streams already running.
#[derive(Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field(
                "secrets",
                &format_args!("<{} secrets: ***>", self.secret_count()),
            )
            .field("min_secret_len", &self.inner.min_len)
            .finish_non_exhaustive()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

/// Builder for [`Redactor`].
///
/// ```
/// use keel_core::redact::Redactor;
///
/// let r = Redactor::builder()
///     .mask("[REDACTED]")
///     .disable_rule("jwt")
///     .custom_rule("ticket", r"TICKET-[0-9]{6}")
///     .secret("my-leased-token-123")
///     .build()
///     .unwrap();
/// assert_eq!(r.redact_str("TICKET-123456 my-leased-token-123"), "[REDACTED] [REDACTED]");
/// ```
#[derive(Default)]
pub struct RedactorBuilder {
    mask: Option<String>,
    min_len: Option<usize>,
    disabled: Vec<String>,
    custom: Vec<(String, String, usize)>,
    secrets: Vec<Vec<u8>>,
    json_secrets: Vec<String>,
    threads: Option<usize>,
}

impl fmt::Debug for RedactorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactorBuilder")
            .field("mask", &self.mask)
            .field("disabled", &self.disabled)
            .field(
                "secrets",
                &format_args!(
                    "<{} secrets: ***>",
                    self.secrets.len() + self.json_secrets.len()
                ),
            )
            .finish_non_exhaustive()
    }
}

impl RedactorBuilder {
    /// Text that replaces each masked span (default `***`): 1 to 64 bytes.
    pub fn mask(mut self, mask: impl Into<String>) -> Self {
        self.mask = Some(mask.into());
        self
    }

    /// Minimum length of a known secret (default 6, at least 1). Shorter values
    /// are refused by [`Redactor::add_secret`] and reported: see
    /// [`Redactor::add_secret_status`] and [`Redactor::short_secrets_ignored`].
    pub fn min_secret_len(mut self, len: usize) -> Self {
        self.min_len = Some(len);
        self
    }

    /// Turn a built-in rule off by name (see [`BuiltinRule::name`]).
    pub fn disable_rule(mut self, name: impl Into<String>) -> Self {
        self.disabled.push(name.into());
        self
    }

    /// Add a rule: every match of `pattern` (Rust `regex` syntax, matched on bytes)
    /// is masked. Matches are confined to [`DEFAULT_CUSTOM_MAX_LEN`] bytes from
    /// their start: a repetition that could run longer is cut there, in one-shot
    /// and streaming redaction alike. Look-around (`^`, `$`, `\b`) sees the real
    /// neighbouring text, never a chunk edge, so a stream masks exactly what
    /// one-shot redaction masks.
    pub fn custom_rule(self, name: impl Into<String>, pattern: impl Into<String>) -> Self {
        self.custom_rule_with_max_len(name, pattern, DEFAULT_CUSTOM_MAX_LEN)
    }

    /// Like [`custom_rule`](Self::custom_rule) with an explicit cap on a match's
    /// length. A stream holds back up to `3 * max_len` bytes (plus a few) for this
    /// rule: each search step looks at that much text.
    pub fn custom_rule_with_max_len(
        mut self,
        name: impl Into<String>,
        pattern: impl Into<String>,
        max_len: usize,
    ) -> Self {
        self.custom.push((name.into(), pattern.into(), max_len));
        self
    }

    /// How many threads one one-shot call may use (default: the CPUs this process
    /// may run on, at most 4; 1 to 64, and more than 4 counts as 4). Inputs of 4 MiB
    /// or more are split into pieces of at least 2 MiB, scanned on scoped threads
    /// that are joined before the call returns; the output is exactly the
    /// single-threaded output. `1` keeps every call on the calling thread. Streams,
    /// smaller inputs and redactors with custom rules always run on the caller's
    /// thread.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Register a known secret.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secrets.push(secret.as_ref().to_vec());
        self
    }

    /// Register a credential blob and, if it is JSON, every string leaf of at least
    /// [`MIN_HARVEST_LEN`] characters.
    pub fn json_secret(mut self, blob: impl Into<String>) -> Self {
        self.json_secrets.push(blob.into());
        self
    }

    /// Build the redactor, validating every option.
    pub fn build(self) -> Result<Redactor, RedactError> {
        let mask = self.mask.unwrap_or_else(|| DEFAULT_MASK.to_string());
        if mask.is_empty() {
            return Err(RedactError::InvalidOption {
                option: "mask",
                reason: "must not be empty".into(),
            });
        }
        if mask.len() > 64 {
            return Err(RedactError::InvalidOption {
                option: "mask",
                reason: "must be at most 64 bytes".into(),
            });
        }
        let min_len = self.min_len.unwrap_or(DEFAULT_MIN_SECRET_LEN);
        if min_len == 0 {
            return Err(RedactError::InvalidOption {
                option: "minSecretLength",
                reason: "must be at least 1".into(),
            });
        }
        let threads = match self.threads {
            None => engine::default_threads(),
            Some(t @ 1..=64) => t.min(engine::MAX_THREADS),
            Some(_) => {
                return Err(RedactError::InvalidOption {
                    option: "threads",
                    reason: "must be 1 to 64".into(),
                })
            }
        };
        let mut disabled = Vec::new();
        for name in &self.disabled {
            match BuiltinRule::from_name(name) {
                Some(r) => disabled.push(r),
                None => return Err(RedactError::UnknownRule { name: name.clone() }),
            }
        }
        let mut custom = Vec::new();
        for (name, pattern, max_len) in self.custom {
            if name.trim().is_empty()
                || BuiltinRule::from_name(&name).is_some()
                || custom.iter().any(|c: &CustomRule| c.name == name)
            {
                return Err(RedactError::InvalidRuleName { name });
            }
            if max_len == 0 {
                return Err(RedactError::InvalidOption {
                    option: "maxLen",
                    reason: format!("custom rule {name:?} needs a max length of at least 1"),
                });
            }
            let regex = regex::bytes::RegexBuilder::new(&pattern)
                .size_limit(1 << 22)
                .build()
                .map_err(|e| RedactError::InvalidPattern {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
            if regex.is_match(b"") {
                return Err(RedactError::InvalidPattern {
                    name,
                    reason: "pattern matches the empty string".into(),
                });
            }
            let bounded =
                custom::compile(&pattern).map_err(|reason| RedactError::InvalidPattern {
                    name: name.clone(),
                    reason,
                })?;
            custom.push(CustomRule {
                name,
                regex,
                bounded,
                max_len,
            });
        }
        let rules = RuleSet::new(&disabled, custom, mask.as_bytes());
        let r = Redactor {
            inner: Arc::new(Inner {
                mask: Arc::from(mask.as_bytes()),
                min_len,
                threads,
                rules: Arc::new(rules),
                secrets: Mutex::new(Secrets {
                    values: Vec::new(),
                    too_short: 0,
                    seen: HashSet::new(),
                    compiled: Arc::new(KnownSet::empty()),
                    compiled_upto: 0,
                    extra: Vec::new(),
                }),
            }),
        };
        for s in self.secrets {
            r.add_secret(s);
        }
        for blob in self.json_secrets {
            r.add_json_secret(&blob);
        }
        Ok(r)
    }
}

impl Redactor {
    /// A redactor with every built-in rule, the default mask and no known secrets.
    pub fn new() -> Redactor {
        RedactorBuilder::default()
            .build()
            .expect("default options are valid")
    }

    /// Start configuring a redactor.
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder::default()
    }

    /// Register a known secret. Returns `false` (and ignores it) when it is shorter
    /// than the minimum length or already registered; use
    /// [`add_secret_status`](Self::add_secret_status) to tell the two apart. A
    /// multi-line secret also registers each line that is long enough on its own.
    pub fn add_secret(&self, secret: impl AsRef<[u8]>) -> bool {
        self.add_secret_status(secret) == SecretStatus::Added
    }

    /// Register a known secret and say what happened to it: a value shorter than
    /// the minimum length is [`SecretStatus::TooShort`] (and counted by
    /// [`short_secrets_ignored`](Self::short_secrets_ignored)), never dropped
    /// without a word.
    ///
    /// ```
    /// use keel_core::redact::{Redactor, SecretStatus};
    ///
    /// let r = Redactor::new();
    /// assert_eq!(r.add_secret_status("abc"), SecretStatus::TooShort);
    /// assert_eq!(r.add_secret_status("long-enough"), SecretStatus::Added);
    /// assert_eq!(r.add_secret_status("long-enough"), SecretStatus::Duplicate);
    /// assert_eq!(r.short_secrets_ignored(), 1);
    /// ```
    pub fn add_secret_status(&self, secret: impl AsRef<[u8]>) -> SecretStatus {
        let secret = secret.as_ref();
        let min_len = self.inner.min_len;
        let mut guard = self.lock();
        let mut added = Self::insert(&mut guard, secret, min_len);
        let mut long_enough = secret.len() >= min_len;
        if secret.contains(&b'\n') {
            for line in secret.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let trimmed = trim_ascii(line);
                added |= Self::insert(&mut guard, trimmed, min_len);
                long_enough |= trimmed.len() >= min_len;
            }
        }
        if added {
            SecretStatus::Added
        } else if long_enough {
            SecretStatus::Duplicate
        } else {
            guard.too_short += 1;
            SecretStatus::TooShort
        }
    }

    /// Register many secrets; returns how many were new.
    pub fn add_secrets<I, S>(&self, secrets: I) -> usize
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        self.add_secrets_report(secrets).added
    }

    /// Register many secrets and report how many were new, already known or too
    /// short (with the positions of the short ones).
    ///
    /// ```
    /// use keel_core::redact::Redactor;
    ///
    /// let r = Redactor::new();
    /// let report = r.add_secrets_report(["first-secret", "abc", "first-secret"]);
    /// assert_eq!((report.added, report.duplicates, report.too_short), (1, 1, 1));
    /// assert_eq!(report.too_short_indices, vec![1]);
    /// ```
    pub fn add_secrets_report<I, S>(&self, secrets: I) -> SecretReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let mut report = SecretReport::default();
        for (i, s) in secrets.into_iter().enumerate() {
            report.record(i, self.add_secret_status(s));
        }
        report
    }

    /// How many values this redactor refused so far for being shorter than the
    /// minimum secret length (including those given to the builder).
    pub fn short_secrets_ignored(&self) -> usize {
        self.lock().too_short
    }

    /// Register a credential blob and, when it parses as JSON, each string leaf of at
    /// least [`MIN_HARVEST_LEN`] characters (see [`secrets_to_redact`]). Returns how
    /// many values were new.
    pub fn add_json_secret(&self, blob: &str) -> usize {
        self.add_secrets(secrets_to_redact(blob))
    }

    /// Number of registered secrets (not counting encoded forms).
    pub fn secret_count(&self) -> usize {
        self.lock().values.len()
    }

    /// Number of literals searched for: secrets plus their encoded forms.
    pub fn literal_count(&self) -> usize {
        self.snapshot().known.len()
    }

    /// The mask text.
    pub fn mask(&self) -> &[u8] {
        &self.inner.mask
    }

    /// The minimum length of a known secret.
    pub fn min_secret_len(&self) -> usize {
        self.inner.min_len
    }

    /// Every rule with whether this redactor applies it.
    pub fn rules(&self) -> Vec<RuleInfo> {
        let rules = &self.inner.rules;
        let mut out: Vec<RuleInfo> = BuiltinRule::ALL
            .iter()
            .map(|r| RuleInfo {
                name: r.name().into(),
                description: r.description().into(),
                enabled: rules.is_enabled(*r),
                kind: "builtin",
            })
            .collect();
        out.push(RuleInfo {
            name: "known-secret".into(),
            description: "registered secret values and their base64, percent, form and JSON encodings".into(),
            enabled: true,
            kind: "builtin",
        });
        out.extend(rules.custom.iter().map(|c| RuleInfo {
            name: c.name.clone(),
            description: format!("custom pattern /{}/", c.regex.as_str()),
            enabled: true,
            kind: "custom",
        }));
        out
    }

    /// Redact bytes. Returns the input unchanged (borrowed) when nothing matched.
    /// Invalid UTF-8 passes through untouched.
    pub fn redact_bytes<'a>(&self, input: &'a [u8]) -> Cow<'a, [u8]> {
        self.redact_bytes_with::<&[u8]>(input, &[])
    }

    /// Redact text. Masks are widened to whole characters, so the output is valid UTF-8.
    pub fn redact_str<'a>(&self, input: &'a str) -> Cow<'a, str> {
        self.redact_with::<&[u8]>(input, &[])
    }

    /// Redact text with this redactor's secrets plus `extra` ones for this call only
    /// (the reference's `redact(input, knownSecrets)`; values shorter than the
    /// minimum length are ignored). The extra list is compiled on its own and the
    /// last 8 distinct lists are cached, so calling repeatedly with the same lists
    /// (several jobs alternating their tokens) is cheap, and a new list costs only
    /// its own size, not the number of registered secrets.
    pub fn redact_with<'a, S: AsRef<[u8]>>(&self, input: &'a str, extra: &[S]) -> Cow<'a, str> {
        match self.snapshot_for(extra).redact_all(input.as_bytes(), true) {
            // The mask is UTF-8 and spans are widened to character boundaries.
            Some(out) => Cow::Owned(
                String::from_utf8(out)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
            None => Cow::Borrowed(input),
        }
    }

    /// [`redact_with`](Self::redact_with) on bytes: invalid UTF-8 passes through.
    pub fn redact_bytes_with<'a, S: AsRef<[u8]>>(
        &self,
        input: &'a [u8],
        extra: &[S],
    ) -> Cow<'a, [u8]> {
        match self.snapshot_for(extra).redact_all(input, false) {
            Some(out) => Cow::Owned(out),
            None => Cow::Borrowed(input),
        }
    }

    /// Redact bytes (with `extra` secrets for this call) into `out`, reusing its
    /// allocation: for hosts that redact large inputs repeatedly. Returns `false`,
    /// leaving `out` empty, when nothing was masked.
    pub fn redact_bytes_into<S: AsRef<[u8]>>(
        &self,
        input: &[u8],
        extra: &[S],
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        self.snapshot_for(extra).redact_all_into(input, false, out)
    }

    /// [`redact_bytes_into`](Self::redact_bytes_into) for text: masks are widened
    /// to whole characters, so `out` holds valid UTF-8.
    pub fn redact_str_into<S: AsRef<[u8]>>(
        &self,
        input: &str,
        extra: &[S],
        out: &mut Vec<u8>,
    ) -> bool {
        out.clear();
        self.snapshot_for(extra)
            .redact_all_into(input.as_bytes(), true, out)
    }

    fn snapshot_for<S: AsRef<[u8]>>(&self, extra: &[S]) -> Snapshot {
        let extra: Vec<&[u8]> = extra
            .iter()
            .map(AsRef::as_ref)
            .filter(|s| s.len() >= self.inner.min_len)
            .collect();
        if extra.is_empty() {
            self.snapshot()
        } else {
            self.snapshot_with(&extra)
        }
    }

    /// A streaming redactor sharing this redactor's secrets and rules.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            core: StreamCore::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Secrets> {
        // A panic while holding the lock cannot leave the set inconsistent (every
        // mutation is a push), so a poisoned lock is safe to reuse.
        self.inner.secrets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(guard: &mut Secrets, secret: &[u8], min_len: usize) -> bool {
        if secret.len() < min_len || guard.seen.contains(secret) {
            return false;
        }
        guard.seen.insert(secret.into());
        guard.values.push(secret.into());
        true
    }

    fn literals(values: &[impl AsRef<[u8]>], min_len: usize, mask: &[u8]) -> Vec<Vec<u8>> {
        let mut literals = Vec::with_capacity(values.len() * 4);
        for v in values {
            let v = v.as_ref();
            encode::variants(v, min_len, &mut literals);
            // A secret that starts or ends with mask characters (`*hunter2*`) could be
            // re-formed from a mask and the text next to it, so a second pass would
            // mask more than the first. Its core without those characters is
            // secret too: masking it as well keeps redaction idempotent.
            let core = trim_bytes(v, |b| mask.contains(&b));
            if core.len() != v.len() && core.len() >= MIN_DERIVED_LEN {
                literals.push(core.to_vec());
            }
        }
        literals
    }

    /// The compiled registered set, updated with the secrets added since the last
    /// call (incrementally: only the new secrets' literals are inserted; the set is
    /// copied first only if a running call still holds the previous version).
    fn known(&self, guard: &mut Secrets) -> Arc<KnownSet> {
        if guard.compiled_upto < guard.values.len() {
            let lits = Self::literals(
                &guard.values[guard.compiled_upto..],
                self.inner.min_len,
                &self.inner.mask,
            );
            Arc::make_mut(&mut guard.compiled).extend(lits);
            guard.compiled_upto = guard.values.len();
        }
        guard.compiled.clone()
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let known = self.known(&mut self.lock());
        Snapshot {
            known,
            extra: None,
            rules: self.inner.rules.clone(),
            mask: self.inner.mask.clone(),
            threads: self.inner.threads,
        }
    }

    fn snapshot_with(&self, extra: &[&[u8]]) -> Snapshot {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        extra.hash(&mut h);
        let hash = h.finish();
        let mut guard = self.lock();
        let known = self.known(&mut guard);
        let hit = guard.extra.iter().position(|e| {
            e.hash == hash
                && e.values.len() == extra.len()
                && e.values.iter().zip(extra).all(|(a, b)| &a[..] == *b)
        });
        let set = match hit {
            Some(i) => {
                let e = guard.extra.remove(i);
                let set = e.set.clone();
                guard.extra.insert(0, e);
                set
            }
            None => {
                drop(guard);
                // Compiled outside the lock: it costs the size of this call's set only.
                let set = Arc::new(KnownSet::new(Self::literals(
                    extra,
                    self.inner.min_len,
                    &self.inner.mask,
                )));
                let mut guard = self.lock();
                guard.extra.insert(
                    0,
                    ExtraEntry {
                        hash,
                        values: extra.iter().map(|v| Box::from(*v)).collect(),
                        set: set.clone(),
                    },
                );
                guard.extra.truncate(EXTRA_CACHE);
                set
            }
        };
        Snapshot {
            known,
            extra: Some(set),
            rules: self.inner.rules.clone(),
            mask: self.inner.mask.clone(),
            threads: self.inner.threads,
        }
    }
}

/// Shortest core registered for a secret that starts or ends with mask characters.
const MIN_DERIVED_LEN: usize = 4;

fn trim_bytes(b: &[u8], strip: impl Fn(u8) -> bool) -> &[u8] {
    let start = b.iter().position(|&c| !strip(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !strip(c)).map_or(start, |e| e + 1);
    &b[start..end]
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Redacts a stream fed in arbitrary chunks.
///
/// The output equals [`Redactor::redact_bytes`] of the concatenated input, for
/// every way of cutting it into chunks (chunks need not end on UTF-8 boundaries):
/// a secret split across chunks never escapes. Only a bounded tail is held back —
/// the longest known secret (or encoded form) minus one byte, or, while a shape is
/// open (a PEM block without its `-----END` yet, a value running to the end of the
/// chunk), the bytes since its anchor, capped by [`MAX_PEM`] and the other caps.
///
/// Secrets added to the parent [`Redactor`] apply from the next write on.
pub struct StreamRedactor {
    redactor: Redactor,
    core: StreamCore,
}

impl fmt::Debug for StreamRedactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamRedactor")
            .field("pending_bytes", &self.core.pending())
            .finish_non_exhaustive()
    }
}

impl StreamRedactor {
    /// Feed a chunk; redacted output that is final is appended to `out`.
    pub fn write(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let snap = self.redactor.snapshot();
        self.core.write(&snap, chunk, out);
    }

    /// Write out every held-back byte that cannot be the start of a secret (for
    /// interactive output: call it when no input arrived for a while). Never emits
    /// a prefix of a possible secret; output stays identical to one-shot redaction.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        let snap = self.redactor.snapshot();
        self.core.flush(&snap, out);
    }

    /// End of input: write out the rest. The stream can be reused afterwards.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let snap = self.redactor.snapshot();
        self.core.finish(&snap, out);
    }

    /// Bytes received but not yet written out.
    pub fn pending(&self) -> usize {
        self.core.pending()
    }

    /// The redactor this stream uses.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

static GLOBAL: OnceLock<Redactor> = OnceLock::new();

/// The process-wide redactor used by [`redact`], [`redact_secrets`] and
/// [`register_known_secrets`] (the reference module's free functions).
pub fn global() -> &'static Redactor {
    GLOBAL.get_or_init(Redactor::new)
}

/// Register secrets with the process-wide redactor, so every later [`redact`] /
/// [`redact_secrets`] call (and every keel error message) masks them.
pub fn register_known_secrets<I, S>(values: I) -> usize
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    global().add_secrets(values)
}

/// The reference's `redact(input, knownSecrets)`: shape rules, registered secrets
/// and `known_secrets` (values shorter than 6 bytes are ignored).
pub fn redact<S: AsRef<[u8]>>(input: &str, known_secrets: &[S]) -> String {
    global().redact_with(input, known_secrets).into_owned()
}

/// The reference's `redactSecrets(input)`: shape rules and registered secrets.
pub fn redact_secrets(input: &str) -> String {
    global().redact_str(input).into_owned()
}

#[cfg(test)]
mod stage_timings {
    #[allow(dead_code)]
    mod corpus {
        include!(concat!(env!("CARGO_MANIFEST_DIR"), "/benches/corpus.rs"));
    }
    use super::*;

    /// Per-stage timings for tuning: `cargo test --release -p agent-keel-core --lib stage_timings -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn stage_timings() {
        for n in [0usize, 10, 1000] {
            let secrets = corpus::secrets(n);
            let log = corpus::log(16 << 20, &secrets);
            let r = Redactor::new();
            r.add_secrets(&secrets);
            let snap = r.snapshot();
            let mb = log.len() as f64 / 1e6;
            // Process CPU time, so other processes on the machine do not skew the
            // figures and a split one-shot call's worker threads are counted.
            #[allow(unsafe_code)]
            fn cpu() -> f64 {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: valid pointer to a timespec; the clock id is a constant.
                unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
                ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
            }
            let time = |name: &str, f: &mut dyn FnMut() -> usize| {
                let t = cpu();
                let mut k = 0;
                for _ in 0..5 {
                    k = f();
                }
                let s = (cpu() - t) / 5.0;
                println!(
                    "{n:>5} secrets {name:<12} {:>8.0} MB/s  ({k} spans)",
                    mb / s
                );
            };
            time("known", &mut || {
                let mut v = Vec::new();
                snap.known.find(&log, 0, true, &mut v);
                v.len()
            });
            time("prefixes", &mut || {
                let mut v = Vec::new();
                snap.rules.find_prefixes_pub(&log, &mut v);
                v.len()
            });
            time("anchored", &mut || {
                let mut v = Vec::new();
                snap.rules.find_anchored_pub(&log, &mut v);
                v.len()
            });
            time("memchr2", &mut || {
                memchr::memchr2_iter(b'=', b':', &log).count()
            });
            time("anchor-iter", &mut || rules::count_anchors(&log));
            time("anchor-end", &mut || rules::count_endings(&log));
            let (cands, accepted) = rules::count_candidates(&log);
            println!("{n:>5} secrets vector prefilter passes {cands} anchors, the first look accepts {accepted}");
            time("all", &mut || r.redact_bytes(&log).len());
            let mut out = Vec::new();
            time("all-into", &mut || {
                r.redact_bytes_into::<&[u8]>(&log, &[], &mut out);
                out.len()
            });
        }
    }
}
