//! The job view (`GET /jobs/{id}` in the reference) and the items a job reports.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::failure::FailureCause;

/// A job's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Still running (or aborted but not yet settled).
    Running,
    /// The work returned a result.
    Done,
    /// The work failed, or a watchdog / abort killed it.
    Failed,
}

impl JobState {
    /// `running`, `done` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }
}

/// Sub-task progress, in the reference's `TodoProgress` shape:
/// `{"completed":3,"total":8,"inProgress":1}`.
///
/// ```
/// use keel_core::jobs::Progress;
/// let p = Progress::new(3, 8);
/// assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"completed":3,"total":8}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Progress {
    /// Tasks done.
    pub completed: u64,
    /// Total tasks.
    pub total: u64,
    /// Tasks being worked on now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<u64>,
    /// The individual tasks, free-form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
}

impl Progress {
    /// `completed` of `total` done.
    pub fn new(completed: u64, total: u64) -> Self {
        Self {
            completed,
            total,
            in_progress: None,
            items: None,
        }
    }
}

/// One completed tool call (the reference's `ToolSpan`). `tool` and `endedAt` drive the
/// last-tool breadcrumb; every other field of the reference's shape (`args`, `result`,
/// `bodies`, …) travels in `extra` untouched (but redacted).
///
/// ```
/// use keel_core::jobs::ToolSpan;
/// let span: ToolSpan = serde_json::from_str(
///     r#"{"tool":"Bash","seq":0,"startedAt":1,"endedAt":2,"ok":true,"args":"ls"}"#,
/// ).unwrap();
/// assert_eq!(span.tool, "Bash");
/// assert_eq!(span.extra["args"], "ls");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ToolSpan {
    /// The tool's name.
    pub tool: String,
    /// The call's ordinal within the job.
    #[serde(default)]
    pub seq: u64,
    /// Epoch ms the call started.
    #[serde(default)]
    pub started_at: u64,
    /// Epoch ms the call ended (0: the registry stamps the time it was reported).
    #[serde(default)]
    pub ended_at: u64,
    /// Whether the call succeeded.
    #[serde(default = "yes")]
    pub ok: bool,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}

impl ToolSpan {
    /// A span for `tool` (times stamped by the registry, `ok` true).
    pub fn new(tool: impl Into<String>) -> Self {
        Self {
            tool: tool.into(),
            seq: 0,
            started_at: 0,
            ended_at: 0,
            ok: true,
            extra: Map::new(),
        }
    }
}

/// One model call's telemetry (the reference's `HarnessCallMetric`). The registry stamps
/// `seq` (job-scoped, in emit order) and `phase` (the phase the job was in when it was
/// emitted); every other field travels in `fields`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CallMetric {
    /// Job-scoped sequence number (stamped by the registry).
    #[serde(default)]
    pub seq: u64,
    /// Phase at emit time (stamped by the registry).
    #[serde(default)]
    pub phase: String,
    /// Every other field, verbatim.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl CallMetric {
    /// A metric from its fields.
    pub fn new(fields: Map<String, Value>) -> Self {
        Self {
            seq: 0,
            phase: String::new(),
            fields,
        }
    }
}

/// How many buffered items were dropped (oldest first) because a buffer was full, since
/// the previous read. A keel addition to the reference's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Dropped {
    /// Tool spans dropped.
    pub spans: u64,
    /// Follow-up items dropped.
    pub follow_ups: u64,
    /// Call metrics dropped.
    pub call_metrics: u64,
}

impl Dropped {
    pub(crate) fn any(&self) -> bool {
        self.spans + self.follow_ups + self.call_metrics > 0
    }
}

/// The cold-start diagnostic (the reference's `coldStart`): recorded once when a job
/// produced no activity within its cold-start window. It never kills the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ColdStart {
    /// Epoch ms the diagnostic was recorded.
    pub at_ms: u64,
    /// `agent produced no output 120s after start; possible onboarding/auth wedge (phase: clone)`.
    pub message: String,
}

