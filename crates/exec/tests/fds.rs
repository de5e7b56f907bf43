//! The local backend under a low open-files limit: a live session costs the server one
//! descriptor, and when the limit stops a new session the error names it. Sessions at the
//! limit still run, restart and take interrupts. This binary lowers its own RLIMIT_NOFILE, so
//! it holds this one test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use codeact_exec::local::LocalBackend;
use codeact_exec::{ExecConfig, ExecError, SessionManager};
use codeact_protocol::{ErrorCode, ExecStatus};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Descriptors this process has open.
fn open_fds() -> usize {
    // Less the one that reads the directory.
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

/// Descriptors the server may use for sessions in this test. With the seven a session held
/// before (five namespaces, a pidfd, the socket), nine sessions would fit.
const ROOM: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_fit_under_a_low_open_files_limit() {
    // The engine raises the soft limit to the hard one at start.
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard / 2, hard).unwrap();
    let cfg = ExecConfig {
        pool_size: 0,
        max_sessions: 10 * ROOM,
        cell_timeout: Duration::from_secs(3),
        interrupt_grace: Duration::from_secs(2),
        ..Default::default()
    };
    let backend = LocalBackend::new(&cfg).await.expect("local backend");
    assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (hard, hard));
    let m = SessionManager::new(Arc::new(backend), cfg);
    m.execute("first", "1").await.unwrap();
    m.delete("first").await.unwrap();

    // Now a low limit: what is open, and room for ROOM descriptors more.
    let base = open_fds();
    let limit = (base + ROOM) as u64;
    setrlimit(Resource::RLIMIT_NOFILE, limit, hard).unwrap();
    let mut alive = 0;
    let err = loop {
        // A bound on the loop (the count `base` took may include a descriptor that a just
        // ended session was still closing); the figures are checked below.
        assert!(alive <= ROOM + 2, "{alive} sessions in {ROOM} descriptors");
        match m
            .execute(&format!("s{alive}"), &format!("x = {alive}"))
            .await
        {
            Ok(r) => {
                assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
                alive += 1;
            }
            Err(e) => break e,
        }
    };
    let held = open_fds() - base;
    println!(
        "{alive} sessions under a limit of {limit} ({base} open before them, {held} after): {err}"
    );
    assert!(held <= alive + 1, "{held} descriptors for {alive} sessions");
    assert!(
        alive + 4 >= ROOM,
        "only {alive} sessions fit in {ROOM} descriptors"
    );
    // The error says that the open-files limit stopped the session, and names its value.
    assert!(
        matches!(err, ExecError::OpenFilesLimit(l) if l == limit),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::TooManySessions);
    assert!(err.to_string().contains(&limit.to_string()), "{err}");
    assert_eq!(m.list().len(), alive);

    // At the limit, sessions still run cells.
    let r = m.execute("s1", "x").await.unwrap();
    assert_eq!(r.text(), "1\n", "{r:?}");
    // Ending a few makes room again; a restart loses the variables and keeps the files.
    for i in 2..6 {
        m.delete(&format!("s{i}")).await.unwrap();
    }
    m.execute("s0", "open('kept.txt', 'w').write('k')")
        .await
        .unwrap();
    for round in 0..3 {
        m.restart("s0").await.unwrap();
        let r = m
            .execute(
                "s0",
                "print(open('kept.txt').read(), 'x' in globals())\nx = 0",
            )
            .await
            .unwrap();
        assert_eq!(r.text(), "k False\n", "round {round}: {r:?}");
    }
    // A cell past its time limit is interrupted, and the session keeps its state.
    let r = m
        .execute("s1", "import time\nwhile True: time.sleep(0.01)")
        .await
        .unwrap();
    assert_eq!(r.status, ExecStatus::Interrupted, "{r:?}");
    assert_eq!(m.execute("s1", "x").await.unwrap().text(), "1\n");
    // Still one descriptor per session.
    let held = open_fds() - base;
    assert!(
        held <= m.list().len() + 1,
        "{held} descriptors for {} sessions",
        m.list().len()
    );
    assert!(m.execute("new", "1").await.is_ok());

    // Ended sessions leave nothing behind in the server.
    m.shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() > base && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        open_fds() <= base,
        "{} descriptors open after shutdown, {base} before",
        open_fds()
    );
}
