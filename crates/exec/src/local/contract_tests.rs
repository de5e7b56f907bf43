//! The contract with the Python side, on the real processes: the zygote and a session worker
//! are sent every request the engine sends, and every reply they give is
//! checked against `python/contract.json` (exactly its keys) and parsed strictly into the
//! engine's types. Together the replies must cover every kind the contract declares.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::channel::Control;
use super::messages::tests::{declared, declared_limits, keys, kinds};
use super::messages::{
    FileErrorKind, WorkerReply, WorkerRequest, ZygoteConfig, ZygoteReply, ZygoteRequest,
};
use crate::NetworkMode;

/// Replies seen so far, as (channel, type).
#[derive(Default)]
struct Seen(BTreeSet<(String, String)>);

impl Seen {
    /// Checks `v` against the contract of `channel`'s replies and parses it strictly.
    fn reply<T: DeserializeOwned>(&mut self, channel: &str, v: Value) -> T {
        let kind = v["type"].as_str().unwrap_or_else(|| panic!("no type: {v}"));
        assert_eq!(
            keys(&v),
            declared(channel, "replies", kind),
            "{channel}: {v}"
        );
        for o in v
            .get("outputs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let t = o["type"].as_str().unwrap_or_else(|| panic!("no type: {o}"));
            assert_eq!(keys(o), declared("worker", "outputs", t), "output: {o}");
            self.0.insert(("outputs".into(), t.into()));
        }
        self.0.insert((channel.into(), kind.into()));
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{channel}: {v}: {e}"))
    }
}

fn send(s: &mut UnixStream, req: &WorkerRequest<'_>) {
    let body = serde_json::to_vec(req).unwrap();
    s.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
    s.write_all(&body).unwrap();
}

fn recv(s: &mut UnixStream) -> Value {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(head) as usize];
    s.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// Sends a request to the zygote, with descriptors, and returns its raw reply.
fn call(ctl: &Control, req: &ZygoteRequest<'_>, fds: &[i32]) -> Value {
    ctl.call::<_, Value>(req, fds).unwrap()
}

