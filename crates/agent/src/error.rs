//! The agent's error type, for failures outside a run (a run reports its own through events).

use codeact_exec::ExecError;
use codeact_llm::LlmError;

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
