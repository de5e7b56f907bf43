//! The `[llm]` section of codeact's configuration file: its shape, every field optional and
//! unknown keys rejected, and its resolution into [`LlmSettings`], which say which backend to
//! build and how. The front end reads the file and writes its flags over this section before
//! resolving it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::model::{ensure_model, known_model, FetchProgress, DEFAULT_MODEL};
use crate::{
    Continuation, EmbeddedBackend, EmbeddedConfig, LlmBackend, LlmError, OpenAiBackend,
    OpenAiConfig, ScriptBackend,
};

/// The LLM backend: [`crate::EmbeddedBackend`], [`crate::OpenAiBackend`] or
/// [`crate::ScriptBackend`]. With the `clap` feature it is also a command-line choice (the
/// variants' docs are its help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LlmKind {
    /// llama.cpp in this process.
    Embedded,
    /// Any OpenAI-compatible server.
    #[cfg_attr(feature = "clap", value(name = "openai"))]
    OpenAi,
    /// Replies replayed from a script file (`--script`), for running protocols without a model.
    Script,
}

/// `[llm]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSection {
    pub backend: Option<LlmKind>,
    /// GGUF path for the embedded engine; wins over `model`.
    pub model_path: Option<PathBuf>,
    /// For the embedded engine, a model it fetches by name ([`crate::KNOWN_MODELS`]; default
    /// `qwen2.5-coder-0.5b`); for an OpenAI-compatible server, the name it serves.
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key.
    pub api_key_env: Option<String>,
    pub threads: Option<usize>,
    pub context_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub accepts_images: Option<bool>,
    /// How an OpenAI-compatible server continues an unfinished reply.
    pub continuation: Option<ContinuationSetting>,
    /// The replies of the `script` backend.
    pub script: Option<PathBuf>,
    /// Whether the embedded engine reuses the KV state of a prompt prefix shared with the
    /// previous request (default true).
    pub kv_reuse: Option<bool>,
    /// MiB of host memory for the embedded engine's saved KV states of other conversations
    /// (default [`crate::embedded::DEFAULT_PROMPT_CACHE_MIB`]; 0 turns it off).
    pub prompt_cache_mib: Option<u32>,
}

/// `[llm] continuation`: how an OpenAI-compatible server continues the assistant's unfinished
/// reply (the agent does this when a stop sequence fell inside a string literal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContinuationSetting {
    /// The reply is sent as a trailing assistant message (llama-server, Ollama).
    Prefill,
    /// As `prefill`, with vLLM's `continue_final_message` and `add_generation_prompt` fields.
    ContinueFinalMessage,
    /// The server cannot continue a reply.
    None,
}

impl From<ContinuationSetting> for Continuation {
    fn from(c: ContinuationSetting) -> Self {
        match c {
            ContinuationSetting::Prefill => Continuation::Prefill,
            ContinuationSetting::ContinueFinalMessage => Continuation::ContinueFinalMessage,
            ContinuationSetting::None => Continuation::Unsupported,
        }
    }
}

/// The LLM backend to build; the embedded engine's model is fetched only when it is built.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub kind: LlmKind,
    /// The embedded engine's GGUF; `None`: the known model `model` names.
    pub model_path: Option<PathBuf>,
    /// The model as configured (`None`: the default); the OpenAI client's copy has the
    /// client's default filled in.
    pub model: Option<String>,
    pub threads: Option<usize>,
    pub context_tokens: Option<u32>,
    pub openai: OpenAiConfig,
    /// The replies of the `script` backend.
    pub script: Option<PathBuf>,
    /// Sampling temperature, when configured.
    pub temperature: Option<f32>,
    pub kv_reuse: bool,
    pub prompt_cache_mib: u32,
}

