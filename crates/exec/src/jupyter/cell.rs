//! Following one cell to its end: outputs from iopub into the sink, the end from the shell
//! reply plus the idle status, and death from the server's status messages or its kernel list.

use std::time::Duration;

use codeact_protocol::Output;

use super::conn::{Event, Waiter};
use super::msg;
use super::rest::Rest;
use crate::{CellEnd, OutputSink};

/// How often a waiting request asks the server whether its kernel still exists.
const WATCH_PERIOD: Duration = Duration::from_secs(5);

/// Feeds the cell's outputs into `sink` until the cell ends or the kernel is lost.
pub(super) async fn follow(waiter: &mut Waiter, sink: &mut OutputSink) -> CellEnd {
    // The cell is over when both the shell reply and the iopub idle status for it have come,
    // in whichever order: outputs can trail the reply on the other channel until idle.
    let (mut replied, mut idle, mut error) = (false, false, false);
    while let Some(ev) = waiter.rx.recv().await {
        let m = match ev {
            Event::Lost(reason) => return CellEnd::Died { reason },
            Event::Message(m) => m,
        };
        match (m.channel.as_str(), m.msg_type()) {
            ("iopub", "status") => match m.execution_state() {
                Some("idle") => idle = true,
                Some("dead") => {
                    return CellEnd::Died {
                        reason: "the kernel died".to_string(),
                    };
                }
                Some("restarting") => {
                    let reason = "the kernel died and the Jupyter server restarted it";
                    return CellEnd::Died {
                        reason: reason.to_string(),
                    };
                }
                _ => {}
            },
            ("iopub", _) => {
                if let Some(out) = msg::output(&m) {
                    error |= matches!(out, Output::Error { .. });
                    if msg::is_rate_limit_notice(&out) {
                        sink.mark_truncated();
                    }
                    sink.push(out);
                }
            }
            // `error`, or `aborted` when the kernel skipped the cell after an earlier failure.
            ("shell", "execute_reply") => {
                replied = true;
                error |= m.reply_status() != "ok";
            }
            _ => {}
        }
        if replied && idle {
            return CellEnd::Completed { error };
        }
    }
    CellEnd::Died {
        reason: "the kernel WebSocket closed".to_string(),
    }
}

/// Returns (with the reason) once the server no longer has kernel `kernel_id`; never returns
/// while it does. Jupyter servers keep a deleted kernel's WebSocket open and silent, so without
/// this a request to a kernel deleted behind our back would wait until its timeout.
pub(super) async fn until_gone(rest: &Rest, kernel_id: &str) -> String {
    loop {
        tokio::time::sleep(WATCH_PERIOD).await;
        match rest.exists(kernel_id).await {
            Ok(false) => {
                return format!("kernel {kernel_id} no longer exists on the Jupyter server")
            }
            Ok(true) => {}
            // An unreachable server is no proof that the kernel is gone: the WebSocket will tell.
            Err(e) => {
                tracing::debug!(kernel = %kernel_id, "checking the jupyter kernel failed: {e}")
            }
        }
    }
}
