//! The interface every execution backend implements.

use async_trait::async_trait;
use codeact_protocol::http::FileList;
use codeact_protocol::{BackendKind, SandboxReport};

use crate::{ExecError, OutputSink};

/// How a cell ended, as far as the kernel can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellEnd {
    /// The cell finished; `error` is true when it raised.
    Completed { error: bool },
    /// The interpreter died during the cell (killed, `os._exit`, out of memory).
    Died { reason: String },
}

/// One live interpreter. Methods take `&self` so that an interrupt can be sent while a cell runs.
#[async_trait]
pub trait Kernel: Send + Sync {
    /// Runs one cell, pushing outputs into `sink` as they are produced.
    async fn execute(&self, code: &str, sink: &mut OutputSink) -> Result<CellEnd, ExecError>;
    /// Raises KeyboardInterrupt in the running cell; state is kept.
    async fn interrupt(&self) -> Result<(), ExecError>;
    /// Kills every process of the interpreter and starts a fresh one. Files in the working
    /// directory survive; variables do not.
    async fn restart(&self) -> Result<(), ExecError>;
    /// Ends the interpreter and every process in it, and frees its resources.
    async fn shutdown(&self);
    /// Writes a file under the session's working directory (`path` is relative to it).
    async fn write_file(&self, path: &str, data: &[u8]) -> Result<(), ExecError>;
    /// Reads a file under the session's working directory.
    async fn read_file(&self, path: &str) -> Result<Vec<u8>, ExecError>;
    /// Lists every entry under the session's working directory: relative paths, depth first
    /// and sorted by name, folders ending with `/`, links not followed, at most
    /// [`MAX_LISTED_FILES`] (the first in that order; `truncated` says whether any was left
    /// out).
    async fn list_files(&self) -> Result<FileList, ExecError>;
}

/// The most entries [`Kernel::list_files`] returns (the worker's `listing.MAX_LISTED`,
/// checked by a test).
pub const MAX_LISTED_FILES: usize = 10_000;

/// A source of kernels.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Which backend this is (`none` for the local backend with the sandbox off).
    fn name(&self) -> BackendKind;
    /// What isolation this backend really enforces.
    fn report(&self) -> SandboxReport;
    /// Starts a new interpreter for session `id`.
    async fn start(&self, id: &str) -> Result<Box<dyn Kernel>, ExecError>;
    /// Releases what the backend holds beyond its sessions (pre-started sandboxes).
    async fn shutdown(&self) {}
    /// Sandboxes started ahead and waiting for a session (the local backend's pool).
    fn pooled(&self) -> usize {
        0
    }
}
