//! Test helpers: the scripted model shared by the workspace's tests, a scripted
//! OpenAI-compatible server, and real Python sessions from the local backend.

#![allow(dead_code, unused_imports)]

pub mod openai_server;

use std::sync::Arc;

#[allow(unused_imports)]
pub use codeact_llm::testing::{ScriptedLlm, Step};

use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, SandboxMode, SessionManager};

/// A session manager over real Python sessions, without a sandbox (tests must not depend on
/// namespaces being available).
pub async fn manager() -> anyhow::Result<Arc<SessionManager>> {
    let mut config = ExecConfig::default();
    config.sandbox.mode = SandboxMode::None;
    config.cell_timeout = std::time::Duration::from_secs(20);
    let backend = LocalBackend::new(&config).await?;
    Ok(SessionManager::new(Arc::new(backend), config))
}

/// The feedback the loop gave the model during a run, in order.
pub fn feedback(o: &codeact_agent::Outcome) -> Vec<String> {
    o.events
        .iter()
        .filter_map(|e| match e {
            codeact_protocol::AgentEvent::Feedback { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}
