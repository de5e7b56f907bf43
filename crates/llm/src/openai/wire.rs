//! The JSON of the Chat Completions API: request bodies, stream chunks and error bodies.

use codeact_protocol::{Message, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::backend::{CompletionRequest, FinishReason, LlmError, Usage};

/// What the body of a request may contain beyond the common fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyOptions {
    pub accepts_images: bool,
    pub send_grammar: bool,
    /// The most stop strings the server takes (OpenAI: 4); the rest are matched here.
    pub max_server_stops: usize,
    /// A continuation also carries vLLM's `continue_final_message` and
    /// `add_generation_prompt` fields.
    pub continue_flags: bool,
}

/// Builds the JSON body of a streaming chat completion request.
pub(crate) fn request_body(model: &str, req: &CompletionRequest, opts: BodyOptions) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| message(m, opts.accepts_images))
        .collect();
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
    });
    let stops: Vec<&String> = req
        .stop
        .iter()
        .filter(|s| !s.is_empty())
        .take(opts.max_server_stops)
        .collect();
    if !stops.is_empty() {
        body["stop"] = json!(stops);
    }
    if let Some(seed) = req.seed {
        body["seed"] = json!(seed);
    }
    if req.continue_final_message && opts.continue_flags {
        body["continue_final_message"] = json!(true);
        body["add_generation_prompt"] = json!(false);
    }
    if let Some(grammar) = &req.grammar {
        if opts.send_grammar {
            body["grammar"] = json!(grammar);
        }
    }
    body
}

fn role(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

fn message(m: &Message, accepts_images: bool) -> Value {
    if m.images.is_empty() || !accepts_images {
        return json!({ "role": role(m.role), "content": m.content });
    }
    let mut parts = Vec::with_capacity(m.images.len() + 1);
    if !m.content.is_empty() {
        parts.push(json!({ "type": "text", "text": m.content }));
    }
    for image in &m.images {
        let url = format!("data:image/png;base64,{}", image.png_base64);
        parts.push(json!({ "type": "image_url", "image_url": { "url": url } }));
    }
    json!({ "role": role(m.role), "content": parts })
}

/// One `data:` payload of the stream.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamChunk {
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub usage: Option<WireUsage>,
    /// llama-server's own measurements, sent with the last chunk.
    #[serde(default)]
    pub timings: Option<ServerTimings>,
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub delta: Option<Delta>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Delta {
    #[serde(default)]
    pub content: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PromptDetails {
    #[serde(default)]
    pub cached_tokens: Option<u32>,
}

/// Timings that llama-server reports with its last chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
pub struct ServerTimings {
    /// Prompt tokens taken from the server's cache.
    #[serde(default)]
    pub cache_n: u32,
    /// Prompt tokens evaluated.
    #[serde(default)]
    pub prompt_n: u32,
    #[serde(default)]
    pub prompt_ms: f64,
    #[serde(default)]
    pub prompt_per_second: f64,
    /// Tokens generated.
    #[serde(default)]
    pub predicted_n: u32,
    #[serde(default)]
    pub predicted_ms: f64,
    #[serde(default)]
    pub predicted_per_second: f64,
}

impl WireUsage {
    pub(crate) fn to_usage(&self, timings: Option<&ServerTimings>) -> Usage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .or_else(|| timings.map(|t| t.cache_n))
            .unwrap_or(0);
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_tokens: cached,
        }
    }
}

pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        _ => FinishReason::Stop { sequence: None },
    }
}

/// Whether an error message says the prompt does not fit the context.
fn is_context_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "context_length_exceeded",
        "exceed_context_size",
        "exceeds the available context size",
        "maximum context length",
        "context length",
        "context window",
        "too many tokens",
    ]
    .iter()
    .any(|needle| t.contains(needle))
}

/// The human-readable part of an error body, falling back to the whole body.
pub(crate) fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let msg = parsed.as_ref().and_then(|v| {
        let err = v.get("error").unwrap_or(v);
        err.get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| err.as_str().map(str::to_owned))
    });
    let mut msg = msg.unwrap_or_else(|| body.trim().to_owned());
    if msg.len() > 500 {
        let mut cut = 500;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push('…');
    }
    msg
}

