//! The CodeAct agent behind `/v1/chat/completions`: one agent (and so one live Python
//! session) per conversation, kept between the requests that name the same conversation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use codeact_agent::{Agent, AgentConfig, Mode};
use codeact_exec::SessionManager;
use codeact_llm::LlmBackend;
use codeact_protocol::ErrorCode;

use crate::ApiError;

/// Headers that name a conversation, besides the configured one: Open WebUI sends its chat id.
pub const OPEN_WEBUI_CHAT_ID: &str = "x-openwebui-chat-id";

/// The agent the server offers as a model.
pub struct AgentService {
    llm: Arc<dyn LlmBackend>,
    sessions: Arc<SessionManager>,
    config: AgentConfig,
    /// The model id clients name (`GET /v1/models`).
    pub model: String,
    /// Lower-case name of the header that names a conversation (`x-conversation-id` unless
    /// configured), in addition to [`OPEN_WEBUI_CHAT_ID`].
    pub conversation_header: String,
    live: Mutex<HashMap<String, Live>>,
}

struct Live {
    agent: Arc<Agent>,
    used: Instant,
}

impl AgentService {
    /// `config`'s mode is set to chat. Conversations idle for the engine's idle timeout are
    /// let go (their sessions end with it), and at most the engine's session cap are kept.
    pub fn new(
        llm: Arc<dyn LlmBackend>,
        sessions: Arc<SessionManager>,
        config: AgentConfig,
        model: impl Into<String>,
        conversation_header: &str,
    ) -> Self {
        Self {
            llm,
            sessions,
            config: AgentConfig {
                mode: Mode::Chat,
                ..config
            },
            model: model.into(),
            conversation_header: conversation_header.to_ascii_lowercase(),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The agent of conversation `key` and whether it is new; without a key, a new agent that
    /// nothing keeps (the caller closes it).
    pub fn agent(&self, key: Option<&str>) -> Result<(Arc<Agent>, bool), ApiError> {
        let fresh = || {
            Arc::new(Agent::new(
                self.llm.clone(),
                self.sessions.clone(),
                self.config.clone(),
            ))
        };
        let Some(key) = key else {
            return Ok((fresh(), true));
        };
        // A conversation handed out unkept would never have its session ended.
        let mut live = self
            .live
            .lock()
            .map_err(|_| ApiError::new(ErrorCode::Internal, "conversation table poisoned"))?;
        let now = Instant::now();
        let idle = self.sessions.config().idle_timeout;
        let mut gone: Vec<Arc<Agent>> = Vec::new();
        live.retain(|_, l| {
            let keep = now.duration_since(l.used) < idle;
            if !keep {
                gone.push(l.agent.clone());
            }
            keep
        });
        if let Some(l) = live.get_mut(key) {
            l.used = now;
            let agent = l.agent.clone();
            drop(live);
            close_all(gone);
            return Ok((agent, false));
        }
        if live.len() >= self.sessions.config().max_sessions.max(1) {
            if let Some(oldest) = live
                .iter()
                .min_by_key(|(_, l)| l.used)
                .map(|(k, _)| k.clone())
            {
                if let Some(l) = live.remove(&oldest) {
                    gone.push(l.agent);
                }
            }
        }
        let agent = fresh();
        live.insert(
            key.to_string(),
            Live {
                agent: agent.clone(),
                used: now,
            },
        );
        drop(live);
        close_all(gone);
        Ok((agent, true))
    }

    /// Ends every kept conversation's session.
    pub async fn shutdown(&self) {
        let all: Vec<Arc<Agent>> = match self.live.lock() {
            Ok(mut live) => live.drain().map(|(_, l)| l.agent).collect(),
            Err(_) => Vec::new(),
        };
        for agent in all {
            agent.close().await;
        }
    }
}

fn close_all(agents: Vec<Arc<Agent>>) {
    for agent in agents {
        tokio::spawn(async move { agent.close().await });
    }
}
