//! Managed services: `keel_services_*` over `keel_core::services` — validate a
//! minions-compatible `managed-spawn.json` record, bring its services up detached in
//! their own process trees, list them (with health and the list's ETag), sweep dead
//! and TTL-expired ones, restart and remove them, over one state directory
//! (`<dir>/managed-processes.json`, `<dir>/managed-logs/`).
//!
//! Threads. A `keel_services` owns one keel thread running a tokio runtime; the
//! functions that spawn, probe or signal (`_up`, `_restart`, `_sweep`, `_remove`,
//! `_remove_project`) run there and block the calling thread until done. Every function
//! may be called on one handle from any thread at once: the state file is locked for
//! each change (an advisory lock, atomic replace), never while a process is signalled.
//! The services themselves are detached: they outlive the handle and the program, and
//! stop only by TTL (`_sweep`), `_remove` or `_remove_project`.

use std::ffi::c_char;

use keel_core::jobs::JobRuntime;
use keel_core::services::{
    Owner, ServiceView, Services, ServicesError, ServicesOptions, ValidateOptions,
};
use serde::Serialize;

use crate::args::{str_in, Out};
use crate::error::{boundary, keel_result, quiet_boundary, Error, Result};
use crate::handle::Registry;
use crate::json;
use crate::string::{keel_string, new_string};

/// Managed services over one state directory. Made by `keel_services_new`, released
/// by `keel_services_free`. Thread-safe: any function may be called on the same handle
/// from any thread at once.
pub struct keel_services {
    svc: Services,
    runtime: JobRuntime,
}

static SERVICES: Registry<keel_services> = Registry::new("keel_services");

fn coded(e: ServicesError) -> Error {
    Error::coded(e.code(), e.to_string())
}

fn to_json<T: Serialize>(v: &T) -> Result<*mut keel_string> {
    let bytes =
        serde_json::to_vec(v).map_err(|e| Error::new(keel_result::KEEL_ENCODE, e.to_string()))?;
    Ok(new_string(bytes))
}

/// Validate options: `(ptr, len)` JSON text, empty or `null` for the defaults.
///
/// # Safety
/// As `str_in`.
unsafe fn validate_options(text: *const c_char, len: usize) -> Result<ValidateOptions> {
    let text = str_in(text, len, "validate_options_json")?;
    json::options(text, "validate_options_json", "validateOptions")
}

/// An optional `(ptr, len)` string: NULL / empty → `None`.
///
/// # Safety
/// As `str_in`.
unsafe fn opt_str<'a>(ptr: *const c_char, len: usize, name: &str) -> Result<Option<&'a str>> {
    let s = str_in(ptr, len, name)?;
    Ok((!s.is_empty()).then_some(s))
}

/// Make managed services over `state_dir` (created 0700 on first write) with
/// `options_json`, a `ServicesOptions` object — minions' `managedSpawn` limits plus
/// keel's: `{"allowedExecutables":["sleep","python3"],"ttlMinutesDefault":720,
/// "requireGitWorkdir":false,…}`; empty text or `null` gives every default. On success
/// `*out` is a new handle; release it with `keel_services_free` (the services keep
/// running). Starts one keel thread (the runtime of `_up`, `_restart`, `_sweep`,
/// `_remove`).
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT` (an
/// empty `state_dir`), `KEEL_INVALID_JSON` (syntax, type, unknown or missing field),
/// `KEEL_INVALID_OPTION` (a value out of range; the message names the field),
/// `KEEL_IO` (the thread could not start).
///
/// # Safety
/// The strings must point to their lengths of readable bytes (a pointer may be NULL
/// when its length is 0); `out` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_services_new(
    state_dir: *const c_char,
    state_dir_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out: *mut *mut keel_services,
) -> keel_result {
    boundary("keel_services_new", || {
        let out = Out::new(out, "out")?;
        let dir = str_in(state_dir, state_dir_len, "state_dir")?;
        if dir.is_empty() {
            return Err(Error::invalid_argument("state_dir is empty"));
        }
        let text = str_in(options_json, options_len, "options_json")?;
        let options: ServicesOptions = json::options(text, "options_json", "options")?;
        let svc = Services::new(dir, options).map_err(coded)?;
        let runtime = JobRuntime::new("keel-services").map_err(|e| {
            Error::new(
                keel_result::KEEL_IO,
                format!("could not start the services runtime thread ({e})"),
            )
        })?;
        out.write(SERVICES.insert(keel_services { svc, runtime }));
        Ok(())
    })
}

/// Release a handle made by `keel_services_new` and join its thread. NULL-safe and
/// idempotent (a pointer that is not a live handle is ignored). The services keep
/// running. A call in progress on another thread finishes first.
#[no_mangle]
pub extern "C" fn keel_services_free(services: *mut keel_services) {
    quiet_boundary(|| SERVICES.remove(services));
}

/// Validate `spec_json`, the text of a `managed-spawn.json` record (`{"specs":[…]}`),
/// against the handle's limits and `validate_options_json` (a `ValidateOptions`
/// object: `{"requireGitWorkdir":false,"allowedCwdRoot":"/work","extraDenyPatterns":[]}`,
/// empty for the defaults). Neither spawns nor touches the state dir.
///
/// A refused spec is not an error: the call returns `KEEL_OK` and `*result_json` is the
/// reference validator's result, `{"ok":false,"reason":"spec[0]: name-not-kebab-case (…)"}`
/// — the same stable reason string as core, the CLI and Node give, redacted — or
/// `{"ok":true,"value":{…the normalized record…}}`. Text that is not JSON is such a
/// refusal too. Release it with `keel_string_free`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT` (a dead
/// handle), `KEEL_INVALID_JSON` / `KEEL_INVALID_OPTION` (`validate_options_json`).
///
/// # Safety
/// The strings must point to their lengths of readable bytes; `result_json` must be
/// valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_services_validate(
    services: *const keel_services,
    spec_json: *const c_char,
    spec_len: usize,
    validate_options_json: *const c_char,
    validate_options_len: usize,
    result_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_services_validate", || {
        let out = Out::new(result_json, "result_json")?;
        let s = SERVICES.get(services, "services")?;
        let text = str_in(spec_json, spec_len, "spec_json")?;
        let opts = validate_options(validate_options_json, validate_options_len)?;
        let v = s.svc.validate_text(text, &opts);
        out.write(to_json(&v)?);
        Ok(())
    })
}

