//! One local session: its sandbox (kept by the zygote's processes), its current worker, and
//! the framed JSON connection to the worker, which is all the server holds for it: one socket.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use codeact_protocol::http::FileList;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use super::cgroup::Cgroup;
use super::messages::{FileErrorKind, WorkerReply, WorkerRequest};
use super::zygote::Zygote;
use crate::{CellEnd, ExecError, Kernel, OutputSink};

/// Frames larger than this from a worker mean a forged or corrupted channel. The largest
/// honest frame is a file read at the upload limit (64 MiB, base64) or a cell's images.
const MAX_FRAME: usize = 96 << 20;
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Answers to file requests, in the order the requests were sent.
type FileWaiters = Arc<Mutex<VecDeque<oneshot::Sender<WorkerReply>>>>;

/// The connection to one worker process.
pub(crate) struct Conn {
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    /// Every frame that is not a file reply.
    cells: tokio::sync::Mutex<mpsc::UnboundedReceiver<WorkerReply>>,
    files: FileWaiters,
    /// The task reading frames; it holds the socket's read half.
    reader: tokio::task::AbortHandle,
}

impl Drop for Conn {
    /// Closes the socket now rather than when the worker's end closes: a restart must not
    /// hold two descriptors for the session, even briefly.
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Writes one length-prefixed JSON frame to a worker.
async fn write_frame(w: &mut OwnedWriteHalf, msg: &WorkerRequest<'_>) -> Result<(), ExecError> {
    let body = serde_json::to_vec(msg).map_err(|e| ExecError::Protocol(e.to_string()))?;
    let mut buf = Vec::with_capacity(body.len() + 4);
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf)
        .await
        .map_err(|e| ExecError::Protocol(format!("the session is gone ({e})")))
}

impl Conn {
    async fn send(&self, msg: &WorkerRequest<'_>) -> Result<(), ExecError> {
        let mut w = self.writer.lock().await;
        write_frame(&mut w, msg).await
    }
}

async fn read_frame(r: &mut OwnedReadHalf) -> Option<Result<WorkerReply, String>> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head).await.ok()?;
    let n = u32::from_be_bytes(head) as usize;
    if n > MAX_FRAME {
        return Some(Err(format!("frame of {n} bytes")));
    }
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).await.ok()?;
    Some(serde_json::from_slice(&body).map_err(|e| e.to_string()))
}

/// Starts the reader task of a fresh worker connection and waits for the worker's hello.
async fn connect(stream: std::os::unix::net::UnixStream) -> Result<Conn, ExecError> {
    stream.set_nonblocking(true)?;
    let (mut rd, wr) = UnixStream::from_std(stream)?.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let files: FileWaiters = Arc::default();
    let files2 = files.clone();
    let reader = tokio::spawn(async move {
        while let Some(frame) = read_frame(&mut rd).await {
            match frame {
                Ok(f) if f.is_file_reply() => {
                    let waiter = files2.lock().ok().and_then(|mut q| q.pop_front());
                    if let Some(w) = waiter {
                        let _ = w.send(f);
                    }
                }
                Ok(other) => {
                    if tx.send(other).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!("corrupt frame from a session worker: {e}");
                    break;
                }
            }
        }
        // Dropping tx and the file waiters tells everyone the worker is gone.
        if let Ok(mut q) = files2.lock() {
            q.clear();
        }
    })
    .abort_handle();
    let conn = Conn {
        writer: tokio::sync::Mutex::new(wr),
        cells: tokio::sync::Mutex::new(rx),
        files,
        reader,
    };
    let first = {
        let mut cells = conn.cells.lock().await;
        tokio::time::timeout(START_TIMEOUT, cells.recv()).await
    };
    match first {
        Ok(Some(WorkerReply::Ready { pid, ipython })) => {
            tracing::trace!(pid, ipython, "session worker ready");
            Ok(conn)
        }
        Ok(_) => Err(ExecError::SandboxUnavailable(
            "the session worker died while starting; see the log".into(),
        )),
        Err(_) => Err(ExecError::BackendUnavailable(
            "the session worker did not start in time".into(),
        )),
    }
}

