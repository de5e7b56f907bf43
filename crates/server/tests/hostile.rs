//! Hostile code through the HTTP API: each attack is contained, and the server still answers
//! afterwards (`print(1)` in a fresh session returns "1\n").
//!
//! Every case runs in a private pid namespace, so that a hole in the sandbox cannot reach the
//! tools or the CI that run the tests: the `contained` test of each case starts this test
//! binary again under `unshare --pid --fork --mount-proc`, where it is pid 1 and runs the
//! case's `inner` twin (ignored otherwise). When it ends, the kernel kills whatever is left
//! in that namespace. The cases run one at a time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use std::future::Future;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use codeact_exec::{ExecConfig, SandboxPolicy};
use codeact_protocol::{ExecResult, ExecStatus, Output};
use common::{outputs_text, quick_config, stdout, unique, Proc, TestServer};
use serde_json::json;

/// Set in the environment of the inner run.
const INNER: &str = "CODEACT_HOSTILE_INNER";
/// A secret in the server's environment that sessions must never see.
const SECRET: &str = "CODEACT_TEST_SECRET";
/// Longest a single case may take before it is killed.
const CASE_LIMIT: Duration = Duration::from_secs(300);

/// Runs test `name` of this binary as pid 1 of a fresh pid namespace and asserts it passed.
fn isolated(name: &str) {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(&exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, "1")
        .env(SECRET, unique("codeact-test-secret-"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `unshare` runs");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > CASE_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    println!("{out}");
    eprintln!("{err}");
    let status = status.unwrap_or_else(|| panic!("{name} ran past {CASE_LIMIT:?} and was killed"));
    println!("{name}: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        status.success(),
        "{name} failed in its pid namespace ({status})"
    );
    assert!(
        out.contains("1 passed"),
        "{name} did not run in its pid namespace"
    );
}

/// The body of an inner test: refuses to run outside the namespace `isolated` makes, then
/// runs the case.
fn inner<F: Future<Output = ()>>(case: impl FnOnce() -> F) {
    if std::env::var_os(INNER).is_none() {
        eprintln!("skipped: runs only inside the pid namespace its `contained` twin creates");
        return;
    }
    assert_eq!(
        std::process::id(),
        1,
        "not pid 1 of a private pid namespace: refusing to run hostile code"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(case())));
    // A call stuck on a broken session must not keep the process alive: when it exits, the
    // kernel ends everything left in the namespace.
    rt.shutdown_timeout(Duration::from_secs(1));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Live processes of this namespace other than this one, after waiting up to `limit` for
/// them to go.
async fn others_after(limit: Duration) -> Vec<Proc> {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<Proc> = common::processes()
            .into_iter()
            .filter(|p| p.pid != 1 && p.state != "Z")
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Processes of the sessions: everything but this one, the zygote (its child) and the
/// zygote's builder.
fn session_processes() -> Vec<Proc> {
    common::processes()
        .into_iter()
        .filter(|p| {
            p.pid != 1
                && p.ppid != 1
                && p.state != "Z"
                && p.name != codeact_exec::local::BUILDER_TITLE
        })
        .collect()
}

macro_rules! hostile {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn contained() {
                super::isolated(concat!(stringify!($case), "::inner"));
            }

            #[test]
            #[ignore = "hostile code: run by `contained` inside a private pid namespace"]
            fn inner() {
                super::inner(super::$case);
            }
        }
    )*};
}

hostile!(
    infinite_loop,
    fork_bomb,
    copy_forked_after_the_interrupt,
    memory_bomb,
    write_system_dirs,
    no_privileges,
    host_secret_file,
    host_network,
    kill_everything,
    process_group_kill,
    outlive_delete,
    control_channel_forgery,
    inherited_descriptors,
    forged_frames,
    daemon_outlives_session,
    server_stop_ends_everything,
    fill_the_disk,
    disk_larger_than_memory,
    flood_stdout,
    other_sessions,
    server_environment,
    interpreter_exits,
    non_utf8_output,
    five_megabyte_cell,
    many_concurrent_sessions,
);

/// Cells time out after 3 s and get 2 s to stop after an interrupt.
fn hostile_config() -> ExecConfig {
    ExecConfig {
        cell_timeout: Duration::from_secs(3),
        interrupt_grace: Duration::from_secs(2),
        // No pre-started sandboxes (they are tested in `many_concurrent_sessions` and
        // `server_stop_ends_everything`): each case starts faster.
        pool_size: 0,
        ..quick_config()
    }
}

fn notice(r: &ExecResult) -> &str {
    r.notice.as_deref().unwrap_or("")
}

async fn timed(srv: &TestServer, id: &str, code: &str) -> (ExecResult, Duration) {
    let started = Instant::now();
    let r = srv.exec(id, code).await;
    (r, started.elapsed())
}

// ------------------------------------------------------------------------------------------

