//! `codeact data`: CodeActInstruct trajectory data — generate, verify, filter, stats, export.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use codeact_eval::instruct::distributed::generate_queued;
use codeact_eval::instruct::export::{self, ExportOptions, Format};
use codeact_eval::instruct::filter::{self, Filter};
use codeact_eval::instruct::generate::{self, GenerateSettings};
use codeact_eval::instruct::queue::TaskQueue;
use codeact_eval::instruct::row::{read_all, to_jsonl};
use codeact_eval::instruct::session::{InstructSessions, ToolsModule};
use codeact_eval::instruct::tasks::{load_tasks, TaskIndex};
use codeact_eval::instruct::{stats, verify};

use crate::backends;
use crate::config::{Config, EngineArgs, LlmArgs};
use crate::progress::interruptible;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Run tasks through the original generation protocol and keep the trajectories.
    Generate(Box<GenerateArgs>),
    /// Re-execute every row's code and compare each observation with the recorded one.
    Verify(VerifyArgs),
    /// Apply the original's quality filters, reporting what each removed.
    Filter(FilterArgs),
    /// Rows, turns, code actions, errors and tokens per task type and source.
    Stats(StatsArgs),
    /// Write rows in a fine-tuning tool's format.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
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
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, clap::Args)]
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
    #[command(flatten)]
    pub engine: EngineArgs,
}

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

#[derive(Debug, clap::Args)]
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

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Row files (JSONL or Parquet).
    #[arg(required = true)]
    pub rows: Vec<PathBuf>,
    /// Count tokens with this GGUF model's tokenizer (`default`: the embedded default model).
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

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Openai,
    Sharegpt,
    Axolotl,
    Chatml,
    Parquet,
}

#[derive(Debug, clap::Args)]
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

pub async fn run(config: Option<&Path>, command: DataCommand) -> Result<i32> {
    match command {
        DataCommand::Generate(a) => generate(data_config(config, &[&a.llm, &a.engine])?, &a).await,
        DataCommand::Verify(a) => verify(data_config(config, &[&a.engine])?, &a).await,
        DataCommand::Filter(a) => filter(&a),
        DataCommand::Stats(a) => stats(&a).await,
        DataCommand::Export(a) => export(&a),
    }
}

/// The configuration, with a cell limit above the protocol's own 30 seconds, so that a long
/// cell ends with the original's `TimeoutError` rather than the engine's interrupt, and the
/// package every session needs imported by the zygote.
fn data_config(path: Option<&Path>, args: &[&dyn crate::config::Overrides]) -> Result<Config> {
    let mut config = Config::load(path, args)?;
    config.exec.cell_timeout = config.exec.cell_timeout.max(Duration::from_secs(40));
    codeact_eval::pypkg::INSTRUCT.preload_into(&mut config.exec)?;
    Ok(config)
}

fn tools_module(path: Option<&Path>) -> Result<Option<ToolsModule>> {
    path.map(|p| {
        let source =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        Ok(ToolsModule { source })
    })
    .transpose()
}

async fn generate(config: Config, args: &GenerateArgs) -> Result<i32> {
    let mut tasks = Vec::new();
    for path in &args.tasks {
        tasks.extend(load_tasks(path)?);
    }
    if let Some(f) = &args.filter {
        let re = regex::Regex::new(f).context("--filter")?;
        tasks.retain(|t| re.is_match(&format!("{}/{}", t.task_name, t.id)));
        if tasks.is_empty() {
            bail!("no task matches --filter {f:?} (it is matched against task_name/id)");
        }
    }
    let tools = tools_module(args.tools.as_deref())?;
    if args.check_tasks {
        let sessions = backends::session_manager(&config).await?;
        let env = InstructSessions::new(sessions.clone(), tools);
        let checks = generate::check_tasks(&env, &tasks, args.concurrency as usize).await;
        sessions.shutdown().await;
        let (mut passed, mut failed, mut missing) = (0, 0, 0);
        for c in checks? {
            match c.result {
                Some(r) if r.correct => passed += 1,
                Some(r) => {
                    failed += 1;
                    say(&format!("FAIL {}/{}: {}", c.task_name, c.id, r.detail));
                }
                None => missing += 1,
            }
        }
        say(&format!(
            "{passed}/{} task solutions pass ({missing} without a solution)",
            passed + failed + missing
        ));
        return Ok(i32::from(failed > 0));
    }
    let (llm, sessions) = tokio::try_join!(
        backends::llm(&config.llm),
        backends::session_manager(&config)
    )?;
    let settings = GenerateSettings {
        max_tokens: args.max_tokens,
        temperature: config.llm.temperature.unwrap_or(0.0),
        model_name: args.model_name.clone(),
    };
    let env = InstructSessions::new(sessions.clone(), tools);
    let (env, settings, tasks) = (&env, &settings, &tasks);
    let out = args.out.clone();
    let concurrency = args.concurrency as usize;
    let queue = match &args.queue {
        Some(url) => Some(
            TaskQueue::connect(
                url,
                &args.queue_name,
                Duration::from_secs(args.lease_seconds),
            )
            .await?,
        ),
        None => None,
    };
    let queue = queue.as_ref();
    let result = interruptible(&sessions, &args.out, |progress| async move {
        match queue {
            Some(q) => {
                generate_queued(env, llm, settings, tasks, q, &out, concurrency, &*progress).await
            }
            None => {
                generate::generate(env, llm, settings, tasks, &out, concurrency, &*progress).await
            }
        }
    })
    .await?;
    let Some(runs) = result else {
        return Ok(130);
    };
    say(generate::summary_markdown(&runs).trim_end());
    let ok = runs.iter().filter(|r| r.success).count();
    say(&format!(
        "{ok}/{} runs succeeded; rows: {}, raw runs: {}",
        runs.len(),
        args.out.join(generate::ROWS_FILE).display(),
        args.out.join(generate::RUNS_FILE).display()
    ));
    Ok(0)
}

