//! An embedded llama.cpp engine: loads a GGUF file and generates in-process.
//!
//! One worker thread owns the model and its single context, so requests queue in its job
//! channel and the KV cache of the previous turn is there for the next. Each job streams its
//! chunks through a bounded channel; when the caller drops the stream the channel closes and
//! the worker abandons the job at the next token.

mod engine;
mod prompt_cache;
mod tokenizer;

pub use engine::EngineTimings;
pub use tokenizer::Tokenizer;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use futures::StreamExt;
use llama_cpp_2::llama_backend::LlamaBackend;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};

use crate::backend::{BoxChunkStream, Chunk, CompletionRequest, LlmBackend, LlmError};

/// The default [`EmbeddedConfig::prompt_cache_mib`]: a few long conversations of a small
/// model (a 0.5B model's KV state takes 12 KiB a token, a 1.5B's 28 KiB).
pub const DEFAULT_PROMPT_CACHE_MIB: u32 = 1024;

/// How to run a GGUF model in-process.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedConfig {
    pub model_path: PathBuf,
    /// Context length in tokens (prompt plus reply); capped at the model's training length.
    pub n_ctx: u32,
    /// Threads for generation and prompt evaluation; `None` means all available cores.
    pub n_threads: Option<usize>,
    /// Prompt tokens evaluated per step.
    pub n_batch: u32,
    /// Keep the KV cache of the previous request and evaluate only a new prompt's new suffix.
    pub kv_reuse: bool,
    /// Host memory, in MiB, for the KV states of conversations the engine switched away from
    /// (restored when they come back, instead of evaluating their history again); 0 keeps
    /// none. Only with `kv_reuse`.
    pub prompt_cache_mib: u32,
    /// Shown by [`LlmBackend::name`]; defaults to the file stem.
    pub name: Option<String>,
}

impl EmbeddedConfig {
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        Self {
            model_path: model_path.into(),
            n_ctx: 8192,
            n_threads: None,
            n_batch: 512,
            kv_reuse: true,
            prompt_cache_mib: DEFAULT_PROMPT_CACHE_MIB,
            name: None,
        }
    }

    /// The prompt cache's budget in bytes.
    pub fn prompt_cache_bytes(&self) -> usize {
        usize::try_from(u64::from(self.prompt_cache_mib) << 20).unwrap_or(usize::MAX)
    }

    /// The thread count this configuration resolves to.
    pub fn threads(&self) -> usize {
        self.n_threads.filter(|n| *n > 0).unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(NonZeroUsize::get)
                .unwrap_or(1)
        })
    }
}

/// Facts about the loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub path: PathBuf,
    /// Size of the weights in bytes.
    pub size_bytes: u64,
    pub n_params: u64,
    pub n_ctx: u32,
    pub n_ctx_train: u32,
    pub n_threads: usize,
    pub description: String,
}

/// The embedded engine as an [`LlmBackend`].
#[derive(Debug)]
pub struct EmbeddedBackend {
    jobs: std_mpsc::Sender<engine::Job>,
    name: String,
    info: ModelInfo,
    timings: engine::SharedTimings,
}

impl EmbeddedBackend {
    /// Loads the model on a new worker thread and waits until it is ready.
    ///
    /// Blocks while the model loads (about half a second for the default model).
    pub fn load_blocking(config: EmbeddedConfig) -> Result<Self, LlmError> {
        let backend = llama_backend()?;
        if !Path::new(&config.model_path).is_file() {
            return Err(LlmError::Model(format!(
                "no model file at {}",
                config.model_path.display()
            )));
        }
        let name = config.name.clone().unwrap_or_else(|| {
            let stem = config
                .model_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned());
            format!("embedded:{}", stem.unwrap_or_else(|| "model".into()))
        });
        let (jobs_tx, jobs_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let timings: engine::SharedTimings = Arc::new(Mutex::new(None));
        let worker_timings = Arc::clone(&timings);
        std::thread::Builder::new()
            .name("llama-engine".into())
            .spawn(move || engine::run_worker(backend, config, ready_tx, jobs_rx, worker_timings))
            .map_err(|e| LlmError::Model(format!("cannot start the engine thread: {e}")))?;
        let info = ready_rx.recv().map_err(|_| {
            LlmError::Model("the engine thread died while loading the model".into())
        })??;
        info!(model = %info.path.display(), params = info.n_params, n_ctx = info.n_ctx, threads = info.n_threads, "embedded model loaded");
        Ok(Self {
            jobs: jobs_tx,
            name,
            info,
            timings,
        })
    }

