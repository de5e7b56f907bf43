//! A working directory of its own for each session's kernel. Kernels of one Jupyter server
//! start in the server's root directory; without this, every session would see (and
//! overwrite) every other session's files, unlike the local backend's private /workspace.

use serde_json::{json, Value};

use super::conn::Connection;
use super::files::py_str;
use super::hidden_reply;
use crate::ExecError;

/// Where the session's files live, relative to the server's root directory. Named after the
/// session's first kernel and kept when a restart has to replace that kernel.
pub(super) fn name(kernel_id: &str) -> String {
    format!("codeact-sessions/{kernel_id}")
}

/// Creates the directory if needed and makes it the kernel's working directory (again after
/// each restart, which puts the kernel back in the server's root).
pub(super) async fn enter(conn: &Connection, dir: &str) -> Result<(), ExecError> {
    let code = format!(
        "import os as _codeact_os\n\
         _codeact_os.makedirs({d}, exist_ok=True)\n\
         _codeact_os.chdir({d})\n\
         _codeact_workdir = _codeact_os.getcwd()\n\
         del _codeact_os",
        d = py_str(dir)
    );
    run(conn, &code).await
}

/// Deletes the directory and its files when the session ends.
pub(super) async fn remove(conn: &Connection) -> Result<(), ExecError> {
    run(
        conn,
        "import os as _codeact_os, shutil as _codeact_shutil\n\
         _codeact_os.chdir('/')\n\
         _codeact_shutil.rmtree(_codeact_workdir, ignore_errors=True)",
    )
    .await
}

/// Runs setup code hidden from the user's history and waits for it to succeed.
async fn run(conn: &Connection, code: &str) -> Result<(), ExecError> {
    let reply = hidden_reply(conn, code, json!({})).await?;
    match reply.content.get("status").and_then(Value::as_str) {
        Some("ok") => Ok(()),
        _ => Err(ExecError::BackendUnavailable(format!(
            "cannot set up the session's working directory: {}",
            reply
                .content
                .get("evalue")
                .and_then(Value::as_str)
                .unwrap_or("error")
        ))),
    }
}
