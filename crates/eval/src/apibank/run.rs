//! Asking the model for each scored call and scoring its reply, in the canonical sample order
//! (the original's checks keep state across samples, quirk Q11), with model calls overlapped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use codeact_exec::SessionManager;
use codeact_llm::{Chunk, CompletionRequest, LlmBackend, LlmError};
use codeact_protocol::Message;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::MODULE;
use crate::m3tooleval::ActionMode;
use crate::pypkg::{self, emit_cell, py_str, APIBANK};
use crate::records::RecordLog;
use crate::summary::{Outcome, Summary};
use crate::{EvalError, Progress, ProgressFn};

/// The name of the results file under `out`.
pub const RECORDS_FILE: &str = "apibank.jsonl";
/// The stem of the summary files under `out`.
pub const SUMMARY_STEM: &str = "apibank-summary";
/// The stem of the corrected scoring's summary files under `out`.
pub const CORRECTED_SUMMARY_STEM: &str = "apibank-corrected-summary";

/// What to run.
#[derive(Debug, Clone)]
pub struct ApiBankOptions {
    pub modes: Vec<ActionMode>,
    /// Only samples (`FILE#id`) whose name matches.
    pub filter: Option<String>,
    /// Model calls in flight at once.
    pub concurrency: usize,
    pub out: PathBuf,
    pub max_tokens: u32,
    /// The original leaves sampling at the server's defaults (quirk Q2, not repeatable); 0 is
    /// greedy and repeatable.
    pub temperature: f32,
    /// Also run code replies as Python and score the call they make.
    pub execute_code: bool,
}

/// One scoring of a reply, as the package reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub correct: bool,
    /// A stable code, then detail: `ok`, `no_api_call`, `parse_error: …`, `name_mismatch`, …
    pub cause: String,
    #[serde(default)]
    pub span: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub args: Option<Value>,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub needs_network: bool,
    /// Corrections that changed something for this sample (corrected scoring only).
    #[serde(default)]
    pub corrections: Vec<String>,
}

/// A code reply run as Python, and the call it made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executed {
    /// What ran: the whole reply when it compiles, else its bracketed span.
    pub code: Option<String>,
    /// The first API call the code made, `{name, args}`.
    pub call: Option<Value>,
    /// The engine's account of the cell (an exception, a timeout), when it did not end cleanly.
    pub error: Option<String>,
    pub scored: Scored,
}

/// The record of one sample in one mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiBankRecord {
    /// `FILE#sample_id`.
    pub sample: String,
    pub file: String,
    pub api_name: String,
    pub action_mode: ActionMode,
    /// The request: the system prompt and the rendered history.
    pub messages: Vec<Message>,
    pub reply: String,
    /// The original's verdict.
    pub is_correct: bool,
    pub scored: Scored,
    /// The verdict with the quirks fixed.
    pub corrected: Scored,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed: Option<Executed>,
    /// The request did not fit the model's context (scored incorrect, as the original does).
    #[serde(default)]
    pub context_exceeded: bool,
    pub model: String,
    pub seconds: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub first_token_ms: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
struct SampleInfo {
    sample: String,
    file: String,
    api_name: String,
}

/// What one sample of a mode needs.
enum Job {
    /// Recorded by an earlier run.
    Done(Box<ApiBankRecord>),
    /// To ask the model, with this request.
    Ask(Vec<Message>),
    /// Asked.
    Asked(Reply),
    /// Not selected: not asked, not scored (the scorers' state then follows the selection).
    Skip,
}

/// A model reply and what it cost.
struct Reply {
    messages: Vec<Message>,
    text: String,
    context_exceeded: bool,
    seconds: f64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    first_token_ms: Option<f64>,
}

