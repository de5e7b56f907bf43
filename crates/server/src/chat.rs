//! `POST /v1/chat/completions` and `GET /v1/models`: the CodeAct agent as an OpenAI model.
//! The server runs the whole loop for each request and answers with what chat UIs render:
//! every executed action as a collapsible `<details type="code_interpreter">` block (Open
//! WebUI's format: the code in the body, the output as an HTML-escaped JSON `output`
//! attribute) followed by its figures as inline images, the thoughts that preceded actions as
//! `reasoning_content`, and the agent's reply as `content`. Actions that already ran are never
//! sent as `tool_calls`, which clients would run again.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use codeact_protocol::openai::{
    AssistantMessage, ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage,
    Choice, ChunkChoice, Delta, FinishReason, ModelCard, ModelList,
};
use codeact_protocol::{AgentEvent, EndReason, ErrorCode, ExecResult, Output, StreamName};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::agents::{AgentService, OPEN_WEBUI_CHAT_ID};
use crate::auth::Caller;
use crate::routes::ApiJson;
use crate::{ApiError, AppState};

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn service(s: &AppState) -> Result<&AgentService, ApiError> {
    s.agent.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "this server offers no agent: start it with `codeact serve --agent`",
        )
    })
}

pub async fn models(State(s): State<AppState>) -> Result<Json<ModelList>, ApiError> {
    let service = service(&s)?;
    Ok(Json(ModelList {
        object: "list".into(),
        data: vec![ModelCard {
            id: service.model.clone(),
            object: "model".into(),
            created: 0,
            owned_by: "codeact".into(),
        }],
    }))
}

pub async fn completions(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let service = service(&s)?;
    if req.model != service.model {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "no model {:?} here: this server's agent is {:?}",
                req.model, service.model
            ),
        ));
    }
    let key = [OPEN_WEBUI_CHAT_ID, service.conversation_header.as_str()]
        .iter()
        .find_map(|h| headers.get(*h)?.to_str().ok())
        .filter(|k| !k.is_empty())
        // One user's conversation id never reaches another's conversation.
        .map(|k| caller.scope(k));
    // A bad request is refused before it takes a run slot or a conversation.
    let last = last_user(&req.messages)?;
    let slot = s.runs.start(caller.user(), s.config.max_runs_per_user)?;
    let (agent, fresh) = service.agent(key.as_deref())?;
    let message = user_message(&req.messages, last, fresh);
    let mut run = agent.send(message);
    // The server's stop cancels the run once its grace period is over; the run's own end
    // (its drop cancels its token) ends the watch.
    s.runs.cancel_on_stop(run.cancel_token());
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let (created, model) = (unix_now(), req.model.clone());
    // A conversation nobody names ends with its request.
    let closer = key.is_none().then(|| agent.clone());
    if !req.stream {
        let mut r = Renderer::default();
        let (mut content, mut reasoning) = (String::new(), String::new());
        let mut turn = None;
        while let Some(ev) = run.next_event().await {
            s.metrics.agent_event(&ev, &mut turn);
            for piece in r.event(&ev) {
                match piece {
                    Piece::Reasoning(t) => reasoning.push_str(&t),
                    Piece::Content(t) => content.push_str(&t),
                }
            }
        }
        if let Some(a) = closer {
            a.close().await;
        }
        drop(slot);
        let answer = ChatCompletion {
            id,
            object: "chat.completion".into(),
            created,
            model,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant".into(),
                    content: content.trim().to_string(),
                    reasoning_content: (!reasoning.is_empty()).then(|| reasoning.trim().into()),
                },
                finish_reason: r.finish,
            }],
        };
        return Ok(Json(answer).into_response());
    }
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let chunk = move |delta: Delta, finish: Option<FinishReason>| {
        serde_json::to_string(&ChatCompletionChunk {
            id: id.clone(),
            object: "chat.completion.chunk".into(),
            created,
            model: model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish,
            }],
        })
        .unwrap_or_default()
    };
    let metrics = s.metrics.clone();
    tokio::spawn(async move {
        let mut r = Renderer::default();
        let mut turn = None;
        let role = Delta {
            role: Some("assistant".into()),
            ..Delta::default()
        };
        let mut open = tx.send(chunk(role, None)).is_ok();
        while open {
            let Some(ev) = run.next_event().await else {
                break;
            };
            metrics.agent_event(&ev, &mut turn);
            for piece in r.event(&ev) {
                let delta = match piece {
                    Piece::Reasoning(t) => Delta {
                        reasoning_content: Some(t),
                        ..Delta::default()
                    },
                    Piece::Content(t) => Delta {
                        content: Some(t),
                        ..Delta::default()
                    },
                };
                // The client went away: dropping the run cancels it.
                open = open && tx.send(chunk(delta, None)).is_ok();
            }
        }
        if open {
            let _ = tx.send(chunk(Delta::default(), Some(r.finish)));
            let _ = tx.send("[DONE]".into());
        }
        drop(run);
        if let Some(a) = closer {
            a.close().await;
        }
        drop(slot);
    });
    let events = UnboundedReceiverStream::new(rx)
        .map(|data| Ok::<_, Infallible>(Event::default().data(data)));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Where the request's last user message is.
