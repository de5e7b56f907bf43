//! Quality evaluations of the CodeAct loop. [`bench_agent`] runs a set of short tasks that need
//! computation (arithmetic, strings, dates, lists) end to end with a given model, for several
//! prompt and parsing variants, and returns a [`BenchReport`] that prints as a table. Its one
//! front end is `codeact bench agent`.

mod bench;
mod check;
mod report;
mod tasks;

pub use bench::{bench_agent, BenchOptions, Variant};
pub use check::check_answer;
pub use report::{BenchReport, TaskResult, VariantSummary};
pub use tasks::{builtin_tasks, load_tasks, parse_tasks, EvalError, Task};
