//! `codeact data generate`: its options, the tasks they select, the task set's self-check and
//! the closing report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use codeact_llm::LlmBackend;

use super::{load_task_files, tools_module};
use crate::instruct::distributed::generate_queued;
use crate::instruct::generate::{self, GenerateSettings, RunRecord, ROWS_FILE, RUNS_FILE};
use crate::instruct::queue::TaskQueue;
use crate::instruct::session::{InstructSessions, ToolsModule};
use crate::instruct::tasks::InstructTask;
use crate::{EvalError, ProgressFn};

/// What `codeact data generate` runs, and where its runs go.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Task files (JSONL; see the README's "CodeActInstruct data" section).
    #[arg(required = true)]
    pub tasks: Vec<PathBuf>,
    /// A Python module whose functions are the tools tasks name in `tools`.
    #[arg(long, value_name = "FILE.py")]
    pub tools: Option<PathBuf>,
    /// Output directory: runs.jsonl (raw runs) and rows.jsonl (released rows of the
    /// successful ones); a rerun skips tasks already there.
    #[arg(long, default_value = "codeact-data")]
    pub out: PathBuf,
    /// Only tasks whose `task_name/id` matches this regular expression.
    #[arg(long)]
    pub filter: Option<String>,
    /// Tasks in flight at once, each in its own sandboxed session.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// The model's name in row ids (default: the backend's, without an endpoint URL).
    #[arg(long)]
    pub model_name: Option<String>,
    /// Most new tokens per reply (the original: 512, or 1,024 for its larger models).
    #[arg(long, default_value_t = 512)]
    pub max_tokens: u32,
    /// Instead of generating, run every task's `solution` through its success check.
    #[arg(long)]
    pub check_tasks: bool,
    /// Share the tasks with other generators (on any machine) through a queue in this
    /// PostgreSQL database (`postgres://user@host/db`); each generator adds the tasks, works
    /// until every task is done, then writes all runs to its --out.
    #[arg(long, value_name = "URL", env = "CODEACT_DATA_QUEUE")]
    pub queue: Option<String>,
    /// The queue's name in that database (generators with the same name share tasks).
    #[arg(long, default_value = "default")]
    pub queue_name: String,
    /// Seconds a task stays leased to a generator that stops renewing it (a dead one).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_seconds: u64,
}

impl GenerateArgs {
    /// The tasks of every file that `--filter` (matched against `task_name/id`) selects; none
    /// selected is an error.
    pub fn selected_tasks(&self) -> Result<Vec<InstructTask>, EvalError> {
        let mut tasks = load_task_files(&self.tasks)?;
        if let Some(re) = crate::filter_regex(self.filter.as_deref())? {
            tasks.retain(|t| re.is_match(&format!("{}/{}", t.task_name, t.id)));
            if tasks.is_empty() {
                return Err(EvalError::Task(format!(
                    "no task matches --filter {:?} (it is matched against task_name/id)",
                    re.as_str()
                )));
            }
        }
        Ok(tasks)
    }

    /// The `--tools` module, read.
    pub fn tools_module(&self) -> Result<Option<ToolsModule>, EvalError> {
        tools_module(self.tools.as_deref())
    }

    /// The generation's settings, sampling at `temperature`.
    pub fn settings(&self, temperature: f32) -> GenerateSettings {
        GenerateSettings {
            max_tokens: self.max_tokens,
            temperature,
            model_name: self.model_name.clone(),
        }
    }

    /// The shared queue `--queue` names, connected; `None` without one.
    pub async fn connect_queue(&self) -> Result<Option<TaskQueue>, EvalError> {
        let Some(url) = &self.queue else {
            return Ok(None);
        };
        let lease = Duration::from_secs(self.lease_seconds);
        Ok(Some(
            TaskQueue::connect(url, &self.queue_name, lease).await?,
        ))
    }

    /// Generates the runs of `tasks` into `--out`, alone or through `queue`; returns every
    /// run there (see [`generate::generate`] and [`generate_queued`]).
    pub async fn generate(
        &self,
        env: &InstructSessions,
        llm: Arc<dyn LlmBackend>,
        settings: &GenerateSettings,
        tasks: &[InstructTask],
        queue: Option<&TaskQueue>,
        progress: &ProgressFn<'_>,
    ) -> Result<Vec<RunRecord>, EvalError> {
        let (out, concurrency) = (&self.out, self.concurrency as usize);
        match queue {
            Some(q) => {
                generate_queued(env, llm, settings, tasks, q, out, concurrency, progress).await
            }
            None => generate::generate(env, llm, settings, tasks, out, concurrency, progress).await,
        }
    }
}

/// The runs' table by task type, and a line of successes and where the rows and runs are.
pub fn generated(runs: &[RunRecord], out: &Path) -> String {
    let ok = runs.iter().filter(|r| r.success).count();
    format!(
        "{}\n{ok}/{} runs succeeded; rows: {}, raw runs: {}",
        generate::summary_markdown(runs).trim_end(),
        runs.len(),
        out.join(ROWS_FILE).display(),
        out.join(RUNS_FILE).display()
    )
}

/// `--check-tasks`: each task whose solution fails its check, and how many pass.
#[derive(Debug, Clone, Default)]
pub struct TaskChecks {
    /// `FAIL task_name/id: detail`, one per failing solution.
    pub failures: Vec<String>,
    pub passed: usize,
    /// Tasks without a `solution`.
    pub missing: usize,
}

impl TaskChecks {
    /// Runs every task's `solution` through its success check, `concurrency` at a time.
    pub async fn run(
        env: &InstructSessions,
        tasks: &[InstructTask],
        concurrency: usize,
    ) -> Result<Self, EvalError> {
        let mut checks = Self::default();
        for c in generate::check_tasks(env, tasks, concurrency).await? {
            match c.result {
                Some(r) if r.correct => checks.passed += 1,
                Some(r) => {
                    (checks.failures).push(format!("FAIL {}/{}: {}", c.task_name, c.id, r.detail))
                }
                None => checks.missing += 1,
            }
        }
        Ok(checks)
    }
}

impl std::fmt::Display for TaskChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for line in &self.failures {
            writeln!(f, "{line}")?;
        }
        let total = self.passed + self.failures.len() + self.missing;
        write!(
            f,
            "{}/{total} task solutions pass ({} without a solution)",
            self.passed, self.missing
        )
    }
}
