//! The released row format of CodeActInstruct (the pack's `FORMAT.md` §1–§2): one JSON object
//! per row, `{"id", "conversations": [{"content", "role"}]}`, read from JSONL or Parquet.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::EvalError;

/// Who speaks a turn. Released rows have no tool role: observations are `user` turns that
/// begin with `Observation:\n`.
pub use codeact_protocol::Role;

/// One message of a row; fields in the order the released JSON shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub content: String,
    pub role: Role,
}

impl Turn {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            role,
        }
    }
}

/// One released row. Unknown fields (e.g. a `_source`) are ignored on reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub conversations: Vec<Turn>,
}

impl Row {
    /// The assistant turns, in order.
    pub fn assistant_turns(&self) -> impl Iterator<Item = &Turn> {
        self.conversations
            .iter()
            .filter(|t| t.role == Role::Assistant)
    }

    /// The task text: the first user message without its `Task:\n`.
    pub fn task_text(&self) -> Option<&str> {
        self.conversations
            .iter()
            .find(|t| t.role == Role::User)
            .map(|t| t.content.strip_prefix("Task:\n").unwrap_or(&t.content))
    }
}

/// A row id, `{file_stem}/{task_type}/{task_name}/{task_id}/{model}/{exp_setting}`. The task id
/// may contain slashes (ALFWorld's `<task-dir>/<trial-dir>`), so the id is read from both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowId {
    pub file_stem: String,
    pub task_type: String,
    pub task_name: String,
    pub task_id: String,
    pub model: String,
    pub exp_setting: String,
}

impl RowId {
    /// Splits an id; `None` when it has fewer than six segments.
    pub fn parse(id: &str) -> Option<Self> {
        let parts: Vec<&str> = id.split('/').collect();
        if parts.len() < 6 {
            return None;
        }
        let n = parts.len();
        Some(Self {
            file_stem: parts[0].into(),
            task_type: parts[1].into(),
            task_name: parts[2].into(),
            task_id: parts[3..n - 2].join("/"),
            model: parts[n - 2].into(),
            exp_setting: parts[n - 1].into(),
        })
    }
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}/{}/{}",
            self.file_stem,
            self.task_type,
            self.task_name,
            self.task_id,
            self.model,
            self.exp_setting
        )
    }
}

/// Reads rows from a JSONL file, or a Parquet file (by its `PAR1` magic) with the released
/// schema. An error names the file and the line or row.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, EvalError> {
    let bytes = std::fs::read(path).map_err(|cause| EvalError::Read {
        path: path.display().to_string(),
        cause,
    })?;
    if bytes.starts_with(b"PAR1") {
        return super::parquet::read_rows(bytes)
            .map_err(|e| EvalError::Task(format!("{}: {e}", path.display())));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| EvalError::Task(format!("{}: not UTF-8 text", path.display())))?;
    // Some editors start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    crate::parse_jsonl(text).map_err(|e| EvalError::Task(format!("{}: {e}", path.display())))
}

/// Reads and concatenates the rows of several files.
pub fn read_all(paths: &[impl AsRef<Path>]) -> Result<Vec<Row>, EvalError> {
    let mut rows = Vec::new();
    for p in paths {
        rows.extend(read_rows(p.as_ref())?);
    }
    Ok(rows)
}

/// One JSON line per value.
pub fn to_jsonl<T: Serialize>(values: &[T]) -> String {
    let mut out = String::new();
    for v in values {
        // Serializing these plain types cannot fail.
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Problems of shape a released row must not have (§1): the roles' order, the system and task
/// messages, whitespace at the ends. Empty when the row is well formed.
pub fn shape_problems(row: &Row) -> Vec<String> {
    let mut out = Vec::new();
    let c = &row.conversations;
    if RowId::parse(&row.id).is_none() {
        out.push("the id has fewer than six '/'-separated parts".into());
    }
    if c.first().map(|t| t.role) != Some(Role::System) {
        out.push("the first message is not the system message".into());
    }
    match c.get(1) {
        Some(t) if t.role == Role::User && t.content.starts_with("Task:\n") => {}
        _ => out.push("the second message is not the user's `Task:` message".into()),
    }
    for (i, t) in c.iter().enumerate().skip(2) {
        let want = if i % 2 == 0 {
            Role::Assistant
        } else {
            Role::User
        };
        if t.role != want {
            out.push(format!(
                "message {i} is {}, not {}",
                t.role.as_str(),
                want.as_str()
            ));
            break;
        }
    }
    if c.last().map(|t| t.role) != Some(Role::Assistant) {
        out.push("the last message is not the assistant's".into());
    }
    if let Some(i) = c.iter().position(|t| t.content.trim() != t.content) {
        out.push(format!("message {i} has whitespace at an end"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_from_both_ends() {
        let id = RowId::parse("oct28_full6728/decision_making/alfworld/pick_two_obj-209/trial_T1/gpt-3.5-turbo-0613/max5_p2+tool+cd").unwrap();
        assert_eq!(id.task_id, "pick_two_obj-209/trial_T1");
        assert_eq!(id.model, "gpt-3.5-turbo-0613");
        assert_eq!(id.task_name, "alfworld");
        assert_eq!(
            id.to_string(),
            "oct28_full6728/decision_making/alfworld/pick_two_obj-209/trial_T1/gpt-3.5-turbo-0613/max5_p2+tool+cd"
        );
        assert!(RowId::parse("a/b/c/d/e").is_none());
    }

    #[test]
    fn turns_serialize_content_first() {
        let t = Turn::new(Role::User, "hi");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"content":"hi","role":"user"}"#
        );
        assert!(serde_json::from_str::<Turn>(r#"{"role":"tool","content":"x"}"#).is_err());
    }
}
