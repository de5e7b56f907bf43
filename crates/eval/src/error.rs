//! What can go wrong in an evaluation.

use codeact_exec::ExecError;
use codeact_llm::LlmError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    // The causes are in the messages, and not also given as `source()`, which would print
    // them twice in a chain of errors.
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("cannot write {path}: {cause}")]
    Write { path: String, cause: std::io::Error },
    /// A file of a command's options could not be read or written; `doing` is `reading`,
    /// `writing` or `creating`.
    #[error("{doing} {path}: {cause}")]
    File {
        doing: &'static str,
        path: String,
        cause: std::io::Error,
    },
    #[error("line {line}: {cause}")]
    Parse {
        line: usize,
        cause: serde_json::Error,
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
    Llm(LlmError),
    /// The model whose tokenizer counts tokens could not be fetched or loaded.
    #[error("{0}")]
    Tokenizer(LlmError),
    #[error("execution engine: {0}")]
    Exec(ExecError),
    /// A run failed: which one, and why.
    #[error("{run}: {error}")]
    Run { run: String, error: Box<EvalError> },
    /// The shared task queue's database failed or holds something unexpected.
    #[error("task queue: {0}")]
    Queue(String),
    /// The results directory holds runs that cannot be resumed with these settings.
    #[error("{0}")]
    Resume(String),
    /// Rows could not be written in an export format, or beside another dataset's entries.
    #[error("{0}")]
    Export(String),
}

impl EvalError {
    /// Makes [`EvalError::File`] of an I/O error while `doing` (`reading`, `writing`,
    /// `creating`) `path`, for `map_err`.
    pub(crate) fn file(
        doing: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.display().to_string();
        move |cause| EvalError::File { doing, path, cause }
    }
}

impl From<LlmError> for EvalError {
    fn from(e: LlmError) -> Self {
        EvalError::Llm(e)
    }
}

impl From<ExecError> for EvalError {
    fn from(e: ExecError) -> Self {
        EvalError::Exec(e)
    }
}
