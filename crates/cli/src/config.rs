//! The TOML configuration file: every field optional, unknown keys rejected. Precedence is
//! command-line flags, then environment variables, then the file, then built-in defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use codeact_exec::{ExecConfig, NetworkMode, SandboxMode, SandboxPolicy};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub exec: ExecSection,
    #[serde(default)]
    pub sandbox: Option<SandboxPolicy>,
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
    /// `local` (default) or `jupyter`.
    pub backend: Option<String>,
    pub cell_timeout_s: Option<f64>,
    pub interrupt_grace_s: Option<f64>,
    pub output_limit_bytes: Option<usize>,
    pub idle_timeout_s: Option<f64>,
    pub max_sessions: Option<usize>,
    pub max_file_bytes: Option<u64>,
    pub python: Option<PathBuf>,
    /// Pre-started sandboxes kept ready for new sessions (local backend).
    pub pool_size: Option<usize>,
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
    pub port: Option<u16>,
    pub max_body_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct LlmSection {
    /// `embedded` (default) or `openai`.
    pub backend: Option<String>,
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
}

#[derive(Debug, Default, Deserialize, Clone)]
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

impl FileConfig {
    /// Reads `path`, or `$CODEACT_CONFIG`, or `~/.config/codeact/config.toml` if it exists.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let env_path = std::env::var_os("CODEACT_CONFIG").map(PathBuf::from);
        let default = dirs::config_dir().map(|d| d.join("codeact/config.toml"));
        let chosen = match (path, env_path) {
            (Some(p), _) => Some(p.to_path_buf()),
            (None, Some(p)) => Some(p),
            (None, None) => default.filter(|p| p.exists()),
        };
        let Some(p) = chosen else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(&p)
            .with_context(|| format!("reading config {}", p.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config {}", p.display()))
    }
}

fn secs(v: Option<f64>, default: Duration) -> Result<Duration> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => bail!("durations must be positive, got {s}"),
    }
}

fn env<T: std::str::FromStr>(key: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(key) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key}={v}: {e}")),
        Err(_) => Ok(None),
    }
}

/// Engine flags shared by every command that runs code.
#[derive(Debug, Clone, clap::Args, Default)]
pub struct EngineArgs {
    /// Configuration file (default: $CODEACT_CONFIG or ~/.config/codeact/config.toml).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Execution backend: local (sandboxed sessions on this machine) or jupyter.
    #[arg(long, env = "CODEACT_BACKEND")]
    pub backend: Option<String>,
    /// Sandbox of the local backend: local (default) or none (no isolation; warns).
    #[arg(long, env = "CODEACT_SANDBOX")]
    pub sandbox: Option<String>,
    /// Session network: none (default) or egress.
    #[arg(long, env = "CODEACT_NETWORK")]
    pub network: Option<String>,
    /// Per-cell timeout in seconds (default 60).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Jupyter Server / Kernel Gateway URL for --backend jupyter.
    #[arg(long, env = "CODEACT_JUPYTER_URL")]
    pub jupyter_url: Option<String>,
    /// Python interpreter of the session environment.
    #[arg(long, env = "CODEACT_PYTHON")]
    pub python: Option<PathBuf>,
}

/// The resolved engine settings.
pub struct Engine {
    pub exec: ExecConfig,
    pub backend: String,
    pub jupyter: JupyterSection,
}

impl EngineArgs {
    pub fn resolve(&self, file: &FileConfig) -> Result<Engine> {
        let d = ExecConfig::default();
        let e = &file.exec;
        let mut sandbox = file.sandbox.clone().unwrap_or_default();
        if let Some(m) = &self.sandbox {
            sandbox.mode = match m.as_str() {
                "local" => SandboxMode::Local,
                "none" => SandboxMode::None,
                other => bail!("--sandbox must be local or none, not {other:?}"),
            };
        }
        if let Some(n) = &self.network {
            sandbox.network = match n.as_str() {
                "none" => NetworkMode::None,
                "egress" => NetworkMode::Egress,
                other => bail!("--network must be none or egress, not {other:?}"),
            };
        }
        let exec = ExecConfig {
            cell_timeout: secs(
                self.timeout
                    .or(env("CODEACT_CELL_TIMEOUT")?)
                    .or(e.cell_timeout_s),
                d.cell_timeout,
            )?,
            interrupt_grace: secs(e.interrupt_grace_s, d.interrupt_grace)?,
            output_limit: e.output_limit_bytes.unwrap_or(d.output_limit),
            idle_timeout: secs(
                env("CODEACT_IDLE_TIMEOUT")?.or(e.idle_timeout_s),
                d.idle_timeout,
            )?,
            max_sessions: env("CODEACT_MAX_SESSIONS")?
                .or(e.max_sessions)
                .unwrap_or(d.max_sessions),
            max_file_bytes: e.max_file_bytes.unwrap_or(d.max_file_bytes),
            python: self.python.clone().or(e.python.clone()).unwrap_or(d.python),
            preload: None,
            pool_size: e.pool_size.unwrap_or(d.pool_size),
            sandbox,
        };
        let backend = self
            .backend
            .clone()
            .or(e.backend.clone())
            .unwrap_or_else(|| "local".into());
        if !matches!(backend.as_str(), "local" | "jupyter") {
            bail!("--backend must be local or jupyter, not {backend:?}");
        }
        let mut jupyter = JupyterSection {
            ..file.jupyter_clone()
        };
        if let Some(u) = &self.jupyter_url {
            jupyter.url = Some(u.clone());
        }
        Ok(Engine {
            exec,
            backend,
            jupyter,
        })
    }
}

impl FileConfig {
    fn jupyter_clone(&self) -> JupyterSection {
        JupyterSection {
            url: self.jupyter.url.clone(),
            token: self
                .jupyter
                .token
                .clone()
                .or_else(|| std::env::var("CODEACT_JUPYTER_TOKEN").ok()),
            kernel_name: self.jupyter.kernel_name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TOML block of the README's "Configuration" section.
    fn readme_sample() -> String {
        let readme = include_str!("../../../README.md");
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
        let parsed: Result<FileConfig, _> = toml::from_str(&enabled);
        let file = parsed.unwrap_or_else(|e| panic!("{e}\n{enabled}"));
        assert_eq!(file.agent.resample_repeats, Some(3));
        assert_eq!(file.agent.answer_reminder, Some(true));
        assert_eq!(file.agent.max_turns, Some(10));
    }
}
