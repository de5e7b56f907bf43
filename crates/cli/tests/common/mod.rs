//! What the tests that drive the real `codeact` binary share.

use std::process::{Command, Output};

/// Runs the binary with `args` to its end.
pub fn codeact(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_codeact"))
        .args(args)
        .output()
        .unwrap()
}

/// (stdout, stderr) of a finished run, as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