/// What a session keeps between restarts of its worker. Its namespaces (the mount namespace
/// holds the tmpfs `/workspace` and `/tmp`) are kept by its holder, a process of the zygote's
/// known to the zygote by `name`; the server holds no descriptor for them.
pub(crate) struct Sandbox {
    pub name: String,
    /// The working directory with the sandbox off.
    pub workdir: Option<std::path::PathBuf>,
    /// The session's user-mode network stack, in egress mode; held so that it lives as long.
    pub _net: Option<super::network::Slirp>,
}

/// Whether the backend has work: cells running and sessions being started now, and when the
/// last of them ended.
#[derive(Debug)]
pub(crate) struct Activity {
    last: Mutex<Instant>,
    running: AtomicUsize,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            last: Mutex::new(Instant::now()),
            running: AtomicUsize::new(0),
        }
    }
}

/// A cell (or a session start) in flight; counted until dropped, however its run ends (a
/// cancelled one included).
pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

impl Activity {
    fn touch(&self) {
        if let Ok(mut t) = self.last.lock() {
            *t = Instant::now();
        }
    }

    /// Counts a cell or a start as running until the guard is dropped.
    pub fn work(self: &Arc<Self>) -> Busy {
        self.running.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// How long the backend has had no work (zero while a cell runs).
    pub fn idle(&self) -> Duration {
        if self.running.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.last.lock().map(|t| t.elapsed()).unwrap_or_default()
    }
}

pub(crate) struct LocalKernel {
    pub zygote: Arc<Zygote>,
    pub activity: Arc<Activity>,
    pub sandbox: Arc<Sandbox>,
    pub conn: Mutex<Option<Arc<Conn>>>,
    pub cgroup: Option<Arc<Cgroup>>,
    pub oom_seen: AtomicU64,
    pub cells_sent: AtomicU64,
    pub max_file_bytes: u64,
    /// Returned to the backend's pool of host uids when the session ends.
    pub on_drop: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    pub closed: std::sync::atomic::AtomicBool,
}

impl LocalKernel {
    /// (Re)starts the worker in the session's sandbox, and connects to it. The zygote ends
    /// the previous worker and everything it started first.
    pub async fn start_worker(&self) -> Result<(), ExecError> {
        if let Ok(mut c) = self.conn.lock() {
            c.take();
        }
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let theirs: OwnedFd = theirs.into();
        let zygote = self.zygote.clone();
        let sandbox = self.sandbox.clone();
        let procs = self
            .cgroup
            .as_ref()
            .map(|c| c.procs_files())
            .unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            zygote.start_session(&sandbox.name, sandbox.workdir.as_deref(), &procs, theirs)
        })
        .await
        .map_err(|e| ExecError::Protocol(e.to_string()))??;
        let conn = connect(ours).await?;
        if let Ok(mut c) = self.conn.lock() {
            *c = Some(Arc::new(conn));
        }
        if let Some(cg) = &self.cgroup {
            self.oom_seen.store(cg.oom_kills(), Ordering::SeqCst);
        }
        Ok(())
    }

    /// Ends every process of the session and removes its cgroup (blocking).
    fn end_blocking(zygote: &Zygote, name: &str, cgroup: Option<&Cgroup>) {
        if let Err(e) = zygote.close(name) {
            tracing::debug!(session = name, "closing a session: {e}");
        }
        if let Some(cg) = cgroup {
            cg.remove();
        }
    }

    fn conn(&self) -> Result<Arc<Conn>, ExecError> {
        self.conn
            .lock()
            .ok()
            .and_then(|c| c.clone())
            .ok_or_else(|| ExecError::Protocol("the session is not running".into()))
    }

    fn death_reason(&self) -> String {
        if let Some(cg) = &self.cgroup {
            let now = cg.oom_kills();
            if now > self.oom_seen.swap(now, Ordering::SeqCst) {
                return "it ran out of memory and was killed".into();
            }
        }
        "the Python process exited".into()
    }

    /// Sends a file request and waits for its answer; a failure comes back as the error.
    async fn file_call(&self, msg: WorkerRequest<'_>) -> Result<WorkerReply, ExecError> {
        let conn = self.conn()?;
        let (tx, rx) = oneshot::channel();
        // Requests and replies are strictly ordered on the channel: queue then send, under
        // the writer lock so that two file calls cannot cross.
        {
            let mut w = conn.writer.lock().await;
            if let Ok(mut q) = conn.files.lock() {
                q.push_back(tx);
            }
            write_frame(&mut w, &msg).await?;
        }
        let reply = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .map_err(|_| ExecError::Protocol("the session did not answer a file request".into()))?
            .map_err(|_| ExecError::Protocol("the session ended during a file request".into()))?;
        match reply {
            WorkerReply::FileError { kind, error } => Err(match kind {
                FileErrorKind::NotFound => ExecError::NotFound(error),
                FileErrorKind::BadRequest => ExecError::BadRequest(error),
            }),
            other => Ok(other),
        }
    }
}

