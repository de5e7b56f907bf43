//! What can go wrong in an evaluation.

use codeact_exec::ExecError;
use codeact_llm::LlmError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("line {line}: {source}")]
    Parse {
        line: usize,
        source: serde_json::Error,
    },
    #[error("{0:?} is not a variant: write style:fence:grammar, e.g. ours:on:off or seed:off:on")]
    Variant(String),
    /// A task or option that cannot be run as given.
    #[error("{0}")]
    Task(String),
    /// The evaluation's Python package failed inside its session.
    #[error("{0}")]
    Python(String),
    #[error("model: {0}")]
    Llm(#[from] LlmError),
    #[error("execution engine: {0}")]
    Exec(#[from] ExecError),
    /// The results directory holds runs that cannot be resumed with these settings.
    #[error("{0}")]
    Resume(String),
}
