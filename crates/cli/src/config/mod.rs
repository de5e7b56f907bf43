//! The one configuration of every command, resolved once by [`Config::load`]: the TOML file
//! (every field optional, unknown keys rejected), then the environment, then the command-line
//! flags are written over one [`Layers`] value, which [`Config::resolve`] turns into validated
//! settings with the built-in defaults filled in.

mod flags;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use codeact_agent::{AgentConfig, SelfConsistency};
use codeact_exec::jupyter::JupyterConfig;
use codeact_exec::{ExecConfig, NetworkMode, SandboxMode, SandboxPolicy};
use codeact_llm::{Continuation, OpenAiConfig};
use serde::Deserialize;

pub use flags::{AgentArgs, BackendKind, EngineArgs, LlmArgs, LlmKind, Overrides};

/// The file's shape, every field optional; the environment and the flags are written over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layers {
    #[serde(default)]
    pub exec: ExecSection,
    #[serde(default)]
    pub sandbox: SandboxPolicy,
    #[serde(default)]
    pub jupyter: JupyterSection,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub llm: LlmSection,
    #[serde(default)]
    pub agent: AgentSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSection {
    pub backend: Option<BackendKind>,
    pub cell_timeout_s: Option<f64>,
    pub interrupt_grace_s: Option<f64>,
    pub output_limit_bytes: Option<usize>,
    pub idle_timeout_s: Option<f64>,
    pub max_sessions: Option<usize>,
    pub max_file_bytes: Option<u64>,
    pub python: Option<PathBuf>,
    /// Pre-started sandboxes kept ready for new sessions (local backend).
    pub pool_size: Option<usize>,
    /// Zygotes sessions are forked from (local backend): more make sessions at once on more
    /// cores, each with its own memory.
    pub zygotes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JupyterSection {
    pub url: Option<String>,
    pub token: Option<String>,
    pub kernel_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub host: Option<String>,
    /// API keys, user name → key (`CODEACT_API_KEYS=user:key,user:key` adds to them).
    #[serde(default)]
    pub api_keys: std::collections::BTreeMap<String, String>,
    pub port: Option<u16>,
    pub max_body_bytes: Option<usize>,
    /// Most runs (cells, agent requests) one API-key user may have at once; 0: no cap.
    pub max_runs_per_user: Option<usize>,
    /// Seconds running requests may go on after a stop signal.
    pub shutdown_grace_s: Option<f64>,
    /// Where the agent's conversations are kept: a SQLite file (path or `sqlite://PATH`) or
    /// `postgres://…` (default: `<data dir>/codeact/history.sqlite3`).
    pub history: Option<String>,
}

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

/// Every setting, resolved and validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub exec: ExecConfig,
    pub backend: BackendKind,
    pub jupyter: JupyterConfig,
    pub host: String,
    pub port: u16,
    /// Where `serve --agent` keeps conversations (`None`: the default SQLite file).
    pub history: Option<String>,
    /// The HTTP layer's settings (`codeact serve`).
    pub server: codeact_server::ServerConfig,
    pub llm: LlmSettings,
    /// The agent's settings; each front end sets the mode.
    pub agent: AgentConfig,
    pub conversations_dir: PathBuf,
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

impl Layers {
    /// Reads `path` (from `--config` or `$CODEACT_CONFIG`), else `~/.config/codeact/config.toml`
    /// when it exists, else nothing.
    pub fn from_file(path: Option<&Path>) -> Result<Self> {
        let default = dirs::config_dir().map(|d| d.join("codeact/config.toml"));
        let Some(p) = path
            .map(Path::to_path_buf)
            .or(default.filter(|p| p.exists()))
        else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(&p)
            .with_context(|| format!("reading config {}", p.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config {}", p.display()))
    }

    /// The settings only the environment sets (the others arrive with their flags).
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn parsed<T: std::str::FromStr>(var: &str, value: Option<String>) -> Result<Option<T>>
        where
            T::Err: std::fmt::Display,
        {
            value
                .map(|v| v.parse().map_err(|e| anyhow::anyhow!("{var}={v}: {e}")))
                .transpose()
        }
        let e = &mut self.exec;
        let cell = parsed("CODEACT_CELL_TIMEOUT", var("CODEACT_CELL_TIMEOUT"))?;
        e.cell_timeout_s = cell.or(e.cell_timeout_s);
        let idle = parsed("CODEACT_IDLE_TIMEOUT", var("CODEACT_IDLE_TIMEOUT"))?;
        e.idle_timeout_s = idle.or(e.idle_timeout_s);
        let max = parsed("CODEACT_MAX_SESSIONS", var("CODEACT_MAX_SESSIONS"))?;
        e.max_sessions = max.or(e.max_sessions);
        if let Some(text) = var("CODEACT_API_KEYS") {
            for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (user, key) = pair
                    .split_once(':')
                    .ok_or_else(|| anyhow::anyhow!("CODEACT_API_KEYS: {pair:?} is not user:key"))?;
                self.server
                    .api_keys
                    .insert(user.trim().to_string(), key.trim().to_string());
            }
        }
        if let Some(h) = var("CODEACT_HISTORY") {
            self.server.history = Some(h);
        }
        let token = var("CODEACT_JUPYTER_TOKEN");
        self.jupyter.token = token.or(self.jupyter.token.take());
        Ok(())
    }
}

fn secs(v: Option<f64>, default: Duration) -> Result<Duration> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => bail!("durations must be positive, got {s}"),
    }
}

