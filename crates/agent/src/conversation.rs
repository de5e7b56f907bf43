//! Conversations as JSON files, one per conversation, so that they can be read, shared and
//! resumed. Only the messages are kept: the Python session's state is not.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use codeact_protocol::Message;
use serde::{Deserialize, Serialize};

use crate::config::Mode;
use crate::AgentError;

/// A conversation and what it ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// Seconds since the Unix epoch.
    pub updated: u64,
    /// The backend's name, e.g. `embedded:qwen2.5-coder-0.5b`.
    pub model: String,
    pub session_id: String,
    #[serde(default)]
    pub mode: Mode,
    /// Everything the model saw, starting with the system prompt.
    pub messages: Vec<Message>,
}

impl Conversation {
    pub fn new(model: impl Into<String>, mode: Mode, session_id: Option<String>) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        let now = unix_now();
        Self {
            session_id: session_id.unwrap_or_else(|| id.clone()),
            id,
            created: now,
            updated: now,
            model: model.into(),
            mode,
            messages: Vec::new(),
        }
    }

    /// Where this conversation is stored under `dir`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.json", self.id))
    }

    /// Writes the conversation to `dir/{id}.json` (atomically, so a crash leaves the old copy).
    pub fn save(&self, dir: &Path) -> Result<PathBuf, AgentError> {
        std::fs::create_dir_all(dir)?;
        let path = self.path_in(dir);
        let tmp = dir.join(format!(".{}.json.tmp", self.id));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }

    pub fn load(path: &Path) -> Result<Self, AgentError> {
        let bytes = std::fs::read(path)?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Loads conversation `id` from `dir`.
    pub fn load_id(dir: &Path, id: &str) -> Result<Self, AgentError> {
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            return Err(AgentError::NotFound(id.to_string()));
        }
        let path = dir.join(format!("{id}.json"));
        if !path.exists() {
            return Err(AgentError::NotFound(id.to_string()));
        }
        Self::load(&path)
    }

    /// The conversations saved in `dir`, most recently updated first. Unreadable files are
    /// skipped with a warning.
    pub fn list(dir: &Path) -> Result<Vec<Conversation>, AgentError> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            match Self::load(&path) {
                Ok(c) => out.push(c),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "skipping unreadable conversation: {e}")
                }
            }
        }
        out.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub(crate) fn touch(&mut self) {
        self.updated = unix_now();
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_list_roundtrip() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let mut c = Conversation::new("test-model", Mode::Task, None);
        assert_eq!(c.session_id, c.id);
        c.messages.push(Message::system("sys"));
        c.messages.push(Message::user("hi"));
        let path = c.save(dir.path())?;
        assert_eq!(path, dir.path().join(format!("{}.json", c.id)));
        assert_eq!(Conversation::load(&path)?, c);
        assert_eq!(Conversation::load_id(dir.path(), &c.id)?, c);
        assert!(matches!(
            Conversation::load_id(dir.path(), "nope"),
            Err(AgentError::NotFound(_))
        ));
        assert!(matches!(
            Conversation::load_id(dir.path(), "../x"),
            Err(AgentError::NotFound(_))
        ));
        std::fs::write(dir.path().join("junk.json"), "{")?;
        let all = Conversation::list(dir.path())?;
        assert_eq!(all, vec![c]);
        Ok(())
    }
}
