//! keel-core: the reliability core for agent hosts.
//!
//! keel gives an agent host the jobs it keeps getting wrong by hand, as one pure-Rust
//! core exported to Rust, C (`libkeel.a` + `keel.h`) and Node (a napi-rs addon):
//!
//! * [`redact`] — scrub every secret (known values, their encoded forms, credential
//!   shapes) from text and byte streams.
//!
//! Every capability lives in its own module; the C, Node and CLI surfaces are thin
//! wrappers over these modules.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod redact;
