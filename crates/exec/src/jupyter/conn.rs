//! One WebSocket to a kernel's channels. A single reader task owns the receiving half and routes
//! every message to the request waiting on its parent msg_id; a writer task owns the sending
//! half, so requests can be sent from any task without holding a lock across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header::AUTHORIZATION, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::msg::{self, WireMessage};
use crate::ExecError;

/// What a waiting request receives.
#[derive(Debug)]
pub(crate) enum Event {
    /// A message answering the request, or a kernel-wide `status` of `dead` / `restarting`
    /// (the server sends those with no parent, and every waiter must hear of them).
    Message(WireMessage),
    /// The WebSocket ended; nothing more will come.
    Lost(String),
}

#[derive(Default)]
struct Routes {
    waiting: HashMap<String, mpsc::UnboundedSender<Event>>,
    /// Set once the socket has ended, so that a late request fails at once instead of waiting.
    lost: Option<String>,
    /// Outputs of our earlier cells that came after the cell ended (a background thread's
    /// prints): they go to the next cell, as a notebook shows them.
    late: Vec<WireMessage>,
    /// Late outputs not kept once `late` was full.
    late_dropped: usize,
}

/// Most outputs kept between two cells; their text is capped again by the next cell's sink.
const LATE_OUTPUTS: usize = 10_000;

type Shared = Arc<Mutex<Routes>>;

/// An open WebSocket to one kernel.
pub(crate) struct Connection {
    /// The client session id of the protocol's headers (unique per connection, because the
    /// server uses it as a ZeroMQ identity and rejects a duplicate).
    session: String,
    out: mpsc::UnboundedSender<Message>,
    routes: Shared,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

/// A request in flight: its events arrive on `rx`. Dropping it stops the routing.
pub(crate) struct Waiter {
    pub rx: mpsc::UnboundedReceiver<Event>,
    msg_id: String,
    routes: Shared,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Ok(mut r) = self.routes.lock() {
            r.waiting.remove(&self.msg_id);
        }
    }
}