/// Whether a failed HTTP status is worth another try.
pub(crate) fn is_retryable(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// Maps a failed HTTP answer that will not be retried (again) to an error.
pub(crate) fn classify_status(status: u16, body: &str) -> LlmError {
    let msg = error_message(body);
    if (status == 400 || status == 413 || status == 422)
        && (is_context_error(body) || is_context_error(&msg))
    {
        return LlmError::ContextLength(msg);
    }
    if is_retryable(status) {
        return LlmError::Unavailable(format!("HTTP {status}: {msg}"));
    }
    LlmError::Rejected(format!("HTTP {status}: {msg}"))
}

/// Maps an error object sent inside an otherwise successful stream.
pub(crate) fn classify_stream_error(error: &Value) -> LlmError {
    let text = error.to_string();
    let msg = error_message(&json!({ "error": error }).to_string());
    if is_context_error(&text) {
        LlmError::ContextLength(msg)
    } else {
        LlmError::Unavailable(format!("error during streaming: {msg}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codeact_protocol::ImagePart;

    #[test]
    fn body_has_sampling_fields_and_limits_stops() {
        let req = CompletionRequest {
            messages: vec![Message::system("s"), Message::user("u")],
            max_tokens: 7,
            temperature: 0.5,
            top_p: 0.9,
            stop: vec!["a".into(), "".into(), "b".into(), "c".into()],
            grammar: Some("root ::= \"x\"".into()),
            seed: Some(3),
            continue_final_message: false,
        };
        let opts = BodyOptions {
            accepts_images: false,
            send_grammar: true,
            max_server_stops: 2,
            continue_flags: true,
        };
        let body = request_body("m", &req, opts);
        assert_eq!(body["model"], "m");
        assert_eq!(body["stream"], true);
        assert_eq!(body["max_tokens"], 7);
        assert_eq!(body["seed"], 3);
        assert_eq!(body["stop"], json!(["a", "b"]));
        assert_eq!(body["grammar"], "root ::= \"x\"");
        assert_eq!(body["messages"][1], json!({"role": "user", "content": "u"}));
        let opts = BodyOptions {
            send_grammar: false,
            ..opts
        };
        assert!(request_body("m", &req, opts).get("grammar").is_none());
        assert!(body.get("continue_final_message").is_none());
    }

    #[test]
    fn a_continuation_sends_the_unfinished_reply_last() {
        let req = CompletionRequest {
            messages: vec![Message::user("u"), Message::assistant("<execute>\nx = \"")],
            continue_final_message: true,
            ..CompletionRequest::default()
        };
        let opts = BodyOptions {
            accepts_images: false,
            send_grammar: false,
            max_server_stops: 4,
            continue_flags: false,
        };
        let body = request_body("m", &req, opts);
        assert_eq!(
            body["messages"][1],
            json!({"role": "assistant", "content": "<execute>\nx = \""})
        );
        assert!(body.get("continue_final_message").is_none());
        let body = request_body(
            "m",
            &req,
            BodyOptions {
                continue_flags: true,
                ..opts
            },
        );
        assert_eq!(body["continue_final_message"], true);
        assert_eq!(body["add_generation_prompt"], false);
    }

    #[test]
    fn images_become_data_url_parts_only_when_accepted() {
        let mut m = Message::user("look");
        m.images.push(ImagePart {
            path: "p.png".into(),
            png_base64: "QUJD".into(),
        });
        let with = message(&m, true);
        assert_eq!(with["content"][0], json!({"type": "text", "text": "look"}));
        assert_eq!(
            with["content"][1]["image_url"]["url"],
            "data:image/png;base64,QUJD"
        );
        assert_eq!(message(&m, false)["content"], "look");
    }

    #[test]
    fn parses_chunks_and_usage() {
        let c: StreamChunk = serde_json::from_str(
            r#"{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.choices[0]
                .delta
                .as_ref()
                .and_then(|d| d.content.as_deref()),
            Some("hi")
        );
        let c: StreamChunk = serde_json::from_str(
            r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12},
                "timings":{"cache_n":4,"prompt_n":6,"prompt_ms":1.5,"predicted_n":2}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let usage = c.usage.as_ref().map(|u| u.to_usage(c.timings.as_ref()));
        assert_eq!(
            usage,
            Some(Usage {
                prompt_tokens: 10,
                completion_tokens: 2,
                cached_tokens: 4
            })
        );
        let c: StreamChunk = serde_json::from_str(
            r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":8}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.usage.map(|u| u.to_usage(None).cached_tokens), Some(8));
        assert_eq!(finish_reason("length"), FinishReason::Length);
        assert_eq!(finish_reason("stop"), FinishReason::Stop { sequence: None });
    }

    #[test]
    fn maps_context_length_errors() {
        let llama = r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":600,"n_ctx":256}}"#;
        assert!(
            matches!(classify_status(400, llama), LlmError::ContextLength(m) if m.contains("exceeds the available"))
        );
        let vllm = r#"{"object":"error","message":"This model's maximum context length is 2048 tokens. However, you requested 3000 tokens.","type":"BadRequestError","code":400}"#;
        assert!(matches!(
            classify_status(400, vllm),
            LlmError::ContextLength(_)
        ));
        let openai = r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert!(matches!(
            classify_status(400, openai),
            LlmError::ContextLength(_)
        ));
    }

    #[test]
    fn maps_other_statuses() {
        assert!(
            matches!(classify_status(401, r#"{"error":{"message":"bad key"}}"#), LlmError::Rejected(m) if m.contains("bad key"))
        );
        assert!(
            matches!(classify_status(404, "no such model"), LlmError::Rejected(m) if m.contains("404"))
        );
        assert!(
            matches!(classify_status(400, r#"{"error":"invalid grammar"}"#), LlmError::Rejected(m) if m.contains("invalid grammar"))
        );
        assert!(matches!(
            classify_status(503, "loading model"),
            LlmError::Unavailable(_)
        ));
        assert!(matches!(
            classify_status(429, "slow down"),
            LlmError::Unavailable(_)
        ));
        assert!(is_retryable(500) && is_retryable(429) && !is_retryable(400) && !is_retryable(404));
    }

    #[test]
    fn maps_errors_inside_the_stream() {
        let e = json!({"code": 400, "message": "context size exceeded", "type": "exceed_context_size_error"});
        assert!(matches!(
            classify_stream_error(&e),
            LlmError::ContextLength(_)
        ));
        let e = json!({"message": "oops"});
        assert!(
            matches!(classify_stream_error(&e), LlmError::Unavailable(m) if m.contains("oops"))
        );
    }

    #[test]
    fn long_error_bodies_are_cut() {
        let body = "é".repeat(400);
        let msg = error_message(&body);
        assert!(msg.len() <= 504 && msg.ends_with('…'));
    }
}