async fn verify(mut config: Config, args: &VerifyArgs) -> Result<i32> {
    // Each zygote makes one session at a time, and every row needs a fresh one.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    config.exec.zygotes = config
        .exec
        .zygotes
        .max((args.concurrency as usize).min(cores));
    // A runs.jsonl of `generate` verifies too: every run, failed ones included.
    let mut rows = Vec::new();
    for path in &args.rows {
        match generate::read_runs_as_rows(path)? {
            Some(r) => rows.extend(r),
            None => rows.extend(read_all(std::slice::from_ref(path))?),
        }
    }
    let mut tasks = Vec::new();
    for path in &args.tasks {
        tasks.extend(load_tasks(path)?);
    }
    let index = TaskIndex::new(tasks);
    let sessions = backends::session_manager(&config).await?;
    let env = InstructSessions::new(sessions.clone(), tools_module(args.tools.as_deref())?);
    let json = args.json;
    let print = move |v: &verify::RowVerdict| {
        if json {
            say(&serde_json::to_string(v).unwrap_or_default());
        } else {
            say(&verdict_text(v));
        }
    };
    let start = Instant::now();
    let verdicts =
        verify::verify_rows(&env, &rows, &index, args.concurrency as usize, &print).await;
    let elapsed = start.elapsed().as_secs_f64();
    sessions.shutdown().await;
    let verdicts = verdicts?;
    let count = |s: verify::Status| verdicts.iter().filter(|v| v.status == s).count();
    let counts = [
        count(verify::Status::Ok),
        count(verify::Status::Differs),
        count(verify::Status::Unverifiable),
        count(verify::Status::Malformed),
    ];
    let replayed: usize = verdicts.iter().map(|v| v.replayed).sum();
    eprintln!(
        "{} rows: {} ok, {} differ, {} unverifiable, {} malformed; {replayed} code actions replayed in {:.1} s ({:.1} rows/s)",
        verdicts.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        elapsed,
        verdicts.len() as f64 / elapsed.max(1e-9)
    );
    // Exit 1 when a row differs or is malformed; unverifiable rows are not failures.
    Ok(i32::from(counts[1] + counts[3] > 0))
}

/// One row's verdict as text: `ok ID`, or what went wrong where, with the diff.
fn verdict_text(v: &verify::RowVerdict) -> String {
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
        verify::Status::Ok => format!("ok {}{note}", v.id),
        verify::Status::Differs => format!(
            "DIFFERS {} at assistant turn {turn}{why}{note}\n{}",
            v.id,
            v.diff.as_deref().unwrap_or("").trim_end()
        ),
        verify::Status::Unverifiable => {
            format!("UNVERIFIABLE {} at assistant turn {turn}{why}", v.id)
        }
        verify::Status::Malformed => format!("MALFORMED {}{why}", v.id),
    }
}

/// Prints a line on stdout; a closed pipe (`| head`) ends the program quietly, as for any
/// command-line filter.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Refuses an output path that is one of the inputs: it would be lost before it was read.
fn not_an_input(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    if let Some(o) = canon(out) {
        if inputs.iter().any(|i| canon(i).as_ref() == Some(&o)) {
            bail!(
                "--out {} is one of the inputs; write somewhere else",
                out.display()
            );
        }
    }
    Ok(())
}

