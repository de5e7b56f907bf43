//! A scripted OpenAI-compatible server: real HTTP on loopback, the Chat Completions streaming
//! protocol (`chat.completion.chunk` events over server-sent events, then `[DONE]`), and
//! replies from a script instead of a model. It plays the server side of stop sequences the
//! way real servers do, including their quirks, so that the agent is tested through the real
//! OpenAI client.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use codeact_llm::{Continuation, OpenAiBackend, OpenAiConfig};
use serde_json::{json, Value};

/// One reply of the script.
#[derive(Debug, Clone)]
pub enum Served {
    /// A model that writes this text. The server cuts it before the first of the request's
    /// stop strings and says `finish_reason: "stop"`. A request that continues the
    /// assistant's unfinished reply (its last message is the assistant's) gets the rest of
    /// the same text, the unfinished reply being a prefix of it, and cut the same way.
    Model(String),
    /// As `Model`, but the server streams the first `n` bytes of the stop string it stopped
    /// on before stopping (llama.cpp's server streams `</exe`; some servers the whole stop).
    Leaky(String, usize),
    /// As `Model`, but a continuation streams the unfinished reply again before the rest, as
    /// llama-server does.
    Echoing(String),
    /// Exactly these deltas, then this `finish_reason`, whatever the request.
    Exact(Vec<String>, String),
}

struct Script {
    replies: VecDeque<Served>,
    /// The reply that continuation requests continue.
    current: Option<Served>,
    requests: Vec<Value>,
}

type Shared = Arc<Mutex<Script>>;

/// A running scripted server; it stops when dropped.
pub struct ScriptedServer {
    pub base_url: String,
    script: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    /// Starts serving `replies` in order on a free loopback port.
    pub async fn start(replies: Vec<Served>) -> anyhow::Result<Self> {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            current: None,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(Arc::clone(&script));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base_url: format!("http://{addr}/v1"),
            script,
            task,
        })
    }

    /// The JSON bodies of the requests received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.script
            .lock()
            .map(|s| s.requests.clone())
            .unwrap_or_default()
    }

    /// Replies of the script not served yet.
    pub fn remaining(&self) -> usize {
        self.script.lock().map(|s| s.replies.len()).unwrap_or(0)
    }

    /// The OpenAI-compatible client of this server.
    pub fn backend(&self, continuation: Continuation) -> anyhow::Result<Arc<OpenAiBackend>> {
        Ok(Arc::new(OpenAiBackend::new(OpenAiConfig {
            base_url: self.base_url.clone(),
            model: "scripted".into(),
            api_key_env: "CODEACT_TEST_NO_SUCH_KEY".into(),
            request_timeout: Duration::from_secs(30),
            max_retries: 0,
            continuation,
            ..OpenAiConfig::default()
        })?))
    }
}

/// Whether the request continues the assistant's unfinished reply, and that reply.
fn unfinished_reply(body: &Value) -> Option<String> {
    let last = body["messages"].as_array()?.last()?;
    (last["role"] == "assistant").then(|| last["content"].as_str().unwrap_or("").to_string())
}

fn refuse(message: String) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error"}});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

async fn completions(State(script): State<Shared>, Json(body): Json<Value>) -> Response {
    let stops: Vec<String> = body["stop"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let unfinished = unfinished_reply(&body);
    let served = {
        let Ok(mut s) = script.lock() else {
            return refuse("the script is poisoned".into());
        };
        s.requests.push(body);
        if unfinished.is_none() {
            s.current = s.replies.pop_front();
        }
        s.current.clone()
    };
    let Some(served) = served else {
        return refuse("the script has no more replies".into());
    };
    let (text, leak, echo) = match served {
        Served::Exact(pieces, finish) => return stream(pieces, &finish),
        Served::Model(text) => (text, 0, false),
        Served::Leaky(text, n) => (text, n, false),
        Served::Echoing(text) => (text, 0, true),
    };
    let prefix = unfinished.unwrap_or_default();
    let Some(rest) = text.strip_prefix(prefix.as_str()) else {
        return refuse(format!(
            "the unfinished reply {prefix:?} is not how this reply begins"
        ));
    };
    let cut = stops
        .iter()
        .filter_map(|s| rest.find(s.as_str()).map(|at| (at, s.len())))
        .min();
    let new = match cut {
        Some((at, len)) => &rest[..at + leak.min(len)],
        None => rest,
    };
    let content = if echo {
        format!("{prefix}{new}")
    } else {
        new.to_string()
    };
    // Small pieces, so that stop strings arrive split over chunks as they do from a model.
    let chars: Vec<char> = content.chars().collect();
    let pieces = chars.chunks(3).map(|c| c.iter().collect()).collect();
    stream(pieces, "stop")
}

/// A streamed chat completion of `pieces`, ended with `finish`.
fn stream(pieces: Vec<String>, finish: &str) -> Response {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-scripted",
            "object": "chat.completion.chunk",
            "model": "scripted",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    let n = pieces.len();
    events.extend(
        pieces
            .into_iter()
            .map(|p| chunk(json!({ "content": p }), Value::Null)),
    );
    events.push(chunk(json!({}), json!(finish)));
    events.push(json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": n, "total_tokens": n + 1},
    }));
    let mut lines: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    lines.push("data: [DONE]\n\n".into());
    let body = Body::from_stream(futures::stream::iter(
        lines.into_iter().map(Ok::<_, Infallible>),
    ));
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}
