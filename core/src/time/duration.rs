//! keel's one duration syntax, for every flag and option that takes a human duration
//! (`keel run --inactivity 30s`, `keel supervise --backoff-base 2s`, `keel turn --stall
//! 10m`, …).
//!
//! Accepted: a number with a unit — `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d` —
//! or a bare number, which is seconds; fractions (`1.5s`, `0.25ms`, `.5s`) and
//! concatenated parts (`1h30m`, `2m30s`) too. Surrounding whitespace is ignored;
//! signs, exponents and empty text are not durations.
//!
//! keel's windows are whole milliseconds (the `…Ms` fields of every surface), so the
//! parsed value is **rounded up** to the next whole millisecond: `0.4ms`, `100us` and
//! `1ns` are 1 ms. Only a zero value (`0`, `0s`, `0.0ms`) is zero, which is what turns
//! a watchdog off where a flag says so — a tiny but non-zero duration can never
//! silently disable one. Decimal fractions are computed exactly (no floating point), so
//! `0.1s` is exactly 100 ms.
//!
//! For messages, keel prints windows with [`crate::jobs::format_window`] (`600s`,
//! `300ms`).

use std::time::Duration;

/// The longest duration accepted: 10¹⁵ ms (about 31,700 years). Longer values are
/// refused rather than wrapped.
pub const MAX_DURATION_MS: u64 = 1_000_000_000_000_000;

/// Why text is not a duration. The message never quotes the text (a surface that names
/// the flag — clap does — shows the value itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not a number followed by a unit.
    #[error("not a duration (examples: 500ms, 30s, 10m, 1h, 1h30m; a bare number is seconds)")]
    Malformed,
    /// The number is followed by a unit keel does not know.
    #[error("unknown duration unit (use ns, us, ms, s, m, h or d)")]
    UnknownUnit,
    /// Longer than [`MAX_DURATION_MS`].
    #[error("duration out of range (at most 10^15 ms)")]
    OutOfRange,
}

impl DurationError {
    /// The stable code: `KEEL_INVALID_ARGUMENT`.
    pub fn code(&self) -> &'static str {
        crate::codes::INVALID_ARGUMENT
    }
}

/// Nanoseconds per unit.
fn unit_ns(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    })
}

/// Parse a duration: whole milliseconds, rounded up (see the [module docs](crate::time)).
///
/// ```
/// use std::time::Duration;
/// use keel_core::time::parse_duration;
///
/// assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
/// assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
/// // Sub-millisecond: rounded up, never to zero.
/// assert_eq!(parse_duration("250us").unwrap(), Duration::from_millis(1));
/// assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
/// assert!(parse_duration("10x").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Malformed);
    }
    // Bounded work: no valid duration is long.
    if s.len() > 64 {
        return Err(DurationError::OutOfRange);
    }
    let limit_ns = u128::from(MAX_DURATION_MS) * 1_000_000;
    let mut total_ns: u128 = 0;
    let mut rest = s;
    let mut parts = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(DurationError::Malformed);
        }
        // A bare number is seconds, but only as the whole text (`1h30` is not a duration).
        if unit.is_empty() && (parts > 0 || !next.is_empty()) {
            return Err(DurationError::Malformed);
        }
        if unit.chars().any(|c| !c.is_alphabetic()) {
            return Err(DurationError::Malformed);
        }
        let per = unit_ns(unit).ok_or(DurationError::UnknownUnit)?;
        let whole: u128 = if int.is_empty() {
            0
        } else {
            // At most 64 characters, so at most ~10^64: overflow shows as a parse error,
            // which we report as out of range.
            int.parse().map_err(|_| DurationError::OutOfRange)?
        };
        let mut ns = whole.checked_mul(per).ok_or(DurationError::OutOfRange)?;
        if !frac.is_empty() {
            // Exact decimal fraction, rounded up: ceil(frac * per / 10^digits). Digits past
            // nanosecond precision only matter for rounding up.
            let digits = frac.len().min(20);
            let (head, tail) = frac.split_at(digits);
            let f: u128 = head.parse().map_err(|_| DurationError::Malformed)?;
            let scale = 10u128.pow(digits as u32);
            let num = f * per;
            let mut frac_ns = num / scale;
            if !num.is_multiple_of(scale) || tail.bytes().any(|b| b != b'0') {
                frac_ns += 1;
            }
            ns = ns.checked_add(frac_ns).ok_or(DurationError::OutOfRange)?;
        }
        total_ns = total_ns.checked_add(ns).ok_or(DurationError::OutOfRange)?;
        if total_ns > limit_ns {
            return Err(DurationError::OutOfRange);
        }
        parts += 1;
        rest = next;
    }
    let ms = total_ns.div_ceil(1_000_000) as u64;
    Ok(Duration::from_millis(ms))
}

