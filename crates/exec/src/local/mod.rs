//! The local backend: sessions forked from a warm Python zygote into their own sandbox.
//!
//! With [`SandboxMode::Local`] every session gets new user, pid, mount, network, ipc and uts
//! namespaces; a read-only root made of the host paths Python needs; private tmpfs `/workspace`
//! and `/tmp`; cgroup limits (as root) and rlimits; dropped capabilities and a seccomp filter;
//! a scrubbed environment. With [`SandboxMode::None`] code runs unconfined, as the server's user.

mod cgroup;
mod channel;
#[cfg(test)]
mod contract_tests;
mod init_exe;
mod kernel;
mod memfd;
mod messages;
mod network;
mod report;
mod rundir;
mod seccomp;
mod worker_package;
mod zygote;

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use codeact_protocol::{BackendKind, SandboxReport};

use self::cgroup::Cgroups;
use self::kernel::{LocalKernel, Sandbox};
use self::messages::{Limits, ZygoteConfig};
use self::zygote::Zygote;
use crate::{Backend, ExecConfig, ExecError, Kernel, NetworkMode, SandboxMode};

/// First host uid of the range sessions run as when the server is root.
/// The zygote's command line as `ps` shows it (set by `codeact_worker.title` at its start).
pub const ZYGOTE_TITLE: &str = "codeact-zygote";
/// The command line of the zygote's one small child that sessions' holders are cloned from.
pub const BUILDER_TITLE: &str = "codeact-builder";

const UID_BASE: u32 = 0x30000;
/// CPU time one process of a session may use (an rlimit; the cgroup shares the CPU).
const CPU_SECONDS: u64 = 6 * 3600;
/// Open files per process of a session (an rlimit).
const OPEN_FILES: u64 = 4096;

/// The local backend.
pub struct LocalBackend {
    inner: Arc<Inner>,
}

struct Inner {
    /// Started, never used sessions waiting for an id.
    pool: Mutex<std::collections::VecDeque<LocalKernel>>,
    refill: Arc<tokio::sync::Notify>,
    /// Cells running, and when a session was last asked for or a cell ended; the pool
    /// refills once the backend is idle.
    activity: Arc<kernel::Activity>,
    /// Set by `shutdown`: no more sandboxes are pre-started.
    closed: std::sync::atomic::AtomicBool,
    /// Sessions are made by each in turn; a session keeps to the one that made it.
    zygotes: Vec<Arc<Zygote>>,
    config: ExecConfig,
    cgroups: Option<Arc<Cgroups>>,
    cgroup_error: Option<String>,
    uids: Arc<Mutex<Vec<bool>>>,
    next_name: AtomicU64,
    data_dir: PathBuf,
    _stage: Option<tempfile_dir::StageDir>,
}

mod tempfile_dir {
    //! The empty host directory each session's holder mounts its private staging tmpfs on.
    use std::path::PathBuf;

    pub struct StageDir(pub PathBuf);

    impl Drop for StageDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir(&self.0);
        }
    }
}

impl LocalBackend {
    /// Starts the zygote. With the sandbox on, also proves that a sandboxed session can be
    /// created on this machine, and refuses (an error) when it cannot.
    pub async fn new(config: &ExecConfig) -> Result<Self, ExecError> {
        crate::limits::raise_open_files_limit();
        let config = config.clone();
        let inner = tokio::task::spawn_blocking(move || Inner::new_blocking(config))
            .await
            .map_err(|e| ExecError::BackendUnavailable(e.to_string()))??;
        let inner = Arc::new(inner);
        // Prove now, not at the first request, that a session can start here.
        let probe = inner.clone().start_fresh().await?;
        probe.shutdown().await;
        if inner.config.pool_size > 0 {
            tokio::spawn(refill_pool(Arc::downgrade(&inner)));
        }
        Ok(Self { inner })
    }
}

