//! `codeact data verify`: its options, the rows and tasks they name, each verdict as a line,
//! and the closing count.

use std::path::PathBuf;
use std::time::Instant;

use super::{load_task_files, tools_module, LineSink};
use crate::instruct::generate::read_runs_as_rows;
use crate::instruct::row::{read_all, Row};
use crate::instruct::session::{InstructSessions, ToolsModule};
use crate::instruct::tasks::TaskIndex;
use crate::instruct::verify::{verify_rows, RowVerdict, Status};
use crate::EvalError;

/// What `codeact data verify` replays, and how it reports.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// Row files (JSONL or Parquet), or the runs.jsonl of a generation (every run, failed ones
    /// too).
    #[arg(required = true)]
    pub rows: Vec<PathBuf>,
    /// The task files the rows were generated from, so that tables are set up again (several
    /// may follow one --tasks).
    #[arg(long, num_args = 1..)]
    pub tasks: Vec<PathBuf>,
    /// The tools module the rows were generated with.
    #[arg(long, value_name = "FILE.py")]
    pub tools: Option<PathBuf>,
    /// Rows replayed at once, each in its own sandboxed session.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    /// One JSON object per row: {"id", "ok", "turn", "diff", …}.
    #[arg(long)]
    pub json: bool,
}

impl VerifyArgs {
    /// The rows of every file; a runs.jsonl of `generate` gives every run, failed ones too.
    pub fn read_rows(&self) -> Result<Vec<Row>, EvalError> {
        let mut rows = Vec::new();
        for path in &self.rows {
            match read_runs_as_rows(path)? {
                Some(r) => rows.extend(r),
                None => rows.extend(read_all(std::slice::from_ref(path))?),
            }
        }
        Ok(rows)
    }

    /// The tasks of `--tasks`, by the row ids they give.
    pub fn task_index(&self) -> Result<TaskIndex, EvalError> {
        Ok(TaskIndex::new(load_task_files(&self.tasks)?))
    }

    /// The `--tools` module, read.
    pub fn tools_module(&self) -> Result<Option<ToolsModule>, EvalError> {
        tools_module(self.tools.as_deref())
    }

    /// Verifies `rows`, `--concurrency` at a time, giving `line` each verdict as it comes
    /// (text, or JSON with `--json`).
    pub async fn verify(
        &self,
        env: &InstructSessions,
        rows: &[Row],
        tasks: &TaskIndex,
        line: &LineSink<'_>,
    ) -> Result<VerifySummary, EvalError> {
        let json = self.json;
        let on_row = |v: &RowVerdict| {
            if json {
                line(&serde_json::to_string(v).unwrap_or_default());
            } else {
                line(&verdict_text(v));
            }
        };
        let start = Instant::now();
        let verdicts = verify_rows(env, rows, tasks, self.concurrency as usize, &on_row).await?;
        Ok(VerifySummary::new(&verdicts, start.elapsed().as_secs_f64()))
    }
}

/// One row's verdict as text: `ok ID`, or what went wrong where, with the diff.
pub fn verdict_text(v: &RowVerdict) -> String {
    let rules: Vec<&str> = v.rules.iter().map(|r| r.name()).collect();
    let note = if rules.is_empty() {
        String::new()
    } else {
        format!(" (tolerated: {})", rules.join(", "))
    };
    let why = v
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let turn = v.turn.unwrap_or(0);
    match v.status {
        Status::Ok => format!("ok {}{note}", v.id),
        Status::Differs => format!(
            "DIFFERS {} at assistant turn {turn}{why}{note}\n{}",
            v.id,
            v.diff.as_deref().unwrap_or("").trim_end()
        ),
        Status::Unverifiable => {
            format!("UNVERIFIABLE {} at assistant turn {turn}{why}", v.id)
        }
        Status::Malformed => format!("MALFORMED {}{why}", v.id),
    }
}

/// How many rows ended each way, and how fast they were replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifySummary {
    pub rows: usize,
    pub ok: usize,
    pub differ: usize,
    pub unverifiable: usize,
    pub malformed: usize,
    /// Code actions replayed.
    pub replayed: usize,
    pub seconds: f64,
}

impl VerifySummary {
    pub fn new(verdicts: &[RowVerdict], seconds: f64) -> Self {
        let count = |s: Status| verdicts.iter().filter(|v| v.status == s).count();
        Self {
            rows: verdicts.len(),
            ok: count(Status::Ok),
            differ: count(Status::Differs),
            unverifiable: count(Status::Unverifiable),
            malformed: count(Status::Malformed),
            replayed: verdicts.iter().map(|v| v.replayed).sum(),
            seconds,
        }
    }

    /// Whether a row differs or is malformed; unverifiable rows are not failures.
    pub fn failed(&self) -> bool {
        self.differ + self.malformed > 0
    }
}

impl std::fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rows: {} ok, {} differ, {} unverifiable, {} malformed; {} code actions replayed in {:.1} s ({:.1} rows/s)",
            self.rows,
            self.ok,
            self.differ,
            self.unverifiable,
            self.malformed,
            self.replayed,
            self.seconds,
            self.rows as f64 / self.seconds.max(1e-9)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: Status) -> RowVerdict {
        RowVerdict {
            id: "r1".into(),
            ok: status == Status::Ok,
            turn: Some(1),
            diff: Some("-a\n+b\n".into()),
            status,
            reason: None,
            rules: Vec::new(),
            replayed: 2,
        }
    }

    #[test]
    fn verdicts_and_the_count_read_as_before() {
        assert_eq!(verdict_text(&verdict(Status::Ok)), "ok r1");
        let differs = verdict_text(&verdict(Status::Differs));
        assert_eq!(differs, "DIFFERS r1 at assistant turn 1\n-a\n+b");
        let all = [verdict(Status::Ok), verdict(Status::Unverifiable)];
        let summary = VerifySummary::new(&all, 2.0);
        assert!(!summary.failed());
        assert_eq!(
            summary.to_string(),
            "2 rows: 1 ok, 0 differ, 1 unverifiable, 0 malformed; 4 code actions replayed in 2.0 s (1.0 rows/s)"
        );
        assert!(VerifySummary::new(&[verdict(Status::Malformed)], 1.0).failed());
    }
}
