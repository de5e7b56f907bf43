//! `codeact-init`, the small pid 1 of every session (see `init/init.rs`), shipped inside
//! this crate and handed to the zygote as a sealed memory file: sessions exec it by file
//! descriptor, so it needs no path inside their root, and all of them share its pages.

use std::io::Write;
use std::os::fd::OwnedFd;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use crate::ExecError;

const INIT_EXE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/codeact-init"));

/// A read-only, sealed memory file holding the executable.
pub(crate) fn memfd() -> Result<OwnedFd, ExecError> {
    let io = |e: nix::Error| ExecError::Io(e.into());
    let fd = memfd_create(
        c"codeact-init",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(io)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(INIT_EXE)?;
    let fd = OwnedFd::from(file);
    let seals = SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_SEAL;
    fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        FcntlArg::F_ADD_SEALS(seals),
    )
    .map_err(io)?;
    Ok(fd)
}
