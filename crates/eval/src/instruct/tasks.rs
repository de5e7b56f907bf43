//! Task files of `codeact data generate` (JSONL, one task per line; the format is documented
//! in `crates/eval/data/codeactinstruct/tasks/README.md`). Rust reads what it needs to run the
//! protocol; the whole task goes to the Python package, which builds task texts, sets up the
//! session and checks answers.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mint::Family;
use super::row::RowId;
use crate::EvalError;

/// The seed's task types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// A math problem with a final answer (MATH).
    Math,
    /// A question with a short answer (HotpotQA).
    Qa,
    /// A program checked by unit tests (APPS).
    Code,
    /// A question over a table, with SQLite or pandas (WikiTableQuestions).
    Table,
}

impl TaskKind {
    /// The row id's task type.
    pub fn task_type(self) -> &'static str {
        match self {
            TaskKind::Math | TaskKind::Qa => "reasoning",
            TaskKind::Code => "code_generation",
            TaskKind::Table => "tabular",
        }
    }

    /// The row id's task name when the task gives none.
    pub fn default_name(self) -> &'static str {
        match self {
            TaskKind::Math => "math",
            TaskKind::Qa => "qa",
            TaskKind::Code => "code",
            TaskKind::Table => "table",
        }
    }

    pub fn family(self) -> Family {
        match self {
            TaskKind::Math | TaskKind::Qa => Family::Reasoning,
            TaskKind::Code => Family::Apps,
            TaskKind::Table => Family::Tabular,
        }
    }
}

/// One task: the fields Rust uses, and all of it as JSON for Python.
#[derive(Debug, Clone)]
pub struct InstructTask {
    pub id: String,
    pub kind: TaskKind,
    pub task_name: String,
    /// Tools of the user's module this task may use.
    pub tools: Vec<String>,
    /// The file it came from (its stem is the row id's first part).
    pub file_stem: String,
    pub json: Value,
}

#[derive(Deserialize)]
struct Head {
    id: Value,
    #[serde(rename = "type")]
    kind: TaskKind,
    #[serde(default)]
    task_name: Option<String>,
    #[serde(default)]
    tools: Vec<String>,
}

impl InstructTask {
    /// The row id of this task's run by `model`; slashes in the model's name become `_`, so
    /// that the id still splits into its parts.
    pub fn row_id(&self, model: &str) -> String {
        RowId {
            file_stem: self.file_stem.clone(),
            task_type: self.kind.task_type().into(),
            task_name: self.task_name.clone(),
            task_id: self.id.clone(),
            model: model.replace('/', "_"),
            exp_setting: super::strings::EXP_SETTING.into(),
        }
        .to_string()
    }

    /// `(task_name, id)`: what identifies the task in row ids.
    pub fn key(&self) -> (String, String) {
        (self.task_name.clone(), self.id.clone())
    }
}

impl InstructTask {
    /// A task from its JSON object (one line of a task file); `file_stem` names its file.
    pub fn from_json(json: Value, file_stem: &str) -> Result<Self, String> {
        let head: Head = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
        let id = match head.id {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => return Err(format!("`id` must be a string, not {other}")),
        };
        if id.is_empty() {
            return Err("`id` is empty".into());
        }
        let task_name = head
            .task_name
            .unwrap_or_else(|| head.kind.default_name().into());
        if task_name.contains('/') {
            return Err(format!("task_name {task_name:?} contains '/'"));
        }
        validate(head.kind, &json)?;
        Ok(InstructTask {
            id,
            kind: head.kind,
            task_name,
            tools: head.tools,
            file_stem: file_stem.to_string(),
            json,
        })
    }
}

