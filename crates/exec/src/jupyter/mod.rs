//! The Jupyter backend: each session is a kernel on a Jupyter Server or Kernel Gateway, driven
//! over its REST API (create, interrupt, restart, delete) and its channels WebSocket (the
//! Jupyter messaging protocol v5 in JSON form).
//!
//! Code runs wherever the server runs it, so this backend isolates nothing by itself.

mod cell;
mod conn;
mod files;
mod msg;
mod ready;
mod rest;
mod workdir;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use codeact_protocol::http::FileList;
use codeact_protocol::{BackendKind, SandboxReport};
use serde_json::Value;

use self::conn::{Connection, Event};
use self::msg::WireMessage;
use self::ready::connect_ready;
use self::rest::Rest;
use crate::{Backend, CellEnd, ExecError, Kernel, OutputSink};

/// Restart requests tried before the kernel is replaced by a new one, and the pause between.
const RESTART_ATTEMPTS: u32 = 3;
const RESTART_RETRY: Duration = Duration::from_secs(1);
/// How long one hidden file-operation request may take once it is the kernel's turn.
const FILE_OP_TIMEOUT: Duration = Duration::from_secs(300);
/// How long removing a session's files may hold up the end of the session.
const WORKDIR_REMOVAL: Duration = Duration::from_secs(5);

/// Where the Jupyter server is and which kernels to ask it for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JupyterConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8888` (a path prefix is allowed).
    pub url: String,
    /// Sent as `Authorization: token …` on every request, when set.
    pub token: Option<String>,
    /// The kernelspec to start, `python3` by default.
    pub kernel_name: String,
}

impl Default for JupyterConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8888".to_string(),
            token: None,
            kernel_name: "python3".to_string(),
        }
    }
}

/// Sessions as kernels of a remote Jupyter Server or Kernel Gateway.
pub struct JupyterBackend {
    config: JupyterConfig,
    /// Building the HTTP client can only fail on a broken TLS setup; that is reported on first
    /// use so that construction stays infallible.
    rest: Result<Rest, String>,
}

impl JupyterBackend {
    pub fn new(config: JupyterConfig) -> Self {
        let rest = Rest::new(&config.url, config.token.clone()).map_err(|e| e.to_string());
        Self { config, rest }
    }

    pub fn config(&self) -> &JupyterConfig {
        &self.config
    }

    fn rest(&self) -> Result<&Rest, ExecError> {
        self.rest
            .as_ref()
            .map_err(|e| ExecError::BackendUnavailable(e.clone()))
    }

    /// Checks that the server answers, accepts the token and has the configured kernelspec.
    pub async fn ping(&self) -> Result<(), ExecError> {
        let specs = self.rest()?.kernelspecs().await?;
        if specs.contains(&self.config.kernel_name) {
            Ok(())
        } else {
            Err(ExecError::BackendUnavailable(format!(
                "the Jupyter server has no kernel named {:?} (it has: {})",
                self.config.kernel_name,
                specs.join(", ")
            )))
        }
    }
}

#[async_trait]
impl Backend for JupyterBackend {
    fn name(&self) -> BackendKind {
        BackendKind::Jupyter
    }

    fn report(&self) -> SandboxReport {
        SandboxReport {
            missing: vec!["isolation is up to the Jupyter server".to_string()],
            ..SandboxReport::unconfined(BackendKind::Jupyter)
        }
    }

    async fn start(&self, id: &str) -> Result<Box<dyn Kernel>, ExecError> {
        let rest = self.rest()?.clone();
        let kernel_id = rest.create(&self.config.kernel_name).await?;
        let dir = workdir::name(&kernel_id);
        let ready = async {
            let conn = connect_ready(&rest, &kernel_id).await?;
            workdir::enter(&conn, &dir).await?;
            Ok::<_, ExecError>(conn)
        };
        let conn = match ready.await {
            Ok(c) => c,
            Err(e) => {
                // Do not leave a kernel running on the server that nobody holds.
                if let Err(d) = rest.delete(&kernel_id).await {
                    tracing::warn!(session = id, "deleting a kernel that failed to start: {d}");
                }
                return Err(e);
            }
        };
        tracing::debug!(session = id, kernel = %kernel_id, "jupyter kernel started");
        Ok(Box::new(JupyterKernel {
            rest,
            kernel_name: self.config.kernel_name.clone(),
            session: id.to_string(),
            kernel_id: Mutex::new(kernel_id),
            live: tokio::sync::Mutex::new(Some(Arc::new(conn))),
            turn: tokio::sync::Mutex::new(()),
            workdir: dir,
            shut: AtomicBool::new(false),
        }))
    }
}

