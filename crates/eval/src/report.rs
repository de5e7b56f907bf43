//! Evaluation results: one row per task and variant, one summary per variant, printed as a
//! table (the layout and statistics of every benchmark report, from `codeact-bench`).

use std::fmt;

use codeact_bench::stats::{mean, median};
use codeact_bench::table::table;
use codeact_protocol::{EndReason, Message};
use serde::Serialize;

/// The outcome of one task under one variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskResult {
    pub id: String,
    pub variant: String,
    pub expected: String,
    pub answer: Option<String>,
    pub solved: bool,
    pub end: EndReason,
    pub turns: u32,
    /// Replies with neither code nor a solution.
    pub format_errors: u32,
    /// Code actions taken from a fenced block instead of `<execute>`.
    pub fenced_actions: u32,
    pub seconds: f64,
    /// Replies dropped and sampled again (they would have re-run a cell), for reading what
    /// went wrong; they are not in `messages`.
    #[serde(default)]
    pub discarded: Vec<String>,
    /// Error events of the run (backend or engine failures).
    pub errors: Vec<String>,
    /// The conversation, for reading what went wrong.
    pub messages: Vec<Message>,
}

/// The totals of one variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantSummary {
    pub variant: String,
    pub solved: usize,
    pub total: usize,
    pub format_errors: u32,
    pub fenced_actions: u32,
    pub mean_turns: f64,
    /// Mean seconds per task.
    pub seconds_per_task: f64,
    /// Median seconds per task: a few runs that loop until the turn limit dominate the mean.
    pub median_seconds: f64,
}

impl VariantSummary {
    pub fn of(variant: String, results: &[TaskResult]) -> Self {
        let turns: Vec<f64> = results.iter().map(|r| f64::from(r.turns)).collect();
        let seconds: Vec<f64> = results.iter().map(|r| r.seconds).collect();
        Self {
            variant,
            solved: results.iter().filter(|r| r.solved).count(),
            total: results.len(),
            format_errors: results.iter().map(|r| r.format_errors).sum(),
            fenced_actions: results.iter().map(|r| r.fenced_actions).sum(),
            mean_turns: mean(&turns),
            seconds_per_task: mean(&seconds),
            median_seconds: median(&seconds),
        }
    }

    pub fn solved_rate(&self) -> f64 {
        self.solved as f64 / self.total.max(1) as f64
    }
}

/// Everything one benchmark produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub summaries: Vec<VariantSummary>,
    pub results: Vec<TaskResult>,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model: {}", self.model)?;
        let mut t = table([
            "variant",
            "solved",
            "rate",
            "format err",
            "fenced",
            "turns",
            "s/task",
            "median s",
        ]);
        for s in &self.summaries {
            t.add_row([
                s.variant.clone(),
                format!("{}/{}", s.solved, s.total),
                format!("{:.0}%", 100.0 * s.solved_rate()),
                s.format_errors.to_string(),
                s.fenced_actions.to_string(),
                format!("{:.2}", s.mean_turns),
                format!("{:.1}", s.seconds_per_task),
                format!("{:.1}", s.median_seconds),
            ]);
        }
        writeln!(f, "{t}")
    }
}

impl BenchReport {
    /// The tasks a variant got wrong, with what it answered.
    pub fn failures(&self, variant: &str) -> Vec<&TaskResult> {
        self.results
            .iter()
            .filter(|r| r.variant == variant && !r.solved)
            .collect()
    }

    /// One line per unsolved task of every variant: what was expected, what came back, and
    /// how the run ended.
    pub fn failure_lines(&self) -> String {
        let mut out = String::new();
        for s in &self.summaries {
            for r in self.failures(&s.variant) {
                out.push_str(&format!(
                    "  {:<28} {:<14} expected {:<22} got {:?} ({:?})\n",
                    s.variant, r.id, r.expected, r.answer, r.end
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(solved: bool, turns: u32) -> TaskResult {
        TaskResult {
            id: "t".into(),
            variant: "v".into(),
            expected: "1".into(),
            answer: None,
            solved,
            end: EndReason::Solution,
            turns,
            format_errors: 1,
            fenced_actions: 0,
            discarded: Vec::new(),
            seconds: 2.0,
            errors: Vec::new(),
            messages: Vec::new(),
        }
    }

    #[test]
    fn table() {
        let mut results = vec![result(true, 2), result(false, 4), result(true, 3)];
        results[2].seconds = 11.0;
        let report = BenchReport {
            model: "m".into(),
            summaries: vec![VariantSummary::of(
                "ours fence=on grammar=off".into(),
                &results,
            )],
            results,
        };
        let text = report.to_string();
        let row = text
            .lines()
            .find(|l| l.contains("ours fence=on grammar=off"))
            .unwrap_or_else(|| panic!("{text}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(
            cells,
            [
                "",
                "ours fence=on grammar=off",
                "2/3",
                "67%",
                "3",
                "0",
                "3.00",
                "5.0",
                "2.0",
                ""
            ],
            "{text}"
        );
        assert_eq!(report.failures("v").len(), 1);
    }
}
