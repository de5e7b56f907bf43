//! `codeact data filter`, `stats` and `export`: commands over row files, each from its
//! options to the files it writes and the lines it reports.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use codeact_llm::Tokenizer;

use super::{not_an_input, write_file, LineSink};
use crate::instruct::export::{self, ExportOptions, Format};
use crate::instruct::filter::{self, Filter};
use crate::instruct::row::{read_all, to_jsonl};
use crate::instruct::stats;
use crate::EvalError;

/// A filter step by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FilterName {
    Dedupe,
    MoreActions,
    DropTasks,
    NotAllInvalid,
    Paired,
    NotAllFailing,
}

/// What `codeact data filter` reads, applies and writes.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Row files (JSONL or Parquet).
    #[arg(required = true)]
    pub rows: Vec<PathBuf>,
    /// Where the kept rows go (JSONL).
    #[arg(long)]
    pub out: PathBuf,
    /// The steps, in order (default: all of the original's).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<FilterName>,
    /// more-actions: keep rows with more than this many assistant actions.
    #[arg(long, default_value_t = 2)]
    pub more_actions_than: usize,
    /// drop-tasks: drop rows whose task name matches (the original dropped StrategyQA).
    #[arg(long, default_value = "^strategyqa$")]
    pub drop_tasks: String,
}

impl FilterArgs {
    /// The steps `--only` names (all, in the original's order, without it).
    pub fn steps(&self) -> Result<Vec<Filter>, EvalError> {
        let drop = regex::Regex::new(&self.drop_tasks)
            .map_err(|e| EvalError::Task(format!("--drop-tasks: {e}")))?;
        let names = if self.only.is_empty() {
            FilterName::value_variants().to_vec()
        } else {
            self.only.clone()
        };
        let step = |n: &FilterName| match n {
            FilterName::Dedupe => Filter::Dedupe,
            FilterName::MoreActions => Filter::MoreActionsThan(self.more_actions_than),
            FilterName::DropTasks => Filter::DropTasks(drop.clone()),
            FilterName::NotAllInvalid => Filter::NotAllInvalid,
            FilterName::Paired => Filter::Paired,
            FilterName::NotAllFailing => Filter::NotAllFailing,
        };
        Ok(names.iter().map(step).collect())
    }

    /// Filters the rows into `--out`; `line` hears what each step removed and what was kept.
    pub fn run(&self, line: &LineSink<'_>) -> Result<(), EvalError> {
        not_an_input(&self.out, &self.rows)?;
        let rows = read_all(&self.rows)?;
        let total = rows.len();
        let (kept, reports) = filter::apply(rows, &self.steps()?);
        for r in &reports {
            line(&format!(
                "{:<24} removed {:>6} of {:>6}",
                r.filter, r.removed, r.before
            ));
        }
        line(&format!(
            "kept {} of {total} rows -> {}",
            kept.len(),
            self.out.display()
        ));
        write_file(&self.out, to_jsonl(&kept).as_bytes())
    }
}

/// What `codeact data stats` counts, and where its report goes.
#[derive(Debug, Clone, clap::Args)]
pub struct StatsArgs {
    /// Row files (JSONL or Parquet).
    #[arg(required = true)]
    pub rows: Vec<PathBuf>,
    /// Count tokens with this GGUF file's tokenizer, or a known model's (`default`, or a name
    /// such as `qwen2.5-coder-1.5b`).
    #[arg(long, value_name = "GGUF|default")]
    pub tokenizer: Option<String>,
    /// Clip each row's tokens at this many (the card's figures use 4,096).
    #[arg(long, default_value_t = 4096)]
    pub clip: usize,
    /// Print JSON instead of the Markdown table.
    #[arg(long)]
    pub json: bool,
    /// Also write stats.md, stats.json and the histograms (stats.svg) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl StatsArgs {
    /// Counts the rows (tokens too with `--tokenizer`, fetching the default model if it is
    /// named); `line` hears the table (JSON with `--json`), then the files go to `--out`.
    pub async fn run(&self, line: &LineSink<'_>) -> Result<(), EvalError> {
        let rows = read_all(&self.rows)?;
        let tokenizer = match self.tokenizer.as_deref() {
            None => None,
            Some(spec) => Some(load_tokenizer(spec).await?),
        };
        let count = tokenizer.as_ref().map(|t| move |s: &str| t.count(s));
        let counter: Option<&(dyn Fn(&str) -> usize + Sync)> = count.as_ref().map(|c| c as _);
        let s = stats::compute(&rows, counter, counter.map(|_| self.clip));
        let json = serde_json::to_string_pretty(&s).unwrap_or_default();
        if self.json {
            line(&json);
        } else {
            line(s.markdown().trim_end());
        }
        if let Some(dir) = &self.out {
            std::fs::create_dir_all(dir).map_err(EvalError::file("creating", dir))?;
            write_file(&dir.join("stats.md"), s.markdown().as_bytes())?;
            write_file(&dir.join("stats.json"), json.as_bytes())?;
            let svg = crate::instruct::histograms(&s);
            write_file(&dir.join("stats.svg"), svg.as_bytes())?;
        }
        Ok(())
    }
}

