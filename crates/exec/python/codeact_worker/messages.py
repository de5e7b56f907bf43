"""Every message of the engine's protocol as the Python side speaks it: the requests it
accepts, by channel (the zygote's control channel, a worker's stream) and op, with exactly
the keys each carries, and a constructor for every message it sends. contract.json declares
the same shapes, and the Rust types (crates/exec/src/local/messages.rs) are tested against
it, as these are by pytest."""

# Requests from the engine, by op: the keys each must carry, "op" included.
ZYGOTE_REQUESTS = {
    "config": frozenset(
        (
            "op",
            "sandboxed",
            "network",
            "stage",
            "extra_ro_paths",
            "disk_bytes",
            "output_limit",
            "limits",
            "seccomp_b64",
            "preload",
        )
    ),
    "build": frozenset(("op", "id", "uid", "cgroup_procs")),
    "start": frozenset(("op", "id", "workdir", "cgroup_procs")),
    "close": frozenset(("op", "id")),
}
# The keys of config's "limits", and of warm's "rlimits": what setrlimit gets in every session.
LIMITS = frozenset(("file_size_bytes", "memory_bytes", "cpu_seconds", "open_files", "core_bytes", "nproc"))
WORKER_REQUESTS = {
    "execute": frozenset(("op", "cell", "code")),
    "write_file": frozenset(("op", "path", "data")),
    "read_file": frozenset(("op", "path", "limit")),
    "list_files": frozenset(("op",)),
    "interrupt": frozenset(("op",)),
}


def check_request(table, msg):
    """The request's op, once its keys are exactly those declared for it; else ValueError."""
    op = msg.get("op") if isinstance(msg, dict) else None
    keys = table.get(op)
    if keys is None:
        raise ValueError("unknown request %r" % (op,))
    if keys != msg.keys():
        raise ValueError("request %r carries %s, expected %s" % (op, sorted(msg), sorted(keys)))
    if op == "config" and LIMITS != msg["limits"].keys():
        raise ValueError("limits carry %s, expected %s" % (sorted(msg["limits"]), sorted(LIMITS)))
    return op


# Replies of the zygote, on its control channel.


def warm(python, ipython, ro_paths, missing_modules, rlimits):
    """Answer to "config": warm, and what it found; rlimits are the limits (LIMITS) sessions
    really get."""
    return {
        "type": "warm",
        "python": python,
        "ipython": ipython,
        "ro_paths": ro_paths,
        "missing_modules": missing_modules,
        "rlimits": rlimits,
    }


def forked(pid):
    """Answer to "build": the session's holder (pid 1 of its namespaces) runs as pid."""
    return {"type": "forked", "pid": pid}


def started():
    """Answer to "start": the session's new worker runs and will say so on its channel."""
    return {"type": "started"}


def closed():
    """Answer to "close": every process of the session has been killed."""
    return {"type": "closed"}


def failed(error):
    """The request failed."""
    return {"type": "failed", "error": error}


# Frames of a session worker.


def ready(pid, ipython):
    return {"type": "ready", "pid": pid, "ipython": ipython}


def output(cell, outputs):
    """Outputs of a running cell, streamed while it runs."""
    return {"type": "output", "cell": cell, "outputs": outputs}


def done(cell, outputs, error, truncated):
    """The rest of a cell's outputs, and how it ended."""
    return {"type": "done", "cell": cell, "outputs": outputs, "error": error, "truncated": truncated}


def written():
    return {"type": "written"}


def file_data(data):
    """A file's content, base64."""
    return {"type": "file_data", "data": data}


def file_list(names, truncated):
    """The entries of the working directory (directories end with '/'); truncated: the
    listing stopped at its cap with entries left out."""
    return {"type": "file_list", "names": names, "truncated": truncated}


def file_error(kind, error):
    """A file request failed; kind is "not_found" or "bad_request"."""
    return {"type": "file_error", "kind": kind, "error": error}


# Outputs of a cell, inside "output" and "done" frames (codeact_protocol::Output in Rust).


def stream(name, text):
    """Text a cell wrote to "stdout" or "stderr"."""
    return {"type": "stream", "name": name, "text": text}


def result(execution_count, data, metadata=None):
    """The value of the cell's last expression; data is a MIME bundle (rich.clean), metadata
    Jupyter's per-type metadata."""
    return {"type": "result", "execution_count": execution_count, "data": data, "metadata": metadata or {}}


def display(data, metadata=None):
    """A value shown with display(), or a figure; as result()."""
    return {"type": "display", "data": data, "metadata": metadata or {}}


def error(ename, evalue, traceback):
    """The exception that ended the cell; traceback is a list of plain-text lines."""
    return {"type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}


ZYGOTE_REPLIES = (warm, forked, started, closed, failed)
WORKER_REPLIES = (ready, output, done, written, file_data, file_list, file_error)
OUTPUTS = (stream, result, display, error)
