//! The Python side of the evaluations: packages embedded in the binary (see `build.rs`) and
//! installed into a sandboxed session, and the one-line JSON replies of their `emit` entry
//! point. The benchmarks' tools and simulated APIs are Python whose behaviour is defined by
//! Python semantics, and they run where untrusted code runs: never in this process.

use codeact_exec::SessionManager;
use codeact_protocol::{ExecStatus, Output, StreamName};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::EvalError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/python_packages.rs"));
}

/// An embedded Python package.
#[derive(Debug, Clone, Copy)]
pub struct PyPackage {
    /// The import name.
    pub name: &'static str,
    files: &'static [(&'static str, &'static [u8])],
}

/// M³ToolEval's tools and the Python-defined parts of its protocol.
pub const M3TOOLEVAL: PyPackage = PyPackage {
    name: "codeact_m3tooleval",
    files: embedded::CODEACT_M3TOOLEVAL,
};

/// API-Bank's simulated APIs, prompts, parsers and checks.
pub const APIBANK: PyPackage = PyPackage {
    name: "codeact_apibank",
    files: embedded::CODEACT_APIBANK,
};

/// CodeActInstruct's success checks, task set-up and the MINT executor's limit.
pub const INSTRUCT: PyPackage = PyPackage {
    name: "codeact_instruct",
    files: embedded::CODEACT_INSTRUCT,
};

/// Where the files are written in the session, and removed from once imported.
const STAGING: &str = ".codeact-eval";

/// Marks the one line each `emit` call prints (after a unit separator, which the engine's
/// terminal rendering of stream text drops). The JSON after it is ASCII-only, so rendering
/// leaves it intact; it must fit the engine's output limit.
const EMIT_PREFIX: &str = "codeact-eval ";

impl PyPackage {
    /// Writes the package into session `id`, imports `module` and calls its `preload()` when it
    /// has one (so that everything it reads later is in memory), then deletes the files, so
    /// that code run later in the session does not find them in its working directory.
    pub async fn install(
        &self,
        sessions: &SessionManager,
        id: &str,
        module: &str,
    ) -> Result<(), EvalError> {
        if self.files.is_empty() {
            return Err(EvalError::Python(format!(
                "the package {} is not part of this build",
                self.name
            )));
        }
        for (path, data) in self.files {
            sessions
                .write_file(id, &format!("{STAGING}/{path}"), data)
                .await?;
        }
        let module = py_str(module);
        let cell = format!(
            r#"def __codeact_install():
    import importlib, os, shutil, sys
    root = os.path.abspath({staging})
    sys.path.insert(0, root)
    try:
        module = importlib.import_module({module})
        if hasattr(module, "preload"):
            module.preload()
    finally:
        sys.path.remove(root)
        shutil.rmtree(root)
__codeact_install()
del __codeact_install
"#,
            staging = py_str(STAGING),
        );
        let result = sessions.execute(id, &cell).await?;
        if result.status != ExecStatus::Ok {
            return Err(EvalError::Python(format!(
                "installing {} failed: {}",
                self.name,
                result.text().trim()
            )));
        }
        Ok(())
    }
}

impl PyPackage {
    /// Makes every session of an engine built with `config` start with this package already
    /// imported, for commands whose every session needs it: the files are written once under
    /// the cache directory (one directory per content, so builds never share a stale copy) and
    /// the zygote imports them before it forks sessions, so a session pays nothing for them.
    pub fn preload_into(&self, config: &mut codeact_exec::ExecConfig) -> Result<(), EvalError> {
        use std::hash::{Hash, Hasher};
        if self.is_preloaded(config) {
            return Ok(());
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.files.hash(&mut hasher);
        let root = codeact_protocol::paths::cache_dir()
            .join("python")
            .join(format!("{}-{:016x}", self.name, hasher.finish()));
        if !root.is_dir() {
            let write_err = |cause| EvalError::Write {
                path: root.display().to_string(),
                cause,
            };
            // Written aside and renamed into place, so that a concurrent process never sees
            // half a package.
            let tmp = root.with_extension(format!("tmp-{}", std::process::id()));
            for (path, data) in self.files {
                let file = tmp.join(path);
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir).map_err(write_err)?;
                }
                std::fs::write(&file, data).map_err(write_err)?;
            }
            if std::fs::rename(&tmp, &root).is_err() && !root.is_dir() {
                return Err(write_err(std::io::Error::other(
                    "cannot move the package into place",
                )));
            }
            let _ = std::fs::remove_dir_all(&tmp);
        }
        let dir = py_str(&root.display().to_string());
        // One line binding no name in the namespace the model's code sees.
        let line = format!(
            "__import__('sys').path.insert(0, {dir}); __import__({}); __import__('sys').path.remove({dir})  # {}\n",
            py_str(self.name),
            self.marker()
        );
        config.preload = Some(config.preload.take().unwrap_or_default() + &line);
        Ok(())
    }

    /// Whether [`PyPackage::preload_into`] prepared `config` with this package.
    pub fn is_preloaded(&self, config: &codeact_exec::ExecConfig) -> bool {
        config
            .preload
            .as_deref()
            .is_some_and(|p| p.contains(&self.marker()))
    }

    fn marker(&self) -> String {
        format!("codeact preload {}", self.name)
    }
}

