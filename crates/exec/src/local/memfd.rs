//! Sealed, read-only memory files: how the zygote receives what it runs (`codeact-init`, the
//! worker package) without a path on any filesystem.

use std::ffi::CStr;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use crate::ExecError;

/// A memory file named `name` holding `data`, sealed so that no process it is passed to can
/// change it.
pub(crate) fn sealed(name: &CStr, data: &[u8]) -> Result<OwnedFd, ExecError> {
    let io = |e: nix::Error| ExecError::Io(e.into());
    let fd = memfd_create(
        name,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(io)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(data)?;
    let fd = OwnedFd::from(file);
    let seals = SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_SEAL;
    fcntl(fd.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals)).map_err(io)?;
    Ok(fd)
}
