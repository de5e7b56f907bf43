//! `codeact-init`: pid 1 of a session's pid namespace.
//!
//! The session's Python init sets the sandbox up, forks the worker, and then replaces itself
//! with this program, so that the process that only waits for children costs a few hundred
//! kilobytes instead of a copy of the interpreter. It reaps every process of the session,
//! passes interrupts on to the worker, and exits with the worker, which ends the namespace
//! and with it every process left in it.
//!
//! Built by the exec crate's build script as a static executable with no dependencies, and
//! run from a sealed memory file, so it needs nothing from the session's filesystem.

use std::sync::atomic::{AtomicI32, Ordering};

const SIGINT: i32 = 2;
const EINTR: i32 = 4;
const PR_SET_NAME: i32 = 15;

static WORKER: AtomicI32 = AtomicI32::new(0);

extern "C" {
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn kill(pid: i32, sig: i32) -> i32;
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
    fn __errno_location() -> *mut i32;
    fn prctl(option: i32, arg2: usize, arg3: usize, arg4: usize, arg5: usize) -> i32;
}

extern "C" fn forward(sig: i32) {
    // SAFETY: kill is async-signal-safe.
    unsafe {
        kill(WORKER.load(Ordering::Relaxed), sig);
    }
}

/// The shell's convention: the exit code, or 128 + the signal that killed the process.
fn exit_code(status: i32) -> i32 {
    match status & 0x7f {
        0 => (status >> 8) & 0xff,
        sig => 128 + sig,
    }
}

fn main() {
    let worker = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<i32>().ok())
        .filter(|&p| p > 0);
    let Some(worker) = worker else {
        eprintln!("usage: codeact-init WORKER_PID");
        std::process::exit(2);
    };
    WORKER.store(worker, Ordering::Relaxed);
    // SAFETY: installs a handler that only calls an async-signal-safe function, and names the
    // process (run from a memory file, it would show as "memfd:codeact-i" in ps).
    unsafe {
        signal(SIGINT, forward);
        prctl(PR_SET_NAME, c"codeact-init".as_ptr() as usize, 0, 0, 0);
    }
    loop {
        let mut status = 0;
        // SAFETY: plain system calls on a valid pointer.
        let pid = unsafe { waitpid(-1, &mut status, 0) };
        if pid == worker {
            std::process::exit(exit_code(status));
        }
        if pid < 0 && unsafe { *__errno_location() } != EINTR {
            // No children at all: the worker is gone.
            std::process::exit(0);
        }
    }
}
