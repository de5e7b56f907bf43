//! The CodeAct agent behind `/v1/chat/completions`: one agent (and so one live Python
//! session) per conversation, kept between the requests that name the same conversation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use codeact_agent::{Agent, AgentConfig, Conversation, Mode};
use codeact_exec::SessionManager;
use codeact_llm::LlmBackend;
use codeact_protocol::ErrorCode;

use crate::history::History;
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
    /// Where conversations of the web chat and `/v1/conversations` are kept.
    history: Option<History>,
}

struct Live {
    agent: Arc<Agent>,
    used: Instant,
    /// For a stored conversation: the message its agent's state is at (its last reply).
    at: Option<String>,
}

/// The agent, how the kept one stood, and the kept one it replaced.
type Kept3 = (Arc<Agent>, Kept, Option<Arc<Agent>>);

/// How a stored conversation's kept agent stood before [`AgentService::agent_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// At the message asked for: its session holds that branch's state.
    Same,
    /// At another message (another branch): it was replaced, and its session ended.
    Elsewhere,
    /// None was kept (a new conversation, or one from before a restart).
    Nothing,
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
            history: None,
        }
    }

    /// Keeps conversations in `history` (the web chat and `/v1/conversations` need it).
    pub fn with_history(mut self, history: History) -> Self {
        self.history = Some(history);
        self
    }

    pub fn history(&self) -> Option<&History> {
        self.history.as_ref()
    }

    /// The LLM backend's name, e.g. `embedded:qwen2.5-coder-0.5b-instruct-q8_0`.
    pub fn llm_name(&self) -> String {
        self.llm.name()
    }

    /// The agent of conversation `key` and whether it is new; without a key, a new agent that
    /// nothing keeps (the caller closes it).
    pub fn agent(&self, key: Option<&str>) -> Result<(Arc<Agent>, bool), ApiError> {
        let Some(key) = key else {
            return Ok((Arc::new(self.fresh(self.config.clone())), true));
        };
        let (agent, kept, replaced) =
            self.keep(key, |_| true, None, || self.fresh(self.config.clone()))?;
        close_all(replaced.into_iter().collect());
        Ok((agent, kept != Kept::Same))
    }

    /// The agent of stored conversation `key` whose state is at message `at`: the kept one
    /// when it is there, else a new one resumed from `conversation()` (what the model saw on
    /// that branch). Its session is `conversation().session_id`.
    pub async fn agent_at(
        &self,
        key: &str,
        at: Option<&str>,
        conversation: impl FnOnce() -> Conversation,
    ) -> Result<(Arc<Agent>, Kept), ApiError> {
        let config = AgentConfig {
            // The history store keeps these conversations.
            conversation_dir: None,
            ..self.config.clone()
        };
        let build = || {
            Agent::resume(
                self.llm.clone(),
                self.sessions.clone(),
                config,
                conversation(),
            )
        };
        let (agent, kept, replaced) = self.keep(key, |l| l.at.as_deref() == at, at, build)?;
        // The replaced agent used the same session id: it must be gone before the new one
        // starts its session.
        if let Some(old) = replaced {
            old.close().await;
        }
        Ok((agent, kept))
    }

    /// Records that stored conversation `key`'s agent is now at message `at`.
    pub fn moved(&self, key: &str, at: &str) {
        if let Ok(mut live) = self.live.lock() {
            if let Some(l) = live.get_mut(key) {
                l.at = Some(at.to_string());
            }
        }
    }

    /// Whether conversation `key` has an agent at message `at` whose session is alive.
    pub fn is_live(&self, key: &str, at: Option<&str>) -> bool {
        let Ok(live) = self.live.lock() else {
            return false;
        };
        live.get(key).is_some_and(|l| {
            l.at.as_deref() == at && self.sessions.info(l.agent.session_id()).is_ok()
        })
    }

    /// Lets conversation `key` go: its agent's session ends.
    pub async fn forget(&self, key: &str) {
        let gone = self.live.lock().ok().and_then(|mut live| live.remove(key));
        if let Some(l) = gone {
            l.agent.close().await;
        }
    }

    fn fresh(&self, config: AgentConfig) -> Agent {
        Agent::new(self.llm.clone(), self.sessions.clone(), config)
    }

    /// The kept agent of `key` when `fits` it, else a new one from `build`, with the kept one
    /// it replaces (for the caller to close); idle conversations and, past the engine's
    /// session cap, the least recently used are let go on the way.
    fn keep(
        &self,
        key: &str,
        fits: impl Fn(&Live) -> bool,
        at: Option<&str>,
        build: impl FnOnce() -> Agent,
    ) -> Result<Kept3, ApiError> {
        // A conversation handed out unkept would never have its session ended.
        let mut live = self
            .live
            .lock()
            .map_err(|_| ApiError::new(ErrorCode::Internal, "conversation table poisoned"))?;
        let now = Instant::now();
        let idle = self.sessions.config().idle_timeout;
        let mut gone: Vec<Arc<Agent>> = Vec::new();
        let mut replaced = None;
        live.retain(|k, l| {
            let keep = now.duration_since(l.used) < idle;
            if !keep {
                if k == key {
                    replaced = Some(l.agent.clone());
                } else {
                    gone.push(l.agent.clone());
                }
            }
            keep
        });
        let mut kept = Kept::Nothing;
        if let Some(l) = live.get_mut(key) {
            if fits(l) {
                l.used = now;
                let agent = l.agent.clone();
                drop(live);
                close_all(gone);
                return Ok((agent, Kept::Same, None));
            }
            kept = Kept::Elsewhere;
            replaced = live.remove(key).map(|l| l.agent);
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
        let agent = Arc::new(build());
        live.insert(
            key.to_string(),
            Live {
                agent: agent.clone(),
                used: now,
                at: at.map(str::to_string),
            },
        );
        drop(live);
        close_all(gone);
        Ok((agent, kept, replaced))
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