async fn infinite_loop() {
    let srv = TestServer::start(hostile_config()).await;
    srv.exec("loop", "state = 'kept'").await;

    // A busy loop is interrupted at the timeout; the session and its variables stay.
    let (r, took) = timed(&srv, "loop", "while True:\n    pass").await;
    assert_eq!(r.status, ExecStatus::Interrupted, "{r:?}");
    assert!(
        notice(&r).contains("cell interrupted") && notice(&r).contains("3 s limit"),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert_eq!(srv.exec("loop", "state").await.text(), "'kept'\n");
    srv.assert_alive().await;

    // Blocked in C (a long sleep): interrupted the same way.
    let (r, took) = timed(&srv, "loop", "import time\ntime.sleep(3600)").await;
    assert_eq!(r.status, ExecStatus::Interrupted, "{r:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(srv.exec("loop", "state").await.text(), "'kept'\n");

    // A loop that ignores SIGINT is killed after the grace period and the session restarted.
    let (r, took) = timed(
        &srv,
        "loop",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
    )
    .await;
    assert_eq!(r.status, ExecStatus::Restarted, "{r:?}");
    assert!(
        notice(&r).contains("did not stop within 2 s of an interrupt"),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(12),
        "{took:?}"
    );
    let r = srv.exec("loop", "print('state' in globals())").await;
    assert_eq!((r.status, r.text().as_str()), (ExecStatus::Ok, "False\n"));
    srv.assert_alive().await;
    srv.stop().await;
}

/// The host uid session `id` runs as (every process of a session has it, and no other's).
async fn session_uid(srv: &TestServer, id: &str) -> u32 {
    let marker = format!("1000.{}", rand_digits());
    let r = srv
        .exec(
            id,
            &format!("import subprocess as _sp\n_p = _sp.Popen(['sleep', '{marker}'])"),
        )
        .await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let found = common::wait_present(&marker, Duration::from_secs(5)).await;
    srv.exec(id, "_p.kill()").await;
    found
        .first()
        .and_then(|p| p.uid)
        .expect("the session's process is visible")
}

/// Live processes running as host uid `uid`.
fn procs_of(uid: u32) -> Vec<Proc> {
    common::processes()
        .into_iter()
        .filter(|p| p.uid == Some(uid) && p.state != "Z")
        .collect()
}

async fn fork_bomb() {
    let cfg = ExecConfig {
        sandbox: SandboxPolicy {
            max_processes: 64,
            ..Default::default()
        },
        ..hostile_config()
    };
    let srv = TestServer::start(cfg).await;
    let uid = session_uid(&srv, "bomb").await;
    srv.exec("bomb", "import os").await;
    let bomb = "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass";
    let watcher = tokio::spawn(async move {
        // Meanwhile, on the host: the bomb stays under its limit and the host can still fork.
        let mut most = 0;
        for _ in 0..20 {
            most = most.max(procs_of(uid).len());
            let ok = Command::new("true")
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "the host cannot start a process during the fork bomb");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        most
    });
    let (r, took) = timed(&srv, "bomb", bomb).await;
    let most = watcher.await.unwrap();
    assert!(took < Duration::from_secs(12), "{took:?}");
    assert!(
        matches!(r.status, ExecStatus::Interrupted | ExecStatus::Restarted),
        "the bomb should run into the timeout: {r:?}"
    );
    // At most 64 tasks in the session's cgroup, its init included (threads count too).
    assert!(
        most <= 64,
        "{most} processes of the session on the host during the bomb"
    );
    assert!(
        most > 16,
        "the bomb did not fork much ({most}): is the test meaningful?"
    );

    // An interrupt stops every forked copy (as Ctrl-C stops a terminal's foreground group):
    // after an interrupted bomb, only init and the worker are alive.
    let live = "import os, time\n\
                def live():\n    n = 0\n    for p in os.listdir('/proc'):\n        \
                if p.isdigit():\n            try:\n                \
                st = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()\n            \
                except OSError:\n                continue\n            n += st[0] != 'Z'\n    return n\n\
                for _ in range(100):\n    if live() <= 2: break\n    time.sleep(0.1)\nprint(live())";
    let after = srv
        .exec_body("bomb", &json!({"code": live, "timeout_s": 30}))
        .await;
    if r.status == ExecStatus::Interrupted {
        assert_eq!(
            stdout(&after),
            "2\n",
            "copies left after the bomb: {after:?}"
        );
    }
    let restarted = srv.post("/v1/sessions/bomb/restart", &json!({})).await;
    assert_eq!(restarted.status, 200, "{restarted:?}");
    let r = srv
        .exec(
            "bomb",
            "import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()) == [1, os.getpid()])",
        )
        .await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (ExecStatus::Ok, "True\n"),
        "init and the worker only: {r:?}"
    );
    srv.assert_alive().await;
    // Deleting it leaves nothing behind.
    srv.delete_session("bomb").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(procs_of(uid).is_empty(), "{:?}", procs_of(uid));
    srv.stop().await;
}

/// The race a fork bomb can win: a copy forked just after the interrupt went out never
/// receives it (a child does not inherit its parent's pending signal) and goes on. Here the
/// race is made certain: on SIGINT the cell's child forks a copy, which did not get the
/// signal, then exits. The worker interrupts the group again until no copy is left.
async fn copy_forked_after_the_interrupt() {
    let srv = TestServer::start(hostile_config()).await;
    let cell = "import os, signal, time\n\
                def handed_on(*_):\n    \
                if os.fork() == 0:\n        \
                signal.signal(signal.SIGINT, signal.SIG_DFL)\n        \
                while True: time.sleep(1)\n    \
                os._exit(0)\n\
                if os.fork() == 0:\n    \
                signal.signal(signal.SIGINT, handed_on)\n    \
                while True: time.sleep(1)\n\
                time.sleep(60)";
    let r = srv.exec("late", cell).await;
    assert_eq!(r.status, ExecStatus::Interrupted, "{r:?}");
    let live = "import os\n\
                def live():\n    n = 0\n    for p in os.listdir('/proc'):\n        \
                if p.isdigit():\n            try:\n                \
                st = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()\n            \
                except OSError:\n                continue\n            n += st[0] != 'Z'\n    return n\n\
                print(live())";
    let after = srv.exec("late", live).await;
    assert_eq!(
        stdout(&after),
        "2\n",
        "a copy outlived the interrupt: {after:?}"
    );
    srv.stop().await;
}

async fn memory_bomb() {
    let limit: u64 = 512 << 20;
    let cfg = ExecConfig {
        sandbox: SandboxPolicy {
            memory_bytes: limit,
            ..Default::default()
        },
        ..hostile_config()
    };
    let srv = TestServer::start(cfg).await;
    let rss_before = common::own_rss();
    srv.exec("mem", "kept = 1").await;

    // One process asking for 12 GiB: refused at the limit, the session lives on.
    let code = "chunks = []\ntry:\n    for i in range(120):\n        chunks.append(bytearray(100 << 20))\n\
                except MemoryError:\n    print('MemoryError after', len(chunks) * 100, 'MiB')\ndel chunks";
    let (r, took) = timed(&srv, "mem", code).await;
    assert!(took < Duration::from_secs(10), "{took:?}");
    match r.status {
        ExecStatus::Ok => {
            let out = stdout(&r);
            let mib: u64 = out
                .trim()
                .strip_prefix("MemoryError after ")
                .and_then(|s| s.strip_suffix(" MiB"))
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{r:?}"));
            assert!(mib < 512, "{mib} MiB allocated with a 512 MiB limit");
            assert_eq!(srv.exec("mem", "kept").await.text(), "1\n");
        }
        ExecStatus::Restarted => assert!(notice(&r).contains("ran out of memory"), "{r:?}"),
        _ => panic!("{r:?}"),
    }
    srv.assert_alive().await;

    // Eight processes asking for 1.5 GiB each (12 GiB): the session's total is capped, the
    // kernel kills inside the session only, and the session can always run again. Which
    // process the kernel kills varies, so this is tried a few times.
    let code = "import glob, os, subprocess, sys\n\
                child = 'import sys\\nx = []\\nfor i in range(48):\\n    x.append(b\"\\\\x01\" * (32 << 20))\\nopen(\"got-%s\" % sys.argv[1], \"w\").close()'\n\
                ps = [subprocess.Popen([sys.executable, '-c', child, str(n)], stderr=subprocess.DEVNULL) for n in range(8)]\n\
                for p in ps:\n    p.wait()\n\
                print('got 1.5 GiB:', len(glob.glob('got-*')))";
    for round in 1..=3 {
        let started = Instant::now();
        let r = srv
            .exec_body("mem", &json!({"code": code, "timeout_s": 10}))
            .await;
        let took = started.elapsed();
        println!("round {round}, eight processes of 1.5 GiB each: {r:?} after {took:?}");
        assert!(took < Duration::from_secs(15), "{took:?}");
        match r.status {
            ExecStatus::Ok => assert_eq!(stdout(&r), "got 1.5 GiB: 0\n", "{r:?}"),
            ExecStatus::Restarted => {
                assert!(notice(&r).contains("ran out of memory"), "{r:?}");
                assert!(
                    notice(&r).contains("The session was restarted"),
                    "round {round}: the OOM killer took a process the session cannot do without \
                     (its init, which shares the session's memory cgroup): {r:?}"
                );
            }
            // Slowed down by the memory pressure past its 10 s.
            ExecStatus::Interrupted => {}
            _ => panic!("{r:?}"),
        }
        if let Some(peak) = cgroup_memory_peak() {
            assert!(
                peak <= limit + (8 << 20),
                "the sessions' memory peaked at {} MiB",
                peak >> 20
            );
        }
        let r = srv.exec("mem", "print(1)").await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (ExecStatus::Ok, "1\n"),
            "round {round}: {r:?}"
        );
    }
    srv.assert_alive().await;
    let grew = common::own_rss().saturating_sub(rss_before);
    assert!(grew < 64 << 20, "the server grew by {} MiB", grew >> 20);
    srv.stop().await;
}

