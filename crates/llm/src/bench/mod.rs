//! `codeact bench llm`: the embedded engine against llama-server and llama-bench on the
//! same GGUF and thread count, with the machine's memory bandwidth as the ceiling.
//!
//! Token generation on a CPU streams every weight once per token, so bandwidth divided by
//! the weights' size bounds generation speed; the table shows how close each engine gets.

mod measure;
mod report;
mod runs;

use std::path::PathBuf;

use serde::Serialize;
use tracing::info;

use crate::backend::LlmError;
pub use measure::Bandwidth;

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// The GGUF to run; `None` means the default model (fetched if needed).
    pub model: Option<PathBuf>,
    /// Threads for every engine; `None` means all available cores.
    pub threads: Option<usize>,
    /// Prompt length for the prompt-processing run (like llama-bench's pp512).
    pub prompt_tokens: u32,
    /// Tokens to generate in the generation run (like llama-bench's tg128).
    pub gen_tokens: u32,
    /// Length of the conversation for the second-turn latency run.
    pub conversation_tokens: u32,
    /// Also run llama-server, when it can be found.
    pub llama_server: bool,
    /// Also run llama-bench, when it can be found.
    pub llama_bench: bool,
    /// Print a line on stderr as each stage starts.
    pub progress: bool,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            model: None,
            threads: None,
            prompt_tokens: 512,
            gen_tokens: 128,
            conversation_tokens: 1500,
            llama_server: true,
            llama_bench: true,
            progress: false,
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
pub struct BenchReport {
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

impl BenchReport {
    /// The generation speed memory bandwidth allows: bandwidth / weight bytes.
    pub fn gen_upper_bound_tps(&self) -> Option<f64> {
        let bw = self.bandwidth?.best();
        (self.model_bytes > 0).then(|| bw / self.model_bytes as f64)
    }
}

fn stage(opts: &BenchOptions, what: &str) {
    info!(stage = what, "bench");
    if opts.progress {
        eprintln!("bench: {what}…");
    }
}

/// Runs the whole benchmark. Takes a few minutes; parts that cannot run (llama-server or
/// llama-bench not installed) are left out with a note rather than failing the run.
pub async fn bench_llm(opts: BenchOptions) -> Result<BenchReport, LlmError> {
    let model = match &opts.model {
        Some(p) => p.clone(),
        None => tokio::task::spawn_blocking(crate::model::ensure_default_model)
            .await
            .map_err(|e| LlmError::Model(format!("model fetching panicked: {e}")))??,
    };
    let threads = crate::EmbeddedConfig {
        n_threads: opts.threads,
        ..crate::EmbeddedConfig::new(&model)
    }
    .threads();
    let mut report = BenchReport {
        model_path: model.clone(),
        threads,
        prompt_tokens: opts.prompt_tokens,
        gen_tokens: opts.gen_tokens,
        ..BenchReport::default()
    };

    stage(&opts, "memory bandwidth");
    report.bandwidth = Some(
        tokio::task::spawn_blocking(move || measure::memory_bandwidth(threads))
            .await
            .map_err(|e| LlmError::Model(format!("bandwidth measurement panicked: {e}")))?,
    );

    stage(&opts, "embedded engine");
    let (numbers, second, model_bytes, prompts) = runs::embedded(&opts, &model, threads).await?;
    report.embedded = Some(numbers);
    report.embedded_second_turn = Some(second);
    report.model_bytes = model_bytes;

    if opts.llama_server {
        match crate::llama_server::find_llama_tool("llama-server") {
            Some(binary) => {
                stage(&opts, "llama-server");
                match runs::server(&opts, &model, threads, binary, &prompts).await {
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
    }
    if opts.llama_bench {
        match crate::llama_server::find_llama_tool("llama-bench") {
            Some(binary) => {
                stage(&opts, "llama-bench");
                match runs::llama_bench(&opts, &model, threads, binary).await {
                    Ok(numbers) => report.llama_bench = Some(numbers),
                    Err(e) => report.notes.push(format!("llama-bench failed: {e}")),
                }
            }
            None => report
                .notes
                .push("llama-bench not found: install it with scripts/llama-server.sh".into()),
        }
    }
    Ok(report)
}
