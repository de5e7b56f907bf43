//! JSON Lines, the format of every task file and result file here.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::EvalError;

/// One value per non-blank line; an error names the line (1-based).
pub fn parse_jsonl<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, EvalError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|cause| EvalError::Parse { line: i + 1, cause })
        })
        .collect()
}

pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|cause| EvalError::Read {
        path: path.display().to_string(),
        cause,
    })?;
    parse_jsonl(&text)
}
