//! Prometheus metrics, served at `GET /metrics` in the text exposition format: HTTP requests
//! by route and status, live and pre-started sessions, cell executions by outcome, the agent's model turns
//! (how long the LLM took for each, and the tokens it read and wrote) and its errors.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use codeact_protocol::{AgentEvent, ExecResult, ExecStatus};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route's pattern (`/v1/sessions/{id}`), so that ids do not multiply the series.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    /// `prompt` or `completion`.
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExecutionLabels {
    /// `ok`, `error`, `interrupted` or `restarted`.
    status: String,
}

/// The server's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    sessions: Gauge,
    pooled: Gauge,
    executions: Family<ExecutionLabels, Counter>,
    llm_seconds: Histogram,
    llm_tokens: Family<TokenLabels, Counter>,
    agent_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("codeact");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        let sessions = Gauge::default();
        registry.register("sessions_active", "Live Python sessions", sessions.clone());
        let pooled = Gauge::default();
        registry.register(
            "sessions_pooled",
            "Sandboxes started ahead (the engine's pool_size), waiting for a session",
            pooled.clone(),
        );
        let executions = Family::<ExecutionLabels, Counter>::default();
        registry.register(
            "executions",
            "Cells run (by the API and by the agent), by outcome",
            executions.clone(),
        );
        // 50 ms to about 100 s.
        let llm_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 12));
        registry.register(
            "llm_turn_seconds",
            "Time the LLM took for one agent turn, from the turn's start to the whole reply",
            llm_seconds.clone(),
        );
        let llm_tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "llm_tokens",
            "Tokens of the agent's model requests, by kind (prompt or completion), as the LLM backend counted them",
            llm_tokens.clone(),
        );
        let agent_errors = Counter::default();
        registry.register(
            "agent_errors",
            "Errors of agent runs (LLM or engine failures, not exceptions in the model's code)",
            agent_errors.clone(),
        );
        Self {
            registry,
            requests,
            sessions,
            pooled,
            executions,
            llm_seconds,
            llm_tokens,
            agent_errors,
        }
    }
}

impl Metrics {
    /// Counts a cell's outcome.
    pub fn execution(&self, r: &ExecResult) {
        let status = match r.status {
            ExecStatus::Ok => "ok",
            ExecStatus::Error => "error",
            ExecStatus::Interrupted => "interrupted",
            ExecStatus::Restarted => "restarted",
        };
        self.executions
            .get_or_create(&ExecutionLabels {
                status: status.into(),
            })
            .inc();
    }

    /// Follows an agent run: `turn` holds the start of the current model turn.
    pub fn agent_event(&self, ev: &AgentEvent, turn: &mut Option<Instant>) {
        match ev {
            AgentEvent::TurnStarted { .. } => *turn = Some(Instant::now()),
            AgentEvent::AssistantMessage { .. } => {
                if let Some(start) = turn.take() {
                    self.llm_seconds.observe(start.elapsed().as_secs_f64());
                }
            }
            AgentEvent::Observation { result, .. } => self.execution(result),
            AgentEvent::Usage {
                prompt_tokens,
                completion_tokens,
            } => {
                for (kind, n) in [("prompt", prompt_tokens), ("completion", completion_tokens)] {
                    self.llm_tokens
                        .get_or_create(&TokenLabels { kind: kind.into() })
                        .inc_by(u64::from(*n));
                }
            }
            AgentEvent::Error { .. } => {
                self.agent_errors.inc();
            }
            _ => {}
        }
    }
}

/// Middleware: counts every answered request by its route's pattern.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let resp = next.run(req).await;
    s.metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// `GET /metrics`.
pub async fn serve(State(s): State<AppState>) -> Response {
    let live = i64::try_from(s.sessions.list().len()).unwrap_or(i64::MAX);
    s.metrics.sessions.set(live);
    let pooled = i64::try_from(s.sessions.pooled()).unwrap_or(i64::MAX);
    s.metrics.pooled.set(pooled);
    let mut text = String::new();
    if encode(&mut text, &s.metrics.registry).is_err() {
        text.clear();
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
