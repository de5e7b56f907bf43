//! Long runs on the terminal: a progress bar fed by the evaluation's [`Progress`] events, and
//! Ctrl-C that stops the run while keeping what finished.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use codeact_eval::{Progress, ProgressFn};
use codeact_exec::SessionManager;
use indicatif::{ProgressBar, ProgressStyle};

/// Runs an evaluation with a progress bar until it ends or Ctrl-C (`None`: what finished is
/// kept in `out`), then shuts the sessions down.
pub async fn interruptible<T, F, Fut>(
    sessions: &SessionManager,
    out: &Path,
    evaluate: F,
) -> Result<Option<T>>
where
    F: FnOnce(Arc<ProgressFn<'static>>) -> Fut,
    Fut: std::future::Future<Output = Result<T, codeact_eval::EvalError>>,
{
    let bar = progress_bar();
    let result = tokio::select! {
        r = evaluate(progress_fn(bar.clone())) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    bar.finish_and_clear();
    sessions.shutdown().await;
    match result {
        Some(r) => Ok(Some(r?)),
        None => {
            eprintln!(
                "interrupted: finished runs are kept in {}; run the same command again to go on",
                out.display()
            );
            Ok(None)
        }
    }
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {msg} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn progress_fn(bar: ProgressBar) -> Arc<ProgressFn<'static>> {
    let correct = std::sync::atomic::AtomicUsize::new(0);
    Arc::new(move |p| match p {
        Progress::Started { total, done } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if done > 0 {
                let line = format!("resuming: {done} of {total} runs already done");
                if bar.is_hidden() {
                    eprintln!("{line}");
                } else {
                    bar.println(line);
                }
            }
        }
        Progress::Finished { correct: ok, .. } => {
            let n = correct.fetch_add(usize::from(ok), std::sync::atomic::Ordering::Relaxed)
                + usize::from(ok);
            // Counted before the message names it, so the bar never shows more correct than done.
            bar.inc(1);
            bar.set_message(format!("{n} correct this time"));
        }
    })
}
