//! The handlers.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{DefaultBodyLimit, Extension, FromRequest, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use codeact_protocol::http::{
    CreateSessionRequest, ErrorEnvelope, ExecuteEvent, ExecuteRequest, Health, HealthStatus,
    SeedExecuteRequest, SeedExecuteResponse, SessionList,
};
use codeact_protocol::{ErrorCode, ExecResult, Output};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::auth::{self, Caller};
use crate::conversations;
use crate::runs::RunSlot;
use crate::{ApiError, AppState};

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(crate::webchat::page))
        .route("/health", get(health))
        .route("/healthz", get(health))
        .route("/metrics", get(crate::metrics::serve))
        .route("/openapi.json", get(openapi))
        .route("/execute", post(seed_execute))
        .route("/v1/sandbox", get(sandbox))
        .route("/v1/models", get(crate::chat::models))
        .route("/v1/chat/completions", post(crate::chat::completions))
        .route(
            "/v1/conversations",
            get(conversations::list).post(conversations::create),
        )
        .route(
            "/v1/conversations/{id}",
            get(conversations::get)
                .patch(conversations::update)
                .delete(conversations::delete),
        )
        .route("/v1/conversations/{id}/messages", post(conversations::send))
        .route(
            "/v1/conversations/{id}/regenerate",
            post(conversations::regenerate),
        )
        .route("/v1/conversations/{id}/stop", post(conversations::stop))
        .route("/v1/conversations/{id}/replay", post(conversations::replay))
        .route("/v1/sessions", get(list_sessions).post(create_session))
        .route("/v1/sessions/{id}", get(get_session).delete(delete_session))
        .route("/v1/sessions/{id}/execute", post(execute))
        .route("/v1/sessions/{id}/interrupt", post(interrupt))
        .route("/v1/sessions/{id}/restart", post(restart))
        .route("/v1/sessions/{id}/files", get(list_files))
        .route("/v1/sessions/{id}/files/{*path}", get(download).put(upload))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

/// `Json` whose rejections are answered in the API's own error format.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::BytesRejection(e)) => Err(body_error(e)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge, "request body too large")
    } else {
        ApiError::bad_request(e.body_text())
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this endpoint",
    )
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

/// The API described as OpenAPI 3.1 (`crates/server/api/openapi.json`).
const OPENAPI: &str = include_str!("../api/openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn health() -> Json<Health> {
    Json(Health {
        status: HealthStatus::Ok,
    })
}

async fn sandbox(State(s): State<AppState>) -> impl IntoResponse {
    Json(s.sessions.report())
}

/// Runs a cell on a task of its own, so that a client that hangs up does not abandon the
/// cell halfway and leave the session in an unknown state.
async fn run_detached(
    s: &AppState,
    slot: RunSlot,
    id: String,
    code: String,
    timeout: Option<Duration>,
    live: Option<mpsc::UnboundedSender<Output>>,
) -> Result<ExecResult, ApiError> {
    // Held until the cell has ended, even when the client hangs up.
    let _slot = slot;
    let sessions = s.sessions.clone();
    let task = tokio::spawn(async move { sessions.execute_with(&id, &code, timeout, live).await });
    match task.await {
        Ok(r) => {
            if let Ok(r) = &r {
                s.metrics.execution(r);
            }
            r.map_err(ApiError::from)
        }
        Err(e) => Err(ApiError::new(
            ErrorCode::Internal,
            format!("execution task failed: {e}"),
        )),
    }
}

async fn seed_execute(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<SeedExecuteRequest>,
) -> Result<Json<SeedExecuteResponse>, ApiError> {
    let slot = s.runs.start(caller.user(), s.config.max_runs_per_user)?;
    let r = run_detached(&s, slot, caller.scope(&req.convid), req.code, None, None).await?;
    Ok(Json(SeedExecuteResponse {
        result: r.text(),
        new_kernel_created: r.new_session,
    }))
}

async fn create_session(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(body_error)?;
    let req: CreateSessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CreateSessionRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let id = req.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let info = s.sessions.create(&caller.scope(&id)).await?;
    Ok((StatusCode::CREATED, Json(caller.view(info))).into_response())
}

