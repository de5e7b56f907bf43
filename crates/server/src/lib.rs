//! The HTTP API of the execution engine and of the agent.
//!
//! `POST /execute` is the seed system's endpoint (`{"convid", "code"}` in, `{"result",
//! "new_kernel_created"}` out). The JSON API under `/v1` exposes sessions with typed outputs,
//! streaming, restart, delete and files. With an [`AgentService`], `POST /v1/chat/completions`
//! and `GET /v1/models` offer the CodeAct agent as an OpenAI-compatible model (see `chat.rs`).
//! Errors are JSON `{"error": {"code", "message"}}` with stable codes.

mod agents;
mod auth;
mod chat;
mod conversations;
mod error;
pub mod history;
mod metrics;
mod routes;
mod runs;
mod section;
mod webchat;

use std::sync::Arc;

use axum::Router;
use codeact_exec::SessionManager;

pub use agents::{AgentService, Kept, OPEN_WEBUI_CHAT_ID};
pub use auth::ApiKeys;
pub use error::ApiError;
pub use section::{ServerSection, ServerSettings};

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes (cells and uploaded files).
    pub max_body_bytes: usize,
    /// With keys, every request but `/health` needs one, and each user's sessions and
    /// conversations are their own (see `auth.rs`).
    pub api_keys: ApiKeys,
    /// Most runs (cells through the API, agent requests) one user of the API keys may have at
    /// once; 0: no cap. A server without keys has one user, its operator, who is not capped.
    pub max_runs_per_user: usize,
    /// After a stop signal, how long running requests may go on before the agent's runs are
    /// cancelled (they then end cleanly, their answers complete).
    pub shutdown_grace: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 << 20,
            api_keys: ApiKeys::default(),
            max_runs_per_user: 8,
            shutdown_grace: std::time::Duration::from_secs(10),
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub sessions: Arc<SessionManager>,
    pub config: ServerConfig,
    /// The agent offered as a model; `None`: the agent's routes answer `not_found`.
    pub agent: Option<Arc<AgentService>>,
    pub metrics: Arc<metrics::Metrics>,
    pub runs: Arc<runs::Runs>,
    pub replies: Arc<runs::Replies>,
}

impl AppState {
    /// A server's state, with its metrics and runs starting empty.
    pub fn new(
        sessions: Arc<SessionManager>,
        config: ServerConfig,
        agent: Option<Arc<AgentService>>,
    ) -> Self {
        Self {
            sessions,
            config,
            agent,
            metrics: Arc::default(),
            runs: Arc::default(),
            replies: Arc::default(),
        }
    }
}

/// The whole API as a router, ready to serve or to test in-process.
pub fn app(
    sessions: Arc<SessionManager>,
    config: ServerConfig,
    agent: Option<Arc<AgentService>>,
) -> Router {
    routes::router(AppState::new(sessions, config, agent))
}

/// Refuses to serve on an address other hosts reach (anything but loopback) without API keys:
/// anyone who reaches the port would run code on this machine. Returns the message to show.
pub fn check_exposure(addr: std::net::SocketAddr, config: &ServerConfig) -> Result<(), String> {
    if addr.ip().is_loopback() || !config.api_keys.is_empty() {
        return Ok(());
    }
    Err(format!(
        "serving on {} needs API keys ([server] api_keys or CODEACT_API_KEYS=user:key,…): \
         without them anyone who reaches the port runs code here",
        addr.ip()
    ))
}

/// Serves the API on `listener` until `shutdown` resolves, then stops taking requests, lets
/// running ones go on for the grace period, cancels the agent's runs that are still going
/// (their answers end cleanly) and ends every session.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sessions: Arc<SessionManager>,
    config: ServerConfig,
    agent: Option<Arc<AgentService>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    check_exposure(listener.local_addr()?, &config)
        .map_err(|m| std::io::Error::new(std::io::ErrorKind::PermissionDenied, m))?;
    sessions.spawn_reaper();
    let grace = config.shutdown_grace;
    let state = AppState::new(sessions.clone(), config, agent.clone());
    let stopping = state.runs.stopping.clone();
    let router = routes::router(state);
    let stop = async move {
        shutdown.await;
        tracing::info!("stopping: running requests have {grace:?} to end");
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            stopping.cancel();
        });
    };
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await;
    if let Some(agent) = agent {
        agent.shutdown().await;
    }
    sessions.shutdown().await;
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_served_without_keys() {
        let open = ServerConfig::default();
        for ok in ["127.0.0.1:8000", "[::1]:8000", "127.1.2.3:0"] {
            assert!(check_exposure(ok.parse().unwrap(), &open).is_ok(), "{ok}");
        }
        for exposed in ["0.0.0.0:8000", "[::]:8000", "192.168.1.5:80"] {
            let err = check_exposure(exposed.parse().unwrap(), &open).unwrap_err();
            assert!(err.contains("needs API keys"), "{exposed}: {err}");
        }
        let keyed = ServerConfig {
            api_keys: ApiKeys::new([("alice".into(), "k".repeat(16))]).unwrap(),
            ..ServerConfig::default()
        };
        assert!(check_exposure("0.0.0.0:8000".parse().unwrap(), &keyed).is_ok());
    }
}
