//! Managed services: long-running processes (dev servers, databases) an agent describes
//! in a `managed-spawn.json` sidecar and the host owns — validated, spawned detached in
//! their own process tree, healthchecked, swept at their TTL, listed.
//!
//! Compatible with minions' `engine/processes/managed-spawn.js` field for field: the
//! spec and its validator ([`validate_record`], the same stable reason strings), the
//! state file `managed-processes.json` ([`MANAGED_PROCESSES_STATE_FILE`], the same record
//! fields; keel adds a `keel` object with the PID-reuse-safe identity and the health
//! state), the list ETag ([`etag`], the same value minions computes) and the prompt
//! block ([`live_block`]).
//!
//! **Read API** (never spawns, probes or signals; for servers and metrics):
//! [`list`] → [`ServiceView`]s (the minions dashboard's API shape + `health` /
//! `last_error`), [`etag`], [`health_counts`].
//!
//! ```
//! use keel_core::services::{self, ServicesOptions, ValidateOptions};
//!
//! let file = serde_json::json!({"specs": [{
//!     "name": "web", "cmd": "python3", "args": ["-m", "http.server", "8765"],
//!     "ports": [8765],
//!     "healthcheck": {"type": "http", "url": "http://127.0.0.1:8765/", "expect_status": 200, "timeout_s": 10}
//! }]});
//! let v = services::validate_record(&file, &ServicesOptions::default(), &ValidateOptions::default());
//! assert!(v.ok, "{:?}", v.reason);
//! assert_eq!(v.value.unwrap()["specs"][0]["ttl_minutes"], 720);
//!
//! let dir = tempfile::tempdir().unwrap();
//! assert!(services::list(dir.path(), None).unwrap().is_empty());
//! ```

mod error;
mod health;
pub(crate) mod js;
mod lifecycle;
mod options;
mod spec;
mod state;
mod view;

pub(crate) use error::sample_codes;
pub use error::ServicesError;
pub use health::{probe_timeout, run_healthcheck, HealthTracker, ProbeResult, ESSENTIAL_ENV};
pub use lifecycle::{
    Owner, Probed, ProjectRemoval, ReconcileReport, Removal, Services, SweepStats, UpOutcome,
    NO_HEALTHCHECK,
};
pub use options::*;
pub use spec::{
    is_kebab, specs_of, validate_name, validate_record, validate_text, Healthcheck, ManagedSpec,
    ProjectDeny, ValidateOptions, Validation, HEALTHCHECK_TYPES, INVALID_WORKDIR_REASON_PREFIX,
    MANAGED_SPAWN_FILENAME,
};
pub use state::{
    Health, KeelFields, ManagedRecord, MANAGED_LOGS_DIR, MANAGED_PROCESSES_STATE_FILE,
    MAX_STATE_FILE_BYTES,
};
pub use view::{etag, health_counts, list, live_block, records, HealthCounts, ServiceView};
