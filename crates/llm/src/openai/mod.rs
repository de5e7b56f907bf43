//! A streaming client for OpenAI-compatible Chat Completions servers: vLLM, llama.cpp's
//! llama-server, Ollama, OpenAI.
//!
//! Retries cover only the time before the reply starts streaming; once text has been handed
//! to the caller a failure cannot be replayed transparently and is reported instead.

mod echo;
mod wire;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use tracing::{debug, warn};

use crate::backend::{
    BoxChunkStream, Chunk, CompletionRequest, FinishReason, LlmBackend, LlmError, Usage,
};
use crate::sse::SseParser;
use crate::stop::StopMatcher;
use echo::EchoFilter;
pub use wire::ServerTimings;
use wire::{BodyOptions, StreamChunk};

/// How to reach an OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// The API root including its version, e.g. `http://127.0.0.1:8080/v1`;
    /// requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key; unset or empty means no key is sent.
    pub api_key_env: String,
    /// The longest wait for the server to connect, or to send its next bytes.
    pub request_timeout: Duration,
    /// Extra tries after a 408, 429 or 5xx answer, or a failed connection.
    pub max_retries: u32,
    /// The first pause between tries; it doubles each time, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Whether the model takes images (sent as `image_url` parts with data: URLs).
    pub accepts_images: bool,
    /// Whether the server honours a `grammar` field (llama-server does; OpenAI does not).
    pub supports_grammar: bool,
    /// The most stop strings sent to the server; any others are matched by this client.
    pub max_server_stops: usize,
    /// How the server continues the assistant's unfinished reply.
    pub continuation: Continuation,
}

/// How a server continues the assistant's unfinished reply
/// ([`CompletionRequest::continue_final_message`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Continuation {
    /// The reply goes last in `messages` as an assistant message, which the server continues:
    /// llama-server (its default "prefill"), Ollama.
    #[default]
    Prefill,
    /// As `Prefill`, and the body also says `"continue_final_message": true,
    /// "add_generation_prompt": false`, which vLLM needs.
    ContinueFinalMessage,
    /// The server cannot (OpenAI's own API opens a new reply instead): such requests are
    /// refused.
    Unsupported,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080/v1".into(),
            model: "default".into(),
            api_key_env: "OPENAI_API_KEY".into(),
            request_timeout: Duration::from_secs(120),
            max_retries: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            accepts_images: false,
            supports_grammar: false,
            max_server_stops: 4,
            continuation: Continuation::Prefill,
        }
    }
}

/// A Chat Completions client.
#[derive(Debug, Clone)]
pub struct OpenAiBackend {
    config: OpenAiConfig,
    api_key: Option<String>,
    http: reqwest::Client,
    endpoint: String,
}

