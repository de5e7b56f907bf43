//! M³ToolEval's tasks and tool interfaces, as the benchmark's pack gives them (`tasks.jsonl`,
//! `tools.json`); both ship inside the binary. Tasks may also come from a file in the same
//! JSONL format.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::jsonl::{parse_jsonl, read_jsonl};
use crate::EvalError;

/// One task of the benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct M3Task {
    /// `domain/task`, e.g. `message_decoder/full_alien_message_decoding`.
    pub name: String,
    pub domain: String,
    pub instruction: String,
    pub expected_output: Value,
    /// Python's `repr()` of the expected value.
    pub expected_output_repr: String,
    /// The tools offered, in prompt order.
    pub tools: Vec<String>,
    #[serde(default)]
    pub is_single_tool_task: bool,
}

impl M3Task {
    /// Python's `str()` of the expected value: its repr, except a string's bare text.
    pub fn expected_str(&self) -> String {
        match &self.expected_output {
            Value::String(s) => s.clone(),
            _ => self.expected_output_repr.clone(),
        }
    }
}

/// A tool's interface exactly as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub signature: String,
}

/// Every domain's tools, by domain then name.
#[derive(Debug, Clone, Default)]
pub struct ToolCatalog {
    domains: BTreeMap<String, Vec<ToolSpec>>,
}

impl ToolCatalog {
    /// The tools shipped with the benchmark.
    pub fn builtin() -> Self {
        let domains: BTreeMap<String, Vec<ToolSpec>> =
            serde_json::from_str(include_str!("../../data/m3tooleval/tools.json"))
                .unwrap_or_default();
        Self { domains }
    }

    /// A task's tools in its order; an unknown name is an error.
    pub fn for_task(&self, task: &M3Task) -> Result<Vec<&ToolSpec>, EvalError> {
        let known = self.domains.get(&task.domain).ok_or_else(|| {
            EvalError::Task(format!("{}: unknown domain {:?}", task.name, task.domain))
        })?;
        task.tools
            .iter()
            .map(|name| {
                known.iter().find(|t| &t.name == name).ok_or_else(|| {
                    EvalError::Task(format!(
                        "{}: domain {} has no tool {name:?}",
                        task.name, task.domain
                    ))
                })
            })
            .collect()
    }
}

/// The benchmark's 82 tasks.
pub fn builtin_tasks() -> Vec<M3Task> {
    parse_tasks(include_str!("../../data/m3tooleval/tasks.jsonl")).unwrap_or_default()
}

/// Tasks from a JSONL file in the pack's format.
pub fn load_tasks(path: &Path) -> Result<Vec<M3Task>, EvalError> {
    read_jsonl(path)
}

pub fn parse_tasks(text: &str) -> Result<Vec<M3Task>, EvalError> {
    parse_jsonl(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_tasks_and_tools_load() {
        let tasks = builtin_tasks();
        assert_eq!(tasks.len(), 82);
        let catalog = ToolCatalog::builtin();
        for t in &tasks {
            assert_eq!(
                catalog.for_task(t).unwrap().len(),
                t.tools.len(),
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn str_of_the_expected_value() {
        let t = builtin_tasks();
        let s = t.iter().find(|t| t.expected_output.is_string()).unwrap();
        assert_eq!(s.expected_str(), s.expected_output.as_str().unwrap());
        let n = t.iter().find(|t| t.expected_output.is_number()).unwrap();
        assert_eq!(n.expected_str(), n.expected_output_repr);
    }
}
