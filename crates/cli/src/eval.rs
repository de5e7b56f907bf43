//! `codeact eval`: the seed's benchmarks (M³ToolEval, API-Bank) against any model, with a
//! progress bar, resumable results under `--out`, and a summary table. The options and what
//! they resolve to live in `codeact_eval::commands`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use codeact_eval::commands::{ApiBankArgs, M3Args, Vectors};
use codeact_eval::{apibank, m3tooleval};

use crate::backends;
use crate::config::{Config, WithBackends};
use crate::progress::interruptible;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// M³ToolEval: 82 tool-use tasks in five domains, with code, JSON or text actions. A code
    /// action may run for 30 s, or as long as --timeout says.
    #[command(name = "m3tooleval")]
    M3ToolEval(Box<WithBackends<M3Args>>),
    /// API-Bank level 1: 399 scored API calls from 214 dialogues, with code, JSON or text actions.
    #[command(name = "apibank")]
    ApiBank(Box<WithBackends<ApiBankArgs>>),
    /// Put several results directories (models) side by side.
    Compare {
        /// Directories written by `codeact eval … --out DIR`.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}

pub async fn run(config: Option<&Path>, command: EvalCommand) -> Result<i32> {
    match command {
        EvalCommand::M3ToolEval(a) => {
            let config = Config::load(config, &[&*a])?;
            // Only the flag changes the benchmark's own limit, not the engine's default.
            let limit = a.engine.timeout.map(|_| config.exec.cell_timeout);
            m3(config, &a.opts, limit).await
        }
        EvalCommand::ApiBank(a) => apibank(Config::load(config, &[&*a])?, &a.opts).await,
        EvalCommand::Compare { dirs } => {
            print!("{}", codeact_eval::summary::compare_dirs(&dirs)?);
            Ok(0)
        }
    }
}

async fn m3(config: Config, args: &M3Args, limit: Option<Duration>) -> Result<i32> {
    if let Some(vectors) = &args.check_tools {
        return check_vectors(&config, vectors, Vectors::Tools).await;
    }
    let (llm, sessions) = backends::llm_and_sessions(&config).await?;
    let options = args.options(&llm.name(), config.llm.temperature, limit);
    let (opts, engine) = (&options, sessions.clone());
    let result = interruptible(&sessions, &options.out, |progress| async move {
        m3tooleval::evaluate(llm, engine, opts, &*progress).await
    })
    .await;
    let Some(summary) = result? else {
        return Ok(130);
    };
    let results = M3Args::write_summary(&summary, &options.out)?;
    print!("{}", summary.markdown());
    eprintln!("{results}");
    Ok(0)
}

/// Replays a vectors file inside a sandboxed session; prints each failure, then `N/M … pass`.
async fn check_vectors(config: &Config, path: &Path, vectors: Vectors) -> Result<i32> {
    let text = Vectors::read(path)?;
    let sessions = backends::session_manager(config).await?;
    let check = vectors.check(&sessions, &text).await;
    sessions.shutdown().await;
    let check = check?;
    print!("{check}");
    Ok(i32::from(!check.all_pass()))
}

async fn apibank(config: Config, args: &ApiBankArgs) -> Result<i32> {
    if let Some(vectors) = &args.check_apis {
        return check_vectors(&config, vectors, Vectors::Apis).await;
    }
    let (llm, sessions) = backends::llm_and_sessions(&config).await?;
    let options = args.options(&llm.name(), config.llm.temperature);
    let (opts, engine) = (&options, sessions.clone());
    let result = interruptible(&sessions, &options.out, |progress| async move {
        apibank::evaluate(llm, engine, opts, &*progress).await
    })
    .await;
    let Some((original, corrected)) = result? else {
        return Ok(130);
    };
    let results = ApiBankArgs::write_summaries(&original, &corrected, &options.out)?;
    print!("{}", original.markdown());
    if args.corrected {
        println!();
        print!("{}", corrected.markdown());
    }
    eprintln!("{results}");
    Ok(0)
}
