//! Settings of the agent loop, with defaults chosen so that small local models do well.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a run ends: on a plain reply (chat) or on a `<solution>` (task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A reply without code ends the turn; the user speaks next.
    #[default]
    Chat,
    /// The run goes on until the model gives `<solution>…</solution>`.
    Task,
}

/// Which system prompt the model sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PromptStyle {
    /// This project's prompt: short rules, the pre-imported modules and three worked examples.
    #[default]
    Ours,
    /// A prompt with the content of the original CodeAct demo, no example, and strict parsing
    /// (exact lower-case tags, no clean-up inside them). Kept for benchmark comparisons.
    Seed,
}

/// Hard limits of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Code blocks run per user message in chat mode.
    pub max_executions: u32,
    /// Model replies per task in task mode.
    pub max_turns: u32,
    /// Tokens of one model reply.
    pub max_tokens: u32,
    /// Characters of the whole prompt sent to the model (3 to 4 characters per token; the
    /// default fits an 8k-token context with room for the reply). Older observations are
    /// shortened, then older turns dropped, to stay under it.
    pub context_chars: usize,
    /// Characters of one cell's output the model sees (head and tail around a marker).
    pub observation_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_executions: 10,
            max_turns: 10,
            max_tokens: 1024,
            context_chars: 20_000,
            observation_chars: 4_000,
        }
    }
}

/// Opt-in self-consistency for tasks: several independent attempts, majority vote on the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelfConsistency {
    /// Attempts per task (at most; sampling stops once one answer has a strict majority).
    pub samples: u32,
    /// Sampling temperature of the attempts; it must be above zero for them to differ.
    pub temperature: f32,
}

impl Default for SelfConsistency {
    fn default() -> Self {
        Self {
            samples: 5,
            temperature: 0.7,
        }
    }
}

/// How replies are sampled. Ordinary replies use [`AgentConfig::temperature`] with
/// [`Sampling::top_p`]; the reply after a hint, or after a reply identical to the one before, is
/// "unstuck" at a higher temperature; a reply that would re-run a cell is dropped and resampled,
/// each attempt a little hotter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sampling {
    /// Top-p of ordinary replies (1.0: every token stays a candidate).
    pub top_p: f32,
    /// Sampling temperature for the reply after the same failing code or the same reply came
    /// back (or the configured temperature, if higher): at temperature 0 a small model
    /// otherwise repeats itself word for word, and at 0.7 the 0.5B default model still did.
    pub unstick_temperature: f32,
    /// Top-p while unsticking or resampling: keeping to the likelier tokens stops a small model
    /// from drifting into nonsense at the higher temperature.
    pub unstick_top_p: f32,
    /// How many times a reply that would run code which already ran is dropped and sampled
    /// again before it is run anyway.
    pub resample_repeats: u32,
    /// How much hotter each resampling attempt after the first is, as a fraction of the unstick
    /// temperature: attempt `n` (1-based) samples at `unstick × (1 + step × (n − 1))`, so 1.0,
    /// 1.25, 1.5 by default.
    pub resample_heat_step: f32,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            top_p: 1.0,
            unstick_temperature: 1.0,
            unstick_top_p: 0.95,
            resample_repeats: 3,
            resample_heat_step: 0.25,
        }
    }
}

/// When a streaming reply counts as caught in a loop and is cut after the first copy: its
/// complete lines end with the same block of lines written `copies` times in a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoopCut {
    /// The longest repeated block looked for, in lines.
    pub max_block_lines: usize,
    /// Copies of a block in a row that make a loop; below 2, replies are never cut.
    pub copies: usize,
    /// Non-blank characters a block needs: short lines (`}`, a fence, a blank line) repeat in
    /// ordinary text.
    pub min_block_chars: usize,
}

impl Default for LoopCut {
    fn default() -> Self {
        Self {
            max_block_lines: 8,
            copies: 3,
            min_block_chars: 12,
        }
    }
}

/// How a conversation over [`Limits::context_chars`] is shrunk for the prompt: older execution
/// outputs are shortened first, then older exchanges dropped. The stored conversation is kept
/// whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextFit {
    /// Characters counted for each message on top of its content, for its role and the chat
    /// template's markers.
    pub message_overhead_chars: usize,
    /// Execution outputs longer than this (in bytes, header included) may be shortened; shorter
    /// ones would save little.
    pub shorten_over_bytes: usize,
    /// Messages at the end whose output is never shortened: the model needs the latest most.
    pub keep_last_messages: usize,
}

