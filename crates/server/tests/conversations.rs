//! `/v1/conversations` in-process: the router answers requests directly (no socket), over a
//! real sandboxed backend, a real SQLite history file and a scripted model whose replies
//! depend on what it is asked. The wire shapes are read back as the protocol's types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request};
use axum::Router;
use codeact_agent::AgentConfig;
use codeact_exec::local::LocalBackend;
use codeact_exec::SessionManager;
use codeact_llm::testing::{ScriptedLlm, Step};
use codeact_protocol::history::{
    Author, ConversationDetail, ConversationEvent, ConversationList, ConversationSummary,
    MessageStatus, ReplayReport,
};
use codeact_protocol::AgentEvent;
use codeact_server::history::History;
use codeact_server::ServerConfig;
use codeact_server::{AgentService, ApiKeys};
use common::{quick_config, unique};
use futures::StreamExt;
use serde_json::{json, Value};
use tower::ServiceExt;

/// A model that answers "compute N" with code that adds N to the numbers this session has
/// seen, "sleep" with a cell that sleeps, and anything else (an observation) by quoting it.
fn model() -> Arc<ScriptedLlm> {
    Arc::new(ScriptedLlm::responding(|req| {
        let last = req.messages.last().map(|m| m.content.trim().to_string());
        let last = last.unwrap_or_default();
        // A note of the loop's may come before the user's words.
        let asked = last.lines().last().unwrap_or("");
        Step::Reply(if let Some(n) = asked.strip_prefix("compute ") {
            format!(
                "Computing.\n<execute>\nseen = globals().get('seen', []) + [{n}]\nprint('seen', seen)\n</execute>"
            )
        } else if last == "sleep" {
            "<execute>\nimport time\ntime.sleep(60)\n</execute>".to_string()
        } else {
            format!("Result: {last}")
        })
    }))
}

struct App {
    router: Router,
    sessions: Arc<SessionManager>,
    llm: Arc<ScriptedLlm>,
    /// The history file's directory, when the app made it.
    _dir: Option<tempfile::TempDir>,
}

impl App {
    async fn new(keys: &[(&str, &str)], history: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite3");
        let app = Self::open(keys, history.then_some(path.as_path())).await;
        Self {
            _dir: Some(dir),
            ..app
        }
    }

    /// A server over the history file `history` (none: a server that keeps no history).
    async fn open(keys: &[(&str, &str)], history: Option<&std::path::Path>) -> Self {
        let cfg = quick_config();
        let backend = LocalBackend::new(&cfg).await.expect("local backend");
        let sessions = SessionManager::new(Arc::new(backend), cfg);
        let llm = model();
        let mut service = AgentService::new(
            llm.clone(),
            sessions.clone(),
            AgentConfig::default(),
            "codeact",
            "x-conversation-id",
        );
        if let Some(path) = history {
            service = service.with_history(History::open_sqlite(path).await.unwrap());
        }
        let config = ServerConfig {
            api_keys: ApiKeys::new(keys.iter().map(|(u, k)| (u.to_string(), k.to_string())))
                .unwrap(),
            ..ServerConfig::default()
        };
        let router = codeact_server::app(sessions.clone(), config, Some(Arc::new(service)));
        Self {
            router,
            sessions,
            llm,
            _dir: None,
        }
    }