impl Inner {
    fn new_blocking(config: ExecConfig) -> Result<Self, ExecError> {
        let sandboxed = config.sandbox.mode == SandboxMode::Local;
        if !sandboxed {
            tracing::warn!("sandbox disabled (--sandbox none): session code runs on the host with the server's rights");
        }
        let egress = sandboxed && config.sandbox.network == NetworkMode::Egress;
        if egress {
            network::check_available()?;
        }
        let cache = codeact_protocol::paths::cache_dir();
        static BACKENDS: AtomicU64 = AtomicU64::new(0);
        let n = BACKENDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n == 0 {
            rundir::remove_stale(&cache);
        }
        let data_dir = rundir::create(&cache, n)?;
        // Under the system temp dir, which every uid may search; each sandbox mounts a private
        // tmpfs over it in its own mount namespace, so it stays empty on the host.
        let stage = std::env::temp_dir().join(format!("codeact-stage-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&stage)?;
        let (cgroups, cgroup_error) = if sandboxed {
            match Cgroups::detect(n) {
                Ok(c) => (Some(Arc::new(c)), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, Some("sandbox disabled".into()))
        };
        let seccomp_b64 = if sandboxed {
            seccomp::programs()?
                .iter()
                .map(|p| base64::engine::general_purpose::STANDARD.encode(p))
                .collect()
        } else {
            Vec::new()
        };
        let unique_uids = sandboxed && nix::unistd::geteuid().is_root();
        let zcfg = ZygoteConfig {
            sandboxed,
            network: if egress {
                NetworkMode::Egress
            } else {
                NetworkMode::None
            },
            stage: stage.clone(),
            extra_ro_paths: config.sandbox.extra_ro_paths.clone(),
            disk_bytes: config.sandbox.disk_bytes,
            output_limit: config.output_limit,
            limits: Limits {
                file_size_bytes: config.sandbox.file_size_bytes,
                memory_bytes: config.sandbox.memory_bytes,
                cpu_seconds: CPU_SECONDS,
                open_files: OPEN_FILES,
                core_bytes: 0,
                nproc: unique_uids.then_some(config.sandbox.max_processes),
            },
            seccomp_b64,
            preload: config.preload.clone(),
        };
        let env = session_env(sandboxed, &cache);
        // Started side by side: each spends its start importing and warming.
        let zygotes = std::thread::scope(|scope| {
            let starting: Vec<_> = (0..config.zygotes.max(1))
                .map(|_| scope.spawn(|| Zygote::start(&config.python, &zcfg, &env)))
                .collect();
            starting
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| {
                            Err(ExecError::Protocol("zygote start panicked".into()))
                        })
                        .map(Arc::new)
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        report::warn_if_incomplete(&config.python, &zygotes[0].info.missing_modules);
        Ok(Self {
            zygotes,
            uids: Arc::new(Mutex::new(vec![
                false;
                if unique_uids {
                    config.max_sessions.max(1) + config.pool_size + 1
                } else {
                    0
                }
            ])),
            pool: Mutex::new(std::collections::VecDeque::new()),
            refill: Arc::new(tokio::sync::Notify::new()),
            activity: Arc::default(),
            closed: std::sync::atomic::AtomicBool::new(false),
            config,
            cgroups,
            cgroup_error,
            next_name: AtomicU64::new(0),
            data_dir,
            _stage: Some(tempfile_dir::StageDir(stage)),
        })
    }

    fn sandboxed(&self) -> bool {
        self.config.sandbox.mode == SandboxMode::Local
    }

    fn take_uid(&self) -> Result<Option<(usize, u32)>, ExecError> {
        let mut u = self
            .uids
            .lock()
            .map_err(|_| ExecError::Protocol("uid pool poisoned".into()))?;
        if u.is_empty() {
            return Ok(None);
        }
        let slot = u
            .iter()
            .position(|used| !used)
            .ok_or(ExecError::TooManySessions(u.len()))?;
        u[slot] = true;
        Ok(Some((slot, UID_BASE + slot as u32)))
    }

    fn start_blocking(&self) -> Result<LocalKernel, ExecError> {
        let uid = self.take_uid()?;
        let uids = self.uids.clone();
        let release = move || {
            if let Some((slot, _)) = uid {
                if let Ok(mut u) = uids.lock() {
                    u[slot] = false;
                }
            }
        };
        let result = self.build_sandbox(uid.map(|(_, u)| u));
        match result {
            Ok((zygote, sandbox, cgroup)) => Ok(LocalKernel {
                activity: self.activity.clone(),
                zygote,
                sandbox: Arc::new(sandbox),
                conn: Mutex::new(None),
                cgroup: cgroup.map(Arc::new),
                oom_seen: AtomicU64::new(0),
                cells_sent: AtomicU64::new(0),
                closed: std::sync::atomic::AtomicBool::new(false),
                max_file_bytes: self.config.max_file_bytes,
                on_drop: Mutex::new(Some(Box::new(release))),
            }),
            Err(e) => {
                release();
                Err(e)
            }
        }
    }

    /// Makes a session's sandbox: with the sandbox on, its cgroup, then its namespaces and
    /// root, kept by a holder process of the zygote's, then (egress) its network stack.
    fn build_sandbox(
        &self,
        uid: Option<u32>,
    ) -> Result<(Arc<Zygote>, Sandbox, Option<cgroup::Cgroup>), ExecError> {
        let n = self
            .next_name
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("s{n}");
        let zygote = self.zygotes[n as usize % self.zygotes.len()].clone();
        if !self.sandboxed() {
            let workdir = self.data_dir.join("sessions").join(&name);
            std::fs::create_dir_all(&workdir)?;
            let sandbox = Sandbox {
                name,
                workdir: Some(workdir),
                _net: None,
            };
            return Ok((zygote, sandbox, None));
        }
        let cgroup = match &self.cgroups {
            Some(cg) => Some(cg.create(&name, &self.config.sandbox)?),
            None => None,
        };
        let procs = cgroup.as_ref().map(|c| c.procs_files()).unwrap_or_default();
        let built = zygote.build(&name, uid, &procs).and_then(|holder| {
            if self.config.sandbox.network == NetworkMode::Egress {
                network::attach(holder).map(Some)
            } else {
                Ok(None)
            }
        });
        match built {
            Ok(net) => Ok((
                zygote,
                Sandbox {
                    name,
                    workdir: None,
                    _net: net,
                },
                cgroup,
            )),
            Err(e) => {
                let _ = zygote.close(&name);
                if let Some(cg) = cgroup {
                    cg.remove();
                }
                Err(e)
            }
        }
    }
}

/// The environment of every session: nothing of the server's, only what Python needs.
fn session_env(sandboxed: bool, cache: &std::path::Path) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("TERM".into(), "dumb".into()),
        ("MPLBACKEND".into(), "Agg".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PYTHONIOENCODING".into(), "utf-8".into()),
        ("IPYTHONDIR".into(), "/tmp/.ipython".into()),
        (
            "MPLCONFIGDIR".into(),
            cache.join("matplotlib").to_string_lossy().into_owned(),
        ),
        // Forked sessions must not inherit a BLAS thread pool; one thread each also keeps
        // many sessions from oversubscribing the CPUs.
        ("OPENBLAS_NUM_THREADS".into(), "1".into()),
        ("OMP_NUM_THREADS".into(), "1".into()),
        ("MKL_NUM_THREADS".into(), "1".into()),
        (
            "HOME".into(),
            if sandboxed {
                "/workspace".into()
            } else {
                "/tmp".into()
            },
        ),
    ];
    // Hardware workarounds some machines need for their BLAS to compute correctly.
    for key in ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] {
        if let Ok(v) = std::env::var(key) {
            env.push((key.into(), v));
        }
    }
    env
}

#[async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> BackendKind {
        if self.inner.sandboxed() {
            BackendKind::Local
        } else {
            BackendKind::None
        }
    }

