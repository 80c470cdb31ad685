//! Runtime adapters: how to start one headless turn of an agent CLI, how to hand it the
//! turn, and how to read its NDJSON events.

use std::ffi::OsString;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// An agent CLI keel can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Runtime {
    /// Claude Code: `claude -p --output-format stream-json --input-format stream-json
    /// --verbose [--resume <id>]`, one stream-json user message on stdin.
    Claude,
    /// Codex: `codex exec --json [resume <id>]`, the turn's text on stdin.
    Codex,
}

/// What an event means to the runner (the reference's event-type vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The runtime announced its session (Claude `system/init`, Codex `thread.started`).
    SessionStart,
    /// The model said something (an assistant text block, a Codex agent message).
    Progress,
    /// A tool call started (`tool_use`, a Codex command / MCP call).
    ToolStart,
    /// A tool call ended (`tool_result`, a completed Codex item).
    ToolEnd,
    /// The turn's final event (Claude `result`, Codex `turn.completed|failed`).
    Result,
    /// The runtime reported an error.
    Error,
    /// Anything else (unknown types, stream events, rate-limit and hook events, keel's
    /// own warnings).
    Custom,
}

impl EventKind {
    /// The stored name (`tool_start`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SessionStart => "session_start",
            EventKind::Progress => "progress",
            EventKind::ToolStart => "tool_start",
            EventKind::ToolEnd => "tool_end",
            EventKind::Result => "result",
            EventKind::Error => "error",
            EventKind::Custom => "custom",
        }
    }
}

/// One event of a turn, already redacted (every string of `data`, and so every field
/// derived from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(optional_fields))]
#[serde(rename_all = "camelCase")]
pub struct TurnEvent {
    /// What it means.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The runtime's own type (`assistant`, `item.completed`, …) or keel's
    /// (`keel.resume_mismatch`, `keel.line_too_long`, `keel.non_json`).
    pub raw_type: String,
    /// `info`, `warn` or `error`.
    pub level: String,
    /// The session id this event carried.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session_id: Option<String>,
    /// The tool of a tool event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tool_name: Option<String>,
    /// A tool call's arguments.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub tool_args: Option<Value>,
    /// Text (an assistant message, a result, an error message).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub text: Option<String>,
    /// For results and tool ends: whether it reports a failure.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_error: Option<bool>,
    /// A duration the runtime reported.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<i64>,
    /// The whole event as the runtime sent it (redacted); a content block's own JSON for
    /// events split out of one message.
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub data: Value,
}

impl TurnEvent {
    /// A bare event of `kind`.
    pub fn new(kind: EventKind, raw_type: impl Into<String>, data: Value) -> TurnEvent {
        TurnEvent {
            kind,
            raw_type: raw_type.into(),
            level: match kind {
                EventKind::Error => "error".into(),
                _ => "info".into(),
            },
            session_id: None,
            tool_name: None,
            tool_args: None,
            text: None,
            is_error: None,
            duration_ms: None,
            data,
        }
    }