async fn list_sessions(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> impl IntoResponse {
    let sessions = s
        .sessions
        .list()
        .into_iter()
        .filter(|info| caller.own(&info.id).is_some())
        .map(|info| caller.view(info))
        .collect();
    Json(SessionList { sessions })
}

async fn get_session(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(caller.view(s.sessions.info(&caller.scope(&id))?)))
}

async fn delete_session(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.sessions.delete(&caller.scope(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn execute(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<Response, ApiError> {
    let id = caller.scope(&id);
    let timeout = match req.timeout_s {
        Some(t) if t.is_finite() && t > 0.0 && t <= ExecuteRequest::MAX_TIMEOUT_S => {
            Some(Duration::from_secs_f64(t))
        }
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "timeout_s must be between 0 and {}",
                ExecuteRequest::MAX_TIMEOUT_S
            )))
        }
        None => None,
    };
    let slot = s.runs.start(caller.user(), s.config.max_runs_per_user)?;
    if !req.stream {
        let r = run_detached(&s, slot, id, req.code, timeout, None).await?;
        return Ok(Json(r).into_response());
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let state = s.clone();
    tokio::spawn(async move {
        let r = run_detached(&state, slot, id, req.code, timeout, Some(tx)).await;
        let _ = done_tx.send(r);
    });
    Ok(Sse::new(event_stream(rx, done_rx))
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn event_stream(
    rx: mpsc::UnboundedReceiver<Output>,
    done: tokio::sync::oneshot::Receiver<Result<ExecResult, ApiError>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let outputs = UnboundedReceiverStream::new(rx).map(|o| Ok(sse(ExecuteEvent::Output(o))));
    let last = stream::once(async move {
        Ok(sse(match done.await {
            Ok(Ok(r)) => ExecuteEvent::Done(r),
            Ok(Err(e)) => ExecuteEvent::Error(e.envelope()),
            Err(_) => ExecuteEvent::Error(ErrorEnvelope::new(
                ErrorCode::Internal,
                "execution task lost",
            )),
        }))
    });
    outputs.chain(last)
}

fn sse(e: ExecuteEvent) -> Event {
    // Our payloads are plain data whose serialisation cannot fail; an empty event is still
    // better than dropping the stream.
    Event::default()
        .event(e.name())
        .data(e.data().unwrap_or_default())
}

async fn interrupt(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.sessions.interrupt(&caller.scope(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        caller.view(s.sessions.restart(&caller.scope(&id)).await?),
    ))
}

async fn list_files(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(s.sessions.list_files(&caller.scope(&id)).await?))
}

async fn upload(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, path)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body = body.map_err(body_error)?;
    s.sessions
        .write_file(&caller.scope(&id), &path, &body)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn download(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let data = s.sessions.read_file(&caller.scope(&id), &path).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], data).into_response())
}

#[cfg(test)]
mod tests {
    use super::OPENAPI;

    /// Every route of the router is in the OpenAPI document, with each of its methods.
    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap_or_default();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        let source = include_str!("routes.rs");
        // The router's text, from its first route to its fallback (rustfmt may break a route
        // over several lines).
        let start = source.find(".route(").unwrap_or(0);
        let end = source.find(".fallback(").unwrap_or(source.len());
        let mut routes = 0;
        for chunk in source[start..end].split(".route(").skip(1) {
            let Some((path, handlers)) = chunk
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split_once('"'))
            else {
                continue;
            };
            routes += 1;
            let path = path.replace("{*", "{");
            let Some(ops) = paths.get(&path) else {
                panic!("{path} is not in the OpenAPI document");
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                if handlers.contains(&format!("{method}(")) {
                    assert!(
                        ops.get(method).is_some(),
                        "{method} {path} is not in the document"
                    );
                }
            }
        }
        assert!(routes >= 15, "{routes} routes read");
        assert_eq!(
            paths.len(),
            routes,
            "the document has paths the router lacks"
        );
    }
}