    /// Loads the model without blocking the async runtime.
    pub async fn load(config: EmbeddedConfig) -> Result<Self, LlmError> {
        tokio::task::spawn_blocking(move || Self::load_blocking(config))
            .await
            .map_err(|e| LlmError::Model(format!("model loading panicked: {e}")))?
    }

    /// Loads the default model, fetching it first if it is not cached yet.
    pub async fn load_default(n_threads: Option<usize>) -> Result<Self, LlmError> {
        let path = tokio::task::spawn_blocking(crate::model::ensure_default_model)
            .await
            .map_err(|e| LlmError::Model(format!("model fetching panicked: {e}")))??;
        Self::load(EmbeddedConfig {
            n_threads,
            ..EmbeddedConfig::new(path)
        })
        .await
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Measurements of the last generation that ran to its end.
    pub fn last_timings(&self) -> Option<EngineTimings> {
        self.timings.lock().ok().and_then(|t| *t)
    }

    /// Tokens of the prompt that the chat template makes of these messages.
    pub async fn count_prompt_tokens(
        &self,
        messages: Vec<codeact_protocol::Message>,
    ) -> Result<u32, LlmError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(engine::Job::Count {
                messages,
                reply: tx,
            })
            .map_err(|_| engine_gone())?;
        rx.await.map_err(|_| engine_gone())?
    }

    /// Forgets the cached KV state, so the next request evaluates its whole prompt.
    pub async fn clear_cache(&self) -> Result<(), LlmError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(engine::Job::ClearCache { reply: tx })
            .map_err(|_| engine_gone())?;
        rx.await.map_err(|_| engine_gone())
    }
}

fn engine_gone() -> LlmError {
    LlmError::Model("the embedded engine has stopped".into())
}

/// The process-wide llama.cpp backend; llama.cpp allows only one, and its logs go to tracing.
fn llama_backend() -> Result<&'static LlamaBackend, LlmError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    let backend = BACKEND.get_or_init(|| {
        llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
        LlamaBackend::init().map_err(|e| e.to_string())
    });
    backend
        .as_ref()
        .map_err(|e| LlmError::Model(format!("cannot initialise llama.cpp: {e}")))
}

#[async_trait]
impl LlmBackend for EmbeddedBackend {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn supports_grammar(&self) -> bool {
        true
    }

    fn supports_continuation(&self) -> bool {
        true
    }

    async fn stream(&self, request: CompletionRequest) -> Result<BoxChunkStream, LlmError> {
        crate::backend::check_continuation(&request)?;
        let (chunks_tx, chunks_rx) = mpsc::channel::<Result<Chunk, LlmError>>(64);
        let (started_tx, started_rx) = oneshot::channel();
        self.jobs
            .send(engine::Job::Generate(Box::new(engine::GenerateJob {
                request,
                started: started_tx,
                chunks: chunks_tx,
            })))
            .map_err(|_| engine_gone())?;
        // Waiting here means prompt errors (context length, bad grammar) come back from
        // `stream` itself, as they do from an HTTP backend.
        started_rx.await.map_err(|_| engine_gone())??;
        debug!("embedded generation started");
        // `ended` records a final item; a channel that closes before one means the worker
        // died mid-reply, which the caller must hear about rather than see a short reply.
        let stream = futures::stream::unfold((chunks_rx, false), |(mut rx, ended)| async move {
            if ended {
                return None;
            }
            match rx.recv().await {
                Some(item) => {
                    let last = matches!(item, Ok(Chunk::Done { .. }) | Err(_));
                    Some((item, (rx, last)))
                }
                None => Some((
                    Err(LlmError::Model(
                        "the embedded engine stopped mid-reply".into(),
                    )),
                    (rx, true),
                )),
            }
        });
        Ok(stream.boxed())
    }
}
