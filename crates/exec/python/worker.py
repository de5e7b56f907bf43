# codeact session worker: the zygote and the cell runner in one file.
#
# Process tree of one session (local backend, sandbox on):
#   server --ctl--> zygote (imports preloaded, shell warmed, gc frozen; subreaper)
#     fork -> builder (once per session: new user, mount, net, ipc and uts namespaces; builds
#                      the session's root; exits once the server holds the namespaces)
#     fork -> starter (per start: joins those namespaces and the session's cgroups, unshares a
#                      fresh pid namespace, exits at once)
#       fork -> init (pid 1 of the session; mounts /proc, enters the root, drops privileges,
#                     installs seccomp, forks the worker, then execs codeact-init, which
#                     reaps orphans; when it dies every process of the session dies)
#         fork -> worker (runs cells; speaks length-prefixed JSON on its own socket)
# A restart kills init and starts anew in the same namespaces, so the working directory and
# /tmp (tmpfs mounts of the session's mount namespace) survive while every process is
# replaced. An idle session is two processes: codeact-init and the worker.
#
# Control channels are SOCK_SEQPACKET with one JSON object per message and file descriptors
# passed alongside; the worker channel is a stream of 4-byte big-endian length + JSON frames.

import base64
import codecs
import ctypes
import gc
import io
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2

PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
SECCOMP_MODE_FILTER = 2

SANDBOX_UID = 1000

# Made once in the zygote rather than in every session's init (see prepare_seccomp).
CAP_HEADER = (ctypes.c_uint32 * 2)(0x20080522, 0)
CAP_NONE = (ctypes.c_uint32 * 6)()
for _name in ("mount", "umount2", "unshare", "setns", "prctl", "capset", "syscall", "sethostname"):
    getattr(libc, _name)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def die(msg):
    sys.stderr.write("codeact worker: %s\n" % msg)
    os._exit(70)


def check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def mount(src, dst, fstype, flags, data=None):
    check(
        libc.mount(
            src.encode() if src else None,
            dst.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        "mount %s on %s" % (src or fstype, dst),
    )


def prctl(option, arg2=0, arg3=0):
    check(libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), 0, 0), "prctl %d" % option)


# ---------------------------------------------------------------------------------------------
# Message channels


def seq_send(sock, obj, fds=()):
    data = json.dumps(obj).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def seq_recv(sock):
    data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 8)
    if not data:
        return None, []
    return json.loads(data), fds