/// The highest memory use of any session cgroup of this server (cgroup v1), if readable.
fn cgroup_memory_peak() -> Option<u64> {
    let prefix = format!("codeact-{}-", std::process::id());
    let mut peak = None;
    for group in std::fs::read_dir("/sys/fs/cgroup/memory").ok()?.flatten() {
        if !group.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        for s in std::fs::read_dir(group.path()).ok()?.flatten() {
            let f = s.path().join("memory.max_usage_in_bytes");
            if let Some(v) = std::fs::read_to_string(f)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                peak = Some(peak.unwrap_or(0).max(v));
            }
        }
    }
    peak
}

async fn write_system_dirs() {
    let srv = TestServer::start(hostile_config()).await;
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let marker = unique("codeact-pwned-");
    let code = format!(
        "import os, ctypes\nres = []\n\
         for p in ['/etc/passwd', '/etc/{marker}', '/usr/bin/{marker}', '/{marker}', '/usr/lib/{marker}', '/root/{marker}', '/home/{marker}']:\n\
         \x20   try:\n\
         \x20       with open(p, 'a') as f:\n\
         \x20           f.write('pwned')\n\
         \x20       res.append('written ' + p)\n\
         \x20   except OSError as e:\n\
         \x20       res.append(e.errno)\n\
         for f in (lambda: os.unlink('/etc/hostname'), lambda: os.chmod('/etc/passwd', 0o777), lambda: os.mkdir('/etc/{marker}'), lambda: os.rename('/etc/hosts', '/etc/h2')):\n\
         \x20   try:\n\
         \x20       f()\n\
         \x20       res.append('changed')\n\
         \x20   except OSError as e:\n\
         \x20       res.append(e.errno)\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         rc = libc.mount(None, b'/', None, 32 | 4096, None)\n\
         res.append(('remount', rc, ctypes.get_errno()))\n\
         print(res)\n\
         open('/workspace/ok', 'w').write('w'); open('/tmp/ok', 'w').write('t'); print('scratch ok')"
    );
    let r = srv.exec("etc", &code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let out = stdout(&r);
    // EROFS for every write (EACCES/EPERM would also contain it), EPERM for mount (seccomp).
    assert!(
        !out.contains("written") && !out.contains("changed"),
        "{out}"
    );
    let first = out.lines().next().unwrap();
    for errno in first.trim_start_matches('[').split(", ").take(11) {
        assert!(
            ["30", "13", "1"].contains(&errno),
            "unexpected errno {errno} in {out}"
        );
    }
    assert!(
        first.contains("('remount', -1, 1)"),
        "mount is not refused with EPERM: {out}"
    );
    assert!(out.ends_with("scratch ok\n"), "{out}");
    assert_eq!(
        std::fs::read("/etc/passwd").unwrap(),
        passwd,
        "host /etc/passwd changed"
    );
    for d in ["/etc", "/usr/bin", "/", "/usr/lib", "/root", "/home"] {
        assert!(
            !std::path::Path::new(&format!("{d}/{marker}")).exists(),
            "{d}/{marker} exists on the host"
        );
    }
    srv.assert_alive().await;
    srv.stop().await;
}

/// Code runs as an unprivileged user with no capabilities, cannot gain any, cannot reach
/// the kernel's knobs, and the system calls that widen the sandbox fail.
async fn no_privileges() {
    let srv = TestServer::start(hostile_config()).await;
    let code = r#"
import ctypes, os, subprocess
st = dict(l.split(':\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\t' in l)
print(os.getuid(), os.geteuid(), os.getgid(), st['CapEff'].strip(), st['CapPrm'].strip(), st['CapBnd'].strip(), st['NoNewPrivs'].strip(), st['Seccomp'].strip())
res = []
for f in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.mknod('/tmp/dev', 0o20666, os.makedev(1, 3)),
          lambda: open('/proc/sysrq-trigger', 'w').write('h'), lambda: open('/proc/sys/kernel/hostname', 'w').write('x'),
          lambda: open('/proc/sys/vm/drop_caches', 'w').write('3'), lambda: os.chroot('/tmp')):
    try:
        f()
        res.append('ALLOWED')
    except OSError as e:
        res.append(e.errno)
print(res)
print(os.path.exists('/sys/fs/cgroup'), os.path.exists('/dev/mem'), sorted(os.listdir('/dev')))
libc = ctypes.CDLL(None, use_errno=True)
def sys(n, *args):
    r = libc.syscall(n, *args)
    return r if r >= 0 else -ctypes.get_errno()
# unshare(CLONE_NEWUSER), setns, ptrace(PTRACE_TRACEME), bpf, keyctl, io_uring_setup, userfaultfd, perf_event_open, kexec_load
print([sys(272, 0x10000000), sys(308, 0, 0), sys(101, 0, 0, 0, 0), sys(321, 0, 0, 0), sys(250, 0, 0, 0, 0, 0),
       sys(425, 1, 0), sys(323, 0), sys(298, 0, 0, -1, -1, 0), sys(246, 0, 0, 0, 0)])
r = subprocess.run(['su', '-c', 'id'], capture_output=True, text=True, stdin=subprocess.DEVNULL)
print('uid=0' in r.stdout, bool(r.stderr))
"#;
    let r = srv.exec("priv", code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let out = stdout(&r);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(
        lines[0], "1000 1000 1000 0000000000000000 0000000000000000 0000000000000000 1 2",
        "{out}"
    );
    // EPERM for the id changes, mknod and chroot; EACCES/EROFS for the kernel's knobs.
    assert!(!lines[1].contains("ALLOWED"), "{out}");
    assert_eq!(lines[2], "False False ['fd', 'full', 'null', 'ptmx', 'pts', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']", "{out}");
    // Every one of those system calls fails with EPERM.
    assert_eq!(lines[3], "[-1, -1, -1, -1, -1, -1, -1, -1, -1]", "{out}");
    assert_eq!(lines[4], "False True", "su: {out}");
    srv.assert_alive().await;
    srv.stop().await;
}

async fn host_secret_file() {
    let srv = TestServer::start(hostile_config()).await;
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let name = format!("{}.txt", unique("codeact-secret-"));
    let path = format!("{home}/{name}");
    std::fs::write(&path, "top secret").unwrap();
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _cleanup = Cleanup(path.clone());
    let code = format!(
        "import os\n\
         for p in ['{path}', '/proc/1/root{path}', '/proc/self/root{path}', '/proc/1/cwd/..{path}', os.path.expanduser('~/{name}')]:\n\
         \x20   try:\n\
         \x20       print('READ', p, open(p).read())\n\
         \x20   except OSError as e:\n\
         \x20       print(type(e).__name__)\n\
         print('{name}' in os.listdir('{home}'), os.path.exists('{path}'))\n\
         print(os.environ['HOME'])"
    );
    let r = srv.exec("secret", &code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let out = stdout(&r);
    assert!(
        !out.contains("READ") && !out.contains("top secret"),
        "the secret was read: {out}"
    );
    assert_eq!(out.matches("FileNotFoundError").count(), 5, "{out}");
    assert!(out.contains("\nFalse False\n/workspace\n"), "{out}");
    // Nowhere in the sandbox's whole file tree either.
    let code = format!(
        "import os\nhits = []\n\
         for top, dirs, files in os.walk('/'):\n\
         \x20   if top == '/' and 'proc' in dirs:\n\
         \x20       dirs.remove('proc')\n\
         \x20   hits += [os.path.join(top, f) for f in files if f == '{name}']\n\
         print(hits)"
    );
    let r = srv
        .exec_body("secret", &json!({"code": code, "timeout_s": 60}))
        .await;
    assert_eq!(
        (r.status, stdout(&r).as_str()),
        (ExecStatus::Ok, "[]\n"),
        "{r:?}"
    );
    // Of the host's home only what Python needs is visible (the venv, when it lives there).
    let r = srv
        .exec("secret", &format!("import os\nprint(os.listdir('{home}'))"))
        .await;
    let listed = stdout(&r);
    assert!(listed == "[]\n" || listed == "['.cache']\n", "{listed}");
    srv.assert_alive().await;
    srv.stop().await;
}

async fn host_network() {
    use std::os::linux::net::SocketAddrExt;
    let srv = TestServer::start(hostile_config()).await;
    let tcp = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let port = tcp.local_addr().unwrap().port();
    let abstract_name = unique("codeact-test-");
    let unix = std::os::unix::net::UnixListener::bind_addr(
        &std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap(),
    )
    .unwrap();
    unix.set_nonblocking(true).unwrap();
    // The host's own address on its default route, if it has one.
    let host_ip = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|u| u.connect("192.0.2.1:9").map(|_| u))
        .and_then(|u| u.local_addr())
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".into());
    let code = format!(
        "import socket\n\
         def tcp(host, port):\n\
         \x20   try:\n\
         \x20       socket.create_connection((host, port), timeout=2).close()\n\
         \x20       return 'CONNECTED'\n\
         \x20   except OSError as e:\n\
         \x20       return e.errno\n\
         def unix(name):\n\
         \x20   s = socket.socket(socket.AF_UNIX)\n\
         \x20   try:\n\
         \x20       s.connect(name)\n\
         \x20       return 'CONNECTED'\n\
         \x20   except OSError as e:\n\
         \x20       return e.errno\n\
         print(tcp('127.0.0.1', {port}), tcp('{host_ip}', {port}), tcp('1.1.1.1', 53), unix('\\0{abstract_name}'))\n\
         print([n for _, n in socket.if_nameindex()])"
    );
    let r = srv.exec("net", &code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let out = stdout(&r);
    // ECONNREFUSED on the sandbox's own loopback, ENETUNREACH elsewhere.
    let want_host = if host_ip == "127.0.0.1" { "111" } else { "101" };
    assert_eq!(
        out,
        format!("111 {want_host} 101 111\n['lo']\n"),
        "host: {host_ip}"
    );
    assert!(
        tcp.accept().is_err(),
        "the host's TCP listener got a connection"
    );
    assert!(
        unix.accept().is_err(),
        "the host's abstract socket got a connection"
    );
    srv.assert_alive().await;
    srv.stop().await;
}

async fn kill_everything() {
    let srv = TestServer::start(hostile_config()).await;
    let marker = format!("1000.{}", std::process::id() + rand_digits());
    srv.exec("kill", &format!("import os, signal, subprocess, time\nx = 'alive'\np = subprocess.Popen(['sleep', '{marker}'])")).await;
    assert_eq!(
        common::wait_present(&marker, Duration::from_secs(5))
            .await
            .len(),
        1
    );

    // kill(-1): every process the session may signal, which is only its own.
    srv.exec_ok(
        "kill",
        "os.kill(-1, signal.SIGKILL)\ntime.sleep(0.2)\nprint(p.poll() is not None, x)",
        "True alive\n",
    )
    .await;
    assert!(common::wait_gone(&marker, Duration::from_secs(2))
        .await
        .is_empty());
    srv.assert_alive().await;

    // pid 1 of the session cannot be killed from inside; its parent is pid 1 too.
    srv.exec_ok(
        "kill",
        "print(os.getppid())\nos.kill(1, signal.SIGKILL)\ntime.sleep(0.3)\nprint(x)",
        "1\nalive\n",
    )
    .await;
    srv.exec_ok(
        "kill",
        "os.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(0.3)\nprint(x)",
        "alive\n",
    )
    .await;
    srv.assert_alive().await;

    // Killing itself: the session restarts.
    let r = srv
        .exec("kill", "os.kill(os.getpid(), signal.SIGKILL)")
        .await;
    assert_eq!(r.status, ExecStatus::Restarted, "{r:?}");
    assert!(
        notice(&r).contains("session killed") && notice(&r).contains("restarted"),
        "{r:?}"
    );
    let r = srv.exec("kill", "print('x' in globals())").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (ExecStatus::Ok, "False\n"),
        "{r:?}"
    );

    // Stopping itself: the timeout cannot interrupt it, so the session is restarted.
    let (r, took) = timed(
        &srv,
        "kill",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)",
    )
    .await;
    assert_eq!(r.status, ExecStatus::Restarted, "{r:?}");
    assert!(took < Duration::from_secs(12), "{took:?}");
    assert_eq!(srv.exec("kill", "print(2)").await.text(), "2\n");
    srv.assert_alive().await;
    srv.stop().await;
}

/// Signals to the process group reach only the session's own processes: the session keeps
/// working (restarted), DELETE ends it, nothing is left behind.
async fn process_group_kill() {
    let srv = TestServer::start(hostile_config()).await;
    srv.exec("pg", "import os, signal\nx = 'alive'").await;
    let r = srv.exec("pg", "print(os.getpgid(0), os.getsid(0))").await;
    let group = r.text();
    // kill(0) signals the caller's whole process group, itself included: the cell dies.
    let killed = srv.exec("pg", "os.kill(0, signal.SIGKILL)").await;
    let after = srv
        .post("/v1/sessions/pg/execute", &json!({"code": "print(1)"}))
        .await;
    srv.assert_alive().await;
    let deleted = srv.delete("/v1/sessions/pg").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let left = session_processes();
    println!("group/session ids seen inside: {group:?}\nkill(0): {killed:?}\nnext cell: {after:?}\ndelete: {deleted:?}\nleft: {left:?}");
    assert_eq!(killed.status, ExecStatus::Restarted, "{killed:?}");
    assert!(
        notice(&killed).contains("The session was restarted"),
        "kill(0, SIGKILL) from the session reached a process outside its pid namespace (the \
         zygote or the server), so the session cannot be restarted: {killed:?}"
    );
    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.body["outputs"][0]["text"], "1\n", "{after:?}");
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert!(left.is_empty(), "{left:?}");

    // Same with killpg on the group id.
    let r = srv
        .exec(
            "pg2",
            "import os, signal\nos.killpg(os.getpgrp(), signal.SIGKILL)",
        )
        .await;
    // Inside its own session the group is init's (pid 1 there), so the call either kills the
    // worker (a restart) or is refused; either way nothing outside the session is touched.
    assert!(
        r.status == ExecStatus::Restarted && notice(&r).contains("The session was restarted")
            || r.status == ExecStatus::Error && r.text().contains("ProcessLookupError"),
        "{r:?}"
    );
    srv.exec_ok("pg2", "print(2)", "2\n").await;
    srv.assert_alive().await;
    srv.stop().await;
}

