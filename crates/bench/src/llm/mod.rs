//! `codeact bench llm`: the embedded engine against llama-server and llama-bench on the
//! same GGUF and thread count, with the machine's memory bandwidth as the ceiling.
//!
//! Token generation on a CPU streams every weight once per token, so bandwidth divided by
//! the weights' size bounds generation speed; the table shows how close each engine gets.

mod measure;
mod report;
mod runs;

use std::path::{Path, PathBuf};

use serde::Serialize;
use tracing::info;

use crate::llama_server::find_llama_tool;
use crate::{BenchError, Progress};
pub use measure::Bandwidth;

/// What to measure besides the model and the threads, which come from codeact's configuration.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct LlmBenchOptions {
    /// Prompt length of the prompt-processing run (like llama-bench's pp512).
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: u32,
    /// Tokens generated in the generation run (like llama-bench's tg128).
    #[arg(long, default_value_t = 128)]
    pub gen_tokens: u32,
    /// Length of the conversation of the second-turn latency run.
    #[arg(long, default_value_t = 1500)]
    pub conversation_tokens: u32,
    /// Skip llama-server and llama-bench.
    #[arg(long)]
    pub skip_peers: bool,
}

impl Default for LlmBenchOptions {
    fn default() -> Self {
        Self {
            prompt_tokens: 512,
            gen_tokens: 128,
            conversation_tokens: 1500,
            skip_peers: false,
        }
    }
}

/// One engine's numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EngineNumbers {
    /// Prompt tokens evaluated per second.
    pub prompt_tps: f64,
    /// Tokens generated per second.
    pub gen_tps: f64,
    /// Time from request to first token for the prompt-processing prompt, in ms.
    pub ttft_ms: Option<f64>,
    /// Peak resident memory, in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Time to load the model, in ms.
    pub load_ms: Option<f64>,
}

/// Latency of the next turn of a long conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecondTurn {
    /// Prompt tokens of the second turn.
    pub prompt_tokens: u32,
    /// Time to first token reusing the first turn's KV cache, in ms.
    pub with_reuse_ms: f64,
    /// Prompt tokens served from the cache in that run.
    pub cached_tokens: u32,
    /// Time to first token evaluating the whole prompt, in ms.
    pub without_reuse_ms: f64,
}

/// Everything one benchmark run found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LlmReport {
    pub model_path: PathBuf,
    /// Size of the weights, in bytes.
    pub model_bytes: u64,
    pub threads: usize,
    pub prompt_tokens: u32,
    pub gen_tokens: u32,
    pub embedded: Option<EngineNumbers>,
    pub embedded_second_turn: Option<SecondTurn>,
    pub llama_server: Option<EngineNumbers>,
    pub llama_server_second_turn: Option<SecondTurn>,
    /// llama-bench's own pp/tg numbers (no TTFT or memory).
    pub llama_bench: Option<EngineNumbers>,
    pub bandwidth: Option<Bandwidth>,
    /// Why a part is missing, or anything else worth knowing about the run.
    pub notes: Vec<String>,
}

impl LlmReport {
    /// The generation speed memory bandwidth allows: bandwidth / weight bytes.
    pub fn gen_upper_bound_tps(&self) -> Option<f64> {
        let bw = self.bandwidth?.best();
        (self.model_bytes > 0).then(|| bw / self.model_bytes as f64)
    }
}

fn stage(progress: Progress, what: &str) {
    info!(stage = what, "bench llm");
    progress(what);
}

/// Runs the whole benchmark on `model` with `threads` threads (all cores when `None`). Takes a
/// few minutes; parts that cannot run (llama-server or llama-bench not installed) are left out
/// with a note rather than failing the run.
pub async fn run(
    model: &Path,
    threads: Option<usize>,
    opts: &LlmBenchOptions,
    progress: Progress<'_>,
) -> Result<LlmReport, BenchError> {
    let model = model.to_path_buf();
    let threads = codeact_llm::EmbeddedConfig {
        n_threads: threads,
        ..codeact_llm::EmbeddedConfig::new(&model)
    }
    .threads();
    let mut report = LlmReport {
        model_path: model.clone(),
        threads,
        prompt_tokens: opts.prompt_tokens,
        gen_tokens: opts.gen_tokens,
        ..LlmReport::default()
    };

    stage(progress, "memory bandwidth");
    report.bandwidth = Some(
        tokio::task::spawn_blocking(move || measure::memory_bandwidth(threads))
            .await
            .map_err(|e| BenchError::msg(format!("bandwidth measurement panicked: {e}")))?,
    );

    stage(progress, "embedded engine");
    let (numbers, second, model_bytes, prompts) = runs::embedded(opts, &model, threads).await?;
    report.embedded = Some(numbers);
    report.embedded_second_turn = Some(second);
    report.model_bytes = model_bytes;
    if opts.skip_peers {
        return Ok(report);
    }

    match find_llama_tool("llama-server") {
        Some(binary) => {
            stage(progress, "llama-server");
            match runs::server(opts, &model, threads, binary, &prompts).await {
                Ok((numbers, second)) => {
                    report.llama_server = Some(numbers);
                    report.llama_server_second_turn = Some(second);
                }
                Err(e) => report.notes.push(format!("llama-server failed: {e}")),
            }
        }
        None => report
            .notes
            .push("llama-server not found: install it with scripts/llama-server.sh".into()),
    }
    match find_llama_tool("llama-bench") {
        Some(binary) => {
            stage(progress, "llama-bench");
            match runs::llama_bench(opts, &model, threads, binary).await {
                Ok(numbers) => report.llama_bench = Some(numbers),
                Err(e) => report.notes.push(format!("llama-bench failed: {e}")),
            }
        }
        None => report
            .notes
            .push("llama-bench not found: install it with scripts/llama-server.sh".into()),
    }
    Ok(report)
}
