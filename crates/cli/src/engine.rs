//! Builds the session manager the configuration asks for.

use std::sync::Arc;

use anyhow::{Context, Result};
use codeact_exec::jupyter::{JupyterBackend, JupyterConfig};
use codeact_exec::local::LocalBackend;
use codeact_exec::{Backend, SessionManager};

use crate::config::Engine;

pub async fn session_manager(engine: &Engine) -> Result<Arc<SessionManager>> {
    let backend: Arc<dyn Backend> = match engine.backend.as_str() {
        "jupyter" => {
            let d = JupyterConfig::default();
            Arc::new(JupyterBackend::new(JupyterConfig {
                url: engine.jupyter.url.clone().unwrap_or(d.url),
                token: engine.jupyter.token.clone(),
                kernel_name: engine.jupyter.kernel_name.clone().unwrap_or(d.kernel_name),
            }))
        }
        _ => Arc::new(
            LocalBackend::new(&engine.exec)
                .await
                .context("starting the local execution backend")?,
        ),
    };
    let report = backend.report();
    tracing::debug!(backend = %report.backend, isolated = report.isolated, "execution backend ready");
    for m in &report.missing {
        tracing::warn!("sandbox: {m}");
    }
    Ok(SessionManager::new(backend, engine.exec.clone()))
}
