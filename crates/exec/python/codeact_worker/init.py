"""The two long-lived processes of a session: its holder (pid 1 of the session's namespaces,
which keeps them alive between workers) and its worker (which runs cells)."""

import os
import signal
import socket
import sys
import time

from .channel import Channel
from .sandbox import (
    PR_SET_DUMPABLE,
    PR_SET_PDEATHSIG,
    SANDBOX_UID,
    build_root,
    drop_privileges,
    enter_root,
    install_seccomp,
    prctl,
    set_limits,
    write_file,
)
from .session import serve_worker


def close_fds_except(keep):
    """Closes every descriptor but those in `keep`. (closerange passes over descriptors that
    are not open; given an empty range, CPython closes every descriptor.)"""
    top = max(int(n) for n in os.listdir("/proc/self/fd")) + 1
    low = 0
    for fd in sorted(set(keep)) + [top]:
        if low < fd:
            os.closerange(low, fd)
        low = fd + 1


def run_holder(cfg, go_fd, report_fd, init_exe_fd):
    """pid 1 of a new session's pid namespace, in its new user, mount, net, ipc and uts
    namespaces: builds the session's root and enters it for good, drops every privilege, and
    then becomes codeact-init, which only reaps. It lives as long as the session, and holds
    the namespaces (and so the tmpfs /workspace and /tmp) that every start of a worker joins.

    Raises on failure. `go_fd` reads a byte once the zygote has put this process in the
    session's cgroups and mapped its user ids; `report_fd` (close-on-exec) reaches the
    zygote, for which its end at the exec means success."""
    os.setsid()
    if os.read(go_fd, 1) != b"1":
        raise RuntimeError("the zygote could not place the holder in its cgroups and user ids")
    os.close(go_fd)
    # Opened in the new mount namespace while we still have the zygote's uid: the session's
    # own uid may not be able to search the host paths leading to them (a venv under /root).
    cfg["path_fds"] = {p: os.open(p, os.O_PATH) for p in cfg["ro_paths"] if os.path.exists(p) and not os.path.islink(p)}
    # Take on the mapped ids so that files we create have an owner in the namespace.
    os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    # Changing uid made us non-dumpable, which would close /proc/self/fd to us, and our
    # namespaces to the zygote's starters and the network stack.
    prctl(PR_SET_DUMPABLE, 1)
    build_root(cfg)
    for fd in cfg["path_fds"].values():
        os.close(fd)
    enter_root(cfg)
    set_limits(cfg["limits"])
    drop_privileges()
    install_seccomp(cfg["seccomp"])
    # After every change of credentials, which would clear it: when the zygote dies (the
    # engine gone), the session's namespaces die with it.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    close_fds_except({0, 1, 2, init_exe_fd, report_fd})
    # Executed by descriptor, an ELF file needs it open only until the exec.
    os.set_inheritable(init_exe_fd, False)
    try:
        # The interpreter has done its part: reaping takes a few pages of a small program
        # instead of a Python process per session.
        os.execve(init_exe_fd, ["codeact-init"], {})
    except OSError as e:
        # Not a sandbox mechanism: the holder only reaps, which Python can do too (at the
        # cost of its memory). The zygote passes this on to the engine's log.
        os.write(report_fd, ("W" + str(e)).encode())
        os.close(report_fd)
    signal.signal(signal.SIGCHLD, lambda *_: reap_all())
    while True:
        signal.pause()


def reap_all(reaped=None):
    """Reaps every child that has ended, without waiting; `reaped(pid)` hears of each."""
    while True:
        try:
            pid, _st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            # No children at all.
            return
        if pid == 0:
            return
        if reaped is not None:
            reaped(pid)


def end_other_processes():
    """In a fresh process of a session's pid namespace, before its new worker starts: kills
    every process of the session but pid 1 (the holder) and itself, and waits (2 s at most)
    until each has exited and been reaped, so that two workers never share the working
    directory. (The first process of the previous start, whose parent, the zygote, is
    outside the session, may stay a zombie until the zygote reaps it: it holds nothing.)"""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        # Nothing else runs in the session.
        return
    me = str(os.getpid())
    for _ in range(200):
        if not [p for p in os.listdir("/proc") if p.isdigit() and p not in ("1", me) and not ended(p)]:
            return
        time.sleep(0.01)


def ended(pid):
    """Whether the process `pid` (of /proc) is gone, or a zombie whose parent is outside the
    session (its parent pid reads 0 here)."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return True
    # The fields after the command name, which may hold anything but ends at the last ")":
    # state, parent pid, ...
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[0] == b"Z" and fields[1] == b"0"


def run_worker(cfg, chan_fd, sandboxed):
    """A session's worker: confines itself (sandbox on: it already runs in the session's
    namespaces, at the root, with the session's uid) and serves cells on `chan_fd` until the
    engine closes it. It runs in a process session of its own, whose leader has exited: a
    cell's kill(0, ...) reaches nothing else, and the cell may still make groups of its own."""
    # The zygote's SIGCHLD reaper must not follow into the session: it would steal the exit
    # status of every subprocess.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # When the session runs out of memory, the OOM killer must pick its code, never the
    # server's processes (raising one's own score needs no privilege; lowering theirs would).
    write_file("/proc/self/oom_score_adj", "1000")
    if sandboxed:
        os.chdir("/workspace")
        set_limits(cfg["limits"])
        drop_privileges()
        install_seccomp(cfg["seccomp"])
        os.environ["HOME"] = "/workspace"
    else:
        os.chdir(cfg["workdir"])
        set_limits(cfg["limits"])
        os.environ["HOME"] = cfg["workdir"]
    # Nothing of the zygote's or the server's may reach session code: above all not its
    # control channel.
    close_fds_except({0, 1, 2, chan_fd})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    serve_worker(Channel(socket.socket(fileno=chan_fd)), int(cfg["output_limit"]))
    os._exit(0)


def die(msg):
    sys.stderr.write("codeact worker: %s\n" % msg)
    os._exit(70)
