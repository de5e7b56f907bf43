//! The command line of `codeact eval`: each benchmark's options (clap), what they resolve to,
//! the replay of a vectors file, and the files and lines that close a run. The front end
//! resolves the configuration, builds the backends and prints.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use codeact_exec::SessionManager;

use crate::apibank::{self, ApiBankOptions};
use crate::m3tooleval::{self, ActionMode, M3Options, M3Settings};
use crate::pypkg::VectorReport;
use crate::{EvalError, Summary};

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Code,
    Json,
    Text,
    All,
}

impl ModeArg {
    pub fn modes(self) -> Vec<ActionMode> {
        match self {
            ModeArg::Code => vec![ActionMode::Code],
            ModeArg::Json => vec![ActionMode::Json],
            ModeArg::Text => vec![ActionMode::Text],
            ModeArg::All => ActionMode::ALL.to_vec(),
        }
    }
}

/// `codeact eval m3tooleval`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct M3Args {
    /// Action format(s) to run.
    #[arg(long, value_enum, default_value = "all")]
    pub mode: ModeArg,
    /// Tasks in the benchmark's JSONL format (default: the 82 shipped tasks).
    #[arg(long)]
    pub tasks: Option<PathBuf>,
    /// Only tasks whose name matches this regular expression.
    #[arg(long)]
    pub filter: Option<String>,
    /// Replies per task.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub turns: u32,
    /// Most new tokens per reply.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: u32,
    /// Runs in flight at once, each in its own sandboxed session.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub concurrency: usize,
    /// Runs of each task and mode; above 1 the summary gives pass@k, and the temperature
    /// defaults to 0.8.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub samples: u32,
    /// Results directory (default: eval-results/m3tooleval/<model>); a rerun skips what it holds.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Instead of evaluating, replay this vectors file against the tools and report.
    #[arg(long, value_name = "VECTORS.jsonl")]
    pub check_tools: Option<PathBuf>,
}

impl M3Args {
    /// The run these options select for `model`, sampling at `temperature` when one is
    /// configured (else greedily, or at 0.8 for several samples), with `cell_timeout` as the
    /// limit of one code action when one is asked for (else [`M3Settings`]' 30 s).
    pub fn options(
        &self,
        model: &str,
        temperature: Option<f32>,
        cell_timeout: Option<std::time::Duration>,
    ) -> M3Options {
        let defaults = M3Settings::default();
        let greedy = if self.samples > 1 { 0.8 } else { 0.0 };
        M3Options {
            modes: self.mode.modes(),
            tasks: self.tasks.clone(),
            filter: self.filter.clone(),
            samples: self.samples,
            concurrency: self.concurrency,
            out: (self.out.clone()).unwrap_or_else(|| default_out("m3tooleval", model)),
            settings: M3Settings {
                turns: self.turns,
                max_tokens: self.max_tokens,
                temperature: temperature.unwrap_or(greedy),
                cell_timeout: cell_timeout.unwrap_or(defaults.cell_timeout),
            },
        }
    }

    /// Writes the summary's files into `out`; returns the line that names the results.
    pub fn write_summary(summary: &Summary, out: &Path) -> Result<String, EvalError> {
        summary.write(out, m3tooleval::SUMMARY_STEM)?;
        Ok(format!(
            "results: {} (runs), {}.md/.json/.svg (summary)",
            out.join(m3tooleval::RECORDS_FILE).display(),
            out.join(m3tooleval::SUMMARY_STEM).display()
        ))
    }
}

/// `codeact eval apibank`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct ApiBankArgs {
    /// Action format(s) to run.
    #[arg(long, value_enum, default_value = "all")]
    pub mode: ModeArg,
    /// Only samples (`FILE#id`) whose name matches this regular expression.
    #[arg(long)]
    pub filter: Option<String>,
    /// Model calls in flight at once.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    pub concurrency: usize,
    /// Most new tokens per reply.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: u32,
    /// Results directory (default: eval-results/apibank/<model>); a rerun skips what it holds.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also print the scoring with the original's distorting quirks fixed (always recorded).
    #[arg(long)]
    pub corrected: bool,
    /// Also run code replies as Python against the simulated APIs and score the call made.
    #[arg(long)]
    pub execute_code: bool,
    /// Instead of evaluating, replay this vectors file against the APIs and report.
    #[arg(long, value_name = "VECTORS.jsonl")]
    pub check_apis: Option<PathBuf>,
}

