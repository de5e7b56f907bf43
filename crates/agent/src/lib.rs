//! The CodeAct loop: the model writes Python in `<execute>…</execute>`, a persistent session
//! runs it, the output comes back as the next user message, and the run ends with a plain reply
//! (chat mode) or `<solution>…</solution>` (task mode).
//!
//! Build an [`Agent`] from an [`LlmBackend`](codeact_llm::LlmBackend), a
//! [`SessionManager`](codeact_exec::SessionManager) and an [`AgentConfig`]; [`Agent::send`] and
//! [`Agent::run_task`] return a [`Run`], a stream of [`AgentEvent`](codeact_protocol::AgentEvent)s
//! ending with `End`. Conversations are saved as JSON ([`Conversation`]) and can be resumed with
//! [`Agent::resume`]. [`TerminalText`] renders the events for a terminal.

mod act;
mod agent;
mod config;
pub mod consistency;
mod context;
mod conversation;
mod error;
mod generate;
pub mod grammar;
pub mod observe;
pub mod parse;
pub mod prompt;
mod pylex;
mod repetition;
mod run;
pub mod section;
mod setup;
pub mod terminal;
pub mod tools;

pub use agent::{Agent, Outcome, Run};
pub use config::{
    AgentConfig, ContextFit, Limits, LoopCut, Mode, PromptStyle, Sampling, SelfConsistency,
    DEFAULT_PRELOAD, DEFAULT_PRELOAD_CODE,
};
pub use consistency::normalize_answer;
pub use conversation::Conversation;
pub use error::AgentError;
pub use parse::{parse_reply, Action, ParseOptions, ParsedReply};
pub use section::AgentSection;
pub use terminal::TerminalText;
pub use tokio_util::sync::CancellationToken;
pub use tools::{ToolInfo, ToolModule};
