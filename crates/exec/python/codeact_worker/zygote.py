"""The zygote: warms everything sessions need once, then forks on the engine's request the
processes of each session: its holder once (sandbox on), and each start of its worker."""

import base64
import ctypes
import os
import select
import signal
import socket
import sys
import time

from . import messages, session
from .builder import clone_holder, start_builder
from .channel import seq_recv, seq_send
from .init import die, end_other_processes, reap_all, run_worker
from .runners import IPythonRunner
from .sandbox import (
    CLONE_NEWPID,
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

# The zygote's own descriptors (its control channel, codeact-init's memory file, its pid
# namespace), closed in every process it forks for a session.
ZYGOTE_FDS = set()
INIT_EXE_FD = -1
OWN_PID_NS = [-1]
# The read end of the pipe the interpreter writes a byte to on every signal it handles
# (SIGCHLD above all), so that the zygote can wait for a child and a signal at once.
WAKE_FD = [-1]
# The zygote's end of the builder's channel (see builder.py).
BUILDER = [None]

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
    # Else the interpreter would go on writing a byte per signal to a closed descriptor, or
    # to whatever later takes its number.
    signal.set_wakeup_fd(-1)


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
    """Kills a child of the zygote and reaps it once it has exited, waiting 2 s at most; one
    still there later is reaped by reap_children. A holder exits once its whole pid namespace
    is gone, which waits for every process of the session to be reaped, its worker by the
    zygote: so the zygote reaps its children meanwhile, woken by each SIGCHLD."""
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
        deadline = time.monotonic() + 2
        while True:
            reap_children()
            left = deadline - time.monotonic()
            # The pidfd is readable once the process has exited.
            ready = select.select([exited, WAKE_FD[0]], [], [], max(left, 0))[0]
            if WAKE_FD[0] in ready:
                drain(WAKE_FD[0])
            if exited in ready or left <= 0:
                break
        os.close(exited)
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # noqa: S110
        # Reaped already.
        pass


def drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:  # noqa: S110
        # Nothing more to read: what the descriptor is for.
        pass


def build_sandbox(msg):
    """In the zygote: make a session's namespaces and root, kept by its holder.

    The holder is cloned, by the builder (see builder.py), into new user, mount, net, ipc,
    uts and pid namespaces: pid 1 of the new pid namespace, and the zygote's child. The
    zygote puts it in the session's cgroups and maps its user ids, then lets it go on: it
    builds the root, enters it for good, drops its privileges and execs codeact-init (see
    init.run_holder). Answers the holder's pid once codeact-init runs.
    """
    sid = msg["id"]
    if sid in SESSIONS:
        return messages.failed("session %s exists" % sid)
    go_r, go_w = os.pipe()  # zygote -> holder: in its cgroups, its ids mapped
    report_r, report_w = os.pipe2(os.O_CLOEXEC)  # holder -> zygote: an error, or EOF at its exec
    try:
        holder = clone_holder(BUILDER[0], msg, go_r, report_w)
    except OSError as e:
        for fd in (go_r, go_w, report_r, report_w):
            os.close(fd)
        return messages.failed(str(e))
    os.close(go_r)
    os.close(report_w)
    deadline = time.monotonic() + BUILD_TIMEOUT
    try:
        try:
            for path in msg["cgroup_procs"]:
                write_file(path, str(holder))
            if msg["uid"] is None:
                map_ids(holder, os.geteuid(), os.getegid())
            else:
                map_ids(holder, int(msg["uid"]), int(msg["uid"]))
        except OSError as e:
            return messages.failed("cannot place the session's holder in its cgroups and user ids: %s" % e)
        try:
            os.write(go_w, b"1")
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
        os.close(go_w)
        os.close(report_r)
        if holder is not None:
            kill_and_reap(holder)


def start_session(msg, fds, zcfg):
    """In the zygote: start a worker of a session, on the channel fds[0].

    Sandbox on: the zygote forks a first process into the session's pid namespace (joined for
    its children alone, through a pidfd of the session's holder, so a pid cannot be mistaken,
    and left right after). It joins the session's other namespaces, takes the session's uid,
    ends every other process of the session but the holder (a previous worker and all it
    started), joins the session's cgroups, starts a process session, forks the worker into
    it and exits: the worker is then the holder's child, in a process session whose leader
    is gone, as an ordinary process is. Sandbox off: see start_unsandboxed.
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
    r, w = os.pipe()
    try:
        first = fork_into_pid_namespace(pidfd)
        if first == 0:
            start_in_sandbox(cfg, pidfd, chan_fd, r, w)
    except OSError as e:
        os.close(r)
        return messages.failed("cannot start the session: %s" % e)
    finally:
        os.close(pidfd)
        os.close(w)
    text = (read_pipe(r, time.monotonic() + BUILD_TIMEOUT) or b"").decode(errors="replace")
    os.close(r)
    # Once reaped, it has handed the worker to the holder: no cell sees it.
    kill_and_reap(first)
    if text != "1":
        return messages.failed("cannot start the session: %s" % (text[1:] or "its first process died"))
    return messages.started()


def fork_into_pid_namespace(pidfd):
    """os.fork(), the child born in the pid namespace of the process of `pidfd`; the zygote's
    own children are born in its own pid namespace again once this returns."""
    check(libc.setns(pidfd, CLONE_NEWPID), "join the session's pid namespace")
    try:
        pid = os.fork()
    except BaseException:
        leave_pid_namespace()
        raise
    if pid != 0:
        leave_pid_namespace()
    return pid


def leave_pid_namespace():
    if libc.setns(OWN_PID_NS[0], CLONE_NEWPID) != 0:
        # Every later session would be born inside this one.
        die("cannot return to the zygote's pid namespace: %s" % os.strerror(ctypes.get_errno()))


def start_in_sandbox(cfg, pidfd, chan_fd, r, w):
    """The first process of a start, forked into the session's pid namespace (see
    start_session); reports on w: "1" once the worker is forked, or "E" and the error."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(r)
        close_zygote_fds()
        # Opened here, written once the old processes are gone: a session at its process
        # limit (a fork bomb) has no room for a new process. The kernel checks the right to
        # move a process against the credentials that opened the file.
        cgroups = [os.open(path, os.O_WRONLY) for path in cfg["cgroup_procs"]]
        check(libc.setns(pidfd, SESSION_NAMESPACES & ~CLONE_NEWPID), "join the session's namespaces")
        os.close(pidfd)
        os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        # Changing uid made us non-dumpable, which would close /proc/self/fd to us.
        prctl(PR_SET_DUMPABLE, 1)
        end_other_processes()
        for fd in cgroups:
            # "0": the writing process itself.
            os.write(fd, b"0")
            os.close(fd)
        os.setsid()
        if os.fork() == 0:
            try:
                os.close(w)
                run_worker(cfg, chan_fd, True)
            except BaseException as e:  # noqa: BLE001 - logged; the engine sees the worker never start
                die("session worker failed: %s" % e)
        os.write(w, b"1")
    except BaseException as e:  # noqa: BLE001 - the zygote reports it to the engine
        os.write(w, ("E" + str(e)).encode())
        os._exit(1)
    os._exit(0)


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
    OWN_PID_NS[0] = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    ZYGOTE_FDS.add(OWN_PID_NS[0])
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    WAKE_FD[0] = wake_r
    ZYGOTE_FDS.update((wake_r, wake_w))
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
    if zcfg["sandboxed"] and os.geteuid() == 0:
        # Sessions are forked from here: none may keep a host group (root's, say), which
        # counts on host files inside their user namespace too. (An unprivileged server has
        # none it could drop.)
        os.setgroups([])
    if zcfg["sandboxed"]:
        # Before anything sessions need is imported: the builder stays small.
        BUILDER[0] = start_builder(zcfg, close_zygote_fds, INIT_EXE_FD)
    missing = session.warm(zcfg["preload"])
    ipython = isinstance(session.CURRENT.runner, IPythonRunner)
    seq_send(ctl, messages.warm(sys.version.split()[0], ipython, zcfg["ro_paths"], missing, zcfg["limits"]))
    # Sandbox off, a worker's first process exits once it has forked it: the worker is
    # reparented here, and reaped here.
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGCHLD, on_sigchld)
    signal.set_wakeup_fd(wake_w)
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
                reply = build_sandbox(msg)
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