fn last_user(messages: &[ChatMessage]) -> Result<usize, ApiError> {
    messages
        .iter()
        .rposition(|m| m.role == "user")
        .ok_or_else(|| ApiError::bad_request("the request has no user message"))
}

/// What the agent is sent: the user message at `last`, after the earlier turns the client
/// replays when the server has no live conversation for them (a new conversation id, or
/// none): the agent reads them as context, their code is not run again.
fn user_message(messages: &[ChatMessage], last: usize, fresh: bool) -> String {
    let text = messages[last].text();
    let earlier: Vec<String> = messages[..last]
        .iter()
        .filter(|m| matches!(m.role.as_str(), "user" | "assistant"))
        .map(|m| format!("{}: {}", m.role, m.text().trim()))
        .collect();
    if !fresh || earlier.is_empty() {
        return text;
    }
    format!(
        "Earlier in this conversation (its code was not run in this session):\n{}\n\n{}",
        earlier.join("\n"),
        text
    )
}

/// A piece of the answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Reasoning(String),
    Content(String),
}

/// Turns the agent's events into the answer's pieces. A reply is held until the next event
/// says what it was: followed by an action it was a thought, ending the run it is the reply.
#[derive(Debug)]
pub(crate) struct Renderer {
    pending: Option<String>,
    code: Option<String>,
    pub finish: FinishReason,
}

impl Default for Renderer {
    fn default() -> Self {
        Self {
            pending: None,
            code: None,
            finish: FinishReason::Stop,
        }
    }
}

impl Renderer {
    pub fn event(&mut self, ev: &AgentEvent) -> Vec<Piece> {
        let mut out = Vec::new();
        match ev {
            AgentEvent::AssistantMessage { text } => {
                if let Some(p) = self.pending.replace(text.clone()) {
                    out.push(Piece::Content(p));
                }
            }
            AgentEvent::ReplyDiscarded { .. } => self.pending = None,
            AgentEvent::CodeAction { code, .. } => {
                if let Some(reply) = self.pending.take() {
                    let thought = thought(&reply);
                    if !thought.is_empty() {
                        out.push(Piece::Reasoning(format!("{thought}\n")));
                    }
                }
                self.code = Some(code.clone());
            }
            AgentEvent::Observation { result, .. } => {
                let code = self.code.take().unwrap_or_default();
                out.push(Piece::Content(code_block(&code, result)));
            }
            AgentEvent::Error { message, .. } => {
                out.push(Piece::Content(format!("\n> codeact: {message}\n\n")));
            }
            AgentEvent::End { reason } => {
                if let Some(reply) = self.pending.take() {
                    out.push(Piece::Content(reply));
                }
                if *reason == EndReason::Cancelled {
                    out.push(Piece::Content(
                        "\n> codeact: the run was stopped (the server is stopping, or the client left).\n"
                            .into(),
                    ));
                }
                self.finish = match reason {
                    EndReason::MaxTurns | EndReason::MaxExecutions | EndReason::ContextLength => {
                        FinishReason::Length
                    }
                    _ => FinishReason::Stop,
                };
            }
            _ => {}
        }
        out
    }
}

