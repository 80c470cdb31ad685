pub mod credentials;
pub mod fsx;
pub mod redact;