/// One session's kernel on the server.
pub(crate) struct JupyterKernel {
    rest: Rest,
    kernel_name: String,
    /// The engine's session id, for logs.
    session: String,
    /// Changes only when a restart finds the kernel gone and creates a new one.
    kernel_id: Mutex<String>,
    /// The current WebSocket; replaced (under this lock) on reconnect and restart.
    live: tokio::sync::Mutex<Option<Arc<Connection>>>,
    /// Held by whoever has a request running in the kernel, so that a file operation waits for
    /// a running cell instead of queueing behind it in the kernel, where an error in the cell
    /// would abort it.
    turn: tokio::sync::Mutex<()>,
    /// The session's working directory, relative to the server's root (see `workdir`).
    workdir: String,
    /// Set by `shutdown`: a cell that dies because of it must not bring the kernel back.
    shut: AtomicBool,
}

/// Sends `code` as a hidden execute request on `conn` and waits for its `execute_reply`.
pub(super) async fn hidden_reply(
    conn: &Connection,
    code: &str,
    user_expressions: Value,
) -> Result<WireMessage, ExecError> {
    let mut waiter = conn
        .request(
            "shell",
            "execute_request",
            msg::execute_hidden(code, user_expressions),
        )
        .map_err(ExecError::BackendUnavailable)?;
    while let Some(ev) = waiter.rx.recv().await {
        match ev {
            Event::Lost(reason) => return Err(ExecError::BackendUnavailable(reason)),
            Event::Message(m) if matches!(m.execution_state(), Some("dead" | "restarting")) => {
                return Err(ExecError::BackendUnavailable("the kernel died".to_string()));
            }
            Event::Message(m) if m.channel == "shell" && m.msg_type() == "execute_reply" => {
                return Ok(m);
            }
            Event::Message(_) => {}
        }
    }
    Err(ExecError::BackendUnavailable(
        "the kernel WebSocket closed".to_string(),
    ))
}

impl JupyterKernel {
    fn kernel_id(&self) -> String {
        self.kernel_id.lock().map(|k| k.clone()).unwrap_or_default()
    }

    fn check_live(&self) -> Result<(), ExecError> {
        if self.shut.load(Ordering::Acquire) {
            Err(ExecError::BackendUnavailable(
                "the session was shut down".to_string(),
            ))
        } else {
            Ok(())
        }
    }

    /// The open WebSocket, reconnecting first if it dropped while idle: the kernel, and so the
    /// user's variables, usually outlive a dropped socket.
    async fn connection(&self) -> Result<Arc<Connection>, ExecError> {
        self.check_live()?;
        let mut live = self.live.lock().await;
        if let Some(c) = live.as_ref().filter(|c| c.lost().is_none()) {
            return Ok(c.clone());
        }
        let conn = Arc::new(connect_ready(&self.rest, &self.kernel_id()).await?);
        tracing::debug!(session = %self.session, "reconnected to the jupyter kernel");
        *live = Some(conn.clone());
        Ok(conn)
    }

    /// Restarts the kernel through the REST API; false when it is gone or cannot be restarted
    /// (it is then deleted, so that the caller can start a new one without leaking it).
    async fn restart_on_server(&self, kernel_id: &str) -> bool {
        for attempt in 1..=RESTART_ATTEMPTS {
            match self.rest.restart(kernel_id).await {
                Ok(true) => return true,
                Ok(false) => return false,
                // A kernel that just died is being restarted by the server's own restarter, and
                // a restart request meanwhile fails (HTTP 500): give that a moment to finish.
                Err(e) => {
                    tracing::debug!(session = %self.session, attempt, "restarting the jupyter kernel failed: {e}");
                    // Kernel Gateway answers HTTP 500, not 404, for a kernel it no longer has.
                    if let Ok(false) = self.rest.exists(kernel_id).await {
                        return false;
                    }
                    if attempt < RESTART_ATTEMPTS {
                        tokio::time::sleep(RESTART_RETRY).await;
                    }
                }
            }
        }
        if let Err(e) = self.rest.delete(kernel_id).await {
            tracing::warn!(session = %self.session, kernel = %kernel_id, "deleting an unrestartable jupyter kernel failed: {e}");
        }
        false
    }