/// A Python string literal of `s` (JSON's escapes are valid Python).
pub fn py_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "''".into())
}

/// A Python expression of a JSON value (JSON's `true`, `null` are not Python literals).
pub fn py_json(value: &Value) -> String {
    format!("__import__('json').loads({})", py_str(&value.to_string()))
}

/// The cell that calls `module.emit(function, *args)`, adding no name to the session.
/// `args` are Python expressions (e.g. from [`py_str`], or `globals()`).
pub fn emit_cell(module: &str, function: &str, args: &[String]) -> String {
    let mut call = format!(
        "__import__({}, fromlist=['emit']).emit({}",
        py_str(module),
        py_str(function)
    );
    for a in args {
        call.push_str(", ");
        call.push_str(a);
    }
    call.push_str(")\n");
    call
}

/// Runs an `emit` cell in session `id` and decodes its reply.
pub async fn call<T: DeserializeOwned>(
    sessions: &SessionManager,
    id: &str,
    cell: &str,
) -> Result<T, EvalError> {
    let result = sessions.execute(id, cell).await?;
    // A long line may arrive in several pieces.
    let stdout: String = result
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Stream {
                name: StreamName::Stdout,
                text,
            } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let reply = stdout
        .lines()
        .rev()
        .find_map(|l| l.trim_start_matches('\u{1f}').strip_prefix(EMIT_PREFIX));
    let Some(line) = reply else {
        return Err(EvalError::Python(format!(
            "no reply from the evaluation package: {}",
            result.text().trim()
        )));
    };
    let value: Value = serde_json::from_str(line)
        .map_err(|e| EvalError::Python(format!("bad reply from the evaluation package: {e}")))?;
    if let Some(err) = value.get("error").and_then(Value::as_str) {
        if value.as_object().is_some_and(|o| o.len() == 1) {
            return Err(EvalError::Python(err.to_string()));
        }
    }
    serde_json::from_value(value).map_err(|e| {
        EvalError::Python(format!("unexpected reply from the evaluation package: {e}"))
    })
}

/// The outcome of replaying a vectors file against a package's tools or APIs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct VectorReport {
    /// One readable line per failing vector.
    pub failures: Vec<String>,
    pub passed: usize,
    pub total: usize,
}

/// Replays every line of a vectors file through `module.check_vectors` in a fresh sandboxed
/// session holding `package`. One call per line keeps each reply within the engine's output
/// limit.
pub async fn check_vectors(
    sessions: &SessionManager,
    package: PyPackage,
    module: &str,
    text: &str,
) -> Result<VectorReport, EvalError> {
    if text.trim().is_empty() {
        return Err(EvalError::Task("the vectors file holds no vector".into()));
    }
    let id = format!("check-{}-{}", std::process::id(), next_id());
    let result = async {
        sessions.create(&id).await?;
        package.install(sessions, &id, module).await?;
        let mut report = VectorReport::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let args = [py_str(line), (i + 1).to_string()];
            let one: VectorReport =
                call(sessions, &id, &emit_cell(module, "check_vectors", &args)).await?;
            report.failures.extend(one.failures);
            report.passed += one.passed;
            report.total += one.total;
        }
        Ok(report)
    }
    .await;
    let _ = sessions.delete(&id).await;
    result
}

/// A number unique in this process, for session ids.
pub(crate) fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
