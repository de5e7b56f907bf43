//! Builds the session manager and the LLM backend that the configuration names.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use codeact_exec::jupyter::JupyterBackend;
use codeact_exec::local::LocalBackend;
use codeact_exec::sections::BackendKind;
use codeact_exec::{Backend, SessionManager};
use codeact_llm::{
    EmbeddedBackend, EmbeddedConfig, FetchProgress, LlmBackend, LlmKind, LlmSettings,
    OpenAiBackend, ScriptBackend,
};

use crate::config::Config;

pub async fn session_manager(config: &Config) -> Result<Arc<SessionManager>> {
    let backend: Arc<dyn Backend> = match config.backend {
        BackendKind::Jupyter => Arc::new(JupyterBackend::new(config.jupyter.clone())),
        BackendKind::Local => Arc::new(
            LocalBackend::new(&config.exec)
                .await
                .context("starting the local execution backend")?,
        ),
    };
    let report = backend.report();
    tracing::debug!(backend = %report.backend, isolated = report.isolated, "execution backend ready");
    for m in &report.missing {
        tracing::warn!("sandbox: {m}");
    }
    Ok(SessionManager::new(backend, config.exec.clone()))
}

/// The LLM backend and the session manager, built at once.
pub async fn llm_and_sessions(
    config: &Config,
) -> Result<(Arc<dyn LlmBackend>, Arc<SessionManager>)> {
    tokio::try_join!(llm(&config.llm), session_manager(config))
}

pub async fn llm(settings: &LlmSettings) -> Result<Arc<dyn LlmBackend>> {
    match settings.kind {
        LlmKind::Embedded => {
            let mut cfg = EmbeddedConfig::new(model_path(settings).await?);
            cfg.n_threads = settings.threads;
            cfg.kv_reuse = settings.kv_reuse;
            if let Some(n) = settings.context_tokens {
                cfg.n_ctx = n;
            }
            let engine = EmbeddedBackend::load(cfg)
                .await
                .context("loading the model")?;
            Ok(Arc::new(engine))
        }
        LlmKind::OpenAi => Ok(Arc::new(OpenAiBackend::new(settings.openai.clone())?)),
        LlmKind::Script => {
            let path = settings
                .script
                .as_deref()
                .context("--llm script needs --script FILE (or [llm] script)")?;
            Ok(Arc::new(ScriptBackend::from_file(path)?))
        }
    }
}

/// The embedded engine's GGUF: the configured file, or a known model fetched on first use.
pub async fn model_path(settings: &LlmSettings) -> Result<PathBuf> {
    let progress = Terminal {
        on: std::io::stderr().is_terminal(),
        percent: AtomicU64::new(NO_PERCENT),
    };
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || settings.embedded_model(&progress))
        .await?
        .context("finding the embedded model")
}

const NO_PERCENT: u64 = u64::MAX;

/// The model download's progress on stderr, when a person is watching it.
struct Terminal {
    on: bool,
    /// The percentage on the current line, which the next line must end first.
    percent: AtomicU64,
}

impl FetchProgress for Terminal {
    fn line(&self, text: &str) {
        if self.on {
            let mid_line = self.percent.swap(NO_PERCENT, Ordering::Relaxed) != NO_PERCENT;
            eprintln!("{}{text}", if mid_line { "\n" } else { "" });
        }
    }

    fn fraction(&self, what: &str, done: u64, total: u64) {
        let percent = done.saturating_mul(100) / total.max(1);
        if self.on && self.percent.swap(percent, Ordering::Relaxed) != percent {
            eprint!("\rcodeact: {what} {percent:>3}%");
            let _ = std::io::stderr().flush();
        }
    }
}
