//! File access through the kernel itself: Jupyter Kernel Gateway serves no contents API by
//! default, so small hidden Python snippets read, write and list files relative to the kernel's
//! working directory, with the bytes carried as base64.

use std::path::{Component, Path};

use base64::Engine;
use codeact_protocol::http::FileList;
use serde_json::{json, Value};

use super::JupyterKernel;
use crate::ExecError;

/// Raw bytes per message. Base64 makes 4 MiB of them, under the 10 MiB a Tornado server
/// accepts in one WebSocket message by default.
const CHUNK: usize = 3 << 20;

/// Paths stay relative to the working directory and may not climb out of it.
pub(super) fn check_path(path: &str) -> Result<(), ExecError> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && !path.contains('\0')
        && !p.is_absolute()
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(())
    } else {
        Err(ExecError::BadRequest(format!(
            "path {path:?} must be relative to the working directory, without '..'"
        )))
    }
}

/// A Python string literal for `s` (a JSON string is one).
pub(super) fn py_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Code that writes one chunk. The body runs through `exec` in a fresh namespace so that none of
/// its names land among the user's variables. Chunks go to a side file that replaces the target
/// only once complete, so a failed upload never leaves half a file under the real name.
fn write_chunk_code(path: &str, chunk_b64: &str, first: bool, last: bool) -> String {
    let mode = if first { "'wb'" } else { "'ab'" };
    let finish = if last { "os.replace(t, p)\n" } else { "" };
    let body = format!(
        "import base64, os\n\
         p = {path}\n\
         t = p + '.codeact-part'\n\
         d = os.path.dirname(p)\n\
         if d:\n    os.makedirs(d, exist_ok=True)\n\
         with open(t, {mode}) as f:\n    f.write(base64.b64decode('{chunk_b64}'))\n\
         {finish}",
        path = py_str(path),
    );
    format!("exec({}, {{}})", py_str(&body))
}

/// An expression giving bytes `offset..offset+len` of `path`, base64-encoded.
fn read_chunk_expr(path: &str, offset: usize, len: usize) -> String {
    format!(
        "(lambda f: [f.seek({offset}), __import__('base64').b64encode(f.read({len})).decode(), f.close()][1])(open({}, 'rb'))",
        py_str(path)
    )
}

/// The local worker's listing (`codeact_worker/listing.py`, standard library only), which the
/// kernel runs in a namespace of its own, so that both backends list files alike.
const LISTING_PY: &str = include_str!("../../python/codeact_worker/listing.py");

/// An expression giving the listing (see `LISTING_PY`) as base64 of the JSON of its
/// `[names, truncated]`.
fn list_expr() -> String {
    format!(
        "(lambda ns: [exec({}, ns), __import__('base64').b64encode(__import__('json').dumps(ns['list_entries']()).encode()).decode()][1])({{}})",
        py_str(LISTING_PY)
    )
}

/// The error a failed snippet stands for, from Python's exception name.
fn file_error(path: &str, ename: &str, evalue: &str) -> ExecError {
    match ename {
        "FileNotFoundError" => ExecError::BadRequest(format!("no such file: {path}")),
        "IsADirectoryError" => ExecError::BadRequest(format!("{path} is a directory")),
        "NotADirectoryError" => {
            ExecError::BadRequest(format!("a parent of {path} is not a directory"))
        }
        "PermissionError" => ExecError::Io(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{path}: {evalue}"),
        )),
        _ => ExecError::Io(std::io::Error::other(format!("{path}: {ename}: {evalue}"))),
    }
}

/// The base64 payload of a `user_expressions` result: its `text/plain` is the repr of a str.
fn expression_bytes(path: &str, results: &Value, name: &str) -> Result<Vec<u8>, ExecError> {
    let r = results
        .get(name)
        .ok_or_else(|| ExecError::Protocol(format!("the kernel returned no value for {name}")))?;
    let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
    if field("status") != "ok" {
        return Err(file_error(path, field("ename"), field("evalue")));
    }
    let repr = r
        .get("data")
        .and_then(|d| d.get("text/plain"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let b64 = repr.trim().trim_matches(|c| c == '\'' || c == '"');
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| ExecError::Protocol(format!("the kernel returned bad base64 for {name}: {e}")))
}

impl JupyterKernel {
    pub(super) async fn write_file_impl(&self, path: &str, data: &[u8]) -> Result<(), ExecError> {
        check_path(path)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let count = data.len().div_ceil(CHUNK).max(1);
        for i in 0..count {
            let chunk = &data[(i * CHUNK).min(data.len())..((i + 1) * CHUNK).min(data.len())];
            let code = write_chunk_code(path, &b64.encode(chunk), i == 0, i + 1 == count);
            let reply = self.run_hidden(&code, json!({})).await?;
            if reply.reply_status() != "ok" {
                let field = |k: &str| {
                    reply
                        .content
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                return Err(file_error(path, &field("ename"), &field("evalue")));
            }
        }
        Ok(())
    }

    pub(super) async fn read_file_impl(&self, path: &str) -> Result<Vec<u8>, ExecError> {
        check_path(path)?;
        let mut out = Vec::new();
        loop {
            let exprs = json!({ "chunk": read_chunk_expr(path, out.len(), CHUNK) });
            let reply = self.run_hidden("", exprs).await?;
            let results = reply
                .content
                .get("user_expressions")
                .cloned()
                .unwrap_or_default();
            let chunk = expression_bytes(path, &results, "chunk")?;
            let done = chunk.len() < CHUNK;
            out.extend_from_slice(&chunk);
            if done {
                return Ok(out);
            }
        }
    }

    pub(super) async fn list_files_impl(&self) -> Result<FileList, ExecError> {
        let reply = self.run_hidden("", json!({ "list": list_expr() })).await?;
        let results = reply
            .content
            .get("user_expressions")
            .cloned()
            .unwrap_or_default();
        let bytes = expression_bytes(".", &results, "list")?;
        let (files, truncated) = serde_json::from_slice(&bytes).map_err(|e| {
            ExecError::Protocol(format!("the kernel listed files in an odd form: {e}"))
        })?;
        Ok(FileList { files, truncated })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_outside_the_working_directory() {
        assert!(check_path("a/b.txt").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a", "a\0b"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn snippets_quote_the_path() {
        let code = write_chunk_code("it's \"q\".txt", "AAAA", true, true);
        assert!(code.starts_with("exec(\"import base64"));
        assert!(code.contains("os.replace"));
        assert!(read_chunk_expr("a'b", 0, 10).contains("open(\"a'b\", 'rb')"));
    }

    #[test]
    fn decodes_expression_results() {
        let ok = json!({"x": {"status": "ok", "data": {"text/plain": "'aGk='"}}});
        assert_eq!(expression_bytes("p", &ok, "x").ok(), Some(b"hi".to_vec()));
        let err = json!({"x": {"status": "error", "ename": "FileNotFoundError", "evalue": "nope"}});
        assert!(matches!(
            expression_bytes("p", &err, "x"),
            Err(ExecError::BadRequest(_))
        ));
    }
}