    /// keel's own warning event (`keel.<what>`).
    pub fn keel_warning(what: &str, data: Value) -> TurnEvent {
        let mut e = TurnEvent::new(EventKind::Custom, format!("keel.{what}"), data);
        e.level = "warn".into();
        e
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

impl Runtime {
    /// The program run when no `bin` is given.
    pub fn default_bin(self) -> &'static str {
        match self {
            Runtime::Claude => "claude",
            Runtime::Codex => "codex",
        }
    }

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Claude => "claude",
            Runtime::Codex => "codex",
        }
    }

    /// The argv of one headless turn.
    pub fn argv(self, bin: &OsString, resume: Option<&str>, extra: &[String]) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![bin.clone()];
        match self {
            Runtime::Claude => {
                for a in [
                    "-p",
                    "--output-format",
                    "stream-json",
                    "--input-format",
                    "stream-json",
                    "--verbose",
                ] {
                    v.push(a.into());
                }
                if let Some(id) = resume {
                    v.push("--resume".into());
                    v.push(id.into());
                }
                v.extend(extra.iter().map(OsString::from));
            }
            Runtime::Codex => {
                v.push("exec".into());
                v.push("--json".into());
                v.extend(extra.iter().map(OsString::from));
                if let Some(id) = resume {
                    v.push("resume".into());
                    v.push(id.into());
                }
            }
        }
        v
    }

    /// What goes on the CLI's stdin (then EOF): Claude's stream-json user message line,
    /// or Codex's plain prompt.
    pub fn encode_input(self, text: &str) -> Vec<u8> {
        match self {
            Runtime::Claude => {
                let msg = json!({
                    "type": "user",
                    "message": {"role": "user", "content": [{"type": "text", "text": text}]},
                });
                let mut out = serde_json::to_vec(&msg).unwrap_or_default();
                out.push(b'\n');
                out
            }
            Runtime::Codex => text.as_bytes().to_vec(),
        }
    }

    /// Parse one NDJSON line: JSON, every string redacted, then [`parse`](Runtime::parse).
    /// `None` when the line is not JSON.
    pub fn parse_line(self, line: &[u8]) -> Option<Vec<TurnEvent>> {
        // One redaction pass over the raw line (the redactor knows JSON escaping and
        // JSON key/value shapes); if masking ever broke the JSON, fall back to
        // redacting each string of the parsed value.
        let v: Value = match crate::redact::global().redact_bytes(line) {
            std::borrow::Cow::Borrowed(_) => serde_json::from_slice(line).ok()?,
            std::borrow::Cow::Owned(red) => match serde_json::from_slice(&red) {
                Ok(v) => v,
                Err(_) => {
                    let mut v: Value = serde_json::from_slice(line).ok()?;
                    super::run::redact_value(&mut v);
                    v
                }
            },
        };
        Some(self.parse_value(v))
    }

    /// The events of one parsed (and already redacted) NDJSON object. Never fails:
    /// unknown shapes become `custom` events.
    pub fn parse(self, v: &Value) -> Vec<TurnEvent> {
        self.parse_value(v.clone())
    }

    /// [`parse`](Runtime::parse), consuming the value (no copy of it is made).
    pub fn parse_value(self, v: Value) -> Vec<TurnEvent> {
        match self {
            Runtime::Claude => parse_claude(v),
            Runtime::Codex => parse_codex(v),
        }
    }
}

fn take_blocks(v: &mut Value) -> Vec<Value> {
    match v.pointer_mut("/message/content") {
        Some(Value::Array(a)) => std::mem::take(a),
        _ => Vec::new(),
    }
}

