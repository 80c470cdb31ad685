//! The server's error enum.

use std::net::SocketAddr;

use keel_core::codes;
use keel_core::jobs::JobsError;
use keel_core::options::OptionsError;

/// Errors from building, binding or running the server (a request's errors are HTTP
/// answers, not these).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The options are invalid (the message names the field).
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// A job kind's registry could not be built.
    #[error("job kind `{kind}`: {source}")]
    Kind {
        /// The kind.
        kind: String,
        /// Why.
        source: JobsError,
    },
    /// Two kinds were registered under one name, or a name is unusable.
    #[error("job kind name `{0}` is already registered or not a simple name")]
    KindName(String),
    /// The listening address could not be bound.
    #[error("could not listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another I/O failure (signal handlers, the listener).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ServerError {
    /// The stable `KEEL_…` code.
    pub fn code(&self) -> &'static str {
        match self {
            ServerError::Options(e) => e.code(),
            ServerError::Kind { source, .. } => match source {
                JobsError::NoRuntime => codes::NO_RUNTIME,
                _ => codes::INVALID_OPTION,
            },
            ServerError::KindName(_) => codes::INVALID_ARGUMENT,
            ServerError::Bind { .. } => codes::SERVER_BIND,
            ServerError::Io { .. } => codes::IO,
        }
    }
}

/// One of each variant, for the code vocabulary test.
#[doc(hidden)]
pub fn sample_codes() -> Vec<&'static str> {
    let addr: SocketAddr = ([127, 0, 0, 1], 1).into();
    let io = || std::io::Error::other("x");
    [
        ServerError::Options(OptionsError::range("x", "y")),
        ServerError::Kind {
            kind: "x".into(),
            source: JobsError::NoRuntime,
        },
        ServerError::KindName("x".into()),
        ServerError::Bind { addr, source: io() },
        ServerError::Io {
            what: "x",
            source: io(),
        },
    ]
    .iter()
    .map(ServerError::code)
    .collect()
}
