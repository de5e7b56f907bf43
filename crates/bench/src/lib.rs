//! Performance benchmarks of codeact against named peers, each returning a report that prints
//! as tables: [`exec`] (the execution engine against ipykernel and Jupyter Kernel Gateway) and
//! [`llm`] (the embedded llama.cpp engine against llama-server and llama-bench), and [`serve`]
//! (the agent server under load, the real binary with a scripted LLM). The crate also
//! owns the peers' installation and discovery ([`llama_server`], `exec::peers`) and the one
//! implementation of the statistics ([`stats`]) and tables ([`table`]) every benchmark report
//! uses, the agent evaluation's included.
//!
//! Nothing here prints: progress goes to a [`Progress`] callback the front end supplies.

pub mod exec;
pub mod llama_server;
pub mod llm;
mod procfs;
pub mod serve;
pub mod stats;
pub mod table;

use std::fmt::Display;

/// Receives one line of progress as each stage of a benchmark starts.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// Why a benchmark (or one of its parts) could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Exec(#[from] codeact_exec::ExecError),
    #[error(transparent)]
    Llm(#[from] codeact_llm::LlmError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Anything else, already worded with what was being done.
    #[error("{0}")]
    Failed(String),
}

impl BenchError {
    pub(crate) fn msg(text: impl Into<String>) -> Self {
        Self::Failed(text.into())
    }
}

/// Says what was being done when an error (or a missing value) stopped a step.
pub(crate) trait Context<T> {
    fn context(self, what: impl Display) -> Result<T, BenchError>;
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, BenchError>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> Result<T, BenchError> {
        self.map_err(|e| BenchError::Failed(format!("{what}: {e}")))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, BenchError> {
        self.map_err(|e| BenchError::Failed(format!("{}: {e}", what())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl Display) -> Result<T, BenchError> {
        self.ok_or_else(|| BenchError::Failed(what.to_string()))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> Result<T, BenchError> {
        self.ok_or_else(|| BenchError::Failed(what().to_string()))
    }
}