/// A session that kills a process group (see `process_group_kill`) from a child, leaves a
/// sleeper behind and makes its worker ignore the end of its channel, must still end on DELETE.
async fn outlive_delete() {
    let srv = TestServer::start(hostile_config()).await;
    let marker = unique("codeact-outlive-");
    let code = r#"
import os, signal, subprocess, sys, time
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.read(r, 1)
    # A group of its own (the worker leads another), then kill that group.
    os.setpgid(0, 0)
    os.kill(0, signal.SIGKILL)
    os._exit(0)
os.setpgid(0, 0)
os.write(w, b'x')
os.waitpid(pid, 0)
p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)', 'MARKER'])
os._exit = lambda *a: time.sleep(10 ** 6)
print('armed')
"#
    .replace("MARKER", &marker);
    srv.exec_ok("outlive", &code, "armed\n").await;
    assert_eq!(
        common::wait_present(&marker, Duration::from_secs(5))
            .await
            .len(),
        1
    );
    let started = Instant::now();
    let deleted =
        tokio::time::timeout(Duration::from_secs(10), srv.delete("/v1/sessions/outlive")).await;
    let left = common::wait_gone(&marker, Duration::from_secs(2)).await;
    println!(
        "DELETE: {deleted:?} after {:?}; left: {left:?}",
        started.elapsed()
    );
    let deleted = deleted.unwrap_or_else(|_| {
        panic!("DELETE hung (the session's init is dead, and its processes live on): {left:?}")
    });
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert!(left.is_empty(), "the session outlived DELETE: {left:?}");
    srv.assert_alive().await;
    srv.stop().await;
}

