//! Asking the model for each scored call and scoring its reply, in the canonical sample order
//! (the original's checks keep state across samples, quirk Q11), with model calls overlapped.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use codeact_exec::SessionManager;
use codeact_llm::{CompletionRequest, LlmBackend, LlmError};
use codeact_protocol::Message;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::execute::recorder_cell;
use super::report::summaries;
use super::MODULE;
use crate::completion::{complete, ModelCost};
use crate::m3tooleval::ActionMode;
use crate::pypkg::{self, emit_cell, py_str, APIBANK};
use crate::records::{check_model, check_settings, RecordLog};
use crate::summary::Summary;
use crate::{EvalError, Progress, ProgressFn};

/// The name of the results file under `out`.
pub const RECORDS_FILE: &str = "apibank.jsonl";
/// The stem of the summary files under `out`.
pub const SUMMARY_STEM: &str = "apibank-summary";
/// The settings the results under `out` were made with.
pub const SETTINGS_FILE: &str = "apibank-settings.json";
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
    #[serde(flatten)]
    pub cost: ModelCost,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct SampleInfo {
    pub(super) sample: String,
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
pub(super) struct Reply {
    messages: Vec<Message>,
    text: String,
    context_exceeded: bool,
    cost: ModelCost,
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
    let filter = crate::filter_regex(options.filter.as_deref())?;
    let settings = serde_json::json!({
        "model": model,
        "max_tokens": options.max_tokens,
        "temperature": crate::records::f32_setting(options.temperature),
    });
    let (log, old) = RecordLog::open::<ApiBankRecord>(&options.out.join(RECORDS_FILE))?;
    check_settings(&options.out, SETTINGS_FILE, &settings, !old.is_empty())?;
    check_model(&log, old.iter().map(|r| r.model.as_str()), &model)?;
    let scorer = format!("apibank-{}-{}", std::process::id(), pypkg::next_id());
    sessions.create(&scorer).await?;
    let result = async {
        APIBANK.install(&sessions, &scorer, MODULE).await?;
        let all = all_samples(&sessions, &scorer).await?;
        // The same for every executed reply: each API name bound to a recorder.
        let recorders = if options.execute_code {
            let params: serde_json::Value =
                pypkg::call(&sessions, &scorer, &emit_cell(MODULE, "api_params", &[])).await?;
            Some(recorder_cell(&params))
        } else {
            None
        };
        // Scoring state depends on every earlier sample, so the filter only skips model calls.
        let selected: Vec<bool> = all
            .iter()
            .map(|s| filter.as_ref().is_none_or(|re| re.is_match(&s.sample)))
            .collect();
        let chosen = selected.iter().filter(|s| **s).count();
        if chosen == 0 {
            return Err(EvalError::Task("no sample selected".into()));
        }
        let total = options.modes.len() * chosen;
        let mut old_by_key: HashMap<(String, ActionMode), ApiBankRecord> = old
            .into_iter()
            .map(|r| ((r.sample.clone(), r.action_mode), r))
            .collect();
        // Of the selection only: records of other samples may be in the file too.
        let done = options
            .modes
            .iter()
            .flat_map(|m| {
                all.iter()
                    .zip(&selected)
                    .filter(|(_, chosen)| **chosen)
                    .map(move |(s, _)| (s.sample.clone(), *m))
            })
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
                recorders: recorders.as_deref(),
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
                        Job::Ask(messages) => {
                            Job::Asked(ctx.ask(messages).await.map_err(|e| EvalError::Run {
                                run: format!("{} ({} mode)", info.sample, mode.short()),
                                error: Box::new(e),
                            })?)
                        }
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

pub(super) struct ModeRun<'a> {
    llm: &'a Arc<dyn LlmBackend>,
    pub(super) sessions: &'a SessionManager,
    pub(super) scorer: &'a str,
    options: &'a ApiBankOptions,
    model: &'a str,
    pub(super) mode: ActionMode,
    /// The cell that sets up a session for an executed reply (with `execute_code`).
    pub(super) recorders: Option<&'a str>,
}

impl ModeRun<'_> {
    pub(super) async fn call<T: serde::de::DeserializeOwned>(
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

    pub(super) fn mode_arg(&self) -> String {
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
        let mut cost = ModelCost::default();
        let (text, context_exceeded) = match complete(self.llm.as_ref(), request, &mut cost).await {
            Ok(text) => (text, false),
            Err(LlmError::ContextLength(_)) => (String::new(), true),
            Err(e) => return Err(e.into()),
        };
        Ok(Reply {
            messages,
            text,
            context_exceeded,
            cost,
        })
    }

    /// Both scorings of a reply.
    async fn score(&self, info: &SampleInfo, reply: &str) -> Result<(Scored, Scored), EvalError> {
        let mut both = Vec::new();
        for corrected in ["False", "True"] {
            let args = [
                py_str(&info.sample),
                self.mode_arg(),
                py_str(reply),
                format!("corrected={corrected}"),
            ];
            let s = match self.call::<Scored>("score", &args).await {
                Ok(s) => s,
                // A reply the package cannot score must not end a long run: it counts as
                // incorrect, with the failure as its cause.
                Err(EvalError::Python(e)) => {
                    tracing::warn!(sample = %info.sample, "scoring failed: {e}");
                    Scored {
                        cause: format!("scoring_error: {e}"),
                        ..incorrect_scored()
                    }
                }
                Err(e) => return Err(e),
            };
            both.push(s);
        }
        let corrected = both.pop().unwrap_or_else(incorrect_scored);
        let original = both.pop().unwrap_or_else(incorrect_scored);
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
        let executed = match self.recorders {
            Some(recorders) if self.mode == ActionMode::Code => {
                Some(self.execute(info, &reply.text, recorders).await?)
            }
            _ => None,
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
            cost: reply.cost,
        })
    }
}

/// A verdict of `incorrect` with no detail, to fill in.
pub(super) fn incorrect_scored() -> Scored {
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
