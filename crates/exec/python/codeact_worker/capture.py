"""Output capture: what a running cell prints and displays, in order, with stream text capped
to a head and a tail around a marker, so that 100 MB of output never crosses the socket.

sys.stdout and sys.stderr of a session are TextSinks that write straight into the Capture;
file descriptors 1 and 2 are pipes that the FdPump drains into the same Capture, so the
output of subprocesses and `!cmd` lands in the same stream. Invalid UTF-8 and lone
surrogates become U+FFFD.

Several threads may print at once: every path into the capture takes its lock, and so does
every read of the pipes."""

import codecs
import io
import os
import select
import threading
import time

from . import messages
from .channel import REPLACE, clean_text
from .terminal import Line


class Capture:
    """Outputs of the running cell, in order, with stream text capped to head + tail.

    Stream text goes through a terminal Line per stream first (see terminal.py), so the cap
    counts what a terminal would show, not every redraw of a progress bar. Output produced
    while no cell runs (a background thread, a child process) stays here and goes out with
    the next cell's outputs."""

    def __init__(self, limit):
        self.limit = max(256, limit)
        self.lock = threading.RLock()
        # The FdPump that feeds fd 1 and 2 into this capture, once the worker has one.
        self.pump = None
        # In a process forked by a cell: text goes straight to fd 1 and 2 (see forked()).
        self.direct = False
        self.lines = {"stdout": Line(), "stderr": Line()}
        self.reset()

    def reset(self):
        self.items = []  # output dicts ready to send
        self.sent = 0  # how many of items were already streamed out
        self.head = 0
        self.tail = []  # [name, text] beyond the head budget
        self.tail_bytes = 0
        self.dropped = 0
        self.truncated = False

    def forked(self):
        """In a child that a cell forked: what it prints goes to fd 1 and 2, where the
        worker's FdPump reads it like any subprocess's; nothing of the parent's stays."""
        self.lock = threading.RLock()
        self.direct = True
        self.pump = None
        self.lines = {"stdout": Line(), "stderr": Line()}
        self.reset()

    def stream(self, name, text):
        if not text:
            return
        text = clean_text(text)
        if self.direct:
            _write_fd(1 if name == "stdout" else 2, text)
            return
        with self.lock:
            # What the other stream wrote before this comes before it.
            self._commit_open(OTHER[name])
            line = self.lines[name]
            done = line.feed(text)
            if done:
                self._commit(name, done)
            if len(line) > self.limit // 2:
                # A line that never ends must not grow without bound: it stops being editable.
                self._commit(name, line.take())

    def _commit_open(self, name, redraws=True):
        line = self.lines[name]
        if len(line) and (redraws or not line.edited):
            self._commit(name, line.take())

    def _commit(self, name, text):
        if not text:
            return
        room = self.limit // 2 - self.head
        if not self.tail and len(text) <= room:
            self.head += len(text)
            self._append(name, text)
            return
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
            self.truncated = True
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
            items.append(messages.stream(name, text))

    def rich(self, item):
        if self.direct:
            # An interrupt stops every copy of the worker at once: one traceback (the
            # worker's) says so.
            if item.get("ename") != "KeyboardInterrupt":
                _write_fd(2 if item["type"] == "error" else 1, _plain(item))
            return
        with self.lock:
            # Everything written before it, by this process or a child, comes first.
            if self.pump is not None:
                self.pump.drain_all()
            self._commit_open("stdout")
            self._commit_open("stderr")
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
        """The outputs not handed out yet. While the cell runs (final false), lines still open
        to redraws stay behind: streaming them would show a stale frame."""
        with self.lock:
            for name in ("stdout", "stderr"):
                self._commit_open(name, redraws=final)
            if final:
                self._flush_tail()
            # Items already handed out never grow again: later text starts a new item.
            out = self.items[self.sent :]
            self.sent += len(out)
            return out


OTHER = {"stdout": "stderr", "stderr": "stdout"}


def _write_fd(fd, text):
    data = text.encode("utf-8", REPLACE)
    while data:
        try:
            n = os.write(fd, data)
        except OSError:
            # Nobody reads fd 1 and 2 any more: the session is ending.
            return
        data = data[n:]


def _plain(item):
    """The text of a rich output, for a forked child that has no channel to send it on."""
    if item["type"] == "error":
        return "\n".join(item["traceback"]) + "\n"
    text = item["data"].get("text/plain", "")
    return text + "\n" if text else ""


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
        pump = self.capture.pump
        if pump is not None:
            pump.drain_if_ready()
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
        capture.pump = self
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
            ready = poller.poll(timeout)
            for r, _ev in ready:
                if r == self.wake_r:
                    # Readable, and only this thread reads it: this cannot block.
                    os.read(self.wake_r, 64)
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
                    # Non-blocking: the pipe is empty for now.
                    break
                if not chunk:
                    break
                self.capture.stream(name, dec.decode(chunk))

    def drain_all(self):
        for r in self.pipes:
            self._drain(r)

    def drain_if_ready(self):
        # One poll object serves every thread that prints: poll() on it must not run twice at
        # once (CPython raises "concurrent poll() invocation"), so it runs under the lock.
        with self.capture.lock:
            if self.ready.poll(0):
                self.drain_all()

    def forked(self):
        """In a child that a cell forked: the pipes' read ends are the worker's, not its."""
        for fd in (*self.pipes, self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:  # noqa: S110 - already closed by the cell: nothing to release
                pass
