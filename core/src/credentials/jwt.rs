//! Read claims from a JWT payload **without verifying its signature**.
//!
//! For scheduling refreshes and for diagnostics only: never trust these claims for an
//! authorization decision. Errors never quote the token.
//!
//! ```
//! use keel_core::credentials::jwt;
//! use std::time::{Duration, UNIX_EPOCH};
//! // header {"alg":"none"}, payload {"exp":2000000000,"tenant_id":"t-1"}
//! let token = "eyJhbGciOiJub25lIn0.eyJleHAiOjIwMDAwMDAwMDAsInRlbmFudF9pZCI6InQtMSJ9.";
//! assert_eq!(jwt::exp(token).unwrap(), Some(2_000_000_000));
//! assert_eq!(jwt::claim(token, "tenant_id").unwrap().unwrap(), "t-1");
//! let now = UNIX_EPOCH + Duration::from_secs(1_999_999_000);
//! assert!(jwt::expires_within_at(token, Duration::from_secs(3600), now).unwrap());
//! assert!(!jwt::expires_within_at(token, Duration::from_secs(60), now).unwrap());
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::CredentialError;

fn invalid(reason: &str) -> CredentialError {
    CredentialError::InvalidJwt {
        reason: reason.to_owned(),
    }
}

/// The decoded payload (claims) of a compact JWS (`header.payload.signature`).
pub fn payload(jwt: &str) -> Result<Map<String, Value>, CredentialError> {
    let jwt = jwt.trim();
    let mut parts = jwt.split('.');
    let (Some(_header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(
            "expected three dot-separated parts (header.payload.signature)",
        ));
    };
    if payload.is_empty() {
        return Err(invalid("the payload part is empty"));
    }
    let trimmed = payload.trim_end_matches('=');
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .map_err(|_| invalid("the payload is not base64url"))?,
    );
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid("the payload is not a JSON object")),
        Err(_) => Err(invalid("the payload is not valid JSON")),
    }
}

/// The claim `name`, or `None` when the payload has no such claim.
pub fn claim(jwt: &str, name: &str) -> Result<Option<Value>, CredentialError> {
    Ok(payload(jwt)?.remove(name))
}

/// The `exp` claim in seconds since the epoch, or `None` when absent. A fractional
/// `exp` is truncated; a non-numeric one is an error.
pub fn exp(jwt: &str) -> Result<Option<i64>, CredentialError> {
    match claim(jwt, "exp")? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else {
                match n.as_f64() {
                    Some(f) if f.is_finite() && f.abs() < 9.0e18 => Ok(Some(f.trunc() as i64)),
                    _ => Err(invalid("the exp claim is out of range")),
                }
            }
        }
        Some(_) => Err(invalid("the exp claim is not a number")),
    }
}

/// Whether the token's `exp` falls before now + `within` (an expired token is
/// "within" any duration). A token without `exp` never expires: `false`.
pub fn expires_within(jwt: &str, within: Duration) -> Result<bool, CredentialError> {
    expires_within_at(jwt, within, SystemTime::now())
}

/// [`expires_within`] at a given `now` (for tests and for an injected clock).
pub fn expires_within_at(
    jwt: &str,
    within: Duration,
    now: SystemTime,
) -> Result<bool, CredentialError> {
    let Some(exp) = exp(jwt)? else {
        return Ok(false);
    };
    Ok(exp_within(exp, within, now))
}

/// Whether an expiry in seconds since the epoch falls before `now + within`.
pub(crate) fn exp_within(exp_unix: i64, within: Duration, now: SystemTime) -> bool {
    let now_s = unix_seconds(now);
    let within_s = i64::try_from(within.as_secs()).unwrap_or(i64::MAX);
    exp_unix <= now_s.saturating_add(within_s)
}

/// Seconds since the epoch (negative before 1970).
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Milliseconds since the epoch.
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn decodes_and_rejects_without_quoting() {
        let t = format!("{}.{}.sig", b64("{}"), b64(r#"{"exp":1.5e9,"sub":"a"}"#));
        assert_eq!(exp(&t).unwrap(), Some(1_500_000_000));
        let bad = "SECRETSECRET";
        for tok in [
            bad.to_string(),
            format!("a.{bad}!.c"),
            format!("a.{}.c", b64("[1]")),
            format!("a.{}.c", b64("{")),
            format!("a.{}.c", b64(r#"{"exp":"soon"}"#)),
            "a..c".into(),
            "a.b.c.d".into(),
        ] {
            let e = exp(&tok).unwrap_err();
            assert_eq!(e.code(), "KEEL_INVALID_JWT");
            assert!(!e.to_string().contains(bad));
        }
        let no_exp = format!("{}.{}.s", b64("{}"), b64("{}"));
        assert!(!expires_within(&no_exp, Duration::from_secs(1)).unwrap());
    }
}
