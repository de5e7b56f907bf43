"""The zygote: warms everything sessions need once, then forks on the engine's request the
processes of each session: its holder once (sandbox on), and each start of its worker."""

import base64
import os
import select
import signal
import socket
import sys
import time

from . import messages, session
from .channel import seq_recv, seq_send
from .init import die, end_other_processes, reap_all, run_holder, run_worker
from .runners import IPythonRunner
from .sandbox import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    SANDBOX_UID,
    SESSION_NAMESPACES,
    check,
    effective_limits,
    libc,
    map_ids,
    prctl,
    prepare_seccomp,
    ro_paths,
    write_file,
)
from .title import set_title

# The zygote's own descriptors (its control channel, codeact-init's memory file), closed in
# every process it forks for a session.
ZYGOTE_FDS = set()
INIT_EXE_FD = -1

# Seconds a session's holder may take to build and enter its root.
BUILD_TIMEOUT = 20

# The process that stands for each session, by session id: its holder with the sandbox on,
# its worker with it off; and the other way round. Each is a child of the zygote that it has
# not reaped, so no other process can have its pid: children are reaped, and their entries
# dropped, only while no request is being served (see SERVING).
SESSIONS = {}
SESSION_OF = {}
SERVING = [False]


def reap_children():
    reap_all(forget)


def forget(pid):
    sid = SESSION_OF.pop(pid, None)
    if sid is not None:
        SESSIONS.pop(sid, None)


def on_sigchld(*_):
    # Python runs this between two bytecodes of the main loop: while a request is served, a
    # pid it has looked up must stay that process's, so reaping waits for the loop.
    if not SERVING[0]:
        reap_children()


def close_zygote_fds(keep=()):
    for fd in ZYGOTE_FDS:
        if fd not in keep:
            os.close(fd)


def read_pipe(fd, deadline, limit=1 << 16):
    """What is written to the pipe fd until its last writer closes it or `limit` bytes came;
    None if that is not before `deadline` (time.monotonic)."""
    data = b""
    while len(data) < limit:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


def kill_and_reap(pid):
    """Kills a child of the zygote and reaps it once it has exited (a holder: once its whole
    pid namespace is gone), waiting 2 s at most; one still there later is reaped by
    reap_children."""
    try:
        exited = os.pidfd_open(pid)
    except OSError:
        exited = None
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:  # noqa: S110
        # Already a zombie: reaped just below.
        pass
    if exited is not None:
        # Readable once the process has exited.
        select.select([exited], [], [], 2)
        os.close(exited)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # noqa: S110
        # Reaped already.
        pass


def build_sandbox(msg, zcfg):
    """In the zygote: make a session's namespaces and root, kept by its holder.

    A builder process unshares new user, mount, net, ipc, uts and pid namespaces (the zygote
    maps its user ids), forks the holder, pid 1 of the new pid namespace, reports its pid and
    exits, so that the holder becomes the zygote's child. The holder builds the root, enters it
    for good, drops its privileges and execs codeact-init (see init.run_holder). Answers the
    holder's pid once codeact-init runs.
    """
    cfg = dict(zcfg)
    cfg.update(msg)
    sid = msg["id"]
    if sid in SESSIONS:
        return messages.failed("session %s exists" % sid)
    sync_r, sync_w = os.pipe()  # builder -> zygote: how to map ids, then the holder's pid
    go_r, go_w = os.pipe()  # zygote -> builder: ids mapped
    release_r, release_w = os.pipe()  # zygote -> holder: the builder is reaped
    report_r, report_w = os.pipe2(os.O_CLOEXEC)  # holder -> zygote: an error, or EOF at its exec
    ours = (sync_r, go_w, release_w, report_r)
    builder = os.fork()
    if builder == 0:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in ours:
                os.close(fd)
            close_zygote_fds(keep={INIT_EXE_FD})
            for path in cfg["cgroup_procs"]:
                write_file(path, str(os.getpid()))
            os.setgroups([])
            check(libc.unshare(SESSION_NAMESPACES), "unshare")
            if cfg["uid"] is None:
                map_ids("self", os.geteuid(), os.getegid())
                os.write(sync_w, b"s")
            else:
                os.write(sync_w, b"m")
                if os.read(go_r, 1) != b"1":
                    raise RuntimeError("the zygote could not map user ids")
            holder = os.fork()
            if holder == 0:
                try:
                    os.close(sync_w)
                    os.close(go_r)
                    run_holder(cfg, release_r, report_w, INIT_EXE_FD)
                except BaseException as e:  # noqa: BLE001 - told to the zygote, which refuses the sandbox
                    os.write(report_w, ("E" + str(e)).encode())
                os._exit(1)
            os.write(sync_w, b"%d" % holder)
        except BaseException as e:  # noqa: BLE001 - told to the zygote, which refuses the sandbox
            os.write(sync_w, ("E" + str(e)).encode())
            os._exit(1)
        os._exit(0)
    for fd in (sync_w, go_r, release_r, report_w):
        os.close(fd)
    holder = None
    deadline = time.monotonic() + BUILD_TIMEOUT
    try:
        how = read_pipe(sync_r, deadline, 1)
        if how == b"m":
            try:
                map_ids(builder, int(cfg["uid"]), int(cfg["uid"]))
                os.write(go_w, b"1")
            except OSError as e:
                os.write(go_w, b"0")
                return messages.failed("cannot map user ids: %s" % e)
        elif how != b"s":
            text = ((how or b"") + (read_pipe(sync_r, deadline) or b"")).decode(errors="replace")
            return messages.failed("the sandbox builder failed: %s" % (text[1:] or "it died"))
        text = (read_pipe(sync_r, deadline) or b"").decode(errors="replace")
        if not text.isdigit():
            return messages.failed("the sandbox builder failed: %s" % (text[1:] or "it died"))
        holder = int(text)
        # Reaped, the builder has handed the holder to the zygote.
        os.waitpid(builder, 0)
        builder = None
        try:
            os.write(release_w, b"1")
        except BrokenPipeError:  # noqa: S110
            # The holder has failed already: its report says why.
            pass
        report = read_pipe(report_r, deadline)
        if report is None:
            return messages.failed("the session's holder did not build its sandbox in time")
        report = report.decode(errors="replace")
        if report.startswith("W"):
            sys.stderr.write("codeact: cannot exec codeact-init (%s); the holder stays in Python\n" % report[1:])
        elif report or os.waitpid(holder, os.WNOHANG)[0]:
            return messages.failed(report[1:] or "the session's holder died while building its sandbox")
        SESSIONS[sid] = holder
        SESSION_OF[holder] = sid
        result = messages.forked(holder)
        holder = None
        return result
    finally:
        for fd in ours:
            os.close(fd)
        if builder is not None:
            kill_and_reap(builder)
        if holder is not None:
            kill_and_reap(holder)