/// Checks the fields a task of `kind` needs, so that a bad task is refused when its file is
/// read, not when its turn comes in a long run.
fn validate(kind: TaskKind, json: &Value) -> Result<(), String> {
    let text = |field: &str| match json.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        Some(other) => Err(format!("`{field}` must be a non-empty string, not {other}")),
        None => Err(format!("a {} task needs `{field}`", kind.default_name())),
    };
    if let Some(tools) = json.get("tools") {
        if !tools
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err("`tools` must be a list of function names".into());
        }
    }
    if let Some(sol) = json.get("solution") {
        if !sol.is_string() {
            return Err(format!(
                "`solution` must be a string (the answer as the model would write it), not {sol}"
            ));
        }
    }
    match kind {
        TaskKind::Math | TaskKind::Qa => {
            text("task")?;
            text("reference")
        }
        TaskKind::Code => {
            text("question")?;
            if let Some(starter) = json.get("starter_code") {
                if !starter.is_string() {
                    return Err("`starter_code` must be a string".into());
                }
            }
            if let Some(f) = json.get("fn_name") {
                if !(f.is_string() || f.is_null()) {
                    return Err("`fn_name` must be a string".into());
                }
            }
            let tests = json
                .get("tests")
                .ok_or("a code task needs `tests`: {\"inputs\": [...], \"outputs\": [...]}")?;
            let (Some(inputs), Some(outputs)) = (
                tests.get("inputs").and_then(Value::as_array),
                tests.get("outputs").and_then(Value::as_array),
            ) else {
                return Err("`tests` must hold the lists `inputs` and `outputs`".into());
            };
            if inputs.is_empty() || inputs.len() != outputs.len() {
                return Err(format!(
                    "`tests` needs as many outputs as inputs, at least one ({} inputs, {} outputs)",
                    inputs.len(),
                    outputs.len()
                ));
            }
            Ok(())
        }
        TaskKind::Table => {
            text("question")?;
            match json.get("table_mode").and_then(Value::as_str) {
                Some("sql" | "pandas") => {}
                other => {
                    return Err(format!(
                        "`table_mode` must be \"sql\" or \"pandas\", not {other:?}"
                    ))
                }
            }
            let table = json
                .get("table")
                .ok_or("a table task needs `table`: {\"columns\": [...], \"rows\": [[...]]}")?;
            let columns = table
                .get("columns")
                .and_then(Value::as_array)
                .filter(|c| !c.is_empty() && c.iter().all(Value::is_string))
                .ok_or("`table.columns` must be a non-empty list of names")?;
            let rows = table
                .get("rows")
                .and_then(Value::as_array)
                .filter(|r| !r.is_empty())
                .ok_or("`table.rows` must be a non-empty list of rows")?;
            for (i, row) in rows.iter().enumerate() {
                let cells = row
                    .as_array()
                    .ok_or(format!("table row {i} is not a list"))?;
                if cells.len() != columns.len() {
                    return Err(format!(
                        "table row {i} has {} cells for {} columns",
                        cells.len(),
                        columns.len()
                    ));
                }
                if let Some(c) = cells.iter().find(|c| c.is_array() || c.is_object()) {
                    return Err(format!(
                        "table row {i} has a cell that is not a string, number or null: {c}"
                    ));
                }
            }
            match json.get("reference") {
                Some(Value::String(s)) if !s.is_empty() => Ok(()),
                Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => Ok(()),
                _ => Err(
                    "a table task needs `reference`: a list of strings, or a string split on `|`"
                        .into(),
                ),
            }
        }
    }
}

/// Reads the tasks of one file; an error names the file and line. Ids must be unique within
/// their task name.
pub fn load_tasks(path: &Path) -> Result<Vec<InstructTask>, EvalError> {
    let values: Vec<Value> =
        crate::read_jsonl(path).map_err(|e| EvalError::Task(format!("{}: {e}", path.display())))?;
    let file_stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tasks".into());
    let mut seen = HashMap::new();
    let mut tasks = Vec::new();
    for (i, json) in values.into_iter().enumerate() {
        let task = InstructTask::from_json(json, &file_stem)
            .map_err(|msg| EvalError::Task(format!("{}: task {}: {msg}", path.display(), i + 1)))?;
        if let Some(prev) = seen.insert(task.key(), i + 1) {
            return Err(EvalError::Task(format!(
                "{}: task {}: id {:?} of {} already used by task {prev}",
                path.display(),
                i + 1,
                task.id,
                task.task_name
            )));
        }
        tasks.push(task);
    }
    Ok(tasks)
}

/// Tasks by the `(task_name, task_id)` of a row id, so that a row can be replayed with its
/// task's objects (a table) set up.
#[derive(Debug, Default)]
pub struct TaskIndex {
    by_key: HashMap<(String, String), InstructTask>,
}

impl TaskIndex {
    pub fn new(tasks: Vec<InstructTask>) -> Self {
        Self {
            by_key: tasks.into_iter().map(|t| (t.key(), t)).collect(),
        }
    }

    pub fn for_row(&self, row_id: &str) -> Option<&InstructTask> {
        let id = RowId::parse(row_id)?;
        self.by_key.get(&(id.task_name, id.task_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<InstructTask, String> {
        InstructTask::from_json(v, "t")
    }

    #[test]
    fn bad_tasks_are_refused_with_a_reason() {
        let table = |mode: Value, rows: Value| json!({"id": "a", "type": "table", "question": "q", "table_mode": mode, "table": {"columns": ["x", "y"], "rows": rows}, "reference": ["1"]});
        assert!(check(table(json!("sql"), json!([[1, 2]]))).is_ok());
        assert!(check(table(json!("excel"), json!([[1, 2]])))
            .unwrap_err()
            .contains("table_mode"));
        assert!(check(table(json!("pandas"), json!([[1]])))
            .unwrap_err()
            .contains("1 cells for 2 columns"));
        assert!(check(json!({"id": "a", "type": "math", "task": "t"}))
            .unwrap_err()
            .contains("`reference`"));
        assert!(
            check(json!({"id": "a", "type": "math", "task": "t", "reference": 3}))
                .unwrap_err()
                .contains("non-empty string")
        );
        assert!(check(
            json!({"id": "a", "type": "qa", "task": "t", "reference": "r", "solution": 3})
        )
        .unwrap_err()
        .contains("solution"));
        assert!(check(json!({"id": "a", "type": "code", "question": "q", "tests": {"inputs": [[1]], "outputs": []}})).unwrap_err().contains("as many outputs"));
        assert!(check(json!({"id": "a", "type": "poetry"})).is_err());
        assert!(check(
            json!({"id": "a/b", "type": "qa", "task": "t", "reference": "r", "task_name": "x/y"})
        )
        .is_err());
    }
}
