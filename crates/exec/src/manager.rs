//! Live sessions by id: created on first use, run one cell at a time, timed out, reaped when
//! idle, capped in number.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use codeact_protocol::http::FileList;
use codeact_protocol::{
    BackendKind, ExecResult, ExecStatus, Output, SandboxReport, SessionInfo, SessionState,
};
use tokio::sync::mpsc;

use crate::{Backend, CellEnd, ExecConfig, ExecError, Kernel, OutputSink};

struct Session {
    id: String,
    kernel: Box<dyn Kernel>,
    /// Held while a cell runs: cells of one session run one after another.
    run_lock: tokio::sync::Mutex<()>,
    busy: std::sync::atomic::AtomicBool,
    created_at: u64,
    last_used: Mutex<Instant>,
    last_used_unix: AtomicU64,
    executions: AtomicU64,
    /// Restarts done, under a lock that every restart holds: a cell that dies while a restart
    /// requested through the API replaces its kernel sees the count move and does not restart
    /// the fresh kernel a second time.
    restarts: tokio::sync::Mutex<u64>,
    /// A copy of `restarts` for `info`, which must not wait on a restart in progress.
    restarts_done: AtomicU64,
    /// A restart was requested through the API and has not happened yet. The restart first
    /// interrupts the running cell; a cell that ends by that interrupt is reported as restarted.
    restart_requested: AtomicBool,
}

impl Session {
    /// Restarts the kernel unless it was restarted since `seen` (the count when the caller
    /// last looked); true if this call restarted it.
    async fn restart_once(&self, seen: u64) -> Result<bool, ExecError> {
        let mut n = self.restarts.lock().await;
        if *n != seen {
            return Ok(false);
        }
        let result = self.kernel.restart().await;
        self.restart_requested.store(false, Ordering::Relaxed);
        // Counted even when it failed: the old kernel is gone either way.
        *n += 1;
        self.restarts_done.store(*n, Ordering::Relaxed);
        result.map(|()| true)
    }

    fn touch(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
        self.last_used_unix.store(unix_now(), Ordering::Relaxed);
    }

    fn info(&self, backend: BackendKind) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            backend,
            state: if self.busy.load(Ordering::Relaxed) {
                SessionState::Busy
            } else {
                SessionState::Idle
            },
            created_at: self.created_at,
            last_used_at: self.last_used_unix.load(Ordering::Relaxed),
            executions: self.executions.load(Ordering::Relaxed),
            restarts: self.restarts_done.load(Ordering::Relaxed),
        }
    }
}

/// What a restart keeps and loses, as the notices say it.
const KEPT: &str = "variables and imports are gone; files in the working directory are kept.";

/// The notice of a cell that ran while a restart requested through the API replaced its kernel.
fn restarted_by_request() -> String {
    format!("[session restarted while the cell ran (a restart was requested): {KEPT}]")
}

/// How the kernel's part of a cell ended, before the manager decides what to report.
enum Outcome {
    Finished(Result<CellEnd, ExecError>),
    Interrupted(Result<CellEnd, ExecError>),
    Stuck,
}

/// Owns the live sessions of one backend.
pub struct SessionManager {
    backend: Arc<dyn Backend>,
    config: ExecConfig,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Sessions being started, each with a lock its starter holds until it is in `sessions`
    /// (or failed): a second first use of the same id waits on it instead of starting another.
    /// Sessions of different ids start at once (the backend's zygotes and pool make them in
    /// parallel); the cap counts these as well as the live ones. Locked before `sessions`.
    starting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Set by [`SessionManager::shutdown`]: a start that finishes after it ends its session
    /// instead of keeping one nobody would end.
    closed: AtomicBool,
}

/// A start in progress: holds the id's lock in [`SessionManager::starting`], and when the
/// start ends in any way (a cancelled one included) takes the id out of the table, then
/// releases the lock (in that order, so that a waiter that wakes finds either the session
/// or no start).
struct Starting<'a> {
    manager: &'a SessionManager,
    id: &'a str,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        if let Ok(mut starting) = self.manager.starting.lock() {
            starting.remove(self.id);
        }
        // `_held` is released after this body.
    }
}

