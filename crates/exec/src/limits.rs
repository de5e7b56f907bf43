//! The server's open-files limit: every live local session holds one descriptor of the
//! server's (its worker's socket), so the soft RLIMIT_NOFILE bounds the number of sessions.

use std::sync::Once;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

use crate::ExecError;

/// Raises this process's soft open-files limit to its hard limit, once per process (later
/// calls do nothing), and logs the change. The soft limit is often 1,024 while the hard one
/// allows far more; only root could go past the hard one, and the engine does not try.
pub fn raise_open_files_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::info!(from = soft, to = hard, "raised the open-files limit"),
            Err(e) => tracing::warn!(soft, hard, "cannot raise the open-files limit: {e}"),
        },
        Ok((soft, _)) => tracing::debug!(limit = soft, "open-files limit already at its maximum"),
        Err(e) => tracing::warn!("cannot read the open-files limit: {e}"),
    });
}

/// This process's soft open-files limit (descriptors), if it can be read.
pub fn open_files_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// A failure to start a session that comes from running out of descriptors, said as such (an
/// error naming the limit and its value); any other error unchanged.
pub(crate) fn explain_exhaustion(e: ExecError) -> ExecError {
    let errno = match &e {
        ExecError::Io(io) => io.raw_os_error(),
        _ => None,
    };
    match errno {
        Some(libc::EMFILE) => {
            let limit = open_files_limit().unwrap_or(0);
            tracing::warn!(limit, "the open-files limit stops new sessions");
            ExecError::OpenFilesLimit(limit)
        }
        Some(libc::ENFILE) => {
            tracing::warn!("the system-wide open-files limit stops new sessions");
            ExecError::SystemFilesLimit
        }
        _ => e,
    }
}
