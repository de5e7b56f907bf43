"""Message framing. The control channel (engine <-> zygote) is a SOCK_SEQPACKET socket with
one JSON object per message and file descriptors passed alongside; the worker channel is a
stream of 4-byte big-endian length + JSON frames.

Every message is UTF-8 JSON. Python strings can hold what UTF-8 cannot (lone surrogates: from
`"\\udc80"` in a cell, from undecodable file names, from a C extension), and the engine's JSON
parser rightly refuses them, so every string leaving the worker is made valid here, in one
place, each lone surrogate becoming U+FFFD. A bad string is never a reason to lose a frame."""

import codecs
import json
import os
import socket
import struct
import threading

# The encoding error handler that turns each unencodable code point into U+FFFD. (As bytes:
# the UTF-8 encoder takes only ASCII text from an error handler.)
REPLACE = "codeact.replace"
codecs.register_error(REPLACE, lambda e: ("\ufffd".encode() * (e.end - e.start), e.end))


def clean_text(s):
    """s, with every lone surrogate replaced by U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", REPLACE).decode("utf-8")


def encode(obj):
    """obj as UTF-8 JSON; strings anywhere in it (keys too) made valid UTF-8."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8", REPLACE)


def seq_send(sock, obj, fds=()):
    data = encode(obj)
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def seq_recv(sock):
    """One message and the descriptors that came with it; (None, []) once the peer closed."""
    data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 8)
    if not data:
        return None, []
    return json.loads(data), fds


class Channel:
    """The worker's stream socket: length-prefixed JSON frames, one writer lock."""

    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()
        # The worker's pid: a process that a cell forks shares the socket and must never speak on it.
        self.owner = os.getpid()

    def forked(self):
        """In a child that a cell forked: let go of the worker's socket."""
        self.lock = threading.Lock()
        # A copy of a copy has nothing left to let go of.
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, obj):
        if os.getpid() != self.owner:
            raise OSError("a forked copy of the worker has no channel")
        data = encode(obj)
        with self.lock:
            self.sock.sendall(struct.pack(">I", len(data)) + data)

    def recv(self):
        """The next frame; None once the peer closed the stream."""
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