    async fn response(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> axum::response::Response {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap()
    }

    /// Status and body (JSON, or `Value::Null`).
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let r = self.response(method, path, key, body).await;
        let status = r.status().as_u16();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn create(&self, key: Option<&str>) -> String {
        let (status, body) = self
            .call(Method::POST, "/v1/conversations", key, Some(json!({})))
            .await;
        assert_eq!(status, 201, "{body}");
        serde_json::from_value::<ConversationSummary>(body)
            .unwrap()
            .id
    }

    async fn detail(&self, id: &str) -> ConversationDetail {
        let (status, body) = self
            .call(Method::GET, &format!("/v1/conversations/{id}"), None, None)
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// Posts to a streaming endpoint and reads the whole SSE answer.
    async fn stream(&self, path: &str, body: Value) -> Vec<ConversationEvent> {
        let r = self.response(Method::POST, path, None, Some(body)).await;
        assert_eq!(r.status(), 200);
        events(r).await
    }

    async fn send(&self, id: &str, content: &str) -> Vec<ConversationEvent> {
        self.stream(
            &format!("/v1/conversations/{id}/messages"),
            json!({ "content": content }),
        )
        .await
    }
}

async fn events(r: axum::response::Response) -> Vec<ConversationEvent> {
    let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .unwrap();
    parse_events(std::str::from_utf8(&bytes).unwrap())
}

/// The events of an SSE body.
fn parse_events(sse: &str) -> Vec<ConversationEvent> {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

/// The reply at the end of a stream, which must end with `done`.
fn reply(events: &[ConversationEvent]) -> &codeact_protocol::history::StoredMessage {
    match events.last() {
        Some(ConversationEvent::Done { message }) => message,
        other => panic!("the stream ends with {other:?}"),
    }
}

/// The text of the observations in a reply's steps.
fn observed(steps: &[AgentEvent]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Observation { result, .. } => Some(result.text()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_is_streamed_stored_searched_renamed_and_deleted() {
    let app = App::new(&[], true).await;
    let id = app.create(None).await;
    let events = app.send(&id, "compute 21").await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            ConversationEvent::UserMessage { .. } => "user_message",
            ConversationEvent::ReplyStarted { .. } => "reply_started",
            ConversationEvent::Replayed { .. } => "replayed",
            ConversationEvent::Agent { .. } => "agent",
            ConversationEvent::Done { .. } => "done",
        })
        .collect();
    assert_eq!(kinds[..2], ["user_message", "reply_started"], "{kinds:?}");
    let done = reply(&events);
    assert_eq!(done.status, MessageStatus::Done);
    assert_eq!(observed(&done.steps), ["seen [21]\n"]);
    assert!(done.content.contains("seen [21]"), "{done:?}");

    // Stored as streamed: the title comes from the first message.
    let d = app.detail(&id).await;
    assert_eq!(d.summary.title, "compute 21");
    assert_eq!(d.messages.len(), 2);
    assert_eq!(d.messages[1], *done);
    assert_eq!(d.head.as_deref(), Some(done.id.as_str()));
    assert!(d.live && !d.running, "{d:?}");
    assert_eq!(d.session_id, id);
    // The conversation's session is the caller's session of the same id.
    let (status, files) = app
        .call(Method::GET, &format!("/v1/sessions/{id}"), None, None)
        .await;
    assert_eq!(status, 200, "{files}");

    let list = |q: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app
                .call(Method::GET, &format!("/v1/conversations{q}"), None, None)
                .await;
            assert_eq!(status, 200, "{body}");
            serde_json::from_value::<ConversationList>(body)
                .unwrap()
                .data
        }
    };
    assert_eq!(list("").await.len(), 1);
    assert_eq!(
        list("?q=SEEN%20%5B21").await.len(),
        1,
        "message text is searched"
    );
    assert!(list("?q=nowhere").await.is_empty());

    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/conversations/{id}"),
            None,
            Some(json!({"title": "  Sums  "})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["title"], "Sums");

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/conversations/{id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .call(Method::GET, &format!("/v1/conversations/{id}"), None, None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    assert!(list("").await.is_empty());
    // Its session went with it (the pool's sandboxes are no sessions).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !app.sessions.list().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.sessions.list().is_empty(), "{:?}", app.sessions.list());
    app.sessions.shutdown().await;
}

/// An edit and a regeneration each make a new branch whose session holds only that branch's
/// state (the branch's code is replayed into a fresh session); `head` switches branches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_regenerations_branch_with_their_own_state() {
    let app = App::new(&[], true).await;
    let id = app.create(None).await;
    app.send(&id, "compute 1").await;
    let second = app.send(&id, "compute 2").await;
    assert_eq!(observed(&reply(&second).steps), ["seen [1, 2]\n"]);
    let d = app.detail(&id).await;
    let (asked_2, answered_2) = (d.messages[2].id.clone(), d.messages[3].id.clone());

    // Edit "compute 2" into "compute 5": the abandoned 2 is not in the new branch's state.
    let edited = app
        .stream(
            &format!("/v1/conversations/{id}/messages"),
            json!({"content": "compute 5", "edit": asked_2}),
        )
        .await;
    assert!(
        edited.iter().any(|e| matches!(
            e,
            ConversationEvent::Replayed {
                actions: 1,
                failed: 0
            }
        )),
        "{edited:?}"
    );
    assert_eq!(
        observed(&reply(&edited).steps),
        ["seen [1, 5]\n"],
        "{:#?}",
        reply(&edited)
    );
    let d = app.detail(&id).await;
    let texts: Vec<&str> = d.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts[..3], ["compute 1", texts[1], "compute 5"]);
    assert_eq!(
        d.messages[2].siblings,
        [asked_2.clone(), d.messages[2].id.clone()]
    );

    // Regenerate the reply to "compute 5": a sibling reply, from the same state.
    let again = app
        .stream(
            &format!("/v1/conversations/{id}/regenerate"),
            json!({"message_id": d.messages[2].id}),
        )
        .await;
    assert!(
        !again
            .iter()
            .any(|e| matches!(e, ConversationEvent::UserMessage { .. })),
        "a regeneration sends no user message"
    );
    assert_eq!(observed(&reply(&again).steps), ["seen [1, 5]\n"]);
    assert_eq!(app.detail(&id).await.messages[3].siblings.len(), 2);

    // Back to the first branch: shown again, and its state is rebuilt on the next message.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/conversations/{id}"),
            None,
            Some(json!({"head": answered_2})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let d: ConversationDetail = serde_json::from_value(body).unwrap();
    assert_eq!(d.messages[2].content, "compute 2");
    assert!(!d.live, "the session holds the other branch");
    let third = app.send(&id, "compute 3").await;
    assert_eq!(observed(&reply(&third).steps), ["seen [1, 2, 3]\n"]);

    // Replay on request: the branch's three actions again, in a fresh session.
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/v1/conversations/{id}/replay"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let report: ReplayReport = serde_json::from_value(body).unwrap();
    assert_eq!((report.actions, report.failed), (3, 0));
    app.sessions.shutdown().await;
}

/// A branch whose first reply a crash cut off (stored without its transcript) is rebuilt,
/// after the next reply and a restart, with one system prompt and each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_off_by_a_crash_leaves_a_clean_context() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite3");
    let store = History::open_sqlite(&path).await.unwrap();
    let conv = store.create("", "", "scripted").await.unwrap();
    let asked = store
        .add_message(
            &conv.id,
            None,
            Author::User,
            "compute 1",
            MessageStatus::Done,
        )
        .await
        .unwrap();
    let cut = store
        .add_message(
            &conv.id,
            Some(&asked.id),
            Author::Assistant,
            "",
            MessageStatus::Running,
        )
        .await
        .unwrap();
    store
        .finish_message(&cut.id, "", MessageStatus::Interrupted, &[])
        .await
        .unwrap();
    drop(store);

    let app = App::open(&[], Some(&path)).await;
    let second = app.send(&conv.id, "compute 2").await;
    assert_eq!(observed(&reply(&second).steps), ["seen [2]\n"]);
    app.sessions.shutdown().await;
    drop(app);

    // After a restart the branch is rebuilt from what was stored.
    let app = App::open(&[], Some(&path)).await;
    app.send(&conv.id, "compute 3").await;
    let request = &app.llm.requests()[0];
    let count = |text: &str| {
        request
            .messages
            .iter()
            .filter(|m| m.content.lines().last() == Some(text))
            .count()
    };
    let systems = request
        .messages
        .iter()
        .filter(|m| m.role == codeact_protocol::Role::System)
        .count();
    assert_eq!(
        (
            systems,
            count("compute 1"),
            count("compute 2"),
            count("compute 3")
        ),
        (1, 1, 1, 1),
        "{:#?}",
        request.messages
    );
    assert_eq!(request.messages[0].role, codeact_protocol::Role::System);
    app.sessions.shutdown().await;
}

/// Requests that cannot be honoured get the API's error envelope and store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_store_nothing() {
    let app = App::new(&[], true).await;
    let id = app.create(None).await;
    app.send(&id, "compute 4").await;
    let before = app.detail(&id).await;
    let (user, assistant) = (&before.messages[0].id, &before.messages[1].id);
    assert_eq!(before.messages[0].author, Author::User);
    let messages = format!("/v1/conversations/{id}/messages");
    let cases: Vec<(Method, String, Option<Value>, u16)> = vec![
        (
            Method::POST,
            messages.clone(),
            Some(json!({"content": "   "})),
            400,
        ),
        (
            Method::POST,
            messages.clone(),
            Some(json!({"text": "hi"})),
            400,
        ),
        (
            Method::POST,
            messages.clone(),
            Some(json!({"content": "x", "edit": assistant})),
            400,
        ),
        (
            Method::POST,
            messages.clone(),
            Some(json!({"content": "x", "edit": "nope"})),
            400,
        ),
        (
            Method::POST,
            format!("/v1/conversations/{id}/regenerate"),
            Some(json!({"message_id": assistant})),
            400,
        ),
        (
            Method::PATCH,
            format!("/v1/conversations/{id}"),
            Some(json!({"head": "nope"})),
            400,
        ),
        (
            Method::POST,
            "/v1/conversations".into(),
            Some(json!({"name": 1})),
            400,
        ),
        (Method::GET, "/v1/conversations/nope".into(), None, 404),
        (Method::DELETE, "/v1/conversations/nope".into(), None, 404),
        (
            Method::POST,
            "/v1/conversations/nope/stop".into(),
            None,
            404,
        ),
        (
            Method::POST,
            "/v1/conversations/nope/replay".into(),
            None,
            404,
        ),
        (
            Method::POST,
            "/v1/conversations/nope/messages".into(),
            Some(json!({"content": "hi"})),
            404,
        ),
    ];
    for (method, path, body, want) in cases {
        let (status, answer) = app.call(method.clone(), &path, None, body.clone()).await;
        assert_eq!(status, want, "{method} {path} {body:?}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{method} {path}: {answer}"
        );
    }
    // Nothing was added, and a stop with nothing running is no error.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/conversations/{id}/stop"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let after = app.detail(&id).await;
    assert_eq!(after.messages, before.messages);
    assert_eq!(after.head, before.head);
    assert_eq!(after.messages[0].id, *user);

