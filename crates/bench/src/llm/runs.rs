//! The benchmark runs themselves: the embedded engine, llama-server and llama-bench.

use std::path::{Path, PathBuf};
use std::time::Instant;

use codeact_protocol::Message;
use futures::StreamExt;
use serde::Deserialize;

use codeact_llm::{
    BoxChunkStream, Chunk, CompletionRequest, EmbeddedBackend, EmbeddedConfig, LlmBackend,
    OpenAiBackend, OpenAiConfig, Usage,
};

use super::measure::{peak_rss, reset_peak_rss};
use super::{EngineNumbers, LlmBenchOptions, SecondTurn};
use crate::llama_server::{LlamaServer, LlamaServerOptions};
use crate::{BenchError, Context};

const WORDS: &[&str] = &[
    "the",
    "function",
    "returns",
    "a",
    "list",
    "of",
    "values",
    "computed",
    "from",
    "input",
    "data",
    "and",
    "each",
    "element",
    "is",
    "checked",
    "against",
    "threshold",
    "before",
    "being",
    "added",
    "to",
    "result",
    "while",
    "errors",
    "are",
    "logged",
    "with",
    "their",
    "line",
    "numbers",
    "for",
    "later",
    "review",
    "by",
    "developer",
];

/// Deterministic filler prose of `n` words.
fn filler(n: usize, offset: usize) -> String {
    (0..n)
        .map(|i| WORDS[(i * 7 + offset) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A system message and one user message of about `target` prompt tokens in all.
async fn fit_prompt(
    b: &EmbeddedBackend,
    target: u32,
    build: impl Fn(usize) -> Vec<Message>,
) -> Result<Vec<Message>, BenchError> {
    let mut words = (target as usize * 3 / 4).max(1);
    let mut messages = build(words);
    for _ in 0..4 {
        let n = b.count_prompt_tokens(messages.clone()).await?;
        if n.abs_diff(target) <= 2 {
            break;
        }
        let scaled = words as f64 * f64::from(target) / f64::from(n.max(1));
        words = (scaled.round() as usize).max(1);
        messages = build(words);
    }
    Ok(messages)
}

fn single(system: &str, words: usize) -> Vec<Message> {
    vec![
        Message::system(system),
        Message::user(format!("Summarise this text: {}", filler(words, 0))),
    ]
}

/// A multi-turn conversation whose turns together hold about `words` words.
fn conversation(system: &str, words: usize) -> Vec<Message> {
    let turns = 6;
    let per = (words / (turns * 2)).max(1);
    let mut messages = vec![Message::system(system)];
    for t in 0..turns {
        messages.push(Message::user(format!("Question {t}: {}", filler(per, t))));
        messages.push(Message::assistant(format!(
            "Answer {t}: {}",
            filler(per, t + 3)
        )));
    }
    messages.push(Message::user("Summarise our conversation in one sentence."));
    messages
}

const ESSAY: &str = "Write a long, detailed essay about the history of computing.";

/// What one streamed request showed.
struct Timed {
    ttft_ms: f64,
    text: String,
    usage: Usage,
}

impl SecondTurn {
    /// The second turn timed once with the first turn's KV cache and once without.
    fn new(with: &Timed, without: &Timed) -> Self {
        Self {
            prompt_tokens: with.usage.prompt_tokens,
            with_reuse_ms: with.ttft_ms,
            cached_tokens: with.usage.cached_tokens,
            without_reuse_ms: without.ttft_ms,
        }
    }
}

async fn timed(b: &dyn LlmBackend, req: CompletionRequest) -> Result<Timed, BenchError> {
    let start = Instant::now();
    let mut stream = b.stream(req).await?;
    let mut ttft = None;
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        let chunk = item?;
        ttft.get_or_insert_with(|| start.elapsed().as_secs_f64() * 1e3);
        match chunk {
            Chunk::Delta(t) => text.push_str(&t),
            Chunk::Done { usage, .. } => {
                let ttft_ms = ttft.unwrap_or_default();
                return Ok(Timed {
                    ttft_ms,
                    text,
                    usage,
                });
            }
        }
    }
    Err(BenchError::msg("the stream ended without a Done chunk"))
}

fn ctx_size(opts: &LlmBenchOptions) -> u32 {
    (opts.conversation_tokens.max(opts.prompt_tokens) + opts.gen_tokens + 512).max(4096)
}

/// The prompts the embedded run sized, for the server run to reuse.
pub(super) struct Prompts {
    pp: Vec<Message>,
    conversation: Vec<Message>,
}

/// The same conversation with a system message that differs in its first word, so a
/// server's prompt cache can reuse only a few template tokens.
fn defeat_cache(mut conv: Vec<Message>) -> Vec<Message> {
    if let Some(first) = conv.first_mut() {
        first.content = format!("Note: {}", first.content);
    }
    conv
}

pub(super) async fn embedded(
    opts: &LlmBenchOptions,
    model: &Path,
    threads: usize,
) -> Result<(EngineNumbers, SecondTurn, u64, Prompts), BenchError> {
    let rss_reset = reset_peak_rss();
    let start = Instant::now();
    let config = EmbeddedConfig {
        n_threads: Some(threads),
        n_ctx: ctx_size(opts),
        ..EmbeddedConfig::new(model)
    };
    let b = EmbeddedBackend::load(config).await?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    timed(&b, CompletionRequest::greedy(single("Warm-up.", 8), 4)).await?;

    let pp = fit_prompt(&b, opts.prompt_tokens, |w| {
        single("You are a helpful assistant.", w)
    })
    .await?;
    b.clear_cache().await?;
    let first = timed(&b, CompletionRequest::greedy(pp.clone(), 1)).await?;
    let t = b.last_timings().unwrap_or_default();
    let evaluated = t.prompt_tokens.saturating_sub(t.cached_tokens);
    let prompt_tps = f64::from(evaluated) / (t.prompt_eval_ms / 1e3).max(1e-9);

    b.clear_cache().await?;
    timed(
        &b,
        CompletionRequest::greedy(single(ESSAY, 4), opts.gen_tokens),
    )
    .await?;
    let t = b.last_timings().unwrap_or_default();
    let gen_tps = f64::from(t.generated_tokens) / (t.generation_ms / 1e3).max(1e-9);

    let conv = fit_prompt(&b, opts.conversation_tokens, |w| {
        conversation("You are a helpful assistant.", w)
    })
    .await?;
    b.clear_cache().await?;
    let turn1 = timed(&b, CompletionRequest::greedy(conv.clone(), 16)).await?;
    let turn2 = next_turn(conv.clone(), &turn1.text);
    let with = timed(&b, CompletionRequest::greedy(turn2.clone(), 1)).await?;
    b.clear_cache().await?;
    let without = timed(&b, CompletionRequest::greedy(turn2, 1)).await?;

    let numbers = EngineNumbers {
        prompt_tps,
        gen_tps,
        ttft_ms: Some(first.ttft_ms),
        peak_rss_bytes: if rss_reset { peak_rss(None) } else { None },
        load_ms: Some(load_ms),
    };
    let second = SecondTurn::new(&with, &without);
    Ok((
        numbers,
        second,
        b.info().size_bytes,
        Prompts {
            pp,
            conversation: conv,
        },
    ))
}

fn next_turn(mut conv: Vec<Message>, reply: &str) -> Vec<Message> {
    conv.push(Message::assistant(reply));
    conv.push(Message::user("Thanks. And what is 2 + 2?"));
    conv
}

pub(super) async fn server(
    opts: &LlmBenchOptions,
    model: &Path,
    threads: usize,
    binary: PathBuf,
    prompts: &Prompts,
) -> Result<(EngineNumbers, SecondTurn), BenchError> {
    let start = Instant::now();
    let server_opts = LlamaServerOptions {
        ctx_size: ctx_size(opts),
        threads,
        ..LlamaServerOptions::new(binary, model.to_path_buf())
    };
    let server = LlamaServer::start(&server_opts).await?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    let b = OpenAiBackend::new(OpenAiConfig {
        base_url: server.base_url(),
        model: "bench".into(),
        api_key_env: "CODEACT_BENCH_NO_KEY".into(),
        max_retries: 0,
        ..OpenAiConfig::default()
    })?;
    timed(&b, CompletionRequest::greedy(single("Warm-up.", 8), 4)).await?;

    // The prompts are the embedded runs' own, so both engines see the same token counts.
    let (stream, timings) = b
        .stream_with_timings(CompletionRequest::greedy(prompts.pp.clone(), 1))
        .await?;
    let first = drain_timed(stream, Instant::now()).await?;
    let pp = timings.lock().ok().and_then(|t| *t).unwrap_or_default();

    let (stream, timings) = b
        .stream_with_timings(CompletionRequest::greedy(single(ESSAY, 4), opts.gen_tokens))
        .await?;
    drain_timed(stream, Instant::now()).await?;
    let tg = timings.lock().ok().and_then(|t| *t).unwrap_or_default();

    let conv = prompts.conversation.clone();
    let turn1 = timed(&b, CompletionRequest::greedy(conv.clone(), 16)).await?;
    let with = timed(
        &b,
        CompletionRequest::greedy(next_turn(conv.clone(), &turn1.text), 1),
    )
    .await?;
    let without = timed(
        &b,
        CompletionRequest::greedy(next_turn(defeat_cache(conv), &turn1.text), 1),
    )
    .await?;

    let numbers = EngineNumbers {
        prompt_tps: pp.prompt_per_second,
        gen_tps: tg.predicted_per_second,
        ttft_ms: Some(first),
        peak_rss_bytes: peak_rss(Some(server.pid())),
        load_ms: Some(load_ms),
    };
    let second = SecondTurn::new(&with, &without);
    Ok((numbers, second))
}

async fn drain_timed(mut stream: BoxChunkStream, start: Instant) -> Result<f64, BenchError> {
    let mut ttft = None;
    while let Some(item) = stream.next().await {
        item?;
        ttft.get_or_insert_with(|| start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ttft.unwrap_or_default())
}

#[derive(Deserialize)]
struct BenchRow {
    n_prompt: u32,
    n_gen: u32,
    avg_ts: f64,
}

pub(super) async fn llama_bench(
    opts: &LlmBenchOptions,
    model: &Path,
    threads: usize,
    binary: PathBuf,
) -> Result<EngineNumbers, BenchError> {
    let mut cmd = std::process::Command::new(binary);
    cmd.arg("-m").arg(model).args(["-t", &threads.to_string()]);
    cmd.args([
        "-p",
        &opts.prompt_tokens.to_string(),
        "-n",
        &opts.gen_tokens.to_string(),
        "-r",
        "2",
        "-o",
        "json",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .context("llama-bench panicked")?
        .context("cannot run llama-bench")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err
            .chars()
            .rev()
            .take(1500)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return Err(BenchError::msg(format!(
            "llama-bench exited with {}: {tail}",
            out.status
        )));
    }
    let rows: Vec<BenchRow> =
        serde_json::from_slice(&out.stdout).context("unexpected llama-bench output")?;
    let pp = rows
        .iter()
        .find(|r| r.n_prompt > 0 && r.n_gen == 0)
        .map(|r| r.avg_ts);
    let tg = rows
        .iter()
        .find(|r| r.n_gen > 0 && r.n_prompt == 0)
        .map(|r| r.avg_ts);
    Ok(EngineNumbers {
        prompt_tps: pp.unwrap_or_default(),
        gen_tps: tg.unwrap_or_default(),
        ..Default::default()
    })
}
