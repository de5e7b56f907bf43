//! The `[llm]` section of codeact's configuration file: its shape, every field optional and
//! unknown keys rejected, and its resolution into [`LlmSettings`], which say which backend to
//! build and how. The front end reads the file and writes its flags over this section before
//! resolving it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::{Continuation, OpenAiConfig};

/// The LLM backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmKind {
    /// llama.cpp in this process ([`crate::EmbeddedBackend`]).
    Embedded,
    /// Any OpenAI-compatible server ([`crate::OpenAiBackend`]).
    OpenAi,
    /// Replies replayed from a script file ([`crate::ScriptBackend`]).
    Script,
}

/// `[llm]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSection {
    pub backend: Option<LlmKind>,
    /// GGUF path for the embedded engine (default: the bundled Qwen2.5-Coder-0.5B-Instruct).
    pub model_path: Option<PathBuf>,
    /// Model name for an OpenAI-compatible server.
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
    /// `None`: the default model, fetched into the cache on first use.
    pub model_path: Option<PathBuf>,
    pub threads: Option<usize>,
    pub context_tokens: Option<u32>,
    pub openai: OpenAiConfig,
    /// The replies of the `script` backend.
    pub script: Option<PathBuf>,
    /// Sampling temperature, when configured.
    pub temperature: Option<f32>,
    pub kv_reuse: bool,
}

impl LlmSection {
    /// The settings given here over the defaults: the embedded engine, and an OpenAI client
    /// with [`OpenAiConfig::default`]'s settings but a 600-second request timeout.
    pub fn resolve(self) -> LlmSettings {
        let d = OpenAiConfig::default();
        let openai = OpenAiConfig {
            base_url: self.base_url.unwrap_or(d.base_url.clone()),
            model: self.model.unwrap_or(d.model.clone()),
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
            threads: self.threads,
            context_tokens: self.context_tokens,
            openai,
            script: self.script,
            temperature: self.temperature,
            kv_reuse: self.kv_reuse.unwrap_or(true),
        }
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
