//! Process file descriptors: a session's init is signalled through one, so that a pid the
//! kernel has since given to another process can never be hit by mistake.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

/// A handle on one live process.
pub(crate) struct Pidfd {
    fd: OwnedFd,
}

impl Pidfd {
    pub fn open(pid: i32) -> std::io::Result<Self> {
        // SAFETY: a plain system call; a non-negative return is a new descriptor we own.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: see above.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Self { fd })
    }

    /// Sends `sig`; a process that has already exited is not an error.
    pub fn signal(&self, sig: Signal) {
        // SAFETY: a plain system call on a descriptor we own.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                sig as i32,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
        }
    }

    /// Waits until the process has exited; false on timeout.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let mut pfd = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
        matches!(poll(&mut pfd, PollTimeout::from(ms)), Ok(n) if n > 0)
    }

    /// Kills the process and waits (briefly) for it to be gone.
    pub fn kill(&self) {
        self.signal(Signal::SIGKILL);
        self.wait_exit(Duration::from_secs(2));
    }
}