#[test]
fn the_real_processes_speak_the_declared_shapes() {
    let python = crate::config::default_python();
    let cache = codeact_protocol::paths::cache_dir();
    let stage = std::env::temp_dir().join(format!("codeact-contract-{}", std::process::id()));
    std::fs::create_dir_all(&stage).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let config = ZygoteConfig {
        sandboxed: true,
        network: NetworkMode::None,
        stage: stage.clone(),
        extra_ro_paths: Vec::new(),
        disk_bytes: 64 << 20,
        output_limit: 65536,
        limits: super::messages::tests::limits(),
        seccomp_b64: super::seccomp::programs()
            .unwrap()
            .iter()
            .map(|p| b64.encode(p))
            .collect(),
        preload: None,
    };
    let (mut zygote, ctl) =
        super::zygote::spawn(&python, &super::session_env(true, &cache)).unwrap();
    ctl.set_timeout(Duration::from_secs(120)).unwrap();
    let mut seen = Seen::default();

    let warm = call(&ctl, &ZygoteRequest::Config(&config), &[]);
    let warm: ZygoteReply = seen.reply("zygote", warm);
    let ipython = match warm {
        ZygoteReply::Warm(info) => {
            let rlimits = serde_json::to_value(&info.rlimits).unwrap();
            assert_eq!(keys(&rlimits), declared_limits());
            info.ipython
        }
        other => panic!("{other:?}"),
    };

    // A sandbox whose user ids cannot be mapped: refused.
    let build = ZygoteRequest::Build {
        id: "c-bad",
        uid: Some(u32::MAX),
        cgroup_procs: &[],
    };
    let r: ZygoteReply = seen.reply("zygote", call(&ctl, &build, &[]));
    assert!(matches!(r, ZygoteReply::Failed { .. }), "{r:?}");

    // A start of a session that has no sandbox is refused.
    let start = ZygoteRequest::Start {
        id: "c",
        workdir: None,
        cgroup_procs: &[],
    };
    let (_ours, theirs) = UnixStream::pair().unwrap();
    let r: ZygoteReply = seen.reply("zygote", call(&ctl, &start, &[theirs.as_raw_fd()]));
    assert!(matches!(r, ZygoteReply::Failed { .. }), "{r:?}");

    // A sandbox built for real. As root, sessions get host uids of their own (a process may
    // not map root into a user namespace it made); otherwise the sandbox maps the zygote's own uid.
    let uid = nix::unistd::geteuid()
        .is_root()
        .then_some(super::UID_BASE + 0xfff0);
    let build = ZygoteRequest::Build {
        id: "c",
        uid,
        cgroup_procs: &[],
    };
    let r: ZygoteReply = seen.reply("zygote", call(&ctl, &build, &[]));
    let ZygoteReply::Forked { pid: holder } = r else {
        panic!("{r:?}")
    };
    // The holder has become codeact-init (its name, set a moment after the exec, may lag).
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{holder}/cmdline")).unwrap(),
        "codeact-init\0"
    );

    let (mut worker, theirs) = UnixStream::pair().unwrap();
    worker
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let r: ZygoteReply = seen.reply("zygote", call(&ctl, &start, &[theirs.as_raw_fd()]));
    drop(theirs);
    assert!(matches!(r, ZygoteReply::Started {}), "{r:?}");

    let r: WorkerReply = seen.reply("worker", recv(&mut worker));
    assert!(matches!(r, WorkerReply::Ready { .. }), "{r:?}");
    // Output while the cell runs (streamed every 100 ms), then its end with an error.
    let code = "import time\nprint('a', flush=True)\ntime.sleep(1.5)\n1/0";
    send(&mut worker, &WorkerRequest::Execute { cell: 1, code });
    loop {
        match seen.reply("worker", recv(&mut worker)) {
            WorkerReply::Output { cell: 1, .. } => {}
            WorkerReply::Done {
                cell: 1,
                error: true,
                ..
            } => break,
            other => panic!("{other:?}"),
        }
    }
    // A value, and (with IPython) a displayed one.
    let code = if ipython { "display(1)\n2" } else { "2" };
    send(&mut worker, &WorkerRequest::Execute { cell: 2, code });
    // The outputs come in the done frame, or some in output frames before it when the worker
    // flushes them on its own timer (a busy machine).
    loop {
        match seen.reply("worker", recv(&mut worker)) {
            WorkerReply::Output { cell: 2, .. } => {}
            WorkerReply::Done {
                cell: 2,
                error: false,
                ..
            } => break,
            other => panic!("{other:?}"),
        }
    }

    let data = b64.encode(b"x");
    send(
        &mut worker,
        &WorkerRequest::WriteFile {
            path: "d/x.txt",
            data,
        },
    );
    let r: WorkerReply = seen.reply("worker", recv(&mut worker));
    assert!(matches!(r, WorkerReply::Written {}), "{r:?}");
    send(
        &mut worker,
        &WorkerRequest::ReadFile {
            path: "d/x.txt",
            limit: 10,
        },
    );
    let r: WorkerReply = seen.reply("worker", recv(&mut worker));
    assert!(matches!(r, WorkerReply::FileData { .. }), "{r:?}");
    send(&mut worker, &WorkerRequest::ListFiles);
    let r: WorkerReply = seen.reply("worker", recv(&mut worker));
    assert!(matches!(r, WorkerReply::FileList { .. }), "{r:?}");
    send(
        &mut worker,
        &WorkerRequest::ReadFile {
            path: "gone",
            limit: 10,
        },
    );
    let r: WorkerReply = seen.reply("worker", recv(&mut worker));
    assert!(
        matches!(
            r,
            WorkerReply::FileError {
                kind: FileErrorKind::NotFound,
                ..
            }
        ),
        "{r:?}"
    );
    let data = String::new();
    send(
        &mut worker,
        &WorkerRequest::WriteFile { path: "../x", data },
    );
    let r: WorkerReply = seen.reply("worker", recv(&mut worker));
    assert!(
        matches!(
            r,
            WorkerReply::FileError {
                kind: FileErrorKind::BadRequest,
                ..
            }
        ),
        "{r:?}"
    );

    // An interrupt stops the running cell.
    let code = "import time\nprint('a', flush=True)\ntime.sleep(60)";
    send(&mut worker, &WorkerRequest::Execute { cell: 3, code });
    let r: WorkerReply = seen.reply("worker", recv(&mut worker));
    assert!(matches!(r, WorkerReply::Output { cell: 3, .. }), "{r:?}");
    send(&mut worker, &WorkerRequest::Interrupt);
    let r: WorkerReply = seen.reply("worker", recv(&mut worker));
    let WorkerReply::Done {
        cell: 3,
        error: true,
        outputs,
        ..
    } = r
    else {
        panic!("{r:?}")
    };
    assert!(
        format!("{outputs:?}").contains("KeyboardInterrupt"),
        "{outputs:?}"
    );

    // Closing the session ends its holder, and with it the worker, whose channel closes.
    let r: ZygoteReply = seen.reply("zygote", call(&ctl, &ZygoteRequest::Close { id: "c" }, &[]));
    assert!(matches!(r, ZygoteReply::Closed {}), "{r:?}");
    let mut rest = Vec::new();
    assert_eq!(worker.read_to_end(&mut rest).unwrap(), 0);
    let _ = zygote.kill();
    let _ = zygote.wait();
    let _ = std::fs::remove_dir(&stage);

    let mut declared_kinds = BTreeSet::new();
    for channel in ["zygote", "worker"] {
        for kind in kinds(channel, "replies") {
            declared_kinds.insert((channel.to_string(), kind));
        }
    }
    for kind in kinds("worker", "outputs") {
        // Plain Python has no display().
        if ipython || kind != "display" {
            declared_kinds.insert(("outputs".into(), kind));
        }
    }
    assert_eq!(seen.0, declared_kinds);
}