/// `d` as whole milliseconds for a `…Ms` field, rounded **up**: only a zero duration
/// gives 0 (which turns a watchdog off), never a sub-millisecond one. Saturates at
/// `u64::MAX`.
///
/// ```
/// use std::time::Duration;
/// use keel_core::time::millis_ceil;
/// assert_eq!(millis_ceil(Duration::from_micros(1)), 1);
/// assert_eq!(millis_ceil(Duration::from_millis(1500)), 1500);
/// assert_eq!(millis_ceil(Duration::ZERO), 0);
/// ```
pub fn millis_ceil(d: Duration) -> u64 {
    let ns = d.as_nanos();
    u64::try_from(ns.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Result<u64, DurationError> {
        parse_duration(s).map(|d| d.as_millis() as u64)
    }

    #[test]
    fn units_and_fractions() {
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("30"), Ok(30_000));
        assert_eq!(ms(" 30s "), Ok(30_000));
        assert_eq!(ms("10m"), Ok(600_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("2d"), Ok(172_800_000));
        assert_eq!(ms("1.5s"), Ok(1500));
        assert_eq!(ms(".5s"), Ok(500));
        assert_eq!(ms("0.1s"), Ok(100));
        assert_eq!(ms("0.3"), Ok(300));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("2m30s"), Ok(150_000));
        assert_eq!(ms("1s500ms"), Ok(1500));
    }

    #[test]
    fn sub_millisecond_rounds_up_never_to_zero() {
        assert_eq!(ms("0.4ms"), Ok(1));
        assert_eq!(ms("0.0001ms"), Ok(1));
        assert_eq!(ms("100us"), Ok(1));
        assert_eq!(ms("100µs"), Ok(1));
        assert_eq!(ms("1ns"), Ok(1));
        assert_eq!(ms("1500us"), Ok(2));
        assert_eq!(ms("1.0000001s"), Ok(1001));
        assert_eq!(ms("0.00000000000000000000001s"), Ok(1));
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("0s"), Ok(0));
        assert_eq!(ms("0.000ms"), Ok(0));
    }

    #[test]
    fn junk_is_refused_without_echo() {
        for bad in [
            "", "  ", "10x", "-1s", "+1s", "1e3", "s", ".", "1..2s", "1h30", "1 h", "ms5", "1.2.3s",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert_eq!(e.code(), "KEEL_INVALID_ARGUMENT");
            if bad.trim().len() >= 3 && bad != "1h30" {
                assert!(!e.to_string().contains(bad), "{bad:?}: {e}");
            }
        }
        assert_eq!(parse_duration("10x"), Err(DurationError::UnknownUnit));
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::OutOfRange)
        );
        assert_eq!(
            parse_duration(&"9".repeat(100)),
            Err(DurationError::OutOfRange)
        );
        assert_eq!(ms("1000000000000000ms"), Ok(MAX_DURATION_MS));
        assert_eq!(
            parse_duration("1000000000000001ms"),
            Err(DurationError::OutOfRange)
        );
    }
}