fn parse_claude(mut v: Value) -> Vec<TurnEvent> {
    let ty = s(&v, "type").unwrap_or_default();
    let sid = s(&v, "session_id");
    let mut out = Vec::new();
    match ty.as_str() {
        "system" if v.get("subtype").and_then(Value::as_str) == Some("init") => {
            out.push(TurnEvent::new(EventKind::SessionStart, "system", v));
        }
        "assistant" => {
            let blocks = take_blocks(&mut v);
            let n = blocks.len();
            for b in blocks {
                match b.get("type").and_then(Value::as_str) {
                    Some("tool_use") => {
                        let name = s(&b, "name");
                        let args = b.get("input").cloned();
                        let mut e = TurnEvent::new(EventKind::ToolStart, "assistant", b);
                        e.tool_name = name;
                        e.tool_args = args;
                        out.push(e);
                    }
                    Some("text") => {
                        let text = s(&b, "text");
                        let mut e = TurnEvent::new(EventKind::Progress, "assistant", b);
                        e.text = text;
                        out.push(e);
                    }
                    _ => out.push(TurnEvent::new(EventKind::Progress, "assistant", b)),
                }
            }
            if n == 0 {
                out.push(TurnEvent::new(EventKind::Progress, "assistant", v));
            }
        }
        "user" => {
            let is_results = v
                .pointer("/message/content")
                .and_then(Value::as_array)
                .is_some_and(|a| {
                    a.iter()
                        .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                });
            if is_results {
                for b in take_blocks(&mut v) {
                    if b.get("type").and_then(Value::as_str) == Some("tool_result") {
                        let err = b.get("is_error").and_then(Value::as_bool) == Some(true);
                        let mut e = TurnEvent::new(EventKind::ToolEnd, "user", b);
                        e.is_error = Some(err);
                        out.push(e);
                    }
                }
            } else {
                out.push(TurnEvent::new(EventKind::Custom, "user", v));
            }
        }
        "result" => {
            // The trap: an API failure arrives as `subtype: success` with `is_error: true`.
            let is_error = v.get("is_error").and_then(Value::as_bool) == Some(true)
                || v.get("subtype").and_then(Value::as_str) != Some("success");
            let text = s(&v, "result");
            let dur = v
                .get("duration_ms")
                .and_then(Value::as_f64)
                .map(|d| d as i64);
            let mut e = TurnEvent::new(EventKind::Result, "result", v);
            e.is_error = Some(is_error);
            e.text = text;
            e.duration_ms = dur;
            if is_error {
                e.level = "error".into();
            }
            out.push(e);
        }
        "error" => {
            let text = s(&v, "message").or_else(|| {
                v.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            let mut e = TurnEvent::new(EventKind::Error, "error", v);
            e.text = text;
            out.push(e);
        }
        _ => out.push(TurnEvent::new(EventKind::Custom, ty, v)),
    }
    for e in &mut out {
        e.session_id = sid.clone();
    }
    out
}

fn parse_codex(v: Value) -> Vec<TurnEvent> {
    let v = &v;
    let ty = s(v, "type").unwrap_or_default();
    let e = match ty.as_str() {
        "thread.started" => {
            let mut e = TurnEvent::new(EventKind::SessionStart, ty.clone(), v.clone());
            e.session_id = s(v, "thread_id");
            e
        }
        "turn.completed" => {
            let mut e = TurnEvent::new(EventKind::Result, ty.clone(), v.clone());
            e.is_error = Some(false);
            e
        }
        "turn.failed" => {
            let mut e = TurnEvent::new(EventKind::Result, ty.clone(), v.clone());
            e.is_error = Some(true);
            e.level = "error".into();
            e.text = v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned);
            e
        }
        "error" => {
            let mut e = TurnEvent::new(EventKind::Error, ty.clone(), v.clone());
            e.text = s(v, "message");
            e
        }
        "item.started" | "item.completed" => {
            let item = v.get("item").cloned().unwrap_or(Value::Null);
            let it = s(&item, "type").unwrap_or_default();
            let started = ty == "item.started";
            match it.as_str() {
                "command_execution" | "mcp_tool_call" | "file_change" | "web_search" => {
                    let kind = if started {
                        EventKind::ToolStart
                    } else {
                        EventKind::ToolEnd
                    };
                    let mut e = TurnEvent::new(kind, ty.clone(), v.clone());
                    e.tool_name = Some(match it.as_str() {
                        "mcp_tool_call" => s(&item, "tool").unwrap_or(it.clone()),
                        _ => it.clone(),
                    });
                    if started {
                        e.tool_args = item
                            .get("command")
                            .or_else(|| item.get("arguments"))
                            .or_else(|| item.get("query"))
                            .or_else(|| item.get("changes"))
                            .cloned();
                    } else {
                        let failed = item.get("status").and_then(Value::as_str) == Some("failed")
                            || item
                                .get("exit_code")
                                .and_then(Value::as_i64)
                                .is_some_and(|c| c != 0);
                        e.is_error = Some(failed);
                    }
                    e
                }
                "agent_message" | "reasoning" if !started => {
                    let mut e = TurnEvent::new(EventKind::Progress, ty.clone(), v.clone());
                    e.text = s(&item, "text");
                    e
                }
                "error" => {
                    let mut e = TurnEvent::new(EventKind::Error, ty.clone(), v.clone());
                    e.text = s(&item, "message");
                    e
                }
                _ => TurnEvent::new(EventKind::Custom, ty.clone(), v.clone()),
            }
        }
        _ => TurnEvent::new(EventKind::Custom, ty.clone(), v.clone()),
    };
    vec![e]
}
