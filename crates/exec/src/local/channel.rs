//! The blocking SOCK_SEQPACKET control channel to the zygote: one JSON object per message,
//! with file descriptors passed alongside.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage,
    ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::time::TimeVal;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ExecError;

/// One end of a control channel.
pub(crate) struct Control {
    fd: OwnedFd,
}

fn proto<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> ExecError + '_ {
    move |e| ExecError::Protocol(format!("{what}: {e}"))
}

impl Control {
    /// A connected pair: ours, and the one to hand to the other process.
    pub fn pair() -> Result<(Control, OwnedFd), ExecError> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| ExecError::Io(e.into()))?;
        Ok((Control { fd: a }, b))
    }

    /// Replies slower than this are treated as a dead peer.
    pub fn set_timeout(&self, t: Duration) -> Result<(), ExecError> {
        let tv = TimeVal::new(t.as_secs() as _, t.subsec_micros() as _);
        setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv).map_err(|e| ExecError::Io(e.into()))
    }

    pub fn send<T: Serialize>(&self, msg: &T, fds: &[RawFd]) -> Result<(), ExecError> {
        let data = serde_json::to_vec(msg).map_err(proto("encode"))?;
        let iov = [IoSlice::new(&data)];
        let cmsg = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
        sendmsg::<UnixAddr>(
            self.fd.as_raw_fd(),
            &iov,
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|e| ExecError::Protocol(format!("the sandbox process is gone ({e})")))?;
        Ok(())
    }

    /// Receives one message; `None` when the peer has closed the channel.
    pub fn recv<T: DeserializeOwned>(&self) -> Result<Option<T>, ExecError> {
        let mut buf = vec![0u8; 1 << 16];
        let (n, fds) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut space = nix::cmsg_space!([RawFd; 4]);
            let msg = loop {
                match recvmsg::<UnixAddr>(
                    self.fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut space),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                ) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(nix::errno::Errno::EAGAIN) => {
                        return Err(ExecError::Protocol(
                            "the sandbox process did not answer in time".into(),
                        ))
                    }
                    other => break other.map_err(|e| ExecError::Io(e.into()))?,
                }
            };
            let mut fds = Vec::new();
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::ScmRights(v) = c {
                        fds.extend(v);
                    }
                }
            }
            (msg.bytes, fds)
        };
        // We never expect descriptors back; close any so they cannot leak.
        for fd in fds {
            // SAFETY: the kernel just gave us this descriptor and nothing else owns it.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(proto("decode"))
    }

    /// A request and its reply.
    pub fn call<T: Serialize, R: DeserializeOwned>(
        &self,
        msg: &T,
        fds: &[RawFd],
    ) -> Result<R, ExecError> {
        self.send(msg, fds)?;
        self.recv()?
            .ok_or_else(|| ExecError::Protocol("the sandbox process closed its channel".into()))
    }
}
