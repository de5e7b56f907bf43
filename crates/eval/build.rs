//! Lists the files of the Python packages that the evaluations run inside sandboxed sessions
//! (`python/codeact_m3tooleval`, `python/codeact_apibank`: the benchmarks' tools, simulated
//! APIs and data) for `pypkg`, which embeds them, so that a new module or data file needs no
//! Rust edit.

use std::path::{Path, PathBuf};

const PACKAGES: &[&str] = &["codeact_m3tooleval", "codeact_apibank", "codeact_instruct"];

fn main() -> Result<(), String> {
    let manifest = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").ok_or("cargo did not set CARGO_MANIFEST_DIR")?,
    );
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo did not set OUT_DIR")?);
    let python = manifest.join("python");
    let mut code = String::new();
    for package in PACKAGES {
        let mut files = Vec::new();
        let root = python.join(package);
        if root.is_dir() {
            walk(&python, &root, &mut files)?;
        }
        files.sort();
        code += &format!(
            "pub(crate) const {}: &[(&str, &[u8])] = &[\n",
            package.to_uppercase()
        );
        for (rel, path) in &files {
            code += &format!(
                "    ({rel:?}, include_bytes!({:?})),\n",
                path.display().to_string()
            );
        }
        code += "];\n";
        println!("cargo:rerun-if-changed={}", root.display());
    }
    std::fs::write(out_dir.join("python_packages.rs"), code).map_err(|e| e.to_string())
}

/// Collects `(path relative to python/, absolute path)` of every file under `dir`, except
/// bytecode caches.
fn walk(base: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            walk(base, &path, files)?;
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
            let rel = path
                .strip_prefix(base)
                .map_err(|e| e.to_string())?
                .to_str()
                .ok_or_else(|| format!("odd file name: {}", path.display()))?
                .to_string();
            files.push((rel, path));
        }
    }
    Ok(())
}
