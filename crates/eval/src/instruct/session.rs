//! Sessions set up as the original executor was (the pack's `FORMAT.md` §5.5): the package
//! `codeact_instruct` installed, the user's tools and the task's objects (a table as `conn` or
//! `df`) in the namespace, the MINT 30-second limit armed around every cell, and the next cell
//! numbered `In[1]`. Answers are checked in a separate session, so that nothing the model's
//! code did can reach the check, and the task session's cell numbering stays as recorded.

use std::sync::Arc;

use codeact_exec::SessionManager;
use serde::Deserialize;
use serde_json::{json, Value};

use super::tasks::{InstructTask, TaskKind};
use crate::pypkg::{self, emit_cell, py_json, py_str, INSTRUCT};
use crate::EvalError;

const MODULE: &str = "codeact_instruct";

/// A user's tools module (`--tools FILE.py`): its source, installed into each session that
/// needs it.
#[derive(Debug, Clone)]
pub struct ToolsModule {
    pub source: String,
}

/// What every session of a `codeact data` command shares.
pub struct InstructSessions {
    pub sessions: Arc<SessionManager>,
    pub tools: Option<ToolsModule>,
    tag: String,
    /// The engine's zygote imported the package ([`crate::pypkg::PyPackage::preload_into`]).
    preloaded: bool,
}

/// An open task session.
#[derive(Debug, Clone)]
pub struct TaskSession {
    pub id: String,
    /// Names the session defines for the code: tools, and the task's objects.
    pub available: Vec<String>,
    /// The `{tool_desc}` entries of the task's tools (`[i] signature\ndescription\n`).
    pub tool_entries: Vec<String>,
}

#[derive(Deserialize)]
struct SetUp {
    /// Every name the model's code sees besides IPython's: tools and task objects.
    names: Vec<String>,
}

/// The verdict of a success check.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct CheckResult {
    pub correct: bool,
    #[serde(default)]
    pub detail: String,
}

impl InstructSessions {
    /// Sessions of `sessions`; each gets the package installed, unless the engine's config was
    /// prepared with [`crate::pypkg::PyPackage::preload_into`] (much faster: nothing to write
    /// or import per session).
    pub fn new(sessions: Arc<SessionManager>, tools: Option<ToolsModule>) -> Self {
        let preloaded = INSTRUCT.is_preloaded(sessions.config());
        Self {
            sessions,
            tools,
            tag: format!("instruct-{}-{}", std::process::id(), pypkg::next_id()),
            preloaded,
        }
    }

    /// A new session with the package installed.
    async fn fresh(&self) -> Result<String, EvalError> {
        let id = format!("{}-{}", self.tag, pypkg::next_id());
        self.sessions.create(&id).await?;
        if self.preloaded {
            return Ok(id);
        }
        if let Err(e) = INSTRUCT.install(&self.sessions, &id, MODULE).await {
            self.close(&id).await;
            return Err(e);
        }
        Ok(id)
    }

    /// Opens a session for `task` (or for a row replayed without its task): tools loaded (all
    /// of the module's when there is no task, else the task's), the task's objects set up, the
    /// limit armed and the numbering reset. Nothing may run in it afterwards but the model's
    /// code.
    pub async fn open(&self, task: Option<&InstructTask>) -> Result<TaskSession, EvalError> {
        let id = self.fresh().await?;
        match self.prepare(&id, task).await {
            Ok((available, tool_entries)) => Ok(TaskSession {
                id,
                available,
                tool_entries,
            }),
            Err(e) => {
                self.close(&id).await;
                Err(e)
            }
        }
    }

    async fn prepare(
        &self,
        id: &str,
        task: Option<&InstructTask>,
    ) -> Result<(Vec<String>, Vec<String>), EvalError> {
        // A task names its tools; a row replayed without its task gets all of the module's.
        let wanted: Option<&[String]> = task.map(|t| t.tools.as_slice());
        let mut entries = Vec::new();
        let mut tool_names = Value::Array(Vec::new());
        match (&self.tools, wanted) {
            (Some(tools), None) => {
                entries = self
                    .call(id, "load_tools", &[py_str(&tools.source), "None".into()])
                    .await?;
                tool_names = Value::Null;
            }
            (Some(tools), Some(w)) if !w.is_empty() => {
                entries = self
                    .call(
                        id,
                        "load_tools",
                        &[py_str(&tools.source), py_json(&json!(w))],
                    )
                    .await?;
                tool_names = json!(w);
            }
            (None, Some(w)) if !w.is_empty() => {
                return Err(EvalError::Task(format!(
                    "task {} uses tools ({}) but no tools module was given (--tools FILE.py)",
                    task.map_or("", |t| t.id.as_str()),
                    w.join(", ")
                )));
            }
            _ => {}
        }
        let task_json = task.map_or(Value::Null, |t| t.json.clone());
        // Without a task, keep whatever the module put in (None: every loaded tool).
        let keep = if tool_names.is_null() {
            "[n for n in get_ipython().user_ns if not n.startswith('_')]".to_string()
        } else {
            py_json(&tool_names)
        };
        let set_up: SetUp = self.call(id, "setup", &[py_json(&task_json), keep]).await?;
        Ok((set_up.names, entries))
    }

    /// The text shown after `Task:\n` (built in the session: a table's is pandas' rendering).
    pub async fn task_text(&self, id: &str, task: &InstructTask) -> Result<String, EvalError> {
        match task.kind {
            TaskKind::Math | TaskKind::Qa => task
                .json
                .get("task")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_string())
                .ok_or_else(|| EvalError::Task(format!("task {}: no `task` text", task.id))),
            TaskKind::Code => {
                self.call(id, "code_task_text", &[py_json(&task.json)])
                    .await
            }
            TaskKind::Table => self.call(id, "table_prompt", &[py_json(&task.json)]).await,
        }
    }

    /// Checks `answer` against `task` in a session of its own. An answer that breaks its check
    /// (a program that kills the session, say) is a wrong answer, not a failed run.
    pub async fn check(&self, task: &InstructTask, answer: &str) -> Result<CheckResult, EvalError> {
        let id = self.fresh().await?;
        let result = self
            .call(&id, "check", &[py_json(&task.json), py_str(answer)])
            .await;
        self.close(&id).await;
        Ok(result.unwrap_or_else(|e| CheckResult {
            correct: false,
            detail: format!("the check did not finish: {e}"),
        }))
    }

    /// The functions the tools module defines, loaded into a throwaway session: what tasks may
    /// name in `tools`.
    pub async fn tool_names(&self) -> Result<Vec<String>, EvalError> {
        if self.tools.is_none() {
            return Ok(Vec::new());
        }
        let session = self.open(None).await?;
        self.close(&session.id).await;
        Ok(session.available)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        id: &str,
        function: &str,
        args: &[String],
    ) -> Result<T, EvalError> {
        pypkg::call(&self.sessions, id, &emit_cell(MODULE, function, args)).await
    }

    pub async fn close(&self, id: &str) {
        let _ = self.sessions.delete(id).await;
    }
}