/// Runs what `options` selects that `out` does not hold yet, in every mode; returns the summary
/// of the original scoring and of the corrected one over every selected sample in `out`.
pub async fn evaluate(
    llm: Arc<dyn LlmBackend>,
    sessions: Arc<SessionManager>,
    options: &ApiBankOptions,
    progress: &ProgressFn<'_>,
) -> Result<(Summary, Summary), EvalError> {
    let model = llm.name();
    let (log, old) = RecordLog::open::<ApiBankRecord>(&options.out.join(RECORDS_FILE))?;
    if let Some(other) = old.iter().find(|r| r.model != model) {
        return Err(EvalError::Resume(format!(
            "{} holds runs of model {:?}, not {model:?}: choose another --out",
            log.path().display(),
            other.model
        )));
    }
    let filter = match &options.filter {
        Some(f) => {
            Some(regex::Regex::new(f).map_err(|e| EvalError::Task(format!("--filter: {e}")))?)
        }
        None => None,
    };
    let scorer = format!("apibank-{}-{}", std::process::id(), pypkg::next_id());
    sessions.create(&scorer).await?;
    let result = async {
        APIBANK.install(&sessions, &scorer, MODULE).await?;
        let all = all_samples(&sessions, &scorer).await?;
        // Scoring state depends on every earlier sample, so the filter only skips model calls.
        let selected: Vec<bool> = all
            .iter()
            .map(|s| filter.as_ref().is_none_or(|re| re.is_match(&s.sample)))
            .collect();
        let total = options.modes.len() * selected.iter().filter(|s| **s).count();
        let mut old_by_key: HashMap<(String, ActionMode), ApiBankRecord> = old
            .into_iter()
            .map(|r| ((r.sample.clone(), r.action_mode), r))
            .collect();
        let done = options
            .modes
            .iter()
            .flat_map(|m| all.iter().map(move |s| (s.sample.clone(), *m)))
            .filter(|k| old_by_key.contains_key(k))
            .count();
        progress(Progress::Started { total, done });
        let mut records = Vec::new();
        for &mode in &options.modes {
            let ctx = ModeRun {
                llm: &llm,
                sessions: &sessions,
                scorer: &scorer,
                options,
                model: &model,
                mode,
            };
            ctx.reset().await?;
            // The requests first: the model calls below run while the scoring session is busy,
            // and must not wait for it themselves.
            let mut jobs = Vec::with_capacity(all.len());
            for (info, &wanted) in all.iter().zip(&selected) {
                let job = match old_by_key.remove(&(info.sample.clone(), mode)) {
                    Some(rec) => Job::Done(Box::new(rec)),
                    None if wanted => Job::Ask(ctx.request(info).await?),
                    None => Job::Skip,
                };
                jobs.push((info, job));
            }
            let ctx = &ctx;
            let mut replies = futures::stream::iter(jobs)
                .map(|(info, job)| async move {
                    let got = match job {
                        Job::Ask(messages) => Job::Asked(ctx.ask(messages).await?),
                        other => other,
                    };
                    Ok::<_, EvalError>((info, got))
                })
                .buffered(options.concurrency.max(1));
            while let Some(item) = replies.next().await {
                let (info, got) = item?;
                match got {
                    // Rescored only to rebuild the scorers' state for later samples.
                    Job::Done(rec) => {
                        ctx.score(info, &rec.reply).await?;
                        records.push(*rec);
                    }
                    Job::Asked(reply) => {
                        let rec = ctx.record(info, reply).await?;
                        log.append(&rec)?;
                        progress(Progress::Finished {
                            name: format!("{} {}", rec.sample, mode),
                            correct: rec.is_correct,
                        });
                        records.push(rec);
                    }
                    Job::Skip | Job::Ask(_) => {}
                }
            }
        }
        let wanted: Vec<&ApiBankRecord> = records
            .iter()
            .filter(|r| filter.as_ref().is_none_or(|re| re.is_match(&r.sample)))
            .collect();
        Ok(summaries(&model, options, &wanted))
    }
    .await;
    let _ = sessions.delete(&scorer).await;
    result
}

/// The scored samples in canonical order, a page per call (the whole list is longer than the
/// engine lets one cell print).
async fn all_samples(
    sessions: &SessionManager,
    scorer: &str,
) -> Result<Vec<SampleInfo>, EvalError> {
    const PAGE: usize = 100;
    let mut all = Vec::new();
    loop {
        let args = [all.len().to_string(), PAGE.to_string()];
        let page: Vec<SampleInfo> =
            pypkg::call(sessions, scorer, &emit_cell(MODULE, "samples", &args)).await?;
        let last = page.len() < PAGE;
        all.extend(page);
        if last {
            return Ok(all);
        }
    }
}

struct ModeRun<'a> {
    llm: &'a Arc<dyn LlmBackend>,
    sessions: &'a SessionManager,
    scorer: &'a str,
    options: &'a ApiBankOptions,
    model: &'a str,
    mode: ActionMode,
}