/// The tokenizer of a GGUF file, of the embedded default model (`default`) or of another
/// known model (by name); known models are fetched on first use.
async fn load_tokenizer(spec: &str) -> Result<Tokenizer, EvalError> {
    let known = match spec {
        "default" => Some(codeact_llm::DEFAULT_MODEL),
        name => codeact_llm::known_model(name).ok(),
    };
    let path = match known {
        Some(model) => tokio::task::spawn_blocking(move || {
            codeact_llm::ensure_model(model, &codeact_llm::LogProgress)
        })
        .await
        .map_err(|e| EvalError::Task(e.to_string()))?
        .map_err(EvalError::Tokenizer)?,
        None => PathBuf::from(spec),
    };
    Tokenizer::load(&path).map_err(EvalError::Tokenizer)
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Openai,
    Sharegpt,
    Axolotl,
    Chatml,
    Parquet,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Openai => Format::Openai,
            FormatArg::Sharegpt => Format::Sharegpt,
            FormatArg::Axolotl => Format::Axolotl,
            FormatArg::Chatml => Format::Chatml,
            FormatArg::Parquet => Format::Parquet,
        }
    }
}

/// What `codeact data export` reads, and the format and file it writes.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Row files (JSONL or Parquet).
    #[arg(required = true)]
    pub rows: Vec<PathBuf>,
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// The data file to write; companions (dataset_info.json, axolotl.yaml) go beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// ShareGPT: observations as `observation` turns (LLaMA-Factory's tool role) instead of
    /// `human` turns as CodeActAgent was trained.
    #[arg(long)]
    pub observation_role: bool,
    /// The dataset's name in dataset_info.json.
    #[arg(long)]
    pub name: Option<String>,
}

impl ExportArgs {
    /// Writes the rows' files beside `--out`, adding to an existing `dataset_info.json`;
    /// `note` hears each file written and the count of rows.
    pub fn run(&self, note: &LineSink<'_>) -> Result<(), EvalError> {
        not_an_input(&self.out, &self.rows)?;
        let refuse = |what: &str| Err(EvalError::Task(what.into()));
        if self.observation_role && self.format != FormatArg::Sharegpt {
            return refuse("--observation-role applies to --format sharegpt only");
        }
        if self.name.is_some() && self.format != FormatArg::Sharegpt {
            return refuse(
                "--name names the dataset in LLaMA-Factory's dataset_info.json: --format sharegpt only",
            );
        }
        let rows = read_all(&self.rows)?;
        let Some(file_name) = self.out.file_name().and_then(|n| n.to_str()) else {
            return refuse("--out must name a file");
        };
        let opts = ExportOptions {
            observation_role: self.observation_role,
            name: self.name.clone(),
        };
        let files = export::export(&rows, self.format.into(), file_name, &opts)
            .map_err(EvalError::Export)?;
        let dir = self.out.parent().unwrap_or(Path::new(""));
        for f in files {
            let path = dir.join(&f.name);
            if f.name == "dataset_info.json" {
                // LLaMA-Factory keeps every dataset's entry in this one file: add ours to it.
                let existing = std::fs::read_to_string(&path).ok();
                let merged = export::merge_dataset_info(existing.as_deref(), &f.bytes)
                    .map_err(|e| EvalError::Export(format!("{}: {e}", path.display())))?;
                write_file(&path, &merged)?;
                note(&format!("updated {}", path.display()));
                continue;
            }
            write_file(&path, &f.bytes)?;
            note(&format!("wrote {}", path.display()));
        }
        note(&format!("{} rows exported", rows.len()));
        Ok(())
    }
}