def start_session(msg, fds, zcfg):
    """In the zygote: start a worker of a session, on the channel fds[0].

    Sandbox on: a starter process joins all the namespaces of the session's holder (through a
    pidfd, so a pid cannot be mistaken) and takes the session's uid. Its child, the first
    process in the session's pid namespace since, ends every process of the session but the
    holder (a previous worker and all it started), joins the session's cgroups, forks the
    worker and exits, so that the worker is the holder's child. Sandbox off: see start_unsandboxed.
    """
    sandboxed = zcfg["sandboxed"]
    cfg = dict(zcfg)
    cfg.update(msg)
    sid = msg["id"]
    if len(fds) != 1:
        return messages.failed("start takes exactly the worker's channel")
    chan_fd = fds[0]
    if not sandboxed:
        return start_unsandboxed(sid, cfg, chan_fd)
    holder = SESSIONS.get(sid)
    if holder is None:
        return messages.failed("cannot start the session: it has no sandbox (closed, or its holder died)")
    try:
        pidfd = os.pidfd_open(holder)
    except OSError as e:
        return messages.failed("cannot start the session: its holder is gone (%s)" % e)
    try:
        r, w = os.pipe()
        starter = os.fork()
        if starter == 0:
            start_in_sandbox(cfg, pidfd, chan_fd, r, w)
    finally:
        os.close(pidfd)
    os.close(w)
    text = (read_pipe(r, time.monotonic() + BUILD_TIMEOUT) or b"").decode(errors="replace")
    os.close(r)
    kill_and_reap(starter)
    if text != "1":
        return messages.failed("cannot start the session: %s" % (text[1:] or "the starter process died"))
    return messages.started()


