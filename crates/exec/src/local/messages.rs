//! Every message between the engine and its Python processes (the zygote, session workers),
//! typed: requests are serialized from these enums and replies parsed
//! strictly into them. `crates/exec/python/contract.json` declares the same shapes; the tests
//! here and in `contract_tests`, and the worker's pytest suite, hold both sides to it.

use std::path::{Path, PathBuf};

use codeact_protocol::Output;
use serde::{Deserialize, Serialize};

use crate::NetworkMode;

/// Requests on the zygote's control channel.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ZygoteRequest<'a> {
    /// The first message, once: what every session gets. Answered by [`ZygoteReply::Warm`].
    Config(&'a ZygoteConfig),
    /// Make a session's sandbox (sandbox on): its namespaces and root, kept by its holder, a
    /// process born in the cgroups whose `cgroup.procs` files are listed. Answered by
    /// [`ZygoteReply::Forked`] with the holder's pid once the sandbox is ready.
    Build {
        id: &'a str,
        uid: Option<u32>,
        cgroup_procs: &'a [PathBuf],
    },
    /// Start a worker of a session, ending the previous one and every process it started.
    /// Passed along: the worker's channel. Answered by [`ZygoteReply::Started`].
    Start {
        id: &'a str,
        workdir: Option<&'a Path>,
        cgroup_procs: &'a [PathBuf],
    },
    /// End every process of a session. Answered by [`ZygoteReply::Closed`], also for a session
    /// the zygote does not know.
    Close { id: &'a str },
}

/// Settings the zygote receives once, at start.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ZygoteConfig {
    pub sandboxed: bool,
    pub network: NetworkMode,
    /// The empty host directory each holder mounts its private staging tmpfs on.
    pub stage: PathBuf,
    pub extra_ro_paths: Vec<PathBuf>,
    /// Size of each session's /workspace and /tmp.
    pub disk_bytes: u64,
    /// Stream characters a worker keeps per cell.
    pub output_limit: usize,
    pub limits: Limits,
    /// The seccomp filters, raw BPF in base64; empty with the sandbox off.
    pub seccomp_b64: Vec<String>,
    /// Python run once in the zygote before sessions fork.
    pub preload: Option<String>,
}

/// Resource limits applied with setrlimit (soft and hard) to every process of each session.
/// Sent in the settings; the zygote answers with the values it will really apply (lower
/// where its own hard limit is lower).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    pub file_size_bytes: u64,
    /// The data segment of one process.
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
    pub open_files: u64,
    pub core_bytes: u64,
    /// Processes of the session's uid, only when every session has a host uid of its own
    /// (`None`: left as it is).
    pub nproc: Option<u64>,
}

/// Replies on the zygote's control channel.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ZygoteReply {
    /// Answer to `config`: warm, and what it found.
    Warm(ZygoteInfo),
    /// A session's holder runs, with this pid.
    Forked {
        pid: i32,
    },
    /// A session's worker was started; it says so on its own channel.
    Started {},
    /// A session's processes were killed.
    Closed {},
    Failed {
        error: String,
    },
}

/// What the zygote says about itself once warm.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ZygoteInfo {
    /// The version of the session Python.
    pub python: String,
    /// Whether cells run in IPython.
    pub ipython: bool,
    /// The host paths a session sees, read-only.
    pub ro_paths: Vec<String>,
    /// Modules sessions are expected to have that this Python could not import.
    pub missing_modules: Vec<String>,
    /// The limits every session really gets.
    pub rlimits: Limits,
}

/// Requests on a worker's stream.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum WorkerRequest<'a> {
    /// Run a cell; answered by [`WorkerReply::Output`] frames, then [`WorkerReply::Done`].
    Execute { cell: u64, code: &'a str },
    /// Answered by [`WorkerReply::Written`].
    WriteFile {
        path: &'a str,
        /// Base64.
        data: String,
    },
    /// Answered by [`WorkerReply::FileData`].
    ReadFile { path: &'a str, limit: u64 },
    /// Answered by [`WorkerReply::FileList`].
    ListFiles,
    /// Interrupt the running cell (a KeyboardInterrupt in it); dropped between cells. Not
    /// answered: the cell's `done` frame follows.
    Interrupt,
}

/// Frames a worker sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum WorkerReply {
    /// The worker runs and waits for cells.
    Ready {
        pid: i32,
        ipython: bool,
    },
    /// Outputs of the running cell, streamed while it runs.
    Output {
        cell: u64,
        outputs: Vec<Output>,
    },
    /// The rest of a cell's outputs, and how it ended.
    Done {
        cell: u64,
        outputs: Vec<Output>,
        error: bool,
        truncated: bool,
    },
    Written {},
    FileData {
        /// Base64.
        data: String,
    },
    FileList {
        /// Directories end with `/`.
        names: Vec<String>,
        /// The listing stopped at [`crate::MAX_LISTED_FILES`] with entries left out.
        truncated: bool,
    },
    /// A file request failed.
    FileError {
        kind: FileErrorKind,
        error: String,
    },
}

impl WorkerReply {
    /// Whether this answers a file request (file requests are answered in order, on the
    /// worker's reader thread, while cells run on its main thread).
    pub fn is_file_reply(&self) -> bool {
        matches!(
            self,
            Self::Written {}
                | Self::FileData { .. }
                | Self::FileList { .. }
                | Self::FileError { .. }
        )
    }

    /// The frame's type, for messages about an unexpected one.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ready { .. } => "ready",
            Self::Output { .. } => "output",
            Self::Done { .. } => "done",
            Self::Written {} => "written",
            Self::FileData { .. } => "file_data",
            Self::FileList { .. } => "file_list",
            Self::FileError { .. } => "file_error",
        }
    }
}