    fn report(&self) -> SandboxReport {
        report::report(&self.inner)
    }

    async fn shutdown(&self) {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.refill.notify_one();
        let pooled: Vec<LocalKernel> = self
            .inner
            .pool
            .lock()
            .map(|mut p| p.drain(..).collect())
            .unwrap_or_default();
        for k in pooled {
            k.shutdown().await;
        }
    }

    fn pooled(&self) -> usize {
        self.inner.pool.lock().map(|p| p.len()).unwrap_or(0)
    }

    async fn start(&self, _id: &str) -> Result<Box<dyn Kernel>, ExecError> {
        // A start made here is work the pool's refill must not compete with either.
        let _busy = self.inner.activity.work();
        let pooled = self.inner.pool.lock().ok().and_then(|mut p| p.pop_front());
        self.inner.refill.notify_one();
        match pooled {
            Some(k) => Ok(Box::new(k)),
            None => Ok(Box::new(self.inner.clone().start_fresh().await?)),
        }
    }
}

impl Inner {
    /// Starts a sandbox with its worker ready to run a cell.
    async fn start_fresh(self: Arc<Self>) -> Result<LocalKernel, ExecError> {
        let inner = self.clone();
        // The zygote's channel is a blocking socket.
        let kernel = tokio::task::spawn_blocking(move || inner.start_blocking())
            .await
            .map_err(|e| ExecError::Protocol(e.to_string()))?
            .map_err(crate::limits::explain_exhaustion)?;
        if let Err(e) = kernel.start_worker().await {
            kernel.shutdown().await;
            return Err(crate::limits::explain_exhaustion(e));
        }
        Ok(kernel)
    }
}

