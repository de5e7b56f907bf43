//! Compiles `init/init.rs`, the tiny pid 1 of every sandboxed session, into an executable
//! that the crate embeds (see `local::init_exe`). It has no dependencies, so plain `rustc`
//! builds it in about a second; static linking lets it run inside a session's root without
//! a dynamic loader, and falls back to dynamic linking where the C library has no static
//! archive.

use std::path::PathBuf;
use std::process::Command;

fn main() -> Result<(), String> {
    let src = "init/init.rs";
    println!("cargo:rerun-if-changed={src}");
    let out_dir = std::env::var_os("OUT_DIR").ok_or("cargo did not set OUT_DIR")?;
    let out = PathBuf::from(out_dir).join("codeact-init");
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
