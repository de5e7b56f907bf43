//! Opt-in network egress: slirp4netns gives a session's network namespace a user-mode NAT
//! to the outside world, with the host's own loopback made unreachable.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ExecError;

const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The network stack of one session; killed with it.
pub(crate) struct Slirp {
    child: Child,
}

impl Drop for Slirp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fails clearly when egress was asked for but cannot be provided.
pub fn check_available() -> Result<(), ExecError> {
    match Command::new("slirp4netns").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => Ok(()),
        _ => Err(ExecError::SandboxUnavailable(
            "network egress needs slirp4netns (Debian package slirp4netns); install it or use network none".into(),
        )),
    }
}

/// Connects the network namespace of process `pid` (a session's holder) to the outside.
pub fn attach(pid: i32) -> Result<Slirp, ExecError> {
    let (ready_r, ready_w) = nix::unistd::pipe().map_err(|e| ExecError::Io(e.into()))?;
    let mut cmd = Command::new("slirp4netns");
    cmd.args([
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--enable-sandbox",
        "--enable-seccomp",
    ]);
    cmd.arg("--ready-fd=3");
    if !nix::unistd::geteuid().is_root() {
        cmd.arg(format!("--userns-path=/proc/{pid}/ns/user"));
    }
    cmd.arg(pid.to_string()).arg("tap0");
    cmd.env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let raw = ready_w.as_raw_fd();
    // SAFETY: only async-signal-safe calls run between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| ExecError::SandboxUnavailable(format!("cannot start slirp4netns: {e}")))?;
    drop(ready_w);
    let slirp = Slirp { child };
    wait_ready(ready_r)?;
    Ok(slirp)
}

fn wait_ready(fd: OwnedFd) -> Result<(), ExecError> {
    let mut pfd = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&fd),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = READY_TIMEOUT.as_millis() as u16;
    let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(ms))
        .map_err(|e| ExecError::Io(e.into()))?;
    let mut byte = [0u8; 1];
    let got = if n > 0 {
        std::fs::File::from(fd).read(&mut byte).unwrap_or(0)
    } else {
        0
    };
    if got == 1 {
        Ok(())
    } else {
        Err(ExecError::SandboxUnavailable(
            "slirp4netns did not bring the session's network up".into(),
        ))
    }
}
