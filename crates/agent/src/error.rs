//! The agent's error type, for failures outside a run (a run reports its own through events).

use codeact_exec::ExecError;
use codeact_llm::LlmError;
use codeact_protocol::AgentErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid conversation file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("conversation '{0}' not found")]
    NotFound(String),
    #[error("tools: {0}")]
    Tools(String),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Llm(#[from] LlmError),
}

impl AgentError {
    /// The code of the `AgentEvent::Error` that reports this error.
    pub fn code(&self) -> AgentErrorCode {
        match self {
            AgentError::Io(_) | AgentError::Json(_) | AgentError::NotFound(_) => {
                AgentErrorCode::Conversation
            }
            AgentError::Tools(_) => AgentErrorCode::Tools,
            AgentError::Exec(e) => exec_error_code(e),
            AgentError::Llm(e) => llm_error_code(e),
        }
    }
}

/// The code of the `AgentEvent::Error` that reports a failure of the execution engine.
pub(crate) fn exec_error_code(e: &ExecError) -> AgentErrorCode {
    match e {
        ExecError::SandboxUnavailable(_) => AgentErrorCode::SandboxUnavailable,
        _ => AgentErrorCode::Exec,
    }
}

/// The code of the `AgentEvent::Error` that reports a failure of the model backend.
pub(crate) fn llm_error_code(e: &LlmError) -> AgentErrorCode {
    match e {
        LlmError::ContextLength(_) => AgentErrorCode::ContextLength,
        _ => AgentErrorCode::Llm,
    }
}
