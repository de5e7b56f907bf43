"""pid 1 of a session: enters the sandbox, forks the worker, then becomes codeact-init."""

import os
import signal
import socket
import sys

from .channel import Channel
from .sandbox import PR_SET_PDEATHSIG, drop_privileges, enter_root, install_seccomp, prctl, set_limits, write_file
from .session import serve_worker


def run_init(cfg, chan_fd, sandboxed, init_exe_fd):
    """pid 1 of the session: forks the worker, then becomes codeact-init, which reaps."""
    # The zygote's SIGCHLD reaper must not follow into the session: in init it would steal
    # the worker's exit status, in the worker every subprocess's.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # A session of its own: a cell's kill(0, ...) must not reach the zygote.
    os.setsid()
    # When the session runs out of memory, the OOM killer must pick its code, never the
    # server's processes (raising one's own score needs no privilege; lowering theirs would).
    write_file("/proc/self/oom_score_adj", "1000")
    if sandboxed:
        enter_root(cfg)
        set_limits(cfg["limits"])
        drop_privileges()
        install_seccomp(cfg["seccomp"])
    else:
        os.chdir(cfg["workdir"])
        set_limits(cfg["limits"])
    # Nothing of the zygote's or the server's may reach session code: above all not its
    # control channel. (closerange passes over descriptors that are not open; given an empty
    # range, CPython closes every descriptor.)
    top = max(int(n) for n in os.listdir("/proc/self/fd")) + 1
    low = 0
    for fd in sorted({0, 1, 2, chan_fd, init_exe_fd}) + [top]:
        if low < fd:
            os.closerange(low, fd)
        low = fd + 1
    os.environ["HOME"] = "/workspace" if sandboxed else cfg["workdir"]
    worker = os.fork()
    if worker == 0:
        os.close(init_exe_fd)
        # Without a pid namespace (sandbox off) nothing else ends the worker with its init.
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        chan = Channel(socket.socket(fileno=chan_fd))
        serve_worker(chan, int(cfg["output_limit"]))
        os._exit(0)
    os.close(chan_fd)
    signal.signal(signal.SIGINT, lambda *_: os.kill(worker, signal.SIGINT))
    # The interpreter has done its part: waiting and reaping take a few pages of a small
    # program instead of a Python process per session.
    try:
        os.execve(init_exe_fd, ["codeact-init", str(worker)], {})
    except OSError as e:
        # Not a sandbox mechanism: init only waits and reaps, which Python can do too (at the
        # cost of its memory). The engine logs this line.
        sys.stderr.write("codeact: cannot exec codeact-init (%s); init stays in Python\n" % e)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            # No child left: the worker is gone too.
            os._exit(0)
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)
