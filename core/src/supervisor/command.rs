//! A cycle that runs one command per cycle (`keel supervise command`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{BoxFuture, Cycle, CycleContext, CycleError, RunOutcome, SupervisorError};
use crate::process::{Command, OutputMode};

/// Options of a [`CommandCycle`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct CommandCycleOptions {
    /// The command, an argv array (never a shell string).
    pub argv: Vec<String>,
    /// Working directory (default: the slot's working directory, else inherited).
    pub cwd: Option<String>,
    /// Extra environment for the command.
    pub env: BTreeMap<String, String>,
}

/// Registration is a no-op; each run spawns the command as a process-group leader
/// (stdout/stderr inherited) and waits for it; on shutdown its whole tree is stopped.
///
/// ```
/// use keel_core::supervisor::{CommandCycle, CommandCycleOptions};
/// let c = CommandCycle::new(CommandCycleOptions { argv: vec!["true".into()], ..Default::default() })?;
/// assert_eq!(c.options().argv, ["true"]);
/// # Ok::<(), keel_core::supervisor::SupervisorError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CommandCycle {
    options: CommandCycleOptions,
}

impl CommandCycle {
    /// A cycle over this command; `argv` must not be empty.
    pub fn new(options: CommandCycleOptions) -> Result<Self, SupervisorError> {
        if options.argv.first().map(|p| p.is_empty()).unwrap_or(true) {
            return Err(SupervisorError::field("argv", "must name a program"));
        }
        Ok(CommandCycle { options })
    }

    /// The options.
    pub fn options(&self) -> &CommandCycleOptions {
        &self.options
    }
}

impl Cycle for CommandCycle {
    type Registration = ();

    fn register<'a>(&'a self, _ctx: &'a CycleContext) -> BoxFuture<'a, Result<(), CycleError>> {
        Box::pin(async { Ok(()) })
    }

    fn run<'a>(
        &'a self,
        _reg: (),
        ctx: &'a CycleContext,
    ) -> BoxFuture<'a, Result<RunOutcome, CycleError>> {
        Box::pin(async move {
            let mut cmd = Command::new(&self.options.argv)
                .stdout(OutputMode::Inherit)
                .stderr(OutputMode::Inherit);
            if let Some(dir) = &self.options.cwd {
                cmd = cmd.cwd(dir);
            } else if let Some(dir) = ctx.work_dir() {
                cmd = cmd.cwd(dir);
            }
            for (k, v) in &self.options.env {
                cmd = cmd.env(k, v);
            }
            let mut child = cmd.spawn()?;
            ctx.run_child(&mut child).await
        })
    }
}
