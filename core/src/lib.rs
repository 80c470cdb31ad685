pub mod fsx;
pub mod redact;
