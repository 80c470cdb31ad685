//! Encoded forms of a known secret.
//!
//! A secret that is logged is often not logged verbatim: it is base64'd inside an
//! `Authorization: Basic` header or a Kubernetes secret, percent-encoded inside a URL,
//! or JSON-escaped inside an event. For every registered value the redactor also
//! searches for these forms. Each form is a plain literal, so all of them go into the
//! same one-pass literal matcher as the raw values.

const B64_STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Every literal that betrays `secret`: the raw bytes plus the encoded forms, each
/// at least `min_len` bytes long. Duplicates are removed by the caller.
pub(crate) fn variants(secret: &[u8], min_len: usize, out: &mut Vec<Vec<u8>>) {
    out.push(secret.to_vec());
    for align in 0..3 {
        let core = base64_core(secret, align);
        if core.len() >= min_len.max(4) {
            let url: Vec<u8> = core
                .iter()
                .map(|&b| match b {
                    b'+' => b'-',
                    b'/' => b'_',
                    b => b,
                })
                .collect();
            if url != core {
                out.push(url);
            }
            out.push(core);
        }
    }
    if let Some(upper) = percent_encode(secret, true) {
        let lower = percent_encode(secret, false).expect("same bytes need encoding");
        out.push(upper);
        out.push(lower);
    }
    if let Some(plus) = form_encode(secret) {
        out.push(plus);
    }
    if let Some(json) = json_escape(secret, false) {
        out.push(json);
    }
    if let Some(json) = json_escape(secret, true) {
        out.push(json);
    }
}

/// The part of `base64(prefix + secret)` that depends only on `secret`, for a
/// prefix of `align` bytes (mod 3). Characters that mix secret bits with bits of
/// the surrounding bytes (or with padding) are left out, so the literal is found
/// whatever comes before or after the secret, padded or not.
pub(crate) fn base64_core(secret: &[u8], align: usize) -> Vec<u8> {
    let mut input = vec![0u8; align];
    input.extend_from_slice(secret);
    let encoded = encode_b64_nopad(&input);
    let secret_start_bits = 8 * align;
    let secret_end_bits = 8 * (align + secret.len());
    let first = secret_start_bits.div_ceil(6);
    let last = secret_end_bits / 6; // exclusive: char j covers bits [6j, 6j+6)
    if last <= first {
        return Vec::new();
    }
    encoded[first..last].to_vec()
}

fn encode_b64_nopad(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64_STD[((n >> (18 - 6 * i)) & 63) as usize]);
        }
    }
    out
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 percent-encoding of every byte outside the unreserved set; `None` when
/// the secret has no such byte (the encoded form equals the raw one).
pub(crate) fn percent_encode(secret: &[u8], upper: bool) -> Option<Vec<u8>> {
    if secret.iter().all(|&b| is_unreserved(b)) {
        return None;
    }
    let hex: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = Vec::with_capacity(secret.len() * 3);
    for &b in secret {
        if is_unreserved(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', hex[(b >> 4) as usize], hex[(b & 15) as usize]]);
        }
    }
    Some(out)
}

/// `application/x-www-form-urlencoded`: like percent-encoding but a space is `+`.
fn form_encode(secret: &[u8]) -> Option<Vec<u8>> {
    if !secret.contains(&b' ') {
        return None;
    }
    let mut out = Vec::with_capacity(secret.len() * 3);
    for &b in secret {
        if b == b' ' {
            out.push(b'+');
        } else if is_unreserved(b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    Some(out)
}

/// The body of a JSON string literal holding `secret`; `None` when nothing needs
/// escaping. With `escape_slash`, `/` is written `\/` as some encoders do.
pub(crate) fn json_escape(secret: &[u8], escape_slash: bool) -> Option<Vec<u8>> {
    let needs = secret
        .iter()
        .any(|&b| b == b'"' || b == b'\\' || b < 0x20 || (escape_slash && b == b'/'));
    if !needs {
        return None;
    }
    let mut out = Vec::with_capacity(secret.len() + 8);
    for &b in secret {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'/' if escape_slash => out.extend_from_slice(b"\\/"),
            b if b < 0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b => out.push(b),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(input: &[u8]) -> String {
        String::from_utf8(encode_b64_nopad(input)).unwrap()
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(b64(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64(b"fooba"), "Zm9vYmE");
        assert_eq!(b64(b"f"), "Zg");
    }

    #[test]
    fn base64_core_is_found_in_every_alignment() {
        let secret = b"hunter2-correct-horse";
        for prefix in ["", "a", "ab", "abc", "user:", "x:"] {
            let mut msg = prefix.as_bytes().to_vec();
            msg.extend_from_slice(secret);
            msg.extend_from_slice(b"@tail");
            let enc = b64(&msg);
            let align = prefix.len() % 3;
            let core = String::from_utf8(base64_core(secret, align)).unwrap();
            assert!(enc.contains(&core), "{prefix:?}: {enc} lacks {core}");
            assert!(core.len() >= secret.len());
        }
    }

    #[test]
    fn percent_and_json_forms() {
        assert_eq!(percent_encode(b"abcdef", true), None);
        assert_eq!(
            percent_encode(b"p@ss/w rd", true).unwrap(),
            b"p%40ss%2Fw%20rd".to_vec()
        );
        assert_eq!(
            percent_encode(b"p@ss/w rd", false).unwrap(),
            b"p%40ss%2fw%20rd".to_vec()
        );
        assert_eq!(json_escape(b"plain", false), None);
        assert_eq!(
            json_escape(b"a\"b\\c\nd\x01", false).unwrap(),
            b"a\\\"b\\\\c\\nd\\u0001".to_vec()
        );
        assert_eq!(json_escape(b"a/b", true).unwrap(), b"a\\/b".to_vec());
    }
}
