//! The Jupyter REST calls for kernels: create, interrupt, restart, delete.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::ExecError;

/// Kernel restarts and starts wait for the new process on the server side: allow for a slow one.
const REST_TIMEOUT: Duration = Duration::from_secs(120);

/// A client of one Jupyter server's REST API.
#[derive(Clone)]
pub(crate) struct Rest {
    http: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8888`.
    base: String,
    token: Option<String>,
}

impl Rest {
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ExecError> {
        let http = reqwest::Client::builder()
            .timeout(REST_TIMEOUT)
            .build()
            .map_err(|e| {
                ExecError::BackendUnavailable(format!("cannot build an HTTP client: {e}"))
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The WebSocket address of a kernel's channels.
    pub fn channels_url(&self, kernel_id: &str) -> Result<String, ExecError> {
        let ws = if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            return Err(ExecError::BadRequest(format!(
                "the Jupyter URL {:?} must start with http:// or https://",
                self.base
            )));
        };
        Ok(format!("{ws}/api/kernels/{kernel_id}/channels"))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, String), ExecError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = &self.token {
            req = req.header(reqwest::header::AUTHORIZATION, format!("token {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            ExecError::BackendUnavailable(format!(
                "cannot reach the Jupyter server at {}: {}",
                self.base,
                chain(&e)
            ))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ExecError::BackendUnavailable(format!(
                "the Jupyter server refused {method} {path} (HTTP {status}); check the token"
            )));
        }
        Ok((status, text))
    }

    fn unexpected(method: &str, path: &str, status: StatusCode, body: &str) -> ExecError {
        let body: String = body.chars().take(300).collect();
        ExecError::BackendUnavailable(format!(
            "Jupyter {method} {path} answered HTTP {status}: {body}"
        ))
    }

    /// The names of the server's kernelspecs. Unlike `GET /api`, which Jupyter Server answers
    /// without authentication, this checks the token as well.
    pub async fn kernelspecs(&self) -> Result<Vec<String>, ExecError> {
        let path = "/api/kernelspecs";
        let (status, body) = self.call(Method::GET, path, None).await?;
        if !status.is_success() {
            return Err(Self::unexpected("GET", path, status, &body));
        }
        let specs = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("kernelspecs")
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
            })
            .ok_or_else(|| {
                ExecError::Protocol(format!("GET {path} answered an odd body: {body}"))
            })?;
        Ok(specs)
    }

    /// Starts a kernel of kernelspec `name`; returns its id.
    pub async fn create(&self, name: &str) -> Result<String, ExecError> {
        let path = "/api/kernels";
        let (status, body) = self
            .call(Method::POST, path, Some(json!({ "name": name })))
            .await?;
        if !status.is_success() {
            return Err(Self::unexpected("POST", path, status, &body));
        }
        let id = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
            .ok_or_else(|| {
                ExecError::Protocol(format!("POST {path} answered without a kernel id: {body}"))
            })?;
        // The id goes into URL paths: refuse anything but the uuid alphabet.
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ExecError::Protocol(format!(
                "the Jupyter server gave an odd kernel id {id:?}"
            )));
        }
        Ok(id)
    }

    /// Whether the server still has kernel `id`.
    pub async fn exists(&self, id: &str) -> Result<bool, ExecError> {
        let path = format!("/api/kernels/{id}");
        let (status, body) = self.call(Method::GET, &path, None).await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(Self::unexpected("GET", &path, s, &body)),
        }
    }

    pub async fn interrupt(&self, id: &str) -> Result<(), ExecError> {
        let path = format!("/api/kernels/{id}/interrupt");
        let (status, body) = self.call(Method::POST, &path, None).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(Self::unexpected("POST", &path, status, &body))
        }
    }

    /// Restarts kernel `id`; `Ok(false)` when the server no longer has it.
    pub async fn restart(&self, id: &str) -> Result<bool, ExecError> {
        let path = format!("/api/kernels/{id}/restart");
        let (status, body) = self.call(Method::POST, &path, None).await?;
        match status {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(Self::unexpected("POST", &path, s, &body)),
        }
    }

    /// Deletes kernel `id`; a kernel already gone counts as deleted.
    pub async fn delete(&self, id: &str) -> Result<(), ExecError> {
        let path = format!("/api/kernels/{id}");
        let (status, body) = self.call(Method::DELETE, &path, None).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(Self::unexpected("DELETE", &path, status, &body))
        }
    }
}

/// An error with its causes, since reqwest's own message hides why a connection failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
