//! The `[agent]` section of codeact's configuration file: its shape, every field optional and
//! unknown keys rejected, and its resolution into an [`AgentConfig`]. The front end reads the
//! file and writes its flags over this section before resolving it.

use std::path::PathBuf;

use serde::Deserialize;

use crate::{AgentConfig, SelfConsistency};

/// `[agent]`: limits, parsing, sampling and where the agent keeps what it saves.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    pub max_turns: Option<u32>,
    pub max_executions_per_message: Option<u32>,
    pub context_chars: Option<usize>,
    pub fence_fallback: Option<bool>,
    pub grammar: Option<bool>,
    /// Times a reply that would re-run a cell is sampled again.
    pub resample_repeats: Option<u32>,
    /// In task mode, remind the model to answer after each successful output.
    pub answer_reminder: Option<bool>,
    pub samples: Option<u32>,
    pub tools: Option<PathBuf>,
    pub conversations_dir: Option<PathBuf>,
    pub figures_dir: Option<PathBuf>,
}

impl AgentSection {
    /// Where conversations are saved: `conversations_dir`, else `codeact/conversations` in
    /// the user's local data directory (the working directory when there is none).
    pub fn conversations_dir(&self) -> PathBuf {
        self.conversations_dir.clone().unwrap_or_else(|| {
            dirs::data_local_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("codeact/conversations")
        })
    }

    /// The settings given here over [`AgentConfig::default`]. `network`: whether sessions
    /// reach the network; `temperature` (default 0) and `max_tokens` are the `[llm]`
    /// section's. Figures go to `./codeact-figures` unless `figures_dir` says otherwise.
    pub fn resolve(
        self,
        network: bool,
        temperature: Option<f32>,
        max_tokens: Option<u32>,
    ) -> AgentConfig {
        let conversation_dir = Some(self.conversations_dir());
        let mut agent = AgentConfig {
            network: Some(network),
            fence_fallback: self.fence_fallback.unwrap_or(true),
            grammar: self.grammar.unwrap_or(false),
            temperature: temperature.unwrap_or(0.0),
            tools_file: self.tools,
            output_dir: self
                .figures_dir
                .unwrap_or_else(|| PathBuf::from("codeact-figures")),
            conversation_dir,
            self_consistency: self
                .samples
                .filter(|n| *n > 1)
                .map(|samples| SelfConsistency {
                    samples,
                    ..SelfConsistency::default()
                }),
            ..AgentConfig::default()
        };
        let limits = &mut agent.limits;
        limits.max_turns = self.max_turns.unwrap_or(limits.max_turns);
        limits.max_executions = self
            .max_executions_per_message
            .unwrap_or(limits.max_executions);
        limits.context_chars = self.context_chars.unwrap_or(limits.context_chars);
        limits.max_tokens = max_tokens.unwrap_or(limits.max_tokens);
        agent.sampling.resample_repeats = self
            .resample_repeats
            .unwrap_or(agent.sampling.resample_repeats);
        agent.answer_reminder = self.answer_reminder.unwrap_or(agent.answer_reminder);
        agent
    }
}