impl OpenAiBackend {
    /// Builds the client, reading the API key from `config.api_key_env` now.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let api_key = std::env::var(&config.api_key_env)
            .ok()
            .filter(|k| !k.trim().is_empty());
        let http = reqwest::Client::builder()
            .connect_timeout(config.request_timeout)
            .read_timeout(config.request_timeout)
            .build()
            .map_err(|e| LlmError::Rejected(format!("cannot build the HTTP client: {e}")))?;
        let endpoint = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        Ok(Self {
            config,
            api_key,
            http,
            endpoint,
        })
    }

    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// Like [`LlmBackend::stream`], also handing back llama-server's timings once the
    /// stream has ended (other servers send none).
    pub async fn stream_with_timings(
        &self,
        request: CompletionRequest,
    ) -> Result<(BoxChunkStream, Arc<Mutex<Option<ServerTimings>>>), LlmError> {
        crate::backend::check_continuation(&request)?;
        if request.continue_final_message && !self.supports_continuation() {
            return Err(LlmError::Rejected(format!(
                "{} is configured as unable to continue a reply",
                self.name()
            )));
        }
        if request.grammar.is_some() && !self.config.supports_grammar {
            warn!(backend = %self.name(), "grammar dropped: this server is not configured to support one");
        }
        if !self.config.accepts_images && request.messages.iter().any(|m| !m.images.is_empty()) {
            debug!("images left out: this model is not configured to accept them");
        }
        let opts = BodyOptions {
            accepts_images: self.config.accepts_images,
            send_grammar: self.config.supports_grammar,
            max_server_stops: self.config.max_server_stops,
            continue_flags: self.config.continuation == Continuation::ContinueFinalMessage,
        };
        let body = wire::request_body(&self.config.model, &request, opts);
        let response = self.send_with_retries(&body).await?;
        let timings = Arc::new(Mutex::new(None));
        let unfinished = request
            .continue_final_message
            .then(|| request.messages.last().map(|m| m.content.as_str()))
            .flatten();
        let state = StreamState {
            echo: EchoFilter::new(unfinished),
            body: response.bytes_stream().boxed(),
            parser: SseParser::default(),
            matcher: StopMatcher::new(&request.stop),
            queue: VecDeque::new(),
            finish: None,
            usage: None,
            timings: Arc::clone(&timings),
            done: false,
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            let item = st.next_item().await?;
            Some((item, st))
        });
        Ok((stream.boxed(), timings))
    }

    async fn send_with_retries(
        &self,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, LlmError> {
        let mut attempt = 0u32;
        loop {
            let mut req = self.http.post(&self.endpoint).json(body);
            if let Some(key) = &self.api_key {
                req = req.bearer_auth(key);
            }
            let (err, retry_after) = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = retry_after(resp.headers());
                    let text = resp.text().await.unwrap_or_default();
                    if !wire::is_retryable(status) {
                        return Err(wire::classify_status(status, &text));
                    }
                    (wire::classify_status(status, &text), retry_after)
                }
                Err(e) => (
                    LlmError::Unavailable(format!(
                        "cannot reach {}: {}",
                        self.endpoint,
                        error_chain(&e)
                    )),
                    None,
                ),
            };
            if attempt >= self.config.max_retries {
                return Err(err);
            }
            let backoff = self
                .config
                .initial_backoff
                .saturating_mul(1u32 << attempt.min(16))
                .min(self.config.max_backoff);
            // A server-requested pause is honoured, within reason.
            let pause = retry_after.map_or(backoff, |ra| ra.min(Duration::from_secs(300)));
            attempt += 1;
            warn!(error = %err, attempt, pause_ms = pause.as_millis() as u64, "LLM request failed; retrying");
            tokio::time::sleep(pause).await;
        }
    }
}

/// The `Retry-After` header in seconds; HTTP dates are ignored in favour of backoff.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// An error with its causes, since reqwest's own message hides the interesting part.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

struct StreamState {
    /// Runs before the stop matcher: an echoed unfinished reply ends with the stop text the
    /// caller kept, which must not end this reply.
    echo: EchoFilter,
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    matcher: StopMatcher,
    queue: VecDeque<Result<Chunk, LlmError>>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    timings: Arc<Mutex<Option<ServerTimings>>>,
    done: bool,
}

