//! `GET /managed-processes`: the managed services' list with its ETag; a matching
//! `If-None-Match` answers `304 Not Modified`.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::app::Resp;

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
    /// The list of one project's services (`?project=P`, as minions' dashboard
    /// serves it). The default answers the whole list for no project and refuses a
    /// project filter it cannot apply.
    fn list_project(&self, project: Option<&str>) -> Result<ManagedList, String> {
        match project {
            None | Some("") => self.list(),
            Some(_) => Err("this services source does not filter by project".into()),
        }
    }
    /// The list of [`list_project`](Self::list_project) with a failure's stable code
    /// (`KEEL_INSECURE_FILE`, `KEEL_MALFORMED_STATE`, `KEEL_LOCK_TIMEOUT`, …), which
    /// `GET /managed-processes` puts in its error body. The default gives `KEEL_IO`
    /// for every failure of `list_project`; a source that knows its codes overrides it.
    fn list_coded(&self, project: Option<&str>) -> Result<ManagedList, ManagedError> {
        self.list_project(project).map_err(|message| ManagedError {
            code: keel_core::codes::IO,
            message,
        })
    }
    /// Append Prometheus lines of its own (`keel_services{health=…}`) to `out`.
    fn render_metrics(&self, out: &mut String) {
        let _ = out;
    }
}

/// Why the list could not be read: a stable code of `keel_core::codes` and a message
/// (no secret; it is redacted again before it is served).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedError {
    /// The stable code, e.g. `KEEL_INSECURE_FILE`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

/// Whether an `If-None-Match` value matches `etag` (`*`, a list, weak tags).
pub(crate) fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').any(|t| {
        let t = t.trim();
        let t = t.strip_prefix("W/").unwrap_or(t);
        t == "*" || t.trim_matches('"') == etag
    })
}

/// `GET /managed-processes` over a keel services state directory
/// (`<dir>/managed-processes.json`, as `keel services up --state-dir` writes it): the
/// body is the JSON array of [`keel_core::services::ServiceView`] (what
/// `keel services ls --json` prints), the ETag minions' `computeManagedSpecsEtag`, and
/// `/metrics` gains `keel_services{health=…}`. Reading never spawns, probes or signals.
#[derive(Debug, Clone)]
pub struct StateDirServices {
    dir: std::path::PathBuf,
}

impl StateDirServices {
    /// Serve the services of `dir`.
    pub fn new(dir: impl Into<std::path::PathBuf>) -> Self {
        StateDirServices { dir: dir.into() }
    }
}

impl ManagedProcesses for StateDirServices {
    fn list(&self) -> Result<ManagedList, String> {
        self.list_project(None)
    }

    fn list_project(&self, project: Option<&str>) -> Result<ManagedList, String> {
        self.list_coded(project)
            .map_err(|e| format!("{} [{}]", e.message, e.code))
    }

    fn list_coded(&self, project: Option<&str>) -> Result<ManagedList, ManagedError> {
        use keel_core::services::{self, ServicesError};
        let coded = |e: ServicesError| ManagedError {
            code: e.code(),
            message: e.to_string(),
        };
        let views = services::list(&self.dir, project).map_err(coded)?;
        let etag = services::etag(&self.dir, project).map_err(coded)?;
        let body = serde_json::to_vec(&views).map_err(|e| ManagedError {
            code: keel_core::codes::ENCODE,
            message: e.to_string(),
        })?;
        Ok(ManagedList { etag, body })
    }

    fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push_str(
            "# HELP keel_services Managed services by health.\n# TYPE keel_services gauge\n",
        );
        match keel_core::services::health_counts(&self.dir) {
            Ok(c) => {
                for (health, n) in c.pairs() {
                    let _ = writeln!(out, "keel_services{{health=\"{health}\"}} {n}");
                }
                out.push_str("# HELP keel_services_up Whether the services state could be read.\n# TYPE keel_services_up gauge\nkeel_services_up 1\n");
            }
            Err(_) => {
                out.push_str("# HELP keel_services_up Whether the services state could be read.\n# TYPE keel_services_up gauge\nkeel_services_up 0\n");
            }
        }
    }
}

pub(crate) fn respond(
    source: &dyn ManagedProcesses,
    project: Option<&str>,
    if_none_match: Option<&str>,
) -> Resp {
    let list = match source.list_coded(project) {
        Ok(l) => l,
        Err(e) => {
            let body = serde_json::to_vec(&serde_json::json!({
                "error": keel_core::redact::redact_secrets(&e.message),
                "code": e.code,
            }))
            .expect("error JSON");
            let mut res = Response::new(Full::new(Bytes::from(body)));
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
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(Full::new(Bytes::from(list.body)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    res.headers_mut().insert(header::ETAG, tag);
    res
}