/// The worker must not hold any control socket of the zygote or of its sandbox's builder:
/// with one, a cell could forge replies to the server, e.g. a start reply naming any host pid
/// as the session's init, which the server (root) would then send SIGINT to on the next
/// interrupt.
async fn control_channel_forgery() {
    let srv = TestServer::start(hostile_config()).await;
    // A host process outside the sandbox, in the server's pid namespace.
    let mut victim = Command::new("sleep").arg("1000").spawn().unwrap();
    let code = r#"
import os, socket, json
fds = []
for fd in sorted(map(int, os.listdir('/proc/self/fd'))):
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        continue
    if s.type == socket.SOCK_SEQPACKET:
        fds.append(fd)
        try:
            s.send(json.dumps({'ok': True, 'pid': VICTIM}).encode())
        except OSError:
            pass
    s.close()
print(fds)
"#
    .replace("VICTIM", &victim.id().to_string());
    let forged = srv.exec("forge", &code).await;
    let restarted = srv.post("/v1/sessions/forge/restart", &json!({})).await;
    let after = srv
        .post("/v1/sessions/forge/execute", &json!({"code": "print(1)"}))
        .await;
    let interrupted = srv.post("/v1/sessions/forge/interrupt", &json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let victim_status = victim.try_wait().unwrap();
    let _ = victim.kill();
    let _ = victim.wait();
    println!("forged: {forged:?}\nrestart: {restarted:?}\nnext: {after:?}\ninterrupt: {interrupted:?}\nvictim: {victim_status:?}");
    assert!(
        victim_status.is_none(),
        "a session made the server signal a host process ({victim_status:?}) with a reply forged on \
         a control socket it inherited (fds {})",
        stdout(&forged).trim()
    );
    assert_eq!(stdout(&forged), "[]\n", "the worker holds a control socket");
    srv.assert_alive().await;
    srv.stop().await;
}

/// A descriptor the server's process holds without close-on-exec (as a supervisor or a
/// shell may leave behind) must not reach sessions: only the session's own pipes and
/// sockets, and /dev/null, are open in it.
async fn inherited_descriptors() {
    let mut fds = [0; 2];
    // SAFETY: `pipe` writes two descriptors into the array it is given.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let leaked = std::fs::read_link(format!("/proc/self/fd/{}", fds[1])).unwrap();
    let leaked = leaked.to_string_lossy().into_owned();
    let srv = TestServer::start(hostile_config()).await;
    let code = "import os\n\
                for pid in ('self', '1'):\n\
                \x20   for fd in sorted(os.listdir('/proc/%s/fd' % pid), key=int):\n\
                \x20       try:\n\
                \x20           print(pid, fd, os.readlink('/proc/%s/fd/%s' % (pid, fd)))\n\
                \x20       except OSError:\n\
                \x20           pass  # the directory listing's own descriptor\n";
    let r = srv.exec("fds", code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let out = stdout(&r);
    println!("descriptors of the worker and the session's init:\n{out}");
    assert!(
        !out.contains(&leaked),
        "the server's descriptor {leaked} is open in the session:\n{out}"
    );
    srv.assert_alive().await;
    srv.stop().await;
}

/// The worker's channel is reachable from the cell (it runs in the worker): frames written
/// there by hand must neither crash the server nor make it hold outsized memory.
async fn forged_frames() {
    let srv = TestServer::start(hostile_config()).await;
    let find_channel = "import os, socket, struct, json\n\
                        def channel():\n\
                        \x20   for fd in map(int, os.listdir('/proc/self/fd')):\n\
                        \x20       try:\n\
                        \x20           s = socket.socket(fileno=os.dup(fd))\n\
                        \x20       except OSError:\n\
                        \x20           continue\n\
                        \x20       if s.type == socket.SOCK_STREAM and s.family == socket.AF_UNIX:\n\
                        \x20           return s\n\
                        \x20       s.close()\n";
    srv.exec("frames", find_channel).await;
    // Garbage, then a length the server refuses: each ends the session, which restarts.
    for forged in [
        "channel().sendall(b'\\0\\0\\0\\5{nope')",
        "channel().sendall(b'\\xff\\xff\\xff\\xff')",
    ] {
        let r = srv.exec("frames", forged).await;
        assert_eq!(r.status, ExecStatus::Restarted, "{forged}: {r:?}");
        srv.exec("frames", find_channel).await;
        let r = srv.exec("frames", "print(1)").await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (ExecStatus::Ok, "1\n"),
            "{r:?}"
        );
    }
    srv.assert_alive().await;
    // One output frame of 200 MB for the running cell (the session's fifth since its start:
    // cells are numbered per session).
    let before = common::own_peak_rss();
    let code = "body = json.dumps({'type': 'output', 'cell': CELL, 'outputs': [{'type': 'stream', 'name': 'stdout', 'text': 'z' * (200 << 20)}]}).encode()\n\
                channel().sendall(struct.pack('>I', len(body)) + body)";
    let r = srv.exec("frames", &code.replace("CELL", "7")).await;
    let grew = common::own_peak_rss().saturating_sub(before);
    println!("a forged 200 MB frame: {:?} {:?}, {} bytes of text; the server's peak memory grew by {} MiB", r.status, r.notice, outputs_text(&r).len(), grew >> 20);
    assert!(outputs_text(&r).len() < 3 * quick_config().output_limit);
    let r = srv.exec("frames", "print(2)").await;
    assert_eq!(r.text(), "2\n", "{r:?}");
    assert!(
        grew < 128 << 20,
        "a 200 MB frame forged by a cell made the server's memory peak grow by {} MiB",
        grew >> 20
    );
    srv.assert_alive().await;
    srv.stop().await;
}

fn rand_digits() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(7)
}

