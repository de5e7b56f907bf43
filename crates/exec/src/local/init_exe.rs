//! `codeact-init`, the small pid 1 of every session (see `init/init.rs`), shipped inside
//! this crate and handed to the zygote as a sealed memory file: sessions exec it by file
//! descriptor, so it needs no path inside their root, and all of them share its pages.

use std::os::fd::OwnedFd;

use crate::ExecError;

const INIT_EXE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/codeact-init"));

/// A read-only, sealed memory file holding the executable.
pub(crate) fn memfd() -> Result<OwnedFd, ExecError> {
    super::memfd::sealed(c"codeact-init", INIT_EXE)
}