/// How long the backend must have been idle (no session being started, no cell running, and
/// none ended meanwhile) before the pool refills. Making a sandbox takes a core for tens of
/// milliseconds; under load that core belongs to the cells being run, and sessions asked for
/// meanwhile start fresh, as without a pool. Short, because idle is measured from the end of
/// the last piece of work: sessions asked for 100 ms apart, each running a quick cell, leave
/// the cores free most of the time, and should each find a started sandbox (with 250 ms here
/// the pool never refilled under that pattern, and every start waited for a sandbox to be
/// made: 40 ms instead of 3 ms). Not shorter: with 20 ms, 100 conversations with a model's
/// 1 s latency between cells refilled it in their gaps, with more memory and a slower p99
/// (`codeact bench serve --warm`; README).
const REFILL_QUIET: std::time::Duration = std::time::Duration::from_millis(50);

/// Keeps the pool full, one sandbox at a time so that refilling never hogs the CPUs, and only
/// while the backend is idle ([`REFILL_QUIET`]). Holds the backend only while working, so
/// that dropping the backend ends it.
async fn refill_pool(weak: std::sync::Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        if inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let have = inner.pool.lock().map(|p| p.len()).unwrap_or(usize::MAX);
        if have >= inner.config.pool_size {
            let notify = inner.refill.clone();
            drop(inner);
            // Wake on demand, and now and then to notice that the backend is gone.
            let wait = std::time::Duration::from_secs(5);
            let _ = tokio::time::timeout(wait, notify.notified()).await;
            continue;
        }
        let idle = inner.activity.idle();
        if idle < REFILL_QUIET {
            drop(inner);
            tokio::time::sleep(REFILL_QUIET - idle).await;
            continue;
        }
        match inner.clone().start_fresh().await {
            Ok(k) => {
                if inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
                    k.shutdown().await;
                    return;
                }
                if let Ok(mut p) = inner.pool.lock() {
                    p.push_back(k);
                }
            }
            Err(e) => {
                tracing::warn!("could not pre-start a session: {e}");
                drop(inner);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
