//! Generation by several generators sharing one [`TaskQueue`]: each takes tasks until the
//! queue has none left, renewing its lease while a run goes on; when every task is done, each
//! writes the queue's runs and rows into its own output directory.

use std::path::Path;
use std::sync::Arc;

use codeact_llm::LlmBackend;

use super::generate::{run_task, write_outputs, GenerateSettings, RunRecord};
use super::queue::{Lease, TaskQueue};
use super::session::InstructSessions;
use super::tasks::InstructTask;
use crate::{EvalError, Progress, ProgressFn};

/// Adds `tasks` to the queue, works on the queue with `concurrency` runs in flight until all
/// of its tasks are done, then writes `out/runs.jsonl` and `out/rows.jsonl` from every run
/// the queue holds for this model. Returns those runs.
#[allow(clippy::too_many_arguments)]
pub async fn generate_queued(
    env: &InstructSessions,
    llm: Arc<dyn LlmBackend>,
    settings: &GenerateSettings,
    tasks: &[InstructTask],
    queue: &TaskQueue,
    out: &Path,
    concurrency: usize,
    progress: &ProgressFn<'_>,
) -> Result<Vec<RunRecord>, EvalError> {
    let model = super::generate::model_label(settings, &*llm);
    super::generate::preflight(env, tasks, &model).await?;
    queue.enqueue(tasks, &model).await?;
    let state = queue.state().await?;
    progress(Progress::Started {
        total: state.total,
        done: state.done,
    });
    let llm = &*llm;
    let workers = (0..concurrency.max(1)).map(|_| work(env, llm, settings, queue, progress));
    futures::future::try_join_all(workers).await?;
    let runs: Vec<RunRecord> = queue
        .results()
        .await?
        .into_iter()
        .filter(|r| r.model == model)
        .collect();
    write_outputs(out, &runs)?;
    Ok(runs)
}

/// One lane of work: lease, run, store, until the queue is done.
async fn work(
    env: &InstructSessions,
    llm: &dyn LlmBackend,
    settings: &GenerateSettings,
    queue: &TaskQueue,
    progress: &ProgressFn<'_>,
) -> Result<(), EvalError> {
    loop {
        let Some(lease) = queue.lease().await? else {
            let state = queue.state().await?;
            if state.done >= state.total {
                return Ok(());
            }
            // Others hold the rest; one of them may die, and its lease expire.
            tokio::time::sleep((queue.lease_time() / 4).max(std::time::Duration::from_millis(200)))
                .await;
            continue;
        };
        match run_renewing(env, llm, settings, queue, &lease).await {
            Ok(rec) => {
                if queue.complete(&lease.key, &rec).await? {
                    progress(Progress::Finished {
                        name: rec.id.clone(),
                        correct: rec.success,
                    });
                } else {
                    tracing::warn!(task = %lease.key, "the lease expired before the run ended; another generator's run of it is kept");
                }
            }
            Err(e) => {
                queue.release(&lease.key).await?;
                return Err(EvalError::Run {
                    run: lease.key.clone(),
                    error: Box::new(e),
                });
            }
        }
    }
}

/// Runs a leased task, renewing the lease three times per lease period meanwhile.
async fn run_renewing(
    env: &InstructSessions,
    llm: &dyn LlmBackend,
    settings: &GenerateSettings,
    queue: &TaskQueue,
    lease: &Lease,
) -> Result<RunRecord, EvalError> {
    let run = run_task(env, llm, settings, &lease.task);
    tokio::pin!(run);
    let mut tick = tokio::time::interval(queue.lease_time() / 3);
    tick.tick().await;
    loop {
        tokio::select! {
            r = &mut run => return r,
            _ = tick.tick() => {
                if !queue.renew(&lease.key).await.unwrap_or(false) {
                    tracing::warn!(task = %lease.key, "could not renew the lease");
                }
            }
        }
    }
}