/// Why a file request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FileErrorKind {
    NotFound,
    BadRequest,
}

#[cfg(test)]
pub(crate) mod tests {
    //! The Rust half of the contract with the Python side, without Python: every request
    //! serializes to exactly the keys `contract.json` declares, and replies are parsed strictly.
    //! `contract_tests` drives the real processes.

    use std::collections::BTreeSet;

    use serde_json::{json, Value};

    use super::*;

    pub(crate) const CONTRACT: &str = include_str!("../../python/contract.json");

    /// The keys `contract.json` declares for `kind` in `channel`'s `requests` or `replies`.
    pub(crate) fn declared(channel: &str, dir: &str, kind: &str) -> BTreeSet<String> {
        let contract: Value = serde_json::from_str(CONTRACT).unwrap();
        let keys = &contract[channel][dir][kind];
        assert!(
            keys.is_array(),
            "contract.json declares no {channel} {dir} {kind:?}"
        );
        keys.as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    }

    /// Every kind `contract.json` declares in `channel`'s `requests` or `replies`.
    pub(crate) fn kinds(channel: &str, dir: &str) -> BTreeSet<String> {
        let contract: Value = serde_json::from_str(CONTRACT).unwrap();
        contract[channel][dir]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    pub(crate) fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// Checks each request against the contract, and that together they are every request
    /// the contract declares for the channel.
    fn check_requests<T: Serialize>(channel: &str, requests: &[T]) {
        let mut seen = BTreeSet::new();
        for r in requests {
            let v = serde_json::to_value(r).unwrap();
            let op = v["op"].as_str().unwrap().to_string();
            assert_eq!(keys(&v), declared(channel, "requests", &op), "{v}");
            seen.insert(op);
        }
        assert_eq!(seen, kinds(channel, "requests"));
    }

    pub(crate) fn limits() -> Limits {
        Limits {
            file_size_bytes: 1 << 30,
            memory_bytes: 2 << 30,
            cpu_seconds: 3600,
            open_files: 4096,
            core_bytes: 0,
            nproc: None,
        }
    }

    fn config() -> ZygoteConfig {
        ZygoteConfig {
            sandboxed: true,
            network: NetworkMode::None,
            stage: "/tmp/stage".into(),
            extra_ro_paths: Vec::new(),
            disk_bytes: 1,
            output_limit: 1,
            limits: limits(),
            seccomp_b64: Vec::new(),
            preload: None,
        }
    }

    #[test]
    fn zygote_requests_have_the_declared_shapes() {
        let config = config();
        let v = serde_json::to_value(ZygoteRequest::Config(&config)).unwrap();
        assert_eq!(v["network"], "none");
        let procs = [PathBuf::from("/sys/fs/cgroup/x/cgroup.procs")];
        check_requests(
            "zygote",
            &[
                ZygoteRequest::Config(&config),
                ZygoteRequest::Build {
                    id: "s0",
                    uid: None,
                    cgroup_procs: &procs,
                },
                ZygoteRequest::Start {
                    id: "s0",
                    workdir: None,
                    cgroup_procs: &procs,
                },
                ZygoteRequest::Close { id: "s0" },
            ],
        );
    }

    /// The keys `contract.json` declares for the zygote's limits.
    pub(crate) fn declared_limits() -> BTreeSet<String> {
        let contract: Value = serde_json::from_str(CONTRACT).unwrap();
        contract["zygote"]["limits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_listing_cap_is_the_declared_one() {
        let contract: Value = serde_json::from_str(CONTRACT).unwrap();
        let cap = contract["max_listed_files"].as_u64().unwrap();
        assert_eq!(cap, crate::MAX_LISTED_FILES as u64);
    }

    #[test]
    fn limits_have_the_declared_keys() {
        let v = serde_json::to_value(limits()).unwrap();
        assert_eq!(keys(&v), declared_limits());
    }

    #[test]
    fn worker_requests_have_the_declared_shapes() {
        check_requests(
            "worker",
            &[
                WorkerRequest::Execute { cell: 1, code: "1" },
                WorkerRequest::WriteFile {
                    path: "a",
                    data: String::new(),
                },
                WorkerRequest::ReadFile {
                    path: "a",
                    limit: 1,
                },
                WorkerRequest::ListFiles,
                WorkerRequest::Interrupt,
            ],
        );
    }

    #[test]
    fn replies_are_parsed_strictly() {
        let ok: WorkerReply = serde_json::from_value(json!({"type": "written"})).unwrap();
        assert!(ok.is_file_reply());
        for bad in [
            json!({"type": "written", "ok": true}),
            json!({"type": "ready", "pid": 1}),
            json!({"type": "ready", "pid": 1, "ipython": true, "extra": 0}),
            json!({"type": "file_error", "kind": "gone", "error": ""}),
            json!({"type": "nonsense"}),
        ] {
            assert!(
                serde_json::from_value::<WorkerReply>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let rlimits = serde_json::to_value(limits()).unwrap();
        let warm = json!({"type": "warm", "python": "3", "ipython": true, "ro_paths": [],
                          "missing_modules": [], "rlimits": rlimits});
        assert!(serde_json::from_value::<ZygoteReply>(warm.clone()).is_ok());
        let mut extra = warm;
        extra["ok"] = json!(true);
        assert!(serde_json::from_value::<ZygoteReply>(extra).is_err());
        assert!(serde_json::from_value::<ZygoteReply>(json!({"type": "closed", "x": 1})).is_err());
    }
}
