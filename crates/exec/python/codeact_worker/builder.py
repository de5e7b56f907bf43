"""The builder: a small process, forked by the zygote before it imports what sessions need,
from which every session's holder is cloned. A holder copies the address space it is cloned
from, then drops it all when it execs codeact-init; cloned from the warm zygote that costs
several times more than from this process, whose memory is the bare interpreter's."""

import os
import signal
import socket

from .channel import seq_recv, seq_send
from .init import run_holder
from .sandbox import CLONE_PARENT, PR_SET_PDEATHSIG, SESSION_NAMESPACES, clone_process, prctl
from .title import set_title


def start_builder(zcfg, close_fds, init_exe_fd):
    """In the zygote: forks the builder; returns the zygote's end of its channel.
    `close_fds(keep)` closes the zygote's own descriptors in the builder."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    if os.fork() == 0:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            ours.close()
            close_fds({init_exe_fd})
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            set_title("codeact-builder")
            serve(theirs, zcfg, init_exe_fd)
        finally:
            os._exit(0)
    theirs.close()
    return ours


def clone_holder(builder, msg, go_r, report_w):
    """In the zygote: has the builder clone a session's holder, a child of the zygote (see
    init.run_holder for `go_r` and `report_w`, and the build request `msg`). Returns its pid;
    raises OSError if the builder could not, or is gone."""
    seq_send(builder, msg, (go_r, report_w))
    reply, _ = seq_recv(builder)
    if reply is None:
        raise OSError("the sandbox builder is gone")
    if "error" in reply:
        raise OSError(reply["error"])
    return reply["pid"]


def serve(sock, zcfg, init_exe_fd):
    """The builder's loop: for each request, clones the holder with CLONE_PARENT (so that it
    is the zygote's child, reaped and killed there) into the session's new namespaces, and
    answers {"pid"} or {"error"}. Ends when the zygote closes the channel."""
    while True:
        msg, fds = seq_recv(sock)
        if msg is None:
            return
        go_r, report_w = fds
        # Received descriptors are inheritable; the zygote reads EOF on this one at the exec.
        os.set_inheritable(report_w, False)
        try:
            holder = clone_process(SESSION_NAMESPACES | CLONE_PARENT)
        except OSError as e:
            reply = {"error": "cannot make the session's namespaces: %s" % e}
        else:
            if holder == 0:
                try:
                    sock.close()
                    cfg = dict(zcfg)
                    cfg.update(msg)
                    run_holder(cfg, go_r, report_w, init_exe_fd)
                except BaseException as e:  # noqa: BLE001 - told to the zygote, which refuses the sandbox
                    os.write(report_w, ("E" + str(e)).encode())
                os._exit(1)
            reply = {"pid": holder}
        os.close(go_r)
        os.close(report_w)
        seq_send(sock, reply)
