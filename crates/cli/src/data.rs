//! `codeact data`: CodeActInstruct trajectory data — generate, verify, filter, stats, export.
//! The commands live in `codeact_eval::instruct::commands`; here they get their configuration
//! and backends, and their lines are printed.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use codeact_eval::instruct::commands::{
    generated, ExportArgs, FilterArgs, GenerateArgs, StatsArgs, TaskChecks, VerifyArgs,
};
use codeact_eval::instruct::session::InstructSessions;

use crate::backends;
use crate::config::{Config, EngineArgs, Overrides, WithBackends};
use crate::progress::interruptible;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Run tasks through the original generation protocol and keep the trajectories.
    Generate(Box<WithBackends<GenerateArgs>>),
    /// Re-execute every row's code and compare each observation with the recorded one.
    Verify(Verify),
    /// Apply the original's quality filters, reporting what each removed.
    Filter(FilterArgs),
    /// Rows, turns, code actions, errors and tokens per task type and source.
    Stats(StatsArgs),
    /// Write rows in a fine-tuning tool's format.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
pub struct Verify {
    #[command(flatten)]
    pub opts: VerifyArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub async fn run(config: Option<&Path>, command: DataCommand) -> Result<i32> {
    match command {
        DataCommand::Generate(a) => return generate(data_config(config, &*a)?, &a.opts).await,
        DataCommand::Verify(a) => return verify(data_config(config, &a.engine)?, &a.opts).await,
        DataCommand::Filter(a) => a.run(&say)?,
        DataCommand::Stats(a) => a.run(&say).await?,
        DataCommand::Export(a) => a.run(&|line| eprintln!("{line}"))?,
    }
    Ok(0)
}

/// The configuration, with a cell limit above the protocol's own 30 seconds, so that a long
/// cell ends with the original's `TimeoutError` rather than the engine's interrupt, and the
/// package every session needs imported by the zygote.
fn data_config(path: Option<&Path>, flags: &dyn Overrides) -> Result<Config> {
    let mut config = Config::load(path, &[flags])?;
    config.exec.cell_timeout = config.exec.cell_timeout.max(Duration::from_secs(40));
    codeact_eval::pypkg::INSTRUCT.preload_into(&mut config.exec)?;
    Ok(config)
}

async fn generate(config: Config, o: &GenerateArgs) -> Result<i32> {
    let tasks = o.selected_tasks()?;
    let tools = o.tools_module()?;
    if o.check_tasks {
        let sessions = backends::session_manager(&config).await?;
        let env = InstructSessions::new(sessions.clone(), tools);
        let checks = TaskChecks::run(&env, &tasks, o.concurrency as usize).await;
        sessions.shutdown().await;
        let checks = checks?;
        say(&checks.to_string());
        return Ok(i32::from(!checks.failures.is_empty()));
    }
    let (llm, sessions) = backends::llm_and_sessions(&config).await?;
    let settings = o.settings(config.llm.temperature.unwrap_or(0.0));
    let env = InstructSessions::new(sessions.clone(), tools);
    let queue = o.connect_queue().await?;
    let (env, settings, tasks, queue) = (&env, &settings, &tasks, queue.as_ref());
    let result = interruptible(&sessions, &o.out, |progress| async move {
        o.generate(env, llm, settings, tasks, queue, &*progress)
            .await
    })
    .await?;
    let Some(runs) = result else {
        return Ok(130);
    };
    say(&generated(&runs, &o.out));
    Ok(0)
}

async fn verify(mut config: Config, o: &VerifyArgs) -> Result<i32> {
    // Each zygote makes one session at a time, and every row needs a fresh one.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let zygotes = (o.concurrency as usize).min(cores);
    config.exec.zygotes = config.exec.zygotes.max(zygotes);
    let rows = o.read_rows()?;
    let index = o.task_index()?;
    let sessions = backends::session_manager(&config).await?;
    let env = InstructSessions::new(sessions.clone(), o.tools_module()?);
    let summary = o.verify(&env, &rows, &index, &say).await;
    sessions.shutdown().await;
    let summary = summary?;
    eprintln!("{summary}");
    Ok(i32::from(summary.failed()))
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
