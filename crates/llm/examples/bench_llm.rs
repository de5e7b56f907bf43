//! Runs the LLM benchmark and prints its table: `cargo run --release --example bench_llm`.
//!
//! Arguments: `[threads] [--json]`.

use codeact_llm::{bench_llm, BenchOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = args.iter().find_map(|a| a.parse().ok());
    let json = args.iter().any(|a| a == "--json");
    let report = bench_llm(BenchOptions {
        threads,
        progress: true,
        ..BenchOptions::default()
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
