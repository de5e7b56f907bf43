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
    /// This process has as many descriptors open as its soft RLIMIT_NOFILE allows.
    #[error("cannot start another session: the server has reached its open-files limit ({0} descriptors, RLIMIT_NOFILE); each idle session holds one, so raise the limit (`ulimit -n`, systemd's LimitNOFILE=) or end sessions")]
    OpenFilesLimit(u64),
    /// The whole system has as many files open as fs.file-max allows.
    #[error("cannot start another session: the system-wide limit on open files (fs.file-max) is reached")]
    SystemFilesLimit,
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
    /// A setting of the configuration is out of its range.
    #[error("{0}")]
    InvalidSetting(String),
}

impl ExecError {
    /// The stable code the HTTP API reports for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ExecError::NotFound(_) => ErrorCode::NotFound,
            ExecError::BadRequest(_) => ErrorCode::BadRequest,
            ExecError::TooManySessions(_)
            | ExecError::OpenFilesLimit(_)
            | ExecError::SystemFilesLimit => ErrorCode::TooManySessions,
            ExecError::SandboxUnavailable(_) => ErrorCode::SandboxUnavailable,
            ExecError::BackendUnavailable(_) => ErrorCode::BackendUnavailable,
            ExecError::FileTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ExecError::Io(_) | ExecError::Protocol(_) | ExecError::InvalidSetting(_) => {
                ErrorCode::Internal
            }
        }
    }
}
