"""The zygote: warms everything sessions need once, then forks on the engine's request the
builder of a session's sandbox and each start of a session's init and worker."""

import base64
import os
import signal
import socket
import sys

from . import messages, session
from .channel import seq_recv, seq_send
from .init import run_init
from .runners import IPythonRunner
from .sandbox import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    NS_ORDER,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    SANDBOX_UID,
    build_root,
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


def die(msg):
    sys.stderr.write("codeact worker: %s\n" % msg)
    os._exit(70)


def reap_children():
    while True:
        try:
            pid, _st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            # No children at all.
            return
        if pid == 0:
            return


def close_zygote_fds(keep=()):
    for fd in ZYGOTE_FDS:
        if fd not in keep:
            os.close(fd)


def start_session(msg, fds, zcfg):
    """In the zygote: start init and the worker inside a session's sandbox.

    fds are the worker's channel, then (sandbox on) the session's user, mount, net, ipc and
    uts namespaces, which the server holds between restarts. A starter process joins them,
    enters the session's cgroups, takes the session's uid and unshares a fresh pid namespace;
    its child is init. The starter exits at once, so init is reparented to the zygote (a
    subreaper), which reports its pid.
    """
    sandboxed = zcfg["sandboxed"]
    cfg = dict(zcfg)
    cfg.update(msg)
    chan_fd, ns_fds = fds[0], fds[1:]
    if sandboxed and len(ns_fds) != len(NS_ORDER):
        for fd in fds:
            os.close(fd)
        return messages.failed("start needs the session's namespaces")
    r, w = os.pipe()
    starter = os.fork()
    if starter == 0:
        try:
            os.close(r)
            close_zygote_fds(keep={INIT_EXE_FD})
            for path in cfg["cgroup_procs"]:
                write_file(path, str(os.getpid()))
            if sandboxed:
                os.setgroups([])
                for fd, (_name, kind) in zip(ns_fds, NS_ORDER):
                    check(libc.setns(fd, kind), "join the session's namespaces")
                    os.close(fd)
                os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
                os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
                # Changing uid made us non-dumpable, which would close /proc/self/fd to us.
                prctl(PR_SET_DUMPABLE, 1)
                check(libc.unshare(CLONE_NEWPID), "unshare pid namespace")
            pid = os.fork()
            if pid == 0:
                os.close(w)
                try:
                    run_init(cfg, chan_fd, sandboxed, INIT_EXE_FD)
                except BaseException as e:  # noqa: BLE001 - logged; the engine sees the worker never start
                    die("session init failed: %s" % e)
                os._exit(0)
            os.write(w, str(pid).encode())
            os._exit(0)
        except BaseException as e:  # noqa: BLE001 - the zygote reports it to the engine
            os.write(w, ("E" + str(e)).encode())
            os._exit(1)
    os.close(w)
    for fd in fds:
        os.close(fd)
    data = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        data += chunk
    os.close(r)
    try:
        os.waitpid(starter, 0)
    except ChildProcessError:  # noqa: S110
        # The SIGCHLD handler reaped it first; its pipe above already said how it went.
        pass
    text = data.decode(errors="replace")
    if not text or text.startswith("E"):
        return messages.failed("cannot start the session: %s" % (text[1:] or "the starter process died"))
    return messages.forked(int(text))


def build_sandbox(msg, ctl_fd, zcfg):
    """In the zygote: fork a builder that makes a session's namespaces, user ids and root.

    The builder reports on its channel, then waits until the server has opened its
    namespaces (which keeps them, and the session's tmpfs mounts, alive) and closes the
    channel; then it exits. No process stays behind for an idle sandbox.
    """
    cfg = dict(zcfg)
    cfg.update(msg)
    sync_r, sync_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(sync_r)
        os.close(go_w)
        ctl = socket.socket(fileno=ctl_fd)
        try:
            close_zygote_fds()
            os.setsid()
            os.setgroups([])
            check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
            if cfg["uid"] is None:
                map_ids("self", os.geteuid(), os.getegid())
                os.write(sync_w, b"s")
            else:
                os.write(sync_w, b"m")
                if os.read(go_r, 1) != b"1":
                    raise RuntimeError("the zygote could not map user ids")
            os.close(sync_w)
            # Opened in the new mount namespace while we still have the zygote's uid: the
            # session's own uid may not be able to search the host paths leading to them (a
            # venv under /root, say).
            cfg["path_fds"] = {
                p: os.open(p, os.O_PATH) for p in cfg["ro_paths"] if os.path.exists(p) and not os.path.islink(p)
            }
            # Take on the mapped ids so that files we create have an owner in the namespace.
            os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
            os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
            # Changing uid made us non-dumpable, which would close /proc/self/fd to us and
            # our namespaces to the server.
            prctl(PR_SET_DUMPABLE, 1)
            build_root(cfg)
            for fd in cfg["path_fds"].values():
                os.close(fd)
            seq_send(ctl, messages.built())
            # The engine sends nothing: it closes the channel once it holds our namespaces.
            seq_recv(ctl)
        except BaseException as e:  # noqa: BLE001 - told to the engine, which refuses the sandbox
            try:
                seq_send(ctl, messages.failed(str(e)))
            except OSError:  # noqa: S110
                # The engine closed the channel: nobody is waiting for the answer.
                pass
            os._exit(1)
        os._exit(0)
    os.close(sync_w)
    os.close(go_r)
    os.close(ctl_fd)
    try:
        how = os.read(sync_r, 1)
        if how == b"m":
            try:
                map_ids(pid, int(cfg["uid"]), int(cfg["uid"]))
                os.write(go_w, b"1")
            except OSError as e:
                os.write(go_w, b"0")
                return messages.failed("cannot map user ids: %s" % e)
        elif how != b"s":
            return messages.failed("the sandbox builder died while creating its namespaces")
        return messages.forked(pid)
    finally:
        os.close(sync_r)
        os.close(go_w)


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
    # Every session's init is reparented here when its starter exits, and reaped here.
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGCHLD, lambda *_: reap_children())
    while True:
        reap_children()
        msg, fds = seq_recv(ctl)
        if msg is None:
            os._exit(0)
        try:
            op = messages.check_request(messages.ZYGOTE_REQUESTS, msg)
            if op == "build" and len(fds) == 1:
                reply = build_sandbox(msg, fds[0], zcfg)
            elif op == "start" and fds:
                reply = start_session(msg, fds, zcfg)
            else:
                for fd in fds:
                    os.close(fd)
                reply = messages.failed("bad request: %s with %d descriptors" % (op, len(fds)))
        except Exception as e:  # noqa: BLE001 - the engine gets every failure as the answer
            reply = messages.failed(str(e))
        seq_send(ctl, reply)


def main(argv):
    if len(argv) < 3 or argv[0] != "zygote":
        die("usage: zygote CONTROL_FD INIT_EXE_FD")
    set_title("codeact-zygote")
    zygote(int(argv[1]), int(argv[2]))
