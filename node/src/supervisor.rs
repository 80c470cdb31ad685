//! The supervisor's service helpers for Node: `generateLaunchdPlist`,
//! `generateSystemdUnit`, `parseLaunchctlPrint`, `parseSystemctlShow`, `doctorCheck`,
//! over `keel_core::supervisor::service`. Thin: options go through core's serde types,
//! results come back as core's camelCase JSON.

use keel_core::supervisor::service as core;
use keel_core::supervisor::SupervisorError;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::args;
use crate::error::{guard, KeelError, Result};

fn err(e: SupervisorError) -> KeelError {
    KeelError::new(e.code(), e.to_string())
}

/// `JSON.parse(text)`: core's view as a plain JS object.
fn js_json<'e>(env: &'e Env, value: serde_json::Result<serde_json::Value>) -> Result<Unknown<'e>> {
    let text = value
        .map(|v| v.to_string())
        .map_err(|e| KeelError::new(keel_core::codes::ENCODE, e.to_string()))?;
    let json: Object<'e> = env.get_global()?.get_named_property("JSON")?;
    let parse: Function<'e, String, Unknown<'e>> = json.get_named_property("parse")?;
    Ok(parse.call(text)?)
}

/// A launchd property list for the supervisor: KeepAlive, RunAtLoad, ThrottleInterval,
/// `PATH=/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`, HOME and
/// UserName in system mode, log paths; every value XML-escaped.
#[napi(
    ts_args_type = "options: { programArguments: string[]; label?: string; mode?: 'user' | 'system'; workingDirectory?: string; stdoutPath?: string; stderrPath?: string; logDir?: string; userName?: string; homeDir?: string; throttleIntervalMs?: number; exitTimeoutMs?: number; environment?: Record<string, string> }",
    ts_return_type = "string"
)]
pub fn generate_launchd_plist(env: &Env, options: Unknown) -> napi::Result<String> {
    guard(env, || {
        let o: core::LaunchdPlistOptions = args::options_as("options", Some(options), &[])?;
        core::generate_launchd_plist(&o).map_err(err)
    })
}

/// A systemd unit for the supervisor: Type=notify + WatchdogSec, Restart=always,
/// RestartSec, RestartSteps/RestartMaxDelaySec, KillMode=control-group, TimeoutStopSec.
#[napi(
    ts_args_type = "options: { execStart: string[]; description?: string; mode?: 'user' | 'system'; user?: string; workingDirectory?: string; environment?: Record<string, string>; restartSecMs?: number; restartSteps?: number; restartMaxDelayMs?: number; timeoutStopMs?: number; watchdogMs?: number | null }",
    ts_return_type = "string"
)]
pub fn generate_systemd_unit(env: &Env, options: Unknown) -> napi::Result<String> {
    guard(env, || {
        let o: core::SystemdUnitOptions = args::options_as("options", Some(options), &[])?;
        core::generate_systemd_unit(&o).map_err(err)
    })
}

/// Parse `launchctl print <domain>/<label>` output into `ServiceHealth` (the top-level
/// `state`, multi-word `spawn scheduled` included; `last exit code`; `pid`).
#[napi(
    ts_args_type = "output: string",
    ts_return_type = "{ loaded: boolean; state: 'running' | 'waiting' | 'spawn-scheduled' | 'starting' | 'stopped' | 'failed' | 'unknown'; rawState: string | null; lastExitCode: number | null; lastSignal: number | null; pid: number | null; manager: 'launchd' | 'systemd' }"
)]
pub fn parse_launchctl_print<'e>(env: &'e Env, output: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let text = args::string("output", output)?;
        js_json(
            env,
            serde_json::to_value(core::parse_launchctl_print(&text)),
        )
    })
}

/// Parse `systemctl show UNIT` output into `ServiceHealth`.
#[napi(
    ts_args_type = "output: string",
    ts_return_type = "{ loaded: boolean; state: 'running' | 'waiting' | 'spawn-scheduled' | 'starting' | 'stopped' | 'failed' | 'unknown'; rawState: string | null; lastExitCode: number | null; lastSignal: number | null; pid: number | null; manager: 'launchd' | 'systemd' }"
)]
pub fn parse_systemctl_show<'e>(env: &'e Env, output: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let text = args::string("output", output)?;
        js_json(env, serde_json::to_value(core::parse_systemctl_show(&text)))
    })
}

/// The doctor verdict on a `ServiceHealth`: `{ name, status: 'pass' | 'warn' | 'fail',
/// message, fix }` (a non-zero last exit code fails, `spawn scheduled` warns).
#[napi(
    ts_args_type = "health: { loaded: boolean; state: 'running' | 'waiting' | 'spawn-scheduled' | 'starting' | 'stopped' | 'failed' | 'unknown'; rawState: string | null; lastExitCode: number | null; lastSignal: number | null; pid: number | null; manager: 'launchd' | 'systemd' }",
    ts_return_type = "{ name: string; status: 'pass' | 'warn' | 'fail'; message: string; fix: string | null }"
)]
pub fn doctor_check<'e>(env: &'e Env, health: Unknown<'e>) -> napi::Result<Unknown<'e>> {
    guard(env, || {
        let h: core::ServiceHealth = args::options_as("health", Some(health), &[])?;
        js_json(env, serde_json::to_value(core::doctor_check(&h)))
    })
}