class Channel:
    """The worker's stream socket: length-prefixed JSON frames, one writer lock."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, obj):
        data = json.dumps(obj, ensure_ascii=True).encode()
        with self.lock:
            self.sock.sendall(struct.pack(">I", len(data)) + data)

    def recv(self):
        head = self._exact(4)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head)
        body = self._exact(n)
        if body is None:
            return None
        return json.loads(body)

    def _exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)


# ---------------------------------------------------------------------------------------------
# Output capture


def clean_text(s):
    # Lone surrogates cannot cross JSON into Rust: replace them.
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace").decode("utf-8")


class Capture:
    """Outputs of the running cell, in order, with stream text capped to head + tail."""

    def __init__(self, limit):
        self.limit = max(256, limit)
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        self.items = []  # output dicts ready to send
        self.sent = 0  # how many of items were already streamed out
        self.head = 0
        self.tail = []  # [name, text] beyond the head budget
        self.tail_bytes = 0
        self.dropped = 0
        self.truncated = False

    def stream(self, name, text):
        if not text:
            return
        text = clean_text(text)
        with self.lock:
            room = self.limit // 2 - self.head
            if not self.tail and len(text) <= room:
                self.head += len(text)
                self._append(name, text)
                return
            self.truncated = True
            if not self.tail and room > 0:
                self._append(name, text[:room])
                self.head += room
                text = text[room:]
            if self.tail and self.tail[-1][0] == name:
                self.tail[-1][1] += text
            else:
                self.tail.append([name, text])
            self.tail_bytes += len(text)
            keep = self.limit // 2
            while self.tail_bytes > keep and self.tail:
                excess = self.tail_bytes - keep
                first = self.tail[0]
                if len(first[1]) <= excess:
                    self.tail.pop(0)
                    self.tail_bytes -= len(first[1])
                    self.dropped += len(first[1])
                else:
                    first[1] = first[1][excess:]
                    self.tail_bytes -= excess
                    self.dropped += excess

    def _append(self, name, text):
        items = self.items
        if len(items) > self.sent and items[-1]["type"] == "stream" and items[-1]["name"] == name:
            items[-1]["text"] += text
        else:
            items.append({"type": "stream", "name": name, "text": text})

    def rich(self, item):
        with self.lock:
            self._flush_tail()
            self.items.append(item)

    def _flush_tail(self):
        if not self.tail:
            return
        if self.dropped:
            self._append(self.tail[0][0], "\n[... %d characters of output truncated ...]\n" % self.dropped)
            self.dropped = 0
        for name, text in self.tail:
            self._append(name, text)
        self.tail = []
        self.tail_bytes = 0
        self.head = self.limit

    def take(self, final):
        with self.lock:
            if final:
                self._flush_tail()
            # Items already handed out never grow again: later text starts a new item.
            out = self.items[self.sent :]
            self.sent += len(out)
            return out


class TextSink(io.TextIOBase):
    """sys.stdout / sys.stderr of a session: text goes straight into the capture."""

    def __init__(self, capture, name, fileno):
        self.capture = capture
        self.name_ = name
        self.fd = fileno
        self.buffer = _ByteSink(self)

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "replace"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return self.fd

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        # What child processes already wrote to fd 1 and 2 comes first.
        if PUMP is not None:
            PUMP.drain_if_ready()
        self.capture.stream(self.name_, s)
        return len(s)

    def flush(self):
        pass


class _ByteSink(io.RawIOBase):
    def __init__(self, text):
        self.text = text
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def writable(self):
        return True

    def write(self, b):
        self.text.write(self.decoder.decode(bytes(b)))
        return len(b)


class FdPump:
    """The worker's I/O thread. Reads what child processes write to fd 1 and 2, all reads under
    the capture's lock, so at the end of a cell nothing can be in flight between the pipe and
    the capture; and while a cell runs, calls `tick` about every 100 ms to stream its output.
    (One thread for both: every thread costs an idle session memory.)"""

    TICK = 0.1

    def __init__(self, capture, tick=None):
        self.capture = capture
        self.tick = tick
        self.tick_lock = threading.Lock()
        self.running = False
        self.pipes = {}
        for fd, name in ((1, "stdout"), (2, "stderr")):
            r, w = os.pipe()
            os.dup2(w, fd)
            os.close(w)
            os.set_blocking(r, False)
            self.pipes[r] = (name, codecs.getincrementaldecoder("utf-8")("replace"))
        self.ready = select.poll()
        for r in self.pipes:
            self.ready.register(r, select.POLLIN)
        # Wakes the thread from an idle (untimed) wait when a cell starts.
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        t = threading.Thread(target=self._run, daemon=True)
        t.start()

    def cell_started(self):
        self.running = True
        os.write(self.wake_w, b"x")

    def cell_ended(self):
        # Waits for a tick in progress: its output frame must go out before the cell's last.
        with self.tick_lock:
            self.running = False

    def _run(self):
        poller = select.poll()
        for r in self.pipes:
            poller.register(r, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        next_tick = None
        while True:
            if self.running and next_tick is None:
                next_tick = time.monotonic() + self.TICK
            elif not self.running:
                next_tick = None
            timeout = None if next_tick is None else max(0, next_tick - time.monotonic()) * 1000
            try:
                ready = poller.poll(timeout)
            except InterruptedError:
                continue
            for r, _ev in ready:
                if r == self.wake_r:
                    try:
                        os.read(self.wake_r, 64)
                    except BlockingIOError:
                        pass
                else:
                    self._drain(r)
            if next_tick is not None and time.monotonic() >= next_tick:
                next_tick = None
                with self.tick_lock:
                    if self.running and self.tick:
                        self.tick()
            if ready:
                time.sleep(0.002)

    def _drain(self, r):
        name, dec = self.pipes[r]
        with self.capture.lock:
            while True:
                try:
                    chunk = os.read(r, 65536)
                except BlockingIOError:
                    break
                except InterruptedError:
                    continue
                if not chunk:
                    break
                self.capture.stream(name, dec.decode(chunk))

    def drain_all(self):
        for r in self.pipes:
            self._drain(r)

    def drain_if_ready(self):
        if self.ready.poll(0):
            self.drain_all()


# ---------------------------------------------------------------------------------------------
# Running cells


class PlainRunner:
    """Runs cells with exec/eval when IPython is not installed."""

    def __init__(self, capture):
        import ast

        self.ast = ast
        self.capture = capture
        self.ns = {"__name__": "__main__", "__builtins__": __builtins__}
        self.count = 0

    def run(self, code):
        ast = self.ast
        self.count += 1
        try:
            tree = ast.parse(code, "<cell>", "exec")
        except SyntaxError as e:
            self._error(type(e), e, None)
            return True
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        try:
            exec(compile(tree, "<cell>", "exec"), self.ns)
            if last is not None:
                value = eval(compile(last, "<cell>", "eval"), self.ns)
                if value is not None:
                    self.ns["_"] = value
                    self.capture.rich(
                        {"type": "result", "execution_count": self.count, "data": {"text/plain": repr(value)}}
                    )
        except BaseException as e:  # noqa: B902 - the cell's failure is its output
            if isinstance(e, SystemExit) and not e.code:
                return False
            self._error(type(e), e, e.__traceback__)
            return True
        return False

    def _error(self, etype, value, tb):
        import traceback

        lines = traceback.format_exception(etype, value, tb)
        keep = [lines[0]] if lines and lines[0].startswith("Traceback") else []
        seen_cell = False
        for l in lines[1:]:
            if l.startswith("  File ") and not seen_cell:
                seen_cell = '"<cell>"' in l
                if not seen_cell:
                    continue
            keep.append(l)
        tbl = [ANSI.sub("", x.rstrip("\n")) for x in keep]
        self.capture.rich({"type": "error", "ename": etype.__name__, "evalue": str(value), "traceback": tbl})


def make_ipython_runner(capture):
    """An IPython InteractiveShell whose display machinery feeds the capture."""
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    cfg.InteractiveShell.colors = "nocolor"
    cfg.InteractiveShell.xmode = "Plain"
    cfg.InteractiveShell.autocall = 0
    # The singleton, so that IPython's display() finds the shell and publishes through it.
    shell = InteractiveShell.instance(config=cfg)

    def bundle(format_dict):
        data = {}
        for k in ("text/plain", "image/png"):
            if k in format_dict:
                v = format_dict[k]
                if isinstance(v, bytes):
                    v = base64.b64encode(v).decode()
                data[k] = v
        return data

    class Hook(DisplayHook):
        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            CURRENT.capture.rich(
                {"type": "result", "execution_count": self.shell.execution_count, "data": bundle(format_dict)}
            )

        def finish_displayhook(self):
            pass

    class Pub(DisplayPublisher):
        def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kw):
            CURRENT.capture.rich({"type": "display", "data": bundle(data)})

        def clear_output(self, wait=False):
            pass

    shell.displayhook = Hook(shell=shell, cache_size=shell.cache_size)
    shell.display_pub = Pub(shell=shell)
    shell.display_trap.hook = shell.displayhook

    def showtraceback(etype, evalue, stb):
        CURRENT.capture.rich(
            {
                "type": "error",
                "ename": getattr(etype, "__name__", str(etype)),
                "evalue": str(evalue),
                "traceback": [ANSI.sub("", x) for x in stb],
            }
        )

    shell._showtraceback = showtraceback
    return shell


class IPythonRunner:
    def __init__(self, shell):
        self.shell = shell

    def run(self, code):
        r = self.shell.run_cell(code, store_history=True)
        return not r.success


def flush_figures(capture):
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        nums = plt.get_fignums()
    except Exception:
        return
    for n in nums:
        fig = plt.figure(n)
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format="png", bbox_inches="tight")
        except Exception as e:  # a broken figure must not break the cell
            capture.stream("stderr", "could not render figure %d: %s\n" % (n, e))
            continue
        w, h = fig.get_size_inches() * fig.dpi
        capture.rich(
            {
                "type": "display",
                "data": {
                    "text/plain": "<Figure size %gx%g with %d Axes>" % (w, h, len(fig.axes)),
                    "image/png": base64.b64encode(buf.getvalue()).decode(),
                },
            }
        )
    plt.close("all")


class Session:
    """State of the session worker process."""

    def __init__(self, limit):
        self.capture = Capture(limit)
        self.runner = None
        # Made in the zygote, like everything a worker can share (see prepare_seccomp).
        self.sinks = (TextSink(self.capture, "stdout", 1), TextSink(self.capture, "stderr", 2), io.StringIO())


CURRENT = Session(65536)
PUMP = None


def warm(preload):
    """Runs in the zygote: import and warm everything sessions will need, then freeze the heap."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        shell = make_ipython_runner(CURRENT.capture)
        CURRENT.runner = IPythonRunner(shell)
    except ImportError:
        CURRENT.runner = PlainRunner(CURRENT.capture)
    for mod in ("resource", "numpy", "pandas", "matplotlib", "matplotlib.pyplot"):
        try:
            __import__(mod)
        except Exception:
            pass
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
        except Exception:
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
    cap = CURRENT.capture
    cap.limit = max(256, limit)
    cap.reset()
    sys.stdout, sys.stderr, sys.stdin = CURRENT.sinks
    global PUMP
    current_cell = [None]

    def stream():
        # Long cells stream their output every 100 ms; idle sessions do not wake up at all.
        items = cap.take(final=False)
        if items:
            try:
                chan.send({"type": "output", "cell": current_cell[0], "outputs": items})
            except OSError:
                os._exit(0)

    pump = PUMP = FdPump(cap, tick=stream)
    cells = []
    cell_ready = threading.Condition()

    def reader():
        while True:
            try:
                msg = chan.recv()
            except Exception:
                msg = None
            if msg is None:
                os._exit(0)
            op = msg.get("op")
            if op == "execute":
                with cell_ready:
                    cells.append(msg)
                    cell_ready.notify()
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
    chan.send({"type": "ready", "pid": os.getpid(), "ipython": isinstance(CURRENT.runner, IPythonRunner)})
    while True:
        with cell_ready:
            while not cells:
                cell_ready.wait()
            msg = cells.pop(0)
        cap.reset()
        current_cell[0] = msg.get("cell")
        pump.cell_started()
        error = True
        try:
            error = CURRENT.runner.run(msg.get("code", ""))
            flush_figures(cap)
        except KeyboardInterrupt:
            cap.rich({"type": "error", "ename": "KeyboardInterrupt", "evalue": "", "traceback": ["KeyboardInterrupt"]})
        except BaseException as e:  # the runner itself must never take the session down
            cap.rich({"type": "error", "ename": type(e).__name__, "evalue": str(e), "traceback": [repr(e)]})
        try:
            sys.stdout.flush()
        except Exception:
            pass
        sys.stdout = sys.stdout if isinstance(sys.stdout, TextSink) else TextSink(cap, "stdout", 1)
        sys.stderr = sys.stderr if isinstance(sys.stderr, TextSink) else TextSink(cap, "stderr", 2)
        pump.drain_all()
        pump.cell_ended()
        with cap.lock:
            items = cap.take(final=True)
            truncated = cap.truncated
        chan.send({"type": "done", "cell": msg.get("cell"), "outputs": items, "error": bool(error), "truncated": truncated})