def start_in_sandbox(cfg, pidfd, chan_fd, r, w):
    """The starter (see start_session); reports on w: "1", or "E" and the error."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(r)
        close_zygote_fds()
        # Opened here, written by the first process in the session once it has ended the old
        # ones: a session at its process limit (a fork bomb) has no room for a new process.
        # The kernel checks the right to move a process against the credentials that opened.
        cgroups = [os.open(path, os.O_WRONLY) for path in cfg["cgroup_procs"]]
        os.setgroups([])
        check(libc.setns(pidfd, SESSION_NAMESPACES), "join the session's namespaces")
        os.close(pidfd)
        os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        # Changing uid made us non-dumpable, which would close /proc/self/fd to us.
        prctl(PR_SET_DUMPABLE, 1)
        first = os.fork()
        if first == 0:
            try:
                os.close(w)
                end_other_processes()
                for fd in cgroups:
                    # "0": the writing process itself.
                    os.write(fd, b"0")
                    os.close(fd)
                os.setsid()
                if os.fork() == 0:
                    try:
                        run_worker(cfg, chan_fd, True)
                    except BaseException as e:  # noqa: BLE001 - logged; the engine sees the worker never start
                        die("session worker failed: %s" % e)
            except BaseException as e:  # noqa: BLE001 - logged; the engine sees the worker never start
                die("cannot start the session's worker: %s" % e)
            os._exit(0)
        for fd in cgroups:
            os.close(fd)
        os.write(w, b"1")
        os.waitpid(first, 0)
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - the zygote reports it to the engine
        os.write(w, ("E" + str(e)).encode())
        os._exit(1)


def start_unsandboxed(sid, cfg, chan_fd):
    """Sandbox off: kills the session's previous worker, then forks a process that starts a
    process session, forks the worker into it and exits; the worker is the zygote's child."""
    old = SESSIONS.pop(sid, None)
    if old is not None:
        SESSION_OF.pop(old, None)
        kill_and_reap(old)
    r, w = os.pipe()
    first = os.fork()
    if first == 0:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(r)
            close_zygote_fds()
            os.setsid()
            worker = os.fork()
            if worker == 0:
                try:
                    os.close(w)
                    run_worker(cfg, chan_fd, False)
                except BaseException as e:  # noqa: BLE001 - logged; the engine sees the worker never start
                    die("session worker failed: %s" % e)
            os.write(w, b"%d" % worker)
        except BaseException as e:  # noqa: BLE001 - the zygote reports it to the engine
            os.write(w, ("E" + str(e)).encode())
        os._exit(0)
    os.close(w)
    text = (read_pipe(r, time.monotonic() + BUILD_TIMEOUT) or b"").decode(errors="replace")
    os.close(r)
    # Reaped, it has handed the worker to the zygote.
    kill_and_reap(first)
    if not text.isdigit():
        return messages.failed("cannot start the session: %s" % (text[1:] or "the starter process died"))
    SESSIONS[sid] = int(text)
    SESSION_OF[int(text)] = sid
    return messages.started()


def close_session(msg):
    """In the zygote: end a session. Killing the holder ends its pid namespace and every
    process in it; its mounts and other namespaces go with the last one. (Sandbox off: the
    worker is killed.)"""
    pid = SESSIONS.pop(msg["id"], None)
    if pid is not None:
        SESSION_OF.pop(pid, None)
        kill_and_reap(pid)
    return messages.closed()


def zygote(ctl_fd, init_fd):
    global INIT_EXE_FD
    ctl = socket.socket(fileno=ctl_fd)
    ZYGOTE_FDS.update((ctl_fd, init_fd))
    INIT_EXE_FD = init_fd
    msg, _ = seq_recv(ctl)
    if msg is None:
        return
    try:
        if messages.check_request(messages.ZYGOTE_REQUESTS, msg) != "config":
            raise ValueError("the first request must be config")
    except ValueError as e:
        seq_send(ctl, messages.failed(str(e)))
        return
    zcfg = msg
    zcfg["seccomp"] = prepare_seccomp([base64.b64decode(p) for p in zcfg.pop("seccomp_b64")])
    zcfg["ro_paths"] = ro_paths(zcfg["extra_ro_paths"])
    zcfg["limits"] = effective_limits(zcfg["limits"])
    missing = session.warm(zcfg["preload"])
    ipython = isinstance(session.CURRENT.runner, IPythonRunner)
    seq_send(ctl, messages.warm(sys.version.split()[0], ipython, zcfg["ro_paths"], missing, zcfg["limits"]))
    # Every session's holder is reparented here when its builder exits, and reaped here.
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGCHLD, on_sigchld)
    while True:
        SERVING[0] = False
        reap_children()
        msg, fds = seq_recv(ctl)
        if msg is None:
            os._exit(0)
        SERVING[0] = True
        try:
            op = messages.check_request(messages.ZYGOTE_REQUESTS, msg)
            if op == "start":
                reply = start_session(msg, fds, zcfg)
            elif op == "build" and zcfg["sandboxed"]:
                reply = build_sandbox(msg, zcfg)
            elif op == "close":
                reply = close_session(msg)
            else:
                reply = messages.failed("bad request: %s" % op)
        except Exception as e:  # noqa: BLE001 - the engine gets every failure as the answer
            reply = messages.failed(str(e))
        # The processes forked for a request have their own copies of its descriptors.
        for fd in fds:
            os.close(fd)
        seq_send(ctl, reply)


def main(argv):
    if len(argv) < 3 or argv[0] != "zygote":
        die("usage: zygote CONTROL_FD INIT_EXE_FD")
    set_title("codeact-zygote")
    zygote(int(argv[1]), int(argv[2]))