impl Default for ContextFit {
    fn default() -> Self {
        Self {
            message_overhead_chars: 16,
            shorten_over_bytes: 200,
            keep_last_messages: 2,
        }
    }
}

/// Everything that shapes one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentConfig {
    pub mode: Mode,
    pub prompt_style: PromptStyle,
    /// When a reply has no `<execute>` tag, run its fenced ```python block instead.
    pub fence_fallback: bool,
    /// Constrain replies with a GBNF grammar (task mode, where the backend supports it).
    pub grammar: bool,
    pub temperature: f32,
    pub seed: Option<u64>,
    pub limits: Limits,
    /// Whether sessions may reach the network (the prompt then mentions `!pip install`).
    /// `None` derives it from the execution engine's sandbox policy.
    pub network: Option<bool>,
    /// Modules imported into every session by one cell before the first turn.
    pub preload_modules: Vec<String>,
    /// More Python run in that cell: by default a few names small models use without importing
    /// them (`sqrt`, `factorial`, `Counter`, `date`…). Not mentioned in the prompt.
    pub preload_code: Option<String>,
    /// How replies are sampled, ordinarily and when the model is stuck.
    pub sampling: Sampling,
    /// When a reply that repeats itself is cut.
    pub loop_cut: LoopCut,
    /// How the prompt is shrunk to `limits.context_chars`.
    pub context_fit: ContextFit,
    /// In task mode, follow each successful output with a reminder to answer once the output
    /// is the answer: a small model otherwise keeps computing after it has its result.
    pub answer_reminder: bool,
    /// A Python file whose public functions become tools: it runs in the session at start and
    /// its functions are described in the system prompt.
    pub tools_file: Option<PathBuf>,
    /// Where images that cells display are saved (one folder per conversation).
    pub output_dir: PathBuf,
    /// Where conversations are saved as JSON after every turn; `None` keeps them in memory.
    pub conversation_dir: Option<PathBuf>,
    /// Question an answer once when nothing computed it: it comes right after a failed cell,
    /// or (task mode) before any code ran or right after a cell that printed nothing.
    pub question_answer_after_error: bool,
    pub self_consistency: Option<SelfConsistency>,
    /// The Python session to use; `None` uses the conversation id.
    pub session_id: Option<String>,
}

/// The modules the prompt says are already imported.
pub const DEFAULT_PRELOAD: [&str; 7] = [
    "math",
    "re",
    "json",
    "datetime",
    "itertools",
    "collections",
    "statistics",
];

/// Names that small models use as if they were built in. The `datetime` module is also made to
/// act as the `datetime` class (`datetime(2024, 1, 15)`, `datetime.now()`), since small models
/// mix the two up after `import datetime`; `datetime.datetime` and `datetime.date` still work.
pub const DEFAULT_PRELOAD_CODE: &str = "\
from math import sqrt, isqrt, factorial, gcd, lcm, comb, perm, prod, floor, ceil, log, log2, log10, pi
from collections import Counter, defaultdict
from datetime import date, timedelta
from statistics import mean, median
class _DatetimeModule(type(datetime)):
    def __call__(self, *args, **kwargs):
        return datetime.datetime(*args, **kwargs)
    def __getattr__(self, name):
        return getattr(self.datetime, name)
datetime.__class__ = _DatetimeModule
del _DatetimeModule";

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Chat,
            prompt_style: PromptStyle::Ours,
            fence_fallback: true,
            grammar: false,
            temperature: 0.0,
            seed: None,
            limits: Limits::default(),
            network: None,
            preload_modules: DEFAULT_PRELOAD.iter().map(|s| s.to_string()).collect(),
            preload_code: Some(DEFAULT_PRELOAD_CODE.to_string()),
            sampling: Sampling::default(),
            loop_cut: LoopCut::default(),
            context_fit: ContextFit::default(),
            answer_reminder: true,
            tools_file: None,
            output_dir: std::env::temp_dir().join("codeact").join("images"),
            conversation_dir: None,
            question_answer_after_error: true,
            self_consistency: None,
            session_id: None,
        }
    }
}

impl AgentConfig {
    /// The defaults for task mode.
    pub fn task() -> Self {
        Self {
            mode: Mode::Task,
            ..Self::default()
        }
    }

    /// The defaults for chat mode.
    pub fn chat() -> Self {
        Self::default()
    }
}
