//! Quality evaluations of agents.
//!
//! - [`bench_agent`] runs a set of short tasks that need computation (arithmetic, strings,
//!   dates, lists) end to end with the CodeAct agent, for several prompt and parsing variants,
//!   and returns a [`BenchReport`]; its front end is `codeact bench agent`.
//! - [`instruct`] generates, verifies, filters and exports CodeActInstruct trajectory data;
//!   its front end is `codeact data`.
//! - [`m3tooleval`] runs the M³ToolEval benchmark in its three action modes; its front end is
//!   `codeact eval m3tooleval`; [`apibank`] runs API-Bank level 1, front end
//!   `codeact eval apibank`. [`commands`] holds the options of `codeact eval` and what they
//!   resolve to.
//!
//! The benchmarks' tools run in sandboxed sessions, from Python packages embedded in the
//! binary ([`pypkg`]); results are appended to JSONL files as runs finish ([`records`]) and
//! summarised as a table, Markdown, JSON and a chart ([`summary`]).

pub mod apibank;
mod bench;
mod chart;
mod check;
pub mod commands;
mod completion;
mod error;
pub mod instruct;
mod jsonl;
pub mod m3tooleval;
pub mod pypkg;
pub mod records;
mod report;
pub mod summary;
mod tasks;

pub use bench::{bench_agent, AgentBenchArgs, BenchOptions, Variant};
pub use check::check_answer;
pub use completion::ModelCost;
pub use error::EvalError;
pub use jsonl::{parse_jsonl, read_jsonl};
pub use report::{BenchReport, TaskResult, VariantSummary};
pub use summary::Summary;
pub use tasks::{builtin_tasks, load_tasks, parse_tasks, Task};

/// The `--filter` of an evaluation, compiled; a bad expression is an error naming the flag.
pub(crate) fn filter_regex(filter: Option<&str>) -> Result<Option<regex::Regex>, EvalError> {
    filter
        .map(|f| regex::Regex::new(f).map_err(|e| EvalError::Task(format!("--filter: {e}"))))
        .transpose()
}

/// What an evaluation tells its front end as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The work is known: `total` runs selected, `done` of them already in the results.
    Started { total: usize, done: usize },
    /// One run ended.
    Finished { name: String, correct: bool },
}

/// Hears [`Progress`]; called from the evaluation's task, so it must be quick.
pub type ProgressFn<'a> = dyn Fn(Progress) + Send + Sync + 'a;
