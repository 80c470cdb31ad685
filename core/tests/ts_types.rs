//! The TypeScript types of the option and view shapes, generated from core's serde types with
//! ts-rs into `node/types.d.ts` (which the generated `node/index.d.ts` imports). Run with
//! `--features ts`; `KEEL_UPDATE_TYPES=1` rewrites the file, otherwise the test fails
//! when the committed file is stale (bindings-tests/node/check-generated.sh runs it).
#![cfg(feature = "ts")]

use keel_core::credentials::{
    ClearReport, CredentialFileOptions, CredentialSource, Diagnosis, EnrollmentRecord,
    EnrollmentStoreOptions, FieldPresence, JwtDiagnosis, JwtInfo, KeyringChoice, KeyringDiagnosis,
    MirrorDiagnosis, Problem, Severity, StoreChoice, WriteReport,
};
use keel_core::exit_cause::{
    DisarmOutcome, DisarmState, EnsureOutcome, EnsureState, ExitCauseOptions, ExitLogLine,
    WatcherStatus,
};
use keel_core::jobs::{
    CallMetric, ColdStart, CommandOptions, CommandResult, Dropped, FailureCause, JobState, JobView,
    Progress, RegistryOptions, ToolSpan,
};
use keel_core::process::{ExitClass, KillReason, Survivor};
use keel_core::redact::{CustomRuleOptions, RedactorOptions};
use keel_core::services::{
    Health, KeelFields, ManagedRecord, Owner, ProbeResult, Probed, ProjectDeny, ProjectRemoval,
    ReconcileReport, Removal, ServiceView, ServicesOptions, SweepStats, UpOutcome, ValidateOptions,
    Validation,
};
use keel_core::supervisor::{
    ActionsRunnerOptions, BurstLimit, RunFailurePolicy, RunRecord, SlotSnapshot, Status,
    StatusEvent, StatusSnapshot, SupervisorOptions,
};
use keel_core::turns::{
    store::Session, AgentState, EventKind, RecoveredTurn, Runtime, TurnEvent, TurnOptions,
    TurnResult,
};
use ts_rs::{Config, TS};

fn decl<T: TS>(cfg: &Config) -> String {
    format!("export {}\n", T::decl(cfg))
}

#[test]
fn node_types_are_fresh() {
    // Every integer crosses as a JSON number (epoch milliseconds, counts).
    let cfg = Config::default().with_large_int("number");
    let mut out = String::from(
        "// Generated from keel-core's serde option types by core/tests/ts_types.rs (ts-rs).\n\
         // Do not edit: run `KEEL_UPDATE_TYPES=1 cargo test -p agent-keel-core --features ts --test ts_types`.\n\n",
    );
    for d in [
        decl::<RedactorOptions>(&cfg),
        decl::<CustomRuleOptions>(&cfg),
        decl::<EnrollmentStoreOptions>(&cfg),
        decl::<KeyringChoice>(&cfg),
        decl::<StoreChoice>(&cfg),
        decl::<CredentialFileOptions>(&cfg),
        decl::<RegistryOptions>(&cfg),
        decl::<CommandOptions>(&cfg),
        // Job views: `JobRegistry.get` / `list` and `runCommand`'s result.
        decl::<serde_json::Value>(&cfg),
        decl::<JobState>(&cfg),
        decl::<FailureCause>(&cfg),
        decl::<Progress>(&cfg),
        decl::<ToolSpan>(&cfg),
        decl::<CallMetric>(&cfg),
        decl::<Dropped>(&cfg),
        decl::<ColdStart>(&cfg),
        decl::<JobView<serde_json::Value>>(&cfg),
        decl::<Survivor>(&cfg),
        decl::<CommandResult>(&cfg),
        // Views: what the calls answer.
        decl::<EnrollmentRecord>(&cfg),
        decl::<JwtInfo>(&cfg),
        decl::<CredentialSource>(&cfg),
        // `Resolved::to_flat_json`: the answer's fields plus where it came from.
        "export type Resolved<T> = T & { source: CredentialSource, notes: Array<string> };\n"
            .to_owned(),
        decl::<WriteReport>(&cfg),
        decl::<ClearReport>(&cfg),
        decl::<Severity>(&cfg),
        decl::<Problem>(&cfg),
        decl::<FieldPresence>(&cfg),
        decl::<KeyringDiagnosis>(&cfg),
        decl::<MirrorDiagnosis>(&cfg),
        decl::<JwtDiagnosis>(&cfg),
        decl::<Diagnosis>(&cfg),
        // The supervisor: options (every field optional on input: `Partial<…>`) and views.
        decl::<SupervisorOptions>(&cfg),
        decl::<RunFailurePolicy>(&cfg),
        decl::<BurstLimit>(&cfg),
        decl::<ActionsRunnerOptions>(&cfg),
        decl::<Status>(&cfg),
        decl::<StatusEvent>(&cfg),
        decl::<RunRecord>(&cfg),
        decl::<SlotSnapshot>(&cfg),
        decl::<StatusSnapshot>(&cfg),
        // The exit-cause recorder: options and views.
        decl::<ExitCauseOptions>(&cfg),
        decl::<EnsureState>(&cfg),
        decl::<EnsureOutcome>(&cfg),
        decl::<DisarmState>(&cfg),
        decl::<DisarmOutcome>(&cfg),
        decl::<WatcherStatus>(&cfg),
        decl::<ExitLogLine>(&cfg),
        // The turn runner: options (defaulted fields optional) and views.
        decl::<TurnOptions>(&cfg),
        decl::<Runtime>(&cfg),
        decl::<AgentState>(&cfg),
        decl::<EventKind>(&cfg),
        decl::<TurnEvent>(&cfg),
        decl::<KillReason>(&cfg),
        decl::<ExitClass>(&cfg),
        decl::<RecoveredTurn>(&cfg),
        decl::<TurnResult>(&cfg),
        decl::<Session>(&cfg),
        // Managed services: options and views (minions' snake_case record fields).
        decl::<ServicesOptions>(&cfg),
        decl::<ProjectDeny>(&cfg),
        decl::<ValidateOptions>(&cfg),
        decl::<Validation>(&cfg),
        decl::<Owner>(&cfg),
        decl::<Health>(&cfg),
        decl::<KeelFields>(&cfg),
        decl::<ManagedRecord>(&cfg),
        decl::<ServiceView>(&cfg),
        decl::<ProbeResult>(&cfg),
        decl::<SweepStats>(&cfg),
        decl::<Probed>(&cfg),
        decl::<ReconcileReport>(&cfg),
        decl::<ProjectRemoval>(&cfg),
        decl::<Removal>(&cfg),
        decl::<UpOutcome>(&cfg),
    ] {
        out.push_str(&d);
        out.push('\n');
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/types.d.ts");
    if std::env::var_os("KEEL_UPDATE_TYPES").is_some() {
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == out,
        "node/types.d.ts is stale: run KEEL_UPDATE_TYPES=1 cargo test --release -p agent-keel-core --features ts --test ts_types"
    );
}