async fn daemon_outlives_session() {
    let srv = TestServer::start(hostile_config()).await;
    let daemon = "import os, signal, sys, time\n\
                  if os.fork():\n    os._exit(0)\n\
                  os.setsid()\n\
                  if os.fork():\n    os._exit(0)\n\
                  for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n    signal.signal(s, signal.SIG_IGN)\n\
                  time.sleep(10 ** 6)";
    let mut last = String::new();
    for (how, id) in [
        ("delete", "daemon-a"),
        ("restart", "daemon-b"),
        ("server stop", "daemon-c"),
    ] {
        let marker = unique("codeact-daemon-");
        let code = format!(
            "import subprocess, sys\nr = subprocess.run([sys.executable, '-c', {daemon:?}, '{marker}'])\nprint(r.returncode)"
        );
        let r = srv.exec(id, &code).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (ExecStatus::Ok, "0\n"),
            "{r:?}"
        );
        let found = common::wait_present(&marker, Duration::from_secs(5)).await;
        assert_eq!(found.len(), 1, "the daemon is running: {found:?}");
        assert_ne!(found[0].uid, Some(0), "{found:?}");
        match how {
            "delete" => srv.delete_session(id).await,
            "restart" => assert_eq!(
                srv.post(&format!("/v1/sessions/{id}/restart"), &json!({}))
                    .await
                    .status,
                200
            ),
            _ => {
                // Checked after the server stops, below.
                last = marker;
                continue;
            }
        }
        let left = common::wait_gone(&marker, Duration::from_secs(1)).await;
        assert!(
            left.is_empty(),
            "the daemon outlived the session's {how}: {left:?}"
        );
    }
    srv.assert_alive().await;
    srv.stop().await;
    let left = common::wait_gone(&last, Duration::from_secs(2)).await;
    assert!(left.is_empty(), "the daemon outlived the server: {left:?}");
}

/// When the server stops, every process it started ends with it: sessions, the zygote and
/// the pre-started sandboxes.
async fn server_stop_ends_everything() {
    // With the default pool of pre-started sandboxes.
    let srv = TestServer::start(ExecConfig {
        pool_size: quick_config().pool_size,
        ..hostile_config()
    })
    .await;
    for id in ["one", "two"] {
        let r = srv
            .exec(
                id,
                "import subprocess\np = subprocess.Popen(['sleep', '1000'])\nprint(1)",
            )
            .await;
        assert_eq!(r.text(), "1\n");
    }
    assert!(others_after(Duration::ZERO).await.len() > 4);
    srv.stop().await;
    let started = Instant::now();
    let at_stop: Vec<(i32, i32, Option<u32>)> = others_after(Duration::ZERO)
        .await
        .iter()
        .map(|p| (p.pid, p.ppid, p.uid))
        .collect();
    let left = others_after(Duration::from_secs(20)).await;
    let took = started.elapsed();
    println!("the server's processes ended {took:?} after it stopped; at the stop: (pid, ppid, uid) {at_stop:?}");
    assert!(
        left.is_empty(),
        "processes outlived the server by 20 s: {left:?}"
    );
    assert!(
        took < Duration::from_secs(1),
        "the server's processes lingered {took:?} after it stopped"
    );
}

/// A cell that writes into each of `dirs` until the write fails, and prints per directory:
/// the directory, the MiB written, and the errno that stopped it (0 if none did within 4 GiB).
fn fill_dirs_code(dirs: &[&str]) -> String {
    let dirs: Vec<String> = dirs.iter().map(|d| format!("'{d}'")).collect();
    format!(
        "import os\n\
         def fill(d):\n\
         \x20   n = 0\n\
         \x20   chunk = b'\\1' * (1 << 20)\n\
         \x20   try:\n\
         \x20       with open(os.path.join(d, 'fill.bin'), 'wb', buffering=0) as f:\n\
         \x20           while n < (4 << 30):\n\
         \x20               n += f.write(chunk)\n\
         \x20   except OSError as e:\n\
         \x20       return n, e.errno\n\
         \x20   return n, 0\n\
         for d in [{}]:\n\
         \x20   n, err = fill(d)\n\
         \x20   print(d, n >> 20, err, flush=True)",
        dirs.join(", ")
    )
}

async fn fill_the_disk() {
    let cfg = ExecConfig {
        sandbox: SandboxPolicy {
            disk_bytes: 64 << 20,
            ..Default::default()
        },
        ..hostile_config()
    };
    let srv = TestServer::start(cfg).await;
    let code = fill_dirs_code(&["/workspace", "/tmp", "/dev/shm"]);
    let (r, took) = timed(&srv, "disk", &code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let out = stdout(&r);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for line in lines {
        let f: Vec<&str> = line.split(' ').collect();
        let mib: u64 = f[1].parse().unwrap();
        assert_eq!(f[2], "28", "not ENOSPC: {line}");
        assert!(mib <= 64, "{line}: more than the 64 MiB disk");
    }
    // The session still works with its disk full; uploads fail cleanly; freeing space helps.
    assert_eq!(srv.exec("disk", "print(1)").await.text(), "1\n");
    let r = srv
        .put("/v1/sessions/disk/files/more.bin", vec![1u8; 2 << 20])
        .await;
    r.assert_error(400, "bad_request");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{r:?}"
    );
    let r = srv.exec("disk", "os.remove('/workspace/fill.bin')\nopen('/workspace/small', 'w').write('ok')\nprint(open('/workspace/small').read())").await;
    assert_eq!(r.text(), "ok\n", "{r:?}");
    srv.assert_alive().await;
    srv.stop().await;
}

