//! The HTTP API of the execution engine.
//!
//! `POST /execute` is the seed system's endpoint (`{"convid", "code"}` in, `{"result",
//! "new_kernel_created"}` out). The JSON API under `/v1` exposes sessions with typed outputs,
//! streaming, restart, delete and files. Errors are JSON `{"error": {"code", "message"}}` with
//! stable codes.

mod error;
mod routes;

use std::sync::Arc;

use axum::Router;
use codeact_exec::SessionManager;

pub use error::ApiError;

/// Limits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes (cells and uploaded files).
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 << 20,
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub sessions: Arc<SessionManager>,
    pub config: ServerConfig,
}

/// The whole API as a router, ready to serve or to test in-process.
pub fn app(sessions: Arc<SessionManager>, config: ServerConfig) -> Router {
    routes::router(AppState { sessions, config })
}

/// Serves the API on `listener` until `shutdown` resolves, then ends every session.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sessions: Arc<SessionManager>,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    sessions.spawn_reaper();
    let router = app(sessions.clone(), config);
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    sessions.shutdown().await;
    result
}