    // A server that keeps no history says so on every conversation route.
    let bare = App::new(&[], false).await;
    let (status, body) = bare
        .call(Method::GET, "/v1/conversations", None, None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no history"),
        "{body}"
    );
    app.sessions.shutdown().await;
    bare.sessions.shutdown().await;
}

/// One reply at a time per conversation; Stop interrupts the running cell and the reply is
/// stored as stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_reply_is_the_only_one_and_stops() {
    let app = Arc::new(App::new(&[], true).await);
    let id = app.create(None).await;
    let r = app
        .response(
            Method::POST,
            &format!("/v1/conversations/{id}/messages"),
            None,
            Some(json!({"content": "sleep"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Read the stream as it comes; the cell has started once its code action is out.
    let mut body = r.into_body().into_data_stream();
    let mut seen = String::new();
    while !seen.contains("\"code_action\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), body.next())
            .await
            .expect("the code action in time")
            .expect("the stream goes on")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(app.detail(&id).await.running);
    for (path, body) in [
        ("messages", json!({"content": "compute 1"})),
        ("replay", json!({})),
    ] {
        let (status, answer) = app
            .call(
                Method::POST,
                &format!("/v1/conversations/{id}/{path}"),
                None,
                Some(body),
            )
            .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (409, Some("session_busy")),
            "{path}: {answer}"
        );
    }
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/conversations/{id}/stop"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let rest: Vec<_> = tokio::time::timeout(Duration::from_secs(30), body.collect::<Vec<_>>())
        .await
        .expect("the stream ends after a stop");
    for chunk in rest {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let events = parse_events(&seen);
    assert_eq!(reply(&events).status, MessageStatus::Stopped);
    let d = app.detail(&id).await;
    assert!(!d.running);
    assert_eq!(d.messages[1].status, MessageStatus::Stopped);
    // The session is usable again at once.
    let after = app.send(&id, "compute 7").await;
    assert_eq!(observed(&reply(&after).steps), ["seen [7]\n"]);
    app.sessions.shutdown().await;
}

/// With API keys, each user's conversations are their own on every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_never_reach_each_others_conversations() {
    let (alice, bob) = (unique("alice-key-"), unique("bob-key-"));
    let app = App::new(&[("alice", &alice), ("bob", &bob)], true).await;
    let id = app.create(Some(&alice)).await;
    let (status, _) = app.call(Method::GET, "/v1/conversations", None, None).await;
    assert_eq!(status, 401);
    let paths: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/conversations/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/conversations/{id}"),
            Some(json!({"title": "x"})),
        ),
        (
            Method::POST,
            format!("/v1/conversations/{id}/messages"),
            Some(json!({"content": "hi"})),
        ),
        (
            Method::POST,
            format!("/v1/conversations/{id}/regenerate"),
            Some(json!({"message_id": "m"})),
        ),
        (Method::POST, format!("/v1/conversations/{id}/stop"), None),
        (Method::POST, format!("/v1/conversations/{id}/replay"), None),
        (Method::DELETE, format!("/v1/conversations/{id}"), None),
    ];
    for (method, path, body) in paths {
        let (status, answer) = app.call(method.clone(), &path, Some(&bob), body).await;
        assert_eq!(status, 404, "bob: {method} {path}: {answer}");
    }
    let (_, list) = app
        .call(Method::GET, "/v1/conversations", Some(&bob), None)
        .await;
    assert_eq!(list["data"], json!([]));
    let (status, mine) = app
        .call(
            Method::GET,
            &format!("/v1/conversations/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(mine["title"], "", "untouched by bob's requests");
    assert!(mine["messages"].as_array().unwrap().is_empty());
    app.sessions.shutdown().await;
}