/// The working directory and /tmp are tmpfs, so their contents count against the session's
/// memory: filling both when together they are larger than the memory limit must not leave a
/// session that can never run again.
async fn disk_larger_than_memory() {
    let sandbox = SandboxPolicy {
        disk_bytes: 256 << 20,
        memory_bytes: 384 << 20,
        ..Default::default()
    };
    let srv = TestServer::start(ExecConfig {
        sandbox,
        ..hostile_config()
    })
    .await;
    let code = fill_dirs_code(&["/workspace", "/tmp"]);
    let (r, took) = timed(&srv, "full", &code).await;
    println!("filling 2 x 256 MiB of tmpfs under 384 MiB of memory: {r:?} after {took:?}");
    let mut after = Vec::new();
    for _ in 0..3 {
        after.push(
            srv.post("/v1/sessions/full/execute", &json!({"code": "print(1)"}))
                .await,
        );
    }
    println!("then: {after:?}");
    let last = after.last().unwrap();
    assert_eq!(
        last.body["status"], "ok",
        "the session cannot run any more: {last:?}"
    );
    assert_eq!(last.body["outputs"][0]["text"], "1\n", "{last:?}");
    srv.assert_alive().await;
    srv.stop().await;
}

async fn flood_stdout() {
    let srv = TestServer::start(hostile_config()).await;
    let limit = quick_config().output_limit;
    let rss_before = common::own_rss();
    let cells = [
        // Through Python's sys.stdout.
        "import sys\nchunk = 'y' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.write(chunk)\nprint('END')",
        // Straight to file descriptor 1, from a child process.
        "import os\nos.system('head -c 100000000 /dev/zero | tr \"\\\\0\" z; echo END')",
    ];
    for code in cells {
        let started = Instant::now();
        let resp = srv
            .http
            .post(srv.url("/v1/sessions/flood/execute"))
            .json(&json!({"code": code, "timeout_s": 60}))
            .send()
            .await
            .unwrap();
        let raw = resp.bytes().await.unwrap();
        let took = started.elapsed();
        let r: ExecResult = serde_json::from_slice(&raw).unwrap();
        assert_eq!(r.status, ExecStatus::Ok, "{:?}", r.notice);
        assert!(
            took < Duration::from_secs(30),
            "100 MB of output took {took:?}"
        );
        assert!(raw.len() < 3 * limit, "a reply of {} bytes", raw.len());
        let text = outputs_text(&r);
        assert!(
            text.contains("output truncated"),
            "no truncation marker in {}",
            &text[..200]
        );
        assert!(
            notice(&r).contains("[output truncated to about"),
            "{:?}",
            r.notice
        );
        // The tail is kept, and whatever came before the cell's value (`os.system`'s 0)
        // comes before it, as in Jupyter.
        let streamed = stdout(&r);
        assert!(
            streamed.ends_with("END\n"),
            "the tail is lost: {:?}",
            &streamed[streamed.len().saturating_sub(100)..]
        );
        if let Some(at) = r
            .outputs
            .iter()
            .position(|o| !matches!(o, Output::Stream { .. }))
        {
            assert_eq!(
                at,
                r.outputs.len() - 1,
                "output after the result: {:?}",
                r.outputs[at..].iter().map(Output::text).collect::<Vec<_>>()
            );
        }
    }
    // The seed endpoint is capped too.
    let (text, _) = srv.seed("flood", "print('q' * (50 << 20))").await;
    assert!(
        text.len() < 3 * limit && text.contains("truncated"),
        "{}",
        text.len()
    );
    let grew = common::own_rss().saturating_sub(rss_before);
    assert!(grew < 64 << 20, "the server grew by {} MiB", grew >> 20);
    srv.assert_alive().await;
    srv.stop().await;
}

