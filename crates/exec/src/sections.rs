//! The engine's sections of codeact's configuration file, `[exec]` and `[jupyter]` (the
//! `[sandbox]` section is [`SandboxPolicy`] itself): their shape, every field optional and
//! unknown keys rejected, the environment variables that override `[exec]`, and their
//! resolution into [`ExecConfig`] and [`JupyterConfig`] with the defaults filled in. The front
//! end reads the file and writes the environment and its flags over these before resolving
//! them.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::jupyter::JupyterConfig;
use crate::{ExecConfig, ExecError, SandboxPolicy};

/// The execution backend sessions come from: [`crate::local`] or [`crate::jupyter`]. With
/// the `clap` feature it is also a command-line choice (the variants' docs are its help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Sandboxed sessions on this machine.
    Local,
    /// A Jupyter Server or Kernel Gateway.
    Jupyter,
}

/// `[exec]`: the backend, and the session manager's limits (seconds, bytes, counts).
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

impl ExecSection {
    /// Writes the environment's settings over the file's: `CODEACT_CELL_TIMEOUT` and
    /// `CODEACT_IDLE_TIMEOUT` (seconds) and `CODEACT_MAX_SESSIONS`, read through `var`. A value
    /// that does not parse is an error naming the variable.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ExecError> {
        fn parsed<T: std::str::FromStr>(
            var: &str,
            value: Option<String>,
        ) -> Result<Option<T>, ExecError>
        where
            T::Err: std::fmt::Display,
        {
            value
                .map(|v| {
                    v.parse()
                        .map_err(|e| ExecError::InvalidSetting(format!("{var}={v}: {e}")))
                })
                .transpose()
        }
        let cell = parsed("CODEACT_CELL_TIMEOUT", var("CODEACT_CELL_TIMEOUT"))?;
        self.cell_timeout_s = cell.or(self.cell_timeout_s);
        let idle = parsed("CODEACT_IDLE_TIMEOUT", var("CODEACT_IDLE_TIMEOUT"))?;
        self.idle_timeout_s = idle.or(self.idle_timeout_s);
        let max = parsed("CODEACT_MAX_SESSIONS", var("CODEACT_MAX_SESSIONS"))?;
        self.max_sessions = max.or(self.max_sessions);
        Ok(())
    }

    /// The settings given here over [`ExecConfig::default`], with `sandbox` as the policy;
    /// the backend is left to the caller. A duration that is not positive is an error.
    pub fn resolve(self, sandbox: SandboxPolicy) -> Result<ExecConfig, ExecError> {
        let d = ExecConfig::default();
        Ok(ExecConfig {
            cell_timeout: positive_secs(self.cell_timeout_s, d.cell_timeout)?,
            interrupt_grace: positive_secs(self.interrupt_grace_s, d.interrupt_grace)?,
            output_limit: self.output_limit_bytes.unwrap_or(d.output_limit),
            idle_timeout: positive_secs(self.idle_timeout_s, d.idle_timeout)?,
            max_sessions: self.max_sessions.unwrap_or(d.max_sessions),
            max_file_bytes: self.max_file_bytes.unwrap_or(d.max_file_bytes),
            python: self.python.unwrap_or(d.python),
            preload: None,
            pool_size: self.pool_size.unwrap_or(d.pool_size),
            zygotes: self.zygotes.unwrap_or(d.zygotes),
            sandbox,
        })
    }
}

/// `[jupyter]`: where the Jupyter server is, and which kernels to ask it for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JupyterSection {
    pub url: Option<String>,
    pub token: Option<String>,
    pub kernel_name: Option<String>,
}

impl JupyterSection {
    /// The settings given here over [`JupyterConfig::default`].
    pub fn resolve(self) -> JupyterConfig {
        let d = JupyterConfig::default();
        JupyterConfig {
            url: self.url.unwrap_or(d.url),
            token: self.token,
            kernel_name: self.kernel_name.unwrap_or(d.kernel_name),
        }
    }
}

/// A duration setting in seconds: `default` when unset; zero, negative or not finite is an
/// error.
pub fn positive_secs(v: Option<f64>, default: Duration) -> Result<Duration, ExecError> {
    match v {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(ExecError::InvalidSetting(format!(
            "durations must be positive, got {s}"
        ))),
    }
}

/// The session manager over the backend `kind` names: sandboxed local sessions with `exec`,
/// or kernels of the Jupyter server `jupyter` points at. What the sandbox cannot enforce on
/// this machine is logged as a warning once.
///
/// Errors: the local backend could not start (its zygote, the session Python).
pub async fn session_manager(
    kind: BackendKind,
    exec: &ExecConfig,
    jupyter: &JupyterConfig,
) -> Result<std::sync::Arc<crate::SessionManager>, ExecError> {
    let backend: std::sync::Arc<dyn crate::Backend> = match kind {
        BackendKind::Jupyter => {
            std::sync::Arc::new(crate::jupyter::JupyterBackend::new(jupyter.clone()))
        }
        BackendKind::Local => std::sync::Arc::new(crate::local::LocalBackend::new(exec).await?),
    };
    let report = backend.report();
    tracing::debug!(backend = %report.backend, isolated = report.isolated, "execution backend ready");
    for m in &report.missing {
        tracing::warn!("sandbox: {m}");
    }
    Ok(crate::SessionManager::new(backend, exec.clone()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<ExecSection>("bakend = \"local\"").is_err());
        assert!(toml::from_str::<ExecSection>("backend = \"docker\"").is_err());
        let section: ExecSection = toml::from_str("cell_timeout_s = -1").unwrap();
        assert!(section.resolve(SandboxPolicy::default()).is_err());
        let soon = ExecSection::default().apply_env(|_| Some("soon".into()));
        let err = soon.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("CODEACT_CELL_TIMEOUT=soon: "), "{err}");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let mut section: ExecSection =
            toml::from_str("cell_timeout_s = 30\nmax_sessions = 5").unwrap();
        section
            .apply_env(|k| (k == "CODEACT_CELL_TIMEOUT").then(|| "20".to_string()))
            .unwrap();
        let config = section.resolve(SandboxPolicy::default()).unwrap();
        assert_eq!(config.cell_timeout, Duration::from_secs(20));
        assert_eq!(config.max_sessions, 5);
    }
}
