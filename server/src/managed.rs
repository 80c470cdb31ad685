//! `GET /managed-processes`: the managed services' list with its ETag; a matching
//! `If-None-Match` answers `304 Not Modified`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

/// The list `GET /managed-processes` serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedList {
    /// The list's entity tag, without quotes (a content hash: equal lists, equal tags).
    pub etag: String,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// Where `GET /managed-processes` reads the list from (a state directory of managed
/// services, or a host's own).
pub trait ManagedProcesses: Send + Sync + 'static {
    /// The current list, or a message (no secret) saying why it cannot be read.
    fn list(&self) -> Result<ManagedList, String>;
    /// Append Prometheus lines of its own (`keel_services{health=…}`) to `out`.
    fn render_metrics(&self, out: &mut String) {
        let _ = out;
    }
}

/// Whether an `If-None-Match` value matches `etag` (`*`, a list, weak tags).
pub(crate) fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

pub(crate) fn respond(source: &dyn ManagedProcesses, if_none_match: Option<&str>) -> Response {
    let list = match source.list() {
        Ok(l) => l,
        Err(message) => {
            let body = serde_json::to_vec(&serde_json::json!({
                "error": keel_core::redact::redact_secrets(&message),
                "code": keel_core::codes::IO,
            }))
            .expect("error JSON");
            let mut res = Response::new(Body::from(body));
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return res;
        }
    };
    let tag = HeaderValue::from_str(&format!("\"{}\"", list.etag))
        .unwrap_or_else(|_| HeaderValue::from_static("\"invalid\""));
    let mut res = if if_none_match.is_some_and(|v| matches(v, &list.etag)) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Body::from(list.body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    res.headers_mut().insert(header::ETAG, tag);
    res
}
