//! Result files: one JSON line per finished run, appended as soon as the run ends, so that a
//! rerun skips what is there and an interrupted run (Ctrl-C, a kill) keeps what finished.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::EvalError;

/// An append-only JSONL file of records.
pub struct RecordLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl RecordLog {
    /// Opens (creating it and its directory) the log at `path` and reads what it holds. A last
    /// line cut short by a kill is dropped from the file; any other bad line is an error.
    pub fn open<T: DeserializeOwned>(path: &Path) -> Result<(Self, Vec<T>), EvalError> {
        let write_err = |cause| EvalError::Write {
            path: path.display().to_string(),
            cause,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            not_a_file(dir)?;
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(cause) => {
                return Err(EvalError::Read {
                    path: path.display().to_string(),
                    cause,
                })
            }
        };
        let mut records = Vec::new();
        let mut good_len = 0;
        let mut offset = 0;
        for (i, line) in text.split_inclusive('\n').enumerate() {
            offset += line.len();
            if line.trim().is_empty() {
                good_len = offset;
                continue;
            }
            if !line.ends_with('\n') {
                // Only the last line can lack its newline: a write cut short.
                break;
            }
            match serde_json::from_str(line) {
                Ok(r) => {
                    records.push(r);
                    good_len = offset;
                }
                Err(source) => {
                    return Err(EvalError::Resume(format!(
                        "{} line {}: {source}; move the file away to start over",
                        path.display(),
                        i + 1
                    )))
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(write_err)?;
        // Two evaluations appending to one file would run the same work twice.
        if let Err(e) = file.try_lock() {
            return Err(EvalError::Resume(format!(
                "{} is in use by another evaluation ({e}); wait for it or choose another --out",
                path.display()
            )));
        }
        if good_len < text.len() {
            file.set_len(good_len as u64).map_err(write_err)?;
        }
        Ok((
            Self {
                path: path.to_path_buf(),
                file: Mutex::new(file),
            },
            records,
        ))
    }

    /// Appends one record as one line.
    pub fn append<T: Serialize>(&self, record: &T) -> Result<(), EvalError> {
        let mut line = serde_json::to_string(record).map_err(|e| EvalError::Write {
            path: self.path.display().to_string(),
            cause: std::io::Error::other(e),
        })?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())
            .and_then(|_| file.flush())
            .map_err(|cause| EvalError::Write {
                path: self.path.display().to_string(),
                cause,
            })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Checks that every record already in `log` was made by `model`: a results file holds one.
pub fn check_model<'a>(
    log: &RecordLog,
    recorded: impl IntoIterator<Item = &'a str>,
    model: &str,
) -> Result<(), EvalError> {
    match recorded.into_iter().find(|m| *m != model) {
        Some(other) => Err(EvalError::Resume(format!(
            "{} holds runs of model {other:?}, not {model:?}: choose another --out",
            log.path().display()
        ))),
        None => Ok(()),
    }
}

/// A setting's value as written: an `f32` by its shortest decimal form (0.8, not the
/// 0.800000011920929 its widening to `f64` gives).
pub fn f32_setting(x: f32) -> serde_json::Value {
    format!("{x}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Two recorded settings agree; numbers that are the same `f32` do (files written before
/// [`f32_setting`] hold the widened form).
fn same_setting(new: &serde_json::Value, old: Option<&serde_json::Value>) -> bool {
    match (new.as_f64(), old.and_then(serde_json::Value::as_f64)) {
        (Some(a), Some(b)) => a as f32 == b as f32,
        _ => old == Some(new),
    }
}

/// A results directory that exists as something else is refused before anything is written.
fn not_a_file(dir: &Path) -> Result<(), EvalError> {
    if dir.exists() && !dir.is_dir() {
        return Err(EvalError::Resume(format!(
            "{} is not a directory; --out names the directory the results go into",
            dir.display()
        )));
    }
    Ok(())
}

/// Checks that `dir` holds results made with `settings` (recorded in `<name>` on the first
/// run): resuming with other settings would mix runs the summary could not tell apart.
/// Call it with the directory's [`RecordLog`] open (its lock keeps a second evaluation from
/// rewriting the settings): while that log holds no result (`holds_results` false: a run that
/// failed before its first record), the recorded settings bind nothing and are replaced.
pub fn check_settings(
    dir: &Path,
    name: &str,
    settings: &serde_json::Value,
    holds_results: bool,
) -> Result<(), EvalError> {
    let path = dir.join(name);
    let write_err = |cause| EvalError::Write {
        path: path.display().to_string(),
        cause,
    };
    match std::fs::read_to_string(&path) {
        Ok(_) if !holds_results => {
            let text = serde_json::to_string_pretty(settings).unwrap_or_default();
            std::fs::write(&path, text).map_err(write_err)
        }
        Ok(text) => {
            let old: serde_json::Value =
                serde_json::from_str(&text).map_err(|cause| EvalError::Parse { line: 1, cause })?;
            let differ: Vec<String> = settings
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| !same_setting(v, old.get(k.as_str())))
                .map(|(k, v)| {
                    format!(
                        "{k} {} (was {})",
                        v,
                        old.get(k.as_str()).unwrap_or(&serde_json::Value::Null)
                    )
                })
                .collect();
            if differ.is_empty() {
                Ok(())
            } else {
                Err(EvalError::Resume(format!(
                    "{} holds results made with other settings: {}; choose another --out",
                    dir.display(),
                    differ.join(", ")
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(write_err)?;
            let text = serde_json::to_string_pretty(settings).unwrap_or_default();
            std::fs::write(&path, text).map_err(write_err)
        }
        Err(cause) => Err(EvalError::Read {
            path: path.display().to_string(),
            cause,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn records_survive_a_reopen_and_a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/runs.jsonl");
        let (log, old) = RecordLog::open::<Value>(&path).unwrap();
        assert!(old.is_empty());
        log.append(&json!({"a": 1})).unwrap();
        log.append(&json!({"a": 2})).unwrap();
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"a\": 3").unwrap();
        drop(f);
        let (log, old) = RecordLog::open::<Value>(&path).unwrap();
        assert_eq!(old, vec![json!({"a": 1}), json!({"a": 2})]);
        log.append(&json!({"a": 4})).unwrap();
        drop(log);
        let (_, old) = RecordLog::open::<Value>(&path).unwrap();
        assert_eq!(old.len(), 3);
    }

    #[test]
    fn results_resume_only_with_the_same_settings() {
        let dir = tempfile::tempdir().unwrap();
        let a = json!({"model": "m", "turns": 10});
        let b = json!({"model": "m", "turns": 3});
        check_settings(dir.path(), "s.json", &a, true).unwrap();
        check_settings(dir.path(), "s.json", &a, true).unwrap();
        // No result yet: other settings replace these.
        check_settings(dir.path(), "s.json", &b, false).unwrap();
        check_settings(dir.path(), "s.json", &a, false).unwrap();
        let written: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap())
                .unwrap();
        assert_eq!(written, a);
        let err = check_settings(dir.path(), "s.json", &b, true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("turns 3 (was 10)"), "{err}");
    }

    #[test]
    fn temperatures_are_written_short_and_compared_as_f32() {
        assert_eq!(f32_setting(0.8).to_string(), "0.8");
        assert_eq!(f32_setting(0.0).to_string(), "0.0");
        let dir = tempfile::tempdir().unwrap();
        // A file from before: the widened f32.
        std::fs::write(
            dir.path().join("s.json"),
            r#"{"temperature": 0.800000011920929}"#,
        )
        .unwrap();
        let same = json!({"temperature": f32_setting(0.8)});
        check_settings(dir.path(), "s.json", &same, true).unwrap();
        let other = json!({"temperature": f32_setting(0.7)});
        let err = check_settings(dir.path(), "s.json", &other, true)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("temperature 0.7 (was 0.800000011920929)"),
            "{err}"
        );
    }

    #[test]
    fn an_out_that_is_a_file_is_refused_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("afile");
        std::fs::write(&file, "keep me").unwrap();
        let err = RecordLog::open::<Value>(&file.join("runs.jsonl"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not a directory"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    }

    #[test]
    fn one_writer_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        let (first, _) = RecordLog::open::<Value>(&path).unwrap();
        let err = RecordLog::open::<Value>(&path).err().unwrap();
        assert!(err.to_string().contains("in use"), "{err}");
        drop(first);
        RecordLog::open::<Value>(&path).unwrap();
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.jsonl");
        std::fs::write(&path, "{\"a\": 1}\nnot json\n{\"a\": 2}\n").unwrap();
        let err = RecordLog::open::<Value>(&path).err().unwrap();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
