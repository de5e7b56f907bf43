"""The session's Python state: what the zygote imports and warms once for every session (the
shell, the scientific stack, a frozen heap), and the worker's main loop that runs cells and
answers file requests."""

import gc
import io
import os
import re
import signal
import sys
import threading
import time

from . import messages
from .capture import Capture, FdPump, TextSink
from .files import file_op
from .runners import IPythonRunner, PlainRunner, flush_figures, make_ipython_runner
from .title import set_title


class Session:
    """State of the session worker process."""

    def __init__(self, limit):
        self.capture = Capture(limit)
        self.runner = None
        # Made in the zygote, like everything a worker can share (see sandbox.prepare_seccomp).
        self.sinks = (TextSink(self.capture, "stdout", 1), TextSink(self.capture, "stderr", 2), io.StringIO())


CURRENT = Session(65536)


# What sessions are expected to have besides IPython; each is imported (and so shared by every
# session) here.
EXPECTED_MODULES = ("numpy", "pandas", "matplotlib", "matplotlib.pyplot")


def warm(preload):
    """Runs in the zygote: import and warm everything sessions will need, then freeze the heap.
    Returns the expected modules that this Python could not import."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    missing = []
    try:
        CURRENT.runner = make_ipython_runner(CURRENT.capture)
    except ImportError:
        CURRENT.runner = PlainRunner(CURRENT.capture)
        missing.append("IPython")
    for mod in EXPECTED_MODULES:
        if mod.split(".")[0] in missing:
            continue
        try:
            __import__(mod)
        except Exception:  # noqa: BLE001 - a module that fails to import is reported missing
            missing.append(mod)
    old = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = io.StringIO()
    try:
        CURRENT.runner.run("1 + 1")
        if preload:
            CURRENT.runner.run(preload)
    finally:
        sys.stdout, sys.stderr = old
    CURRENT.capture.reset()
    if isinstance(CURRENT.runner, IPythonRunner):
        CURRENT.runner.shell.execution_count = 1
    gc.collect()
    gc.freeze()
    fill_pools()
    gc.freeze()
    return missing


BALLAST = []


def small_block_stats():
    """(block size, free blocks in partly used pools) per size class of CPython's allocator,
    from sys._debugmallocstats (which prints to the C stderr); empty if it cannot be read."""
    import tempfile

    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        except Exception:  # noqa: BLE001 - only an optimization: without statistics, no ballast
            return []
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*\d+\s+(\d+)\s+\d+\s+\d+\s+(\d+)\s*$", line)
        if m:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


def fill_pools():
    """In the zygote: occupy every free block of the allocator's partly used pools.

    A forked session otherwise puts its new objects into those free blocks, scattered over
    pages it shares with the zygote, and each such write copies a whole page. With them taken,
    new objects go to fresh pools, packed together: about 0.3 MB less per idle session."""
    for _ in range(3):
        stats = small_block_stats()
        if not any(avail for size, avail in stats if size >= 32):
            return
        for size, avail in stats:
            if size == 32:
                # 24-byte floats round up to 32; bytes objects are 33 bytes at least.
                BALLAST.extend(float(i) + 0.5 for i in range(avail))
            elif size >= 48:
                BALLAST.extend(bytes(size - 33) for _ in range(avail))


def serve_worker(chan, limit):
    """The session's main loop: cells on the main thread, file requests on a side thread."""
    set_title("codeact-worker")
    cap = CURRENT.capture
    cap.limit = max(256, limit)
    cap.reset()
    sys.stdout, sys.stderr, sys.stdin = CURRENT.sinks
    current_cell = [None]

    def stream():
        # Long cells stream their output every 100 ms; idle sessions do not wake up at all.
        items = cap.take(final=False)
        if items:
            try:
                chan.send(messages.output(current_cell[0], items))
            except OSError:
                # The engine closed the channel: the session is over.
                os._exit(0)

    pump = FdPump(cap, tick=stream)
    cells = []
    cell_ready = threading.Condition()
    # Set while a cell runs: an interrupt that arrives between cells is dropped, here rather
    # than by the sender, which cannot know when a cell ends.
    running = [False]

    worker = os.getpid()
    # Set when an interrupt reached the cell, so that its forked copies are swept at its end.
    interrupted = [False]

    def interrupt(_signum, _frame):
        # As Ctrl-C in a terminal: every process of the cell's foreground group stops, the
        # cell's forked copies and `!cmd` included, not just the worker. (Processes started
        # with a session of their own, like daemons, are left alone.)
        if not running[0]:
            return
        if os.getpid() == worker:
            interrupted[0] = True
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                os.killpg(0, signal.SIGINT)
            finally:
                signal.signal(signal.SIGINT, interrupt)
        raise KeyboardInterrupt

    # A process group of the worker's own (unless it already leads a session), so that the
    # interrupt reaches no process but the cell's.
    if os.getpgrp() != worker:
        os.setpgid(0, 0)
    signal.signal(signal.SIGINT, interrupt)
    main_thread = threading.get_ident()

    def reader():
        while True:
            try:
                msg = chan.recv()
                op = None if msg is None else messages.check_request(messages.WORKER_REQUESTS, msg)
            except (OSError, ValueError):
                # The channel broke, or the engine and this worker disagree on the protocol
                # (which the contract tests rule out): the session ends either way, and the
                # engine reports that it died.
                msg = None
            if msg is None:
                os._exit(0)
            if op == "execute":
                with cell_ready:
                    cells.append(msg)
                    cell_ready.notify()
            elif op == "interrupt":
                # To the main thread, whose blocking calls it interrupts; the engine holds no
                # handle on this process, only this channel.
                signal.pthread_kill(main_thread, signal.SIGINT)
            else:
                chan.send(file_op(msg))

    # Touch, in this fresh copy-on-write process, the pages a cell run needs, so that the
    # first real cell does not pay for the copies.
    if isinstance(CURRENT.runner, IPythonRunner):
        CURRENT.runner.shell.run_cell("print('', end='')", store_history=False)
    else:
        CURRENT.runner.run("print('', end='')")
        CURRENT.runner.count = 0
    cap.reset()
    threading.Thread(target=reader, daemon=True).start()

    def forked_by_cell():
        # A copy of the worker that a cell forked shares its channel, its pipes and its
        # capture; it keeps none of them (see forked() of each) and exits at the cell's end.
        cap.forked()
        pump.forked()
        chan.forked()

    os.register_at_fork(after_in_child=forked_by_cell)

    chan.send(messages.ready(worker, isinstance(CURRENT.runner, IPythonRunner)))
    while True:
        with cell_ready:
            while not cells:
                cell_ready.wait()
            msg = cells.pop(0)
        # No reset here: what background threads and processes printed since the last cell
        # is still in the capture, and goes out first with this cell's outputs.
        current_cell[0] = msg["cell"]
        pump.cell_started()
        error = True
        try:
            running[0] = True
            try:
                error = CURRENT.runner.run(msg["code"])
                flush_figures(cap)
            finally:
                # Cleared inside the outer try: a KeyboardInterrupt is raised only while the
                # flag is set, so it always lands in the handlers below.
                running[0] = False
        except KeyboardInterrupt:
            cap.rich(messages.error("KeyboardInterrupt", "", ["KeyboardInterrupt"]))
        except BaseException as e:  # noqa: BLE001 - the runner itself must never end the session
            cap.rich(messages.error(type(e).__name__, str(e), [repr(e)]))
        if os.getpid() != worker:
            # A forked copy that reached the end of the cell: it is done.
            os._exit(1 if error else 0)
        if interrupted[0]:
            interrupted[0] = False
            sweep_copies(worker)
        try:
            sys.stdout.flush()
        except Exception:  # noqa: BLE001, S110 - a sys.stdout the cell replaced may fail; ours are put back below
            pass
        sys.stdout = sys.stdout if isinstance(sys.stdout, TextSink) else TextSink(cap, "stdout", 1)
        sys.stderr = sys.stderr if isinstance(sys.stderr, TextSink) else TextSink(cap, "stderr", 2)
        if getattr(sys.stdin, "closed", True):
            # Plain Python's exit() closes stdin before it raises SystemExit.
            sys.stdin = io.StringIO()
        pump.drain_all()
        pump.cell_ended()
        with cap.lock:
            items = cap.take(final=True)
            truncated = cap.truncated
            cap.reset()
        chan.send(messages.done(msg["cell"], items, bool(error), truncated))


def group_members(group):
    """Live processes of process group `group` other than its leader (zombies excluded)."""
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == group:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command: state, ppid, pgrp.
        if fields[0] != "Z" and int(fields[2]) == group:
            found.add(int(name))
    return found


def sweep_copies(worker, limit_s=2.0):
    """Interrupts the cell's forked copies again until none is left. The one interrupt sent to
    the group misses a copy forked just after it went out (a child does not inherit its parent's
    pending signal), and such a copy goes on running the cell: a fork bomb would go on. Copies
    that ignore SIGINT are left alone once the group stops changing."""
    deadline = time.monotonic() + limit_s
    previous, unchanged = None, 0
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while time.monotonic() < deadline:
            members = group_members(worker)
            if not members:
                return
            unchanged = unchanged + 1 if members == previous else 0
            if unchanged >= 5:
                return
            previous = members
            try:
                os.killpg(worker, signal.SIGINT)
            except OSError:
                return
            time.sleep(0.02)
    finally:
        signal.signal(signal.SIGINT, old)
