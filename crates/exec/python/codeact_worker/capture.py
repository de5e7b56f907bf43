"""Output capture: what a running cell prints and displays, in order, with stream text capped
to a head and a tail around a marker, so that 100 MB of output never crosses the socket.

sys.stdout and sys.stderr of a session are TextSinks that write straight into the Capture;
file descriptors 1 and 2 are pipes that the FdPump drains into the same Capture, so the
output of subprocesses and `!cmd` lands in the same stream. Invalid UTF-8 and lone
surrogates become U+FFFD."""

import codecs
import io
import os
import select
import threading
import time

from . import messages


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
        # The FdPump that feeds fd 1 and 2 into this capture, once the worker has one.
        self.pump = None
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
            items.append(messages.stream(name, text))

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
        if self.ready.poll(0):
            self.drain_all()
