//! What the tests that drive the real `codeact` binary share.
// Each test binary uses a part of this.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output};

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

/// The base URL of a `codeact serve` child started with its stdout piped: the one line it
/// prints there once it listens.
pub fn serving_address(child: &mut Child) -> String {
    let mut line = String::new();
    let stdout = child.stdout.take().expect("the server's stdout is piped");
    BufReader::new(stdout).read_line(&mut line).unwrap();
    line.trim()
        .strip_prefix("codeact serving on ")
        .unwrap_or_else(|| panic!("no address line: {line:?}"))
        .to_string()
}

/// The dev venv's Python (scripts/python-checks.sh, run by the README test command, installs
/// the clients the tests drive into it), checked to import `module`; $CODEACT_TEST_PYTHON
/// overrides it.
pub fn dev_python(module: &str) -> PathBuf {
    let python = std::env::var_os("CODEACT_TEST_PYTHON").map_or_else(
        || codeact_protocol::paths::cache_dir().join("dev-venv/bin/python"),
        PathBuf::from,
    );
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import {module}: run scripts/python-checks.sh (it installs it)",
        python.display()
    );
    python
}
