//! The code-execution engine: persistent Python sessions behind one interface.
//!
//! A [`SessionManager`] owns live sessions by id, applies the cell timeout (interrupt, then kill
//! and restart), caps output, reaps idle sessions and enforces the session cap. Sessions come
//! from a [`Backend`]: the sandboxed [`local`] backend (a pre-warmed Python zygote that forks
//! each session into its own namespaces) or the [`jupyter`] backend (a Jupyter Server or Kernel
//! Gateway over REST + WebSocket).

mod backend;
mod config;
mod error;
pub mod jupyter;
mod limits;
pub mod local;
mod manager;
mod output;
pub mod sections;
mod terminal;

pub use backend::{Backend, CellEnd, Kernel, MAX_LISTED_FILES};
pub use config::{ExecConfig, NetworkMode, SandboxMode, SandboxPolicy};
pub use error::ExecError;
pub use limits::{open_files_limit, raise_open_files_limit};
pub use manager::SessionManager;
pub use output::OutputSink;
