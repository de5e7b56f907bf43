//! The session manager and the LLM backend that the configuration names (built by their
//! crates), and a model download's progress on the terminal.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use codeact_exec::SessionManager;
use codeact_llm::{FetchProgress, LlmBackend, LlmSettings};

use crate::config::Config;

pub async fn session_manager(config: &Config) -> Result<Arc<SessionManager>> {
    codeact_exec::sections::session_manager(config.backend, &config.exec, &config.jupyter)
        .await
        .context("starting the execution backend")
}

/// The LLM backend and the session manager, built at once.
pub async fn llm_and_sessions(
    config: &Config,
) -> Result<(Arc<dyn LlmBackend>, Arc<SessionManager>)> {
    tokio::try_join!(llm(&config.llm), session_manager(config))
}

/// The LLM backend the settings name; a model download shows its progress on a terminal.
pub async fn llm(settings: &LlmSettings) -> Result<Arc<dyn LlmBackend>> {
    Ok(settings.build(terminal()).await?)
}

/// The embedded engine's GGUF: the configured file, or a known model fetched on first use.
pub async fn model_path(settings: &LlmSettings) -> Result<PathBuf> {
    let progress = terminal();
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || settings.embedded_model(&progress))
        .await?
        .context("finding the embedded model")
}

fn terminal() -> Terminal {
    Terminal {
        on: std::io::stderr().is_terminal(),
        percent: AtomicU64::new(NO_PERCENT),
    }
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
