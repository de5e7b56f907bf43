"""Short, honest names for the engine's processes in `ps`.

The zygote is started as `python -I -c <bootstrap> …`, and every process forked from it would
show that whole command line. Linux reads a process's `args` from its argument area in memory
(/proc/PID/stat fields 48 and 49) and its `comm` from the task name (prctl PR_SET_NAME); both
are the process's own to rewrite, and CPython keeps its own copy of argv, so nothing reads
that memory after start."""

import ctypes
import sys

PR_SET_NAME = 15

_libc = ctypes.CDLL(None, use_errno=True)


def set_title(title):
    """Shows title as the process's command line (`ps -o args`) and, cut to 15 bytes, as its
    name (`ps -o comm`). Returns False when the argument area could not be found."""
    data = title.encode()
    _libc.prctl(PR_SET_NAME, ctypes.c_char_p(data[:15]), 0, 0, 0)
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        # Fields after the command name, which may itself contain spaces and parentheses.
        fields = stat[stat.rindex(b")") + 2 :].split()
        start, end = int(fields[45]), int(fields[46])
    except (OSError, ValueError, IndexError) as e:
        sys.stderr.write("codeact: cannot read this process's argument area: %s\n" % e)
        return False
    size = end - start
    if size <= 1:
        return False
    data = data[: size - 2]
    ctypes.memset(start, 0, size)
    ctypes.memmove(start, data, len(data))
    # With the area's last byte not NUL, Linux reads the command line only up to the first
    # NUL (its convention for a rewritten title), not the padding after it.
    ctypes.memset(start + size - 1, ord(" "), 1)
    return True
