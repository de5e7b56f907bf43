//! The local backend with real Python sessions, sandbox on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, SessionManager};
use codeact_protocol::{BackendKind, ExecStatus, Namespace, NetworkAccess, Output};

async fn manager(cfg: ExecConfig) -> Arc<SessionManager> {
    let backend = LocalBackend::new(&cfg).await.expect("local backend");
    SessionManager::new(Arc::new(backend), cfg)
}

fn quick() -> ExecConfig {
    ExecConfig {
        cell_timeout: Duration::from_secs(3),
        interrupt_grace: Duration::from_secs(2),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_persists_and_outputs_are_ordered() {
    let m = manager(quick()).await;
    let r = m.execute("a", "x = 41\nprint('hi')\nx + 1").await.unwrap();
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    assert!(r.new_session);
    assert_eq!(r.text(), "hi\n42\n");
    let r = m
        .execute(
            "a",
            "import sys; print('o'); print('e', file=sys.stderr); x",
        )
        .await
        .unwrap();
    assert!(!r.new_session);
    assert_eq!(r.text(), "o\ne\n41\n");
    m.shutdown().await;
}

/// The report lists, as typed fields, what the sandbox enforces, and renders it for people.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_says_what_is_enforced() {
    let m = manager(ExecConfig {
        pool_size: 0,
        ..quick()
    })
    .await;
    let r = m.report();
    assert_eq!((r.backend, r.isolated), (BackendKind::Local, true));
    assert_eq!(r.namespaces.len(), 6);
    assert!(r.namespaces.contains(&Namespace::Pid));
    let fs = r.filesystem.as_ref().expect("a filesystem view");
    assert!(fs.read_only_paths.iter().any(|p| p == "/usr"), "{fs:?}");
    assert_eq!(fs.writable, ["/workspace", "/tmp"]);
    assert_eq!(r.network, Some(NetworkAccess::LoopbackOnly));
    let limits = r.rlimits.as_ref().expect("rlimits");
    assert_eq!(limits.file_size_bytes, quick().sandbox.file_size_bytes);
    assert!(r.capabilities_dropped && r.no_new_privs && r.environment_scrubbed);
    assert!(r.seccomp.as_ref().expect("seccomp").denied_syscalls > 30);
    // As root, a cgroup per session; otherwise it is reported missing.
    assert_eq!(r.cgroup.is_some(), r.missing.is_empty(), "{r:?}");
    let py = r.python.as_ref().expect("the session Python");
    assert_eq!(py.path, quick().python);
    assert!(!py.version.is_empty(), "{py:?}");
    let lines = r.enforced_lines();
    assert_eq!(lines[0], "namespaces: user pid mount net ipc uts");
    assert!(
        lines.iter().any(|l| l.starts_with("seccomp: ")),
        "{lines:?}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["backend"], "local");
    assert_eq!(json["network"], "loopback_only");
    assert_eq!(json["namespaces"][0], "user");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_plain_text() {
    let m = manager(quick()).await;
    let r = m
        .execute("e", "def f():\n    return 1/0\nf()")
        .await
        .unwrap();
    assert_eq!(r.status, ExecStatus::Error);
    let text = r.text();
    assert!(text.contains("ZeroDivisionError"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text:?}");
    println!("{text}");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_interrupts_and_keeps_state() {
    let m = manager(quick()).await;
    m.execute("t", "y = 7").await.unwrap();
    let r = m
        .execute("t", "import time\nwhile True: time.sleep(0.01)")
        .await
        .unwrap();
    assert_eq!(r.status, ExecStatus::Interrupted, "{r:?}");
    let r = m.execute("t", "y").await.unwrap();
    assert_eq!(r.text(), "7\n");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn os_exit_restarts_the_session() {
    let m = manager(quick()).await;
    m.execute("x", "open('keep.txt','w').write('k'); z = 1")
        .await
        .unwrap();
    let r = m.execute("x", "import os; os._exit(3)").await.unwrap();
    assert_eq!(r.status, ExecStatus::Restarted, "{r:?}");
    let r = m
        .execute("x", "print(open('keep.txt').read()); 'z' in globals()")
        .await
        .unwrap();
    assert_eq!(r.text(), "k\nFalse\n");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matplotlib_figures_come_back_as_png() {
    let m = manager(quick()).await;
    let r = m
        .execute(
            "p",
            "import matplotlib.pyplot as plt\nplt.plot([1,2,3])\nplt.show()",
        )
        .await
        .unwrap();
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let png = r.images().next().expect("an image");
    assert!(png.starts_with("iVBOR"));
    assert!(r
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Display { .. })));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_and_magics_work() {
    let m = manager(quick()).await;
    let r = m.execute("s", "!echo from-shell\n%time 1+1").await.unwrap();
    assert!(r.text().contains("from-shell"), "{r:?}");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_by_default() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let m = manager(quick()).await;
    let code = format!(
        "import socket\ns = socket.socket()\ns.settimeout(2)\ntry:\n    s.connect(('127.0.0.1', {port})); print('connected')\nexcept OSError as e:\n    print('refused', type(e).__name__)\nprint(sorted(n for _, n in socket.if_nameindex()))"
    );
    let r = m.execute("n", &code).await.unwrap();
    assert_eq!(
        r.text(),
        "refused ConnectionRefusedError\n['lo']\n",
        "{r:?}"
    );
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_mode_cannot_reach_the_host_loopback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cfg = quick();
    cfg.sandbox.network = codeact_exec::NetworkMode::Egress;
    cfg.pool_size = 0;
    let m = manager(cfg).await;
    // A UDP "connect" sends nothing: it only shows the route and address the session has.
    let code = format!(
        "import socket\nu = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nu.connect(('10.0.2.3', 53))\nprint(u.getsockname()[0])\nfor host in ('10.0.2.2', '127.0.0.1'):\n    s = socket.socket(); s.settimeout(3)\n    try:\n        s.connect((host, {port})); print(host, 'connected')\n    except OSError as e:\n        print(host, 'unreachable')\nprint(open('/etc/resolv.conf').read().strip())"
    );
    let r = m.execute("eg", &code).await.unwrap();
    assert_eq!(
        r.text(),
        "10.0.2.100\n10.0.2.2 unreachable\n127.0.0.1 unreachable\nnameserver 10.0.2.3\n",
        "{r:?}"
    );
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_reaped_and_the_cap_holds() {
    let cfg = ExecConfig {
        idle_timeout: Duration::from_millis(300),
        max_sessions: 2,
        pool_size: 1,
        ..quick()
    };
    let m = manager(cfg).await;
    m.execute("r1", "1").await.unwrap();
    m.execute("r2", "1").await.unwrap();
    let err = m.execute("r3", "1").await.unwrap_err();
    assert!(
        matches!(err, codeact_exec::ExecError::TooManySessions(2)),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut reaped = m.reap_idle().await;
    reaped.sort();
    assert_eq!(reaped, vec!["r1".to_string(), "r2".to_string()]);
    assert!(m.list().is_empty());
    assert!(m.execute("r3", "1").await.unwrap().new_session);
    m.shutdown().await;
}

/// With several zygotes, sessions are made by each in turn and made at once; each session
/// keeps to its own (a restart asked of another zygote, which does not know the session,
/// would fail), and closing one leaves the others alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_several_zygotes() {
    let m = manager(ExecConfig {
        zygotes: 2,
        pool_size: 0,
        ..quick()
    })
    .await;
    let ids: Vec<String> = (0..6).map(|i| format!("z{i}")).collect();
    let codes: Vec<String> = ids
        .iter()
        .map(|id| format!("mine = {id:?}\nopen('f', 'w').write(mine)"))
        .collect();
    let made =
        futures::future::join_all(ids.iter().zip(&codes).map(|(id, code)| m.execute(id, code)))
            .await;
    assert!(
        made.iter().all(|r| r.as_ref().is_ok_and(|r| r.new_session)),
        "{made:?}"
    );
    for id in &ids {
        m.restart(id).await.unwrap();
        let r = m
            .execute(id, "print(open('f').read(), 'mine' in globals())")
            .await
            .unwrap();
        assert_eq!(r.text(), format!("{id} False\n"), "{r:?}");
    }
    m.delete("z0").await.unwrap();
    let r = m.execute("z1", "print(open('f').read())").await.unwrap();
    assert_eq!(r.text(), "z1\n", "{r:?}");
    m.shutdown().await;
}

/// Sessions start at once: concurrent first uses of one id make one session, of different
/// ids as many as the cap allows and no more, and a start given up half way leaves nothing
/// that blocks the id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_uses_start_one_session_each_within_the_cap() {
    let m = manager(ExecConfig {
        zygotes: 2,
        pool_size: 0,
        max_sessions: 3,
        ..quick()
    })
    .await;
    let code = "n = globals().get('n', 0) + 1\nprint(n)";
    let same = futures::future::join_all((0..6).map(|_| m.execute("same", code))).await;
    let same: Vec<_> = same.into_iter().map(Result::unwrap).collect();
    assert_eq!(same.iter().filter(|r| r.new_session).count(), 1, "{same:?}");
    let mut counts: Vec<String> = same.iter().map(|r| r.text()).collect();
    counts.sort();
    assert_eq!(counts, ["1\n", "2\n", "3\n", "4\n", "5\n", "6\n"]);

    let ids: Vec<String> = (0..5).map(|i| format!("cap{i}")).collect();
    let made = futures::future::join_all(ids.iter().map(|id| m.execute(id, "1"))).await;
    let refused = made
        .iter()
        .filter(|r| matches!(r, Err(codeact_exec::ExecError::TooManySessions(3))))
        .count();
    assert_eq!((made.len() - refused, refused), (2, 3), "{made:?}");
    assert_eq!(m.list().len(), 3);

    for id in m.list().into_iter().map(|s| s.id) {
        m.delete(&id).await.unwrap();
    }
    // Given up at once, then at some point during the start: the id starts afresh each time.
    for wait_ms in [0, 5, 20] {
        let _ = tokio::time::timeout(Duration::from_millis(wait_ms), m.create("given-up")).await;
        let r = m.execute("given-up", "print('here')").await.unwrap();
        assert_eq!(r.text(), "here\n", "{r:?}");
        m.delete("given-up").await.unwrap();
    }
    // A start still going when the engine shuts down keeps no session behind.
    let late = {
        let m = m.clone();
        tokio::spawn(async move { m.create("late").await })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    m.shutdown().await;
    let _ = late.await.unwrap();
    assert!(m.list().is_empty(), "{:?}", m.list());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_and_survive_a_restart() {
    let m = manager(quick()).await;
    m.write_file("f", "data/in.txt", b"hello").await.unwrap();
    let r = m
        .execute(
            "f",
            "print(open('data/in.txt').read()); open('out.bin','wb').write(bytes(range(256)))",
        )
        .await
        .unwrap();
    assert_eq!(r.text(), "hello\n256\n");
    m.restart("f").await.unwrap();
    assert_eq!(
        m.read_file("f", "out.bin").await.unwrap(),
        (0..=255u8).collect::<Vec<_>>()
    );
    let listing = m.list_files("f").await.unwrap();
    assert_eq!(listing.files, ["data/", "data/in.txt", "out.bin"]);
    assert!(!listing.truncated);
    assert!(m.read_file("f", "../etc/passwd").await.is_err());
    assert!(matches!(
        m.read_file("f", "missing").await,
        Err(codeact_exec::ExecError::NotFound(_))
    ));
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_python_without_ipython_runs_cells_too() {
    let cfg = ExecConfig {
        python: "/usr/bin/python3".into(),
        pool_size: 0,
        ..quick()
    };
    let m = manager(cfg).await;
    // The report says which Python runs sessions, and what it lacks.
    let py = m.report().python.expect("the session Python");
    assert_eq!(py.path, std::path::Path::new("/usr/bin/python3"));
    assert!(
        !py.ipython && py.missing_modules.contains(&"IPython".to_string()),
        "{py:?}"
    );
    let expected = [
        "IPython",
        "numpy",
        "pandas",
        "matplotlib",
        "matplotlib.pyplot",
    ];
    assert!(
        py.missing_modules
            .iter()
            .all(|m| expected.contains(&m.as_str())),
        "{py:?}"
    );
    let r = m
        .execute("p", "import sys\nv = 20\nprint('out')\nv * 2")
        .await
        .unwrap();
    assert_eq!(r.text(), "out\n40\n", "{r:?}");
    let r = m
        .execute("p", "def g():\n    raise ValueError('bad')\ng()")
        .await
        .unwrap();
    assert_eq!(r.status, ExecStatus::Error);
    let text = r.text();
    assert!(text.starts_with("Traceback"), "{text}");
    assert!(text.contains("ValueError: bad"), "{text}");
    assert!(
        !text.contains("worker"),
        "the worker's own frames leak: {text}"
    );
    m.shutdown().await;
}

/// An idle session is its worker and the small `codeact-init` as pid 1 (the session's holder,
/// which keeps its namespaces), which reaps the worker and orphans; no Python process stays
/// behind for it, and a restart leaves the holder and the new worker only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_is_the_small_reaper_and_orphans_are_reaped() {
    let m = manager(quick()).await;
    let code = "import os\n\
                print(open('/proc/1/comm').read().strip(), os.getppid())\n\
                print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()) == [1, os.getpid()])";
    let r = m.execute("i", code).await.unwrap();
    assert_eq!(r.text(), "codeact-init 1\nTrue\n", "{r:?}");
    // A grandchild orphaned by its parent is reparented to init and reaped there.
    let code = "import os, time\n\
                if os.fork() == 0:\n    \
                    if os.fork() == 0:\n        \
                        time.sleep(0.2)\n        \
                        os._exit(0)\n    \
                    os._exit(0)\n\
                os.wait()\n\
                time.sleep(1)\n\
                print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()) == [1, os.getpid()])";
    let r = m.execute("i", code).await.unwrap();
    assert_eq!(r.text(), "True\n", "{r:?}");
    // A restart ends the worker and what it started, the holder stays.
    m.execute(
        "i",
        "import subprocess\np = subprocess.Popen(['sleep', '1000'])",
    )
    .await
    .unwrap();
    m.restart("i").await.unwrap();
    let code = "import os\n\
                print(open('/proc/1/comm').read().strip(), os.getppid())\n\
                print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()) == [1, os.getpid()])";
    let r = m.execute("i", code).await.unwrap();
    assert_eq!(r.text(), "codeact-init 1\nTrue\n", "{r:?}");
    m.shutdown().await;
}

/// A restart requested while a cell runs ends that cell as restarted, and the manager does not
/// answer the cell's death with a second restart of the fresh session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_under_a_running_cell_restarts_once() {
    let m = manager(quick()).await;
    m.execute("r", "x = 1").await.unwrap();
    let m2 = m.clone();
    let cell = tokio::spawn(async move {
        m2.execute_with(
            "r",
            "import time\nprint('started', flush=True)\ntime.sleep(30)",
            Some(Duration::from_secs(60)),
            None,
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    m.restart("r").await.unwrap();
    let r = cell.await.unwrap().unwrap();
    assert_eq!(r.status, ExecStatus::Restarted, "{r:?}");
    let r = m.execute("r", "'x' in globals()").await.unwrap();
    assert_eq!(r.text(), "False\n", "{r:?}");
    assert_eq!(m.info("r").unwrap().restarts, 1);
    m.shutdown().await;
}

/// Read-only paths under /tmp (a session venv in a cache under /tmp, say) stay visible below
/// the session's own /tmp, and modules imported lazily from them load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_paths_under_tmp_stay_visible() {
    let dir = tempfile::Builder::new()
        .prefix("codeact-ro-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::write(dir.path().join("lazy_mod.py"), "VALUE = 42\n").unwrap();
    // The session's uid must be able to read it.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut cfg = ExecConfig {
        pool_size: 0,
        ..quick()
    };
    cfg.sandbox.extra_ro_paths = vec![dir.path().to_path_buf()];
    let m = manager(cfg).await;
    let code = format!(
        "import sys\nsys.path.insert(0, {:?})\nimport lazy_mod\nprint(lazy_mod.VALUE)\n\
         open('/tmp/mine', 'w').write('w')\nprint(open('/tmp/mine').read())",
        dir.path().display().to_string()
    );
    let r = m.execute("ro-tmp", &code).await.unwrap();
    assert_eq!(
        (r.status, r.text().as_str()),
        (ExecStatus::Ok, "42\nw\n"),
        "{r:?}"
    );
    let r = m
        .execute(
            "ro-tmp",
            &format!(
                "open({:?}, 'w')",
                dir.path().join("x").display().to_string()
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        r.status,
        ExecStatus::Error,
        "the path must stay read-only: {r:?}"
    );
    m.shutdown().await;
}