def file_op(msg):
    op = msg.get("op")
    path = msg.get("path", "")
    try:
        if op in ("write_file", "read_file"):
            if not path or path.startswith("/") or ".." in path.split("/"):
                raise ValueError("path must be relative and stay inside the working directory")
        if op == "write_file":
            d = os.path.dirname(path)
            if d:
                os.makedirs(d, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(base64.b64decode(msg.get("data", "")))
            return {"type": "file", "ok": True}
        if op == "read_file":
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                data = f.read(int(msg.get("limit", 1 << 26)) + 1)
            if len(data) > int(msg.get("limit", 1 << 26)):
                raise ValueError("file is larger than the download limit")
            return {"type": "file", "ok": True, "data": base64.b64encode(data).decode()}
        if op == "list_files":
            names = []
            for e in sorted(os.scandir("."), key=lambda e: e.name):
                names.append(e.name + ("/" if e.is_dir(follow_symlinks=False) else ""))
            return {"type": "file", "ok": True, "names": names}
        raise ValueError("unknown operation %r" % op)
    except FileNotFoundError:
        return {"type": "file", "ok": False, "kind": "not_found", "error": "no such file: %s" % path}
    except Exception as e:
        return {"type": "file", "ok": False, "kind": "bad_request", "error": str(e)}


# ---------------------------------------------------------------------------------------------
# The sandbox


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def map_ids(pid, uid, gid):
    write_file("/proc/%s/setgroups" % pid, "deny")
    write_file("/proc/%s/uid_map" % pid, "%d %d 1\n" % (SANDBOX_UID, uid))
    write_file("/proc/%s/gid_map" % pid, "%d %d 1\n" % (SANDBOX_UID, gid))


ST_TO_MS = ((1, MS_RDONLY), (2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, 1024), (2048, 2048), (4096, MS_RELATIME))


def bind_ro(src, dst):
    # src may be an O_PATH descriptor's magic link: the host path itself may not be
    # searchable by the session's uid (a venv under /root, say).
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst):
            open(dst, "w").close()
    mount(src, dst, None, MS_BIND | MS_REC)
    # Mounts inherited from a more privileged namespace are locked: keep their flags.
    flags = 0
    st = os.statvfs(dst)
    for st_bit, ms_bit in ST_TO_MS:
        if st.f_flag & st_bit:
            flags |= ms_bit
    mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | flags)


