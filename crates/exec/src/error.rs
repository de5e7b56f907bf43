//! The engine's error type. A failure of the user's code is not an error: it is an output.

use codeact_protocol::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("session '{0}' does not exist")]
    NotFound(String),
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error(
        "too many live sessions (limit {0}); delete one or wait for idle sessions to be reaped"
    )]
    TooManySessions(usize),
    #[error("the sandbox cannot be set up on this machine: {0}; run with `--sandbox none` to execute code without isolation")]
    SandboxUnavailable(String),
    #[error("the execution backend is unavailable: {0}")]
    BackendUnavailable(String),
    #[error("file too large: {size} bytes (limit {limit})")]
    FileTooLarge { size: u64, limit: u64 },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol error with the session worker: {0}")]
    Protocol(String),
}

impl ExecError {
    /// The stable code the HTTP API reports for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ExecError::NotFound(_) => ErrorCode::NotFound,
            ExecError::BadRequest(_) => ErrorCode::BadRequest,
            ExecError::TooManySessions(_) => ErrorCode::TooManySessions,
            ExecError::SandboxUnavailable(_) => ErrorCode::SandboxUnavailable,
            ExecError::BackendUnavailable(_) => ErrorCode::BackendUnavailable,
            ExecError::FileTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ExecError::Io(_) | ExecError::Protocol(_) => ErrorCode::Internal,
        }
    }
}