impl ModeRun<'_> {
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        function: &str,
        args: &[String],
    ) -> Result<T, EvalError> {
        pypkg::call(
            self.sessions,
            self.scorer,
            &emit_cell(MODULE, function, args),
        )
        .await
    }

    fn mode_arg(&self) -> String {
        py_str(self.mode.as_str())
    }

    /// Forgets the scorers' state of this mode (both scorings).
    async fn reset(&self) -> Result<(), EvalError> {
        for corrected in ["False", "True"] {
            let _: Value = self
                .call("reset", &[self.mode_arg(), corrected.into()])
                .await?;
        }
        Ok(())
    }

    async fn request(&self, info: &SampleInfo) -> Result<Vec<Message>, EvalError> {
        self.call("request", &[py_str(&info.sample), self.mode_arg()])
            .await
    }

    /// The model's reply to `messages`; uses no session.
    async fn ask(&self, messages: Vec<Message>) -> Result<Reply, EvalError> {
        let mut request = CompletionRequest::greedy(messages.clone(), self.options.max_tokens);
        request.temperature = self.options.temperature;
        let start = Instant::now();
        let mut reply = Reply {
            messages,
            text: String::new(),
            context_exceeded: false,
            seconds: 0.0,
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_tokens: 0,
            first_token_ms: None,
        };
        match self.llm.stream(request).await {
            Ok(mut stream) => {
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(Chunk::Delta(d)) => {
                            if reply.first_token_ms.is_none() && !d.is_empty() {
                                reply.first_token_ms = Some(start.elapsed().as_secs_f64() * 1e3);
                            }
                            reply.text.push_str(&d);
                        }
                        Ok(Chunk::Done { usage, .. }) => {
                            reply.prompt_tokens = u64::from(usage.prompt_tokens);
                            reply.completion_tokens = u64::from(usage.completion_tokens);
                            reply.cached_tokens = u64::from(usage.cached_tokens);
                        }
                        Err(LlmError::ContextLength(_)) => reply.context_exceeded = true,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Err(LlmError::ContextLength(_)) => reply.context_exceeded = true,
            Err(e) => return Err(e.into()),
        }
        reply.seconds = start.elapsed().as_secs_f64();
        Ok(reply)
    }

    /// Both scorings of a reply.
    async fn score(&self, info: &SampleInfo, reply: &str) -> Result<(Scored, Scored), EvalError> {
        let mut both = Vec::new();
        for corrected in ["False", "True"] {
            let s: Scored = self
                .call(
                    "score",
                    &[
                        py_str(&info.sample),
                        self.mode_arg(),
                        py_str(reply),
                        format!("corrected={corrected}"),
                    ],
                )
                .await?;
            both.push(s);
        }
        let corrected = both.pop().unwrap_or_else(unreachable_scored);
        let original = both.pop().unwrap_or_else(unreachable_scored);
        Ok((original, corrected))
    }

    async fn record(&self, info: &SampleInfo, reply: Reply) -> Result<ApiBankRecord, EvalError> {
        let (mut scored, mut corrected) = self.score(info, &reply.text).await?;
        if reply.context_exceeded {
            for s in [&mut scored, &mut corrected] {
                s.correct = false;
                s.cause = "context_exceeded".into();
            }
        }
        let executed = if self.options.execute_code && self.mode == ActionMode::Code {
            Some(self.execute(info, &reply.text).await?)
        } else {
            None
        };
        Ok(ApiBankRecord {
            sample: info.sample.clone(),
            file: info.file.clone(),
            api_name: info.api_name.clone(),
            action_mode: self.mode,
            messages: reply.messages,
            reply: reply.text,
            is_correct: scored.correct,
            scored,
            corrected,
            executed,
            context_exceeded: reply.context_exceeded,
            model: self.model.to_string(),
            seconds: reply.seconds,
            prompt_tokens: reply.prompt_tokens,
            completion_tokens: reply.completion_tokens,
            cached_tokens: reply.cached_tokens,
            first_token_ms: reply.first_token_ms,
        })
    }

    /// Runs a code reply in a fresh session where every API name is a recorder of its calls
    /// (nothing else of the benchmark is there), and scores the first call it makes with the
    /// corrected scoring.
    async fn execute(&self, info: &SampleInfo, reply: &str) -> Result<Executed, EvalError> {
        let code: Option<String> = self.call("code_of", &[py_str(reply)]).await?;
        let no_call = |code, error| Executed {
            code,
            call: None,
            error,
            scored: Scored {
                cause: "no_api_call".into(),
                ..unreachable_scored()
            },
        };
        let Some(code) = code else {
            return Ok(no_call(None, None));
        };
        let params: Value = self.call("api_params", &[]).await?;
        let session = format!("{}-exec-{}", self.scorer, pypkg::next_id());
        let outcome = async {
            let setup = self
                .sessions
                .execute(&session, &recorder_cell(&params))
                .await?;
            if setup.status != codeact_protocol::ExecStatus::Ok {
                return Err(EvalError::Python(format!(
                    "setting up the API recorders failed: {}",
                    setup.text().trim()
                )));
            }
            let result = self
                .sessions
                .execute_with(
                    &session,
                    &code,
                    Some(std::time::Duration::from_secs(30)),
                    None,
                )
                .await?;
            let error = (result.status != codeact_protocol::ExecStatus::Ok)
                .then(|| result.text().trim().to_string());
            // The code may have ended its interpreter or deleted the record: no call, then.
            let calls: Vec<Value> = pypkg::call(self.sessions, &session, RECORDED_CELL)
                .await
                .unwrap_or_default();
            Ok::<_, EvalError>((error, calls))
        }
        .await;
        let _ = self.sessions.delete(&session).await;
        let (error, calls) = outcome?;
        let Some(call) = calls.into_iter().next() else {
            return Ok(no_call(Some(code), error));
        };
        let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
        let args = call.get("args").cloned().unwrap_or(Value::Null);
        let scored: Scored = self
            .call(
                "score_call",
                &[
                    py_str(&info.sample),
                    self.mode_arg(),
                    py_str(name),
                    pypkg::py_json(&args),
                    "corrected=True".into(),
                ],
            )
            .await?;
        Ok(Executed {
            code: Some(code),
            call: Some(call),
            error,
            scored,
        })
    }
}

