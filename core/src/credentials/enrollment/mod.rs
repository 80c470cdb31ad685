//! `EnrollmentStore`: the keyring-first, file-mirror-second resolver, split by concern:
//! the record and its answers ([`record`]), the options every surface parses
//! ([`options`]), the store itself ([`store`]) and its doctor report ([`diagnosis`]).

mod diagnosis;
mod options;
mod record;
mod store;

pub use diagnosis::*;
pub use options::*;
pub use record::*;
pub use store::*;
