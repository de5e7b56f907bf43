//! The one configuration of every command, resolved once by [`Config::load`]: the TOML file
//! (every field optional, unknown keys rejected), then the environment, then the command-line
//! flags are written over one [`Layers`] value, which [`Config::resolve`] turns into validated
//! settings with the built-in defaults filled in. The sections of `[exec]`, `[jupyter]`,
//! `[llm]`, `[agent]` and `[server]` are their libraries' (shape, and resolution into their
//! configs); the file's top level is here.

mod flags;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use codeact_agent::{AgentConfig, AgentSection};
use codeact_exec::jupyter::JupyterConfig;
use codeact_exec::sections::{BackendKind, ExecSection, JupyterSection};
use codeact_exec::{ExecConfig, NetworkMode, SandboxMode, SandboxPolicy};
use codeact_llm::settings::LlmSection;
use codeact_llm::LlmSettings;
use codeact_server::ServerSection;
use serde::Deserialize;

pub use flags::{AgentArgs, EngineArgs, Overrides, WithBackends};

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
        self.exec.apply_env(&var)?;
        self.server.apply_env(&var).map_err(anyhow::Error::msg)?;
        let token = var("CODEACT_JUPYTER_TOKEN");
        self.jupyter.token = token.or(self.jupyter.token.take());
        Ok(())
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
        let backend = l.exec.backend.unwrap_or(BackendKind::Local);
        let exec = l.exec.resolve(l.sandbox)?;
        let network =
            exec.sandbox.network == NetworkMode::Egress || exec.sandbox.mode == SandboxMode::None;
        let (temperature, max_tokens) = (l.llm.temperature, l.llm.max_tokens);
        let conversations_dir = l.agent.conversations_dir();
        let server = l.server.resolve().map_err(anyhow::Error::msg)?;
        Ok(Self {
            exec,
            backend,
            jupyter: l.jupyter.resolve(),
            host: server.host,
            port: server.port,
            history: server.history,
            server: server.http,
            llm: l.llm.resolve(),
            agent: l.agent.resolve(network, temperature, max_tokens),
            conversations_dir,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use codeact_llm::{Continuation, LlmKind};

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
    fn a_model_flag_replaces_the_files_model_path_and_model_path_wins_over_it() {
        let file = "[llm]\nmodel_path = \"/models/file.gguf\"";
        let resolve = |model: Option<&str>, path: Option<&str>| {
            let mut layers: Layers = toml::from_str(file).unwrap();
            let flags = flags::LlmArgs {
                model: model.map(str::to_string),
                model_path: path.map(PathBuf::from),
                ..flags::LlmArgs::default()
            };
            flags.apply(&mut layers);
            let llm = Config::resolve(layers).unwrap().llm;
            (llm.model, llm.model_path)
        };
        let from_file = Some(PathBuf::from("/models/file.gguf"));
        assert_eq!(resolve(None, None), (None, from_file));
        let named = Some("qwen2.5-coder-1.5b".to_string());
        assert_eq!(resolve(named.as_deref(), None), (named.clone(), None));
        let given = Some(PathBuf::from("/m.gguf"));
        assert_eq!(resolve(named.as_deref(), Some("/m.gguf")), (named, given));
    }

    #[test]
    fn unknown_sections_and_bad_environment_values_are_refused() {
        assert!(toml::from_str::<Layers>("[exek]\nbackend = \"local\"").is_err());
        assert!(Layers::default()
            .apply_env(|_| Some("soon".into()))
            .is_err());
    }
}