/// Validate `spec_json` (as `keel_services_validate`), then spawn every spec detached in
/// its own process tree (stdio to `<dir>/managed-logs/<name>.log`, env from the spec
/// plus PATH and platform essentials only), record it, and wait for each one's first
/// health (bounded by its healthcheck's `timeout_s`). A spec that fails its first
/// healthcheck is killed and removed; the others stay. `owner_json` is an `Owner`
/// object recorded on each service, `{"owner_project":"p","owner_agent":"a",
/// "owner_wi":"W-1"}` (minions' field names), empty for none.
///
/// `*outcomes_json` is `[{"name","pid","healthy","error","logPath"}]`; release it with
/// `keel_string_free`. Blocks the calling thread.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_SERVICE_SPEC_INVALID` (the message carries the validator's reason),
/// `KEEL_INVALID_JSON` / `KEEL_INVALID_OPTION` (`owner_json`, `validate_options_json`),
/// `KEEL_SPAWN_FAILED`, `KEEL_MALFORMED_STATE` / `KEEL_INSECURE_FILE` /
/// `KEEL_LOCK_TIMEOUT` (the state file), `KEEL_IO`.
///
/// # Safety
/// The strings must point to their lengths of readable bytes; `outcomes_json` must be
/// valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_services_up(
    services: *const keel_services,
    spec_json: *const c_char,
    spec_len: usize,
    validate_options_json: *const c_char,
    validate_options_len: usize,
    owner_json: *const c_char,
    owner_len: usize,
    outcomes_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_services_up", || {
        let out = Out::new(outcomes_json, "outcomes_json")?;
        let s = SERVICES.get(services, "services")?;
        let text = str_in(spec_json, spec_len, "spec_json")?;
        let opts = validate_options(validate_options_json, validate_options_len)?;
        let owner_text = str_in(owner_json, owner_len, "owner_json")?;
        let owner: Owner = json::options(owner_text, "owner_json", "owner")?;
        let v = s.svc.validate_text(text, &opts);
        let Some(value) = v.value.filter(|_| v.ok) else {
            return Err(coded(ServicesError::InvalidSpec {
                reason: v.reason.unwrap_or_default(),
            }));
        };
        let svc = s.svc.clone();
        let outcomes = s
            .runtime
            .block_on(async move { svc.up(&value, &owner).await })
            .map_err(coded)?;
        out.write(to_json(&outcomes)?);
        Ok(())
    })
}

#[derive(Serialize)]
struct ListView {
    etag: String,
    services: Vec<ServiceView>,
}

/// The services recorded in the state dir (of project `project` when it is not empty;
/// NULL with length 0 for all): `*list_json` is `{"etag":"…","services":[{"name",
/// "pid","alive","healthy","owner_agent","owner_wi","owner_project","attrs","ports",
/// "started_at","ttl_expires_at","last_health_at","log_path","cmd","args","cwd",
/// "healthcheck","health":"starting"|"healthy"|"unhealthy"|"dead","last_error",
/// "last_check_at"}]}` — minions' dashboard shape plus keel's health fields; `alive` is
/// checked PID-reuse-safely now, `etag` is the value minions computes for the list.
/// Never spawns, probes or signals. Release it with `keel_string_free`.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_MALFORMED_STATE`, `KEEL_INSECURE_FILE`, `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// `project` must point to `project_len` readable bytes (or be NULL with 0);
/// `list_json` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_services_list(
    services: *const keel_services,
    project: *const c_char,
    project_len: usize,
    list_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_services_list", || {
        let out = Out::new(list_json, "list_json")?;
        let s = SERVICES.get(services, "services")?;
        let project = opt_str(project, project_len, "project")?;
        let services = s.svc.list(project).map_err(coded)?;
        let etag = s.svc.etag(project).map_err(coded)?;
        out.write(to_json(&ListView { etag, services })?);
        Ok(())
    })
}

