//! Ordinary Python that used to break sessions, through the HTTP API over the real sandbox:
//! threads and child processes printing at once, output between cells, strings UTF-8 cannot
//! hold, shell commands and magics, exit(), fork, progress bars, process names, and the order
//! of output and results. Each kind is tried with several inputs; after each, the session still
//! holds its variables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use codeact_protocol::{ExecStatus, Output};
use common::{outputs_text, quick_config, stderr, stdout, TestServer};

/// Asserts that the session kept `kept = 'yes'` (set by `remember`).
async fn still_holds(srv: &TestServer, id: &str, after: &str) {
    let r = srv.exec(id, "print(kept)").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (ExecStatus::Ok, "yes\n"),
        "after {after:?}: {r:?}"
    );
}

async fn remember(srv: &TestServer, id: &str) {
    srv.exec_ok(id, "kept = 'yes'", "").await;
}

/// The numbers after each `tag ` in `text`, in order. Writers' lines may be glued together
/// (`py 5c 3`): a tag starts where no letter precedes it, and its number ends at a non-digit.
fn numbers_by_tag(text: &str) -> std::collections::BTreeMap<String, Vec<usize>> {
    let mut seen: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    let b = text.as_bytes();
    for i in 0..b.len() {
        if !b[i].is_ascii_alphabetic() || (i > 0 && b[i - 1].is_ascii_alphabetic()) {
            continue;
        }
        let tag_end = (i..b.len())
            .find(|&j| !b[j].is_ascii_alphanumeric())
            .unwrap_or(b.len());
        if b.get(tag_end) != Some(&b' ') {
            continue;
        }
        let start = tag_end + 1;
        let end = (start..b.len())
            .find(|&j| !b[j].is_ascii_digit())
            .unwrap_or(b.len());
        if let Ok(n) = text[start..end].parse() {
            seen.entry(text[i..tag_end].to_string())
                .or_default()
                .push(n);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_and_processes_print_at_once_without_errors_or_reordering() {
    let srv = TestServer::start(quick_config()).await;
    remember(&srv, "threads").await;
    let cells = [
        // The report's case: a background thread and the main thread, 2,000 lines each.
        "import threading\n\
         def bg():\n    for i in range(2000):\n        print('bg %d' % i, flush=True)\n\
         t = threading.Thread(target=bg); t.start()\n\
         for i in range(2000):\n    print('main %d' % i)\n\
         t.join()",
        // Eight threads, and child processes writing to the same descriptors.
        "import threading, os, sys\n\
         def w(tag):\n    for i in range(300):\n        sys.stdout.write('%s %d\\n' % (tag, i))\n\
         ts = [threading.Thread(target=w, args=('t%d' % n,)) for n in range(8)]\n\
         [t.start() for t in ts]\n\
         for i in range(300):\n    sys.stderr.write('main %d\\n' % i)\n    \
         if i % 100 == 0: os.system('echo proc %d' % i)\n\
         [t.join() for t in ts]",
        // C-level writes (libc's printf through ctypes) among Python's.
        "import ctypes, threading\n\
         libc = ctypes.CDLL(None)\n\
         def c():\n    for i in range(500):\n        libc.dprintf(1, b'c %d\\n', i)\n\
         t = threading.Thread(target=c); t.start()\n\
         for i in range(500):\n    print('py %d' % i)\n\
         t.join()",
    ];
    for code in cells {
        let r = srv.exec("threads", code).await;
        assert_eq!(r.status, ExecStatus::Ok, "{code}: {:?}", r.outputs.last());
        let text = format!("{}{}", stdout(&r), stderr(&r));
        assert!(!text.contains("RuntimeError"), "{code}: {text}");
        // print() writes its text and its newline separately, so lines of two threads may
        // share a line (as in any Python); the numbers of each writer keep their order.
        let seen = numbers_by_tag(&text);
        assert!(!seen.is_empty(), "{code}: {text}");
        for (tag, numbers) in &seen {
            let mut sorted = numbers.clone();
            sorted.sort_unstable();
            assert_eq!(numbers, &sorted, "{tag} out of order in {code}");
            if tag != "proc" {
                assert_eq!(
                    numbers.len(),
                    numbers.last().unwrap() + 1,
                    "{tag} lost lines in {code}"
                );
            }
        }
    }
    still_holds(&srv, "threads", "threads").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_printed_between_cells_comes_with_the_next_cell() {
    let srv = TestServer::start(quick_config()).await;
    // A daemon thread, a child process, and a thread that outlives two cells.
    let r = srv
        .exec(
            "between",
            "import threading, time, subprocess\n\
             def later():\n    for i in range(10):\n        time.sleep(0.05)\n        print('tick', i)\n\
             threading.Thread(target=later, daemon=True).start()\n\
             subprocess.Popen(['sh', '-c', 'sleep 0.3; echo from a child'])\n\
             'started'",
        )
        .await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = srv.exec("between", "print('next')").await;
    let text = stdout(&r);
    let ticks: Vec<&str> = text.lines().filter(|l| l.starts_with("tick")).collect();
    assert_eq!(ticks.len(), 10, "{text:?}");
    assert!(text.contains("from a child\n"), "{text:?}");
    assert!(text.ends_with("next\n"), "{text:?}");
    // Delivered once: the cell after has only its own output.
    srv.exec_ok("between", "print('again')", "again\n").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strings_utf8_cannot_hold_never_cost_the_session() {
    let srv = TestServer::start(quick_config()).await;
    remember(&srv, "text").await;
    let cells = [
        "raise ValueError('\\udc80')",
        "print('\\ud800 lone high')",
        "import sys; sys.stderr.write('\\udfff'); sys.stderr.flush()",
        "class R:\n    def __repr__(self): return '\\udc80'\nR()",
        "from IPython.display import display\nclass D:\n    def __repr__(self): return 'd\\udcff'\ndisplay(D())",
        "open(b'bad\\xff', 'w').close()\nimport os\nfor n in os.listdir('.'): print(n)",
        "raise RuntimeError('\\ud83d high')",
    ];
    for code in cells {
        let r = srv.exec("text", &format!("print(1)\n{code}")).await;
        assert_ne!(r.status, ExecStatus::Restarted, "{code}: {r:?}");
        assert!(outputs_text(&r).starts_with("1\n"), "{code}: {r:?}");
        assert!(
            outputs_text(&r).contains('\u{fffd}'),
            "{code}: the bad character should show as U+FFFD: {r:?}"
        );
        still_holds(&srv, "text", code).await;
    }
    // The file API lists such a name too.
    let r = srv.get("/v1/sessions/text/files").await;
    assert_eq!(r.status, 200, "{r:?}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_commands_and_magics_work_as_in_jupyter() {
    let srv = TestServer::start(quick_config()).await;
    let cases: [(&str, &str); 9] = [
        ("!echo shell-ok", "shell-ok\n"),
        ("!echo out; echo err >&2; exit 3\nprint(_exit_code)", "out\n3\n"),
        ("files = !printf 'a\\nb\\n'\nprint(list(files))", "['a', 'b']\n"),
        ("%%bash\necho bash-ok\n", "bash-ok\n"),
        ("%cd /tmp\nimport os\nprint(os.getcwd())", "/tmp\n"),
        ("%env CODEACT_X=42\nimport os\nprint(os.environ['CODEACT_X'])", "42\n"),
        ("%%time\nx = sum(range(10))\nprint(x)", "45\n"),
        // Programs that need a terminal get one of the session's own.
        (
            "import pty, os\npid, fd = pty.fork()\nif pid == 0:\n    print('in a pty')\n    os._exit(0)\n\
             data = b''\nwhile b'\\n' not in data:\n    data += os.read(fd, 100)\nos.waitpid(pid, 0)\nprint(data.decode().strip())",
            "in a pty\n",
        ),
        ("import sys\n%pip --version\n", "pip "),
    ];
    for (code, expected) in cases {
        let r = srv.exec("shell", code).await;
        assert_eq!(r.status, ExecStatus::Ok, "{code}: {r:?}");
        let out = stdout(&r);
        assert!(
            out.contains(expected),
            "{code}: expected {expected:?} in {out:?} (stderr {:?})",
            stderr(&r)
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_ends_the_cell_and_keeps_the_session() {
    let srv = TestServer::start(quick_config()).await;
    remember(&srv, "exit").await;
    let cases = [
        ("exit()", ExecStatus::Ok),
        ("quit()", ExecStatus::Ok),
        ("exit(0)", ExecStatus::Ok),
        ("import sys; sys.exit()", ExecStatus::Ok),
        ("raise SystemExit", ExecStatus::Ok),
        ("exit(2)", ExecStatus::Error),
        ("import sys; sys.exit('fatal')", ExecStatus::Error),
    ];
    for (code, status) in cases {
        let r = srv
            .exec("exit", &format!("print('before')\n{code}\nprint('after')"))
            .await;
        assert_eq!(r.status, status, "{code}: {r:?}");
        assert_eq!(stdout(&r), "before\n", "{code}: {r:?}");
        let text = outputs_text(&r);
        assert!(!text.contains("ask_exit"), "{code}: {text}");
        assert_eq!(
            text.matches("session and its variables are kept").count(),
            1,
            "{code}: one line says what happened: {text}"
        );
        still_holds(&srv, "exit", code).await;
    }
    // Bare `exit` on a line of its own, as IPython's autocall knows it.
    let r = srv.exec("exit", "exit").await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    assert!(
        outputs_text(&r).contains("session and its variables are kept"),
        "{r:?}"
    );
    still_holds(&srv, "exit", "exit").await;
    let r = srv.get("/v1/sessions/exit").await;
    assert_eq!(r.body["restarts"], 0, "{r:?}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_inside_a_cell_behaves_like_a_subprocess() {
    let srv = TestServer::start(quick_config()).await;
    remember(&srv, "fork").await;
    // The report's case: both sides print; the parent's line is the cell's, the child's
    // arrives like any subprocess's output.
    let r = srv
        .exec(
            "fork",
            "import os, sys\npid = os.fork()\nif pid == 0:\n    print('child side')\nelse:\n    \
             os.waitpid(pid, 0)\n    print('parent side')",
        )
        .await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    assert_eq!(stdout(&r), "child side\nparent side\n", "{r:?}");
    // A child that raises: its traceback is output, the parent's cell is fine.
    let r = srv
        .exec(
            "fork",
            "import os\npid = os.fork()\nif pid == 0:\n    1/0\nos.waitpid(pid, 0) if pid else None\nprint('parent')",
        )
        .await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    assert!(outputs_text(&r).contains("ZeroDivisionError"), "{r:?}");
    assert!(stdout(&r).ends_with("parent\n"), "{r:?}");
    // Three generations of forks: eight copies, each gone at the end of the cell.
    let r = srv
        .exec(
            "fork",
            "import os\nfor _ in range(3):\n    os.fork()\nprint('copy', flush=True)",
        )
        .await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let copies = stdout(&r).matches("copy").count();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = srv
        .exec(
            "fork",
            "import os\nlive = []\nfor p in os.listdir('/proc'):\n    if p.isdigit():\n        \
             st = open('/proc/%s/stat' % p).read().rsplit(')', 1)[1].split()\n        \
             if st[0] != 'Z': live.append(p)\nprint(len(live))",
        )
        .await;
    // init and the worker: every copy has ended.
    let text = stdout(&r);
    assert_eq!(
        text.lines().last(),
        Some("2"),
        "processes left after the cell: {r:?}"
    );
    // Every copy printed once, in this cell or (after its end) with the next.
    assert_eq!(copies + text.matches("copy").count(), 8, "{text:?}");
    // multiprocessing keeps working, with every start method.
    for method in ["fork", "spawn", "forkserver"] {
        let code = format!(
            "import multiprocessing as mp\nctx = mp.get_context('{method}')\n\
             with ctx.Pool(2) as pool:\n    print(pool.map(abs, [-1, -2, 3]))"
        );
        let r = srv
            .exec_body("fork", &serde_json::json!({"code": code, "timeout_s": 60}))
            .await;
        assert_eq!(
            (r.status, stdout(&r).as_str()),
            (ExecStatus::Ok, "[1, 2, 3]\n"),
            "{method}: {r:?}"
        );
    }
    still_holds(&srv, "fork", "forks").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_bars_reach_the_model_as_a_terminal_shows_them() {
    let srv = TestServer::start(quick_config()).await;
    let cases = [
        (
            "import sys\nfor i in range(1, 200001):\n    sys.stdout.write('\\rprogress %d/200000' % i)\nprint()\nprint('done')",
            "progress 200000/200000\ndone\n",
        ),
        (
            "import sys\nfor i in range(101):\n    sys.stderr.write('\\r%3d%%|%s|' % (i, '#' * (i // 10)))\nsys.stderr.write('\\n')\nprint('ok')",
            "ok\n",
        ),
        ("print('abc\\b\\bX')", "aXc\n"),
        ("print('\\x1b[31mred\\x1b[0m plain')", "red plain\n"),
        ("print('50%\\r\\x1b[Kdone')", "done\n"),
    ];
    for (code, expected) in cases {
        let r = srv.exec("bars", code).await;
        assert_eq!(r.status, ExecStatus::Ok, "{code}: {r:?}");
        assert_eq!(stdout(&r), expected, "{code}");
        assert!(r.notice.is_none(), "{code}: {:?}", r.notice);
    }
    let r = srv
        .exec(
            "bars",
            "import sys\nfor i in range(101):\n    sys.stderr.write('\\r%3d%%' % i)\nsys.stderr.write('\\n')",
        )
        .await;
    assert_eq!(stderr(&r), "100%\n");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_processes_have_short_honest_names() {
    let srv = TestServer::start(quick_config()).await;
    let r = srv.exec("ps", "!ps -eo pid,args").await;
    assert_eq!(r.status, ExecStatus::Ok, "{r:?}");
    let text = stdout(&r);
    assert!(text.contains("codeact-worker"), "{text}");
    assert!(text.contains("codeact-init"), "{text}");
    for line in text.lines() {
        assert!(line.len() < 80, "a long command line: {line}");
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_written_before_a_result_comes_before_it() {
    let srv = TestServer::start(quick_config()).await;
    let cases = [
        "import os\nos.system('head -c 3000000 /dev/zero | tr \"\\\\0\" z; echo END')",
        "import subprocess\nsubprocess.run(['sh', '-c', 'seq 1 50000; echo END'])\n'value'",
        "import os\nos.system('echo END >&2')\nfrom IPython.display import display\ndisplay('shown')",
        "import os\nos.system('seq 1 20000; echo END')\nraise RuntimeError('after')",
        "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.printf(b'%s', b'x' * 100000); libc.printf(b'END\\n'); libc.fflush(None)\n7",
    ];
    for code in cases {
        for _ in 0..3 {
            let r = srv.exec("order", code).await;
            let last_text = r
                .outputs
                .iter()
                .rposition(|o| matches!(o, Output::Stream { text, .. } if text.contains("END")));
            let rich = r
                .outputs
                .iter()
                .position(|o| !matches!(o, Output::Stream { .. }));
            assert!(
                last_text.is_some() && rich.is_some() && last_text < rich,
                "{code}: {:?}",
                r.outputs
                    .iter()
                    .map(|o| {
                        let t = o.text();
                        t[t.len().saturating_sub(40)..].to_string()
                    })
                    .collect::<Vec<_>>()
            );
        }
    }
    srv.stop().await;
}