/// A cell binding each API name to a function that notes its call (`params`: the declared
/// parameter names, which name positional arguments; `argN` past them) and returns None.
/// Arguments are snapshotted as JSON when the call is made (others as their repr).
fn recorder_cell(params: &Value) -> String {
    format!(
        r#"def __codeact_recorders(signatures):
    import json
    calls = []
    def snapshot(value):
        try:
            return json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError, RecursionError):
            return repr(value)
    def recorder(name, params):
        def record(*args, **kwargs):
            bound = {{params[i] if i < len(params) else f"arg{{i}}": v for i, v in enumerate(args)}}
            bound.update(kwargs)
            calls.append({{"name": name, "args": {{str(k): snapshot(v) for k, v in bound.items()}}}})
        record.__name__ = record.__qualname__ = name
        return record
    for name, names in signatures.items():
        globals()[name] = recorder(name, names)
    return calls
__codeact_calls = __codeact_recorders({signatures})
del __codeact_recorders
"#,
        signatures = pypkg::py_json(params)
    )
}

/// Prints the recorded calls as the evaluation packages' `emit` does.
const RECORDED_CELL: &str =
    "print('codeact-eval ' + __import__('json').dumps(__codeact_calls, default=repr))\n";

fn unreachable_scored() -> Scored {
    Scored {
        correct: false,
        cause: "not scored".into(),
        span: None,
        name: None,
        args: None,
        result: None,
        needs_network: false,
        corrections: Vec::new(),
    }
}

/// The original scoring and the corrected one, rows by dialogue level, with the samples that
/// need the internet counted apart.
fn summaries(
    model: &str,
    options: &ApiBankOptions,
    records: &[&ApiBankRecord],
) -> (Summary, Summary) {
    let modes: Vec<String> = options
        .modes
        .iter()
        .map(|m| m.short().to_string())
        .collect();
    let group = |r: &ApiBankRecord| {
        if r.scored.needs_network || r.corrected.needs_network {
            "needs internet".to_string()
        } else if r.file.contains("-level-2-") {
            "level-2 dialogues".to_string()
        } else {
            "level-1 dialogues".to_string()
        }
    };
    let outcomes = |pick: &dyn Fn(&ApiBankRecord) -> bool| -> Vec<Outcome> {
        let mut v: Vec<Outcome> = records
            .iter()
            .map(|r| Outcome {
                group: group(r),
                mode: r.action_mode.short().to_string(),
                item: r.sample.clone(),
                correct: pick(r),
            })
            .collect();
        v.sort_by_key(|o| match o.group.as_str() {
            "level-1 dialogues" => 0,
            "level-2 dialogues" => 1,
            _ => 2,
        });
        v
    };
    let mut original = Summary::new(
        "API-Bank level-1",
        model,
        &modes,
        1,
        &outcomes(&|r| r.is_correct),
    );
    original.notes.push(
        "Scored as the original does, quirks included (comparable with the paper); \"all\" counts every sample, the ones that need the internet too.".into(),
    );
    let mut corrected = Summary::new(
        "API-Bank level-1 (corrected)",
        model,
        &modes,
        1,
        &outcomes(&|r| r.corrected.correct),
    );
    let mut fixes: Vec<&str> = records
        .iter()
        .flat_map(|r| r.corrected.corrections.iter().map(String::as_str))
        .collect();
    fixes.sort_unstable();
    fixes.dedup();
    corrected.notes.push(format!(
        "The same replies with the original's distorting quirks fixed; fixes that changed a verdict here: {}.",
        if fixes.is_empty() { "none".to_string() } else { fixes.join(", ") }
    ));
    if options.execute_code {
        let executed: Vec<&ApiBankRecord> = records
            .iter()
            .copied()
            .filter(|r| r.executed.is_some())
            .collect();
        let ok = executed
            .iter()
            .filter(|r| r.executed.as_ref().is_some_and(|e| e.scored.correct))
            .count();
        corrected.notes.push(format!(
            "Code replies run as Python (--execute-code): {ok}/{} made the right call.",
            executed.len()
        ));
    }
    (original, corrected)
}
