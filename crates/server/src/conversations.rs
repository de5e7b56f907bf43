//! `/v1/conversations`: conversations kept in the history store, each with its own agent and
//! Python session (`{user}.{conversation id}` in the engine, so its files are the caller's
//! `/v1/sessions/{conversation id}/files`). A reply streams over SSE as
//! [`ConversationEvent`]s; every step is stored before it is sent, and the reply goes on if
//! the client goes away (a reload finds it running, then done).
//!
//! Editing a message or regenerating a reply starts a new branch; the agent is rebuilt at the
//! branch's point by replaying that branch's code into a fresh session, so abandoned branches
//! leave nothing behind. After a restart no session holds a conversation's state: `live` says
//! so, and `POST …/replay` rebuilds it.

use std::convert::Infallible;

use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use codeact_agent::{Agent, Conversation, Mode};
use codeact_protocol::history::{
    Author, ConversationDetail, ConversationEvent, ConversationList, ConversationSummary,
    CreateConversation, MessageStatus, Regenerate, ReplayReport, SendMessage, StoredMessage,
    UpdateConversation,
};
use codeact_protocol::{AgentEvent, EndReason, ErrorCode, Message, Role};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::agents::{AgentService, Kept};
use crate::auth::Caller;
use crate::history::{branch, descend, ConversationRow, History, HistoryError, MessageRow};
use crate::routes::ApiJson;
use crate::{ApiError, AppState};

/// Longest title taken from a first message, in characters.
const TITLE_CHARS: usize = 60;

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        tracing::error!("{e}");
        ApiError::new(ErrorCode::Internal, e.to_string())
    }
}

fn parts(s: &AppState) -> Result<(&AgentService, &History), ApiError> {
    let service = crate::chat::service(s)?;
    let history = service.history().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "this server keeps no conversations (no history store)",
        )
    })?;
    Ok((service, history))
}