def loopback_up():
    import fcntl

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifr))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1 | 0x40))  # SIOCSIFFLAGS
    finally:
        s.close()


def ro_paths(extra):
    """The host paths a session sees, read-only: system directories and this Python's own."""
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/etc"]
    exe = os.path.realpath(sys.executable)
    paths += [sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(exe))]
    paths += [p for p in sys.path if p and os.path.isdir(p)]
    paths += list(extra)
    out = []
    for p in sorted(set(os.path.normpath(os.path.abspath(p)) for p in paths), key=len):
        if p == "/" or not os.path.lexists(p):
            continue
        if any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            continue
        out.append(p)
    return out


def session_root(cfg):
    """Where a session's root is mounted inside its own mount namespace."""
    return cfg["stage"] + "/root"


def build_root(cfg):
    """In the builder: a tmpfs root with read-only views of the host paths Python needs."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    fds = cfg["path_fds"]
    stage = cfg["stage"]
    mount("codeact", stage, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    root = session_root(cfg)
    os.makedirs(root)
    mount("codeact", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for p in cfg["ro_paths"]:
        if os.path.islink(p):
            dst = root + p
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(os.readlink(p), dst)
        elif p in fds:
            bind_ro("/proc/self/fd/%d" % fds[p], root + p)
    size = int(cfg["disk_bytes"])
    for d in ("workspace", "tmp"):
        os.makedirs(root + "/" + d, exist_ok=True)
        mount("codeact", root + "/" + d, "tmpfs", MS_NOSUID | MS_NODEV, "size=%d,mode=1777" % size)
    os.chmod(root + "/workspace", 0o755)
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    mount("codeact", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for n in ("null", "zero", "full", "random", "urandom"):
        open(dev + "/" + n, "w").close()
        mount("/dev/" + n, dev + "/" + n, None, MS_BIND)
    os.makedirs(dev + "/shm")
    mount("codeact", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=%d,mode=1777" % min(size, 64 << 20))
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, dev + "/" + name)
    os.makedirs(root + "/proc", exist_ok=True)
    os.makedirs(root + "/etc", exist_ok=True)
    for d in ("home", "root"):
        os.makedirs(root + "/" + d, exist_ok=True)
    if cfg.get("network") == "egress" and os.path.isfile("/etc/resolv.conf") and not os.path.islink("/etc/resolv.conf"):
        # The user-mode network stack answers DNS at its own address.
        write_file(stage + "/resolv.conf", "nameserver 10.0.2.3\n")
        mount(stage + "/resolv.conf", root + "/etc/resolv.conf", None, MS_BIND)
        mount(None, root + "/etc/resolv.conf", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    libc.sethostname(b"sandbox", 7)
    loopback_up()


def enter_root(cfg):
    """In init (pid 1 of a fresh pid namespace): /proc, pivot into the root, lose privileges."""
    check(libc.unshare(CLONE_NEWNS), "unshare mount namespace")
    root = session_root(cfg)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/.old", exist_ok=True)
    check(libc.syscall(155, root.encode(), (root + "/.old").encode()), "pivot_root")  # SYS_pivot_root
    os.chdir("/")
    check(libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir("/workspace")


def set_limits(limits):
    import resource

    def setr(res, val):
        if val is None:
            return
        try:
            resource.setrlimit(res, (val, val))
        except (ValueError, OSError):
            pass

    setr(resource.RLIMIT_CORE, 0)
    setr(resource.RLIMIT_NOFILE, 4096)
    setr(resource.RLIMIT_FSIZE, limits.get("file_size_bytes"))
    setr(resource.RLIMIT_DATA, limits.get("memory_bytes"))
    setr(resource.RLIMIT_CPU, limits.get("cpu_seconds"))
    setr(resource.RLIMIT_NPROC, limits.get("nproc"))


def drop_privileges():
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
            break
    # capset(v3): clear effective, permitted and inheritable sets.
    check(libc.capset(CAP_HEADER, CAP_NONE), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def prepare_seccomp(progs):
    """In the zygote: the filters as ready-made structures, so that init only installs them.

    Everything a session's init does in Python dirties pages that its worker then owns alone;
    building ctypes types is among the costliest of those."""
    out = []
    for prog in progs or ():
        buf = ctypes.create_string_buffer(prog, len(prog))
        out.append((buf, Fprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))))
    return out


def install_seccomp(filters):
    for _buf, fp in filters or ():
        check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fp), 0, 0), "seccomp")


# ---------------------------------------------------------------------------------------------
# Building a sandbox, and starting a session in it


NS_ORDER = (("user", CLONE_NEWUSER), ("mnt", CLONE_NEWNS), ("net", CLONE_NEWNET), ("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS))


def run_init(cfg, chan_fd, sandboxed):
    """pid 1 of the session: forks the worker, then becomes codeact-init, which reaps."""
    # The zygote's SIGCHLD reaper must not follow into the session: in init it would steal
    # the worker's exit status, in the worker every subprocess's.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # A session of its own: a cell's kill(0, ...) must not reach the zygote.
    os.setsid()
    # When the session runs out of memory, the OOM killer must pick its code, never the
    # server's processes (raising one's own score needs no privilege; lowering theirs would).
    try:
        write_file("/proc/self/oom_score_adj", "1000")
    except OSError:
        pass
    if sandboxed:
        enter_root(cfg)
        set_limits(cfg["limits"])
        drop_privileges()
        install_seccomp(cfg.get("seccomp"))
    else:
        os.chdir(cfg["workdir"])
        set_limits(cfg["limits"])
    # Nothing of the zygote's or the server's may reach session code: above all not its
    # control channel.
    keep = {0, 1, 2, chan_fd, INIT_EXE_FD}
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    os.environ["HOME"] = "/workspace" if sandboxed else cfg["workdir"]
    worker = os.fork()
    if worker == 0:
        os.close(INIT_EXE_FD)
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
        os.execve(INIT_EXE_FD, ["codeact-init", str(worker)], {})
    except OSError as e:
        sys.stderr.write("codeact: cannot exec codeact-init (%s); init stays in Python\n" % e)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


def reap_children():
    while True:
        try:
            pid, _st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def close_zygote_fds(keep=()):
    for fd in list(ZYGOTE_FDS):
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


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
        return {"ok": False, "error": "start needs the session's namespaces"}
    r, w = os.pipe()
    starter = os.fork()
    if starter == 0:
        try:
            os.close(r)
            close_zygote_fds(keep={INIT_EXE_FD})
            for path in cfg.get("cgroup_procs") or ():
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
                    run_init(cfg, chan_fd, sandboxed)
                except BaseException as e:
                    die("session init failed: %s" % e)
                os._exit(0)
            os.write(w, str(pid).encode())
            os._exit(0)
        except BaseException as e:
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
    except ChildProcessError:
        pass
    text = data.decode(errors="replace")
    if not text or text.startswith("E"):
        return {"ok": False, "error": "cannot start the session: %s" % (text[1:] or "the starter process died")}
    return {"ok": True, "pid": int(text)}


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
            if cfg.get("uid") is None:
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
                p: os.open(p, os.O_PATH)
                for p in cfg["ro_paths"]
                if os.path.exists(p) and not os.path.islink(p)
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
            seq_send(ctl, {"ok": True})
            seq_recv(ctl)
        except BaseException as e:
            try:
                seq_send(ctl, {"ok": False, "error": str(e)})
            except Exception:
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
                return {"ok": False, "error": "cannot map user ids: %s" % e}
        elif how != b"s":
            return {"ok": False, "error": "the sandbox builder died while creating its namespaces"}
        return {"ok": True, "pid": pid}
    finally:
        os.close(sync_r)
        os.close(go_w)


ZYGOTE_FDS = set()
INIT_EXE_FD = -1


def zygote(ctl_fd, init_fd):
    global INIT_EXE_FD
    ctl = socket.socket(fileno=ctl_fd)
    ZYGOTE_FDS.update((ctl_fd, init_fd))
    INIT_EXE_FD = init_fd
    msg, _ = seq_recv(ctl)
    if msg is None:
        return
    zcfg = msg
    if zcfg.get("seccomp_b64"):
        zcfg["seccomp"] = prepare_seccomp([base64.b64decode(p) for p in zcfg.pop("seccomp_b64")])
    zcfg["ro_paths"] = ro_paths(zcfg.get("extra_ro_paths") or [])
    warm(zcfg.get("preload"))
    seq_send(
        ctl,
        {
            "ok": True,
            "ipython": isinstance(CURRENT.runner, IPythonRunner),
            "python": sys.version.split()[0],
            "ro_paths": zcfg["ro_paths"],
        },
    )
    # Every session's init is reparented here when its starter exits, and reaped here.
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGCHLD, lambda *_: reap_children())
    while True:
        reap_children()
        msg, fds = seq_recv(ctl)
        if msg is None:
            os._exit(0)
        op = msg.get("op")
        try:
            if op == "build" and len(fds) == 1:
                reply = build_sandbox(msg, fds[0], zcfg)
            elif op == "start" and fds:
                reply = start_session(msg, fds, zcfg)
            else:
                for fd in fds:
                    os.close(fd)
                reply = {"ok": False, "error": "bad request"}
        except Exception as e:
            reply = {"ok": False, "error": str(e)}
        seq_send(ctl, reply)


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "zygote":
        die("usage: worker.py zygote CONTROL_FD INIT_EXE_FD")
    zygote(int(sys.argv[2]), int(sys.argv[3]))