impl ApiBankArgs {
    /// The run these options select for `model`, sampling at `temperature` (default 0).
    pub fn options(&self, model: &str, temperature: Option<f32>) -> ApiBankOptions {
        ApiBankOptions {
            modes: self.mode.modes(),
            filter: self.filter.clone(),
            concurrency: self.concurrency,
            out: (self.out.clone()).unwrap_or_else(|| default_out("apibank", model)),
            max_tokens: self.max_tokens,
            temperature: temperature.unwrap_or(0.0),
            execute_code: self.execute_code,
        }
    }

    /// Writes both scorings' files into `out`; returns the line that names the results.
    pub fn write_summaries(
        original: &Summary,
        corrected: &Summary,
        out: &Path,
    ) -> Result<String, EvalError> {
        original.write(out, apibank::SUMMARY_STEM)?;
        corrected.write(out, apibank::CORRECTED_SUMMARY_STEM)?;
        Ok(format!(
            "results: {} (samples), {}.md/.json/.svg and {}.md/… (summaries)",
            out.join(apibank::RECORDS_FILE).display(),
            out.join(apibank::SUMMARY_STEM).display(),
            out.join(apibank::CORRECTED_SUMMARY_STEM).display()
        ))
    }
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of at least 1")),
    }
}

/// `eval-results/<benchmark>/<model>`, the model's name made safe for a path.
pub fn default_out(benchmark: &str, model: &str) -> PathBuf {
    let slug: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    PathBuf::from("eval-results").join(benchmark).join(slug)
}

/// A vectors file's benchmark: M³ToolEval's tools or API-Bank's APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vectors {
    Tools,
    Apis,
}

impl Vectors {
    /// Reads the vectors file at `path`.
    pub fn read(path: &Path) -> Result<String, EvalError> {
        std::fs::read_to_string(path).map_err(EvalError::file("reading", path))
    }

    /// Replays `vectors` inside a sandboxed session of `sessions`.
    pub async fn check(
        self,
        sessions: &SessionManager,
        vectors: &str,
    ) -> Result<VectorCheck, EvalError> {
        let report = match self {
            Vectors::Tools => m3tooleval::check_tools(sessions, vectors).await?,
            Vectors::Apis => apibank::check_apis(sessions, vectors).await?,
        };
        Ok(VectorCheck { of: self, report })
    }
}

/// A vectors file replayed: each failure on a line, then `N/M … vectors pass`.
#[derive(Debug, Clone)]
pub struct VectorCheck {
    pub of: Vectors,
    pub report: VectorReport,
}

impl VectorCheck {
    pub fn all_pass(&self) -> bool {
        self.report.passed == self.report.total
    }
}

impl std::fmt::Display for VectorCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for failure in &self.report.failures {
            writeln!(f, "{failure}")?;
        }
        let what = match self.of {
            Vectors::Tools => "tool",
            Vectors::Apis => "API",
        };
        let r = &self.report;
        writeln!(f, "{}/{} {what} vectors pass", r.passed, r.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_go_under_the_model_made_safe_for_a_path() {
        let out = default_out("apibank", "http://host:8080/v1 qwen2.5");
        let want = "eval-results/apibank/http---host-8080-v1-qwen2.5";
        assert_eq!(out, PathBuf::from(want));
    }

    #[test]
    fn a_vectors_check_lists_failures_then_the_count() {
        let report = VectorReport {
            failures: vec!["line 2: wrong".into()],
            passed: 1,
            total: 2,
        };
        let check = VectorCheck {
            of: Vectors::Apis,
            report,
        };
        assert!(!check.all_pass());
        assert_eq!(check.to_string(), "line 2: wrong\n1/2 API vectors pass\n");
    }
}
