//! Builds the LLM backend the configuration asks for.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use codeact_llm::{EmbeddedBackend, EmbeddedConfig, LlmBackend, OpenAiBackend, OpenAiConfig};

use crate::config::LlmSection;

/// Model flags shared by `chat`, `run` and the agent benchmark.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct LlmArgs {
    /// LLM backend: embedded (llama.cpp in-process, default) or openai (any OpenAI-compatible server).
    #[arg(long, env = "CODEACT_LLM")]
    pub llm: Option<String>,
    /// GGUF file for the embedded engine (default: Qwen2.5-Coder-0.5B-Instruct, fetched on first use).
    #[arg(long, env = "CODEACT_MODEL_PATH")]
    pub model_path: Option<PathBuf>,
    /// Model name sent to an OpenAI-compatible server.
    #[arg(long, env = "CODEACT_MODEL")]
    pub model: Option<String>,
    /// Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1.
    #[arg(long, env = "CODEACT_BASE_URL")]
    pub base_url: Option<String>,
    /// Threads of the embedded engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Sampling temperature (default 0: greedy, deterministic).
    #[arg(long)]
    pub temperature: Option<f32>,
}

pub async fn build(args: &LlmArgs, file: &LlmSection) -> Result<Arc<dyn LlmBackend>> {
    let backend = args
        .llm
        .clone()
        .or(file.backend.clone())
        .unwrap_or_else(|| "embedded".into());
    match backend.as_str() {
        "embedded" => {
            let path = match args.model_path.clone().or(file.model_path.clone()) {
                Some(p) => p,
                None => tokio::task::spawn_blocking(codeact_llm::ensure_default_model)
                    .await?
                    .context("fetching the default model")?,
            };
            let mut cfg = EmbeddedConfig::new(path);
            cfg.n_threads = args.threads.or(file.threads);
            if let Some(n) = file.context_tokens {
                cfg.n_ctx = n;
            }
            let engine = EmbeddedBackend::load(cfg)
                .await
                .context("loading the model")?;
            Ok(Arc::new(engine))
        }
        "openai" => {
            let d = OpenAiConfig::default();
            let cfg = OpenAiConfig {
                base_url: args
                    .base_url
                    .clone()
                    .or(file.base_url.clone())
                    .unwrap_or(d.base_url.clone()),
                model: args
                    .model
                    .clone()
                    .or(file.model.clone())
                    .unwrap_or(d.model.clone()),
                api_key_env: file.api_key_env.clone().unwrap_or(d.api_key_env.clone()),
                accepts_images: file.accepts_images.unwrap_or(d.accepts_images),
                request_timeout: Duration::from_secs(600),
                ..d
            };
            Ok(Arc::new(OpenAiBackend::new(cfg)?))
        }
        other => bail!("--llm must be embedded or openai, not {other:?}"),
    }
}
