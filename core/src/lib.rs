//! keel-core: the reliability core for agent hosts.
//!
//! keel gives an agent host the jobs it keeps getting wrong by hand, as one pure-Rust
//! core exported to Rust, C (`libkeel.a` + `keel.h`) and Node (a napi-rs addon):
//!
//! * [`redact`] — scrub every secret (known values, their encoded forms, credential
//!   shapes) from text and byte streams.
//! * [`process`] — spawn children as process-group leaders, terminate whole trees
//!   (SIGTERM → grace → SIGKILL), bounded pipe draining, pid records that survive pid
//!   reuse.
//! * [`jobs`] — a job registry with inactivity / max-duration / tool-silence watchdogs,
//!   and supervised commands.
//! * [`credentials`] — OS keyring as the primary store, an atomic 0600 file mirror a
//!   daemon can read, and one resolver that says where its answer came from.
//! * [`fsx`] — atomic durable 0600 writes, private directories, advisory locks,
//!   OpenSSH-style permission checks and locked JSON state files.
//! * [`supervisor`] — keep an ephemeral worker registered and running forever (backoff,
//!   shutdown, status, systemd notify, pools, the actions/runner cycle, service files).
//! * [`services`] — managed long-running services (minions' managed-spawn): spec
//!   validator, detached spawn, healthchecks, TTL sweep, the `managed-processes.json` state.
//! * [`exit_cause`] — a detached watcher outside a service that records its dirty
//!   death (`ev=server-exit` + a forensics snapshot) and stays silent on a deliberate stop.
//! * [`time`] — injectable clocks and sleeps, so time-dependent behaviour is tested
//!   deterministically.
//!
//! * [`options`] — one serde type per option set, parsed with errors that name the field.
//! * [`codes`] — the one vocabulary of stable `KEEL_…` error codes every surface reports.
//!
//! Every capability lives in its own module; the C, Node and CLI surfaces are thin
//! wrappers over these modules.
#![deny(missing_docs)]
// `unsafe` is confined to the OS boundary of `process` (signals, pidfds, pre-exec
// hooks) and the redactor's one SSE2 kernel, where each block is allowed explicitly
// and carries a SAFETY note.
#![deny(unsafe_code)]

pub mod codes;
pub mod credentials;
pub mod exit_cause;
pub mod fsx;
pub mod jobs;
pub mod options;
pub mod process;
pub mod redact;
pub mod services;
pub mod supervisor;
pub mod time;
pub mod turns;

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
