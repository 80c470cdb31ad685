//! Platform URL normalisation and redaction.

struct Parts<'a> {
    scheme: String,
    host: String,
    port: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    // Userinfo is not part of the platform's identity: drop it.
    let hostport = match authority.rsplit_once('@') {
        Some((_, h)) => h,
        None => authority,
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = after.strip_prefix(':');
        (format!("[{}]", h.to_ascii_lowercase()), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (hostport.to_ascii_lowercase(), None),
        }
    };
    let tail = tail.split('#').next().unwrap_or("");
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    Some(Parts {
        scheme: scheme.to_ascii_lowercase(),
        host,
        port,
        path,
        query,
    })
}

fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme {
        "http" | "ws" => Some("80"),
        "https" | "wss" => Some("443"),
        _ => None,
    }
}

/// Normalise a platform URL for comparison: scheme and host lower-cased, the
/// scheme's default port (80 for http/ws, 443 for https/wss) and any
/// `user:password@` removed, trailing slashes of the path and the `#fragment`
/// dropped. Path and query keep their case. A string that is not an absolute URL is
/// trimmed, lower-cased and stripped of trailing slashes.
///
/// ```
/// use keel_core::credentials::normalize_platform_url;
/// assert_eq!(normalize_platform_url("HTTPS://API.Example.com:443/"), "https://api.example.com");
/// assert_eq!(
///     normalize_platform_url("https://api.example.com/v1/"),
///     normalize_platform_url("https://api.example.com/v1"),
/// );
/// assert_ne!(
///     normalize_platform_url("https://api.example.com:8443"),
///     normalize_platform_url("https://api.example.com"),
/// );
/// ```
pub fn normalize_platform_url(url: &str) -> String {
    let url = url.trim();
    let Some(p) = split(url) else {
        return url.trim_end_matches('/').to_ascii_lowercase();
    };
    let port = match p.port {
        Some("") | None => None,
        Some(port) if Some(port) == default_port(&p.scheme) => None,
        Some(port) => Some(port),
    };
    let mut out = format!("{}://{}", p.scheme, p.host);
    if let Some(port) = port {
        out.push(':');
        out.push_str(port);
    }
    out.push_str(p.path.trim_end_matches('/'));
    if let Some(q) = p.query {
        if !q.is_empty() {
            out.push('?');
            out.push_str(q);
        }
    }
    out
}

/// A URL made safe for messages: any `user:password@` becomes `***@` and any query
/// string becomes `?***` (either may carry a token).
///
/// ```
/// use keel_core::credentials::redact_url;
/// assert_eq!(redact_url("https://bob:hunter2@example.com/x?t=abc"), "https://***@example.com/x?***");
/// assert_eq!(redact_url("https://example.com/x"), "https://example.com/x");
/// ```
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: it may be anything, so show only its length.
        return format!("<{} characters, not a URL>", url.chars().count());
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let tail = tail.split('#').next().unwrap_or("");
    let tail = match tail.split_once('?') {
        Some((path, _)) => format!("{path}?***"),
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        let same = [
            ("https://a.example.com", "HTTPS://A.EXAMPLE.COM/"),
            ("http://a:80/x", "http://A/x/"),
            ("https://u:p@a.example.com", "https://a.example.com"),
            ("https://[::1]:443/", "https://[::1]"),
            ("https://a.example.com#frag", "https://a.example.com/"),
            (" https://a.example.com ", "https://a.example.com"),
        ];
        for (a, b) in same {
            assert_eq!(
                normalize_platform_url(a),
                normalize_platform_url(b),
                "{a} vs {b}"
            );
        }
        let different = [
            ("https://a.example.com", "http://a.example.com"),
            ("https://a.example.com", "https://b.example.com"),
            ("https://a.example.com:8443", "https://a.example.com"),
            ("https://a.example.com/V1", "https://a.example.com/v1"),
            ("http://a:443", "http://a"),
        ];
        for (a, b) in different {
            assert_ne!(
                normalize_platform_url(a),
                normalize_platform_url(b),
                "{a} vs {b}"
            );
        }
        assert_eq!(normalize_platform_url("Not A URL/"), "not a url");
        assert_eq!(normalize_platform_url(""), "");
    }

    #[test]
    fn redacts() {
        assert_eq!(redact_url("not-a-url-secret"), "<16 characters, not a URL>");
        assert_eq!(redact_url("https://tok@h/"), "https://***@h/");
    }
}
