//! User tools: the public functions of a Python module file, loaded into the session and
//! described in the system prompt. Python itself reports names, signatures and docs, which is
//! simpler and more faithful than reading Python from Rust.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::AgentError;

/// One function the model may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    /// As Python prints it, e.g. `(city: str, unit: str = 'C') -> float`.
    pub signature: String,
    /// The first line of the docstring, or empty.
    pub doc: String,
}

/// The source of a tool module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolModule {
    pub source: String,
    /// Shown in tracebacks of the tools' own code.
    pub filename: String,
}

impl ToolModule {
    pub fn from_file(path: &Path) -> Result<Self, AgentError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| AgentError::Tools(format!("cannot read {}: {e}", path.display())))?;
        let filename = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tools.py".into());
        Ok(Self { source, filename })
    }

    pub fn from_source(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            filename: "tools.py".into(),
        }
    }

    /// A cell that runs the module in its own namespace, copies its public names into the
    /// session, and prints a description of its public functions after [`TOOLS_MARKER`].
    pub fn load_cell(&self) -> String {
        // JSON string literals are valid Python string literals, which spares us quoting rules.
        let src = serde_json::to_string(&self.source).unwrap_or_else(|_| "''".into());
        let name = serde_json::to_string(&self.filename).unwrap_or_else(|_| "'tools.py'".into());
        format!(
            r#"def __codeact_load_tools():
    import inspect, json, types
    mod = types.ModuleType("codeact_tools")
    exec(compile({src}, {name}, "exec"), mod.__dict__)
    found = []
    for key, value in vars(mod).items():
        if key.startswith("_"):
            continue
        globals()[key] = value
        if inspect.isfunction(value) and value.__module__ == mod.__name__:
            doc = (inspect.getdoc(value) or "").strip()
            try:
                sig = str(inspect.signature(value))
            except (TypeError, ValueError):
                sig = "(...)"
            found.append({{"name": key, "signature": sig, "doc": doc.splitlines()[0] if doc else ""}})
    print("{TOOLS_MARKER}" + json.dumps(found))
__codeact_load_tools()
del __codeact_load_tools
"#
        )
    }
}

/// Precedes the JSON description that the load cell prints.
pub const TOOLS_MARKER: &str = "__CODEACT_TOOLS__";

/// Reads the tool descriptions from the output of [`ToolModule::load_cell`].
pub fn parse_tool_listing(output: &str) -> Result<Vec<ToolInfo>, AgentError> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix(TOOLS_MARKER))
        .ok_or_else(|| {
            AgentError::Tools(format!("loading the tools failed:\n{}", output.trim()))
        })?;
    serde_json::from_str(line).map_err(|e| AgentError::Tools(format!("bad tool listing: {e}")))
}

/// The cell that imports the preloaded modules, followed by `extra` code.
pub fn import_cell(modules: &[String], extra: Option<&str>) -> Option<String> {
    let mut cell = String::new();
    if !modules.is_empty() {
        cell.push_str(&format!("import {}\n", modules.join(", ")));
    }
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        cell.push_str(extra);
        cell.push('\n');
    }
    (!cell.is_empty()).then_some(cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_is_found_among_other_output() {
        let out = format!(
            "hello\n{TOOLS_MARKER}[{{\"name\":\"f\",\"signature\":\"(x)\",\"doc\":\"\"}}]\n"
        );
        let tools = parse_tool_listing(&out).unwrap_or_default();
        assert_eq!(
            tools,
            vec![ToolInfo {
                name: "f".into(),
                signature: "(x)".into(),
                doc: String::new()
            }]
        );
        assert!(parse_tool_listing("Traceback ...").is_err());
    }

    #[test]
    fn source_is_embedded_as_a_literal() {
        let cell = ToolModule::from_source("def f():\n    return \"x\\n\"\n").load_cell();
        assert!(cell.contains(r#"compile("def f():\n    return \"x\\n\"\n", "tools.py", "exec")"#));
    }

    #[test]
    fn import_cell_lists_modules() {
        let two = import_cell(&["math".into(), "re".into()], None);
        assert_eq!(two.as_deref(), Some("import math, re\n"));
        let extra = import_cell(&["math".into()], Some("x = 1"));
        assert_eq!(extra.as_deref(), Some("import math\nx = 1\n"));
        assert_eq!(import_cell(&[], None), None);
    }
}
