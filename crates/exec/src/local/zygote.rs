//! The zygote: one Python process that has imported and warmed everything a session needs,
//! and forks on request the holder of a session's sandbox and each start of its worker. It
//! keeps the table of sessions and their processes, so that the server holds nothing per
//! session but the worker's socket.
//! Sessions so start in milliseconds and share the zygote's memory copy-on-write.

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::channel::Control;
use super::messages::{ZygoteConfig, ZygoteInfo, ZygoteReply, ZygoteRequest};
use crate::ExecError;

pub(crate) struct Zygote {
    ctl: Mutex<Control>,
    child: Mutex<Child>,
    pub info: ZygoteInfo,
}

/// Starts the zygote's process with a scrubbed environment: the worker package's bootstrap,
/// its control channel on descriptor 3, `codeact-init` on 4 and the package's sources on 5.
/// Its standard error goes to the log. It waits for [`ZygoteRequest::Config`].
pub(crate) fn spawn(
    python: &Path,
    env: &[(String, String)],
) -> Result<(Child, Control), ExecError> {
    let (ctl, theirs) = Control::pair()?;
    let init_exe = super::init_exe::memfd()?;
    let sources = super::worker_package::sources_memfd()?;
    let mut cmd = Command::new(python);
    cmd.arg("-I")
        .arg("-c")
        .arg(super::worker_package::BOOTSTRAP)
        .args(["5", "zygote", "3", "4"]);
    cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.current_dir("/");
    let raw = theirs.as_raw_fd();
    let exe = init_exe.as_raw_fd();
    let src = sources.as_raw_fd();
    // SAFETY: only async-signal-safe calls (fcntl, dup2, setsid) run between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            // Moved out of the way first: one of them may already be 3, 4 or 5.
            let mut high = [raw, exe, src];
            for fd in &mut high {
                *fd = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 10);
                if *fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (target, fd) in (3..).zip(high) {
                if libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Its own session: a Ctrl-C at the server's terminal must not reach sessions.
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        ExecError::BackendUnavailable(format!("cannot start Python ({}): {e}", python.display()))
    })?;
    drop(theirs);
    drop(init_exe);
    drop(sources);
    if let Some(err) = child.stderr.take() {
        std::thread::Builder::new()
            .name("zygote-stderr".into())
            .spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    tracing::warn!(target: "codeact::worker", "{line}");
                }
            })
            .map_err(ExecError::Io)?;
    }
    Ok((child, ctl))
}

impl Zygote {
    /// Starts the zygote and waits until it is warm.
    pub fn start(
        python: &Path,
        config: &ZygoteConfig,
        env: &[(String, String)],
    ) -> Result<Self, ExecError> {
        let (mut child, ctl) = spawn(python, env)?;
        ctl.set_timeout(Duration::from_secs(120))?;
        ctl.send(&ZygoteRequest::Config(config), &[])?;
        let info = match ctl.recv::<ZygoteReply>()? {
            Some(ZygoteReply::Warm(info)) => info,
            Some(ZygoteReply::Failed { error }) => {
                return Err(ExecError::BackendUnavailable(format!(
                    "the Python zygote could not start: {error}"
                )))
            }
            Some(other) => {
                return Err(ExecError::Protocol(format!(
                    "the Python zygote answered its settings with {other:?}"
                )))
            }
            None => {
                let status = child.wait().ok();
                return Err(ExecError::BackendUnavailable(format!(
                    "the Python zygote exited during start ({status:?}); see the log for its error"
                )));
            }
        };
        ctl.set_timeout(Duration::from_secs(30))?;
        tracing::debug!(python = %info.python, ipython = info.ipython, "zygote warm");
        Ok(Self {
            ctl: Mutex::new(ctl),
            child: Mutex::new(child),
            info,
        })
    }

    /// Makes a session's sandbox: its namespaces and root, kept by its holder, which is born
    /// in the cgroups of `cgroup_procs`. Returns the holder's pid.
    pub fn build(
        &self,
        id: &str,
        uid: Option<u32>,
        cgroup_procs: &[PathBuf],
    ) -> Result<i32, ExecError> {
        let request = ZygoteRequest::Build {
            id,
            uid,
            cgroup_procs,
        };
        match self.call(&request, &[])? {
            ZygoteReply::Forked { pid } => Ok(pid),
            other => Err(Self::unexpected(other)),
        }
    }

    /// Starts a worker of a session (ending the previous one and all it started): in the
    /// session's sandbox with the sandbox on, else in `workdir`; the worker talks on
    /// `worker_fd`.
    pub fn start_session(
        &self,
        id: &str,
        workdir: Option<&Path>,
        cgroup_procs: &[PathBuf],
        worker_fd: OwnedFd,
    ) -> Result<(), ExecError> {
        let reply = self.call(
            &ZygoteRequest::Start {
                id,
                workdir,
                cgroup_procs,
            },
            &[worker_fd.as_raw_fd()],
        )?;
        drop(worker_fd);
        match reply {
            ZygoteReply::Started {} => Ok(()),
            other => Err(Self::unexpected(other)),
        }
    }

    /// Ends every process of a session (its holder, and so its namespaces, included).
    pub fn close(&self, id: &str) -> Result<(), ExecError> {
        match self.call(&ZygoteRequest::Close { id }, &[])? {
            ZygoteReply::Closed {} => Ok(()),
            other => Err(Self::unexpected(other)),
        }
    }

    fn call(
        &self,
        msg: &ZygoteRequest<'_>,
        fds: &[std::os::fd::RawFd],
    ) -> Result<ZygoteReply, ExecError> {
        let ctl = self
            .ctl
            .lock()
            .map_err(|_| ExecError::Protocol("zygote lock poisoned".into()))?;
        ctl.call(msg, fds)
    }

    fn unexpected(reply: ZygoteReply) -> ExecError {
        match reply {
            ZygoteReply::Failed { error } => ExecError::SandboxUnavailable(error),
            other => ExecError::Protocol(format!(
                "the zygote answered with the answer to another request: {other:?}"
            )),
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
