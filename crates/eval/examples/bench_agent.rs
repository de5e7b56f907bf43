//! Runs the agent benchmark with the embedded default model (Qwen2.5-Coder-0.5B-Instruct).
//!
//! `cargo run --release -p codeact-eval --example bench_agent -- [--all | --variants ours:on:off,seed:off:off]
//! [--limit N] [--only ID,ID] [--json FILE] [--progress FILE.jsonl]`
//! Without `--all` only our default variant runs. Sessions run without a sandbox (the tasks are
//! the crate's own).

use std::sync::Arc;

use codeact_eval::{bench_agent, builtin_tasks, BenchOptions, Variant};
use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, SandboxMode, SessionManager};
use codeact_llm::EmbeddedBackend;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,codeact_llm=warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut opts = BenchOptions {
        variants: vec![Variant::ours()],
        ..BenchOptions::default()
    };
    if args.iter().any(|a| a == "--all") {
        opts.variants = Variant::matrix();
    }
    opts.progress_file = value("--progress").map(Into::into);
    if let Some(n) = value("--limit") {
        opts.task_limit = Some(n.parse()?);
    }
    if let Some(spec) = value("--variants") {
        // e.g. "ours:on:off,seed:off:off" = style:fence:grammar
        opts.variants = spec.split(',').map(str::parse).collect::<Result<_, _>>()?;
    }
    let llm = Arc::new(EmbeddedBackend::load_default(None).await?);
    let mut config = ExecConfig::default();
    config.sandbox.mode = SandboxMode::None;
    // No task needs more than a moment; a brute-force loop should fail fast, not eat minutes.
    config.cell_timeout = std::time::Duration::from_secs(10);
    let exec = SessionManager::new(Arc::new(LocalBackend::new(&config).await?), config);
    let mut tasks = builtin_tasks();
    if let Some(only) = value("--only") {
        let ids: Vec<&str> = only.split(',').collect();
        tasks.retain(|t| ids.contains(&t.id.as_str()));
    }
    let report = bench_agent(llm, exec.clone(), &tasks, &opts).await;
    exec.shutdown().await;
    println!("{report}");
    print!("{}", report.failure_lines());
    if let Some(path) = value("--json") {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}
