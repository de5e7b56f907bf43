//! Compiles `init/init.rs`, the tiny pid 1 of every sandboxed session, into an executable
//! that the crate embeds (see `local::init_exe`). It has no dependencies, so plain `rustc`
//! builds it in about a second; static linking lets it run inside a session's root without
//! a dynamic loader, and falls back to dynamic linking where the C library has no static
//! archive.
//!
//! Also lists the modules of the session worker's Python package (`python/codeact_worker`)
//! for `local::worker_package`, which embeds them, so that a new module needs no Rust edit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<(), String> {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("cargo did not set OUT_DIR")?);
    list_worker_modules(&out_dir)?;
    build_init(&out_dir)
}

/// Writes `worker_modules.rs`: `(module name, include_str!(its file))` for every module of the
/// package, sorted by name.
fn list_worker_modules(out_dir: &Path) -> Result<(), String> {
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").ok_or("cargo did not set CARGO_MANIFEST_DIR")?;
    let dir = Path::new(&manifest).join("python").join("codeact_worker");
    // Each module rather than the directory, which Python's bytecode caches would touch: a
    // new module only matters once an existing one imports it, and a deleted one is noticed.
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut modules = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|x| x == "py") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| format!("odd file name: {}", path.display()))?;
            let name = match stem {
                "__init__" => "codeact_worker".to_string(),
                _ => format!("codeact_worker.{stem}"),
            };
            println!("cargo:rerun-if-changed={}", path.display());
            modules.push((name, path));
        }
    }
    modules.sort();
    let mut code = String::from("&[\n");
    for (name, path) in &modules {
        code += &format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        );
    }
    code += "]\n";
    std::fs::write(out_dir.join("worker_modules.rs"), code).map_err(|e| e.to_string())
}

fn build_init(out_dir: &Path) -> Result<(), String> {
    let src = "init/init.rs";
    println!("cargo:rerun-if-changed={src}");
    let out = out_dir.join("codeact-init");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").map_err(|_| "cargo did not set TARGET")?;
    let build = |static_link: bool| {
        let mut cmd = Command::new(&rustc);
        cmd.args([
            "--edition=2021",
            "--crate-type=bin",
            "--crate-name=codeact_init",
        ])
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .args(["--target", &target])
        .arg("-o")
        .arg(&out)
        .arg(src);
        if static_link {
            // Not position-independent: nothing to relocate at start, so no private pages.
            cmd.args([
                "-C",
                "target-feature=+crt-static",
                "-C",
                "relocation-model=static",
            ]);
        }
        cmd.status().map(|s| s.success()).unwrap_or(false)
    };
    if build(true) || build(false) {
        Ok(())
    } else {
        Err(format!(
            "cannot compile {src} with {}",
            rustc.to_string_lossy()
        ))
    }
}
