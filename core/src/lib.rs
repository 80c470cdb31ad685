pub mod jobs;
pub mod process;
pub mod redact;
pub mod time;
