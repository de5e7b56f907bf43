//! `codeact-init`: pid 1 of a session's pid namespace, for as long as the session lives.
//!
//! The session's holder builds and enters the sandbox in Python, then replaces itself with
//! this program, so that the process that keeps a session's namespaces alive costs a few
//! hundred kilobytes instead of a copy of the interpreter. It only reaps: every worker of the
//! session, and every process orphaned in it, is its child. It never exits by itself; the
//! zygote kills it (and with it the whole namespace) when the session closes, and the kernel
//! does when the zygote dies (the holder asked for that before the exec).
//!
//! Built by the exec crate's build script as a static executable with no dependencies, and
//! run from a sealed memory file, so it needs nothing from the session's filesystem.

const SIGCHLD: i32 = 17;
const WNOHANG: i32 = 1;
const PR_SET_NAME: i32 = 15;

extern "C" {
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
    fn pause() -> i32;
    fn prctl(option: i32, arg2: usize, arg3: usize, arg4: usize, arg5: usize) -> i32;
}

/// Reaps every child that has exited. Run as the SIGCHLD handler, so a child that exits at any
/// moment is reaped without a race between waiting and sleeping.
extern "C" fn reap(_sig: i32) {
    let mut status = 0;
    // SAFETY: waitpid is async-signal-safe; the pointer is to a local.
    while unsafe { waitpid(-1, &mut status, WNOHANG) } > 0 {}
}

fn main() {
    // SAFETY: installs a handler that only calls an async-signal-safe function, and names the
    // process (run from a memory file, it would show as "memfd:codeact-i" in ps).
    unsafe {
        signal(SIGCHLD, reap);
        prctl(PR_SET_NAME, c"codeact-init".as_ptr() as usize, 0, 0, 0);
    }
    // Children reparented to us before the handler was installed.
    reap(SIGCHLD);
    loop {
        // SAFETY: a plain system call; it returns after each handled signal.
        unsafe { pause() };
    }
}