impl StreamState {
    async fn next_item(&mut self) -> Option<Result<Chunk, LlmError>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.body.next().await {
                Some(Ok(bytes)) => {
                    for event in self.parser.push(&bytes) {
                        self.event(&event.event, &event.data);
                        if self.done {
                            break;
                        }
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    let msg = format!("the reply stream broke off: {}", error_chain(&e));
                    self.queue.push_back(Err(LlmError::Unavailable(msg)));
                }
                None => {
                    if let Some(event) = self.parser.finish() {
                        self.event(&event.event, &event.data);
                    }
                    if !self.done {
                        self.end_of_body();
                    }
                }
            }
        }
    }

    fn event(&mut self, name: &Option<String>, data: &str) {
        let data = data.trim();
        if data == "[DONE]" {
            self.finish_stream();
            return;
        }
        if data.is_empty() {
            return;
        }
        let chunk: StreamChunk = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) if name.as_deref() == Some("error") => {
                debug!(error = %e, "unparsable error event");
                self.fail(LlmError::Unavailable(format!(
                    "error during streaming: {data}"
                )));
                return;
            }
            Err(e) => {
                self.fail(LlmError::Protocol(format!(
                    "unparsable stream chunk ({e}): {data}"
                )));
                return;
            }
        };
        if let Some(err) = &chunk.error {
            self.fail(wire::classify_stream_error(err));
            return;
        }
        if let Some(t) = chunk.timings {
            if let Ok(mut slot) = self.timings.lock() {
                *slot = Some(t);
            }
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.to_usage(chunk.timings.as_ref()));
        }
        for choice in &chunk.choices {
            if let Some(text) = choice.delta.as_ref().and_then(|d| d.content.as_deref()) {
                let text = self.echo.push(text);
                if !text.is_empty() && self.finish.is_none() {
                    let released = self.matcher.push(&text);
                    if !released.text.is_empty() {
                        self.queue.push_back(Ok(Chunk::Delta(released.text)));
                    }
                    if let Some(seq) = released.stopped {
                        // A stop the server was not told about: end here, dropping the
                        // connection so the server stops generating.
                        self.finish = Some(FinishReason::Stop {
                            sequence: Some(seq),
                        });
                        self.finish_stream();
                        return;
                    }
                }
            }
            if let Some(reason) = &choice.finish_reason {
                if self.finish.is_none() {
                    self.finish = Some(wire::finish_reason(reason));
                }
            }
        }
    }

    fn fail(&mut self, err: LlmError) {
        self.queue.push_back(Err(err));
        self.done = true;
    }

    fn finish_stream(&mut self) {
        // What the matcher still withholds is the beginning of a stop string. A server that
        // stopped has recognised the whole stop after streaming its beginning (llama-server
        // does this), so that beginning is not part of the reply; a reply cut at max_tokens
        // keeps it.
        let held = self.echo.finish();
        if !held.is_empty() {
            let released = self.matcher.push(&held);
            if !released.text.is_empty() {
                self.queue.push_back(Ok(Chunk::Delta(released.text)));
            }
            if let Some(seq) = released.stopped {
                self.finish = Some(FinishReason::Stop {
                    sequence: Some(seq),
                });
            }
        }
        let rest = self.matcher.finish();
        if !rest.is_empty() && self.finish == Some(FinishReason::Length) {
            self.queue.push_back(Ok(Chunk::Delta(rest)));
        } else if !rest.is_empty() {
            debug!(partial = %rest, "dropped the beginning of a stop string at the end of a stopped reply");
        }
        let finish = self
            .finish
            .take()
            .unwrap_or(FinishReason::Stop { sequence: None });
        let usage = self.usage.unwrap_or_default();
        self.queue.push_back(Ok(Chunk::Done { finish, usage }));
        self.done = true;
    }

    fn end_of_body(&mut self) {
        if self.finish.is_some() {
            // Some servers close without `[DONE]` once they have sent a finish reason.
            self.finish_stream();
        } else {
            self.fail(LlmError::Unavailable(
                "the reply stream ended before the reply was complete".into(),
            ));
        }
    }
}

#[async_trait]
impl LlmBackend for OpenAiBackend {
    fn name(&self) -> String {
        format!("openai:{}@{}", self.config.model, self.config.base_url)
    }

    fn accepts_images(&self) -> bool {
        self.config.accepts_images
    }

    fn supports_grammar(&self) -> bool {
        self.config.supports_grammar
    }

    fn supports_continuation(&self) -> bool {
        self.config.continuation != Continuation::Unsupported
    }

    async fn stream(&self, request: CompletionRequest) -> Result<BoxChunkStream, LlmError> {
        Ok(self.stream_with_timings(request).await?.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