/// What a reply that acts says before its action: its text up to the first `<execute>` tag
/// (any case) or fenced block, without `<thought>` tags.
fn thought(reply: &str) -> String {
    let lower = reply.to_ascii_lowercase();
    let end = [lower.find("<execute"), lower.find("```")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(reply.len());
    reply[..end]
        .replace("<thought>", "")
        .replace("</thought>", "")
        .trim()
        .to_string()
}

/// An executed action as Open WebUI's code-interpreter block, then its figures.
pub(crate) fn code_block(code: &str, result: &ExecResult) -> String {
    let (mut stdout, mut stderr, mut value) = (String::new(), String::new(), String::new());
    let mut figures = String::new();
    for o in &result.outputs {
        match o {
            Output::Stream {
                name: StreamName::Stdout,
                text,
            } => stdout.push_str(text),
            Output::Stream {
                name: StreamName::Stderr,
                text,
            } => stderr.push_str(text),
            Output::Error {
                ename,
                evalue,
                traceback,
            } => {
                if traceback.is_empty() {
                    stderr.push_str(&format!("{ename}: {evalue}\n"));
                } else {
                    stderr.push_str(&traceback.concat());
                }
            }
            Output::Result { data, .. } | Output::Display { data, .. } => {
                if let Some(png) = data.text("image/png") {
                    figures.push_str(&format!("\n![figure](data:image/png;base64,{png})\n"));
                } else if let (Output::Result { .. }, Some(t)) = (o, data.text("text/plain")) {
                    value.push_str(t);
                }
            }
        }
    }
    let mut output = serde_json::Map::new();
    for (k, v) in [("stdout", stdout), ("stderr", stderr), ("result", value)] {
        if !v.is_empty() {
            output.insert(k.into(), v.into());
        }
    }
    let output = serde_json::Value::Object(output).to_string();
    format!(
        "\n<details type=\"code_interpreter\" done=\"true\" output=\"{}\">\n<summary>Analyzed</summary>\n\n```python\n{}\n```\n</details>\n{figures}",
        html_escape(&output),
        code.trim_end()
    )
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use codeact_protocol::{ActionOrigin, ExecStatus, MimeBundle};

    fn result(outputs: Vec<Output>) -> ExecResult {
        ExecResult {
            status: ExecStatus::Ok,
            outputs,
            duration_ms: 1.0,
            new_session: false,
            notice: None,
        }
    }

    #[test]
    fn thoughts_actions_and_the_reply_become_reasoning_blocks_and_content() {
        let mut r = Renderer::default();
        let events = [
            AgentEvent::AssistantMessage {
                text: "I will add.\n<execute>\nprint(1 + 1)\n</execute>".into(),
            },
            AgentEvent::CodeAction {
                code: "print(1 + 1)".into(),
                origin: ActionOrigin::ExecuteTag,
            },
            AgentEvent::Observation {
                text: "2".into(),
                result: result(vec![Output::Stream {
                    name: StreamName::Stdout,
                    text: "2\n".into(),
                }]),
                images: vec![],
            },
            AgentEvent::AssistantMessage {
                text: "It is <2>.".into(),
            },
            AgentEvent::End {
                reason: EndReason::Reply,
            },
        ];
        let pieces: Vec<Piece> = events.iter().flat_map(|e| r.event(e)).collect();
        assert_eq!(pieces[0], Piece::Reasoning("I will add.\n".into()));
        let Piece::Content(block) = &pieces[1] else {
            panic!("{pieces:?}")
        };
        assert!(block.contains("<details type=\"code_interpreter\" done=\"true\" output=\"{&quot;stdout&quot;:&quot;2\\n&quot;}\">"), "{block}");
        assert!(
            block.contains("```python\nprint(1 + 1)\n```\n</details>"),
            "{block}"
        );
        assert_eq!(pieces[2], Piece::Content("It is <2>.".into()));
        assert_eq!(r.finish, FinishReason::Stop);
    }

    #[test]
    fn figures_follow_the_block_and_errors_go_to_stderr() {
        let out = code_block(
            "plot()",
            &result(vec![
                Output::display(MimeBundle::new().with("image/png", "iVBOR")),
                Output::Error {
                    ename: "ValueError".into(),
                    evalue: "bad".into(),
                    traceback: vec![],
                },
            ]),
        );
        assert!(
            out.contains("&quot;stderr&quot;:&quot;ValueError: bad\\n&quot;"),
            "{out}"
        );
        assert!(
            out.ends_with("![figure](data:image/png;base64,iVBOR)\n"),
            "{out}"
        );
    }

    #[test]
    fn replayed_turns_are_context_of_a_new_conversation_only() {
        let m = |role: &str, text: &str| ChatMessage {
            role: role.into(),
            content: Some(codeact_protocol::openai::ChatContent::Text(text.into())),
        };
        let msgs = vec![
            m("system", "s"),
            m("user", "a"),
            m("assistant", "b"),
            m("user", "c"),
        ];
        let last = last_user(&msgs).unwrap();
        assert_eq!(user_message(&msgs, last, false), "c");
        let fresh = user_message(&msgs, last, true);
        assert!(fresh.ends_with("user: a\nassistant: b\n\nc"), "{fresh}");
        assert!(last_user(&msgs[..1]).is_err());
    }
}
