//! logfmt lines: `key=value` pairs separated by spaces, a value quoted when it needs
//! to be (`"a b"`, `"x=\"y\""`), control characters escaped, every value redacted.

use std::collections::BTreeMap;

/// One value for a logfmt line: redacted, then quoted and escaped when it is empty or
/// holds a space, `=`, `"`, `\` or a control character.
pub fn value(v: &str) -> String {
    let v = crate::redact::redact_secrets(v);
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '=' && c != '"' && c != '\\');
    if plain {
        return v;
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parse one logfmt line into its pairs (the last of a repeated key wins). A bare word
/// is a key with an empty value; an unterminated quote takes the rest of the line.
pub fn parse(line: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = line.trim_end_matches(['\n', '\r']).chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('n') => val.push('\n'),
                            Some('r') => val.push('\r'),
                            Some('t') => val.push('\t'),
                            Some('u') => {
                                // \u{hex}
                                let mut hex = String::new();
                                if chars.peek() == Some(&'{') {
                                    chars.next();
                                    for c in chars.by_ref() {
                                        if c == '}' {
                                            break;
                                        }
                                        hex.push(c);
                                    }
                                }
                                if let Some(c) =
                                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
                                {
                                    val.push(c);
                                }
                            }
                            Some(c) => val.push(c),
                            None => break,
                        },
                        c => val.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    val.push(c);
                    chars.next();
                }
            }
        }
        if !key.is_empty() {
            out.insert(key, val);
        }
    }
    out
}

/// `2026-12-02T03:14:14.123Z` from epoch milliseconds.
pub(crate) fn iso_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // civil-from-days (Howard Hinnant)
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_quoting() {
        for v in [
            "plain",
            "a b",
            "x=\"y\"",
            "back\\slash",
            "line\nbreak\u{1}",
            "",
        ] {
            let line = format!("k={} z=1", value(v));
            let m = parse(&line);
            assert_eq!(m["k"], v, "{line}");
            assert_eq!(m["z"], "1");
        }
        assert_eq!(value("plain"), "plain");
        assert_eq!(value("a b"), "\"a b\"");
    }

    #[test]
    fn iso_formats_epoch_ms() {
        assert_eq!(iso_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_ms(1_764_645_254_123), "2025-12-02T03:14:14.123Z");
    }
}