/// minions' `sweepManagedSpawn`: drop records whose process is gone (PID-reuse safe:
/// a pid now owned by another process is never signalled), kill TTL-expired services
/// (the whole tree, with grace), drop malformed entries, rotate logs. `*stats_json` is
/// `{"scanned","ttlExpired","deadDropped","killedPids","rotatedLogs","malformed"}`.
/// Blocks the calling thread.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_ARGUMENT`, `KEEL_MALFORMED_STATE`,
/// `KEEL_INSECURE_FILE`, `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// `stats_json` must be valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_services_sweep(
    services: *const keel_services,
    stats_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_services_sweep", || {
        let out = Out::new(stats_json, "stats_json")?;
        let s = SERVICES.get(services, "services")?;
        let svc = s.svc.clone();
        let stats = s
            .runtime
            .block_on(async move { svc.sweep().await })
            .map_err(coded)?;
        out.write(to_json(&stats)?);
        Ok(())
    })
}

/// minions' `restartManagedSpec(name)`: kill the old tree (if it is still provably this
/// service), spawn its saved spec again, replace the record (new pid, same TTL length),
/// then wait for its first health when it has a healthcheck. `*result_json` is
/// `{"name","pid","healthy","error","logPath"}` (`healthy:false` with `error` when the
/// probe failed, or `"spec.healthcheck missing"` when there is nothing to probe — the
/// service still runs; `Services::restart_and_wait` in core). Blocks the calling thread.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_SERVICE_NOT_FOUND`, `KEEL_SPAWN_FAILED`, `KEEL_MALFORMED_STATE`,
/// `KEEL_INSECURE_FILE`, `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// `name` must point to `name_len` readable bytes; `result_json` must be valid for
/// writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_services_restart(
    services: *const keel_services,
    name: *const c_char,
    name_len: usize,
    result_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_services_restart", || {
        let out = Out::new(result_json, "result_json")?;
        let s = SERVICES.get(services, "services")?;
        let name = str_in(name, name_len, "name")?.to_owned();
        let svc = s.svc.clone();
        let r = s
            .runtime
            .block_on(async move { svc.restart_and_wait(&name).await })
            .map_err(coded)?;
        out.write(to_json(&r)?);
        Ok(())
    })
}

/// minions' `removeManagedSpec(name)`: drop the record, then kill its tree (pinned to
/// the recorded identity: a reused pid is never signalled). `*result_json` is
/// `{"removed":bool,"killed":bool}`; `removed:false` means the tree survived the kill
/// and the record was put back with an expired TTL for the next sweep. Blocks the
/// calling thread.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT`,
/// `KEEL_SERVICE_NOT_FOUND`, `KEEL_MALFORMED_STATE`, `KEEL_INSECURE_FILE`,
/// `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// `name` must point to `name_len` readable bytes; `result_json` must be valid for
/// writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_services_remove(
    services: *const keel_services,
    name: *const c_char,
    name_len: usize,
    result_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_services_remove", || {
        let out = Out::new(result_json, "result_json")?;
        let s = SERVICES.get(services, "services")?;
        let name = str_in(name, name_len, "name")?.to_owned();
        let svc = s.svc.clone();
        let r = s
            .runtime
            .block_on(async move { svc.remove(&name).await })
            .map_err(coded)?;
        out.write(to_json(&r)?);
        Ok(())
    })
}

/// minions' `removeManagedSpecsForProject(project)`: drop every record of `project`,
/// kill their trees, unlink their logs (`.log` and `.log.1`). `*result_json` is
/// `{"killed","unlinked","scanned","removed"}`. Blocks the calling thread.
///
/// Errors: `KEEL_NULL_PARAMETER`, `KEEL_INVALID_UTF8`, `KEEL_INVALID_ARGUMENT` (a dead
/// handle or an empty project), `KEEL_MALFORMED_STATE`, `KEEL_INSECURE_FILE`,
/// `KEEL_LOCK_TIMEOUT`, `KEEL_IO`.
///
/// # Safety
/// `project` must point to `project_len` readable bytes; `result_json` must be valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn keel_services_remove_project(
    services: *const keel_services,
    project: *const c_char,
    project_len: usize,
    result_json: *mut *mut keel_string,
) -> keel_result {
    boundary("keel_services_remove_project", || {
        let out = Out::new(result_json, "result_json")?;
        let s = SERVICES.get(services, "services")?;
        let project = str_in(project, project_len, "project")?.to_owned();
        if project.is_empty() {
            return Err(Error::invalid_argument("project is empty"));
        }
        let svc = s.svc.clone();
        let r = s
            .runtime
            .block_on(async move { svc.remove_project(&project).await })
            .map_err(coded)?;
        out.write(to_json(&r)?);
        Ok(())
    })
}
