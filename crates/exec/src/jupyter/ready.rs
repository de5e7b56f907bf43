//! Waiting until a kernel's WebSocket works in both directions: requests reach the kernel on
//! shell, and what it publishes on iopub reaches us.

use std::time::Duration;

use serde_json::json;

use super::conn::{Connection, Event, Waiter};
use super::rest::Rest;
use crate::ExecError;

/// How long the server may take to accept the WebSocket. Jupyter servers answer the upgrade
/// only once the kernel is alive and has answered a `kernel_info_request` of their own, and they
/// wait for each of the two up to their `kernel_info_timeout` (60 s by default).
const OPEN_TIMEOUT: Duration = Duration::from_secs(150);
/// How long a new or restarted kernel may take to answer its first `kernel_info_request`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often `kernel_info_request` is repeated while waiting: the first one can be lost while
/// the kernel is still binding its sockets.
const READY_RETRY: Duration = Duration::from_secs(3);
/// How long, once the kernel has replied to a `kernel_info_request`, its iopub status for that
/// request may take before the request is repeated (see [`probe`]).
const IOPUB_RETRY: Duration = Duration::from_millis(500);

/// Opens the channels WebSocket of `kernel_id` and waits until the kernel answers on it.
pub(super) async fn connect_ready(rest: &Rest, kernel_id: &str) -> Result<Connection, ExecError> {
    let url = rest.channels_url(kernel_id)?;
    let conn = tokio::time::timeout(OPEN_TIMEOUT, Connection::open(&url, rest.token()))
        .await
        .map_err(|_| {
            ExecError::BackendUnavailable(format!(
                "the WebSocket of kernel {kernel_id} did not open within {} s",
                OPEN_TIMEOUT.as_secs()
            ))
        })??;
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    let mut replied = false;
    loop {
        let mut waiter = conn
            .request("shell", "kernel_info_request", json!({}))
            .map_err(ExecError::BackendUnavailable)?;
        match probe(&mut waiter).await {
            Ok(Probe::Ready) => return Ok(conn),
            Ok(Probe::NoReply) => {}
            Ok(Probe::NoIopub) => {
                replied = true;
                tracing::debug!(kernel = %kernel_id, "the kernel answered on shell but nothing came on iopub yet; asking again");
            }
            Err(e) => return Err(e),
        }
        if tokio::time::Instant::now() >= deadline {
            conn.close("the kernel did not answer");
            let what = if replied {
                "answered kernel_info_request, but its iopub messages never reached the WebSocket"
            } else {
                "did not answer kernel_info_request"
            };
            return Err(ExecError::BackendUnavailable(format!(
                "kernel {kernel_id} {what} within {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
    }
}

/// How one `kernel_info_request` sent by [`connect_ready`] went.
enum Probe {
    /// The reply came on shell and the request's status on iopub: both directions work.
    Ready,
    /// No reply yet: the kernel may still be starting, and the first request can be lost
    /// while it binds its sockets.
    NoReply,
    /// The reply came but nothing on iopub: the server's subscription to the kernel's iopub
    /// is not live yet, and whatever the kernel publishes until it is never reaches us.
    NoIopub,
}

/// Waits for the answers to one `kernel_info_request`.
///
/// A shell reply alone does not make the connection usable. The server opens a fresh iopub
/// subscription for each WebSocket, and ZeroMQ drops what the kernel publishes before that
/// subscription reaches it; a cell sent too early loses its outputs and its final idle status,
/// and waits for them until its timeout. Jupyter servers usually hide this by "nudging" the
/// kernel before they let a WebSocket through, but they skip the nudge for a kernel they believe
/// busy, and after the REST restart of a busy kernel they believe so for good: jupyter_server
/// (which Kernel Gateway builds on) stops watching a kernel's activity when it restarts it, and
/// starts again only if the kernel's ports changed. So the kernel counts as ready only once the
/// request's own iopub status has come too.
async fn probe(waiter: &mut Waiter) -> Result<Probe, ExecError> {
    let mut patience = tokio::time::Instant::now() + READY_RETRY;
    let (mut replied, mut heard) = (false, false);
    loop {
        let ev = match tokio::time::timeout_at(patience, waiter.rx.recv()).await {
            Err(_) if replied => return Ok(Probe::NoIopub),
            Err(_) => return Ok(Probe::NoReply),
            Ok(None) => {
                return Err(ExecError::BackendUnavailable(
                    "the kernel WebSocket closed".to_string(),
                ))
            }
            Ok(Some(ev)) => ev,
        };
        match ev {
            Event::Message(m) if m.channel == "shell" && m.msg_type() == "kernel_info_reply" => {
                replied = true;
                // The kernel publishes the request's idle status right after its reply: when
                // the subscription is live, that status is moments away.
                patience = patience.min(tokio::time::Instant::now() + IOPUB_RETRY);
            }
            // The server's own `dead` / `restarting` notices carry no parent; only a message
            // answering this request proves that the kernel's iopub reaches us.
            Event::Message(m) if m.channel == "iopub" && m.parent_id().is_some() => heard = true,
            Event::Message(_) => {}
            Event::Lost(reason) => return Err(ExecError::BackendUnavailable(reason)),
        }
        if replied && heard {
            return Ok(Probe::Ready);
        }
    }
}
