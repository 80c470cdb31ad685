//! Captured command output and credential-blob harvesting (the reference's
//! `captureRedactedOutput` and `secretsToRedact`).

use std::collections::HashSet;

use super::{global, Redactor, MIN_HARVEST_LEN};

/// Cap on captured output kept on a record, in characters (UTF-16 code units, as
/// JavaScript counts them; tail-biased: a failure's error is usually at the end).
pub const MAX_CAPTURED_OUTPUT_CHARS: usize = 16_000;

/// Merge stdout and stderr (each trimmed; empty parts dropped; joined by a
/// newline), redact with the process-wide redactor, and keep the last
/// [`MAX_CAPTURED_OUTPUT_CHARS`] characters behind a `…(N earlier chars trimmed)`
/// marker. `None` when both are empty.
///
/// ```
/// use keel_core::redact::capture_redacted_output;
///
/// assert_eq!(capture_redacted_output("  \n", ""), None);
/// assert_eq!(
///     capture_redacted_output("done\n", "error: PASSWORD=hunter2\n").as_deref(),
///     Some("done\nerror: PASSWORD=***"),
/// );
/// ```
pub fn capture_redacted_output(stdout: &str, stderr: &str) -> Option<String> {
    global().capture_output(stdout, stderr)
}

impl Redactor {
    /// [`capture_redacted_output`] with this redactor's secrets and rules.
    pub fn capture_output(&self, stdout: &str, stderr: &str) -> Option<String> {
        let parts: Vec<&str> = [stdout.trim(), stderr.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            return None;
        }
        let merged = parts.join("\n");
        let redacted = self.redact_str(&merged);
        Some(tail_chars(&redacted, MAX_CAPTURED_OUTPUT_CHARS))
    }
}

/// Keep the last `max` characters of `s`, prefixed with a trim marker when cut.
///
/// "Characters" are UTF-16 code units, as JavaScript's `length` counts them, so the
/// output matches the reference module's for the same input. A cut that would
/// split a surrogate pair moves one unit later (JavaScript would keep half a pair).
pub(crate) fn tail_chars(s: &str, max: usize) -> String {
    let total: usize = s.chars().map(char::len_utf16).sum();
    if total <= max {
        return s.to_string();
    }
    let cut = total - max;
    let mut units = 0;
    let mut start = s.len();
    for (i, c) in s.char_indices() {
        if units >= cut {
            start = i;
            break;
        }
        units += c.len_utf16();
    }
    format!("…({cut} earlier chars trimmed)\n{}", &s[start..])
}

/// The values to scrub for a credential: the whole string, plus — when it is a
/// JSON document (a Codex `auth.json` blob) — every string leaf of at least
/// [`MIN_HARVEST_LEN`] characters, so a token echoed on its own is caught too.
///
/// ```
/// use keel_core::redact::secrets_to_redact;
///
/// let blob = r#"{"tokens":{"access_token":"at-0123456789abcdef","id":"short"}}"#;
/// let s = secrets_to_redact(blob);
/// assert_eq!(s.len(), 2);
/// assert!(s.contains(&"at-0123456789abcdef".to_string()));
/// assert!(secrets_to_redact("").is_empty());
/// ```
pub fn secrets_to_redact(token: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if !token.is_empty() {
        out.push(token.to_string());
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(token) {
        // A set for the "already listed" test keeps harvesting linear in the leaves.
        let mut seen: HashSet<&str> = HashSet::new();
        if !token.is_empty() {
            seen.insert(token);
        }
        let mut leaves = Vec::new();
        collect_strings(&value, &mut seen, &mut leaves);
        out.extend(leaves.into_iter().map(str::to_string));
    }
    out
}

fn collect_strings<'v>(
    value: &'v serde_json::Value,
    seen: &mut HashSet<&'v str>,
    out: &mut Vec<&'v str>,
) {
    // An explicit stack: a deeply nested blob cannot overflow the call stack.
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            // The reference counts JavaScript string length (UTF-16 code units).
            serde_json::Value::String(s)
                if s.encode_utf16().count() >= MIN_HARVEST_LEN && seen.insert(s) =>
            {
                out.push(s);
            }
            serde_json::Value::Array(items) => stack.extend(items.iter().rev()),
            serde_json::Value::Object(map) => stack.extend(map.values().rev()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_marker_matches_reference() {
        let s = "a".repeat(16_005);
        let t = tail_chars(&s, MAX_CAPTURED_OUTPUT_CHARS);
        assert!(t.starts_with("…(5 earlier chars trimmed)\n"));
        assert_eq!(
            t.chars().count(),
            "…(5 earlier chars trimmed)\n".chars().count() + 16_000
        );
    }
}