    /// Runs `code` with `user_expressions` as a hidden request and returns its `execute_reply`.
    pub(super) async fn run_hidden(
        &self,
        code: &str,
        user_expressions: Value,
    ) -> Result<WireMessage, ExecError> {
        let _turn = self.turn.lock().await;
        let conn = self.connection().await?;
        let wait = hidden_reply(&conn, code, user_expressions);
        let kernel_id = self.kernel_id();
        let watched = async {
            tokio::select! {
                r = wait => r,
                reason = cell::until_gone(&self.rest, &kernel_id) => Err(ExecError::BackendUnavailable(reason)),
            }
        };
        tokio::time::timeout(FILE_OP_TIMEOUT, watched)
            .await
            .map_err(|_| {
                ExecError::BackendUnavailable(format!(
                    "the kernel did not finish a file operation within {} s",
                    FILE_OP_TIMEOUT.as_secs()
                ))
            })?
    }
}

#[async_trait]
impl Kernel for JupyterKernel {
    async fn execute(&self, code: &str, sink: &mut OutputSink) -> Result<CellEnd, ExecError> {
        let _turn = self.turn.lock().await;
        let conn = self.connection().await?;
        let mut waiter = match conn.execute(msg::execute_cell(code)) {
            Ok(w) => w,
            Err(reason) => return Ok(CellEnd::Died { reason }),
        };
        // A deleted kernel's WebSocket stays open and silent on Jupyter servers, so the server
        // is asked now and then whether the kernel still exists.
        let kernel_id = self.kernel_id();
        tokio::select! {
            end = cell::follow(&mut waiter, sink) => Ok(end),
            reason = cell::until_gone(&self.rest, &kernel_id) => Ok(CellEnd::Died { reason }),
        }
    }

    async fn interrupt(&self) -> Result<(), ExecError> {
        self.check_live()?;
        self.rest.interrupt(&self.kernel_id()).await
    }

    async fn restart(&self) -> Result<(), ExecError> {
        self.check_live()?;
        let mut live = self.live.lock().await;
        let kernel_id = self.kernel_id();
        if !self.restart_on_server(&kernel_id).await {
            // The server forgot the kernel (culled as idle, or the server itself restarted) or
            // cannot restart it: a fresh kernel is the closest thing to a restart.
            let new_id = self.rest.create(&self.kernel_name).await?;
            tracing::info!(session = %self.session, old = %kernel_id, new = %new_id, "replaced the jupyter kernel with a new one");
            if let Ok(mut k) = self.kernel_id.lock() {
                *k = new_id;
            }
        }
        // Closed only now, so that a cell that ended on the interrupt sent before a restart has
        // had its ending delivered; a cell still waiting hears that the session died.
        if let Some(old) = live.take() {
            old.close("the kernel was restarted");
        }
        let conn = connect_ready(&self.rest, &self.kernel_id()).await?;
        workdir::enter(&conn, &self.workdir).await?;
        *live = Some(Arc::new(conn));
        Ok(())
    }

    async fn shutdown(&self) {
        if self.shut.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(old) = self.live.lock().await.take() {
            // A cell still running would hold the removal up: then the files stay behind.
            let removed = tokio::time::timeout(WORKDIR_REMOVAL, workdir::remove(&old)).await;
            if !matches!(removed, Ok(Ok(()))) {
                tracing::warn!(session = %self.session, dir = %self.workdir, "could not remove the session's working directory on the Jupyter server");
            }
            old.close("the session was shut down");
        }
        let kernel_id = self.kernel_id();
        if let Err(e) = self.rest.delete(&kernel_id).await {
            tracing::warn!(session = %self.session, kernel = %kernel_id, "deleting the jupyter kernel failed: {e}");
        }
    }

    async fn write_file(&self, path: &str, data: &[u8]) -> Result<(), ExecError> {
        self.write_file_impl(path, data).await
    }

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, ExecError> {
        self.read_file_impl(path).await
    }

    async fn list_files(&self) -> Result<FileList, ExecError> {
        self.list_files_impl().await
    }
}

impl Drop for JupyterKernel {
    /// A kernel dropped without `shutdown` would keep running on the server: delete it in the
    /// background when a runtime is still there to do so.
    fn drop(&mut self) {
        if self.shut.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rest = self.rest.clone();
        let kernel_id = self.kernel_id();
        handle.spawn(async move {
            if let Err(e) = rest.delete(&kernel_id).await {
                tracing::debug!(kernel = %kernel_id, "deleting a dropped jupyter kernel failed: {e}");
            }
        });
    }
}