impl LlmSection {
    /// The settings given here over the defaults: the embedded engine, and an OpenAI client
    /// with [`OpenAiConfig::default`]'s settings but a 600-second request timeout.
    pub fn resolve(self) -> LlmSettings {
        let d = OpenAiConfig::default();
        let openai = OpenAiConfig {
            base_url: self.base_url.unwrap_or(d.base_url.clone()),
            model: self.model.clone().unwrap_or(d.model.clone()),
            api_key_env: self.api_key_env.unwrap_or(d.api_key_env.clone()),
            accepts_images: self.accepts_images.unwrap_or(d.accepts_images),
            continuation: self.continuation.map_or(d.continuation, Continuation::from),
            // A long reply from a slow server is not a failure.
            request_timeout: Duration::from_secs(600),
            ..d
        };
        LlmSettings {
            kind: self.backend.unwrap_or(LlmKind::Embedded),
            model_path: self.model_path,
            model: self.model,
            threads: self.threads,
            context_tokens: self.context_tokens,
            openai,
            script: self.script,
            temperature: self.temperature,
            kv_reuse: self.kv_reuse.unwrap_or(true),
            prompt_cache_mib: self
                .prompt_cache_mib
                .unwrap_or(crate::embedded::DEFAULT_PROMPT_CACHE_MIB),
        }
    }
}

impl LlmSettings {
    /// The backend these settings name, ready to use: the embedded engine with its model
    /// loaded (fetched first if needed, reporting to `progress`), an OpenAI-compatible client,
    /// or the script backend with its file read.
    ///
    /// Errors: an unknown model name, a failed download or load, a bad client setting, or the
    /// script backend without a script (or with a bad one).
    pub async fn build(
        &self,
        progress: impl FetchProgress + Send + 'static,
    ) -> Result<Arc<dyn LlmBackend>, LlmError> {
        match self.kind {
            LlmKind::Embedded => {
                let settings = self.clone();
                let path = tokio::task::spawn_blocking(move || settings.embedded_model(&progress))
                    .await
                    .map_err(|e| LlmError::Model(format!("model fetching panicked: {e}")))??;
                let mut cfg = EmbeddedConfig::new(path);
                cfg.n_threads = self.threads;
                cfg.kv_reuse = self.kv_reuse;
                cfg.prompt_cache_mib = self.prompt_cache_mib;
                if let Some(n) = self.context_tokens {
                    cfg.n_ctx = n;
                }
                Ok(Arc::new(EmbeddedBackend::load(cfg).await?))
            }
            LlmKind::OpenAi => Ok(Arc::new(OpenAiBackend::new(self.openai.clone())?)),
            LlmKind::Script => {
                let path = self.script.as_deref().ok_or_else(|| {
                    LlmError::Model("--llm script needs --script FILE (or [llm] script)".into())
                })?;
                Ok(Arc::new(ScriptBackend::from_file(path)?))
            }
        }
    }

    /// The embedded engine's GGUF: `model_path` when given, else the known model that `model`
    /// names (the default when none), fetched into the cache first if needed.
    ///
    /// Blocks while fetching (seconds to minutes on first use). Errors: an unknown model name
    /// (the message lists the known ones), or a failed download.
    pub fn embedded_model(&self, progress: &dyn FetchProgress) -> Result<PathBuf, LlmError> {
        if let Some(path) = &self.model_path {
            return Ok(path.clone());
        }
        let known = match &self.model {
            Some(name) => known_model(name)?,
            None => DEFAULT_MODEL,
        };
        ensure_model(known, progress)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn continuation_is_named_as_servers_need_it() {
        let settings = LlmSection::default().resolve();
        assert_eq!(settings.kind, LlmKind::Embedded);
        assert_eq!(settings.openai.continuation, Continuation::Prefill);
        let vllm: LlmSection = toml::from_str("continuation = \"continue_final_message\"").unwrap();
        assert_eq!(
            vllm.resolve().openai.continuation,
            Continuation::ContinueFinalMessage
        );
        assert!(toml::from_str::<LlmSection>("continuation = \"maybe\"").is_err());
    }
}
