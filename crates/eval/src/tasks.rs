//! Benchmark tasks: one JSON object per line with an id, a prompt and the exact answer.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::jsonl::{parse_jsonl, read_jsonl};
use crate::EvalError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub prompt: String,
    pub answer: String,
}

/// The tasks kept in this crate (`tasks/agent.jsonl`).
pub fn builtin_tasks() -> Vec<Task> {
    // The file is part of the crate, so a parse failure is caught by the tests.
    parse_tasks(include_str!("../tasks/agent.jsonl")).unwrap_or_default()
}

pub fn load_tasks(path: &Path) -> Result<Vec<Task>, EvalError> {
    read_jsonl(path)
}

/// Parses JSONL; blank lines are skipped.
pub fn parse_tasks(text: &str) -> Result<Vec<Task>, EvalError> {
    parse_jsonl(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tasks_parse_and_are_unique() -> Result<(), EvalError> {
        let tasks = parse_tasks(include_str!("../tasks/agent.jsonl"))?;
        assert!(tasks.len() >= 30);
        assert_eq!(builtin_tasks(), tasks);
        let mut ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), tasks.len());
        assert!(tasks
            .iter()
            .all(|t| !t.prompt.is_empty() && !t.answer.is_empty()));
        Ok(())
    }

    #[test]
    fn parse_errors_name_the_line() {
        let err = parse_tasks("{\"id\":\"a\",\"prompt\":\"p\",\"answer\":\"1\"}\n\n{bad").err();
        assert!(matches!(err, Some(EvalError::Parse { line: 3, .. })));
    }
}