impl SessionManager {
    pub fn new(backend: Arc<dyn Backend>, config: ExecConfig) -> Arc<Self> {
        Arc::new(Self {
            backend,
            config,
            sessions: Mutex::new(HashMap::new()),
            starting: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    pub fn report(&self) -> SandboxReport {
        self.backend.report()
    }

    /// Sandboxes started ahead (`pool_size`) and waiting for a session.
    pub fn pooled(&self) -> usize {
        self.backend.pooled()
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().ok()?.get(id).cloned()
    }

    fn len(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Returns the session `id`, starting it if needed; the flag says whether it was created.
    async fn get_or_create(&self, id: &str) -> Result<(Arc<Session>, bool), ExecError> {
        validate_id(id)?;
        let _started = loop {
            if let Some(s) = self.get(id) {
                return Ok((s, false));
            }
            let other = {
                let mut starting = self
                    .starting
                    .lock()
                    .map_err(|_| ExecError::Protocol("session table poisoned".into()))?;
                match starting.get(id) {
                    Some(lock) => lock.clone(),
                    None => {
                        // Under `starting`'s lock: no other start can slip in between.
                        if let Some(s) = self.get(id) {
                            return Ok((s, false));
                        }
                        if self.len() + starting.len() >= self.config.max_sessions {
                            return Err(ExecError::TooManySessions(self.config.max_sessions));
                        }
                        let lock = Arc::new(tokio::sync::Mutex::new(()));
                        let held = lock.clone().try_lock_owned().map_err(|_| {
                            ExecError::Protocol("a new start lock was already held".into())
                        })?;
                        starting.insert(id.to_string(), lock);
                        break Starting {
                            manager: self,
                            id,
                            _held: held,
                        };
                    }
                }
            };
            // Another request is starting this session: wait for it, then look again.
            drop(other.lock().await);
        };
        let kernel = self.backend.start(id).await?;
        let now = unix_now();
        let session = Arc::new(Session {
            id: id.to_string(),
            kernel,
            run_lock: tokio::sync::Mutex::new(()),
            busy: false.into(),
            created_at: now,
            last_used: Mutex::new(Instant::now()),
            last_used_unix: now.into(),
            executions: 0.into(),
            restarts: tokio::sync::Mutex::new(0),
            restarts_done: 0.into(),
            restart_requested: false.into(),
        });
        // Into `sessions` before `_started` leaves `starting`, so it is never in neither; and
        // under its lock, which `shutdown` drains only after it has set `closed`.
        let kept = match self.sessions.lock() {
            Ok(mut map) if !self.closed.load(Ordering::SeqCst) => {
                map.insert(id.to_string(), session.clone());
                true
            }
            _ => false,
        };
        if !kept {
            session.kernel.shutdown().await;
            return Err(ExecError::BackendUnavailable(
                "the engine is shutting down".into(),
            ));
        }
        tracing::debug!(session = id, "session started");
        Ok((session, true))
    }

    /// Creates session `id` if it does not exist yet.
    pub async fn create(&self, id: &str) -> Result<SessionInfo, ExecError> {
        let (s, _) = self.get_or_create(id).await?;
        Ok(s.info(self.backend.name()))
    }

    /// Describes session `id`.
    pub fn info(&self, id: &str) -> Result<SessionInfo, ExecError> {
        self.get(id)
            .map(|s| s.info(self.backend.name()))
            .ok_or_else(|| ExecError::NotFound(id.to_string()))
    }

    /// All live sessions, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut v: Vec<SessionInfo> = self
            .sessions
            .lock()
            .map(|m| m.values().map(|s| s.info(self.backend.name())).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        v
    }

    /// Runs one cell in session `id` (created on first use) with the configured timeout.
    pub async fn execute(&self, id: &str, code: &str) -> Result<ExecResult, ExecError> {
        self.execute_with(id, code, None, None).await
    }

    /// Runs one cell; every output is also sent to `live` as it is produced. `timeout`
    /// overrides the configured cell timeout.
    pub async fn execute_with(
        &self,
        id: &str,
        code: &str,
        timeout: Option<Duration>,
        live: Option<mpsc::UnboundedSender<Output>>,
    ) -> Result<ExecResult, ExecError> {
        let (session, created) = self.get_or_create(id).await?;
        let _run = session.run_lock.lock().await;
        session.busy.store(true, Ordering::Relaxed);
        session.touch();
        let started = Instant::now();
        let mut sink = OutputSink::new(self.config.output_limit);
        if let Some(tx) = live {
            sink = sink.with_live(tx);
        }
        let timeout = timeout.unwrap_or(self.config.cell_timeout);
        let (status, notice) = self.run_cell(&session, code, timeout, &mut sink).await;
        session.busy.store(false, Ordering::Relaxed);
        session.executions.fetch_add(1, Ordering::Relaxed);
        session.touch();
        let truncated = sink.truncated();
        let mut outputs = sink.finish();
        let mut notice = notice;
        if truncated {
            let msg = format!(
                "[output truncated to about {} bytes]",
                self.config.output_limit
            );
            notice = Some(match notice {
                Some(n) => format!("{n}\n{msg}"),
                None => msg,
            });
        }
        if status == ExecStatus::Restarted {
            outputs.retain(|o| !matches!(o, Output::Error { .. }));
        }
        Ok(ExecResult {
            status,
            outputs,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            new_session: created,
            notice,
        })
    }

    async fn run_cell(
        &self,
        session: &Session,
        code: &str,
        timeout: Duration,
        sink: &mut OutputSink,
    ) -> (ExecStatus, Option<String>) {
        let secs = timeout.as_secs_f64();
        let grace = self.config.interrupt_grace;
        let restarts = *session.restarts.lock().await;
        let outcome = {
            let kernel = &session.kernel;
            let fut = kernel.execute(code, sink);
            tokio::pin!(fut);
            tokio::select! {
                r = &mut fut => Outcome::Finished(r),
                _ = tokio::time::sleep(timeout) => {
                    let _ = kernel.interrupt().await;
                    tokio::select! {
                        r = &mut fut => Outcome::Interrupted(r),
                        _ = tokio::time::sleep(grace) => Outcome::Stuck,
                    }
                }
            }
        };
        match outcome {
            Outcome::Finished(Ok(CellEnd::Completed { error }))
                if error && session.restart_requested.load(Ordering::Relaxed) =>
            {
                // Ended by the interrupt of a requested restart: whichever of this cell and
                // the request takes the restart lock first restarts the session, once.
                if let Err(e) = session.restart_once(restarts).await {
                    tracing::warn!(session = %session.id, "restart failed: {e}");
                }
                (ExecStatus::Restarted, Some(restarted_by_request()))
            }
            Outcome::Finished(Ok(CellEnd::Completed { error })) => {
                (if error { ExecStatus::Error } else { ExecStatus::Ok }, None)
            }
            Outcome::Finished(Ok(CellEnd::Died { reason })) => {
                self.restart_after(session, restarts, &format!("the Python process died ({reason})"))
                    .await
            }
            Outcome::Finished(Err(e)) => {
                self.restart_after(session, restarts, &format!("the session failed ({e})"))
                    .await
            }
            Outcome::Interrupted(Ok(CellEnd::Completed { .. })) => (
                ExecStatus::Interrupted,
                Some(format!(
                    "[cell interrupted: it ran longer than the {secs:.0} s limit; the session and its variables are kept]"
                )),
            ),
            Outcome::Interrupted(Ok(CellEnd::Died { reason })) => {
                let why = format!("it ran past the {secs:.0} s limit and the session died ({reason})");
                self.restart_after(session, restarts, &why).await
            }
            Outcome::Interrupted(Err(e)) => {
                let why = format!("it ran past the {secs:.0} s limit and the session failed ({e})");
                self.restart_after(session, restarts, &why).await
            }
            Outcome::Stuck => {
                let why = format!(
                    "it ran longer than the {secs:.0} s limit and did not stop within {:.0} s of an interrupt",
                    grace.as_secs_f64()
                );
                self.restart_after(session, restarts, &why).await
            }
        }
    }

    async fn restart_after(
        &self,
        session: &Session,
        seen: u64,
        why: &str,
    ) -> (ExecStatus, Option<String>) {
        let tail = match session.restart_once(seen).await {
            Ok(true) => format!("The session was restarted: {KEPT}"),
            Ok(false) => return (ExecStatus::Restarted, Some(restarted_by_request())),
            Err(e) => format!("Restarting the session failed too ({e})."),
        };
        tracing::info!(session = %session.id, "{why}");
        (
            ExecStatus::Restarted,
            Some(format!("[session killed: {why}. {tail}]")),
        )
    }

    /// Interrupts the cell running in session `id`, if any.
    pub async fn interrupt(&self, id: &str) -> Result<(), ExecError> {
        let s = self
            .get(id)
            .ok_or_else(|| ExecError::NotFound(id.to_string()))?;
        s.kernel.interrupt().await
    }

    /// Kills session `id`'s processes and starts a fresh interpreter.
    pub async fn restart(&self, id: &str) -> Result<SessionInfo, ExecError> {
        let s = self
            .get(id)
            .ok_or_else(|| ExecError::NotFound(id.to_string()))?;
        let seen = *s.restarts.lock().await;
        s.restart_requested.store(true, Ordering::Relaxed);
        s.kernel.interrupt().await.ok();
        // With the count from before the interrupt: if the interrupted cell already had the
        // session restarted (see `run_cell`), this does nothing.
        s.restart_once(seen).await?;
        s.touch();
        Ok(s.info(self.backend.name()))
    }

    /// Ends session `id` and every process in it.
    pub async fn delete(&self, id: &str) -> Result<(), ExecError> {
        let s = self
            .sessions
            .lock()
            .ok()
            .and_then(|mut m| m.remove(id))
            .ok_or_else(|| ExecError::NotFound(id.to_string()))?;
        s.kernel.shutdown().await;
        tracing::debug!(session = id, "session deleted");
        Ok(())
    }

    /// Ends every session.
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let all: Vec<Arc<Session>> = self
            .sessions
            .lock()
            .map(|mut m| m.drain().map(|(_, s)| s).collect())
            .unwrap_or_default();
        for s in all {
            s.kernel.shutdown().await;
        }
        self.backend.shutdown().await;
    }

    pub async fn write_file(&self, id: &str, path: &str, data: &[u8]) -> Result<(), ExecError> {
        validate_path(path)?;
        if data.len() as u64 > self.config.max_file_bytes {
            return Err(ExecError::FileTooLarge {
                size: data.len() as u64,
                limit: self.config.max_file_bytes,
            });
        }
        let (s, _) = self.get_or_create(id).await?;
        s.touch();
        s.kernel.write_file(path, data).await
    }

    pub async fn read_file(&self, id: &str, path: &str) -> Result<Vec<u8>, ExecError> {
        validate_path(path)?;
        let s = self
            .get(id)
            .ok_or_else(|| ExecError::NotFound(id.to_string()))?;
        s.touch();
        s.kernel.read_file(path).await
    }

    pub async fn list_files(&self, id: &str) -> Result<FileList, ExecError> {
        let s = self
            .get(id)
            .ok_or_else(|| ExecError::NotFound(id.to_string()))?;
        s.kernel.list_files().await
    }

    /// Ends sessions idle for longer than the idle timeout; returns their ids.
    pub async fn reap_idle(&self) -> Vec<String> {
        let limit = self.config.idle_timeout;
        let stale: Vec<String> = self
            .sessions
            .lock()
            .map(|m| {
                m.values()
                    .filter(|s| !s.busy.load(Ordering::Relaxed))
                    .filter(|s| {
                        s.last_used
                            .lock()
                            .map(|t| t.elapsed() > limit)
                            .unwrap_or(false)
                    })
                    .map(|s| s.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in &stale {
            let _ = self.delete(id).await;
            tracing::info!(session = %id, "reaped idle session");
        }
        stale
    }

    /// Runs [`Self::reap_idle`] periodically until the manager is dropped.
    pub fn spawn_reaper(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let period = (self.config.idle_timeout / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(m) = weak.upgrade() else { break };
                m.reap_idle().await;
            }
        });
    }
}

/// Session ids become file and cgroup names: keep them to a safe alphabet.
fn validate_id(id: &str) -> Result<(), ExecError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(ExecError::BadRequest(format!(
            "session id {id:?} must be 1-128 characters of letters, digits, '-', '_' or '.', not starting with '.'"
        )))
    }
}

/// Paths are relative to the working directory and may not climb out of it.
fn validate_path(path: &str) -> Result<(), ExecError> {
    let p = std::path::Path::new(path);
    let ok = !path.is_empty()
        && !p.is_absolute()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(ExecError::BadRequest(format!(
            "path {path:?} must be relative to the working directory, without '..'"
        )))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