/// A snapshot of one job, serialized in the reference's `JobView` shape (camelCase;
/// absent fields omitted):
///
/// `id`, `state` (`running`|`done`|`failed`), `startedAt`, `heartbeatAt` (epoch ms),
/// `phase`, `progress`, `result` (when done), `error`, `failureCause`, `detail` (when
/// failed), `coldStart` (when the cold-start diagnostic fired), and the drain-on-read
/// `spans`, `followUps`, `callMetrics`; plus keel's `dropped` counters when a bounded
/// buffer overflowed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JobView<R> {
    /// The job id.
    pub id: String,
    /// Lifecycle state.
    pub state: JobState,
    /// Epoch ms the job started.
    pub started_at: u64,
    /// Epoch ms of the last sign of life (start, last activity, or settling).
    pub heartbeat_at: u64,
    /// The phase the job is in (`starting` first; `done` / `failed` at the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Latest progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// The work's result (when `done`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<R>,
    /// One-line, redacted failure message (when `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Structured failure cause.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_cause: Option<FailureCause>,
    /// Redacted diagnostic: phase timings and last-tool breadcrumb (when `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The cold-start diagnostic, once recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cold_start: Option<ColdStart>,
    /// Tool spans since the previous read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spans: Option<Vec<ToolSpan>>,
    /// Follow-up items since the previous read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_ups: Option<Vec<Value>>,
    /// Call metrics since the previous read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_metrics: Option<Vec<CallMetric>>,
    /// Items dropped from full buffers since the previous read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<Dropped>,
}

/// What the registry needs to know about a job's result: a clean-exit result can still
/// be a failure (the reference's `JobResultBase`: `error` plus `failureCause`).
pub trait JobResult: Clone + Send + Sync + 'static {
    /// A job-level error carried by an otherwise successful result.
    fn error(&self) -> Option<&str> {
        None
    }
    /// Its structured cause; copied onto the view's `failureCause` when `error` is set.
    fn failure_cause(&self) -> Option<FailureCause> {
        None
    }
    /// Redact every string of the result in place; applied to the result of every
    /// [`JobView`] the registry hands out. The default does nothing: a result type that
    /// carries text must implement it (`String`, `serde_json::Value` — recursively — and
    /// `CommandResult` do).
    fn redact_strings(&mut self, redactor: &crate::redact::Redactor) {
        let _ = redactor;
    }
}

/// Redact every string of a JSON value in place, object keys included.
pub(crate) fn redact_value(v: &mut Value, r: &crate::redact::Redactor) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(red) = r.redact_str(s) {
                *s = red;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| redact_value(v, r)),
        Value::Object(o) => {
            let needs_key = o
                .keys()
                .any(|k| matches!(r.redact_str(k), std::borrow::Cow::Owned(_)));
            if needs_key {
                let old = std::mem::take(o);
                for (k, mut v) in old {
                    redact_value(&mut v, r);
                    o.insert(r.redact_str(&k).into_owned(), v);
                }
            } else {
                o.values_mut().for_each(|v| redact_value(v, r));
            }
        }
        _ => {}
    }
}

impl JobResult for () {}

impl JobResult for String {
    fn redact_strings(&mut self, redactor: &crate::redact::Redactor) {
        if let std::borrow::Cow::Owned(red) = redactor.redact_str(self) {
            *self = red;
        }
    }
}

impl JobResult for Value {
    fn redact_strings(&mut self, redactor: &crate::redact::Redactor) {
        redact_value(self, redactor);
    }
    /// The `error` string field, if any.
    fn error(&self) -> Option<&str> {
        self.get("error").and_then(Value::as_str)
    }
    /// The `failureCause` field, if it is in the vocabulary.
    fn failure_cause(&self) -> Option<FailureCause> {
        self.get("failureCause")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}