async fn owned(history: &History, caller: &Caller, id: &str) -> Result<ConversationRow, ApiError> {
    history
        .get(caller.user(), id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no conversation {id}")))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Only conversations whose title or messages contain this.
    q: Option<String>,
}

pub async fn list(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ConversationList>, ApiError> {
    let (_, history) = parts(&s)?;
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    Ok(Json(ConversationList {
        data: history.list(caller.user(), q).await?,
    }))
}

pub async fn create(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CreateConversation>,
) -> Result<(StatusCode, Json<ConversationSummary>), ApiError> {
    let (service, history) = parts(&s)?;
    let title = req.title.as_deref().map(str::trim).unwrap_or("");
    let summary = history
        .create(caller.user(), title, &service.llm_name())
        .await?;
    Ok((StatusCode::CREATED, Json(summary)))
}

pub async fn get(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let (service, history) = parts(&s)?;
    let row = owned(history, &caller, &id).await?;
    Ok(Json(detail(&s, service, history, &caller, row).await?))
}

async fn detail(
    s: &AppState,
    service: &AgentService,
    history: &History,
    caller: &Caller,
    row: ConversationRow,
) -> Result<ConversationDetail, ApiError> {
    let all = history.messages(&row.summary.id).await?;
    let shown = branch(&all, row.head.as_deref());
    let head = shown.last().map(|m| m.message.id.clone());
    let key = caller.scope(&row.summary.id);
    Ok(ConversationDetail {
        live: service.is_live(&key, head.as_deref()),
        running: s.replies.is_running(&row.summary.id),
        session_id: row.summary.id.clone(),
        summary: row.summary,
        head,
        messages: shown.into_iter().map(|m| m.message).collect(),
    })
}

pub async fn update(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateConversation>,
) -> Result<Json<ConversationDetail>, ApiError> {
    let (service, history) = parts(&s)?;
    owned(history, &caller, &id).await?;
    if let Some(title) = &req.title {
        history.rename(&id, title.trim()).await?;
    }
    if let Some(at) = &req.head {
        let all = history.messages(&id).await?;
        let head = descend(&all, Some(at))
            .ok_or_else(|| ApiError::bad_request(format!("no message {at} in {id}")))?;
        history.set_head(&id, &head).await?;
    }
    let row = owned(history, &caller, &id).await?;
    Ok(Json(detail(&s, service, history, &caller, row).await?))
}

pub async fn delete(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (service, history) = parts(&s)?;
    owned(history, &caller, &id).await?;
    s.replies.stop(&id);
    service.forget(&caller.scope(&id)).await;
    history.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn stop(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (_, history) = parts(&s)?;
    owned(history, &caller, &id).await?;
    Ok(if s.replies.stop(&id) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::NO_CONTENT
    })
}

/// `POST …/messages`: stores the user's message and streams the agent's reply.
pub async fn send(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SendMessage>,
) -> Result<Response, ApiError> {
    let (_, history) = parts(&s)?;
    let row = owned(history, &caller, &id).await?;
    let content = req.content.trim();
    if content.is_empty() {
        return Err(ApiError::bad_request("the message is empty"));
    }
    let guard = s.replies.begin(&id)?;
    let slot = s.runs.start(caller.user(), s.config.max_runs_per_user)?;
    let all = history.messages(&id).await?;
    // An edit goes beside the message it replaces; a new message follows the branch shown.
    let parent = match &req.edit {
        Some(edited) => {
            let m = find(&all, edited, &id)?;
            if m.message.author != Author::User {
                return Err(ApiError::bad_request("only a user message can be edited"));
            }
            m.message.parent_id.clone()
        }
        None => branch(&all, row.head.as_deref())
            .last()
            .map(|m| m.message.id.clone()),
    };
    if row.summary.title.is_empty() {
        let title: String = content.chars().take(TITLE_CHARS).collect();
        history.rename(&id, title.trim()).await?;
    }
    let user = history
        .add_message(
            &id,
            parent.as_deref(),
            Author::User,
            content,
            MessageStatus::Done,
        )
        .await?;
    reply(s, caller, (guard, slot), id, all, user, true).await
}

/// `POST …/regenerate`: a new reply to a user message, beside the earlier ones.
pub async fn regenerate(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Regenerate>,
) -> Result<Response, ApiError> {
    let (_, history) = parts(&s)?;
    owned(history, &caller, &id).await?;
    let guard = s.replies.begin(&id)?;
    let slot = s.runs.start(caller.user(), s.config.max_runs_per_user)?;
    let all = history.messages(&id).await?;
    let user = find(&all, &req.message_id, &id)?.message.clone();
    if user.author != Author::User {
        return Err(ApiError::bad_request(
            "regenerate names the user message whose reply is made again",
        ));
    }
    reply(s, caller, (guard, slot), id, all, user, false).await
}

/// `POST …/replay`: the branch shown gets a fresh session with its code run again.
pub async fn replay(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ReplayReport>, ApiError> {
    let (service, history) = parts(&s)?;
    let row = owned(history, &caller, &id).await?;
    let _guard = s.replies.begin(&id)?;
    let path = branch(&history.messages(&id).await?, row.head.as_deref());
    let head = path.last().map(|m| m.message.id.clone());
    let key = caller.scope(&id);
    let (agent, _) = service
        .agent_at(&key, head.as_deref(), || {
            stored_conversation(service, &id, &key, &path)
        })
        .await?;
    let cells = code_of(&path);
    let failed = rebuild(&agent, &cells).await?;
    Ok(Json(ReplayReport {
        actions: cells.len() as u32,
        failed,
    }))
}

fn find<'a>(all: &'a [MessageRow], id: &str, conv: &str) -> Result<&'a MessageRow, ApiError> {
    all.iter()
        .find(|m| m.message.id == id)
        .ok_or_else(|| ApiError::bad_request(format!("no message {id} in {conv}")))
}

async fn rebuild(agent: &Agent, cells: &[String]) -> Result<u32, ApiError> {
    agent.rebuild_session(cells).await.map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("rebuilding the session failed: {e}"),
        )
    })
}

/// The code actions of a branch, in order.
fn code_of(path: &[MessageRow]) -> Vec<String> {
    path.iter()
        .flat_map(|m| &m.message.steps)
        .filter_map(|e| match e {
            AgentEvent::CodeAction { code, .. } => Some(code.clone()),
            _ => None,
        })
        .collect()
}

/// What the model saw on a branch: its replies' transcripts in order. A reply cut short by a
/// restart has none; its user message and its steps' texts stand in for it.
fn transcript_of(path: &[MessageRow]) -> Vec<Message> {
    let mut out = Vec::new();
    for (i, m) in path.iter().enumerate() {
        if m.message.author != Author::Assistant {
            continue;
        }
        if !m.transcript.is_empty() {
            out.extend(m.transcript.iter().cloned());
            continue;
        }
        if let Some(user) = i.checked_sub(1).and_then(|p| path.get(p)) {
            out.push(Message::user(user.message.content.clone()));
        }
        for step in &m.message.steps {
            match step {
                AgentEvent::AssistantMessage { text } => out.push(Message::assistant(text.clone())),
                AgentEvent::Observation { text, .. } => out.push(Message::user(text.clone())),
                _ => {}
            }
        }
    }
    out
}

fn stored_conversation(
    service: &AgentService,
    id: &str,
    session: &str,
    path: &[MessageRow],
) -> Conversation {
    let mut c = Conversation::new(service.llm_name(), Mode::Chat, Some(session.to_string()));
    c.id = id.to_string();
    c.messages = transcript_of(path);
    c
}