impl Config {
    /// The file, then the environment, then `flags` (flags > environment > file > defaults).
    pub fn load(path: Option<&Path>, flags: &[&dyn Overrides]) -> Result<Self> {
        let mut layers = Layers::from_file(path)?;
        layers.apply_env(|k| std::env::var(k).ok())?;
        for f in flags {
            f.apply(&mut layers);
        }
        Self::resolve(layers)
    }

    /// Fills in the defaults and checks what types cannot.
    pub fn resolve(l: Layers) -> Result<Self> {
        let d = ExecConfig::default();
        let e = l.exec;
        let exec = ExecConfig {
            cell_timeout: secs(e.cell_timeout_s, d.cell_timeout)?,
            interrupt_grace: secs(e.interrupt_grace_s, d.interrupt_grace)?,
            output_limit: e.output_limit_bytes.unwrap_or(d.output_limit),
            idle_timeout: secs(e.idle_timeout_s, d.idle_timeout)?,
            max_sessions: e.max_sessions.unwrap_or(d.max_sessions),
            max_file_bytes: e.max_file_bytes.unwrap_or(d.max_file_bytes),
            python: e.python.unwrap_or(d.python),
            preload: None,
            pool_size: e.pool_size.unwrap_or(d.pool_size),
            zygotes: e.zygotes.unwrap_or(d.zygotes),
            sandbox: l.sandbox,
        };
        let dj = JupyterConfig::default();
        let jupyter = JupyterConfig {
            url: l.jupyter.url.unwrap_or(dj.url),
            token: l.jupyter.token,
            kernel_name: l.jupyter.kernel_name.unwrap_or(dj.kernel_name),
        };
        let m = l.llm;
        let d = OpenAiConfig::default();
        let openai = OpenAiConfig {
            base_url: m.base_url.unwrap_or(d.base_url.clone()),
            model: m.model.unwrap_or(d.model.clone()),
            api_key_env: m.api_key_env.unwrap_or(d.api_key_env.clone()),
            accepts_images: m.accepts_images.unwrap_or(d.accepts_images),
            continuation: m.continuation.map_or(d.continuation, Continuation::from),
            // A long reply from a slow server is not a failure.
            request_timeout: Duration::from_secs(600),
            ..d
        };
        let a = l.agent;
        let conversations_dir = a.conversations_dir.unwrap_or_else(|| {
            dirs::data_local_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("codeact/conversations")
        });
        let mut agent = AgentConfig {
            network: Some(
                exec.sandbox.network == NetworkMode::Egress
                    || exec.sandbox.mode == SandboxMode::None,
            ),
            fence_fallback: a.fence_fallback.unwrap_or(true),
            grammar: a.grammar.unwrap_or(false),
            temperature: m.temperature.unwrap_or(0.0),
            tools_file: a.tools,
            output_dir: a
                .figures_dir
                .unwrap_or_else(|| PathBuf::from("codeact-figures")),
            conversation_dir: Some(conversations_dir.clone()),
            self_consistency: a.samples.filter(|n| *n > 1).map(|samples| SelfConsistency {
                samples,
                ..SelfConsistency::default()
            }),
            ..AgentConfig::default()
        };
        let limits = &mut agent.limits;
        limits.max_turns = a.max_turns.unwrap_or(limits.max_turns);
        limits.max_executions = a
            .max_executions_per_message
            .unwrap_or(limits.max_executions);
        limits.context_chars = a.context_chars.unwrap_or(limits.context_chars);
        limits.max_tokens = m.max_tokens.unwrap_or(limits.max_tokens);
        agent.sampling.resample_repeats = a
            .resample_repeats
            .unwrap_or(agent.sampling.resample_repeats);
        agent.answer_reminder = a.answer_reminder.unwrap_or(agent.answer_reminder);
        Ok(Self {
            exec,
            backend: e.backend.unwrap_or(BackendKind::Local),
            jupyter,
            host: l.server.host.unwrap_or_else(|| "127.0.0.1".into()),
            port: l.server.port.unwrap_or(8000),
            history: l.server.history.clone(),
            server: {
                let d = codeact_server::ServerConfig::default();
                codeact_server::ServerConfig {
                    max_body_bytes: l.server.max_body_bytes.unwrap_or(d.max_body_bytes),
                    api_keys: codeact_server::ApiKeys::new(l.server.api_keys.clone()).map_err(
                        |e| anyhow::anyhow!("[server] api_keys / CODEACT_API_KEYS: {e}"),
                    )?,
                    max_runs_per_user: l.server.max_runs_per_user.unwrap_or(d.max_runs_per_user),
                    shutdown_grace: secs(l.server.shutdown_grace_s, d.shutdown_grace)?,
                }
            },
            llm: LlmSettings {
                kind: m.backend.unwrap_or(LlmKind::Embedded),
                model_path: m.model_path,
                threads: m.threads,
                context_tokens: m.context_tokens,
                openai,
                script: m.script,
                temperature: m.temperature,
                kv_reuse: m.kv_reuse.unwrap_or(true),
            },
            agent,
            conversations_dir,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The TOML block of the README's "Configuration" section.
    fn readme_sample() -> String {
        let readme = include_str!("../../../../README.md");
        let start = readme
            .find("### Configuration")
            .and_then(|at| {
                readme[at..]
                    .find("```toml")
                    .map(|b| at + b + "```toml".len())
            })
            .unwrap_or(0);
        let end = readme[start..].find("```").map_or(start, |e| start + e);
        readme[start..end].to_string()
    }

    #[test]
    fn the_readme_sample_parses_with_every_key_enabled() {
        let sample = readme_sample();
        assert!(sample.contains("[agent]"), "README sample not found");
        let enabled: String = sample
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: Result<Layers, _> = toml::from_str(&enabled);
        let file = parsed.unwrap_or_else(|e| panic!("{e}\n{enabled}"));
        assert_eq!(file.agent.resample_repeats, Some(3));
        assert_eq!(file.agent.answer_reminder, Some(true));
        assert_eq!(file.agent.max_turns, Some(10));
        assert_eq!(file.server.api_keys.len(), 1);
        let config = Config::resolve(file).unwrap();
        assert!(!config.server.api_keys.is_empty());
        assert_eq!(config.server.max_runs_per_user, 8);
        assert_eq!(config.backend, BackendKind::Local);
        assert_eq!(config.llm.kind, LlmKind::Embedded);
        assert_eq!(config.llm.openai.continuation, Continuation::Prefill);
        let vllm: Layers =
            toml::from_str("[llm]\ncontinuation = \"continue_final_message\"").unwrap();
        let config = Config::resolve(vllm).unwrap();
        assert_eq!(
            config.llm.openai.continuation,
            Continuation::ContinueFinalMessage
        );
        assert!(toml::from_str::<Layers>("[llm]\ncontinuation = \"maybe\"").is_err());
    }

    #[test]
    fn flags_override_the_environment_which_overrides_the_file() {
        let file = "[exec]\ncell_timeout_s = 30\nmax_sessions = 5\n[jupyter]\ntoken = \"f\"";
        let env = |k: &str| match k {
            "CODEACT_CELL_TIMEOUT" => Some("20".to_string()),
            "CODEACT_JUPYTER_TOKEN" => Some("e".to_string()),
            _ => None,
        };
        let mut layers: Layers = toml::from_str(file).unwrap();
        layers.apply_env(env).unwrap();
        let flags = EngineArgs {
            timeout: Some(10.0),
            ..EngineArgs::default()
        };
        let c = Config::resolve(layers).unwrap();
        assert_eq!(c.exec.cell_timeout, Duration::from_secs(20));
        assert_eq!(c.exec.max_sessions, 5);
        assert_eq!(c.jupyter.token.as_deref(), Some("e"));

        let mut layers: Layers = toml::from_str(file).unwrap();
        layers.apply_env(env).unwrap();
        flags.apply(&mut layers);
        let c = Config::resolve(layers).unwrap();
        assert_eq!(c.exec.cell_timeout, Duration::from_secs(10));
        assert_eq!(c.exec.idle_timeout, ExecConfig::default().idle_timeout);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Layers>("[exec]\nbakend = \"local\"").is_err());
        assert!(toml::from_str::<Layers>("[exec]\nbackend = \"docker\"").is_err());
        assert!(Layers::default()
            .apply_env(|_| Some("soon".into()))
            .is_err());
        let layers: Layers = toml::from_str("[exec]\ncell_timeout_s = -1").unwrap();
        assert!(Config::resolve(layers).is_err());
    }
}