impl LocalKernel {
    async fn execute_cell(&self, code: &str, sink: &mut OutputSink) -> Result<CellEnd, ExecError> {
        let conn = self.conn()?;
        let mut cells = conn.cells.lock().await;
        // Frames of an abandoned earlier cell carry its number and are skipped.
        let cell = self.cells_sent.fetch_add(1, Ordering::SeqCst) + 1;
        conn.send(&WorkerRequest::Execute { cell, code }).await?;
        loop {
            match cells.recv().await {
                Some(WorkerReply::Output { cell: c, outputs }) if c == cell => {
                    outputs.into_iter().for_each(|o| sink.push(o))
                }
                Some(WorkerReply::Done {
                    cell: c,
                    outputs,
                    error,
                    truncated,
                }) if c == cell => {
                    outputs.into_iter().for_each(|o| sink.push(o));
                    if truncated {
                        sink.mark_truncated();
                    }
                    return Ok(CellEnd::Completed { error });
                }
                Some(_) => continue,
                None => {
                    return Ok(CellEnd::Died {
                        reason: self.death_reason(),
                    })
                }
            }
        }
    }
}

#[async_trait]
impl Kernel for LocalKernel {
    async fn execute(&self, code: &str, sink: &mut OutputSink) -> Result<CellEnd, ExecError> {
        let _busy = self.activity.work();
        self.execute_cell(code, sink).await
    }

    async fn interrupt(&self) -> Result<(), ExecError> {
        // A worker that is gone cannot be interrupted: the cell's end says what happened.
        if let Ok(conn) = self.conn() {
            let _ = conn.send(&WorkerRequest::Interrupt).await;
        }
        Ok(())
    }

    async fn restart(&self) -> Result<(), ExecError> {
        self.start_worker()
            .await
            .map_err(crate::limits::explain_exhaustion)
    }

    async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut c) = self.conn.lock() {
            c.take();
        }
        let zygote = self.zygote.clone();
        let sandbox = self.sandbox.clone();
        let cgroup = self.cgroup.clone();
        let _ = tokio::task::spawn_blocking(move || {
            Self::end_blocking(&zygote, &sandbox.name, cgroup.as_deref())
        })
        .await;
        if let Some(f) = self.on_drop.lock().ok().and_then(|mut f| f.take()) {
            f();
        }
    }

    async fn write_file(&self, path: &str, data: &[u8]) -> Result<(), ExecError> {
        let data = base64::engine::general_purpose::STANDARD.encode(data);
        match self
            .file_call(WorkerRequest::WriteFile { path, data })
            .await?
        {
            WorkerReply::Written {} => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    async fn read_file(&self, path: &str) -> Result<Vec<u8>, ExecError> {
        let limit = self.max_file_bytes;
        match self
            .file_call(WorkerRequest::ReadFile { path, limit })
            .await?
        {
            WorkerReply::FileData { data } => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| ExecError::Protocol(e.to_string())),
            other => Err(unexpected(&other)),
        }
    }

    async fn list_files(&self) -> Result<FileList, ExecError> {
        match self.file_call(WorkerRequest::ListFiles).await? {
            WorkerReply::FileList { names, truncated } => Ok(FileList {
                files: names,
                truncated,
            }),
            other => Err(unexpected(&other)),
        }
    }
}

/// A file request answered with the answer to another kind of request.
fn unexpected(reply: &WorkerReply) -> ExecError {
    ExecError::Protocol(format!(
        "the session answered a file request with `{}`",
        reply.kind()
    ))
}

impl Drop for LocalKernel {
    /// A kernel dropped without `shutdown` (a pooled one when the backend goes away) still
    /// ends its processes and removes its cgroup.
    fn drop(&mut self) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut c) = self.conn.lock() {
            c.take();
        }
        Self::end_blocking(&self.zygote, &self.sandbox.name, self.cgroup.as_deref());
        if let Some(f) = self.on_drop.lock().ok().and_then(|mut f| f.take()) {
            f();
        }
    }
}