fn filter(args: &FilterArgs) -> Result<i32> {
    not_an_input(&args.out, &args.rows)?;
    let rows = read_all(&args.rows)?;
    let drop = regex::Regex::new(&args.drop_tasks).context("--drop-tasks")?;
    let names = if args.only.is_empty() {
        FilterName::value_variants().to_vec()
    } else {
        args.only.clone()
    };
    let steps: Vec<Filter> = names
        .iter()
        .map(|n| match n {
            FilterName::Dedupe => Filter::Dedupe,
            FilterName::MoreActions => Filter::MoreActionsThan(args.more_actions_than),
            FilterName::DropTasks => Filter::DropTasks(drop.clone()),
            FilterName::NotAllInvalid => Filter::NotAllInvalid,
            FilterName::Paired => Filter::Paired,
            FilterName::NotAllFailing => Filter::NotAllFailing,
        })
        .collect();
    let total = rows.len();
    let (kept, reports) = filter::apply(rows, &steps);
    for r in &reports {
        say(&format!(
            "{:<24} removed {:>6} of {:>6}",
            r.filter, r.removed, r.before
        ));
    }
    say(&format!(
        "kept {} of {total} rows -> {}",
        kept.len(),
        args.out.display()
    ));
    write(&args.out, to_jsonl(&kept).as_bytes())?;
    Ok(0)
}

async fn stats(args: &StatsArgs) -> Result<i32> {
    let rows = read_all(&args.rows)?;
    let tokenizer = match args.tokenizer.as_deref() {
        None => None,
        Some(spec) => {
            let path = if spec == "default" {
                tokio::task::spawn_blocking(codeact_llm::ensure_default_model).await??
            } else {
                PathBuf::from(spec)
            };
            Some(codeact_llm::Tokenizer::load(&path)?)
        }
    };
    let count = tokenizer.as_ref().map(|t| move |s: &str| t.count(s));
    let counter: Option<&(dyn Fn(&str) -> usize + Sync)> = count.as_ref().map(|c| c as _);
    let s = stats::compute(&rows, counter, counter.map(|_| args.clip));
    let json = serde_json::to_string_pretty(&s)?;
    if args.json {
        say(&json);
    } else {
        say(s.markdown().trim_end());
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write(&dir.join("stats.md"), s.markdown().as_bytes())?;
        write(&dir.join("stats.json"), json.as_bytes())?;
        write(
            &dir.join("stats.svg"),
            codeact_eval::instruct::histograms(&s).as_bytes(),
        )?;
    }
    Ok(0)
}

fn export(args: &ExportArgs) -> Result<i32> {
    not_an_input(&args.out, &args.rows)?;
    if args.observation_role && args.format != FormatArg::Sharegpt {
        bail!("--observation-role applies to --format sharegpt only");
    }
    if args.name.is_some() && args.format != FormatArg::Sharegpt {
        bail!(
            "--name names the dataset in LLaMA-Factory's dataset_info.json: --format sharegpt only"
        );
    }
    let rows = read_all(&args.rows)?;
    let format = match args.format {
        FormatArg::Openai => Format::Openai,
        FormatArg::Sharegpt => Format::Sharegpt,
        FormatArg::Axolotl => Format::Axolotl,
        FormatArg::Chatml => Format::Chatml,
        FormatArg::Parquet => Format::Parquet,
    };
    let Some(file_name) = args.out.file_name().and_then(|n| n.to_str()) else {
        bail!("--out must name a file");
    };
    let opts = ExportOptions {
        observation_role: args.observation_role,
        name: args.name.clone(),
    };
    let files = export::export(&rows, format, file_name, &opts).map_err(anyhow::Error::msg)?;
    let dir = args.out.parent().unwrap_or(Path::new(""));
    for f in files {
        let path = dir.join(&f.name);
        if f.name == "dataset_info.json" {
            // LLaMA-Factory keeps every dataset's entry in this one file: add ours to it.
            let merged = export::merge_dataset_info(
                std::fs::read_to_string(&path).ok().as_deref(),
                &f.bytes,
            )
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            write(&path, &merged)?;
            eprintln!("updated {}", path.display());
            continue;
        }
        write(&path, &f.bytes)?;
        eprintln!("wrote {}", path.display());
    }
    eprintln!("{} rows exported", rows.len());
    Ok(0)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
