//! keel-node: the napi-rs v3 addon exposing keel-core to Node.js.
//!
//! One file per capability (`redact.rs`, …), each thin: argument conversion
//! ([`args`]), error mapping ([`error`]) and handle lifetime. All behaviour lives
//! in `keel-core`. The JavaScript entry points are `keel.js` / `keel.mjs`, which
//! re-export the generated `index.js` and add the pieces written in JavaScript
//! (`createRedactStream`).
#![deny(clippy::all)]

pub mod args;
pub mod credentials;
pub mod error;
pub mod exit_cause;
pub mod jobs;
pub mod redact;
pub mod server;
pub mod services;
pub mod supervisor;
pub mod tool_silence;
pub mod turns;