async fn other_sessions() {
    let srv = TestServer::start(hostile_config()).await;
    let marker = unique("codeact-a-");
    let code = format!(
        "import os, socket, subprocess, sys\n\
         secret_a = '{marker}'\n\
         open('a_only.txt', 'w').write(secret_a)\n\
         open('/tmp/a_tmp.txt', 'w').write(secret_a)\n\
         open('/dev/shm/a_shm', 'w').write(secret_a)\n\
         srv = socket.socket()\nsrv.bind(('127.0.0.1', 0))\nsrv.listen()\n\
         u = socket.socket(socket.AF_UNIX)\nu.bind('\\0{marker}')\nu.listen()\n\
         p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)', '{marker}'])\n\
         print(srv.getsockname()[1])"
    );
    let r = srv.exec("a", &code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let port: u16 = stdout(&r).trim().parse().unwrap();
    let a_procs = common::wait_present(&marker, Duration::from_secs(5)).await;
    assert_eq!(a_procs.len(), 1);

    let code = format!(
        "import os, socket, subprocess, sys\n\
         mounts = [l.split()[4] for l in open('/proc/self/mountinfo')]\n\
         def own(n):\n\
         \x20   # Not the way down to a read-only host path (a venv in a cache under /tmp).\n\
         \x20   return not any(m.startswith('/tmp/%s/' % n) or m == '/tmp/' + n for m in mounts)\n\
         print(sorted(os.listdir('/workspace')), sorted(n for n in os.listdir('/tmp') if own(n)), sorted(os.listdir('/dev/shm')))\n\
         seen = []\n\
         for p in os.listdir('/proc'):\n\
         \x20   if p.isdigit():\n\
         \x20       try:\n\
         \x20           seen.append(open('/proc/%s/cmdline' % p, 'rb').read())\n\
         \x20       except OSError:\n\
         \x20           pass\n\
         print(len(seen), any(b'{marker}' in c for c in seen))\n\
         def tcp():\n\
         \x20   try:\n\
         \x20       socket.create_connection(('127.0.0.1', {port}), timeout=2)\n\
         \x20       return 'CONNECTED'\n\
         \x20   except OSError as e:\n\
         \x20       return e.errno\n\
         def unix():\n\
         \x20   try:\n\
         \x20       socket.socket(socket.AF_UNIX).connect('\\0{marker}')\n\
         \x20       return 'CONNECTED'\n\
         \x20   except OSError as e:\n\
         \x20       return e.errno\n\
         print(tcp(), unix(), 'secret_a' in globals())\n\
         q = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)', 'b-{marker}'])"
    );
    let r = srv.exec("b", &code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    assert_eq!(
        stdout(&r),
        "[] [] []\n2 False\n111 111 False\n",
        "B sees A: {r:?}"
    );
    // On the host the two sessions run as two different unprivileged users.
    let b_procs = common::wait_present(&format!("b-{marker}"), Duration::from_secs(5)).await;
    assert_eq!(b_procs.len(), 1);
    assert_ne!(
        a_procs[0].uid, b_procs[0].uid,
        "two sessions share a host uid: {a_procs:?} {b_procs:?}"
    );
    // A is untouched.
    let r = srv
        .exec(
            "a",
            "print(open('a_only.txt').read() == secret_a, p.poll())",
        )
        .await;
    assert_eq!(r.text(), "True None\n");
    srv.assert_alive().await;
    srv.stop().await;
}

async fn server_environment() {
    let secret = std::env::var(SECRET).expect("the outer test sets the secret");
    let srv = TestServer::start(hostile_config()).await;
    // Start a child too, so that several processes' environments are looked at.
    let code = format!(
        "import os, subprocess\n\
         p = subprocess.Popen(['sleep', '30'])\n\
         secret = '{secret}'\n\
         hits, seen = [], []\n\
         for p_ in os.listdir('/proc'):\n\
         \x20   if p_.isdigit() or p_ == 'self':\n\
         \x20       try:\n\
         \x20           env = open('/proc/%s/environ' % p_, 'rb').read()\n\
         \x20           seen.append(p_)\n\
         \x20       except OSError:\n\
         \x20           continue\n\
         \x20       if secret.encode() in env or b'{SECRET}' in env or b'CARGO' in env:\n\
         \x20           hits.append(p_)\n\
         print(hits, len(seen) >= 4)\n\
         print([k for k in os.environ if k.startswith(('CARGO', 'RUST', 'CODEACT')) or secret in os.environ[k]])\n\
         print(sorted(int(x) for x in os.listdir('/proc') if x.isdigit()) == sorted([1, os.getpid(), p.pid]))\n\
         p.kill()"
    );
    let r = srv.exec("env", &code).await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    // Only init (1), the worker and the sleep are visible: the session's own processes.
    assert_eq!(stdout(&r), "[] True\n[]\nTrue\n", "{r:?}");
    srv.assert_alive().await;
    srv.stop().await;
}

async fn interpreter_exits() {
    let srv = TestServer::start(hostile_config()).await;
    srv.exec("exit", "v = 1\nopen('keep.txt', 'w').write('k')")
        .await;
    // SystemExit is just an exception: the session and its state stay.
    let r = srv.exec("exit", "import sys\nsys.exit(3)").await;
    assert_ne!(r.status, ExecStatus::Restarted, "{r:?}");
    assert_eq!(srv.exec("exit", "v").await.text(), "1\n");
    for crash in [
        "import os\nos._exit(0)",
        "import os\nos._exit(9)",
        "import os\nos.abort()",
        "import ctypes\nctypes.string_at(0)",
    ] {
        srv.exec("exit", "v = 1").await;
        let (r, took) = timed(&srv, "exit", crash).await;
        assert_eq!(r.status, ExecStatus::Restarted, "{crash}: {r:?}");
        assert!(
            notice(&r).contains("the Python process died"),
            "{crash}: {r:?}"
        );
        assert!(took < Duration::from_secs(5), "{crash}: {took:?}");
        let r = srv
            .exec("exit", "print('v' in globals(), open('keep.txt').read())")
            .await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (ExecStatus::Ok, "False k\n"),
            "after {crash}: {r:?}"
        );
    }
    let r = srv.get("/v1/sessions/exit").await;
    assert_eq!(r.body["restarts"], 4, "{r:?}");
    srv.assert_alive().await;
    srv.stop().await;
}

async fn non_utf8_output() {
    let srv = TestServer::start(hostile_config()).await;
    let r = srv
        .exec(
            "bytes",
            "import os, sys\nsys.stdout.buffer.write(b'\\xff\\xfe ok\\n')",
        )
        .await;
    assert_eq!(
        (r.status, stdout(&r).as_str()),
        (ExecStatus::Ok, "\u{fffd}\u{fffd} ok\n"),
        "{r:?}"
    );
    let r = srv
        .exec("bytes", "os.write(1, b'\\xff'); os.write(1, b'\\n')")
        .await;
    assert_eq!(
        (r.status, stdout(&r).as_str()),
        (ExecStatus::Ok, "\u{fffd}\n"),
        "{r:?}"
    );
    let r = srv
        .exec("bytes", "_ = os.write(2, b'bad \\xc3\\x28 seq\\n')")
        .await;
    assert_eq!(outputs_text(&r), "bad \u{fffd}( seq\n", "{r:?}");
    let r = srv.exec("bytes", "print('lone \\ud800 surrogate')").await;
    assert_eq!(
        (r.status, stdout(&r).as_str()),
        (ExecStatus::Ok, "lone \u{fffd} surrogate\n"),
        "{r:?}"
    );
    // A split multi-byte character across two writes is joined, not replaced.
    let r = srv
        .exec(
            "bytes",
            "os.write(1, b'\\xe2\\x82'); os.write(1, b'\\xac\\n')",
        )
        .await;
    assert_eq!(stdout(&r), "\u{20ac}\n", "{r:?}");
    // Random bytes from a child process: the reply is still valid JSON.
    let r = srv
        .exec(
            "bytes",
            "os.system('head -c 200000 /dev/urandom'); print('\\ndone')",
        )
        .await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    assert!(stdout(&r).contains('\u{fffd}') && stdout(&r).ends_with("done\n"));
    let (text, _) = srv
        .seed("bytes", "_ = sys.stdout.buffer.write(b'\\x80seed')")
        .await;
    assert_eq!(text, "\u{fffd}seed");
    srv.assert_alive().await;
    srv.stop().await;
}

async fn five_megabyte_cell() {
    let srv = TestServer::start(hostile_config()).await;
    let literal = "x".repeat(5_000_000);
    let (r, took) = timed(&srv, "big", &format!("s = '{literal}'\nprint(len(s))")).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (ExecStatus::Ok, "5000000\n"),
        "{:?}",
        r.notice
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    let (text, _) = srv
        .seed("big", &format!("t = '{literal}'\nprint(len(t) + len(s))"))
        .await;
    assert_eq!(text, "10000000\n");
    srv.assert_alive().await;
    srv.stop().await;
}

async fn many_concurrent_sessions() {
    // With the default pool of pre-started sandboxes.
    let srv = TestServer::start(ExecConfig {
        pool_size: quick_config().pool_size,
        ..hostile_config()
    })
    .await;
    let started = Instant::now();
    // One cell in each of the 64 sessions at once, through the seed API.
    let all_at_once = |code: fn(usize) -> String| {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (http, url) = (srv.http.clone(), srv.url("/execute"));
                let code = code(i);
                tokio::spawn(async move {
                    let r: serde_json::Value = http
                        .post(url)
                        .json(&json!({"convid": format!("c{i}"), "code": code}))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    (i, r)
                })
            })
            .collect();
        tasks
    };
    let first =
        all_at_once(|i| format!("import os\nmine = {i}\nprint('session', mine, os.getppid())"));
    for t in first {
        let (i, r) = t.await.unwrap();
        // Each in a pid namespace of its own, whose pid 1 is the worker's parent.
        assert_eq!(r["result"], format!("session {i} 1\n"), "{r}");
        assert_eq!(r["new_kernel_created"], true, "{r}");
    }
    println!("64 sessions created in {:?}", started.elapsed());
    assert_eq!(
        srv.get("/v1/sessions").await.body["sessions"]
            .as_array()
            .unwrap()
            .len(),
        64
    );
    // Each kept its own state.
    let again = all_at_once(|_| "mine".to_string());
    for t in again {
        let (i, r) = t.await.unwrap();
        assert_eq!(r["result"], format!("{i}\n"), "{r}");
        assert_eq!(r["new_kernel_created"], false, "{r}");
    }
    println!(
        "64 sessions created and used twice in {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    srv.assert_alive().await;
    srv.stop().await;
}