/// Makes the reply to `user` and streams it, holding the conversation and a run slot of the
/// caller's (taken before anything was stored); `announce` sends the user's message first.
async fn reply(
    s: AppState,
    caller: Caller,
    (guard, slot): (crate::runs::ReplyGuard, crate::runs::RunSlot),
    conv: String,
    all: Vec<MessageRow>,
    user: StoredMessage,
    announce: bool,
) -> Result<Response, ApiError> {
    let (service, history) = parts(&s)?;
    let path = match user.parent_id.as_deref() {
        Some(parent) => branch(&all, Some(parent)),
        None => Vec::new(),
    };
    let at = path.last().map(|m| m.message.id.clone());
    let key = caller.scope(&conv);
    let (agent, kept) = service
        .agent_at(&key, at.as_deref(), || {
            stored_conversation(service, &conv, &key, &path)
        })
        .await?;
    let assistant = history
        .add_message(
            &conv,
            Some(&user.id),
            Author::Assistant,
            "",
            MessageStatus::Running,
        )
        .await?;
    // Another branch's state is in no session now: replay this one's code first.
    let cells = if kept == Kept::Elsewhere {
        code_of(&path)
    } else {
        Vec::new()
    };
    let (tx, rx) = mpsc::unbounded_channel::<ConversationEvent>();
    let (history, service) = (history.clone(), s.agent.clone());
    let (metrics, runs) = (s.metrics.clone(), s.runs.clone());
    tokio::spawn(async move {
        let send = |e: ConversationEvent| {
            let _ = tx.send(e);
        };
        if announce {
            send(ConversationEvent::UserMessage {
                message: user.clone(),
            });
        }
        send(ConversationEvent::ReplyStarted {
            message: assistant.clone(),
        });
        if !cells.is_empty() {
            match rebuild(&agent, &cells).await {
                Ok(failed) => send(ConversationEvent::Replayed {
                    actions: cells.len() as u32,
                    failed,
                }),
                Err(e) => tracing::warn!("{}", e.message),
            }
        }
        let (before, had_system) = {
            let c = agent.conversation().await;
            (
                c.messages.len(),
                c.messages.first().is_some_and(|m| m.role == Role::System),
            )
        };
        let mut run = agent.send(user.content.clone());
        runs.cancel_on_stop(run.cancel_token());
        crate::runs::cancel_when(guard.stop.clone(), run.cancel_token());
        let (mut steps, mut turn) = (Vec::new(), None);
        let (mut last_text, mut end) = (String::new(), EndReason::Error);
        while let Some(ev) = run.next_event().await {
            metrics.agent_event(&ev, &mut turn);
            match &ev {
                AgentEvent::TurnStarted { .. } | AgentEvent::AssistantDelta { .. } => {}
                _ => {
                    if let Err(e) = history
                        .add_step(&assistant.id, steps.len() as i64, &ev)
                        .await
                    {
                        tracing::error!("storing a step of {}: {e}", assistant.id);
                    }
                    steps.push(ev.clone());
                }
            }
            match &ev {
                AgentEvent::AssistantMessage { text } => last_text = text.clone(),
                AgentEvent::End { reason } => end = *reason,
                _ => {}
            }
            send(ConversationEvent::Agent { event: ev });
        }
        drop(run);
        let transcript = agent.conversation().await.messages;
        // A system prompt the run put in front (a branch rebuilt from a reply that a crash cut
        // off has none) is not this reply's: the branch gets it again whenever it is rebuilt,
        // and without this the reply would also keep a copy of the message before it.
        let front =
            usize::from(!had_system && transcript.first().is_some_and(|m| m.role == Role::System));
        let added = transcript.get(before + front..).unwrap_or_default();
        let status = if end == EndReason::Cancelled {
            MessageStatus::Stopped
        } else {
            MessageStatus::Done
        };
        let content = if end == EndReason::Reply {
            last_text
        } else {
            String::new()
        };
        if let Err(e) = history
            .finish_message(&assistant.id, &content, status, added)
            .await
        {
            tracing::error!("storing the end of {}: {e}", assistant.id);
        }
        if let Some(service) = service {
            service.moved(&key, &assistant.id);
        }
        send(ConversationEvent::Done {
            message: StoredMessage {
                content,
                status,
                steps,
                ..assistant
            },
        });
        drop(guard);
        drop(slot);
    });
    let events = UnboundedReceiverStream::new(rx).map(|e| {
        Ok::<_, Infallible>(Event::default().data(serde_json::to_string(&e).unwrap_or_default()))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}
