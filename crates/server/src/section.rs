//! The config file's `[server]` section: its shape (every field optional), the settings only
//! the environment gives (`CODEACT_API_KEYS`, `CODEACT_HISTORY`), and its resolution into
//! [`ServerSettings`] with the defaults filled in.

use std::collections::BTreeMap;

use codeact_exec::sections::positive_secs;
use serde::Deserialize;

use crate::{ApiKeys, ServerConfig};

/// `[server]` as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub host: Option<String>,
    /// API keys, user name → key (`CODEACT_API_KEYS=user:key,user:key` adds to them).
    #[serde(default)]
    pub api_keys: BTreeMap<String, String>,
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

/// The section resolved: where to listen, the HTTP layer's settings, the history store.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// `None`: the default SQLite file.
    pub history: Option<String>,
    pub http: ServerConfig,
}

impl ServerSection {
    /// Adds the environment's API keys (`CODEACT_API_KEYS`, `user:key` pairs separated by
    /// commas) and history store (`CODEACT_HISTORY`); a malformed pair is an error.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), String> {
        if let Some(text) = var("CODEACT_API_KEYS") {
            for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (user, key) = pair
                    .split_once(':')
                    .ok_or_else(|| format!("CODEACT_API_KEYS: {pair:?} is not user:key"))?;
                self.api_keys
                    .insert(user.trim().to_string(), key.trim().to_string());
            }
        }
        if let Some(h) = var("CODEACT_HISTORY") {
            self.history = Some(h);
        }
        Ok(())
    }

    /// Fills in the defaults (127.0.0.1:8000, [`ServerConfig::default`]) and checks the keys
    /// and the grace period; the error names the setting.
    pub fn resolve(self) -> Result<ServerSettings, String> {
        let d = ServerConfig::default();
        let shutdown_grace = positive_secs(self.shutdown_grace_s, d.shutdown_grace)
            .map_err(|e| format!("[server] shutdown_grace_s: {e}"))?;
        Ok(ServerSettings {
            host: self.host.unwrap_or_else(|| "127.0.0.1".into()),
            port: self.port.unwrap_or(8000),
            history: self.history,
            http: ServerConfig {
                max_body_bytes: self.max_body_bytes.unwrap_or(d.max_body_bytes),
                api_keys: ApiKeys::new(self.api_keys)
                    .map_err(|e| format!("[server] api_keys / CODEACT_API_KEYS: {e}"))?,
                max_runs_per_user: self.max_runs_per_user.unwrap_or(d.max_runs_per_user),
                shutdown_grace,
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_adds_keys_and_names_a_bad_pair() {
        let mut s = ServerSection::default();
        let env = |k: &str| {
            (k == "CODEACT_API_KEYS")
                .then(|| "alice:aaaaaaaaaaaaaaaa1, bob:bbbbbbbbbbbbbbbb2".to_string())
        };
        assert_eq!(s.apply_env(env), Ok(()));
        let resolved = s.resolve().unwrap_or_else(|e| panic!("{e}"));
        assert!(!resolved.http.api_keys.is_empty());
        assert_eq!((resolved.host.as_str(), resolved.port), ("127.0.0.1", 8000));
        let mut bad = ServerSection::default();
        let err = bad.apply_env(|_| Some("nocolon".into())).unwrap_err();
        assert!(err.contains("nocolon"), "{err}");
        let short = ServerSection {
            api_keys: [("a".to_string(), "short".to_string())].into(),
            ..ServerSection::default()
        };
        assert!(short.resolve().unwrap_err().contains("api_keys"));
        let grace = ServerSection {
            shutdown_grace_s: Some(-1.0),
            ..ServerSection::default()
        };
        assert!(grace.resolve().is_err());
    }
}
