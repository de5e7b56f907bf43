//! The command line of `codeact data`: each command's options (clap) and the work between
//! reading its inputs and the lines it reports. The front end resolves the configuration,
//! builds the backends and prints; lines that stream as the work goes are handed to a sink
//! it supplies.

mod generate;
mod rows;
mod verify;

use std::path::{Path, PathBuf};

pub use generate::{generated, GenerateArgs, TaskChecks};
pub use rows::{ExportArgs, FilterArgs, FilterName, FormatArg, StatsArgs};
pub use verify::{VerifyArgs, VerifySummary};

use super::session::ToolsModule;
use super::tasks::{load_tasks, InstructTask};
use crate::EvalError;

/// Where a command's lines go, one at a time, as they are ready.
pub type LineSink<'a> = dyn Fn(&str) + Send + Sync + 'a;

/// The tasks of every file, in order.
fn load_task_files(paths: &[PathBuf]) -> Result<Vec<InstructTask>, EvalError> {
    let mut tasks = Vec::new();
    for path in paths {
        tasks.extend(load_tasks(path)?);
    }
    Ok(tasks)
}

/// The module `--tools FILE.py` names, read.
fn tools_module(path: Option<&Path>) -> Result<Option<ToolsModule>, EvalError> {
    path.map(|p| {
        let source = std::fs::read_to_string(p).map_err(EvalError::file("reading", p))?;
        Ok(ToolsModule { source })
    })
    .transpose()
}

/// Refuses an output path that is one of the inputs: it would be lost before it was read.
fn not_an_input(out: &Path, inputs: &[PathBuf]) -> Result<(), EvalError> {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    if let Some(o) = canon(out) {
        if inputs.iter().any(|i| canon(i).as_ref() == Some(&o)) {
            return Err(EvalError::Task(format!(
                "--out {} is one of the inputs; write somewhere else",
                out.display()
            )));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path`, making its directory first.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), EvalError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(EvalError::file("creating", dir))?;
    }
    std::fs::write(path, bytes).map_err(EvalError::file("writing", path))
}
