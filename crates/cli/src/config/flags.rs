//! The command-line flags that override the configuration, in groups the commands share, and
//! the choices they take.
//!
//! The choices are the libraries' own enums, which are `clap::ValueEnum`s with their `clap`
//! feature (only this binary turns it on, so the core crates build without clap).

use std::path::PathBuf;

use codeact_exec::sections::BackendKind;
use codeact_exec::{NetworkMode, SandboxMode};
use codeact_llm::LlmKind;

use super::Layers;

/// Flags (and their environment variables, which clap reads) written over the file's settings.
pub trait Overrides {
    fn apply(&self, layers: &mut Layers);
}

/// Engine flags shared by every command that runs code.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EngineArgs {
    /// Execution backend.
    #[arg(long, env = "CODEACT_BACKEND")]
    pub backend: Option<BackendKind>,
    /// Sandbox of the local backend.
    #[arg(long, env = "CODEACT_SANDBOX")]
    pub sandbox: Option<SandboxMode>,
    /// Network of the sessions.
    #[arg(long, env = "CODEACT_NETWORK")]
    pub network: Option<NetworkMode>,
    /// Per-cell timeout in seconds (default 60; also $CODEACT_CELL_TIMEOUT).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Jupyter Server / Kernel Gateway URL for --backend jupyter.
    #[arg(long, env = "CODEACT_JUPYTER_URL")]
    pub jupyter_url: Option<String>,
    /// Python interpreter of the session environment.
    #[arg(long, env = "CODEACT_PYTHON")]
    pub python: Option<PathBuf>,
}

impl Overrides for EngineArgs {
    fn apply(&self, l: &mut Layers) {
        set(&mut l.exec.backend, self.backend);
        set(&mut l.exec.cell_timeout_s, self.timeout);
        set(&mut l.exec.python, self.python.clone());
        set(&mut l.jupyter.url, self.jupyter_url.clone());
        l.sandbox.mode = self.sandbox.unwrap_or(l.sandbox.mode);
        l.sandbox.network = self.network.unwrap_or(l.sandbox.network);
    }
}

/// Model flags shared by `chat`, `run` and the agent benchmark.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LlmArgs {
    /// LLM backend.
    #[arg(long, env = "CODEACT_LLM")]
    pub llm: Option<LlmKind>,
    /// GGUF file for the embedded engine (wins over --model).
    #[arg(long, env = "CODEACT_MODEL_PATH")]
    pub model_path: Option<PathBuf>,
    /// The model. Embedded engine: qwen2.5-coder-0.5b (default) or qwen2.5-coder-1.5b, fetched
    /// on first use; OpenAI-compatible server: the name it serves.
    #[arg(long, env = "CODEACT_MODEL")]
    pub model: Option<String>,
    /// Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1.
    #[arg(long, env = "CODEACT_BASE_URL")]
    pub base_url: Option<String>,
    /// Threads of the embedded engine (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Sampling temperature (default 0: greedy, deterministic).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Evaluate every prompt whole: the embedded engine forgets the previous request's KV
    /// state instead of reusing its shared prefix (for measuring what the reuse saves).
    #[arg(long)]
    pub no_kv_reuse: bool,
    /// MiB of memory in which the embedded engine keeps the KV states of conversations it
    /// switched away from, to restore them when they come back (default 1024; 0: none).
    #[arg(long, value_name = "MIB")]
    pub prompt_cache_mib: Option<u32>,
    /// The replies of `--llm script`: JSON Lines of rules (see the README).
    #[arg(long, env = "CODEACT_SCRIPT")]
    pub script: Option<PathBuf>,
}

impl Overrides for LlmArgs {
    fn apply(&self, l: &mut Layers) {
        let m = &mut l.llm;
        set(&mut m.backend, self.llm);
        // A model named here replaces a file's model path too; --model-path still wins.
        if self.model.is_some() {
            m.model_path = None;
        }
        set(&mut m.model_path, self.model_path.clone());
        set(&mut m.model, self.model.clone());
        set(&mut m.base_url, self.base_url.clone());
        set(&mut m.threads, self.threads);
        set(&mut m.temperature, self.temperature);
        set(&mut m.script, self.script.clone());
        if self.no_kv_reuse {
            m.kv_reuse = Some(false);
        }
        set(&mut m.prompt_cache_mib, self.prompt_cache_mib);
    }
}

/// A command's own options `T` (the library that runs it owns them), then the model and
/// engine flags.
#[derive(Debug, clap::Args)]
pub struct WithBackends<T: clap::Args> {
    #[command(flatten)]
    pub opts: T,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl<T: clap::Args> Overrides for WithBackends<T> {
    fn apply(&self, l: &mut Layers) {
        self.llm.apply(l);
        self.engine.apply(l);
    }
}

/// Agent flags shared by `run` and `chat`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// A Python file whose public functions become tools of the agent.
    #[arg(long)]
    pub tools: Option<PathBuf>,
    /// Most model turns for a task.
    #[arg(long)]
    pub max_turns: Option<u32>,
    /// Constrain replies with a grammar (embedded engine and llama-server only).
    #[arg(long)]
    pub grammar: bool,
    /// Do not run a fenced ```python block when a reply has no <execute> tag.
    #[arg(long)]
    pub no_fence_fallback: bool,
    /// Sample this many attempts and take the majority answer (task mode).
    #[arg(long)]
    pub samples: Option<u32>,
    /// Where conversations are saved (default ~/.local/share/codeact/conversations).
    #[arg(long)]
    pub conversations: Option<PathBuf>,
    /// Where figures are saved (default ./codeact-figures).
    #[arg(long)]
    pub figures: Option<PathBuf>,
}

impl Overrides for AgentArgs {
    fn apply(&self, l: &mut Layers) {
        self.llm.apply(l);
        self.engine.apply(l);
        let a = &mut l.agent;
        set(&mut a.tools, self.tools.clone());
        set(&mut a.max_turns, self.max_turns);
        set(&mut a.grammar, self.grammar.then_some(true));
        set(
            &mut a.fence_fallback,
            self.no_fence_fallback.then_some(false),
        );
        set(&mut a.samples, self.samples);
        set(&mut a.conversations_dir, self.conversations.clone());
        set(&mut a.figures_dir, self.figures.clone());
    }
}

/// A flag given on the command line replaces the value below it.
fn set<T>(slot: &mut Option<T>, flag: Option<T>) {
    if flag.is_some() {
        *slot = flag;
    }
}