impl Connection {
    /// Opens `url` (a `ws://…/api/kernels/{id}/channels` address).
    pub async fn open(url: &str, token: Option<&str>) -> Result<Self, ExecError> {
        let session = uuid::Uuid::new_v4().to_string();
        let full = format!("{url}?session_id={session}");
        let mut request = full.as_str().into_client_request().map_err(|e| {
            ExecError::BackendUnavailable(format!("bad WebSocket address {url}: {e}"))
        })?;
        if let Some(t) = token {
            let value = HeaderValue::from_str(&format!("token {t}")).map_err(|_| {
                ExecError::BadRequest("the Jupyter token is not a valid header value".into())
            })?;
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        // Rich outputs (images, big reprs) can exceed the default 64 MiB message cap only in
        // odd cases; the file API keeps its own messages far smaller.
        let config = WebSocketConfig::default()
            .max_message_size(Some(256 << 20))
            .max_frame_size(Some(256 << 20));
        let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| {
                ExecError::BackendUnavailable(format!(
                    "cannot open the kernel WebSocket {url}: {e}"
                ))
            })?;
        let (mut sink, mut stream) = socket.split();
        let routes: Shared = Arc::default();

        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let wroutes = routes.clone();
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if let Err(e) = sink.send(m).await {
                    mark_lost(
                        &wroutes,
                        format!("sending to the kernel WebSocket failed: {e}"),
                    );
                    return;
                }
            }
            let _ = sink.close().await;
        });

        let rroutes = routes.clone();
        let rsession = session.clone();
        let reader = tokio::spawn(async move {
            let reason = loop {
                match stream.next().await {
                    Some(Ok(Message::Text(t))) => route(&rroutes, &rsession, t.as_str()),
                    Some(Ok(Message::Close(frame))) => {
                        break match frame {
                            Some(f) if !f.reason.is_empty() => {
                                format!(
                                    "the Jupyter server closed the kernel WebSocket ({})",
                                    f.reason
                                )
                            }
                            _ => "the Jupyter server closed the kernel WebSocket".to_string(),
                        };
                    }
                    // Binary frames only appear with the v1 subprotocol, which is not asked for;
                    // pings are answered by tungstenite itself.
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break format!("the kernel WebSocket broke: {e}"),
                    None => break "the kernel WebSocket closed".to_string(),
                }
            };
            mark_lost(&rroutes, reason);
        });
        Ok(Self {
            session,
            out,
            routes,
            reader,
            writer,
        })
    }

    /// Sends a request and returns the waiter for its answers, registered before the send so
    /// that no answer can slip past.
    pub fn request(&self, channel: &str, msg_type: &str, content: Value) -> Result<Waiter, String> {
        self.send_request(channel, msg_type, content, false)
    }

    /// Runs a cell: like `request`, and the outputs printed since the last cell ended come
    /// first on the waiter.
    pub fn execute(&self, content: Value) -> Result<Waiter, String> {
        self.send_request("shell", "execute_request", content, true)
    }

    fn send_request(
        &self,
        channel: &str,
        msg_type: &str,
        content: Value,
        take_late: bool,
    ) -> Result<Waiter, String> {
        let msg_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut r = self
                .routes
                .lock()
                .map_err(|_| "connection state poisoned".to_string())?;
            if let Some(reason) = &r.lost {
                return Err(reason.clone());
            }
            if take_late {
                if r.late_dropped > 0 {
                    let notice = msg::late_outputs_dropped(r.late_dropped);
                    let _ = tx.send(Event::Message(notice));
                    r.late_dropped = 0;
                }
                for m in r.late.drain(..) {
                    let _ = tx.send(Event::Message(m));
                }
            }
            r.waiting.insert(msg_id.clone(), tx);
        }
        let waiter = Waiter {
            rx,
            msg_id: msg_id.clone(),
            routes: self.routes.clone(),
        };
        let text = msg::request(&self.session, channel, msg_type, &msg_id, content);
        self.out
            .send(Message::text(text))
            .map_err(|_| "the kernel WebSocket is closed".to_string())?;
        Ok(waiter)
    }

    /// Why the socket ended, if it has.
    pub fn lost(&self) -> Option<String> {
        self.routes.lock().ok().and_then(|r| r.lost.clone())
    }

    /// Ends the socket; every waiter hears `reason`.
    pub fn close(&self, reason: &str) {
        mark_lost(&self.routes, reason.to_string());
        self.reader.abort();
        self.writer.abort();
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

fn route(routes: &Shared, session: &str, text: &str) {
    let msg = match msg::parse(text) {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!("ignoring an unparsable kernel message: {e}");
            return;
        }
    };
    let Ok(mut r) = routes.lock() else { return };
    if matches!(msg.execution_state(), Some("dead" | "restarting")) {
        for tx in r.waiting.values() {
            let _ = tx.send(Event::Message(msg.clone()));
        }
        return;
    }
    // Anything else answers a request of ours, is output of one of our cells that has ended,
    // or is none of our business (other clients, comms).
    if let Some(tx) = msg.parent_id().and_then(|id| r.waiting.get(id)) {
        let _ = tx.send(Event::Message(msg));
    } else if msg.channel == "iopub"
        && msg.parent_session() == Some(session)
        && msg::output(&msg).is_some()
    {
        if r.late.len() < LATE_OUTPUTS {
            r.late.push(msg);
        } else {
            r.late_dropped += 1;
        }
    }
}

fn mark_lost(routes: &Shared, reason: String) {
    let Ok(mut r) = routes.lock() else { return };
    if r.lost.is_some() {
        return;
    }
    tracing::debug!("kernel WebSocket lost: {reason}");
    for (_, tx) in r.waiting.drain() {
        let _ = tx.send(Event::Lost(reason.clone()));
    }
    r.lost = Some(reason);
}
